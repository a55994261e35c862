/* tensor.c — tensor headers: lifetime, metadata, element access, devices, library info.
 *
 * Owns: creating and releasing tensor headers over storage, the read-only accessors of the
 * public API, reading and writing single elements of CPU tensors, and device naming.
 */
#include "core.h"
#include "../backend/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef RECX_VERSION
#define RECX_VERSION "0.0.0-dev"
#endif

const char *rx_version(void) { return RECX_VERSION; }

rx_status rx_tensor_make(rx_storage *storage, int64_t offset, int ndim, const int64_t *shape,
                         const int64_t *stride, rx_dtype dtype, rx_tensor **out)
{
    *out = NULL;
    if (ndim < 0 || ndim > RX_MAX_DIMS)
        return rx_fail(RX_ERR_SHAPE, "tensor: expected at most %d dims, got %d", RX_MAX_DIMS, ndim);
    rx_tensor *t = calloc(1, sizeof *t);
    if (!t) return rx_fail(RX_ERR_NOMEM, "tensor: out of host memory for a tensor header");
    t->refcount = 1;
    t->storage = storage;
    rx_storage_retain(storage);
    t->offset = offset;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        t->stride[i] = stride[i];
    }
    t->dtype = dtype;
    rx_mem_note_tensor(1);
    *out = t;
    return RX_OK;
}

rx_status rx_tensor_view_of(rx_tensor *t, int64_t offset, int ndim, const int64_t *shape,
                            const int64_t *stride, rx_tensor **out)
{
    return rx_tensor_make(t->storage, offset, ndim, shape, stride, t->dtype, out);
}

rx_tensor *rx_tensor_retain(rx_tensor *t)
{
    if (t) __atomic_add_fetch(&t->refcount, 1, __ATOMIC_RELAXED);
    return t;
}

void rx_tensor_release(rx_tensor *t)
{
    if (!t || __atomic_sub_fetch(&t->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
    if (t->autograd && t->autograd_free) t->autograd_free(t->autograd);
    rx_storage_release(t->storage);
    rx_mem_note_tensor(-1);
    free(t);
}

int rx_tensor_ndim(const rx_tensor *t) { return t->ndim; }

int64_t rx_tensor_size(const rx_tensor *t, int dim)
{
    int d;
    return rx_dim_normalize(dim, t->ndim, &d) ? t->shape[d] : -1;
}

int64_t rx_tensor_stride(const rx_tensor *t, int dim)
{
    int d;
    return rx_dim_normalize(dim, t->ndim, &d) ? t->stride[d] : -1;
}

const int64_t *rx_tensor_shape_ptr(const rx_tensor *t) { return t->shape; }
const int64_t *rx_tensor_strides_ptr(const rx_tensor *t) { return t->stride; }
int64_t rx_tensor_numel(const rx_tensor *t) { return rx_shape_numel(t->ndim, t->shape); }
int64_t rx_tensor_offset(const rx_tensor *t) { return t->offset; }
rx_dtype rx_tensor_dtype(const rx_tensor *t) { return t->dtype; }
rx_device rx_tensor_device(const rx_tensor *t) { return t->storage->device; }

int rx_tensor_is_contiguous(const rx_tensor *t)
{
    int64_t expected = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] == 1) continue;
        if (t->stride[i] != expected) return 0;
        expected *= t->shape[i];
    }
    return 1;
}

int rx_tensor_shares_storage(const rx_tensor *a, const rx_tensor *b)
{
    return a && b && a->storage == b->storage;
}

void *rx_tensor_data_ptr(const rx_tensor *t)
{
    if (t->storage->device.type != RX_CPU) return NULL;
    return rx_tensor_bytes(t);
}

static rx_status check_cpu(const char *op, const rx_tensor *t)
{
    if (t->storage->device.type == RX_CPU) return RX_OK;
    return rx_fail(RX_ERR_DEVICE, "%s: expected a CPU tensor (move it with :to(\"cpu\"))", op);
}

static rx_status element_offset(const char *op, const rx_tensor *t, const int64_t *index, int64_t *out)
{
    int64_t off = t->offset;
    for (int i = 0; i < t->ndim; i++) {
        if (index[i] < 0 || index[i] >= t->shape[i])
            return rx_fail(RX_ERR_ARG, "%s: index %lld out of range for dim %d of size %lld", op,
                           (long long)index[i], i, (long long)t->shape[i]);
        off += index[i] * t->stride[i];
    }
    *out = off;
    return RX_OK;
}

rx_status rx_tensor_item(const rx_tensor *t, double *out)
{
    RX_TRY(check_cpu("item", t));
    if (rx_tensor_numel(t) != 1) {
        char b[128];
        return rx_fail(RX_ERR_SHAPE, "item: expected a tensor with one element, got shape %s",
                       rx_shape_str(t->ndim, t->shape, b, sizeof b));
    }
    int64_t off = t->offset;
    *out = rx_load_double((char *)t->storage->data + off * rx_dtype_size(t->dtype), t->dtype);
    return RX_OK;
}

rx_status rx_tensor_get(const rx_tensor *t, const int64_t *index, double *out)
{
    RX_TRY(check_cpu("get", t));
    int64_t off = 0;
    RX_TRY(element_offset("get", t, index, &off));
    *out = rx_load_double((char *)t->storage->data + off * rx_dtype_size(t->dtype), t->dtype);
    return RX_OK;
}

rx_status rx_tensor_set(rx_tensor *t, const int64_t *index, double value)
{
    RX_TRY(check_cpu("set", t));
    int64_t off = 0;
    RX_TRY(element_offset("set", t, index, &off));
    rx_store_double((char *)t->storage->data + off * rx_dtype_size(t->dtype), t->dtype, value);
    return RX_OK;
}

rx_status rx_tensor_to_doubles(const rx_tensor *t, double *buf, int64_t n)
{
    RX_TRY(check_cpu("to_doubles", t));
    int64_t numel = rx_tensor_numel(t);
    if (n != numel)
        return rx_fail(RX_ERR_ARG, "to_doubles: buffer holds %lld values, tensor has %lld",
                       (long long)n, (long long)numel);
    int64_t idx[RX_MAX_DIMS] = {0};
    int64_t es = rx_dtype_size(t->dtype);
    const char *base = t->storage->data;
    for (int64_t k = 0; k < numel; k++) {
        int64_t off = t->offset;
        for (int i = 0; i < t->ndim; i++) off += idx[i] * t->stride[i];
        buf[k] = rx_load_double(base + off * es, t->dtype);
        for (int i = t->ndim - 1; i >= 0; i--) {
            if (++idx[i] < t->shape[i]) break;
            idx[i] = 0;
        }
    }
    return RX_OK;
}

rx_device rx_cpu(void)
{
    rx_device d = {RX_CPU, 0};
    return d;
}

bool rx_same_device(rx_device a, rx_device b)
{
    return a.type == b.type && (a.type == RX_CPU || a.index == b.index);
}

const char *rx_device_str(rx_device d, char *buf, size_t size)
{
    if (d.type == RX_CPU)
        snprintf(buf, size, "cpu");
    else
        snprintf(buf, size, "cuda:%d", d.index);
    return buf;
}

rx_status rx_device_from_name(const char *name, rx_device *out)
{
    if (name && strcmp(name, "cpu") == 0) {
        *out = rx_cpu();
        return RX_OK;
    }
    if (name && strncmp(name, "cuda", 4) == 0) {
        int index = 0;
        if (name[4] == ':') {
            char *end;
            long v = strtol(name + 5, &end, 10);
            if (*end || end == name + 5 || v < 0) goto bad;
            index = (int)v;
        } else if (name[4]) {
            goto bad;
        }
        out->type = RX_CUDA;
        out->index = index;
        return RX_OK;
    }
bad:
    return rx_fail(RX_ERR_ARG, "unknown device '%s' (expected \"cpu\", \"cuda\" or \"cuda:N\")",
                   name ? name : "(null)");
}
