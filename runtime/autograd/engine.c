/* engine.c — autograd metadata, graph nodes and the backward engine.
 *
 * Owns: requires_grad/grad/grad_fn of tensors, grad mode (per thread), node lifetime, saved
 * tensors and their version checks, and rx_backward: a topological walk (Kahn's algorithm over
 * the nodes reachable from the root) that runs each node's backward once all of its consumers
 * have contributed, accumulating gradients of leaves into their .grad.
 */
#include "autograd.h"

#include <stdlib.h>
#include <string.h>

static _Thread_local int grad_disabled;

int rx_grad_enabled(void) { return !grad_disabled; }

int rx_set_grad_enabled(int enabled)
{
    int prev = !grad_disabled;
    grad_disabled = !enabled;
    return prev;
}

/* ---- metadata ---------------------------------------------------------------------------- */

static void meta_free(void *p)
{
    rx_ag_meta *m = p;
    rx_tensor_release(m->grad);
    rx_node_release(m->grad_fn);
    free(m);
}

static rx_ag_meta *meta_of(const rx_tensor *t) { return (rx_ag_meta *)t->autograd; }

static rx_status meta_get(rx_tensor *t, rx_ag_meta **out)
{
    if (!t->autograd) {
        rx_ag_meta *m = calloc(1, sizeof *m);
        if (!m) return rx_fail(RX_ERR_NOMEM, "autograd: out of host memory");
        t->autograd = m;
        t->autograd_free = meta_free;
    }
    *out = t->autograd;
    return RX_OK;
}

bool rx_ag_requires_grad(const rx_tensor *t)
{
    const rx_ag_meta *m = t ? meta_of(t) : NULL;
    return m && (m->requires_grad || m->grad_fn);
}

int rx_requires_grad(const rx_tensor *t) { return rx_ag_requires_grad(t); }

int rx_is_leaf(const rx_tensor *t)
{
    const rx_ag_meta *m = meta_of(t);
    return !m || !m->grad_fn;
}

rx_tensor *rx_grad(const rx_tensor *t)
{
    const rx_ag_meta *m = meta_of(t);
    return m ? m->grad : NULL;
}

const char *rx_grad_fn_name(const rx_tensor *t)
{
    const rx_ag_meta *m = meta_of(t);
    return m && m->grad_fn ? m->grad_fn->name : NULL;
}

rx_status rx_set_requires_grad(rx_tensor *t, int requires_grad)
{
    RX_TRY(rx_check_tensor("requires_grad", 1, t));
    rx_ag_meta *m = meta_of(t);
    if (m && m->grad_fn)
        return rx_fail(RX_ERR_ARG, "requires_grad: argument #1 is the output of %s, not a leaf (use detach())",
                       m->grad_fn->name);
    if (requires_grad && !rx_dtype_is_float(t->dtype))
        return rx_fail(RX_ERR_DTYPE, "requires_grad: argument #1: only floating-point tensors can require grad, got %s",
                       rx_dtype_name(t->dtype));
    if (!requires_grad && !m) return RX_OK;
    RX_TRY(meta_get(t, &m));
    m->requires_grad = requires_grad != 0;
    return RX_OK;
}

static rx_status check_grad_matches(const char *op, const rx_tensor *t, const rx_tensor *g)
{
    char b1[128], b2[128];
    bool same = g->ndim == t->ndim;
    for (int i = 0; same && i < t->ndim; i++) same = g->shape[i] == t->shape[i];
    if (!same)
        return rx_fail(RX_ERR_SHAPE, "%s: gradient has shape %s but the tensor has shape %s", op,
                       rx_shape_str(g->ndim, g->shape, b1, sizeof b1), rx_shape_str(t->ndim, t->shape, b2, sizeof b2));
    if (g->dtype != t->dtype)
        return rx_fail(RX_ERR_DTYPE, "%s: gradient is %s but the tensor is %s", op, rx_dtype_name(g->dtype),
                       rx_dtype_name(t->dtype));
    return rx_check_same_device(op, t, 1, g, 2);
}

rx_status rx_set_grad(rx_tensor *t, rx_tensor *grad)
{
    RX_TRY(rx_check_tensor("set_grad", 1, t));
    if (grad) RX_TRY(check_grad_matches("set_grad", t, grad));
    rx_ag_meta *m = meta_of(t);
    if (!grad && !m) return RX_OK;
    RX_TRY(meta_get(t, &m));
    rx_tensor_release(m->grad);
    m->grad = grad ? rx_tensor_retain(grad) : NULL;
    return RX_OK;
}

rx_status rx_detach(rx_tensor *t, rx_tensor **out)
{
    *out = NULL;
    RX_TRY(rx_check_tensor("detach", 1, t));
    return rx_tensor_view_of(t, t->offset, t->ndim, t->shape, t->stride, out);
}

int64_t rx_tensor_version(const rx_tensor *t) { return __atomic_load_n(&t->storage->version, __ATOMIC_RELAXED); }

rx_status rx_ag_check_inplace(const char *op, int argn, const rx_tensor *t)
{
    if (grad_disabled || !rx_ag_requires_grad(t)) return RX_OK;
    return rx_fail(RX_ERR_ARG,
                   "%s: argument #%d requires grad: an in-place write would corrupt the gradient (run it under "
                   "no_grad, or use the out-of-place op)",
                   op, argn);
}

bool rx_ag_needs_record(int n, rx_tensor *const *inputs)
{
    if (grad_disabled) return false;
    for (int i = 0; i < n; i++)
        if (inputs[i] && rx_ag_requires_grad(inputs[i])) return true;
    return false;
}

/* ---- nodes ----------------------------------------------------------------------------------- */

static void info_of(const rx_tensor *t, rx_output_info *info)
{
    info->ndim = t->ndim;
    memcpy(info->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
    info->dtype = t->dtype;
    info->device = t->storage->device;
}

rx_status rx_node_new(const char *name, rx_backward_fn backward, int n_inputs, rx_tensor *const *inputs,
                      int n_outputs, rx_node **out)
{
    *out = NULL;
    if (n_outputs < 1 || n_outputs > RX_NODE_MAX_OUTPUTS)
        return rx_fail(RX_ERR_INTERNAL, "autograd: %s: %d outputs (at most %d)", name, n_outputs, RX_NODE_MAX_OUTPUTS);
    rx_node *n = calloc(1, sizeof *n);
    if (!n) return rx_fail(RX_ERR_NOMEM, "autograd: out of host memory");
    n->next = calloc((size_t)(n_inputs ? n_inputs : 1), sizeof *n->next);
    n->needs_grad = calloc((size_t)(n_inputs ? n_inputs : 1), sizeof *n->needs_grad);
    n->in_info = calloc((size_t)(n_inputs ? n_inputs : 1), sizeof *n->in_info);
    if (!n->next || !n->needs_grad || !n->in_info) {
        free(n->next);
        free(n->needs_grad);
        free(n->in_info);
        free(n);
        return rx_fail(RX_ERR_NOMEM, "autograd: out of host memory");
    }
    n->refcount = 1;
    n->name = name;
    n->backward = backward;
    n->n_inputs = n_inputs;
    n->n_outputs = n_outputs;
    for (int i = 0; i < n_inputs; i++) {
        rx_tensor *t = inputs[i];
        if (t) info_of(t, &n->in_info[i]); /* every input's geometry: cat's backward needs all of them */
        if (!t || !rx_ag_requires_grad(t)) continue;
        rx_ag_meta *m = meta_of(t);
        n->needs_grad[i] = true;
        if (m->grad_fn) {
            rx_node_retain(m->grad_fn);
            n->next[i].node = m->grad_fn;
            n->next[i].output_nr = m->output_nr;
        } else {
            n->next[i].leaf = rx_tensor_retain(t);
        }
    }
    *out = n;
    return RX_OK;
}

void rx_node_retain(rx_node *n)
{
    if (n) __atomic_add_fetch(&n->refcount, 1, __ATOMIC_RELAXED);
}

static void release_saved(rx_node *n)
{
    for (int k = 0; k < n->n_saved; k++) {
        rx_tensor_release(n->saved[k]);
        n->saved[k] = NULL;
    }
    if (n->extra && n->free_extra) n->free_extra(n->extra);
    n->extra = NULL;
}

void rx_node_release(rx_node *n)
{
    /* Iterative, so that releasing a long chain (a 1000-step RNN) cannot overflow the stack. */
    rx_node *stack_local[64];
    rx_node **stack = stack_local;
    int64_t top = 0, cap = 64;
    if (!n) return;
    stack[top++] = n;
    while (top > 0) {
        rx_node *cur = stack[--top];
        if (__atomic_sub_fetch(&cur->refcount, 1, __ATOMIC_ACQ_REL) != 0) continue;
        for (int i = 0; i < cur->n_inputs; i++) {
            rx_tensor_release(cur->next[i].leaf);
            if (!cur->next[i].node) continue;
            if (top == cap) {
                rx_node **grown = malloc(sizeof *grown * (size_t)cap * 2);
                if (!grown) { /* cannot defer: release recursively as a last resort */
                    rx_node_release(cur->next[i].node);
                    continue;
                }
                memcpy(grown, stack, sizeof *grown * (size_t)top);
                if (stack != stack_local) free(stack);
                stack = grown;
                cap *= 2;
            }
            stack[top++] = cur->next[i].node;
        }
        release_saved(cur);
        for (int k = 0; k < RX_NODE_MAX_OUTPUTS; k++) rx_tensor_release(cur->grad_acc[k]);
        free(cur->next);
        free(cur->needs_grad);
        free(cur->in_info);
        free(cur);
    }
    if (stack != stack_local) free(stack);
}

rx_status rx_node_save(rx_node *n, rx_tensor *t)
{
    if (n->n_saved >= RX_NODE_MAX_SAVED)
        return rx_fail(RX_ERR_INTERNAL, "autograd: %s saves more than %d tensors", n->name, RX_NODE_MAX_SAVED);
    rx_tensor *alias = NULL;
    if (t) RX_TRY(rx_tensor_view_of(t, t->offset, t->ndim, t->shape, t->stride, &alias));
    n->saved_version[n->n_saved] = t ? rx_tensor_version(t) : 0;
    n->saved[n->n_saved++] = alias;
    return RX_OK;
}

rx_status rx_node_saved(rx_node *n, int k, rx_tensor **out)
{
    *out = NULL;
    if (n->saved_released)
        return rx_fail(RX_ERR_ARG,
                       "backward: %s was already run and its saved tensors freed (pass retain_graph=true to the "
                       "first backward to run it twice)",
                       n->name);
    if (k < 0 || k >= n->n_saved) return rx_fail(RX_ERR_INTERNAL, "autograd: %s has no saved tensor %d", n->name, k);
    rx_tensor *t = n->saved[k];
    if (t && rx_tensor_version(t) != n->saved_version[k])
        return rx_fail(RX_ERR_ARG,
                       "backward: a tensor saved by %s was modified in place after it was saved (version %lld, "
                       "saved at %lld)",
                       n->name, (long long)rx_tensor_version(t), (long long)n->saved_version[k]);
    *out = t;
    return RX_OK;
}

rx_status rx_node_finish(rx_node *n, int n_outputs, rx_tensor **outputs)
{
    rx_status s = RX_OK;
    for (int k = 0; k < n_outputs && s == RX_OK; k++) {
        rx_ag_meta *m = NULL;
        s = meta_get(outputs[k], &m);
        if (s != RX_OK) break;
        info_of(outputs[k], &n->out_info[k]);
        rx_node_retain(n);
        rx_node_release(m->grad_fn);
        m->grad_fn = n;
        m->output_nr = k;
        m->requires_grad = true;
    }
    rx_node_release(n);
    if (s != RX_OK)
        for (int k = 0; k < n_outputs; k++) {
            rx_tensor_release(outputs[k]);
            outputs[k] = NULL;
        }
    return s;
}

/* ---- gradient helpers ------------------------------------------------------------------------- */

rx_status rx_ag_sum_to(rx_tensor *g, int ndim, const int64_t *shape, rx_tensor **out)
{
    *out = NULL;
    int lead = g->ndim - ndim;
    int dims[RX_MAX_DIMS], nd = 0;
    for (int i = 0; i < g->ndim; i++) {
        int k = i - lead;
        if (k < 0 || (shape[k] == 1 && g->shape[i] != 1)) dims[nd++] = i;
    }
    if (nd == 0) return rx_op_reshape(g, ndim, shape, out);
    rx_tensor *summed;
    RX_TRY(rx_op_reduce(RX_SUM, g, nd, dims, 1, &summed));
    rx_status s = rx_op_reshape(summed, ndim, shape, out);
    rx_tensor_release(summed);
    return s;
}

rx_status rx_ag_zeros_like_info(const rx_output_info *info, rx_tensor **out)
{
    return rx_zeros(info->ndim, info->shape, info->dtype, info->device, out);
}

/* ---- backward ------------------------------------------------------------------------------ */

typedef struct node_list {
    rx_node **items;
    int64_t n, cap;
} node_list;

static rx_status list_push(node_list *l, rx_node *n)
{
    if (l->n == l->cap) {
        int64_t cap = l->cap ? l->cap * 2 : 64;
        rx_node **items = realloc(l->items, sizeof *items * (size_t)cap);
        if (!items) return rx_fail(RX_ERR_NOMEM, "backward: out of host memory");
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = n;
    return RX_OK;
}

/* All nodes reachable from root, each once; then deps = number of edges into each node from
 * the reachable nodes (a node runs when all of its consumers have run). */
static rx_status collect(rx_node *root, node_list *all)
{
    node_list stack = {0};
    root->walking = true;
    rx_status s = list_push(all, root);
    if (s == RX_OK) s = list_push(&stack, root);
    while (s == RX_OK && stack.n > 0) {
        rx_node *cur = stack.items[--stack.n];
        for (int i = 0; i < cur->n_inputs && s == RX_OK; i++) {
            rx_node *nx = cur->next[i].node;
            if (!nx || nx->walking) continue;
            nx->walking = true;
            s = list_push(all, nx);
            if (s == RX_OK) s = list_push(&stack, nx);
        }
    }
    free(stack.items);
    for (int64_t i = 0; i < all->n; i++) all->items[i]->deps = 0;
    for (int64_t i = 0; i < all->n; i++) {
        rx_node *cur = all->items[i];
        for (int k = 0; k < cur->n_inputs; k++)
            if (cur->next[k].node) cur->next[k].node->deps++;
    }
    return s;
}

/* True when nobody else can see t or its memory, so it may be kept or updated in place. */
static bool exclusively_owned(const rx_tensor *t)
{
    return __atomic_load_n(&t->refcount, __ATOMIC_ACQUIRE) == 1 &&
           __atomic_load_n(&t->storage->refcount, __ATOMIC_ACQUIRE) == 1 && !t->storage->owner &&
           rx_tensor_is_contiguous(t);
}

static rx_status accumulate(rx_tensor **slot, rx_tensor *g)
{
    if (!*slot) {
        *slot = rx_tensor_retain(g);
        return RX_OK;
    }
    rx_tensor *sum;
    RX_TRY(rx_op_binary(RX_ADD, *slot, g, &sum));
    rx_tensor_release(*slot);
    *slot = sum;
    return RX_OK;
}

static rx_status accumulate_leaf(rx_tensor *leaf, rx_tensor *g)
{
    rx_ag_meta *m = NULL;
    RX_TRY(meta_get(leaf, &m));
    if (!m->grad) {
        /* .grad must be private (optimizers and clipping update it in place): keep g only when
         * nothing else shares it */
        if (exclusively_owned(g)) {
            m->grad = rx_tensor_retain(g);
            return RX_OK;
        }
        return rx_op_clone(g, &m->grad);
    }
    if (exclusively_owned(m->grad)) return rx_op_binary_(RX_ADD, m->grad, g);
    rx_tensor *sum;
    RX_TRY(rx_op_binary(RX_ADD, m->grad, g, &sum));
    rx_tensor_release(m->grad);
    m->grad = sum;
    return RX_OK;
}

static rx_status run_node(rx_node *n, bool retain_graph, node_list *ready)
{
    if (n->saved_released)
        return rx_fail(RX_ERR_ARG,
                       "backward: %s was already run and its saved state freed (pass retain_graph=true to the "
                       "first backward to run it twice)",
                       n->name);
    rx_tensor *grad_in[64] = {0};
    rx_tensor **grads = n->n_inputs <= 64 ? grad_in : calloc((size_t)n->n_inputs, sizeof *grads);
    if (!grads) return rx_fail(RX_ERR_NOMEM, "backward: out of host memory");
    rx_status s = RX_OK;
    for (int k = 0; k < n->n_outputs && s == RX_OK; k++)
        if (!n->grad_acc[k]) s = rx_ag_zeros_like_info(&n->out_info[k], &n->grad_acc[k]);
    if (s == RX_OK) {
        s = n->backward(n, n->grad_acc, grads);
        if (s != RX_OK) rx_fail_context(s, "backward of %s", n->name);
    }
    for (int k = 0; k < n->n_outputs; k++) {
        rx_tensor_release(n->grad_acc[k]);
        n->grad_acc[k] = NULL;
    }
    for (int i = 0; i < n->n_inputs && s == RX_OK; i++) {
        if (!n->needs_grad[i]) continue;
        rx_tensor *g = grads[i];
        if (!g) {
            s = rx_fail(RX_ERR_INTERNAL, "backward: %s gave no gradient for input %d", n->name, i + 1);
            break;
        }
        const rx_output_info *info = &n->in_info[i];
        bool same = g->ndim == info->ndim && g->dtype == info->dtype;
        for (int d = 0; same && d < info->ndim; d++) same = g->shape[d] == info->shape[d];
        if (!same) {
            char b1[128], b2[128];
            s = rx_fail(RX_ERR_INTERNAL, "backward: %s gave a %s %s gradient for input %d of shape %s (%s)", n->name,
                        rx_dtype_name(g->dtype), rx_shape_str(g->ndim, g->shape, b1, sizeof b1), i + 1,
                        rx_shape_str(info->ndim, info->shape, b2, sizeof b2), rx_dtype_name(info->dtype));
            break;
        }
        rx_edge *e = &n->next[i];
        if (e->leaf) {
            s = accumulate_leaf(e->leaf, g);
        } else if (e->node) {
            s = accumulate(&e->node->grad_acc[e->output_nr], g);
            if (s == RX_OK && --e->node->deps == 0) s = list_push(ready, e->node);
        }
    }
    for (int i = 0; i < n->n_inputs; i++) rx_tensor_release(grads[i]);
    if (grads != grad_in) free(grads);
    if (!retain_graph && s == RX_OK && (n->n_saved > 0 || n->extra)) {
        release_saved(n);
        n->saved_released = true;
    }
    return s;
}

rx_status rx_backward(rx_tensor *root, rx_tensor *grad, int retain_graph)
{
    RX_TRY(rx_check_tensor("backward", 1, root));
    if (!rx_ag_requires_grad(root))
        return rx_fail(RX_ERR_ARG, "backward: argument #1 does not require grad (no parameter it depends on has "
                                   "requires_grad, or it was computed under no_grad)");
    rx_tensor *seed = NULL;
    if (grad) {
        RX_TRY(check_grad_matches("backward", root, grad));
        seed = rx_tensor_retain(grad);
    } else {
        if (rx_tensor_numel(root) != 1) {
            char b[128];
            return rx_fail(RX_ERR_SHAPE, "backward: argument #1 has shape %s: pass a gradient for a non-scalar root",
                           rx_shape_str(root->ndim, root->shape, b, sizeof b));
        }
        RX_TRY(rx_ones(root->ndim, root->shape, root->dtype, root->storage->device, &seed));
    }
    rx_ag_meta *m = meta_of(root);
    if (!m->grad_fn) { /* a leaf: d root / d root */
        rx_status s = accumulate_leaf(root, seed);
        rx_tensor_release(seed);
        return s;
    }
    int prev = rx_set_grad_enabled(0);
    node_list all = {0}, ready = {0};
    rx_status s = collect(m->grad_fn, &all);
    if (s == RX_OK) {
        rx_node *r = m->grad_fn;
        s = accumulate(&r->grad_acc[m->output_nr], seed);
        if (s == RX_OK && r->deps == 0) s = list_push(&ready, r);
    }
    int64_t processed = 0;
    while (s == RX_OK && ready.n > 0) {
        rx_node *n = ready.items[--ready.n];
        s = run_node(n, retain_graph != 0, &ready);
        processed++;
    }
    if (s == RX_OK && processed != all.n)
        s = rx_fail(RX_ERR_INTERNAL, "backward: %lld of %lld graph nodes were reached", (long long)processed,
                    (long long)all.n);
    for (int64_t i = 0; i < all.n; i++) { /* leave no scratch behind on failure */
        rx_node *n = all.items[i];
        n->deps = 0;
        n->walking = false;
        for (int k = 0; k < RX_NODE_MAX_OUTPUTS; k++) {
            rx_tensor_release(n->grad_acc[k]);
            n->grad_acc[k] = NULL;
        }
    }
    free(all.items);
    free(ready.items);
    rx_tensor_release(seed);
    rx_set_grad_enabled(prev);
    return s;
}
