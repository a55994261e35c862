#!/usr/bin/env python3
"""bench_gpu_nn_torch.py — PyTorch figures for the rows of bench_gpu_nn.c, to put beside recx's.

    python3 tests/bench/bench_gpu_nn_torch.py [out.json [recx gpu_nn.json]]
        (default $OUT/gpu_nn_torch.json when OUT is set, else out/bench/gpu_nn_torch.json; when
         recx's JSON is given and exists, a table of both is printed last)

Same shapes and method as the C benchmark: random N(0, 1) inputs on the GPU, CUDA events around
each timed call after 3 warm-ups, the median of the repeats; a backward row times the backward
alone (its forward runs untimed before each call).
- attention: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True) with
  q (16, 9, 512, 64), k and v (16, 3, 512, 64) bf16 (k and v repeated to 9 heads when this torch
  has no enable_gqa); TFLOP/s counted as in bench_gpu_nn.c.
- attention decode: the same call with q (B, 9, 1, 64) over k and v (B, 3, S, 64) bf16 and an
  all-true bool attn_mask (B, 1, 1, S) in place of is_causal, for B 1 and 32 at S 160 and B 1 at
  S 3000 (no grad); bytes as in bench_gpu_nn.c.
- cross-entropy: F.cross_entropy over (8192, 49152) bf16 logits (its backward writes bf16 dlogits).
- rmsnorm: F.rms_norm over (16384, 4096) bf16 with a weight.
- AdamW: torch.optim.AdamW(fused=True) over 64 f32 tensors of 2M elements; the row beside recx's
  "bf16 params + f32 master" is fused AdamW on bf16 parameters, whose state torch keeps in bf16
  (fewer bytes: 16 per element; noted in the row).
- copy: dst.copy_(src) device to device of 1 GiB (2 GiB moved).
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

from bench_torch import out_path, time_calls, write_json

ROWS = []
MEMCPY = [0.0]


def add_row(name, dtype, pass_, seconds, repeats, nbytes=0.0, flops=0.0, note=""):
    gbps = nbytes / seconds * 1e-9 if nbytes else 0.0
    ROWS.append({"name": name, "dtype": dtype, "pass": pass_, "repeats": repeats, "seconds": seconds,
                 "bytes": nbytes, "gbps": gbps, "vs_memcpy": gbps / MEMCPY[0] if nbytes and MEMCPY[0] else 0.0,
                 "tflops": flops / seconds * 1e-12 if flops else 0.0, "note": note})


def bench_attention_decode(B, S):
    H, G, D = 9, 3, 64
    bf = torch.bfloat16
    q = torch.randn(B, H, 1, D, device="cuda", dtype=bf)
    k = torch.randn(B, G, S, D, device="cuda", dtype=bf)
    v = torch.randn(B, G, S, D, device="cuda", dtype=bf)
    mask = torch.ones(B, 1, 1, S, device="cuda", dtype=torch.bool)
    try:
        F.scaled_dot_product_attention(q[:1, :3], k[:1, :1], v[:1, :1], attn_mask=mask[:1], enable_gqa=True)
        note = "enable_gqa"

        def attn():
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)
    except TypeError:
        note = "kv repeated to 9 heads"

        def attn():
            return F.scaled_dot_product_attention(q, k.repeat_interleave(H // G, 1), v.repeat_interleave(H // G, 1),
                                                  attn_mask=mask)
    nbytes = 2.0 * (2.0 * B * G * S * D + 2.0 * B * H * D)
    with torch.no_grad():
        add_row(f"attention decode B{B} H9 G3 S{S} D64", "bf16", "forward", time_calls(attn, 200), 200, nbytes,
                4.0 * B * H * S * D, note=note)


def bench_attention():
    B, H, G, T, D = 16, 9, 3, 512, 64
    bf = torch.bfloat16
    q = torch.randn(B, H, T, D, device="cuda", dtype=bf, requires_grad=True)
    k = torch.randn(B, G, T, D, device="cuda", dtype=bf, requires_grad=True)
    v = torch.randn(B, G, T, D, device="cuda", dtype=bf, requires_grad=True)
    g = torch.randn(B, H, T, D, device="cuda", dtype=bf)
    try:
        F.scaled_dot_product_attention(q[:1, :3, :8], k[:1, :1, :8], v[:1, :1, :8], is_causal=True, enable_gqa=True)
        note = "enable_gqa"

        def attn():
            return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    except TypeError:
        note = "kv repeated to 9 heads"

        def attn():
            return F.scaled_dot_product_attention(q, k.repeat_interleave(H // G, 1), v.repeat_interleave(H // G, 1),
                                                  is_causal=True)
    fwd = 4.0 * B * H * T * T * D * 0.5
    bwd = 2.5 * fwd
    name = "attention B16 H9 G3 T512 D64 causal"
    with torch.no_grad():
        add_row(name, "bf16", "forward", time_calls(attn, 50), 50, flops=fwd, note=note)
    state = {}

    def setup():
        q.grad = k.grad = v.grad = None
        state["out"] = attn()

    add_row(name, "bf16", "backward", time_calls(lambda: state["out"].backward(g), 50, setup), 50, flops=bwd, note=note)

    def both():
        q.grad = k.grad = v.grad = None
        attn().backward(g)

    add_row(name, "bf16", "forward+backward", time_calls(both, 50), 50, flops=fwd + bwd, note=note)


def bench_cross_entropy():
    N, V = 8192, 49152
    logits = torch.randn(N, V, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    targets = torch.randint(0, V, (N,), device="cuda")
    nv = float(N * V * 2)
    name = "cross_entropy 8192 x 49152"
    with torch.no_grad():
        add_row(name, "bf16", "forward", time_calls(lambda: F.cross_entropy(logits, targets), 20), 20, nv)
    state = {}

    def setup():
        logits.grad = None
        state["loss"] = F.cross_entropy(logits, targets)

    add_row(name, "bf16", "backward", time_calls(lambda: state["loss"].backward(), 20, setup), 20, 2 * nv)

    def both():
        logits.grad = None
        F.cross_entropy(logits, targets).backward()

    add_row(name, "bf16", "forward+backward", time_calls(both, 20), 20, 3 * nv)


def bench_rmsnorm():
    M, C = 16384, 4096
    x = torch.randn(M, C, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    w = torch.randn(C, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    g = torch.randn(M, C, device="cuda", dtype=torch.bfloat16)
    mc = float(M * C * 2)
    name = "rmsnorm 16384 x 4096"
    with torch.no_grad():
        add_row(name, "bf16", "forward", time_calls(lambda: F.rms_norm(x, (C,), w, 1e-6), 30), 30, 2 * mc)
    state = {}

    def setup():
        x.grad = w.grad = None
        state["y"] = F.rms_norm(x, (C,), w, 1e-6)

    add_row(name, "bf16", "backward", time_calls(lambda: state["y"].backward(g), 30, setup), 30, 3 * mc)


def bench_adamw(dtype):
    params = []
    for _ in range(64):
        p = torch.nn.Parameter(torch.randn(2 << 20, device="cuda", dtype=dtype))
        p.grad = torch.randn_like(p)
        params.append(p)
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1, fused=True)
    elems = 64.0 * (2 << 20)
    seconds = time_calls(opt.step, 20)
    if dtype == torch.float32:
        add_row("adamw 64 x 2M", "f32", "step", seconds, 20, 28 * elems, note="fused=True")
    else:
        add_row("adamw 64 x 2M, bf16 params + f32 master", "bf16", "step", seconds, 20, 16 * elems,
                note="fused=True, bf16 params and bf16 state (no master weights)")
    del opt, params
    torch.cuda.empty_cache()


def print_rows(title, rows):
    print(title)
    print(f"{'op':<42} {'dtype':<5} {'pass':<16} {'repeats':>7} {'ms':>9} {'GB/s':>8} {'vs memcpy':>9} {'TFLOP/s':>8}")
    for r in rows:
        gb = f"{r['gbps']:>8.0f} {r['vs_memcpy']:>9.2f}" if r["bytes"] else f"{'-':>8} {'-':>9}"
        tf = f"{r['tflops']:>8.1f}" if r["tflops"] else f"{'-':>8}"
        print(f"{r['name']:<42} {r['dtype']:<5} {r['pass']:<16} {r['repeats']:>7} {r['seconds'] * 1e3:>9.3f} {gb} {tf}")


def print_side_by_side(recx_path):
    recx = json.load(open(recx_path))
    theirs = {(r["name"], r["pass"]): r for r in ROWS}
    print(f"\n{'recx vs torch':<42} {'pass':<16} {'recx ms':>9} {'torch ms':>9} {'torch/recx':>10}")
    for r in recx["rows"]:
        t = theirs.get((r["name"], r["pass"]))
        if not t:
            continue
        print(f"{r['name']:<42} {r['pass']:<16} {r['seconds'] * 1e3:>9.3f} {t['seconds'] * 1e3:>9.3f} "
              f"{t['seconds'] / r['seconds']:>10.2f}")


def main():
    out = out_path("gpu_nn_torch")
    if not torch.cuda.is_available():
        print("bench_gpu_nn_torch: skipped: no CUDA device")
        return 0
    torch.manual_seed(7)
    S = 1 << 30
    src = torch.ones(S, device="cuda", dtype=torch.uint8)
    dst = torch.empty_like(src)
    seconds = time_calls(lambda: dst.copy_(src), 20)
    MEMCPY[0] = 2.0 * S / seconds * 1e-9
    add_row("cudaMemcpyAsync device to device 1 GiB", "bytes", "copy", seconds, 20, 2.0 * S, note="tensor.copy_")
    del src, dst
    bench_attention()
    for B, S in ((1, 160), (32, 160), (1, 3000)):
        bench_attention_decode(B, S)
    torch.cuda.empty_cache()
    bench_cross_entropy()
    torch.cuda.empty_cache()
    bench_rmsnorm()
    torch.cuda.empty_cache()
    bench_adamw(torch.float32)
    bench_adamw(torch.bfloat16)

    props = torch.cuda.get_device_properties(0)
    print_rows(f"== bench_gpu_nn_torch on {props.name}, torch {torch.__version__}", ROWS)
    write_json(out, "gpu_nn_torch", props.name, MEMCPY[0], rows=ROWS)
    if len(sys.argv) > 2 and os.path.exists(sys.argv[2]):
        print_side_by_side(sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
