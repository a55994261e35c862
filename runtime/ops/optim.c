/* optim.c — optimizer steps over lists of tensors: AdamW (optionally with f32 master weights), SGD,
 * the global L2 norm and in-place scaling (gradient clipping is norm + scale), and gradient
 * clipping in one call whose norm stays on the tensors' device (rx_clip_grad_norm_: nothing is
 * read back to the host, so a training step need not wait for the device).
 *
 * Owns: the argument checks of the list functions (equal list lengths, every parameter a float
 * tensor with a gradient of its shape, dtype and device, optimizer state and AdamW's master
 * weights f32 (or, for SGD's momentum, f32 or the parameter's dtype) of the parameter's shape,
 * hyper-parameters in range, one device for the whole call), staging of non-contiguous tensors
 * through contiguous copies (written back after the kernel), and the version bumps of everything
 * written. Kernels get contiguous tensors only (see "optimizer kernels" in backend/backend.h).
 *
 * These functions are never recorded: they run as under no_grad whatever the grad mode, and may
 * update leaves that require grad. Parameters must not overlap one another; an expanded view
 * (a zero stride on a dim of size > 1) is refused as a parameter or a state tensor because its
 * elements alias.
 */
#include "ops.h"

#include <math.h>
#include <stdlib.h>

/* "argument #3 (grads[2])" style names of a list entry. */
static rx_status fail_entry(rx_status status, const char *op, int argn, const char *list, int i,
                            const char *what)
{
    return rx_fail(status, "%s: argument #%d (%s[%d]): %s", op, argn, list, i, what);
}

static bool has_aliasing_dims(const rx_tensor *t)
{
    for (int d = 0; d < t->ndim; d++)
        if (t->shape[d] > 1 && t->stride[d] == 0) return true;
    return false;
}

static bool same_shape(const rx_tensor *a, const rx_tensor *b)
{
    if (a->ndim != b->ndim) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    return true;
}

/* Checks list entry i: non-NULL, on `device`, and (when like != NULL) of like's shape. */
static rx_status check_entry(const char *op, int argn, const char *list, int i, const rx_tensor *t,
                             rx_device device, const rx_tensor *like, const char *like_name)
{
    if (!t) return fail_entry(RX_ERR_ARG, op, argn, list, i, "expected a tensor, got NULL");
    rx_device d = rx_tensor_device(t);
    if (!rx_same_device(d, device)) {
        char sa[32], sb[32];
        return rx_fail(RX_ERR_DEVICE,
                       "%s: argument #%d (%s[%d]) is on %s but params[0] is on %s (move one with :to())", op,
                       argn, list, i, rx_device_str(d, sa, sizeof sa), rx_device_str(device, sb, sizeof sb));
    }
    if (like && !same_shape(t, like)) {
        char sa[128], sb[128];
        return rx_fail(RX_ERR_SHAPE, "%s: argument #%d (%s[%d]): expected shape %s like %s[%d], got %s", op,
                       argn, list, i, rx_shape_str(like->ndim, like->shape, sa, sizeof sa), like_name, i,
                       rx_shape_str(t->ndim, t->shape, sb, sizeof sb));
    }
    return RX_OK;
}

static rx_status check_float_entry(const char *op, int argn, const char *list, int i, const rx_tensor *t)
{
    if (rx_dtype_is_float(t->dtype)) return RX_OK;
    return rx_fail(
        RX_ERR_DTYPE,
        "%s: argument #%d (%s[%d]): expected a floating-point tensor (f32, f16, bf16, f64), got %s", op, argn,
        list, i, rx_dtype_name(t->dtype));
}

/* A tensor written in place must not alias itself. */
static rx_status check_writable(const char *op, int argn, const char *list, int i, const rx_tensor *t)
{
    if (!has_aliasing_dims(t)) return RX_OK;
    return rx_fail(RX_ERR_ARG,
                   "%s: argument #%d (%s[%d]) is an expanded view (zero stride): its elements alias, "
                   "so it cannot be updated in place",
                   op, argn, list, i);
}

/* A state tensor of parameter i must not share the parameter's storage. */
static rx_status check_distinct(const char *op, int argn, const char *list, int i, const rx_tensor *t,
                                const rx_tensor *other, const char *other_name)
{
    if (!rx_tensor_shares_storage(t, other)) return RX_OK;
    return rx_fail(RX_ERR_ARG, "%s: argument #%d (%s[%d]) shares storage with %s[%d]", op, argn, list, i,
                   other_name, i);
}

/* Checks entry i of the parameters (argument #2, listed as plist: a writable float tensor on
 * `device`, f16, bf16 or f32 only when lowp) and of their gradients (argument #gargn: of the
 * parameter's shape, dtype and device). */
static rx_status check_param_grad(const char *op, const char *plist, bool lowp, int gargn, int i,
                                  const rx_tensor *p, const rx_tensor *g, rx_device device)
{
    RX_TRY(check_entry(op, 2, plist, i, p, device, NULL, NULL));
    if (!lowp) {
        RX_TRY(check_float_entry(op, 2, plist, i, p));
    } else if (p->dtype != RX_F16 && p->dtype != RX_BF16 && p->dtype != RX_F32) {
        return rx_fail(RX_ERR_DTYPE, "%s: argument #2 (%s[%d]): expected f16, bf16 or f32, got %s", op, plist,
                       i, rx_dtype_name(p->dtype));
    }
    RX_TRY(check_writable(op, 2, plist, i, p));
    RX_TRY(check_entry(op, gargn, "grads", i, g, device, p, plist));
    if (g->dtype != p->dtype)
        return rx_fail(RX_ERR_DTYPE, "%s: argument #%d (grads[%d]) is %s but %s[%d] is %s", op, gargn, i,
                       rx_dtype_name(g->dtype), plist, i, rx_dtype_name(p->dtype));
    return RX_OK;
}

/* Checks the state tensors st[0..nst) of parameter p = plist[i]: st[k] is entry i of list
 * names[k] (argument #argn[k]), on `device`, of p's shape, f32 (the message words it as
 * "expected <want>"), writable, and shares storage with neither p nor an earlier st[j]. */
static rx_status check_states(const char *op, const char *plist, int i, const rx_tensor *p, rx_device device,
                              int nst, const rx_tensor *const *st, const char *const *names, const int *argn,
                              const char *want)
{
    for (int k = 0; k < nst; k++) {
        RX_TRY(check_entry(op, argn[k], names[k], i, st[k], device, p, plist));
        if (st[k]->dtype != RX_F32)
            return rx_fail(RX_ERR_DTYPE, "%s: argument #%d (%s[%d]): expected %s, got %s", op, argn[k],
                           names[k], i, want, rx_dtype_name(st[k]->dtype));
        RX_TRY(check_writable(op, argn[k], names[k], i, st[k]));
        RX_TRY(check_distinct(op, argn[k], names[k], i, st[k], p, plist));
        for (int j = 0; j < k; j++)
            RX_TRY(check_distinct(op, argn[k], names[k], i, st[k], st[j], names[j]));
    }
    return RX_OK;
}

/* *device = the device of the whole call: that of entry 0 of `list` (argument #2), which must
 * be a tensor. */
static rx_status list_device(const char *op, const char *list, rx_tensor *const *ts, rx_device *device)
{
    if (!ts[0]) return fail_entry(RX_ERR_ARG, op, 2, list, 0, "expected a tensor, got NULL");
    *device = rx_tensor_device(ts[0]);
    return RX_OK;
}

static rx_status check_list_args(const char *op, int n, const void *first)
{
    if (n < 0) return rx_fail(RX_ERR_ARG, "%s: argument #1: expected a list length >= 0, got %d", op, n);
    if (n > 0 && !first) return rx_fail(RX_ERR_ARG, "%s: argument #2: expected %d tensors, got NULL", op, n);
    return RX_OK;
}

static rx_status check_list_ptr(const char *op, int argn, const char *list, int n, const void *p)
{
    if (n > 0 && !p)
        return rx_fail(RX_ERR_ARG, "%s: argument #%d (%s): expected %d tensors, got NULL", op, argn, list, n);
    return RX_OK;
}

/* ---- staging: kernels see contiguous tensors --------------------------------------------- */

static void release_list(int n, rx_tensor **staged)
{
    if (!staged) return;
    for (int i = 0; i < n; i++) rx_tensor_release(staged[i]);
    free(staged);
}

/* staged[i] = a contiguous tensor with in[i]'s values: in[i] itself (retained) or a copy. NULL
 * entries of `in` stay NULL. */
static rx_status stage_list(const char *op, int n, rx_tensor *const *in, rx_tensor ***out)
{
    *out = NULL;
    rx_tensor **staged = calloc(n > 0 ? (size_t)n : 1, sizeof *staged);
    if (!staged) return rx_fail(RX_ERR_NOMEM, "%s: out of host memory", op);
    for (int i = 0; i < n; i++) {
        if (!in[i]) continue;
        rx_status s = rx_op_contiguous(in[i], &staged[i]);
        if (s != RX_OK) {
            release_list(n, staged);
            return rx_fail_context(s, "%s", op);
        }
    }
    *out = staged;
    return RX_OK;
}

/* Writes the staged copies back into the caller's non-contiguous tensors. */
static rx_status unstage_list(const char *op, int n, rx_tensor *const *in, rx_tensor **staged)
{
    for (int i = 0; i < n; i++) {
        if (!in[i] || staged[i] == in[i]) continue;
        rx_status s = rx_op_copy_(in[i], staged[i]);
        if (s != RX_OK) return rx_fail_context(s, "%s", op);
    }
    return RX_OK;
}

static void bump_list(int n, rx_tensor *const *ts)
{
    for (int i = 0; i < n; i++)
        if (ts[i]) rx_tensor_bump_version(ts[i]);
}

/* Stages `nlists` lists (the first `nwritten` are written by the kernel), runs `run`, writes the
 * written lists back and bumps their versions. */
typedef rx_status (*list_kernel)(const rx_backend *be, int n, rx_tensor ***lists, const void *ctx);

static rx_status run_staged(const char *op, const rx_backend *be, int n, int nlists, int nwritten,
                            rx_tensor *const *const *lists, list_kernel run, const void *ctx)
{
    rx_tensor **staged[5] = {NULL, NULL, NULL, NULL, NULL};
    rx_status s = RX_OK;
    bool ran = false;
    for (int k = 0; k < nlists && s == RX_OK; k++)
        if (lists[k]) s = stage_list(op, n, lists[k], &staged[k]);
    if (s == RX_OK) {
        ran = true;
        s = run(be, n, staged, ctx);
        if (s != RX_OK) s = rx_fail_context(s, "%s", op);
    }
    for (int k = 0; k < nwritten && s == RX_OK; k++)
        if (lists[k]) s = unstage_list(op, n, lists[k], staged[k]);
    /* versions move even when a later step failed: the kernel may have written part of them */
    for (int k = 0; k < nwritten && ran; k++)
        if (lists[k]) bump_list(n, lists[k]);
    for (int k = 0; k < nlists; k++) release_list(n, staged[k]);
    return s;
}

/* ---- AdamW --------------------------------------------------------------------------------- */

/* The hyper-parameters of an AdamW step (argument #argn of op). */
static rx_status check_adamw_opts(const char *op, int argn, const rx_adamw_opts *opts)
{
    if (!opts) return rx_fail(RX_ERR_ARG, "%s: argument #%d: expected options, got NULL", op, argn);
    if (!(opts->lr >= 0 && isfinite(opts->lr)))
        return rx_fail(RX_ERR_ARG, "%s: argument #%d: expected lr >= 0, got %g", op, argn, opts->lr);
    if (!(opts->beta1 >= 0 && opts->beta1 < 1) || !(opts->beta2 >= 0 && opts->beta2 < 1))
        return rx_fail(RX_ERR_ARG, "%s: argument #%d: expected betas in [0, 1), got (%g, %g)", op, argn,
                       opts->beta1, opts->beta2);
    if (!(opts->eps >= 0 && isfinite(opts->eps)))
        return rx_fail(RX_ERR_ARG, "%s: argument #%d: expected eps >= 0, got %g", op, argn, opts->eps);
    if (!(opts->weight_decay >= 0 && isfinite(opts->weight_decay)))
        return rx_fail(RX_ERR_ARG, "%s: argument #%d: expected weight_decay >= 0, got %g", op, argn,
                       opts->weight_decay);
    if (opts->step < 1)
        return rx_fail(RX_ERR_ARG,
                       "%s: argument #%d: expected step >= 1 (1-based, for bias correction), got %lld", op, argn,
                       (long long)opts->step);
    return RX_OK;
}

static rx_status adamw_run(const rx_backend *be, int n, rx_tensor ***l, const void *ctx)
{
    /* lists: params, exp_avg, exp_avg_sq (written), grads (read) */
    return be->adamw_step(n, l[0], l[3], l[1], l[2], ctx);
}

rx_status rx_adamw_step(int n, rx_tensor *const *params, rx_tensor *const *grads, rx_tensor *const *exp_avg,
                        rx_tensor *const *exp_avg_sq, const rx_adamw_opts *opts)
{
    const char *op = "adamw";
    RX_TRY(check_list_args(op, n, params));
    RX_TRY(check_list_ptr(op, 3, "grads", n, grads));
    RX_TRY(check_list_ptr(op, 4, "exp_avg", n, exp_avg));
    RX_TRY(check_list_ptr(op, 5, "exp_avg_sq", n, exp_avg_sq));
    RX_TRY(check_adamw_opts(op, 6, opts));
    if (n == 0) return RX_OK;
    rx_device device;
    RX_TRY(list_device(op, "params", params, &device));
    for (int i = 0; i < n; i++) {
        const rx_tensor *p = params[i], *st[2] = {exp_avg[i], exp_avg_sq[i]};
        RX_TRY(check_param_grad(op, "params", false, 3, i, p, grads[i], device));
        RX_TRY(check_states(op, "params", i, p, device, 2, st, (const char *const[]){"exp_avg", "exp_avg_sq"},
                            (const int[]){4, 5}, "f32 optimizer state"));
    }
    const rx_backend *be = rx_backend_for(device);
    if (!be) return rx_fail_context(RX_ERR_DEVICE, "adamw");
    rx_tensor *const *lists[4] = {params, exp_avg, exp_avg_sq, grads};
    return run_staged(op, be, n, 4, 3, lists, adamw_run, opts);
}

static rx_status adamw_master_run(const rx_backend *be, int n, rx_tensor ***l, const void *ctx)
{
    /* lists: params, master, exp_avg, exp_avg_sq (written), grads (read) */
    return be->adamw_step_master(n, l[0], l[1], l[4], l[2], l[3], ctx);
}

rx_status rx_adamw_step_master(int n, rx_tensor *const *params_lowp, rx_tensor *const *master_f32,
                               rx_tensor *const *grads, rx_tensor *const *exp_avg, rx_tensor *const *exp_avg_sq,
                               const rx_adamw_opts *opts)
{
    const char *op = "adamw_master";
    RX_TRY(check_list_args(op, n, params_lowp));
    RX_TRY(check_list_ptr(op, 3, "master_f32", n, master_f32));
    RX_TRY(check_list_ptr(op, 4, "grads", n, grads));
    RX_TRY(check_list_ptr(op, 5, "exp_avg", n, exp_avg));
    RX_TRY(check_list_ptr(op, 6, "exp_avg_sq", n, exp_avg_sq));
    RX_TRY(check_adamw_opts(op, 7, opts));
    if (n == 0) return RX_OK;
    rx_device device;
    RX_TRY(list_device(op, "params_lowp", params_lowp, &device));
    for (int i = 0; i < n; i++) {
        const rx_tensor *p = params_lowp[i], *st[3] = {master_f32[i], exp_avg[i], exp_avg_sq[i]};
        RX_TRY(check_param_grad(op, "params_lowp", true, 4, i, p, grads[i], device));
        RX_TRY(check_states(op, "params_lowp", i, p, device, 3, st,
                            (const char *const[]){"master_f32", "exp_avg", "exp_avg_sq"},
                            (const int[]){3, 5, 6}, "f32"));
    }
    const rx_backend *be = rx_backend_for(device);
    if (!be) return rx_fail_context(RX_ERR_DEVICE, "%s", op);
    rx_tensor *const *lists[5] = {params_lowp, master_f32, exp_avg, exp_avg_sq, grads};
    return run_staged(op, be, n, 5, 4, lists, adamw_master_run, opts);
}

/* ---- SGD ----------------------------------------------------------------------------------- */

typedef struct sgd_args {
    double lr, momentum, dampening, weight_decay;
    int nesterov, first_step;
} sgd_args;

static rx_status sgd_run(const rx_backend *be, int n, rx_tensor ***l, const void *ctx)
{
    const sgd_args *a = ctx;
    /* lists: params, momentum_bufs (written; NULL list when momentum == 0), grads (read) */
    return be->sgd_step(n, l[0], l[2], l[1], a->lr, a->momentum, a->dampening, a->weight_decay, a->nesterov,
                        a->first_step);
}

rx_status rx_sgd_step(int n, rx_tensor *const *params, rx_tensor *const *grads,
                      rx_tensor *const *momentum_bufs, double lr, double momentum, double dampening,
                      double weight_decay, int nesterov, int first_step)
{
    const char *op = "sgd";
    RX_TRY(check_list_args(op, n, params));
    RX_TRY(check_list_ptr(op, 3, "grads", n, grads));
    if (!(lr >= 0 && isfinite(lr)))
        return rx_fail(RX_ERR_ARG, "sgd: argument #5: expected lr >= 0, got %g", lr);
    if (!(momentum >= 0 && isfinite(momentum)))
        return rx_fail(RX_ERR_ARG, "sgd: argument #6: expected momentum >= 0, got %g", momentum);
    if (!isfinite(dampening))
        return rx_fail(RX_ERR_ARG, "sgd: argument #7: expected a finite dampening, got %g", dampening);
    if (!(weight_decay >= 0 && isfinite(weight_decay)))
        return rx_fail(RX_ERR_ARG, "sgd: argument #8: expected weight_decay >= 0, got %g", weight_decay);
    if (nesterov && (momentum <= 0 || dampening != 0))
        return rx_fail(RX_ERR_ARG,
                       "sgd: argument #9: nesterov needs momentum > 0 and dampening 0, got momentum %g, "
                       "dampening %g",
                       momentum, dampening);
    bool use_bufs = momentum != 0;
    if (use_bufs) RX_TRY(check_list_ptr(op, 4, "momentum_bufs", n, momentum_bufs));
    if (n == 0) return RX_OK;
    rx_device device;
    RX_TRY(list_device(op, "params", params, &device));
    for (int i = 0; i < n; i++) {
        const rx_tensor *p = params[i];
        RX_TRY(check_param_grad(op, "params", false, 3, i, p, grads[i], device));
        if (!use_bufs) continue;
        const rx_tensor *b = momentum_bufs[i];
        RX_TRY(check_entry(op, 4, "momentum_bufs", i, b, device, p, "params"));
        if (b->dtype != RX_F32 && b->dtype != p->dtype)
            return rx_fail(
                RX_ERR_DTYPE,
                "sgd: argument #4 (momentum_bufs[%d]): expected f32 or params[%d]'s dtype %s, got %s", i, i,
                rx_dtype_name(p->dtype), rx_dtype_name(b->dtype));
        RX_TRY(check_writable(op, 4, "momentum_bufs", i, b));
        RX_TRY(check_distinct(op, 4, "momentum_bufs", i, b, p, "params"));
    }
    const rx_backend *be = rx_backend_for(device);
    if (!be) return rx_fail_context(RX_ERR_DEVICE, "sgd");
    sgd_args a = {lr, momentum, dampening, weight_decay, nesterov != 0, first_step != 0};
    rx_tensor *const *lists[3] = {params, use_bufs ? momentum_bufs : NULL, grads};
    return run_staged(op, be, n, 3, 2, lists, sgd_run, &a);
}

/* ---- global norm and scale ----------------------------------------------------------------- */

static rx_status check_float_list(const char *op, int n, rx_tensor *const *tensors)
{
    RX_TRY(check_list_args(op, n, tensors));
    if (n == 0) return RX_OK;
    rx_device device;
    RX_TRY(list_device(op, "tensors", tensors, &device));
    for (int i = 0; i < n; i++) {
        if (!tensors[i]) return fail_entry(RX_ERR_ARG, op, 2, "tensors", i, "expected a tensor, got NULL");
        if (!rx_same_device(rx_tensor_device(tensors[i]), device)) {
            char sa[32], sb[32];
            return rx_fail(RX_ERR_DEVICE, "%s: argument #2 (tensors[%d]) is on %s but tensors[0] is on %s",
                           op, i, rx_device_str(rx_tensor_device(tensors[i]), sa, sizeof sa),
                           rx_device_str(device, sb, sizeof sb));
        }
        RX_TRY(check_float_entry(op, 2, "tensors", i, tensors[i]));
    }
    return RX_OK;
}

static rx_status sum_squares_run(const rx_backend *be, int n, rx_tensor ***l, const void *ctx)
{
    return be->sum_squares(n, l[0], (double *)ctx);
}

rx_status rx_global_norm(int n, rx_tensor *const *tensors, double *out)
{
    if (!out) return rx_fail(RX_ERR_ARG, "global_norm: argument #3: expected an output pointer, got NULL");
    *out = 0;
    RX_TRY(check_float_list("global_norm", n, tensors));
    if (n == 0) return RX_OK;
    const rx_backend *be = rx_backend_for(rx_tensor_device(tensors[0]));
    if (!be) return rx_fail_context(RX_ERR_DEVICE, "global_norm");
    double *sums = malloc(sizeof *sums * (size_t)n);
    if (!sums) return rx_fail(RX_ERR_NOMEM, "global_norm: out of host memory");
    rx_tensor *const *lists[1] = {tensors};
    rx_status s = run_staged("global_norm", be, n, 1, 0, lists, sum_squares_run, sums);
    if (s == RX_OK) {
        double total = 0;
        for (int i = 0; i < n; i++) total += sums[i];
        *out = sqrt(total);
    }
    free(sums);
    return s;
}

static rx_status scale_run(const rx_backend *be, int n, rx_tensor ***l, const void *ctx)
{
    return be->scale(n, l[0], *(const double *)ctx);
}

rx_status rx_scale_(int n, rx_tensor *const *tensors, double s)
{
    RX_TRY(check_float_list("scale_", n, tensors));
    if (n == 0) return RX_OK;
    const rx_backend *be = rx_backend_for(rx_tensor_device(tensors[0]));
    if (!be) return rx_fail_context(RX_ERR_DEVICE, "scale_");
    rx_tensor *const *lists[1] = {tensors};
    return run_staged("scale_", be, n, 1, 1, lists, scale_run, &s);
}

/* ---- gradient clipping on the device ------------------------------------------------------- */

typedef struct clip_args {
    double max_norm;
    rx_tensor *norm;
} clip_args;

static rx_status clip_run(const rx_backend *be, int n, rx_tensor ***l, const void *ctx)
{
    const clip_args *a = ctx;
    return be->clip_grad_norm(n, l[0], a->max_norm, a->norm);
}

rx_status rx_clip_grad_norm_(int n, rx_tensor *const *tensors, double max_norm, rx_tensor **norm)
{
    const char *op = "clip_grad_norm_";
    if (norm) *norm = NULL;
    RX_TRY(check_float_list(op, n, tensors));
    for (int i = 0; i < n; i++) RX_TRY(check_writable(op, 2, "tensors", i, tensors[i]));
    if (!(max_norm > 0))
        return rx_fail(RX_ERR_ARG, "%s: argument #3: expected max_norm > 0, got %g", op, max_norm);
    if (!norm) return rx_fail(RX_ERR_ARG, "%s: argument #4: expected an output pointer, got NULL", op);
    rx_device device = n > 0 ? rx_tensor_device(tensors[0]) : rx_cpu();
    const rx_backend *be = rx_backend_for(device);
    if (!be) return rx_fail_context(RX_ERR_DEVICE, "%s", op);
    rx_tensor *out = NULL;
    if (n == 0) {
        RX_TRY(rx_zeros(0, NULL, RX_F32, device, &out));
        *norm = out;
        return RX_OK;
    }
    RX_TRY(rx_empty(0, NULL, RX_F32, device, &out));
    clip_args a = {max_norm, out};
    rx_tensor *const *lists[1] = {tensors};
    rx_status s = run_staged(op, be, n, 1, 1, lists, clip_run, &a);
    if (s != RX_OK) {
        rx_tensor_release(out);
        return s;
    }
    *norm = out;
    return RX_OK;
}
