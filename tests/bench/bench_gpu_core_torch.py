#!/usr/bin/env python3
"""bench_gpu_core_torch.py — PyTorch figures for the shapes of bench_gpu_core.c, to put beside recx's.

    python3 tests/bench/bench_gpu_core_torch.py [out.json]
        (default $OUT/gpu_core_torch.json when OUT is set, else out/bench/gpu_core_torch.json)

Same method as the C benchmark: random N(0, 1) operands on the GPU; torch.matmul, with TF32 off
for f32 (torch.backends.cuda.matmul.allow_tf32 = False, as recx computes f32 products); each call
allocates its output; CUDA events around each call after 3 warm-ups; the median of the repeats.
Bandwidth: dst.copy_(src) device to device (2 S bytes) and c = a + b (3 S bytes) in f32 and bf16
with 256 MiB per f32 operand. Writes the JSON fields of bench_gpu_core.c (tests/gpu/run.sh
matches GEMM rows by name, dtype and layout and bandwidth rows by kind and dtype).
"""
import sys

import torch

from bench_torch import out_path, time_calls, write_json


def bench_gemm(name, dtype, n, k, m, transposed_b):
    a = torch.randn(n, k, device="cuda", dtype=dtype)
    b = torch.randn(m, k, device="cuda", dtype=dtype).t() if transposed_b else torch.randn(k, m, device="cuda", dtype=dtype)
    flops = 2.0 * n * k * m
    repeats = 10 if flops > 1e12 else 20
    seconds = time_calls(lambda: torch.matmul(a, b), repeats)
    row = {"name": name, "dtype": "bf16" if dtype == torch.bfloat16 else "f32", "n": n, "k": k, "m": m,
           "layout": "x @ W^T" if transposed_b else "x @ W", "repeats": repeats, "seconds": seconds,
           "tflops": flops / seconds * 1e-12}
    del a, b
    torch.cuda.empty_cache()
    return row


def main():
    out = out_path("gpu_core_torch")
    if not torch.cuda.is_available():
        print("bench_gpu_core_torch: skipped: no CUDA device")
        return 0
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = False
    torch.manual_seed(42)
    mlp = "SmolLM2 MLP up (8192x576 @ 576x1536)"
    head = "SmolLM2 LM head (8192x576 @ 576x49152)"
    bf, f32 = torch.bfloat16, torch.float32
    gemm = [
        bench_gemm("4096^3", bf, 4096, 4096, 4096, False),
        bench_gemm("4096^3", f32, 4096, 4096, 4096, False),
        bench_gemm(mlp, bf, 8192, 576, 1536, False),
        bench_gemm(mlp, bf, 8192, 576, 1536, True),
        bench_gemm(mlp, f32, 8192, 576, 1536, False),
        bench_gemm(head, bf, 8192, 576, 49152, False),
        bench_gemm(head, bf, 8192, 576, 49152, True),
        bench_gemm(head, f32, 8192, 576, 49152, False),
    ]

    S = 256 << 20
    src = torch.ones(S // 4, device="cuda", dtype=f32)
    dst = torch.empty_like(src)
    memcpy_s = time_calls(lambda: dst.copy_(src), 20)
    bw = [{"kind": "memcpy", "name": "tensor.copy_ device to device", "dtype": "bytes", "bytes": 2.0 * S,
           "repeats": 20, "seconds": memcpy_s, "gbps": 2.0 * S / memcpy_s * 1e-9, "vs_memcpy": 1.0}]
    del src, dst
    for dtype in (f32, bf):
        a = torch.randn(S // 4, device="cuda", dtype=dtype)
        b = torch.randn(S // 4, device="cuda", dtype=dtype)
        seconds = time_calls(lambda: a + b, 20)
        nbytes = 3.0 * a.numel() * a.element_size()
        gbps = nbytes / seconds * 1e-9
        bw.append({"kind": "add", "name": "add c = a + b (torch)", "dtype": "bf16" if dtype == bf else "f32",
                   "bytes": nbytes, "repeats": 20, "seconds": seconds, "gbps": gbps, "vs_memcpy": gbps / bw[0]["gbps"]})
        del a, b

    props = torch.cuda.get_device_properties(0)
    print(f"== bench_gpu_core_torch on {props.name}, torch {torch.__version__}")
    print(f"{'GEMM (torch.matmul)':<42} {'dtype':<5} {'layout':<8} {'repeats':>8} {'ms':>10} {'TFLOP/s':>9}")
    for r in gemm:
        print(f"{r['name']:<42} {r['dtype']:<5} {r['layout']:<8} {r['repeats']:>8} {r['seconds'] * 1e3:>10.3f} "
              f"{r['tflops']:>9.1f}")
    print(f"{'bandwidth':<42} {'dtype':<5} {'repeats':>8} {'ms':>10} {'GB/s':>9} {'vs memcpy':>12}")
    for r in bw:
        print(f"{r['name']:<42} {r['dtype']:<5} {r['repeats']:>8} {r['seconds'] * 1e3:>10.3f} {r['gbps']:>9.0f} "
              f"{r['vs_memcpy']:>12.2f}")
    write_json(out, "gpu_core_torch", props.name, bw[0]["gbps"], gemm=gemm, bandwidth=bw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
