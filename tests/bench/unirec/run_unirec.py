#!/usr/bin/env python3
"""run_unirec.py — the peer side of the SASRec benchmark (issue #6): trains SASRec with UniRec's own
trainer (PyPI `unirec`, `unirec.main.main.run`, the entry point RecExplainer's
shell/unirec_sasrec_train.sh calls) with SPEC 3.1's hyperparameters on recx's prepared data, and
writes one JSON object with per-epoch times, the validation curve and the final test metrics.

    python3 tests/bench/unirec/run_unirec.py --data DATA_DIR --work WORK_DIR --json FILE
        [--device cpu|cuda] [--threads 2] [--epochs 100] [--num-workers N] [--verbose 2]
        [--profiler] [--unirec-src DIR]

How it was run here: /opt/unirecenv/bin/python (unirec 0.0.1a4 installed --no-deps, torch 2.15 CPU
from /opt/refenv), through tests/bench/rec_peer.sh. On the GPU machine: python3 with the unirec
wheel installed from out/whl (tests/bench/unirec/wheels.sh).

What it does, in order:
1. Threads: OMP_NUM_THREADS/MKL_NUM_THREADS and torch.set_num_threads(--threads) before UniRec runs.
   --device cpu sets ACCELERATE_USE_CPU=true and gpu_id=-1, so accelerate keeps UniRec on the CPU
   even where a GPU exists; --device cuda uses gpu_id 0.
2. Versions: UniRec 0.0.1a4 was written for torch <= 1.13.1 and NumPy 1.x. Where a later version
   lacks what it calls, a shim adapts the call (compat_shims; the JSON lists the ones applied):
   np.Inf and np.NINF (gone in NumPy 2.0) are put back as aliases of np.inf and -np.inf, and
   ReduceLROnPlateau(verbose=False) gets its verbose argument dropped (gone in torch 2.x), and
   torch.load defaults to weights_only=False again (torch 2.6 changed it; UniRec reloads the
   best checkpoint it wrote itself, which holds its config dict and NumPy scalars).
   Modules: cvxpy, setproctitle, wandb and feather are imported from this Python when they import;
   otherwise the stand-ins in stubs/ are used (stubs/README.md says why none of them matters for
   SASRec training).
3. The 0.0.1a4 wheel on PyPI lacks the package unirec/data/transform (UniRec's own fix, "fix bug
   in missing transform in wheel package", came after that release, and no later release
   exists). Of it, SASRec training needs one class, AddUserHistory (the SeqRecDataset transform
   that gives each (user, item) row its history). When the installed unirec has it, it is used;
   otherwise HistoryBeforeItem below, written for this benchmark from the documented behaviour:
   with history_mask_mode "autoregressive" the history is the user's sequence before a position
   of the item (the last one with seq_last, else random.choice over the positions, so Python's
   random stream advances as it would), with "unorder" the item is zeroed in the whole sequence.
   --unirec-src DIR puts a UniRec source checkout first on sys.path instead (its own transform).
4. Data: convert.py turns DATA_DIR's tsv files into UniRec's pickles and dataset yaml in WORK_DIR.
5. Training: run() with the arguments of RecExplainer's unirec_sasrec_train.sh (below), sys.argv
   emptied so that this script's options do not reach UniRec's own argument parser. run() wraps
   the whole job in cProfile; the profiler is switched off unless --profiler (it is diagnostics,
   and it slows the Python data path: the figure with it is reported separately).
6. Measurement: Trainer._generate_train_loss_output receives each epoch's training start and end
   times (UniRec's own "epoch N training [time: ...]" figure: the training loop with its data
   loading, no evaluation) and Trainer.evaluate is timed around; both are wrapped, not changed.

UniRec's loop evaluates before each epoch (epoch 0 = the untrained model), steps
ReduceLROnPlateau from the second evaluation on, and stops at the first evaluation that is the
6th in a row without a strictly better ndcg@10 (early_stop 5), before training again; the final
test evaluation reloads the best checkpoint. valid.tsv = test.tsv (SPEC 2.3), so the test metrics
are the best validation metrics.

JSON: {"impl": "unirec", "version", "torch", "device", "threads", "num_workers", "profiler",
"modules": {name: "real <version>" | "stand-in"}, "history_transform": "unirec" | "benchmark",
"shims": [notes],
"hyperparameters": {...}, "n_users", "n_items", "train_rows", "test_rows",
"epochs": [{"epoch", "train_seconds", "loss" (mean over batches), "lr"}],
"evals": [{"after_epoch", "seconds", "ndcg@10", ... every metric}],
"epoch_seconds" (median train_seconds), "epoch_seconds_min", "epoch_seconds_max", "eval_seconds"
(median), "epochs_trained", "best_epoch", "early_stopped", "test": {metrics}, "wall_seconds"}.
"""
import argparse
import importlib
import importlib.util
import json
import math
import os
import random
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
STUBS = os.path.join(HERE, "stubs")
STUB_NAMES = ("cvxpy", "setproctitle", "wandb", "feather")

# RecExplainer's shell/unirec_sasrec_train.sh (SPEC 3.1); dataset paths, device and workers are added.
HYPERPARAMETERS = {
    "model": "SASRec", "dataloader": "SeqRecDataset",
    "learning_rate": 0.0003112577321994525, "dropout_prob": 0.0, "use_pre_item_emb": 0,
    "loss_type": "fullsoftmax", "max_seq_len": 9, "has_user_bias": 0, "has_item_bias": 0,
    "epochs": 100, "batch_size": 2048, "n_sample_neg_train": 0, "n_sample_neg_valid": 0,
    "valid_protocol": "one_vs_all", "test_protocol": "one_vs_all", "grad_clip_value": 10.0,
    "weight_decay": 0.0, "user_history_filename": "user_history", "user_history_file_format": "user-item_seq",
    "history_mask_mode": "autoregressive", "metrics": "['hit@1;5;10;20', 'ndcg@1;5;10;20','mrr@1;5;10;20']",
    "key_metric": "ndcg@10", "shuffle_train": 1, "seed": 3418, "early_stop": 5, "embedding_size": 256,
    "num_workers_test": 0, "neg_by_pop_alpha": 0.0, "distance_type": "dot",
    "hidden_dropout_prob": 0.4954053313841075, "attn_dropout_prob": 0.1871672079253271,
    "scheduler_factor": 0.1, "tau": 1.0, "optimizer": "adamw", "use_wandb": 0, "wandb_file": "",
}


class HistoryBeforeItem:
    """The SeqRecDataset transform UniRec calls AddUserHistory (see step 3 of the header):
    sample (user_id, item_id, ...) -> (history array, its length, history times or None)."""

    def __init__(self, user2history, mask_mode="unorder", user2history_time=None, seq_last=0):
        if mask_mode not in ("unorder", "autoregressive"):
            raise ValueError(f"HistoryBeforeItem: history_mask_mode {mask_mode!r}: expected unorder or autoregressive")
        self.user2history = user2history
        self.user2history_time = user2history_time
        self.mask_mode = mask_mode
        self.seq_last = seq_last
        import numpy as np
        self.empty = np.zeros((1,), dtype=np.int32)

    def __call__(self, sample):
        user, target = sample[0], sample[1]
        targets = set(target) if isinstance(target, (list, tuple)) or hasattr(target, "shape") and target.shape else {target}
        known = user < len(self.user2history) and self.user2history[user] is not None
        history = self.user2history[user] if known else self.empty
        times = None
        if self.user2history_time is not None:
            times = self.user2history_time[user] if known else self.empty
        if self.mask_mode == "autoregressive":
            positions = [k for k, item in enumerate(history) if item in targets]
            if positions:
                cut = positions[-1] if self.seq_last else random.choice(positions)
                history = history[:cut]
                times = times[:cut] if times is not None else None
        else:
            history = history.copy()
            times = times.copy() if times is not None else None
            for k, item in enumerate(history):
                if item in targets:
                    history[k] = 0
                    if times is not None:
                        times[k] = 0
        return history, len(history), times


def load_modules():
    """Real module when it imports, else the stand-in from stubs/; returns {name: description}."""
    used = {}
    for name in STUB_NAMES:
        try:
            mod = importlib.import_module(name)
            used[name] = "real " + str(getattr(mod, "__version__", "?"))
        except Exception:
            for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
                del sys.modules[key]
            path = os.path.join(STUBS, name, "__init__.py")
            if not os.path.exists(path):
                path = os.path.join(STUBS, name + ".py")
            spec = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[name] = mod
            spec.loader.exec_module(mod)
            used[name] = "stand-in"
    return used


def compat_shims(torch):
    """UniRec 0.0.1a4 was written for torch <= 1.13.1 and NumPy 1.x; the shims that newer versions
    need, as a list of notes."""
    import inspect
    import numpy as np
    notes = []
    for alias, value in (("Inf", np.inf), ("NINF", -np.inf)):
        if alias not in np.__dict__:
            setattr(np, alias, value)
            notes.append(f"np.{alias} = {value} (removed in NumPy 2.0)")
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau
    if "verbose" not in inspect.signature(plateau.__init__).parameters:
        class ReduceLROnPlateau(plateau):
            def __init__(self, *a, verbose=False, **kw):
                super().__init__(*a, **kw)
        torch.optim.lr_scheduler.ReduceLROnPlateau = ReduceLROnPlateau
        notes.append("ReduceLROnPlateau(verbose=) accepted and ignored (the argument is gone from torch 2.x)")
    if "weights_only" in inspect.signature(torch.load).parameters:
        load = torch.load

        def torch_load(*a, **kw):
            kw.setdefault("weights_only", False)
            return load(*a, **kw)
        torch.load = torch_load
        notes.append("torch.load defaults to weights_only=False (UniRec reloads the checkpoint it wrote itself; "
                     "torch 2.6 changed the default)")
    return notes


class NoProfile:
    """Replaces cProfile.Profile inside unirec.main.main when --profiler is not given."""

    def enable(self):
        pass

    def disable(self):
        pass


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="recx prepared data dir (train.tsv, ..., user_history.tsv)")
    ap.add_argument("--work", required=True, help="folder for UniRec's dataset, config and output")
    ap.add_argument("--json", required=True, help="result file")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=HYPERPARAMETERS["epochs"])
    ap.add_argument("--num-workers", type=int, default=None,
                    help="DataLoader workers for training and validation (RecExplainer's script: 6; default: "
                         "0 on cpu, 6 on cuda)")
    ap.add_argument("--verbose", type=int, default=2,
                    help="UniRec verbose: 2 (tqdm bars) as RecExplainer's script; 0 and 1 break UniRec 0.0.1a4's "
                         "training loop (len() of an enumerate)")
    ap.add_argument("--profiler", action="store_true", help="keep run()'s cProfile on")
    ap.add_argument("--unirec-src", default="", help="a UniRec source checkout to import instead")
    args = ap.parse_args(argv)
    t_start = time.time()

    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    os.environ["MKL_NUM_THREADS"] = str(args.threads)
    if args.device == "cpu":
        os.environ["ACCELERATE_USE_CPU"] = "true"
    if args.unirec_src:
        sys.path.insert(0, os.path.abspath(args.unirec_src))
    import torch
    torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("run_unirec.py: --device cuda: torch sees no CUDA device")
    modules = load_modules()
    shims = compat_shims(torch)

    import unirec
    import unirec.main.main as unirec_main
    from unirec.facility.trainer import Trainer
    from unirec.utils import general

    sys.path.insert(0, HERE)
    import convert
    name = "games2018"
    conv = convert.convert(args.data, args.work, name)

    history_transform = "unirec"
    if importlib.util.find_spec("unirec.data.transform") is None:
        history_transform = "benchmark"
        original_get_class = general.get_class_instance

        def get_class_instance(class_name, class_root="model"):
            if class_name == "AddUserHistory":
                return HistoryBeforeItem
            return original_get_class(class_name, class_root)
        general.get_class_instance = get_class_instance
    if not args.profiler:
        unirec_main.cProfile = type("cProfileOff", (), {"Profile": NoProfile})
        unirec_main.prof_to_csv = lambda prof: ""

    n_train = conv["info"]["n_lines_train"]
    steps = math.ceil(n_train / HYPERPARAMETERS["batch_size"])
    epochs, evals = [], []
    original_loss_output = Trainer._generate_train_loss_output
    original_evaluate = Trainer.evaluate

    def loss_output(self, epoch_idx, s_time, e_time, losses):
        epochs.append({"epoch": epoch_idx, "train_seconds": e_time - s_time,
                       "loss": float(losses) / steps if losses is not None else None,
                       "lr": self.optimizer.param_groups[0]["lr"]})
        return original_loss_output(self, epoch_idx, s_time, e_time, losses)

    def evaluate(self, eval_data, load_best_model=True, *rest, **kw):
        t0 = time.time()
        result = original_evaluate(self, eval_data, load_best_model, *rest, **kw)
        rec = {"seconds": time.time() - t0}
        rec.update({k: float(v) for k, v in (result or {}).items()})
        if load_best_model:
            rec["kind"] = "test"
        else:
            rec["after_epoch"] = len(epochs)
        evals.append(rec)
        return result

    Trainer._generate_train_loss_output = loss_output
    Trainer.evaluate = evaluate

    num_workers = args.num_workers if args.num_workers is not None else (0 if args.device == "cpu" else 6)
    run_args = dict(HYPERPARAMETERS)
    run_args.update({
        "config_dir": conv["config_dir"], "dataset": name, "dataset_path": conv["dataset_path"],
        "output_path": os.path.join(args.work, "output"), "epochs": args.epochs, "num_workers": num_workers,
        "verbose": args.verbose, "gpu_id": 0 if args.device == "cuda" else -1,
    })
    sys.argv = [sys.argv[0]]
    test = unirec_main.run(run_args)

    valid = [e for e in evals if "after_epoch" in e]
    tests = [e for e in evals if e.get("kind") == "test"]
    best = None
    for e in valid:
        if best is None or e["ndcg@10"] > best["ndcg@10"]:
            best = e
    times = [e["train_seconds"] for e in epochs]
    result = {
        "impl": "unirec", "version": getattr(unirec, "version", "?"), "torch": torch.__version__,
        "device": args.device, "device_name": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
        "threads": args.threads, "num_workers": num_workers, "profiler": args.profiler,
        "modules": modules, "history_transform": history_transform, "shims": shims,
        "hyperparameters": {k: v for k, v in run_args.items() if k in HYPERPARAMETERS},
        "n_users": conv["info"]["n_users"] - 1, "n_items": conv["info"]["n_items"] - 1,
        "train_rows": n_train, "test_rows": conv["info"]["n_lines_test"],
        "epochs": epochs, "evals": valid,
        "epoch_seconds": statistics.median(times) if times else None,
        "epoch_seconds_min": min(times) if times else None, "epoch_seconds_max": max(times) if times else None,
        "eval_seconds": statistics.median(e["seconds"] for e in valid) if valid else None,
        "epochs_trained": len(epochs), "best_epoch": best["after_epoch"] if best else None,
        "early_stopped": len(epochs) < args.epochs,
        "test": {k: float(v) for k, v in (test or {}).items()},
        "test_seconds": tests[-1]["seconds"] if tests else None,
        "wall_seconds": time.time() - t_start,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    t = result["test"]
    print(f"run_unirec.py: {len(epochs)} epochs, {result['epoch_seconds']:.2f} s each (median), best after epoch "
          f"{result['best_epoch']}; test ndcg@10 {t.get('ndcg@10', float('nan')):.4f} hit@10 "
          f"{t.get('hit@10', float('nan')):.4f}; wrote {args.json}")


if __name__ == "__main__":
    main(sys.argv[1:])
