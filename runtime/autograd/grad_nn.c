/* grad_nn.c — the public fused neural-network ops (linear, embedding, rmsnorm, layernorm, rope,
 * attention, swiglu, dropout, cross_entropy, bce_with_logits, mse) with their autograd recording.
 *
 * Owns: the public rx_* functions of these ops: each runs the raw op (ops/nn_*.c) and, when a
 * gradient is needed, records one node whose backward calls the matching raw backward op. What
 * each node keeps:
 *   linear     x (for dw), w (for dx)   embedding   ids (+ V, padding_idx)
 *   rmsnorm    x, w, rstd               layernorm   x, w, mean, rstd
 *   rope       cos, sin                 attention   q, k, v, out, the backend's statistic, the
 *                                                   masks (+ causal, scale, p, counters)
 *   swiglu     gate, up                 dropout     nothing but p and its Philox counters
 *   cross_entropy  logits, targets, weights, log-sum-exp (+ ignore_index)
 *   bce_with_logits, mse  both inputs
 * Inputs without a gradient formula (rope's tables, attention's additive mask, cross-entropy's
 * weights) are errors when they require grad, reported before any work is done. The rotary
 * tables and inverse frequencies are not differentiable and never record.
 */
#include "autograd.h"

#include <math.h>

/* Saves `nsave` tensors on n and attaches it to *out; on failure releases n and *out. */
static rx_status record(rx_node *n, int nsave, rx_tensor *const *save, rx_tensor **out)
{
    rx_status s = RX_OK;
    for (int i = 0; i < nsave && s == RX_OK; i++) s = rx_node_save(n, save[i]);
    return rx_ag_attach(n, s, 1, out);
}

/* Creates the node of `name` over n_inputs inputs and records it (see record). */
static rx_status record_new(const char *name, rx_backward_fn fn, int n_inputs, rx_tensor *const *inputs,
                            int nsave, rx_tensor *const *save, rx_tensor **out)
{
    rx_node *n;
    RX_AG_RECORD(out, rx_node_new(name, fn, n_inputs, inputs, 1, &n));
    return record(n, nsave, save, out);
}

/* An error when t (argument #argn of op, `what` names it) would need a gradient op cannot give. */
static rx_status check_no_grad(const char *op, int argn, const char *what, rx_tensor *t)
{
    if (!t || !rx_ag_needs_record(1, &t)) return RX_OK;
    return rx_fail(RX_ERR_ARG,
                   "%s: argument #%d: %s requires grad, but %s has no gradient for it (detach it)", op, argn,
                   what, op);
}

/* Output pointer for input i of n: &grads[i] when it needs a gradient, else NULL. */
static rx_tensor **want(rx_node *n, rx_tensor **grads, int i) { return n->needs_grad[i] ? &grads[i] : NULL; }

/* ---- linear ---------------------------------------------------------------------------------- */

static rx_status linear_backward(rx_node *n, rx_tensor *const *go, rx_tensor **gi)
{
    rx_tensor *x, *w;
    RX_TRY(rx_node_saved(n, 0, &x));
    RX_TRY(rx_node_saved(n, 1, &w));
    return rx_op_linear_backward(go[0], x, w, want(n, gi, 0), want(n, gi, 1), want(n, gi, 2));
}

rx_status rx_linear(rx_tensor *x, rx_tensor *w, rx_tensor *b, rx_tensor **out)
{
    RX_TRY(rx_op_linear(x, w, b, out));
    rx_tensor *in[3] = {x, w, b};
    if (!rx_ag_needs_record(3, in)) return RX_OK;
    rx_node *n;
    RX_AG_RECORD(out, rx_node_new("LinearBackward", linear_backward, 3, in, 1, &n));
    /* x is needed only for dw and w only for dx: a frozen weight keeps no activation alive */
    return record(n, 2, (rx_tensor *[]){n->needs_grad[1] ? x : NULL, n->needs_grad[0] ? w : NULL}, out);
}

/* ---- embedding -------------------------------------------------------------------------------- */

static rx_status embedding_backward(rx_node *n, rx_tensor *const *go, rx_tensor **gi)
{
    rx_tensor *ids;
    RX_TRY(rx_node_saved(n, 0, &ids));
    return rx_op_embedding_backward(go[0], ids, n->ints[0], n->ints[1], &gi[0]);
}

rx_status rx_embedding(rx_tensor *weight, rx_tensor *ids, int64_t padding_idx, rx_tensor **out)
{
    RX_TRY(rx_op_embedding(weight, ids, padding_idx, out));
    rx_tensor *in[2] = {weight, ids};
    if (!rx_ag_needs_record(1, in)) return RX_OK;
    rx_node *n;
    RX_AG_RECORD(out, rx_node_new("EmbeddingBackward", embedding_backward, 2, in, 1, &n));
    n->ints[0] = weight->shape[0];
    n->ints[1] = padding_idx;
    return record(n, 1, &ids, out);
}

/* ---- normalisation ---------------------------------------------------------------------------- */

static rx_status rmsnorm_backward(rx_node *n, rx_tensor *const *go, rx_tensor **gi)
{
    rx_tensor *x, *w, *rstd;
    RX_TRY(rx_node_saved(n, 0, &x));
    RX_TRY(rx_node_saved(n, 1, &w));
    RX_TRY(rx_node_saved(n, 2, &rstd));
    return rx_op_rmsnorm_backward(go[0], x, w, rstd, want(n, gi, 0), want(n, gi, 1));
}

rx_status rx_rmsnorm(rx_tensor *x, rx_tensor *w, double eps, rx_tensor **out)
{
    rx_tensor *in[2] = {x, w};
    bool rec = rx_ag_needs_record(2, in);
    rx_tensor *rstd = NULL;
    RX_TRY(rx_op_rmsnorm_forward(x, w, eps, out, rec ? &rstd : NULL));
    if (!rec) return RX_OK;
    rx_status s = record_new("RmsNormBackward", rmsnorm_backward, 2, in, 3, (rx_tensor *[]){x, w, rstd}, out);
    rx_tensor_release(rstd);
    return s;
}

static rx_status layernorm_backward(rx_node *n, rx_tensor *const *go, rx_tensor **gi)
{
    rx_tensor *x, *w, *mean, *rstd;
    RX_TRY(rx_node_saved(n, 0, &x));
    RX_TRY(rx_node_saved(n, 1, &w));
    RX_TRY(rx_node_saved(n, 2, &mean));
    RX_TRY(rx_node_saved(n, 3, &rstd));
    return rx_op_layernorm_backward(go[0], x, w, mean, rstd, want(n, gi, 0), want(n, gi, 1), want(n, gi, 2));
}

rx_status rx_layernorm(rx_tensor *x, rx_tensor *w, rx_tensor *b, double eps, rx_tensor **out)
{
    rx_tensor *in[3] = {x, w, b};
    bool rec = rx_ag_needs_record(3, in);
    rx_tensor *mean = NULL, *rstd = NULL;
    RX_TRY(rx_op_layernorm_forward(x, w, b, eps, out, rec ? &mean : NULL, rec ? &rstd : NULL));
    if (!rec) return RX_OK;
    rx_status s =
        record_new("LayerNormBackward", layernorm_backward, 3, in, 4, (rx_tensor *[]){x, w, mean, rstd}, out);
    rx_tensor_release(mean);
    rx_tensor_release(rstd);
    return s;
}

/* ---- rotary embeddings ---------------------------------------------------------------------- */

rx_status rx_rope_inv_freq(int64_t head_dim, double theta, rx_tensor **out)
{
    return rx_op_rope_inv_freq(head_dim, theta, out);
}

rx_status rx_rope_tables(rx_tensor *positions, rx_tensor *inv_freq, rx_dtype dtype, rx_tensor **cos,
                         rx_tensor **sin)
{
    return rx_op_rope_tables(positions, inv_freq, dtype, cos, sin);
}

static rx_status rope_backward(rx_node *n, rx_tensor *const *go, rx_tensor **gi)
{
    rx_tensor *cos, *sin;
    RX_TRY(rx_node_saved(n, 0, &cos));
    RX_TRY(rx_node_saved(n, 1, &sin));
    return rx_op_rope_backward(go[0], cos, sin, &gi[0]);
}

rx_status rx_rope(rx_tensor *x, rx_tensor *cos, rx_tensor *sin, rx_tensor **out)
{
    *out = NULL;
    RX_TRY(check_no_grad("rope", 2, "cos", cos));
    RX_TRY(check_no_grad("rope", 3, "sin", sin));
    RX_TRY(rx_op_rope(x, cos, sin, out));
    if (!rx_ag_needs_record(1, &x)) return RX_OK;
    return record_new("RopeBackward", rope_backward, 1, &x, 2, (rx_tensor *[]){cos, sin}, out);
}

/* ---- attention --------------------------------------------------------------------------------- */

static rx_status attention_backward(rx_node *n, rx_tensor *const *go, rx_tensor **gi)
{
    rx_tensor *q, *k, *v, *out, *stat, *key_padding, *mask;
    RX_TRY(rx_node_saved(n, 0, &q));
    RX_TRY(rx_node_saved(n, 1, &k));
    RX_TRY(rx_node_saved(n, 2, &v));
    RX_TRY(rx_node_saved(n, 3, &out));
    RX_TRY(rx_node_saved(n, 4, &stat));
    RX_TRY(rx_node_saved(n, 5, &key_padding));
    RX_TRY(rx_node_saved(n, 6, &mask));
    return rx_op_attention_backward(go[0], q, k, v, out, stat, key_padding, mask, (int)n->ints[2], n->scalars[0],
                                    n->scalars[1], (uint64_t)n->ints[0], (uint64_t)n->ints[1], want(n, gi, 0),
                                    want(n, gi, 1), want(n, gi, 2));
}

rx_status rx_attention(rx_tensor *q, rx_tensor *k, rx_tensor *v, const rx_attention_opts *opts,
                       rx_tensor **out)
{
    *out = NULL;
    RX_TRY(check_no_grad("attention", 4, "additive_mask", opts ? opts->additive_mask : NULL));
    rx_tensor *in[3] = {q, k, v};
    bool rec = rx_ag_needs_record(3, in);
    rx_tensor *stat = NULL;
    uint64_t seed = 0, offset = 0;
    RX_TRY(rx_op_attention_forward(q, k, v, opts, out, rec ? &stat : NULL, &seed, &offset));
    if (!rec) return RX_OK;
    rx_node *n;
    rx_status s = rx_node_new("AttentionBackward", attention_backward, 3, in, 1, &n);
    if (s == RX_OK) {
        int64_t d = q->shape[3];
        n->scalars[0] = opts && opts->scale != 0.0 ? opts->scale : 1.0 / sqrt((double)(d ? d : 1));
        n->scalars[1] = opts ? opts->dropout_p : 0.0;
        n->ints[0] = (int64_t)seed;
        n->ints[1] = (int64_t)offset;
        n->ints[2] = opts ? opts->causal != 0 : 0;
        /* the output, the statistic and the masks: CUDA's backward recomputes the probabilities */
        s = record(n, 7,
                   (rx_tensor *[]){q, k, v, *out, stat, opts ? opts->key_padding : NULL,
                                   opts ? opts->additive_mask : NULL},
                   out);
    } else {
        rx_tensor_release(*out);
        *out = NULL;
    }
    rx_tensor_release(stat);
    return s;
}

/* ---- swiglu and dropout -------------------------------------------------------------------- */

static rx_status swiglu_backward(rx_node *n, rx_tensor *const *go, rx_tensor **gi)
{
    rx_tensor *gate, *up;
    RX_TRY(rx_node_saved(n, 0, &gate));
    RX_TRY(rx_node_saved(n, 1, &up));
    return rx_op_swiglu_backward(go[0], gate, up, want(n, gi, 0), want(n, gi, 1));
}

rx_status rx_swiglu(rx_tensor *gate, rx_tensor *up, rx_tensor **out)
{
    RX_TRY(rx_op_swiglu(gate, up, out));
    rx_tensor *in[2] = {gate, up};
    if (!rx_ag_needs_record(2, in)) return RX_OK;
    return record_new("SwiGluBackward", swiglu_backward, 2, in, 2, in, out);
}

static rx_status dropout_backward(rx_node *n, rx_tensor *const *go, rx_tensor **gi)
{
    return rx_op_dropout_backward(go[0], n->scalars[0], (uint64_t)n->ints[0], (uint64_t)n->ints[1], &gi[0]);
}

rx_status rx_dropout(rx_tensor *x, double p, int training, rx_generator *gen, rx_tensor **out)
{
    uint64_t seed = 0, offset = 0;
    RX_TRY(rx_op_dropout_forward(x, p, training, gen, out, &seed, &offset));
    if (*out == x || !rx_ag_needs_record(1, &x)) return RX_OK; /* the identity keeps x's own graph */
    rx_node *n;
    RX_AG_RECORD(out, rx_node_new("DropoutBackward", dropout_backward, 1, &x, 1, &n));
    n->scalars[0] = p;
    n->ints[0] = (int64_t)seed;
    n->ints[1] = (int64_t)offset;
    return record(n, 0, NULL, out);
}

/* ---- losses ------------------------------------------------------------------------------------ */

static rx_status cross_entropy_backward(rx_node *n, rx_tensor *const *go, rx_tensor **gi)
{
    rx_tensor *logits, *targets, *weights, *lse;
    RX_TRY(rx_node_saved(n, 0, &logits));
    RX_TRY(rx_node_saved(n, 1, &targets));
    RX_TRY(rx_node_saved(n, 2, &weights));
    RX_TRY(rx_node_saved(n, 3, &lse));
    return rx_op_cross_entropy_backward(go[0], logits, targets, n->ints[0], weights, lse, &gi[0]);
}

rx_status rx_cross_entropy(rx_tensor *logits, rx_tensor *targets, int64_t ignore_index, rx_tensor *weights,
                           rx_tensor **out)
{
    *out = NULL;
    RX_TRY(check_no_grad("cross_entropy", 4, "weights", weights));
    bool rec = logits && rx_ag_needs_record(1, &logits);
    rx_tensor *lse = NULL;
    RX_TRY(rx_op_cross_entropy_forward(logits, targets, ignore_index, weights, out, rec ? &lse : NULL));
    if (!rec) return RX_OK;
    rx_node *n;
    rx_status s = rx_node_new("CrossEntropyBackward", cross_entropy_backward, 1, &logits, 1, &n);
    if (s == RX_OK) {
        n->ints[0] = ignore_index;
        s = record(n, 4, (rx_tensor *[]){logits, targets, weights, lse}, out);
    } else {
        rx_tensor_release(*out);
        *out = NULL;
    }
    rx_tensor_release(lse);
    return s;
}

static rx_status bce_backward(rx_node *n, rx_tensor *const *go, rx_tensor **gi)
{
    rx_tensor *x, *t;
    RX_TRY(rx_node_saved(n, 0, &x));
    RX_TRY(rx_node_saved(n, 1, &t));
    return rx_op_bce_with_logits_backward(go[0], x, t, want(n, gi, 0), want(n, gi, 1));
}

rx_status rx_bce_with_logits(rx_tensor *logits, rx_tensor *targets, rx_tensor **out)
{
    RX_TRY(rx_op_bce_with_logits(logits, targets, out));
    rx_tensor *in[2] = {logits, targets};
    if (!rx_ag_needs_record(2, in)) return RX_OK;
    return record_new("BceWithLogitsBackward", bce_backward, 2, in, 2, in, out);
}

static rx_status mse_backward(rx_node *n, rx_tensor *const *go, rx_tensor **gi)
{
    rx_tensor *a, *b;
    RX_TRY(rx_node_saved(n, 0, &a));
    RX_TRY(rx_node_saved(n, 1, &b));
    return rx_op_mse_backward(go[0], a, b, want(n, gi, 0), want(n, gi, 1));
}

rx_status rx_mse(rx_tensor *pred, rx_tensor *target, rx_tensor **out)
{
    RX_TRY(rx_op_mse(pred, target, out));
    rx_tensor *in[2] = {pred, target};
    if (!rx_ag_needs_record(2, in)) return RX_OK;
    return record_new("MseBackward", mse_backward, 2, in, 2, in, out);
}
