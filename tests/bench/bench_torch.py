"""bench_torch.py — helpers shared by the PyTorch benchmarks beside the GPU ones
(bench_gpu_core_torch.py, bench_gpu_nn_torch.py), so that they time and report as
bench_gpu_*.c do.

Owns: CUDA-event timing (the median of the repeats after 3 warm-ups), the output path
(argv[1], else NAME.json in $OUT when OUT is set, else in out/bench) and writing the JSON
report with its common head (benchmark, date, torch_version, device, memcpy_gbps).
"""
import json
import os
import statistics
import sys
import time

import torch

WARMUP = 3


def time_calls(fn, repeats, setup=None):
    """Median seconds of `repeats` timed calls of fn() after WARMUP untimed ones; setup(), when
    given, runs untimed before every call."""
    times = []
    for i in range(-WARMUP, repeats):
        if setup is not None:
            setup()
        e0 = torch.cuda.Event(enable_timing=True)
        e1 = torch.cuda.Event(enable_timing=True)
        e0.record()
        fn()
        e1.record()
        e1.synchronize()
        if i >= 0:
            times.append(e0.elapsed_time(e1) * 1e-3)
    return statistics.median(times)


def out_path(name):
    """The JSON report's path: argv[1], else NAME.json in $OUT when OUT is set, else in out/bench."""
    if len(sys.argv) > 1:
        return sys.argv[1]
    return os.path.join(os.environ.get("OUT") or "out/bench", name + ".json")


def write_json(out, name, device, memcpy_gbps, **fields):
    """Writes the report of benchmark NAME: the common head, then `fields` in their order."""
    result = {"benchmark": name, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "torch_version": torch.__version__, "device": device, "memcpy_gbps": memcpy_gbps, **fields}
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {out}")
