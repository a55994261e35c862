/* llama_decoder.c — the llama decoder of recx.h: argument checks and lifetime.
 *
 * Owns: checking every tensor of a rx_llama_decoder_spec on the host before anything is allocated
 * (device, dtype, shape, contiguity, each message naming the tensor and its layer), the
 * references the decoder keeps to them, the host count of queued steps (a full cache is refused
 * here) and the checks of a step's logits tensor. The kernel and its buffers are
 * cuda/llama_decode.cu's. What the kernel cannot run (CPU tensors, f32 weights, dims it does not
 * tile) is RX_ERR_UNSUPPORTED, so that callers can fall back to the op-by-op step; malformed
 * arguments are RX_ERR_ARG / RX_ERR_SHAPE / RX_ERR_DTYPE. Layers are numbered from 0 in messages,
 * as the checkpoints name them ("layer 1 cache_k" is model.layers.1).
 */
#include "ops.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef RECX_WITH_CUDA
#include "../cuda/cuda_kernels.h"
#endif

struct rx_llama_decoder {
#ifdef RECX_WITH_CUDA
    rx_cuda_decoder *cuda;
#endif
    rx_tensor **held;
    int64_t n_held;
    int64_t rows, vocab, max_len, slot, steps;
    rx_device device;
};

static const char *const layer_names[RX_LLAMA_LAYER_TENSORS] = {
    "attn_norm", "qkv_w", "qkv_b", "o_w", "mlp_norm", "gu_w", "down_w", "cache_k", "cache_v",
};

#define OP "llama decoder"

/* Expects t to have `ndim` dims of the given sizes (-1: any), to be contiguous, on `dev` with `dtype`. */
static rx_status expect(const char *what, int64_t layer, const rx_tensor *t, int ndim, const int64_t *shape,
                        rx_dtype dtype, rx_device dev)
{
    char where[64], b1[128], b2[128];
    if (layer >= 0)
        snprintf(where, sizeof where, "layer %lld %s", (long long)layer, what);
    else
        snprintf(where, sizeof where, "%s", what);
    if (!t) return rx_fail(RX_ERR_ARG, OP ": %s: missing", where);
    bool same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = shape[i] < 0 || t->shape[i] == shape[i];
    if (!same)
        return rx_fail(RX_ERR_SHAPE, OP ": %s: expected shape %s, got %s", where, rx_shape_str(ndim, shape, b1, sizeof b1),
                       rx_shape_str(t->ndim, t->shape, b2, sizeof b2));
    rx_device d = rx_tensor_device(t);
    if (d.type != dev.type || d.index != dev.index)
        return rx_fail(RX_ERR_DEVICE, OP ": %s: expected a tensor on the embedding's device", where);
    if (t->dtype != dtype)
        return rx_fail(RX_ERR_DTYPE, OP ": %s: expected %s, got %s", where, rx_dtype_name(dtype), rx_dtype_name(t->dtype));
    if (!rx_tensor_is_contiguous(t)) return rx_fail(RX_ERR_ARG, OP ": %s: expected a contiguous tensor", where);
    if ((uintptr_t)rx_tensor_bytes(t) % 16 != 0) /* the kernel reads rows in 16-byte vectors */
        return rx_fail(RX_ERR_UNSUPPORTED, OP ": %s: the data is not 16-byte aligned (a view into another tensor?)",
                       where);
    return RX_OK;
}

/* The dims of the model and batch read off the spec's tensors (checked by check_spec). */
typedef struct dims {
    int64_t n, c, h, g, d, f, v, l;
} dims;

static rx_status check_spec(const rx_llama_decoder_spec *s, dims *m)
{
    if (!s) return rx_fail(RX_ERR_ARG, OP ": expected a spec, got NULL");
    if (s->layers < 1 || s->heads < 1 || s->kv_heads < 1 || s->heads % s->kv_heads)
        return rx_fail(RX_ERR_ARG, OP ": layers %lld, heads %lld, kv_heads %lld: expected positive counts with heads a "
                       "multiple of kv_heads", (long long)s->layers, (long long)s->heads, (long long)s->kv_heads);
    if (!s->embed || s->embed->ndim != 2) return rx_fail(RX_ERR_SHAPE, OP ": embed: expected a (V, C) tensor");
    if (!s->layer) return rx_fail(RX_ERR_ARG, OP ": layer: expected layers * RX_LLAMA_LAYER_TENSORS tensors, got NULL");
    rx_device dev = rx_tensor_device(s->embed);
    rx_dtype dt = s->embed->dtype;
    if (dev.type != RX_CUDA)
        return rx_fail(RX_ERR_UNSUPPORTED, OP ": the kernel runs on CUDA devices; the model is on the CPU");
    if (dt != RX_BF16 && dt != RX_F16)
        return rx_fail(RX_ERR_UNSUPPORTED, OP ": the kernel takes bf16 or f16 weights, got %s", rx_dtype_name(dt));
    if (!s->ids || s->ids->ndim != 1) return rx_fail(RX_ERR_SHAPE, OP ": ids: expected an (N) tensor");
    if (!s->key_padding || s->key_padding->ndim != 2) return rx_fail(RX_ERR_SHAPE, OP ": key_padding: expected (N, L)");
    if (!s->inv_freq || s->inv_freq->ndim != 1) return rx_fail(RX_ERR_SHAPE, OP ": inv_freq: expected a (D/2) tensor");
    m->v = s->embed->shape[0];
    m->c = s->embed->shape[1];
    m->h = s->heads;
    m->g = s->kv_heads;
    m->d = 2 * s->inv_freq->shape[0];
    m->n = s->ids->shape[0];
    m->l = s->key_padding->shape[1];
    const rx_tensor *gu = s->layer[RX_LLAMA_GU_W];
    if (!gu || gu->ndim != 2) return rx_fail(RX_ERR_SHAPE, OP ": layer 0 gu_w: expected a (2F, C) tensor");
    m->f = gu->shape[0] / 2;
    if (m->n < 1 || m->l < 1 || m->d < 2 || m->f < 1)
        return rx_fail(RX_ERR_SHAPE, OP ": expected at least one row, one cache position, a head dim and an MLP width");
    const int64_t vc[2] = {m->v, m->c}, c1[1] = {m->c}, n1[1] = {m->n}, nl[2] = {m->n, m->l}, half[1] = {m->d / 2};
    RX_TRY(expect("embed", -1, s->embed, 2, vc, dt, dev));
    RX_TRY(expect("final_norm", -1, s->final_norm, 1, c1, dt, dev));
    RX_TRY(expect("lm_head", -1, s->lm_head, 2, vc, dt, dev));
    RX_TRY(expect("inv_freq", -1, s->inv_freq, 1, half, RX_F32, dev));
    RX_TRY(expect("ids", -1, s->ids, 1, n1, RX_I64, dev));
    RX_TRY(expect("positions", -1, s->positions, 1, n1, RX_I64, dev));
    RX_TRY(expect("key_padding", -1, s->key_padding, 2, nl, RX_BOOL, dev));
    if (s->slot < 0 || s->slot >= m->l)
        return rx_fail(RX_ERR_ARG, OP ": slot %lld: expected a cache position in [0, %lld)", (long long)s->slot,
                       (long long)m->l);
    const int64_t nqkv = (m->h + 2 * m->g) * m->d;
    const int64_t shapes[RX_LLAMA_LAYER_TENSORS][4] = {
        {m->c}, {nqkv, m->c}, {nqkv}, {m->c, m->h * m->d}, {m->c}, {2 * m->f, m->c}, {m->c, m->f},
        {m->n, m->g, m->l, m->d}, {m->n, m->g, m->l, m->d},
    };
    const int ndims[RX_LLAMA_LAYER_TENSORS] = {1, 2, 1, 2, 1, 2, 2, 4, 4};
    for (int64_t l = 0; l < s->layers; l++)
        for (int i = 0; i < RX_LLAMA_LAYER_TENSORS; i++) {
            const rx_tensor *t = s->layer[l * RX_LLAMA_LAYER_TENSORS + i];
            if (i == RX_LLAMA_QKV_B && !t) continue;
            RX_TRY(expect(layer_names[i], l, t, ndims[i], shapes[i], dt, dev));
        }
    return RX_OK;
}

void rx_llama_decoder_free(rx_llama_decoder *d)
{
    if (!d) return;
#ifdef RECX_WITH_CUDA
    rx_cuda_decoder_free(d->cuda);
#endif
    for (int64_t i = 0; i < d->n_held; i++) rx_tensor_release(d->held[i]);
    free(d->held);
    free(d);
}

rx_status rx_llama_decoder_new(const rx_llama_decoder_spec *spec, rx_llama_decoder **out)
{
    if (!out) return rx_fail(RX_ERR_ARG, OP ": out: expected a pointer, got NULL");
    *out = NULL;
    dims m = {0};
    RX_TRY(check_spec(spec, &m));
#ifndef RECX_WITH_CUDA
    (void)m;
    return rx_fail(RX_ERR_UNSUPPORTED, OP ": this recx was built without CUDA (configure with -DRECX_CUDA=ON)");
#else
    const int64_t per_model = 7, n_layer = spec->layers * RX_LLAMA_LAYER_TENSORS;
    rx_llama_decoder *d = calloc(1, sizeof *d);
    const void **ptrs = calloc((size_t)n_layer, sizeof *ptrs);
    if (d) d->held = calloc((size_t)(n_layer + per_model), sizeof *d->held);
    if (!d || !ptrs || !d->held) {
        free(ptrs);
        rx_llama_decoder_free(d);
        return rx_fail(RX_ERR_NOMEM, OP ": out of host memory");
    }
    rx_tensor *model[7] = {spec->embed, spec->final_norm, spec->lm_head, spec->inv_freq, spec->ids, spec->positions,
                           spec->key_padding};
    for (int i = 0; i < per_model; i++) d->held[d->n_held++] = rx_tensor_retain(model[i]);
    for (int64_t i = 0; i < n_layer; i++) {
        rx_tensor *t = spec->layer[i];
        ptrs[i] = t ? (const void *)rx_tensor_bytes(t) : NULL;
        if (t) d->held[d->n_held++] = rx_tensor_retain(t);
    }
    rx_cuda_decoder_desc desc = {
        .device = rx_tensor_device(spec->embed).index,
        .bf16 = spec->embed->dtype == RX_BF16,
        .layers = spec->layers, .rows = m.n, .hidden = m.c, .heads = m.h, .kv_heads = m.g, .head_dim = m.d,
        .ffn = m.f, .vocab = m.v, .max_len = m.l, .rms_eps = spec->rms_eps,
        .embed = rx_tensor_bytes(spec->embed), .final_norm = rx_tensor_bytes(spec->final_norm),
        .lm_head = rx_tensor_bytes(spec->lm_head), .inv_freq = (const float *)rx_tensor_bytes(spec->inv_freq),
        .layer = ptrs, .ids = (int64_t *)rx_tensor_bytes(spec->ids),
        .positions = (const int64_t *)rx_tensor_bytes(spec->positions),
        .key_padding = (uint8_t *)rx_tensor_bytes(spec->key_padding), .slot = spec->slot,
        .trace = spec->trace,
    };
    rx_status st = rx_cuda_decoder_new(&desc, &d->cuda);
    free(ptrs);
    if (st != RX_OK) {
        rx_llama_decoder_free(d);
        return st;
    }
    d->rows = m.n;
    d->vocab = m.v;
    d->max_len = m.l;
    d->slot = spec->slot;
    d->device = rx_tensor_device(spec->embed);
    *out = d;
    return RX_OK;
#endif
}

rx_status rx_llama_decoder_step(rx_llama_decoder *d, rx_tensor *logits, int greedy, const int64_t *ban, int n_ban)
{
    if (!d) return rx_fail(RX_ERR_ARG, OP ": step: expected a decoder, got NULL");
    if (d->slot + d->steps >= d->max_len)
        return rx_fail(RX_ERR_ARG, OP ": step: the cache is full (%lld positions)", (long long)d->max_len);
    if (n_ban < 0 || n_ban > 16 || (n_ban > 0 && !ban))
        return rx_fail(RX_ERR_ARG, OP ": step: expected 0 to 16 banned ids, got %d", n_ban);
    if (logits) {
        const int64_t nv[2] = {d->rows, d->vocab};
        RX_TRY(expect("step: logits", -1, logits, 2, nv, RX_F32, d->device));
    }
    if (!logits && !greedy) return rx_fail(RX_ERR_ARG, OP ": step: expected logits, greedy ids or both");
#ifdef RECX_WITH_CUDA
    RX_TRY(rx_cuda_decoder_step(d->cuda, logits ? (float *)rx_tensor_bytes(logits) : NULL, greedy, ban, n_ban));
    if (logits) rx_tensor_bump_version(logits);
    d->steps++;
    return RX_OK;
#else
    return rx_fail(RX_ERR_UNSUPPORTED, OP ": this recx was built without CUDA");
#endif
}

rx_status rx_llama_decoder_wait(rx_llama_decoder *d, int64_t step, int64_t *out)
{
    if (!d || !out) return rx_fail(RX_ERR_ARG, OP ": wait: expected a decoder and an output buffer");
#ifdef RECX_WITH_CUDA
    return rx_cuda_decoder_wait(d->cuda, step, out);
#else
    (void)step;
    return rx_fail(RX_ERR_UNSUPPORTED, OP ": this recx was built without CUDA");
#endif
}

int64_t rx_llama_decoder_steps(const rx_llama_decoder *d) { return d ? d->steps : 0; }

int rx_llama_decoder_trace(const rx_llama_decoder *d, double *us, int n)
{
#ifdef RECX_WITH_CUDA
    return d && us && n > 0 ? rx_cuda_decoder_trace(d->cuda, us, n) : 0;
#else
    (void)d, (void)us, (void)n;
    return 0;
#endif
}
