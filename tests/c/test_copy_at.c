/* test_copy_at.c — copy_at_ (a copy into a slice whose start is read from a tensor) against
 * references computed here by plain loops over the destination's storage.
 *
 * Covers: every dtype, dims 0..3 of a 4-D destination (and a negative dim), offsets at both ends
 * and in the middle, i32 and i64 offsets of shapes (), (1,) and (1, 1); destinations that are
 * transposed and narrowed views (elements outside the slice and outside the view must keep their
 * values) and sources that are transposed, narrowed and expanded; an empty source, a source as
 * long as dst, a source overlapping dst's storage, 64-bit integers beyond 2^53 (bits, not
 * doubles), a copy large enough to run in parallel, the version bump; and the errors: offsets
 * out of range at both ends (dst left unchanged), dtype, shape, rank, dim, device-independent
 * offset checks (dtype, element count, storage shared with dst), NULL arguments, a 0-d dst, and a
 * dst that requires grad (allowed under no_grad).
 *
 * The reference: dst is a view of a contiguous base whose row-major values are its storage; for
 * each element of src (row-major multi-index i), storage position dst.offset + sum_d (i_d + (d ==
 * dim ? off : 0)) * dst.stride[d] of the base receives that element's value. The whole base is
 * then compared exactly.
 */
#include "check.h"
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

static const rx_dtype ALL[] = {RX_F32, RX_F64, RX_F16, RX_BF16, RX_I32, RX_I64, RX_U8, RX_BOOL};

/* Values exact in every dtype; arg makes dst's (0) and src's (1) values differ. */
static double val(rx_dtype dt, int64_t arg, int64_t i)
{
    if (dt == RX_BOOL) return (double)(((i * 5 + arg) % 3) == 0);
    if (dt == RX_U8) return (double)((i * 7 + 3 + arg * 101) % 200);
    double v = (double)((i * 7 + 3 + arg * 29) % 61) - 30.0;
    return rx_dtype_is_float(dt) ? v * 0.5 : v;
}

static rx_tensor *offset_tensor(rx_dtype it, int ndim, int64_t off)
{
    int64_t shape[2] = {1, 1};
    double v = (double)off;
    return t_from(ndim, shape, it, &v);
}

/* The expected base storage after copying src (values sv, row-major) into the view dst of base
 * (values bv) at off along dim. */
static double *reference(const double *bv, int64_t base_numel, const rx_tensor *dst, const rx_tensor *src,
                         const double *sv, int dim, int64_t off)
{
    double *e = malloc(sizeof(double) * (size_t)(base_numel ? base_numel : 1));
    memcpy(e, bv, sizeof(double) * (size_t)base_numel);
    int nd = rx_tensor_ndim(src);
    const int64_t *ss = rx_tensor_shape_ptr(src), *ds = rx_tensor_strides_ptr(dst);
    int64_t n = rx_tensor_numel(src);
    for (int64_t i = 0; i < n; i++) {
        int64_t r = i, pos = dst->offset;
        for (int d = nd - 1; d >= 0; d--) {
            int64_t c = r % ss[d];
            r /= ss[d];
            pos += (c + (d == dim ? off : 0)) * ds[d];
        }
        e[pos] = sv[i];
    }
    return e;
}

typedef enum { DST_CONTIG, DST_TRANSPOSED, DST_NARROWED } dst_kind;
typedef enum { SRC_CONTIG, SRC_TRANSPOSED, SRC_NARROWED, SRC_EXPANDED } src_kind;

/* A view of logical shape `shape` of a fresh base (returned in *base, values in *bv): the base
 * itself, the base stored with dims 0 and 3 swapped then transposed back, or a base 3 wider in
 * the last dim narrowed at 1. */
static rx_tensor *make_dst(dst_kind k, const int64_t *shape, rx_dtype dt, rx_tensor **base, double **bv)
{
    int64_t bs[4] = {shape[0], shape[1], shape[2], shape[3]};
    if (k == DST_TRANSPOSED) bs[0] = shape[3], bs[3] = shape[0];
    if (k == DST_NARROWED) bs[3] += 3;
    *base = t_gen(4, bs, dt, val, 0, bv);
    rx_tensor *v = NULL;
    if (k == DST_TRANSPOSED)
        CHECK_OK(rx_transpose(*base, 0, 3, &v));
    else if (k == DST_NARROWED)
        CHECK_OK(rx_narrow(*base, 3, 1, shape[3], &v));
    else
        v = rx_tensor_retain(*base);
    return v;
}

/* A source of logical shape `shape` laid out as k (values row-major in *sv). */
static rx_tensor *make_src(src_kind k, const int64_t *shape, rx_dtype dt, double **sv)
{
    int64_t bs[4] = {shape[0], shape[1], shape[2], shape[3]};
    if (k == SRC_TRANSPOSED) bs[1] = shape[3], bs[3] = shape[1];
    if (k == SRC_NARROWED) bs[2] += 2;
    if (k == SRC_EXPANDED) bs[0] = 1;
    rx_tensor *b = t_gen(4, bs, dt, val, 1, NULL), *v = NULL;
    if (k == SRC_TRANSPOSED)
        CHECK_OK(rx_transpose(b, 1, 3, &v));
    else if (k == SRC_NARROWED)
        CHECK_OK(rx_narrow(b, 2, 2, shape[2], &v));
    else if (k == SRC_EXPANDED)
        CHECK_OK(rx_expand(b, 4, shape, &v));
    else
        v = rx_tensor_retain(b);
    rx_tensor_release(b);
    *sv = t_values(v);
    return v;
}

static int failures_before;

/* One case: copy a src of kind sk (length len along dim) into a dst of kind dk at off. */
static void run_case(rx_dtype dt, dst_kind dk, src_kind sk, int dim, int64_t len, int64_t off, rx_dtype it,
                     int off_ndim)
{
    static const int64_t shape[4] = {3, 4, 5, 6};
    int64_t sshape[4] = {3, 4, 5, 6};
    sshape[dim] = len;
    rx_tensor *base, *dst, *src, *offset;
    double *bv, *sv;
    dst = make_dst(dk, shape, dt, &base, &bv);
    src = make_src(sk, sshape, dt, &sv);
    offset = offset_tensor(it, off_ndim, off);
    int64_t bn = rx_tensor_numel(base);
    double *e = reference(bv, bn, dst, src, sv, dim, off);
    int64_t version = dst->storage->version;
    CHECK_OK(rx_copy_at_(dst, dim, offset, src));
    CHECK(dst->storage->version == version + 1);
    CHECK_TENSOR(base, 4, rx_tensor_shape_ptr(base), e, 0, 0);
    if (check_failures_in_test > failures_before) {
        fprintf(stderr, "  (case: %s, dst kind %d, src kind %d, dim %d, len %lld, offset %lld %s %d-D)\n",
                rx_dtype_name(dt), (int)dk, (int)sk, dim, (long long)len, (long long)off, rx_dtype_name(it),
                off_ndim);
        failures_before = check_failures_in_test;
    }
    rx_tensor_release(base), rx_tensor_release(dst), rx_tensor_release(src), rx_tensor_release(offset);
    free(bv), free(sv), free(e);
}

/* Every dtype, every dim of a 4-D dst, offsets at both ends and in the middle. */
static void test_dims_dtypes(void)
{
    static const int64_t shape[4] = {3, 4, 5, 6};
    failures_before = check_failures_in_test;
    for (int di = 0; di < 8; di++)
        for (int dim = 0; dim < 4; dim++) {
            int64_t len = dim == 0 ? 1 : 2, size = shape[dim];
            int64_t offs[3] = {0, (size - len) / 2, size - len};
            for (int oi = 0; oi < 3; oi++)
                run_case(ALL[di], DST_CONTIG, SRC_CONTIG, dim, len, offs[oi], oi == 1 ? RX_I32 : RX_I64, oi);
        }
}

/* Non-contiguous destinations and sources, both offset dtypes. */
static void test_strided(void)
{
    static const int64_t shape[4] = {3, 4, 5, 6};
    static const rx_dtype dts[] = {RX_F32, RX_F64, RX_F16, RX_BF16, RX_I64};
    failures_before = check_failures_in_test;
    for (int di = 0; di < 5; di++)
        for (int dk = 0; dk < 3; dk++)
            for (int sk = 0; sk < 4; sk++)
                for (int dim = 0; dim < 4; dim++) {
                    int64_t len = dim == 0 ? 2 : 3 - (dim & 1), size = shape[dim];
                    run_case(dts[di], (dst_kind)dk, (src_kind)sk, dim, len, 0, RX_I32, 1);
                    run_case(dts[di], (dst_kind)dk, (src_kind)sk, dim, len, size - len, RX_I64, 0);
                }
}

/* A negative dim, an empty source, a source as long as dst (only offset 0). */
static void test_edges(void)
{
    double *bv, *sv;
    rx_tensor *base, *src, *offset;
    rx_tensor *dst = make_dst(DST_CONTIG, (int64_t[]){3, 4, 5, 6}, RX_F32, &base, &bv);
    /* dim -2 is dim 2 */
    src = make_src(SRC_CONTIG, (int64_t[]){3, 4, 2, 6}, RX_F32, &sv);
    offset = offset_tensor(RX_I64, 0, 1);
    double *e = reference(bv, 360, dst, src, sv, 2, 1);
    CHECK_OK(rx_copy_at_(dst, -2, offset, src));
    CHECK_TENSOR(base, 4, ((int64_t[]){3, 4, 5, 6}), e, 0, 0);
    rx_tensor_release(src), rx_tensor_release(offset);
    free(sv);
    /* an empty source writes nothing; offset == size is in range for it */
    src = make_src(SRC_CONTIG, (int64_t[]){3, 0, 5, 6}, RX_F32, &sv);
    offset = offset_tensor(RX_I32, 1, 4);
    CHECK_OK(rx_copy_at_(dst, 1, offset, src));
    CHECK_TENSOR(base, 4, ((int64_t[]){3, 4, 5, 6}), e, 0, 0);
    rx_tensor_release(offset);
    offset = offset_tensor(RX_I32, 1, 5);
    CHECK_ERR(rx_copy_at_(dst, 1, offset, src), RX_ERR_ARG, "offset 5 out of range [0, 4]");
    rx_tensor_release(src), rx_tensor_release(offset);
    free(sv), free(e);
    /* the whole dim */
    src = make_src(SRC_TRANSPOSED, (int64_t[]){3, 4, 5, 6}, RX_F32, &sv);
    offset = offset_tensor(RX_I64, 1, 0);
    CHECK_OK(rx_copy_at_(dst, 3, offset, src));
    CHECK_TENSOR(base, 4, ((int64_t[]){3, 4, 5, 6}), sv, 0, 0);
    rx_tensor_release(offset);
    offset = offset_tensor(RX_I64, 1, 1);
    CHECK_ERR(rx_copy_at_(dst, 3, offset, src), RX_ERR_ARG, "offset 1 out of range [0, 0]");
    rx_tensor_release(src), rx_tensor_release(offset), rx_tensor_release(dst), rx_tensor_release(base);
    free(sv), free(bv);
}

/* A source that is a view of dst's own storage: the result is the copy of the values before the
 * call (rows 0..2 of a (6, 4) matrix copied to rows 2..4, which overlap them). */
static void test_overlap(void)
{
    double *bv;
    rx_tensor *base = t_gen(2, (int64_t[]){6, 4}, RX_F64, val, 0, &bv), *src = NULL;
    CHECK_OK(rx_narrow(base, 0, 0, 3, &src));
    rx_tensor *offset = offset_tensor(RX_I64, 1, 2);
    double e[24];
    memcpy(e, bv, sizeof e);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++) e[(r + 2) * 4 + c] = bv[r * 4 + c];
    CHECK_OK(rx_copy_at_(base, 0, offset, src));
    CHECK_TENSOR(base, 2, ((int64_t[]){6, 4}), e, 0, 0);
    rx_tensor_release(base), rx_tensor_release(src), rx_tensor_release(offset);
    free(bv);
}

/* i64 values beyond 2^53 move as bits, and an i32 offset works with them. */
static void test_i64_bits(void)
{
    int64_t dv[8], sv[2] = {INT64_MAX - 6, INT64_MIN + 3};
    for (int i = 0; i < 8; i++) dv[i] = ((int64_t)1 << 60) + i;
    rx_tensor *dst = NULL, *src = NULL, *offset = offset_tensor(RX_I32, 1, 5);
    CHECK_OK(rx_from_buffer(1, (int64_t[]){8}, RX_I64, dv, &dst));
    CHECK_OK(rx_from_buffer(1, (int64_t[]){2}, RX_I64, sv, &src));
    CHECK_OK(rx_copy_at_(dst, 0, offset, src));
    const int64_t *p = rx_tensor_data_ptr(dst);
    for (int i = 0; i < 8; i++) CHECK(p[i] == (i == 5 ? sv[0] : i == 6 ? sv[1] : dv[i]));
    rx_tensor_release(dst), rx_tensor_release(src), rx_tensor_release(offset);
}

/* A KV-cache-shaped write large enough for the parallel path: (4, 8, 100, 64) cache, (4, 8, 32,
 * 64) block at position 50 along dim 2, the block a transposed view. */
static void test_large(void)
{
    double *bv, *sv;
    rx_tensor *base, *dst = make_dst(DST_CONTIG, (int64_t[]){4, 8, 100, 64}, RX_F32, &base, &bv);
    rx_tensor *src = make_src(SRC_TRANSPOSED, (int64_t[]){4, 8, 32, 64}, RX_F32, &sv);
    rx_tensor *offset = offset_tensor(RX_I64, 1, 50);
    double *e = reference(bv, rx_tensor_numel(base), dst, src, sv, 2, 50);
    CHECK_OK(rx_copy_at_(dst, 2, offset, src));
    CHECK_TENSOR(base, 4, ((int64_t[]){4, 8, 100, 64}), e, 0, 0);
    rx_tensor_release(base), rx_tensor_release(dst), rx_tensor_release(src), rx_tensor_release(offset);
    free(bv), free(sv), free(e);
}

static void test_errors(void)
{
    double *bv, *sv;
    rx_tensor *base, *dst = make_dst(DST_CONTIG, (int64_t[]){3, 4, 5, 6}, RX_F32, &base, &bv);
    rx_tensor *src = make_src(SRC_CONTIG, (int64_t[]){3, 2, 5, 6}, RX_F32, &sv);
    rx_tensor *ok = offset_tensor(RX_I64, 1, 1), *o = NULL, *x = NULL;
    int64_t version = dst->storage->version;
    /* out-of-range offsets at both ends: an error naming the range, dst unchanged */
    o = offset_tensor(RX_I64, 1, -1);
    CHECK_ERR(
        rx_copy_at_(dst, 1, o, src), RX_ERR_ARG,
        "copy_at_: argument #3: offset -1 out of range [0, 2] for dim 1 of size 4 and a source of length 2");
    rx_tensor_release(o);
    o = offset_tensor(RX_I32, 0, 3);
    CHECK_ERR(rx_copy_at_(dst, 1, o, src), RX_ERR_ARG, "offset 3 out of range [0, 2]");
    rx_tensor_release(o);
    CHECK_TENSOR(base, 4, ((int64_t[]){3, 4, 5, 6}), bv, 0, 0);
    CHECK(dst->storage->version == version);
    /* the offset: dtype, element count, storage shared with dst */
    o = offset_tensor(RX_F32, 1, 1);
    CHECK_ERR(rx_copy_at_(dst, 1, o, src), RX_ERR_DTYPE,
              "copy_at_: argument #3: expected an i32 or i64 index tensor, got f32");
    rx_tensor_release(o);
    CHECK_OK(rx_zeros(1, (int64_t[]){2}, RX_I64, rx_cpu(), &o));
    CHECK_ERR(rx_copy_at_(dst, 1, o, src), RX_ERR_SHAPE,
              "copy_at_: argument #3: expected an offset tensor with one element, got shape (2)");
    rx_tensor_release(o);
    CHECK_OK(rx_zeros(1, (int64_t[]){0}, RX_I64, rx_cpu(), &o));
    CHECK_ERR(rx_copy_at_(dst, 1, o, src), RX_ERR_SHAPE, "one element, got shape (0)");
    rx_tensor_release(o);
    {
        rx_tensor *ib = NULL, *isrc = NULL, *ioff = NULL;
        CHECK_OK(rx_zeros(1, (int64_t[]){6}, RX_I64, rx_cpu(), &ib));
        CHECK_OK(rx_narrow(ib, 0, 0, 2, &isrc));
        CHECK_OK(rx_narrow(ib, 0, 5, 1, &ioff));
        CHECK_ERR(rx_copy_at_(ib, 0, ioff, isrc), RX_ERR_ARG,
                  "copy_at_: argument #3 shares storage with argument #1");
        rx_tensor_release(ib), rx_tensor_release(isrc), rx_tensor_release(ioff);
    }
    /* src: dtype, shape outside dim, rank, length */
    x = t_cast(src, RX_F64);
    CHECK_ERR(rx_copy_at_(dst, 1, ok, x), RX_ERR_DTYPE,
              "copy_at_: argument #1 is f32 but argument #4 is f64");
    rx_tensor_release(x);
    CHECK_OK(rx_zeros(4, (int64_t[]){3, 2, 5, 7}, RX_F32, rx_cpu(), &x));
    CHECK_ERR(rx_copy_at_(dst, 1, ok, x), RX_ERR_SHAPE,
              "copy_at_: argument #4: expected the shape of argument #1 (3, 4, 5, 6) except along dim 1, got "
              "(3, 2, 5, 7)");
    rx_tensor_release(x);
    CHECK_OK(rx_zeros(3, (int64_t[]){3, 2, 5}, RX_F32, rx_cpu(), &x));
    CHECK_ERR(rx_copy_at_(dst, 1, ok, x), RX_ERR_SHAPE, "except along dim 1, got (3, 2, 5)");
    rx_tensor_release(x);
    CHECK_OK(rx_zeros(4, (int64_t[]){3, 5, 5, 6}, RX_F32, rx_cpu(), &x));
    CHECK_ERR(rx_copy_at_(dst, 1, ok, x), RX_ERR_SHAPE,
              "copy_at_: argument #4: length 5 along dim 1 exceeds the size 4 of argument #1 there");
    rx_tensor_release(x);
    /* dim, 0-d dst, NULL arguments */
    CHECK_ERR(rx_copy_at_(dst, 4, ok, src), RX_ERR_ARG,
              "copy_at_: argument #2: dim 4 out of range for a 4-D tensor (expected -4..3)");
    CHECK_ERR(rx_copy_at_(dst, -5, ok, src), RX_ERR_ARG, "argument #2: dim -5 out of range");
    CHECK_OK(rx_zeros(0, NULL, RX_F32, rx_cpu(), &x));
    CHECK_ERR(rx_copy_at_(x, 0, ok, x), RX_ERR_SHAPE,
              "copy_at_: argument #1: expected a tensor with at least one dim, got a 0-d tensor");
    rx_tensor_release(x);
    CHECK_ERR(rx_copy_at_(NULL, 1, ok, src), RX_ERR_ARG,
              "copy_at_: argument #1: expected a tensor, got NULL");
    CHECK_ERR(rx_copy_at_(dst, 1, NULL, src), RX_ERR_ARG,
              "copy_at_: argument #3: expected a tensor, got NULL");
    CHECK_ERR(rx_copy_at_(dst, 1, ok, NULL), RX_ERR_ARG,
              "copy_at_: argument #4: expected a tensor, got NULL");
    CHECK_TENSOR(base, 4, ((int64_t[]){3, 4, 5, 6}), bv, 0, 0);
    CHECK(dst->storage->version == version);
    /* a dst that requires grad: an error with grad mode on, allowed under no_grad */
    CHECK_OK(rx_set_requires_grad(base, 1));
    CHECK_ERR(rx_copy_at_(base, 1, ok, src), RX_ERR_ARG, "copy_at_: argument #1 requires grad");
    int prev = rx_set_grad_enabled(0);
    CHECK_OK(rx_copy_at_(base, 1, ok, src));
    rx_set_grad_enabled(prev);
    double *e = reference(bv, 360, base, src, sv, 1, 1);
    CHECK_TENSOR(base, 4, ((int64_t[]){3, 4, 5, 6}), e, 0, 0);
    rx_tensor_release(base), rx_tensor_release(dst), rx_tensor_release(src), rx_tensor_release(ok);
    free(bv), free(sv), free(e);
}

int main(void)
{
    RUN(test_dims_dtypes);
    RUN(test_strided);
    RUN(test_edges);
    RUN(test_overlap);
    RUN(test_i64_bits);
    RUN(test_large);
    RUN(test_errors);
    RUN(check_no_leaks);
    return check_finish();
}
