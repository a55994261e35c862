/* bench_gpu_nn.c — throughput of the CUDA backend's fused nn and optimizer kernels, against the
 * device's own copy bandwidth measured in the same run.
 *
 *   bench_gpu_nn [out.json]     (default $OUT/gpu_nn.json when OUT is set, else out/bench/gpu_nn.json)
 *
 * Rows (each the median of `repeats` calls after 3 warm-ups, timed with CUDA events on recx's
 * stream; every call allocates its outputs from recx's cache, as a caller pays):
 * - attention B16 x H9 (G3 kv heads) x T512 x D64, causal, bf16: forward, backward, and forward +
 *   backward, through the raw ops (rx_op_attention_forward/backward: no tape bookkeeping).
 *   TFLOP/s counts the useful work the FlashAttention papers count: 4 B H T S D / 2 (causal) for
 *   the forward and 2.5 times that for the backward (recx's backward does 3.5 times: dQ has its
 *   own pass so that no sum uses float atomics).
 * - attention decode, one query per row (B, 9, 1, 64) bf16 over a (B, 3, S, 64) cache with an
 *   all-true key_padding: B 1 and 32 at S 160 (the decode kernel), B 1 at S 3000 (keys split
 *   over blocks, then merged); forward only (bytes: k, v and q read, out written).
 * - softmax cross-entropy over (8192, 49152) bf16 logits: forward (reads N V 2 bytes), backward
 *   (reads and writes N V 2 bytes each), and both.
 * - rmsnorm over (16384, 4096) bf16: forward (x read, y written) and backward (x, g read, dx
 *   written; the weight gradient's partial sums are not counted).
 * - AdamW over 64 f32 tensors of 2M elements (p, g, m, v read; p, m, v written: 28 bytes per
 *   element), and with bf16 parameters and f32 master weights (g, m, v, master read: 2 + 4 + 4 + 4;
 *   p, m, v, master written: 2 + 4 + 4 + 4; 28 bytes per element).
 * - cudaMemcpyAsync device to device of 1 GiB (2 GiB moved): the reference for vs_memcpy.
 * JSON: benchmark "gpu_nn", date, recx_version, device, memcpy_gbps, rows[] {name, dtype, pass,
 * repeats, seconds, bytes, gbps, vs_memcpy, tflops}. tests/bench/bench_gpu_nn_torch.py writes the
 * same rows for PyTorch and prints both side by side (matching rows by name and pass).
 */
#ifdef RECX_WITH_CUDA
#define BENCH_GPU
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "bench.h"
#pragma GCC diagnostic pop

#include "ops/ops.h"

#include <math.h>

#define MAX_ROWS 16

static const rx_device GPU = {RX_CUDA, 0};

typedef void (*bench_fn)(void *ctx);

typedef struct row {
    const char *name, *dtype, *pass;
    int repeats;
    double seconds, bytes, gbps, vs_memcpy, tflops;
} row;

static row rows[MAX_ROWS];
static int nrows;
static double memcpy_gbps;

/* Adds a row of `repeats` calls that took `seconds` (a median) each. */
static void add_row_timed(const char *name, const char *dtype, const char *pass, double seconds, int repeats,
                          double bytes, double flops)
{
    row *r = &rows[nrows++];
    *r = (row){
        .name = name, .dtype = dtype, .pass = pass, .repeats = repeats, .bytes = bytes, .seconds = seconds};
    r->gbps = bytes > 0 ? bytes / r->seconds * 1e-9 : 0;
    r->vs_memcpy = bytes > 0 && memcpy_gbps > 0 ? r->gbps / memcpy_gbps : 0;
    r->tflops = flops > 0 ? flops / r->seconds * 1e-12 : 0;
}

static void add_row(const char *name, const char *dtype, const char *pass, bench_fn fn, void *ctx, int repeats,
                    double bytes, double flops)
{
    add_row_timed(name, dtype, pass, time_calls(fn, ctx, repeats), repeats, bytes, flops);
}

static void release(rx_tensor **t)
{
    rx_tensor_release(*t);
    *t = NULL;
}

/* ---- attention ------------------------------------------------------------------------------- */

typedef struct attn_ctx {
    rx_tensor *q, *k, *v, *g, *out, *stat, *dq, *dk, *dv;
    rx_attention_opts opts;
    double scale;
} attn_ctx;

static void attn_fwd(void *p)
{
    attn_ctx *a = p;
    release(&a->out), release(&a->stat);
    bench_ok(rx_op_attention_forward(a->q, a->k, a->v, &a->opts, &a->out, &a->stat, NULL, NULL), "attention forward");
}

static void attn_bwd(void *p)
{
    attn_ctx *a = p;
    release(&a->dq), release(&a->dk), release(&a->dv);
    bench_ok(rx_op_attention_backward(a->g, a->q, a->k, a->v, a->out, a->stat, NULL, NULL, a->opts.causal, a->scale, 0,
                                      0, 0, &a->dq, &a->dk, &a->dv),
             "attention backward");
}

static void attn_both(void *p)
{
    attn_fwd(p);
    attn_bwd(p);
}

static void bench_attention(rx_generator *gen)
{
    int64_t B = 16, H = 9, G = 3, T = 512, D = 64;
    attn_ctx a = {.opts = {.causal = 1}, .scale = 1.0 / sqrt((double)D)};
    bench_ok(rx_randn(4, (int64_t[]){B, H, T, D}, RX_BF16, GPU, gen, &a.q), "randn q");
    bench_ok(rx_randn(4, (int64_t[]){B, G, T, D}, RX_BF16, GPU, gen, &a.k), "randn k");
    bench_ok(rx_randn(4, (int64_t[]){B, G, T, D}, RX_BF16, GPU, gen, &a.v), "randn v");
    bench_ok(rx_randn(4, (int64_t[]){B, H, T, D}, RX_BF16, GPU, gen, &a.g), "randn g");
    double fwd = 4.0 * B * H * T * T * D * 0.5, bwd = 2.5 * fwd;
    const char *name = "attention B16 H9 G3 T512 D64 causal";
    add_row(name, "bf16", "forward", attn_fwd, &a, 50, 0, fwd);
    add_row(name, "bf16", "backward", attn_bwd, &a, 50, 0, bwd);
    add_row(name, "bf16", "forward+backward", attn_both, &a, 50, 0, fwd + bwd);
    rx_tensor *all[] = {a.q, a.k, a.v, a.g, a.out, a.stat, a.dq, a.dk, a.dv};
    for (int i = 0; i < 9; i++) rx_tensor_release(all[i]);
}

/* The decode shape (one query per row, SmolLM2-135M's heads) over a KV cache of S slots, all
 * visible through a key_padding mask as lua/recx/llm's decode step passes it: the decode kernels.
 * Bytes: k and v read once, q read, out written. */
static void bench_attention_decode(rx_generator *gen, int64_t B, int64_t S, const char *name)
{
    int64_t H = 9, G = 3, D = 64;
    attn_ctx a = {.scale = 1.0 / sqrt((double)D)};
    rx_tensor *kp = NULL;
    bench_ok(rx_randn(4, (int64_t[]){B, H, 1, D}, RX_BF16, GPU, gen, &a.q), "randn q");
    bench_ok(rx_randn(4, (int64_t[]){B, G, S, D}, RX_BF16, GPU, gen, &a.k), "randn k");
    bench_ok(rx_randn(4, (int64_t[]){B, G, S, D}, RX_BF16, GPU, gen, &a.v), "randn v");
    bench_ok(rx_full(2, (int64_t[]){B, S}, 1, RX_BOOL, GPU, &kp), "full key_padding");
    a.opts.key_padding = kp;
    double bytes = 2.0 * (2.0 * B * G * S * D + 2.0 * B * H * D);
    add_row(name, "bf16", "forward", attn_fwd, &a, 200, bytes, 4.0 * B * H * S * D);
    rx_tensor *all[] = {a.q, a.k, a.v, a.out, a.stat, kp};
    for (int i = 0; i < 6; i++) rx_tensor_release(all[i]);
}

/* ---- cross-entropy ------------------------------------------------------------------------------ */

typedef struct ce_ctx {
    rx_tensor *logits, *targets, *loss, *lse, *grad, *dlogits;
} ce_ctx;

static void ce_fwd(void *p)
{
    ce_ctx *c = p;
    release(&c->loss), release(&c->lse);
    bench_ok(rx_op_cross_entropy_forward(c->logits, c->targets, -100, NULL, &c->loss, &c->lse), "cross_entropy");
}

static void ce_bwd(void *p)
{
    ce_ctx *c = p;
    release(&c->dlogits);
    bench_ok(rx_op_cross_entropy_backward(c->grad, c->logits, c->targets, -100, NULL, c->lse, &c->dlogits),
             "cross_entropy backward");
}

static void ce_both(void *p)
{
    ce_fwd(p);
    ce_bwd(p);
}

static void bench_cross_entropy(rx_generator *gen)
{
    int64_t N = 8192, V = 49152;
    ce_ctx c = {0};
    bench_ok(rx_randn(2, (int64_t[]){N, V}, RX_BF16, GPU, gen, &c.logits), "randn logits");
    bench_ok(rx_randint(0, V, 1, &N, RX_I64, GPU, gen, &c.targets), "randint targets");
    bench_ok(rx_full(0, NULL, 1.0, RX_F32, GPU, &c.grad), "grad");
    double nv = (double)N * (double)V * 2;
    const char *name = "cross_entropy 8192 x 49152";
    add_row(name, "bf16", "forward", ce_fwd, &c, 20, nv, 0);
    add_row(name, "bf16", "backward", ce_bwd, &c, 20, 2 * nv, 0);
    add_row(name, "bf16", "forward+backward", ce_both, &c, 20, 3 * nv, 0);
    rx_tensor *all[] = {c.logits, c.targets, c.loss, c.lse, c.grad, c.dlogits};
    for (int i = 0; i < 6; i++) rx_tensor_release(all[i]);
}

/* ---- rmsnorm ------------------------------------------------------------------------------------ */

typedef struct norm_ctx {
    rx_tensor *x, *w, *g, *y, *rstd, *dx, *dw;
} norm_ctx;

static void norm_fwd(void *p)
{
    norm_ctx *c = p;
    release(&c->y), release(&c->rstd);
    bench_ok(rx_op_rmsnorm_forward(c->x, c->w, 1e-6, &c->y, &c->rstd), "rmsnorm");
}

static void norm_bwd(void *p)
{
    norm_ctx *c = p;
    release(&c->dx), release(&c->dw);
    bench_ok(rx_op_rmsnorm_backward(c->g, c->x, c->w, c->rstd, &c->dx, &c->dw), "rmsnorm backward");
}

static void bench_rmsnorm(rx_generator *gen)
{
    int64_t M = 16384, C = 4096;
    norm_ctx c = {0};
    bench_ok(rx_randn(2, (int64_t[]){M, C}, RX_BF16, GPU, gen, &c.x), "randn x");
    bench_ok(rx_randn(2, (int64_t[]){M, C}, RX_BF16, GPU, gen, &c.g), "randn g");
    bench_ok(rx_randn(1, &C, RX_BF16, GPU, gen, &c.w), "randn w");
    double mc = (double)M * (double)C * 2;
    const char *name = "rmsnorm 16384 x 4096";
    add_row(name, "bf16", "forward", norm_fwd, &c, 30, 2 * mc, 0);
    add_row(name, "bf16", "backward", norm_bwd, &c, 30, 3 * mc, 0);
    rx_tensor *all[] = {c.x, c.w, c.g, c.y, c.rstd, c.dx, c.dw};
    for (int i = 0; i < 7; i++) rx_tensor_release(all[i]);
}

/* ---- AdamW --------------------------------------------------------------------------------------- */

#define NPARAM 64
#define PARAM_NUMEL (2 << 20)

typedef struct adamw_ctx {
    rx_tensor *p[NPARAM], *g[NPARAM], *m[NPARAM], *v[NPARAM], *w[NPARAM];
    rx_adamw_opts o;
    bool master;
} adamw_ctx;

static void adamw_call(void *p)
{
    adamw_ctx *a = p;
    a->o.step++;
    if (a->master)
        bench_ok(rx_adamw_step_master(NPARAM, a->p, a->w, a->g, a->m, a->v, &a->o), "adamw_step_master");
    else
        bench_ok(rx_adamw_step(NPARAM, a->p, a->g, a->m, a->v, &a->o), "adamw_step");
}

static void bench_adamw(rx_generator *gen, bool master)
{
    adamw_ctx a = {.o = {.lr = 1e-4, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = 0.1}, .master = master};
    int64_t n = PARAM_NUMEL;
    rx_dtype dt = master ? RX_BF16 : RX_F32;
    for (int i = 0; i < NPARAM; i++) {
        bench_ok(rx_randn(1, &n, dt, GPU, gen, &a.p[i]), "randn p");
        bench_ok(rx_randn(1, &n, dt, GPU, gen, &a.g[i]), "randn g");
        bench_ok(rx_zeros(1, &n, RX_F32, GPU, &a.m[i]), "zeros m");
        bench_ok(rx_zeros(1, &n, RX_F32, GPU, &a.v[i]), "zeros v");
        if (master) bench_ok(rx_to_dtype(a.p[i], RX_F32, &a.w[i]), "master copy");
    }
    double elems = (double)NPARAM * (double)n;
    if (master)
        add_row("adamw 64 x 2M, bf16 params + f32 master", "bf16", "step", adamw_call, &a, 20, 28 * elems, 0);
    else
        add_row("adamw 64 x 2M", "f32", "step", adamw_call, &a, 20, 28 * elems, 0);
    for (int i = 0; i < NPARAM; i++) {
        rx_tensor_release(a.p[i]), rx_tensor_release(a.g[i]), rx_tensor_release(a.m[i]), rx_tensor_release(a.v[i]);
        rx_tensor_release(a.w[i]);
    }
}

int main(int argc, char **argv)
{
    char path[4096];
    struct cudaDeviceProp prop;
    if (!bench_gpu_start("gpu_nn", argc, argv, path, sizeof path, &prop)) return 0;
    rx_generator *gen = rx_generator_new(7);

    size_t S = (size_t)1 << 30;
    add_row_timed("cudaMemcpyAsync device to device 1 GiB", "bytes", "copy", bench_memcpy_seconds(S, 20), 20,
                  2.0 * (double)S, 0);
    memcpy_gbps = rows[0].gbps;
    rows[0].vs_memcpy = 1.0;

    bench_attention(gen);
    bench_attention_decode(gen, 1, 160, "attention decode B1 H9 G3 S160 D64");
    bench_attention_decode(gen, 32, 160, "attention decode B32 H9 G3 S160 D64");
    bench_attention_decode(gen, 1, 3000, "attention decode B1 H9 G3 S3000 D64");
    rx_mem_empty_cache(RX_CUDA);
    bench_cross_entropy(gen);
    rx_mem_empty_cache(RX_CUDA);
    bench_rmsnorm(gen);
    rx_mem_empty_cache(RX_CUDA);
    bench_adamw(gen, false);
    rx_mem_empty_cache(RX_CUDA);
    bench_adamw(gen, true);
    rx_mem_empty_cache(RX_CUDA);

    bench_gpu_banner("gpu_nn", &prop);
    printf("%-42s %-5s %-16s %7s %9s %8s %9s %8s\n", "op", "dtype", "pass", "repeats", "ms", "GB/s", "vs memcpy",
           "TFLOP/s");
    for (int i = 0; i < nrows; i++) {
        row *r = &rows[i];
        printf("%-42s %-5s %-16s %7d %9.3f ", r->name, r->dtype, r->pass, r->repeats, r->seconds * 1e3);
        if (r->bytes > 0)
            printf("%8.0f %9.2f ", r->gbps, r->vs_memcpy);
        else
            printf("%8s %9s ", "-", "-");
        if (r->tflops > 0)
            printf("%8.1f\n", r->tflops);
        else
            printf("%8s\n", "-");
    }

    FILE *f = bench_gpu_json(path, "gpu_nn", &prop, memcpy_gbps);
    fprintf(f, "  \"rows\": [\n");
    for (int i = 0; i < nrows; i++) {
        row *r = &rows[i];
        fprintf(f,
                "    {\"name\": \"%s\", \"dtype\": \"%s\", \"pass\": \"%s\", \"repeats\": %d, \"seconds\": %.6e, "
                "\"bytes\": %.0f, \"gbps\": %.1f, \"vs_memcpy\": %.3f, \"tflops\": %.2f}%s\n",
                r->name, r->dtype, r->pass, r->repeats, r->seconds, r->bytes, r->gbps, r->vs_memcpy, r->tflops,
                i + 1 < nrows ? "," : "");
    }
    bench_gpu_json_end(f, path);
    rx_generator_free(gen);
    return 0;
}

#else

#include <stdio.h>

int main(void)
{
    printf("bench_gpu_nn: skipped: recx was built without CUDA (configure with -DRECX_CUDA=ON)\n");
    return 0;
}

#endif
