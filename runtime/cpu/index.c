/* index.c — CPU kernels of index_select, gather and scatter_add.
 *
 * Owns: walking the operands with the strided iterator over stack-only headers (no references
 * taken): index_select copies one slice per index entry, gather and scatter_add walk the index
 * with a header of the indexed tensor whose stride along `dim` is 0, adding entry * stride.
 * scatter_add moves `dim` innermost so one task owns all the additions into an output element:
 * it runs in parallel yet adds in index order, so float results do not depend on threads.
 */
#include "cpu_kernels.h"
#include "strided.h"

#include <string.h>

/* t's header without dim d (its slice at 0). Shares t's storage; holds no reference. */
static rx_tensor drop_dim(const rx_tensor *t, int d)
{
    rx_tensor s = *t;
    s.ndim = t->ndim - 1;
    for (int i = d; i < s.ndim; i++) {
        s.shape[i] = t->shape[i + 1];
        s.stride[i] = t->stride[i + 1];
    }
    return s;
}

/* a's header over index's shape with stride 0 along dim: element p of the result points at
 * a[p with coordinate dim = 0]. Holds no reference. */
static rx_tensor restrict_to(const rx_tensor *a, const rx_tensor *index, int dim)
{
    rx_tensor r = *a;
    for (int i = 0; i < a->ndim; i++) r.shape[i] = index->shape[i];
    r.stride[dim] = 0;
    return r;
}

/* t's header with dim d moved last. Holds no reference. */
static rx_tensor dim_last(const rx_tensor *t, int d)
{
    rx_tensor r = drop_dim(t, d);
    r.ndim = t->ndim;
    r.shape[t->ndim - 1] = t->shape[d];
    r.stride[t->ndim - 1] = t->stride[d];
    return r;
}

static inline int64_t load_index(const char *p, bool i64)
{
    return i64 ? *(const int64_t *)p : *(const int32_t *)p;
}

static inline void copy_elem(char *dst, const char *src, int64_t es)
{
    switch (es) {
    case 1: *dst = *src; break;
    case 2: memcpy(dst, src, 2); break;
    case 4: memcpy(dst, src, 4); break;
    default: memcpy(dst, src, 8); break;
    }
}

rx_status rx_cpu_index_select(rx_tensor *out, const rx_tensor *a, int dim, const rx_tensor *index)
{
    rx_tensor os = drop_dim(out, dim), as = drop_dim(a, dim);
    rx_iter it;
    rx_iter_init(&it, 2, (const rx_tensor *[]){&os, &as});
    int64_t es = rx_dtype_size(a->dtype);
    bool dense = rx_iter_inner_dense(&it, (int64_t[]){es, es});
    int64_t ntasks = rx_iter_tasks(&it), len = index->shape[0];
    int64_t ostep = out->stride[dim] * es, astep = a->stride[dim] * es;
    const char *ip = rx_tensor_bytes(index);
    int64_t istep = index->stride[0] * rx_dtype_size(index->dtype);
    bool i64 = index->dtype == RX_I64;
#pragma omp parallel for schedule(static) if (len * it.numel >= RX_PARALLEL_MIN)
    for (int64_t task = 0; task < len * ntasks; task++) {
        int64_t j = task / ntasks, n;
        char *p[RX_ITER_MAX_OPS];
        rx_iter_task(&it, task % ntasks, p, &n);
        char *dst = p[0] + j * ostep;
        const char *src = p[1] + load_index(ip + j * istep, i64) * astep;
        if (dense) {
            memcpy(dst, src, (size_t)(n * es));
        } else {
            for (int64_t i = 0; i < n; i++)
                copy_elem(dst + i * it.inner_stride[0], src + i * it.inner_stride[1], es);
        }
    }
    return RX_OK;
}

rx_status rx_cpu_gather(rx_tensor *out, const rx_tensor *a, int dim, const rx_tensor *index)
{
    rx_tensor ar = restrict_to(a, index, dim);
    rx_iter it;
    rx_iter_init(&it, 3, (const rx_tensor *[]){out, index, &ar});
    int64_t es = rx_dtype_size(a->dtype), astep = a->stride[dim] * es;
    bool i64 = index->dtype == RX_I64;
    int64_t ntasks = rx_iter_tasks(&it);
#pragma omp parallel for schedule(static) if (it.numel >= RX_PARALLEL_MIN)
    for (int64_t task = 0; task < ntasks; task++) {
        char *p[RX_ITER_MAX_OPS];
        int64_t n;
        rx_iter_task(&it, task, p, &n);
        int64_t so = it.inner_stride[0], si = it.inner_stride[1], sa = it.inner_stride[2];
        for (int64_t i = 0; i < n; i++)
            copy_elem(p[0] + i * so, p[2] + i * sa + load_index(p[1] + i * si, i64) * astep, es);
    }
    return RX_OK;
}

/* out[.., index, ..] += src for the n elements of one task, in element type T. */
#define RX_SCATTER_LOOP(T, ADD)                                            \
    for (int64_t i = 0; i < n; i++) {                                      \
        T *d_ = (T *)(po + i * so + load_index(pi + i * si, i64) * ostep); \
        const T *s_ = (const T *)(ps + i * ss);                            \
        ADD;                                                               \
    }

rx_status rx_cpu_scatter_add(rx_tensor *out, int dim, const rx_tensor *index, const rx_tensor *src)
{
    rx_tensor orr = restrict_to(out, index, dim);
    rx_tensor o = dim_last(&orr, dim), ix = dim_last(index, dim), s = dim_last(src, dim);
    rx_iter it;
    rx_iter_init(&it, 3, (const rx_tensor *[]){&o, &ix, &s});
    rx_dtype dt = out->dtype;
    int64_t ostep = out->stride[dim] * rx_dtype_size(dt);
    bool i64 = index->dtype == RX_I64;
    /* One thread per row of the iterator (dim is innermost): a row holds every index position
     * that can reach a given output element, so the additions into it happen in order. */
    if (it.numel == 0) return RX_OK;
#pragma omp parallel for schedule(static) if (it.numel >= RX_PARALLEL_MIN)
    for (int64_t row = 0; row < it.nrows; row++) {
        for (int64_t c = 0; c < it.nchunks; c++) {
            char *p[RX_ITER_MAX_OPS];
            int64_t n;
            rx_iter_task(&it, row * it.nchunks + c, p, &n);
            char *po = p[0];
            const char *pi = p[1], *ps = p[2];
            int64_t so = it.inner_stride[0], si = it.inner_stride[1], ss = it.inner_stride[2];
            switch (dt) {
            case RX_F32: RX_SCATTER_LOOP(float, *d_ += *s_) break;
            case RX_F64: RX_SCATTER_LOOP(double, *d_ += *s_) break;
            case RX_F16:
                RX_SCATTER_LOOP(uint16_t, *d_ = rx_f32_to_f16(rx_f16_to_f32(*d_) + rx_f16_to_f32(*s_))) break;
            case RX_BF16:
                RX_SCATTER_LOOP(uint16_t, *d_ = rx_f32_to_bf16(rx_bf16_to_f32(*d_) + rx_bf16_to_f32(*s_)))
                break;
            case RX_I32: RX_SCATTER_LOOP(uint32_t, *d_ += *s_) break;
            case RX_I64: RX_SCATTER_LOOP(uint64_t, *d_ += *s_) break;
            default: RX_SCATTER_LOOP(uint8_t, *d_ = (uint8_t)(*d_ + *s_)) break;
            }
        }
    }
    return RX_OK;
}
