/* test_core.c — tensors, storage, views, copies, casts, creation and the error model.
 *
 * References are computed here by hand (index arithmetic in plain C), never by the code under
 * test. Covers every dtype's conversions (incl. f16/bf16 rounding), view/stride rules, the
 * contiguous/clone/copy_ ownership rules, and the messages of argument errors.
 */
#include "check.h"
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

static const int64_t S23[] = {2, 3};

static rx_tensor *iota(int ndim, const int64_t *shape, rx_dtype dtype)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) v[i] = (double)i;
    rx_tensor *t = t_from(ndim, shape, dtype, v);
    free(v);
    return t;
}

static void test_creation(void)
{
    rx_tensor *z = NULL, *o = NULL, *f = NULL, *a = NULL;
    CHECK_OK(rx_zeros(2, S23, RX_F32, rx_cpu(), &z));
    CHECK_OK(rx_ones(2, S23, RX_I64, rx_cpu(), &o));
    CHECK_OK(rx_full(2, S23, 2.5, RX_BF16, rx_cpu(), &f));
    double zeros[6] = {0}, ones[6] = {1, 1, 1, 1, 1, 1}, fulls[6] = {2.5, 2.5, 2.5, 2.5, 2.5, 2.5};
    CHECK_TENSOR(z, 2, S23, zeros, 0, 0);
    CHECK_TENSOR(o, 2, S23, ones, 0, 0);
    CHECK_TENSOR(f, 2, S23, fulls, 0, 0);
    CHECK(rx_tensor_dtype(o) == RX_I64);
    CHECK(rx_tensor_is_contiguous(z));
    CHECK_OK(rx_arange(1, 2, 0.25, RX_F64, rx_cpu(), &a));
    double ar[] = {1, 1.25, 1.5, 1.75};
    CHECK_TENSOR(a, 1, ((int64_t[]){4}), ar, 0, 0);
    rx_tensor_release(a);
    CHECK_OK(rx_arange(5, 0, -2, RX_I32, rx_cpu(), &a));
    double ar2[] = {5, 3, 1};
    CHECK_TENSOR(a, 1, ((int64_t[]){3}), ar2, 0, 0);
    rx_tensor_release(a);
    CHECK_OK(rx_arange(3, 3, 1, RX_F32, rx_cpu(), &a)); /* empty range */
    CHECK(rx_tensor_numel(a) == 0);
    rx_tensor_release(a);
    rx_tensor_release(z);
    rx_tensor_release(o);
    rx_tensor_release(f);

    float buf[6] = {1, 2, 3, 4, 5, 6};
    rx_tensor *b = NULL;
    CHECK_OK(rx_from_buffer(2, S23, RX_F32, buf, &b));
    buf[0] = 99; /* the tensor holds a copy */
    double get = 0;
    CHECK_OK(rx_tensor_get(b, (int64_t[]){0, 0}, &get));
    CHECK(get == 1);
    CHECK_OK(rx_tensor_get(b, (int64_t[]){1, 2}, &get));
    CHECK(get == 6);
    CHECK_ERR(rx_tensor_get(b, (int64_t[]){2, 0}, &get), RX_ERR_ARG, "index 2 out of range for dim 0 of size 2");
    rx_tensor_release(b);
}

static void test_creation_errors(void)
{
    rx_tensor *t = (rx_tensor *)1;
    CHECK_ERR(rx_zeros(2, (int64_t[]){2, -1}, RX_F32, rx_cpu(), &t), RX_ERR_SHAPE, "size -1 at dim 1 is negative");
    CHECK(t == NULL);
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK_ERR(rx_zeros(9, nine, RX_F32, rx_cpu(), &t), RX_ERR_SHAPE, "at most 8 dims");
    CHECK_ERR(rx_arange(0, 1, 0, RX_F32, rx_cpu(), &t), RX_ERR_ARG, "non-zero step");
    rx_dtype d;
    CHECK_ERR(rx_dtype_from_name("f17", &d), RX_ERR_ARG, "unknown dtype 'f17'");
    CHECK_OK(rx_dtype_from_name("bfloat16", &d));
    CHECK(d == RX_BF16);
    rx_device dev;
    CHECK_ERR(rx_device_from_name("tpu", &dev), RX_ERR_ARG, "unknown device 'tpu'");
    CHECK_OK(rx_device_from_name("cuda:3", &dev));
    CHECK(dev.type == RX_CUDA && dev.index == 3);
    CHECK_ERR(rx_device_from_name("cuda:x", &dev), RX_ERR_ARG, "unknown device");
    if (!rx_cuda_available()) {
        rx_device cuda = {RX_CUDA, 0};
        CHECK(rx_zeros(1, (int64_t[]){4}, RX_F32, cuda, &t) == RX_ERR_DEVICE ||
              rx_zeros(1, (int64_t[]){4}, RX_F32, cuda, &t) == RX_ERR_UNSUPPORTED);
        CHECK(strstr(rx_last_error(), "cuda:0") != NULL);
    }
}

static void test_half_conversions(void)
{
    /* f16: exact values, rounding to nearest even, subnormals, overflow, inf/nan */
    CHECK(rx_f32_to_f16(1.0f) == 0x3C00);
    CHECK(rx_f32_to_f16(-2.0f) == 0xC000);
    CHECK(rx_f32_to_f16(65504.0f) == 0x7BFF);
    CHECK(rx_f32_to_f16(65520.0f) == 0x7C00);           /* rounds up to inf */
    CHECK(rx_f32_to_f16(1.0f + 1.0f / 2048) == 0x3C00);  /* tie -> even (down) */
    CHECK(rx_f32_to_f16(1.0f + 3.0f / 2048) == 0x3C02);  /* tie -> even (up) */
    CHECK(rx_f32_to_f16(5.9604645e-8f) == 0x0001);       /* smallest subnormal */
    CHECK(rx_f32_to_f16(2.0e-8f) == 0x0000);             /* below half of it */
    CHECK(rx_f16_to_f32(0x0001) == 5.9604644775390625e-8f);
    CHECK(rx_f16_to_f32(0x03FF) == 6.097555160522461e-05f); /* largest subnormal */
    CHECK(rx_f16_to_f32(0x7C00) == INFINITY);
    CHECK(isnan(rx_f16_to_f32(rx_f32_to_f16(NAN))));
    /* every finite f16 survives f16 -> f32 -> f16 */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7C00) == 0x7C00) continue;
        if (rx_f32_to_f16(rx_f16_to_f32((uint16_t)h)) != h) bad++;
    }
    CHECK(bad == 0);
    /* bf16 */
    CHECK(rx_f32_to_bf16(1.0f) == 0x3F80);
    CHECK(rx_bf16_to_f32(0x3F80) == 1.0f);
    CHECK(rx_f32_to_bf16(1.0f + 1.0f / 256) == 0x3F80); /* tie -> even */
    CHECK(rx_f32_to_bf16(1.0f + 3.0f / 256) == 0x3F82);
    CHECK(isnan(rx_bf16_to_f32(rx_f32_to_bf16(NAN))));
    CHECK(rx_bf16_to_f32(rx_f32_to_bf16(3.0e38f)) == 2.9913653e38f || rx_bf16_to_f32(rx_f32_to_bf16(3.0e38f)) > 2.9e38f);
}

static void test_casts_every_dtype(void)
{
    double vals[6] = {-2.75, -1, 0, 1.5, 2, 200};
    rx_dtype all[] = {RX_F32, RX_F16, RX_BF16, RX_F64, RX_I32, RX_I64, RX_U8, RX_BOOL};
    rx_tensor *src = t_from(2, S23, RX_F64, vals);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        rx_tensor *c = NULL;
        CHECK_OK(rx_to_dtype(src, all[i], &c));
        double want[6];
        for (int k = 0; k < 6; k++) {
            double v = vals[k];
            switch (all[i]) {
            case RX_I32: case RX_I64: want[k] = trunc(v); break;
            case RX_U8: want[k] = (double)(uint8_t)(int64_t)v; break;
            case RX_BOOL: want[k] = v != 0; break;
            default: want[k] = v; /* all exactly representable in every float dtype */
            }
        }
        CHECK_TENSOR(c, 2, S23, want, 0, 0);
        CHECK(rx_tensor_dtype(c) == all[i]);
        /* and back to f64 through the dtype-specific path */
        rx_tensor *back = NULL;
        CHECK_OK(rx_to_dtype(c, RX_F64, &back));
        CHECK_TENSOR(back, 2, S23, want, 0, 0);
        rx_tensor_release(back);
        rx_tensor_release(c);
    }
    rx_tensor *same = NULL;
    CHECK_OK(rx_to_dtype(src, RX_F64, &same));
    CHECK(same == src); /* same dtype: the tensor itself, retained */
    rx_tensor_release(same);
    rx_tensor_release(src);
}

static void test_view_reshape(void)
{
    rx_tensor *t = iota(2, (int64_t[]){4, 6}, RX_F32), *v = NULL, *v2 = NULL;
    CHECK_OK(rx_view(t, 3, (int64_t[]){2, -1, 3}, &v));
    CHECK(rx_tensor_size(v, 1) == 4);
    CHECK(rx_tensor_shares_storage(t, v));
    double x;
    CHECK_OK(rx_tensor_get(v, (int64_t[]){1, 2, 1}, &x));
    CHECK(x == 1 * 12 + 2 * 3 + 1);
    /* a transposed tensor cannot be viewed flat, but can be reshaped (copy) */
    rx_tensor *tt = NULL;
    CHECK_OK(rx_transpose(t, 0, 1, &tt));
    CHECK(!rx_tensor_is_contiguous(tt));
    CHECK_ERR(rx_view(tt, 1, (int64_t[]){24}, &v2), RX_ERR_SHAPE, "use reshape");
    CHECK_OK(rx_reshape(tt, 1, (int64_t[]){24}, &v2));
    CHECK(!rx_tensor_shares_storage(tt, v2));
    CHECK_OK(rx_tensor_get(v2, (int64_t[]){1}, &x));
    CHECK(x == 6); /* element (1, 0) of the transpose = t[0][1]... t is (4,6): tt[0][1] = t[1][0] = 6 */
    rx_tensor_release(v2);
    /* but a transposed tensor can be viewed when the split keeps strides compatible */
    CHECK_OK(rx_view(tt, 3, (int64_t[]){2, 3, 4}, &v2));
    CHECK(rx_tensor_shares_storage(tt, v2));
    CHECK_OK(rx_tensor_get(v2, (int64_t[]){1, 2, 3}, &x)); /* tt[5][3] = t[3][5] */
    CHECK(x == 3 * 6 + 5);
    rx_tensor_release(v2);
    CHECK_ERR(rx_view(t, 2, (int64_t[]){5, 5}, &v2), RX_ERR_SHAPE, "has 25 elements but the tensor (4, 6) has 24");
    CHECK_ERR(rx_view(t, 2, (int64_t[]){-1, -1}, &v2), RX_ERR_SHAPE, "only one dim can be -1");
    CHECK_ERR(rx_view(t, 2, (int64_t[]){-1, 5}, &v2), RX_ERR_SHAPE, "invalid for a tensor of 24 elements");
    rx_tensor_release(tt);
    rx_tensor_release(v);
    rx_tensor_release(t);
}

static void test_narrow_select_permute(void)
{
    rx_tensor *t = iota(3, (int64_t[]){2, 3, 4}, RX_I64), *n = NULL, *s = NULL, *p = NULL;
    CHECK_OK(rx_narrow(t, 2, 1, 2, &n)); /* (2, 3, 2): t[:, :, 1:3] */
    double want_n[12];
    for (int i = 0, k = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int l = 1; l < 3; l++) want_n[k++] = i * 12 + j * 4 + l;
    CHECK_TENSOR(n, 3, ((int64_t[]){2, 3, 2}), want_n, 0, 0);
    CHECK_OK(rx_select(t, -2, -1, &s)); /* t[:, 2, :] */
    double want_s[8];
    for (int i = 0, k = 0; i < 2; i++)
        for (int l = 0; l < 4; l++) want_s[k++] = i * 12 + 2 * 4 + l;
    CHECK_TENSOR(s, 2, ((int64_t[]){2, 4}), want_s, 0, 0);
    CHECK_OK(rx_permute(t, 3, (int[]){2, 0, 1}, &p)); /* (4, 2, 3) */
    double want_p[24];
    for (int l = 0, k = 0; l < 4; l++)
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++) want_p[k++] = i * 12 + j * 4 + l;
    CHECK_TENSOR(p, 3, ((int64_t[]){4, 2, 3}), want_p, 0, 0);
    rx_tensor *c = NULL;
    CHECK_OK(rx_contiguous(p, &c));
    CHECK(rx_tensor_is_contiguous(c) && !rx_tensor_shares_storage(c, p));
    CHECK_TENSOR(c, 3, ((int64_t[]){4, 2, 3}), want_p, 0, 0);
    rx_tensor_release(c);
    rx_tensor *bad = NULL;
    CHECK_ERR(rx_narrow(t, 3, 0, 1, &bad), RX_ERR_ARG, "narrow: argument #2: dim 3 out of range for a 3-D tensor");
    CHECK_ERR(rx_narrow(t, 1, 2, 2, &bad), RX_ERR_ARG, "range [2, 4) is outside dim 1 of size 3");
    CHECK_ERR(rx_select(t, 0, 2, &bad), RX_ERR_ARG, "select: argument #3: index 2 out of range");
    CHECK_ERR(rx_permute(t, 3, (int[]){0, 0, 1}, &bad), RX_ERR_ARG, "dim 0 appears twice");
    CHECK_ERR(rx_permute(t, 2, (int[]){0, 1}, &bad), RX_ERR_ARG, "expected 3 dims");
    rx_tensor_release(p);
    rx_tensor_release(s);
    rx_tensor_release(n);
    rx_tensor_release(t);
}

static void test_expand_squeeze_unsqueeze(void)
{
    rx_tensor *t = iota(2, (int64_t[]){3, 1}, RX_F64), *e = NULL, *u = NULL, *s = NULL;
    CHECK_OK(rx_expand(t, 3, (int64_t[]){2, 3, 4}, &e));
    CHECK(rx_tensor_stride(e, 0) == 0 && rx_tensor_stride(e, 2) == 0);
    double want[24];
    for (int i = 0, k = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int l = 0; l < 4; l++) want[k++] = j;
    CHECK_TENSOR(e, 3, ((int64_t[]){2, 3, 4}), want, 0, 0);
    rx_tensor *bad = NULL;
    CHECK_ERR(rx_expand(t, 2, (int64_t[]){4, 4}, &bad), RX_ERR_SHAPE, "cannot expand (3, 1) to (4, 4)");
    CHECK_OK(rx_unsqueeze(t, 0, &u));
    CHECK(rx_tensor_ndim(u) == 3 && rx_tensor_size(u, 0) == 1);
    rx_tensor_release(u);
    CHECK_OK(rx_unsqueeze(t, -1, &u)); /* (3, 1, 1) */
    CHECK(rx_tensor_ndim(u) == 3 && rx_tensor_size(u, 2) == 1 && rx_tensor_size(u, 0) == 3);
    CHECK_OK(rx_squeeze_all(u, &s));
    CHECK(rx_tensor_ndim(s) == 1 && rx_tensor_size(s, 0) == 3);
    rx_tensor_release(s);
    CHECK_OK(rx_squeeze(t, 0, &s)); /* size 3: unchanged */
    CHECK(rx_tensor_ndim(s) == 2);
    rx_tensor_release(s);
    CHECK_OK(rx_squeeze(t, 1, &s));
    CHECK(rx_tensor_ndim(s) == 1);
    rx_tensor_release(s);
    int nd;
    int64_t shape[8];
    CHECK_OK(rx_broadcast_shapes(2, (int64_t[]){3, 1}, 3, (int64_t[]){2, 1, 5}, &nd, shape));
    CHECK(nd == 3 && shape[0] == 2 && shape[1] == 3 && shape[2] == 5);
    CHECK_ERR(rx_broadcast_shapes(1, (int64_t[]){3}, 1, (int64_t[]){4}, &nd, shape), RX_ERR_SHAPE,
              "shapes (3) and (4) cannot be broadcast");
    rx_tensor_release(u);
    rx_tensor_release(e);
    rx_tensor_release(t);
}

static void test_copy_and_ownership(void)
{
    rx_mem_stats before, after;
    rx_mem_get_stats(RX_CPU, &before);
    rx_tensor *t = iota(2, (int64_t[]){3, 3}, RX_F32), *tt = NULL, *row = NULL;
    CHECK_OK(rx_transpose(t, 0, 1, &tt));
    /* copy_ from an overlapping view of the same storage reads the original values */
    CHECK_OK(rx_copy_(t, tt));
    double want[9] = {0, 3, 6, 1, 4, 7, 2, 5, 8};
    CHECK_TENSOR(t, 2, ((int64_t[]){3, 3}), want, 0, 0);
    /* broadcast copy into a row view writes through to the base */
    CHECK_OK(rx_select(t, 0, 1, &row));
    rx_tensor *v = t_from(1, (int64_t[]){1}, RX_F64, (double[]){-1});
    CHECK_OK(rx_copy_(row, v));
    double want2[9] = {0, 3, 6, -1, -1, -1, 2, 5, 8};
    CHECK_TENSOR(t, 2, ((int64_t[]){3, 3}), want2, 0, 0);
    CHECK_OK(rx_fill_(tt, 7)); /* fill through a transposed view */
    double sevens[9] = {7, 7, 7, 7, 7, 7, 7, 7, 7};
    CHECK_TENSOR(t, 2, ((int64_t[]){3, 3}), sevens, 0, 0);
    /* a view keeps the storage alive after the base is released */
    rx_tensor_release(t);
    CHECK_TENSOR(row, 1, ((int64_t[]){3}), sevens, 0, 0);
    rx_tensor *clone = NULL;
    CHECK_OK(rx_clone(row, &clone));
    CHECK(!rx_tensor_shares_storage(row, clone));
    rx_tensor_release(clone);
    rx_tensor_release(row);
    rx_tensor_release(tt);
    rx_tensor_release(v);
    rx_mem_get_stats(RX_CPU, &after);
    CHECK(after.live_bytes == before.live_bytes);
    CHECK(after.live_tensors == before.live_tensors);
    CHECK(after.live_storages == before.live_storages);
}

static void test_large_copy_parallel(void)
{
    /* > RX_PARALLEL_MIN elements through a non-contiguous source and a cast */
    int64_t shape[2] = {300, 257};
    rx_tensor *t = iota(2, shape, RX_F32), *tt = NULL, *c = NULL, *h = NULL;
    CHECK_OK(rx_transpose(t, 0, 1, &tt));
    CHECK_OK(rx_to_dtype(tt, RX_F64, &c));
    CHECK_OK(rx_to_dtype(tt, RX_BF16, &h));
    double *want = malloc(sizeof(double) * 300 * 257), *wantb = malloc(sizeof(double) * 300 * 257);
    for (int j = 0, k = 0; j < 257; j++)
        for (int i = 0; i < 300; i++, k++) {
            want[k] = i * 257 + j;
            wantb[k] = rx_bf16_to_f32(rx_f32_to_bf16((float)want[k]));
        }
    CHECK_TENSOR(c, 2, ((int64_t[]){257, 300}), want, 0, 0);
    CHECK_TENSOR(h, 2, ((int64_t[]){257, 300}), wantb, 0, 0);
    free(want);
    free(wantb);
    rx_tensor_release(h);
    rx_tensor_release(c);
    rx_tensor_release(tt);
    rx_tensor_release(t);
}

static void test_scalars_and_empty(void)
{
    rx_tensor *s = NULL, *e = NULL, *c = NULL;
    CHECK_OK(rx_full(0, NULL, 3.5, RX_F32, rx_cpu(), &s));
    double x = 0;
    CHECK_OK(rx_tensor_item(s, &x));
    CHECK(x == 3.5 && rx_tensor_ndim(s) == 0 && rx_tensor_numel(s) == 1);
    CHECK_OK(rx_zeros(2, (int64_t[]){0, 3}, RX_F32, rx_cpu(), &e));
    CHECK(rx_tensor_numel(e) == 0);
    CHECK_ERR(rx_tensor_item(e, &x), RX_ERR_SHAPE, "expected a tensor with one element, got shape (0, 3)");
    CHECK_OK(rx_clone(e, &c));
    CHECK(rx_tensor_numel(c) == 0);
    rx_tensor_release(c);
    rx_tensor_release(e);
    rx_tensor_release(s);
}

static void test_cpu_block_cache(void)
{
    rx_mem_empty_cache(RX_CPU);
    rx_mem_stats st;
    rx_tensor *big = NULL;
    CHECK_OK(rx_empty(1, (int64_t[]){1 << 20}, RX_F32, rx_cpu(), &big)); /* 4 MiB */
    void *first = rx_tensor_data_ptr(big);
    rx_tensor_release(big);
    rx_mem_get_stats(RX_CPU, &st);
    CHECK(st.cached_bytes == 4 << 20);
    /* the same size again reuses the cached block */
    CHECK_OK(rx_empty(1, (int64_t[]){1 << 20}, RX_F32, rx_cpu(), &big));
    CHECK(rx_tensor_data_ptr(big) == first);
    rx_mem_get_stats(RX_CPU, &st);
    CHECK(st.cached_bytes == 0);
    rx_tensor_release(big);
    rx_mem_empty_cache(RX_CPU);
    rx_mem_get_stats(RX_CPU, &st);
    CHECK(st.cached_bytes == 0);
    /* small blocks are not cached */
    rx_tensor *small = NULL;
    CHECK_OK(rx_empty(1, (int64_t[]){1000}, RX_F32, rx_cpu(), &small));
    rx_tensor_release(small);
    rx_mem_get_stats(RX_CPU, &st);
    CHECK(st.cached_bytes == 0);
}

static void test_interrupt_flag(void)
{
    CHECK(!rx_interrupt_pending());
    rx_interrupt_request();
    CHECK(rx_interrupt_pending());
    CHECK_ERR(rx_poll_interrupt("train"), RX_ERR_INTERRUPTED, "train: interrupted");
    CHECK(!rx_interrupt_pending()); /* reported once */
}

int main(void)
{
    RUN(test_creation);
    RUN(test_creation_errors);
    RUN(test_half_conversions);
    RUN(test_casts_every_dtype);
    RUN(test_view_reshape);
    RUN(test_narrow_select_permute);
    RUN(test_expand_squeeze_unsqueeze);
    RUN(test_copy_and_ownership);
    RUN(test_large_copy_parallel);
    RUN(test_scalars_and_empty);
    RUN(test_cpu_block_cache);
    RUN(test_interrupt_flag);
    return check_finish();
}
