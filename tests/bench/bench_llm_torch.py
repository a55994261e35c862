#!/usr/bin/env python3
"""bench_llm_torch.py — the peer side of the LLM benchmarks of issue #5: Hugging Face transformers
(+ torch.compile, + PEFT) on a randomly initialised model of SmolLM2-135M's shape, on one GPU.

    python3 tests/bench/bench_llm_torch.py [--only train,compile,lora,decode] [--json FILE]
        (default $OUT/llm_torch.json when OUT is set, else out/bench/llm_torch.json)

Model: LlamaForCausalLM(vocab 49152, hidden 576, ffn 1536, 30 layers, 9 heads / 3 kv heads,
rope theta 1e5, rms eps 1e-5, tied embeddings), weights N(0, 0.02), seed 0, SDPA attention (the
transformers default; no flash-attn package on the machine).

Rows (tokens/s = B*T per step / median step seconds; CUDA-synchronised wall clock around each step):
- train eager B16/B64 x T512: full fine-tune in mixed precision as the HF Trainer's --bf16 runs it:
  f32 parameters, torch.autocast(bfloat16), mean cross-entropy over all positions, backward,
  torch.optim.AdamW(fused=True, lr 1e-4), zero_grad(set_to_none).
- train compile B16/B64: the same model wrapped in torch.compile (default mode), compile time
  excluded (warm-up steps).
- lora B16/B64: PEFT LoRA r16 alpha 32 dropout 0.05 on q,k,v,o + modules_to_save embed_tokens and
  lm_head (SPEC 5.3), otherwise as "train eager".
- decode B1/B32: model.generate greedy (do_sample False), bf16 weights, 128 new tokens after a
  32-token prompt, min_new_tokens = max_new_tokens so every row decodes 128 tokens;
  tokens/s = B*128 / seconds.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

CONFIG = dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
              num_attention_heads=9, num_key_value_heads=3, rope_theta=100000.0, rms_norm_eps=1e-5,
              tie_word_embeddings=True, max_position_embeddings=8192, bos_token_id=1, eos_token_id=2,
              pad_token_id=2)
T = 512


def make_model(dtype=torch.float32):
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    cfg = LlamaConfig(**CONFIG)
    cfg._attn_implementation = "sdpa"
    model = LlamaForCausalLM(cfg).to(device="cuda", dtype=dtype)
    return model


def step_seconds(step, warmup, repeats):
    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def train_row(name, model, B, warmup=5, repeats=15):
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, fused=True)
    g = torch.Generator(device="cuda").manual_seed(1)
    ids = torch.randint(0, CONFIG["vocab_size"], (B, T), device="cuda", generator=g)

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(input_ids=ids).logits
        loss = torch.nn.functional.cross_entropy(logits.float().view(-1, logits.size(-1)), ids.view(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    sec = step_seconds(step, warmup, repeats)
    return {"name": name, "batch": B, "seq": T, "seconds": sec, "tokens_per_s": B * T / sec,
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30}


def decode_row(name, B, new_tokens=128, prompt=32):
    model = make_model(torch.bfloat16).eval()
    g = torch.Generator(device="cuda").manual_seed(2)
    ids = torch.randint(3, CONFIG["vocab_size"], (B, prompt), device="cuda", generator=g)
    mask = torch.ones_like(ids)

    def step():
        with torch.no_grad():
            model.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=new_tokens,
                           min_new_tokens=new_tokens, pad_token_id=2)

    sec = step_seconds(step, 1, 3)
    del model
    return {"name": name, "batch": B, "new_tokens": new_tokens, "seconds": sec,
            "tokens_per_s": B * new_tokens / sec}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="train,compile,lora,decode")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    only = set(a.only.split(","))
    out = a.json or os.path.join(os.environ.get("OUT", "out/bench"), "llm_torch.json")
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    import transformers
    rows = []

    def emit(row):
        rows.append(row)
        print(json.dumps(row), flush=True)

    for B in (16, 64):
        if "train" in only:
            m = make_model()
            emit(train_row(f"train eager B{B}", m, B))
            del m
        if "compile" in only:
            m = make_model()
            emit(train_row(f"train compile B{B}", torch.compile(m), B, warmup=8))
            del m
        if "lora" in only:
            from peft import LoraConfig, get_peft_model
            m = make_model()
            m = get_peft_model(m, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05,
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                                             modules_to_save=["embed_tokens", "lm_head"]))
            emit(train_row(f"lora B{B}", m, B))
            del m
        torch.cuda.empty_cache()
    if "decode" in only:
        for B in (1, 32):
            emit(decode_row(f"decode B{B}", B))
    meta = {"torch": torch.__version__, "transformers": transformers.__version__,
            "gpu": torch.cuda.get_device_name(0), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    with open(out, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    print("wrote", out, file=sys.stderr)


if __name__ == "__main__":
    main()
