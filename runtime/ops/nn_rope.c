/* nn_rope.c — rotary position embeddings: inverse frequencies, cos/sin tables and the rotation.
 *
 * Owns: the argument rules (head dims even, positions (T) or (B, T), tables (T, D) or (B, T, D)
 * of x's dtype), inverse frequencies computed on the host the way Hugging Face does in f32
 * (exponent 2j/D rounded to f32, theta^exponent, reciprocal in f32), and the layouts the kernels
 * take: positions flattened to (P), tables viewed as (1 or B, T, D), x passed with its strides.
 */
#include "ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static rx_status finish(const char *op, rx_status s, rx_tensor **out)
{
    if (s == RX_OK) return RX_OK;
    rx_tensor_release(*out);
    *out = NULL;
    return rx_fail_context(s, "%s", op);
}

rx_status rx_op_rope_inv_freq(int64_t head_dim, double theta, rx_tensor **out)
{
    const char *op = "rope_inv_freq";
    *out = NULL;
    if (head_dim <= 0 || head_dim % 2)
        return rx_fail(RX_ERR_ARG, "%s: argument #1: expected a positive even head dim, got %lld", op,
                       (long long)head_dim);
    if (!(theta > 0.0) || isinf(theta))
        return rx_fail(RX_ERR_ARG, "%s: argument #2: expected a finite theta > 0, got %g", op, theta);
    int64_t h = head_dim / 2;
    float *v = malloc(sizeof(float) * (size_t)h);
    if (!v) return rx_fail(RX_ERR_NOMEM, "%s: out of host memory", op);
    for (int64_t j = 0; j < h; j++) {
        float e = (float)(2 * j) / (float)head_dim;
        v[j] = 1.0f / (float)pow(theta, (double)e);
    }
    rx_status s = rx_from_buffer(1, &h, RX_F32, v, out);
    free(v);
    return s;
}

rx_status rx_op_rope_tables(rx_tensor *positions, rx_tensor *inv_freq, rx_dtype dtype, rx_tensor **cos,
                            rx_tensor **sin)
{
    const char *op = "rope_tables";
    *cos = NULL;
    *sin = NULL;
    RX_TRY(rx_check_tensor(op, 1, positions));
    RX_TRY(rx_check_tensor(op, 2, inv_freq));
    RX_TRY(rx_check_same_device(op, positions, 1, inv_freq, 2));
    RX_TRY(rx_check_index_dtype(op, 1, positions));
    if (positions->ndim != 1 && positions->ndim != 2) {
        char b[128];
        return rx_fail(RX_ERR_SHAPE, "%s: argument #1: expected positions of shape (T) or (B, T), got %s", op,
                       rx_shape_str(positions->ndim, positions->shape, b, sizeof b));
    }
    if (inv_freq->dtype != RX_F32 && inv_freq->dtype != RX_F64)
        return rx_fail(RX_ERR_DTYPE, "%s: argument #2: expected f32 or f64 inverse frequencies, got %s", op,
                       rx_dtype_name(inv_freq->dtype));
    RX_TRY(rx_nn_check_shape(op, 2, NULL, inv_freq, 1, (const int64_t[]){-1}));
    if ((unsigned)dtype > RX_BOOL || !rx_dtype_is_float(dtype))
        return rx_fail(RX_ERR_DTYPE, "%s: argument #3: expected a floating-point dtype, got %s", op,
                       (unsigned)dtype <= RX_BOOL ? rx_dtype_name(dtype) : "an unknown dtype");
    int64_t np = rx_tensor_numel(positions), d = 2 * inv_freq->shape[0];
    int64_t shape[3];
    memcpy(shape, positions->shape, sizeof(int64_t) * (size_t)positions->ndim);
    shape[positions->ndim] = d;
    rx_device dev = rx_tensor_device(positions);
    rx_tensor *pc = NULL, *pf = NULL, *fc = NULL, *c2 = NULL, *s2 = NULL;
    rx_status s = rx_op_contiguous(positions, &pc);
    if (s == RX_OK) s = rx_op_view(pc, 1, &np, &pf);
    if (s == RX_OK) s = rx_op_contiguous(inv_freq, &fc);
    if (s == RX_OK) s = rx_empty(positions->ndim + 1, shape, dtype, dev, cos);
    if (s == RX_OK) s = rx_empty(positions->ndim + 1, shape, dtype, dev, sin);
    if (s == RX_OK) s = rx_op_view(*cos, 2, (const int64_t[]){np, d}, &c2);
    if (s == RX_OK) s = rx_op_view(*sin, 2, (const int64_t[]){np, d}, &s2);
    if (s == RX_OK) s = rx_backend_of(positions)->rope_tables(c2, s2, pf, fc);
    rx_tensor_release(pc);
    rx_tensor_release(pf);
    rx_tensor_release(fc);
    rx_tensor_release(c2);
    rx_tensor_release(s2);
    if (s != RX_OK) {
        rx_tensor_release(*sin);
        *sin = NULL;
    }
    return finish(op, s, cos);
}

/* Checks x (#1, or the gradient) and the tables (#2, #3); views each table as contiguous
 * (1 or B, T, D). */
static rx_status rope_args(const char *op, rx_tensor *x, rx_tensor *cos, rx_tensor *sin, rx_tensor **c3,
                           rx_tensor **s3)
{
    *c3 = NULL;
    *s3 = NULL;
    RX_TRY(rx_check_tensor(op, 1, x));
    RX_TRY(rx_check_tensor(op, 2, cos));
    RX_TRY(rx_check_tensor(op, 3, sin));
    RX_TRY(rx_check_float(op, 1, x));
    RX_TRY(rx_nn_check_shape(op, 1, NULL, x, 4, (const int64_t[]){-1, -1, -1, -1}));
    int64_t b = x->shape[0], t = x->shape[2], d = x->shape[3];
    if (d % 2)
        return rx_fail(RX_ERR_SHAPE, "%s: argument #1: expected an even head dim, got %lld", op,
                       (long long)d);
    rx_tensor *tables[2] = {cos, sin};
    for (int i = 0; i < 2; i++) {
        RX_TRY(rx_check_same_device(op, x, 1, tables[i], i + 2));
        RX_TRY(rx_check_same_dtype(op, x, 1, tables[i], i + 2));
        if (tables[i]->ndim == 3)
            RX_TRY(rx_nn_check_shape(op, i + 2, NULL, tables[i], 3, (const int64_t[]){b, t, d}));
        else
            RX_TRY(rx_nn_check_shape(op, i + 2, NULL, tables[i], 2, (const int64_t[]){t, d}));
    }
    if (sin->ndim != cos->ndim) {
        char b1[128], b2[128];
        return rx_fail(RX_ERR_SHAPE, "%s: argument #3: expected the shape %s of argument #2, got %s", op,
                       rx_shape_str(cos->ndim, cos->shape, b1, sizeof b1),
                       rx_shape_str(sin->ndim, sin->shape, b2, sizeof b2));
    }
    int64_t shape3[3] = {cos->ndim == 3 ? b : 1, t, d};
    rx_tensor *cc = NULL, *sc = NULL;
    rx_status s = rx_op_contiguous(cos, &cc);
    if (s == RX_OK) s = rx_op_contiguous(sin, &sc);
    if (s == RX_OK) s = rx_op_view(cc, 3, shape3, c3);
    if (s == RX_OK) s = rx_op_view(sc, 3, shape3, s3);
    rx_tensor_release(cc);
    rx_tensor_release(sc);
    if (s != RX_OK) {
        rx_tensor_release(*c3);
        rx_tensor_release(*s3);
        *c3 = *s3 = NULL;
    }
    return s;
}

static rx_status rope_run(const char *op, rx_tensor *x, rx_tensor *cos, rx_tensor *sin, int transpose,
                          rx_tensor **out)
{
    *out = NULL;
    rx_tensor *c3, *s3;
    RX_TRY(rope_args(op, x, cos, sin, &c3, &s3));
    rx_status s = rx_empty(4, x->shape, x->dtype, rx_tensor_device(x), out);
    if (s == RX_OK) s = rx_backend_of(x)->rope(*out, x, c3, s3, transpose);
    rx_tensor_release(c3);
    rx_tensor_release(s3);
    return finish(op, s, out);
}

rx_status rx_op_rope(rx_tensor *x, rx_tensor *cos, rx_tensor *sin, rx_tensor **out)
{
    return rope_run("rope", x, cos, sin, 0, out);
}

rx_status rx_op_rope_backward(rx_tensor *g, rx_tensor *cos, rx_tensor *sin, rx_tensor **dx)
{
    return rope_run("rope backward", g, cos, sin, 1, dx);
}
