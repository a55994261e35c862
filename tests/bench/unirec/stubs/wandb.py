"""Stand-in for wandb (see README.md): importable, unusable. UniRec uses it only with use_wandb=1."""


def __getattr__(name):
    raise RuntimeError(f"wandb.{name}: this is the benchmark's stand-in for wandb (tests/bench/unirec/stubs); "
                       "run with use_wandb=0 or install wandb")
