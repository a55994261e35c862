"""Stand-in for cvxpy (see README.md): importable, unusable. Only UniRec's MoRec EPO solver uses it."""


def __getattr__(name):
    raise RuntimeError(f"cvxpy.{name}: this is the benchmark's stand-in for cvxpy (tests/bench/unirec/stubs); "
                       "UniRec's MoRec solvers need the real package")
