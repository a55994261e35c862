/* rope_append_kv.c — rope_append_kv: the rotary embedding of a stacked q/k/v projection fused with
 * the KV-cache append of one inference step (prefill or decode).
 *
 * Owns: the public rx_rope_append_kv (inference only, so it records nothing and lives here with
 * its checks), every argument check on the host before any work, naming the argument (#1..#9),
 * the range check of the slot where the host can read it (CPU tensors), the layouts handed to the
 * kernels (tables viewed as (1 or B, T, D), headers only: nothing is copied) and the version
 * bump of the caches. The slot lives in a tensor so that a captured decode step (a CUDA graph)
 * can be replayed after the slot was rewritten on the device; on CUDA the kernel reads it and an
 * out-of-range slot writes nothing to the caches (see backend.h). The only allocation is q.
 */
#include "ops.h"

#include <stdio.h>
#include <string.h>

/* An error when grad mode is on and t (argument #argn) requires grad. */
static rx_status check_no_grad(const char *op, int argn, const rx_tensor *t)
{
    if (!rx_grad_enabled() || !rx_requires_grad(t)) return RX_OK;
    return rx_fail(
        RX_ERR_ARG,
        "%s: argument #%d requires grad, but %s is inference only (run it under no_grad, or detach "
        "the argument)",
        op, argn, op);
}

/* Argument #argn (a cache) is (B, G, *, D) with a unit stride on D. */
static rx_status check_cache(const char *op, int argn, const rx_tensor *c, int64_t b, int64_t g)
{
    char buf[128];
    if (c->ndim != 4 || c->shape[0] != b || c->shape[1] != g)
        return rx_fail(RX_ERR_SHAPE, "%s: argument #%d: expected a cache of shape (%lld, %lld, L, D), got %s",
                       op, argn, (long long)b, (long long)g,
                       rx_shape_str(c->ndim, c->shape, buf, sizeof buf));
    if (c->shape[3] > 1 && c->stride[3] != 1)
        return rx_fail(RX_ERR_SHAPE, "%s: argument #%d: expected a unit stride on the last dim, got %lld", op,
                       argn, (long long)c->stride[3]);
    return RX_OK;
}

/* The tables (#2, #3): (T, D) or (Bc, T, D) with Bc 1 or B, contiguous, qkv's dtype and device. */
static rx_status check_table(const char *op, int argn, const rx_tensor *qkv, const rx_tensor *t, int64_t b,
                             int64_t tn, int64_t d)
{
    char buf[128];
    RX_TRY(rx_check_same_device(op, qkv, 1, t, argn));
    RX_TRY(rx_check_same_dtype(op, qkv, 1, t, argn));
    bool ok =
        (t->ndim == 2 && t->shape[0] == tn && t->shape[1] == d) ||
        (t->ndim == 3 && (t->shape[0] == 1 || t->shape[0] == b) && t->shape[1] == tn && t->shape[2] == d);
    if (!ok) {
        char batch[48] = "1";
        if (b != 1) snprintf(batch, sizeof batch, "1 or %lld", (long long)b);
        return rx_fail(RX_ERR_SHAPE,
                       "%s: argument #%d: expected a table of shape (%lld, %lld) or (%s, %lld, %lld), got %s",
                       op, argn, (long long)tn, (long long)d, batch, (long long)tn, (long long)d,
                       rx_shape_str(t->ndim, t->shape, buf, sizeof buf));
    }
    if (!rx_tensor_is_contiguous(t))
        return rx_fail(RX_ERR_ARG, "%s: argument #%d: expected a contiguous table", op, argn);
    return RX_OK;
}

/* Every check the host can make without reading device memory. */
static rx_status check_args(const char *op, rx_tensor *qkv, rx_tensor *cos, rx_tensor *sin,
                            rx_tensor *cache_k, rx_tensor *cache_v, rx_tensor *slot, int64_t heads,
                            int64_t kv_heads, rx_tensor **q)
{
    char b1[128];
    rx_tensor *args[6] = {qkv, cos, sin, cache_k, cache_v, slot};
    for (int i = 0; i < 6; i++) RX_TRY(rx_check_tensor(op, i + 1, args[i]));
    if (heads < 1)
        return rx_fail(RX_ERR_ARG, "%s: argument #7: expected heads >= 1, got %lld", op, (long long)heads);
    if (kv_heads < 1 || heads % kv_heads)
        return rx_fail(RX_ERR_ARG, "%s: argument #8: expected kv_heads >= 1 dividing heads %lld, got %lld",
                       op, (long long)heads, (long long)kv_heads);
    if (!q) return rx_fail(RX_ERR_ARG, "%s: argument #9: expected a place for the result, got NULL", op);
    for (int i = 0; i < 5; i++) RX_TRY(check_no_grad(op, i + 1, args[i]));
    RX_TRY(rx_check_float(op, 1, qkv));
    if (qkv->ndim != 3)
        return rx_fail(RX_ERR_SHAPE, "%s: argument #1: expected qkv of shape (B, T, (H + 2G) * D), got %s",
                       op, rx_shape_str(qkv->ndim, qkv->shape, b1, sizeof b1));
    int64_t b = qkv->shape[0], tn = qkv->shape[1];
    for (int i = 3; i < 5; i++) {
        RX_TRY(rx_check_same_device(op, qkv, 1, args[i], i + 1));
        RX_TRY(rx_check_same_dtype(op, qkv, 1, args[i], i + 1));
        RX_TRY(check_cache(op, i + 1, args[i], b, kv_heads));
    }
    int64_t l = cache_k->shape[2], d = cache_k->shape[3];
    if (d < 2 || d % 2)
        return rx_fail(RX_ERR_SHAPE, "%s: argument #4: expected an even head dim D >= 2, got %lld", op,
                       (long long)d);
    if (cache_v->shape[2] != l || cache_v->shape[3] != d) {
        char b2[128];
        return rx_fail(RX_ERR_SHAPE, "%s: argument #5: expected the shape %s of argument #4, got %s", op,
                       rx_shape_str(4, cache_k->shape, b1, sizeof b1),
                       rx_shape_str(4, cache_v->shape, b2, sizeof b2));
    }
    int64_t width = (heads + 2 * kv_heads) * d;
    if (qkv->shape[2] != width)
        return rx_fail(
            RX_ERR_SHAPE,
            "%s: argument #1: expected a last dim of (heads + 2 kv_heads) * D = (%lld + 2 * %lld) * %lld = "
            "%lld, got %s",
            op, (long long)heads, (long long)kv_heads, (long long)d, (long long)width,
            rx_shape_str(3, qkv->shape, b1, sizeof b1));
    if (qkv->stride[2] != 1)
        return rx_fail(RX_ERR_SHAPE, "%s: argument #1: expected a unit stride on the last dim, got %lld", op,
                       (long long)qkv->stride[2]);
    if (tn > l)
        return rx_fail(RX_ERR_SHAPE,
                       "%s: argument #1: %lld new positions exceed the cache length %lld of argument #4", op,
                       (long long)tn, (long long)l);
    RX_TRY(check_table(op, 2, qkv, cos, b, tn, d));
    RX_TRY(check_table(op, 3, qkv, sin, b, tn, d));
    if (cos->ndim != sin->ndim || cos->shape[0] != sin->shape[0]) {
        char b2[128];
        return rx_fail(RX_ERR_SHAPE, "%s: argument #3: expected the shape %s of argument #2, got %s", op,
                       rx_shape_str(cos->ndim, cos->shape, b1, sizeof b1),
                       rx_shape_str(sin->ndim, sin->shape, b2, sizeof b2));
    }
    RX_TRY(rx_check_same_device(op, cache_k, 4, slot, 6));
    RX_TRY(rx_check_index_dtype(op, 6, slot));
    if (rx_shape_numel(slot->ndim, slot->shape) != 1)
        return rx_fail(RX_ERR_SHAPE, "%s: argument #6: expected a slot tensor with one element, got shape %s",
                       op, rx_shape_str(slot->ndim, slot->shape, b1, sizeof b1));
    if (rx_tensor_shares_storage(cache_k, cache_v))
        return rx_fail(RX_ERR_ARG, "%s: argument #5 shares storage with argument #4", op);
    const int readers[4] = {0, 1, 2, 5}; /* qkv, cos, sin, slot: a cache write could change them */
    for (int i = 0; i < 4; i++)
        for (int c = 3; c < 5; c++)
            if (rx_tensor_shares_storage(args[readers[i]], args[c]))
                return rx_fail(RX_ERR_ARG,
                               "%s: argument #%d shares storage with argument #%d (the cache write could "
                               "change it)",
                               op, readers[i] + 1, c + 1);
    return RX_OK;
}

rx_status rx_rope_append_kv(rx_tensor *qkv, rx_tensor *cos, rx_tensor *sin, rx_tensor *cache_k,
                            rx_tensor *cache_v, rx_tensor *slot, int64_t heads, int64_t kv_heads,
                            rx_tensor **q)
{
    const char *op = "rope_append_kv";
    if (q) *q = NULL;
    RX_TRY(check_args(op, qkv, cos, sin, cache_k, cache_v, slot, heads, kv_heads, q));
    int64_t b = qkv->shape[0], tn = qkv->shape[1], l = cache_k->shape[2], d = cache_k->shape[3];
    if (rx_tensor_device(slot).type == RX_CPU) {
        int64_t s = rx_tensor_index_value(slot);
        if (s < 0 || s > l - tn)
            return rx_fail(
                RX_ERR_ARG,
                "%s: argument #6: slot %lld out of range [0, %lld] (cache length %lld, %lld new positions)",
                op, (long long)s, (long long)(l - tn), (long long)l, (long long)tn);
    }
    /* the tables as (1 or B, T, D) headers on their storage (contiguous, checked above) */
    int64_t t3[3] = {cos->ndim == 3 ? cos->shape[0] : 1, tn, d}, st3[3];
    rx_contiguous_strides(3, t3, st3);
    rx_tensor *c3 = NULL, *s3 = NULL;
    rx_status s = rx_tensor_view_of(cos, cos->offset, 3, t3, st3, &c3);
    if (s == RX_OK) s = rx_tensor_view_of(sin, sin->offset, 3, t3, st3, &s3);
    if (s == RX_OK) s = rx_empty(4, (const int64_t[]){b, heads, tn, d}, qkv->dtype, rx_tensor_device(qkv), q);
    if (s == RX_OK && b * tn > 0)
        s = rx_backend_of(qkv)->rope_append_kv(*q, cache_k, cache_v, qkv, c3, s3, slot, heads, kv_heads);
    rx_tensor_release(c3);
    rx_tensor_release(s3);
    if (s != RX_OK) {
        rx_tensor_release(*q);
        *q = NULL;
        return rx_fail_context(s, "%s", op);
    }
    rx_tensor_bump_version(cache_k);
    rx_tensor_bump_version(cache_v);
    return RX_OK;
}
