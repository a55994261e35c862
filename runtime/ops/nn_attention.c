/* nn_attention.c — scaled dot-product attention with grouped-query heads: argument checks,
 * forward and backward.
 *
 * Owns: the argument rules (q (B, H, T, D); k, v (B, G, S, D) with G dividing H; key_padding
 * (B, S) bool; additive_mask (B or 1, H or 1, T, S) of q's dtype; scale 0 meaning 1/sqrt(D);
 * dropout_p in [0, 1)), the operand layout the kernels take (unit stride on D and a row stride of
 * at least D, so views such as (B, T, H, D) transposed to (B, H, T, D) are used in place; other
 * layouts are copied), the broadcast of the mask by strides, and dropout's counters: B*H*T*S
 * Philox counters reserved per call, reported to the caller so the backward regenerates the mask.
 *
 * The forward saves a statistic for the backward whose shape the backend chooses
 * (attention_stat_shape), an f32 stat (f64 for f64): the CPU keeps the softmax probabilities
 * (B, H, T, S), which cost T*S per head, small next to the activations at recx's CPU sizes, and
 * make the backward two GEMMs cheaper than recomputing the scores; CUDA keeps each row's
 * log-sum-exp (B, H, T) and recomputes the probabilities tile by tile (flash attention), which
 * is why the backward also takes the forward's output and its masks.
 */
#include "ops.h"

#include <math.h>

static rx_status finish(const char *op, rx_status s, rx_tensor **out)
{
    if (s == RX_OK) return RX_OK;
    rx_tensor_release(*out);
    *out = NULL;
    return rx_fail_context(s, "%s", op);
}

/* t itself when its (B, heads, rows, D) layout suits the kernels, else a contiguous copy. */
static rx_status kernel_layout(rx_tensor *t, rx_tensor **out)
{
    int64_t rows = t->shape[2], d = t->shape[3];
    bool ok = (d <= 1 || t->stride[3] == 1) && (rows <= 1 || t->stride[2] >= d);
    if (ok) {
        *out = rx_tensor_retain(t);
        return RX_OK;
    }
    return rx_op_contiguous(t, out);
}

static rx_status check_operands(const char *op, rx_tensor *q, rx_tensor *k, rx_tensor *v)
{
    RX_TRY(rx_check_tensor(op, 1, q));
    RX_TRY(rx_check_tensor(op, 2, k));
    RX_TRY(rx_check_tensor(op, 3, v));
    RX_TRY(rx_check_float(op, 1, q));
    RX_TRY(rx_check_same_device(op, q, 1, k, 2));
    RX_TRY(rx_check_same_device(op, q, 1, v, 3));
    RX_TRY(rx_check_same_dtype(op, q, 1, k, 2));
    RX_TRY(rx_check_same_dtype(op, q, 1, v, 3));
    RX_TRY(rx_nn_check_shape(op, 1, NULL, q, 4, (const int64_t[]){-1, -1, -1, -1}));
    int64_t b = q->shape[0], h = q->shape[1], d = q->shape[3];
    RX_TRY(rx_nn_check_shape(op, 2, NULL, k, 4, (const int64_t[]){b, -1, -1, d}));
    int64_t g = k->shape[1];
    if (g == 0 || h % g != 0)
        return rx_fail(RX_ERR_SHAPE, "%s: argument #2: %lld key/value heads do not divide %lld query heads",
                       op, (long long)g, (long long)h);
    return rx_nn_check_shape(op, 3, NULL, v, 4, k->shape);
}

static rx_status check_opts(const char *op, rx_tensor *q, rx_tensor *k, const rx_attention_opts *o)
{
    int64_t b = q->shape[0], h = q->shape[1], t = q->shape[2], s = k->shape[2];
    if (!(o->dropout_p >= 0.0 && o->dropout_p < 1.0))
        return rx_fail(RX_ERR_ARG, "%s: argument #4 (dropout_p): expected a probability in [0, 1), got %g",
                       op, o->dropout_p);
    if (!isfinite(o->scale))
        return rx_fail(RX_ERR_ARG, "%s: argument #4 (scale): expected a finite scale (0: 1/sqrt(D)), got %g",
                       op, o->scale);
    if (o->key_padding) {
        rx_tensor *kp = o->key_padding;
        RX_TRY(rx_check_same_device(op, q, 1, kp, 4));
        if (kp->dtype != RX_BOOL)
            return rx_fail(RX_ERR_DTYPE, "%s: argument #4 (key_padding): expected a bool tensor, got %s", op,
                           rx_dtype_name(kp->dtype));
        RX_TRY(rx_nn_check_shape(op, 4, "key_padding", kp, 2, (const int64_t[]){b, s}));
    }
    if (o->additive_mask) {
        rx_tensor *m = o->additive_mask;
        RX_TRY(rx_check_same_device(op, q, 1, m, 4));
        if (m->dtype != q->dtype)
            return rx_fail(RX_ERR_DTYPE, "%s: argument #4 (additive_mask) is %s but argument #1 is %s", op,
                           rx_dtype_name(m->dtype), rx_dtype_name(q->dtype));
        bool ok = m->ndim == 4 && (m->shape[0] == b || m->shape[0] == 1) &&
                  (m->shape[1] == h || m->shape[1] == 1) && m->shape[2] == t && m->shape[3] == s;
        if (!ok) {
            char b1[128];
            return rx_fail(
                RX_ERR_SHAPE,
                "%s: argument #4 (additive_mask): expected shape (%lld, %lld, %lld, %lld) (dims 0 and 1 "
                "may be 1), got %s",
                op, (long long)b, (long long)h, (long long)t, (long long)s,
                rx_shape_str(m->ndim, m->shape, b1, sizeof b1));
        }
    }
    return RX_OK;
}

rx_status rx_op_attention_forward(rx_tensor *q, rx_tensor *k, rx_tensor *v, const rx_attention_opts *opts,
                                  rx_tensor **out, rx_tensor **stat, uint64_t *seed, uint64_t *offset)
{
    const char *op = "attention";
    *out = NULL;
    if (stat) *stat = NULL;
    rx_attention_opts o = {0};
    if (opts) o = *opts;
    RX_TRY(check_operands(op, q, k, v));
    RX_TRY(check_opts(op, q, k, &o));
    int64_t b = q->shape[0], h = q->shape[1], t = q->shape[2], d = q->shape[3], s_len = k->shape[2];
    double scale = o.scale != 0.0 ? o.scale : 1.0 / sqrt((double)(d ? d : 1));
    rx_dtype stat_dt = q->dtype == RX_F64 ? RX_F64 : RX_F32;
    rx_device dev = rx_tensor_device(q);
    const rx_backend *be = rx_backend_of(q);
    int stat_ndim = 0;
    int64_t stat_shape[4];
    be->attention_stat_shape(b, h, t, s_len, &stat_ndim, stat_shape);
    enum { QL, KL, VL, KP, MASK, P, NT };
    rx_tensor *tmp[NT] = {0};
    rx_status s = kernel_layout(q, &tmp[QL]);
    if (s == RX_OK) s = kernel_layout(k, &tmp[KL]);
    if (s == RX_OK) s = kernel_layout(v, &tmp[VL]);
    if (s == RX_OK && o.key_padding) s = rx_op_contiguous(o.key_padding, &tmp[KP]);
    if (s == RX_OK && o.additive_mask)
        s = rx_op_expand(o.additive_mask, 4, (const int64_t[]){b, h, t, s_len}, &tmp[MASK]);
    if (s == RX_OK) s = rx_empty(4, q->shape, q->dtype, dev, out);
    if (s == RX_OK) s = rx_empty(stat_ndim, stat_shape, stat_dt, dev, &tmp[P]);
    uint64_t sd = 0, off = 0;
    if (s == RX_OK) {
        if (o.dropout_p > 0) rx_generator_reserve(o.generator, (uint64_t)(b * h * t * s_len), &sd, &off);
        s = be->attention(*out, tmp[P], tmp[QL], tmp[KL], tmp[VL], tmp[KP], tmp[MASK], o.causal, scale,
                          o.dropout_p, sd, off);
    }
    if (s == RX_OK) {
        if (stat) *stat = rx_tensor_retain(tmp[P]);
        if (seed) *seed = sd;
        if (offset) *offset = off;
    }
    for (int i = 0; i < NT; i++) rx_tensor_release(tmp[i]);
    return finish(op, s, out);
}

rx_status rx_op_attention_backward(rx_tensor *g, rx_tensor *q, rx_tensor *k, rx_tensor *v, rx_tensor *out,
                                   rx_tensor *stat, rx_tensor *key_padding, rx_tensor *mask, int causal,
                                   double scale, double dropout_p, uint64_t seed, uint64_t offset,
                                   rx_tensor **dq, rx_tensor **dk, rx_tensor **dv)
{
    const char *op = "attention backward";
    rx_tensor **outs[3] = {dq, dk, dv};
    for (int i = 0; i < 3; i++)
        if (outs[i]) *outs[i] = NULL;
    rx_device dev = rx_tensor_device(q);
    int64_t b = q->shape[0], h = q->shape[1], t = q->shape[2], s_len = k->shape[2];
    enum { GL, QL, KL, VL, OL, PC, KP, MASK, NT };
    rx_tensor *tmp[NT] = {0};
    rx_status s = kernel_layout(g, &tmp[GL]);
    if (s == RX_OK) s = kernel_layout(q, &tmp[QL]);
    if (s == RX_OK) s = kernel_layout(k, &tmp[KL]);
    if (s == RX_OK) s = kernel_layout(v, &tmp[VL]);
    if (s == RX_OK) s = kernel_layout(out, &tmp[OL]);
    if (s == RX_OK) s = rx_op_contiguous(stat, &tmp[PC]);
    if (s == RX_OK && key_padding) s = rx_op_contiguous(key_padding, &tmp[KP]);
    if (s == RX_OK && mask) s = rx_op_expand(mask, 4, (const int64_t[]){b, h, t, s_len}, &tmp[MASK]);
    if (s == RX_OK && dq) s = rx_empty(4, q->shape, q->dtype, dev, dq);
    if (s == RX_OK && dk) s = rx_empty(4, k->shape, k->dtype, dev, dk);
    if (s == RX_OK && dv) s = rx_empty(4, v->shape, v->dtype, dev, dv);
    if (s == RX_OK)
        s = rx_backend_of(q)->attention_bwd(dq ? *dq : NULL, dk ? *dk : NULL, dv ? *dv : NULL, tmp[GL],
                                            tmp[QL], tmp[KL], tmp[VL], tmp[OL], tmp[PC], tmp[KP], tmp[MASK],
                                            causal, scale, dropout_p, seed, offset);
    for (int i = 0; i < NT; i++) rx_tensor_release(tmp[i]);
    if (s == RX_OK) return RX_OK;
    for (int i = 0; i < 3; i++)
        if (outs[i]) {
            rx_tensor_release(*outs[i]);
            *outs[i] = NULL;
        }
    return rx_fail_context(s, "%s", op);
}
