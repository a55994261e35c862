"""Stand-in for feather-format's `feather` module (see README.md): UniRec imports it but reads
feather files through pandas."""


def __getattr__(name):
    raise RuntimeError(f"feather.{name}: this is the benchmark's stand-in for feather-format "
                       "(tests/bench/unirec/stubs)")
