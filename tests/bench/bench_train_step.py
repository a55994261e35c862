#!/usr/bin/env python3
"""bench_train_step.py — the PyTorch side of the CPU training-step benchmark.

Owns: one training step (forward, backward, AdamW) of a small Llama-style LM in PyTorch, timed
the same way as tests/bench/bench_train_step.lua times recx, so that tests/bench/train_step.sh
can put the two side by side. Run through train_step.sh; alone:

    OMP_NUM_THREADS=2 /opt/refenv/bin/python tests/bench/bench_train_step.py [--threads 2] [--json FILE]

Model (the same in the Lua script): embedding (V, C); `layers` pre-norm blocks of
RMSNorm (eps 1e-5) -> q, k, v projections (no bias; H query heads, G key/value heads of D) ->
rotate-half RoPE (theta 10000) -> causal attention (F.scaled_dot_product_attention with
enable_gqa, PyTorch's fused CPU kernel) -> o projection -> residual -> RMSNorm -> SwiGLU MLP
(gate, up, down; hidden F) -> residual; final RMSNorm; untied lm_head; mean cross entropy over
all (B, T) targets. AdamW lr 1e-4, betas (0.9, 0.999), eps 1e-8, weight decay 0.01, with
torch's default implementation choice on CPU (the per-parameter loop; --optim foreach|fused picks
the others). Weights: normal(0, 0.02); ids and targets uniform from a fixed seed.

Timing: `warmup` untimed steps, then `repeats` samples of `steps_per_sample` consecutive steps
each, timed with time.perf_counter; a sample's figure is its time divided by its step count,
and the result is the median over samples; the phases (forward with zero_grad and reading the
loss, backward, optimizer) get medians of their own. One JSON object goes to --json (or stdout).
"""

import argparse
import json
import math
import statistics
import time

import torch
import torch.nn.functional as F


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vocab", type=int, default=512)
    ap.add_argument("--channels", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--steps-per-sample", type=int, default=2)
    ap.add_argument("--optim", choices=("default", "foreach", "fused"), default="default")
    ap.add_argument("--json", help="write the result here (default: print it)")
    return ap.parse_args()


class LM(torch.nn.Module):
    def __init__(self, a):
        super().__init__()
        C, H, G = a.channels, a.heads, a.kv_heads
        self.H, self.G, self.D = H, G, C // H
        self.embed = torch.nn.Embedding(a.vocab, C)
        self.blocks = torch.nn.ModuleList()
        for _ in range(a.layers):
            blk = torch.nn.Module()
            blk.attn_norm = torch.nn.RMSNorm(C, eps=1e-5)
            blk.q = torch.nn.Linear(C, H * self.D, bias=False)
            blk.k = torch.nn.Linear(C, G * self.D, bias=False)
            blk.v = torch.nn.Linear(C, G * self.D, bias=False)
            blk.o = torch.nn.Linear(H * self.D, C, bias=False)
            blk.mlp_norm = torch.nn.RMSNorm(C, eps=1e-5)
            blk.gate = torch.nn.Linear(C, a.hidden, bias=False)
            blk.up = torch.nn.Linear(C, a.hidden, bias=False)
            blk.down = torch.nn.Linear(a.hidden, C, bias=False)
            self.blocks.append(blk)
        self.norm = torch.nn.RMSNorm(C, eps=1e-5)
        self.head = torch.nn.Linear(C, a.vocab, bias=False)
        for p in self.parameters():
            if p.dim() == 2:
                torch.nn.init.normal_(p, 0.0, 0.02)
        inv_freq = 1.0 / (10000.0 ** (torch.arange(0, self.D, 2).float() / self.D))
        angles = torch.arange(a.seq).float()[:, None] * inv_freq[None, :]
        emb = torch.cat((angles, angles), dim=-1)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)

    def rope(self, x):
        half = x.shape[-1] // 2
        rot = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        return x * self.cos + rot * self.sin

    def forward(self, ids, targets):
        B, T = ids.shape
        x = self.embed(ids)
        for blk in self.blocks:
            h = blk.attn_norm(x)
            q = self.rope(blk.q(h).view(B, T, self.H, self.D).transpose(1, 2))
            k = self.rope(blk.k(h).view(B, T, self.G, self.D).transpose(1, 2))
            v = blk.v(h).view(B, T, self.G, self.D).transpose(1, 2)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
            x = x + blk.o(a.transpose(1, 2).reshape(B, T, -1))
            h = blk.mlp_norm(x)
            x = x + blk.down(F.silu(blk.gate(h)) * blk.up(h))
        logits = self.head(self.norm(x))
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


def main():
    a = parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = LM(a)
    kw = {}
    if a.optim == "foreach":
        kw["foreach"] = True
    elif a.optim == "fused":
        kw["fused"] = True
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, **kw)
    ids = torch.randint(0, a.vocab, (a.batch, a.seq))
    targets = torch.randint(0, a.vocab, (a.batch, a.seq))

    def step(phases=None):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model(ids, targets)
        value = loss.item()
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        if phases is not None:
            t3 = time.perf_counter()
            phases[0] += t1 - t0
            phases[1] += t2 - t1
            phases[2] += t3 - t2
        return value

    losses = [step() for _ in range(a.warmup)]
    samples, fwd, bwd, upd = [], [], [], []
    for _ in range(a.repeats):
        phases = [0.0, 0.0, 0.0]
        t0 = time.perf_counter()
        for _ in range(a.steps_per_sample):
            losses.append(step(phases))
        samples.append((time.perf_counter() - t0) / a.steps_per_sample)
        fwd.append(phases[0] / a.steps_per_sample)
        bwd.append(phases[1] / a.steps_per_sample)
        upd.append(phases[2] / a.steps_per_sample)
    median = statistics.median(samples)
    result = {
        "impl": "torch",
        "version": torch.__version__,
        "threads": torch.get_num_threads(),
        "optimizer": "AdamW (" + a.optim + ")",
        "attention": "F.scaled_dot_product_attention(is_causal=True, enable_gqa=True)",
        "config": {"vocab": a.vocab, "channels": a.channels, "layers": a.layers, "heads": a.heads,
                   "kv_heads": a.kv_heads, "head_dim": a.channels // a.heads, "hidden": a.hidden,
                   "seq": a.seq, "batch": a.batch, "dtype": "f32"},
        "params": sum(p.numel() for p in model.parameters()),
        "warmup": a.warmup, "repeats": a.repeats, "steps_per_sample": a.steps_per_sample,
        "step_seconds": median,
        "step_seconds_min": min(samples), "step_seconds_max": max(samples),
        "forward_seconds": statistics.median(fwd), "backward_seconds": statistics.median(bwd),
        "optimizer_seconds": statistics.median(upd),
        "tokens_per_second": a.batch * a.seq / median,
        "first_loss": losses[0], "last_loss": losses[-1],
    }
    if not all(math.isfinite(x) for x in losses):
        raise SystemExit("bench_train_step.py: a loss is not finite")
    text = json.dumps(result)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
