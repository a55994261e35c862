/* strided.c — see strided.h: dim coalescing and task splitting for CPU kernels. */
#include "strided.h"

void rx_iter_init(rx_iter *it, int nops, const rx_tensor *const *ops)
{
    it->nops = nops;
    const rx_tensor *t0 = ops[0];
    it->numel = rx_tensor_numel(t0);
    int nd = 0;
    /* keep dims of size != 1, in order */
    for (int d = 0; d < t0->ndim; d++) {
        if (t0->shape[d] == 1) continue;
        it->shape[nd] = t0->shape[d];
        for (int k = 0; k < nops; k++) it->stride[k][nd] = ops[k]->stride[d] * rx_dtype_size(ops[k]->dtype);
        nd++;
    }
    if (nd == 0) {
        it->shape[0] = 1;
        for (int k = 0; k < nops; k++) it->stride[k][0] = rx_dtype_size(ops[k]->dtype);
        nd = 1;
    }
    /* fuse dim d into d+1 when every operand walks them as one */
    int out = 0;
    for (int d = 1; d < nd; d++) {
        bool fuse = true;
        for (int k = 0; k < nops; k++)
            if (it->stride[k][out] != it->stride[k][d] * it->shape[d]) fuse = false;
        if (fuse) {
            it->shape[out] *= it->shape[d];
            for (int k = 0; k < nops; k++) it->stride[k][out] = it->stride[k][d];
        } else {
            out++;
            it->shape[out] = it->shape[d];
            for (int k = 0; k < nops; k++) it->stride[k][out] = it->stride[k][d];
        }
    }
    it->ndim = out + 1;
    for (int k = 0; k < nops; k++) {
        it->base[k] = rx_tensor_bytes(ops[k]);
        it->inner_stride[k] = it->stride[k][it->ndim - 1];
    }
    int64_t inner = it->shape[it->ndim - 1];
    it->nrows = inner ? it->numel / inner : 0;
    it->nchunks = inner ? (inner + RX_ITER_CHUNK - 1) / RX_ITER_CHUNK : 0;
}

void rx_iter_task(const rx_iter *it, int64_t task, char **ptrs, int64_t *len)
{
    int64_t row = task / it->nchunks, chunk = task % it->nchunks;
    int64_t inner = it->shape[it->ndim - 1];
    int64_t start = chunk * RX_ITER_CHUNK;
    *len = inner - start < RX_ITER_CHUNK ? inner - start : RX_ITER_CHUNK;
    for (int k = 0; k < it->nops; k++) ptrs[k] = it->base[k] + start * it->inner_stride[k];
    for (int d = it->ndim - 2; d >= 0; d--) {
        int64_t i = row % it->shape[d];
        row /= it->shape[d];
        for (int k = 0; k < it->nops; k++) ptrs[k] += i * it->stride[k][d];
    }
}

bool rx_iter_inner_dense(const rx_iter *it, const int64_t *elem_sizes)
{
    for (int k = 0; k < it->nops; k++)
        if (it->inner_stride[k] != elem_sizes[k]) return false;
    return true;
}
