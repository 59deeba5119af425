"""Helpers shared by the test modules."""

import importlib
import inspect

import jax
import numpy as np


class CompileCounter:
    """Counts XLA backend compilations (jax.monitoring) while active."""

    def __init__(self):
        self.count = 0

    def __call__(self, event, *args, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            self.count += 1

    def __enter__(self):
        jax.monitoring.register_event_duration_secs_listener(self)
        return self

    def __exit__(self, *exc):
        jax.monitoring.unregister_event_duration_listener(self)


def central_difference(f, x, indices=None, *, h=1e-5, richardson=False):
    """Partial derivatives of the scalar ``f`` at the 1-D ``x`` by central differences,
    for each index in ``indices`` (default: all; a single int gives a scalar).  With
    ``richardson``, one Richardson step on steps h and h/2 (error O(h^4) instead of O(h^2)),
    for solves whose rounding error (~eps / h) needs a large h."""
    x_np = np.asarray(x)

    def partial(i, step):
        e = np.zeros(x_np.shape, x_np.dtype)
        e[i] = step
        return (f(x + e) - f(x - e)) / (2 * step)

    def one(i):
        if richardson:
            return (4 * partial(i, h / 2) - partial(i, h)) / 3
        return partial(i, h)

    if isinstance(indices, int | np.integer):
        return one(indices)
    indices = range(x_np.size) if indices is None else indices
    return np.array([np.asarray(one(i)) for i in indices])


def replica_mean(x):
    """Mean over replicas (leading axes) of per-replica time averages (last axis) and its
    standard error."""
    per_replica = np.asarray(x, dtype=np.float64).mean(axis=-1)
    return per_replica.mean(), per_replica.std(ddof=1) / np.sqrt(per_replica.size)


def functions_taking_a_key(module) -> set:
    """Names of the public functions of ``module`` that take a ``key``, asserting that it
    is their first argument (docs/ARCHITECTURE.md, Conventions: keys first)."""
    with_key = set()
    for name in module.__all__:
        obj = getattr(module, name)
        if not inspect.isfunction(obj):
            continue
        params = list(inspect.signature(obj).parameters)
        if "key" in params:
            with_key.add(name)
            assert params[0] == "key", f"{name}{inspect.signature(obj)}: key must come first"
    return with_key


def public_functions() -> dict:
    """Every public function of every physjax subpackage, by its first (shortest) public
    name (``"spins.sample"``; functions of a public submodule as ``"networks.spring.x"``)."""
    import physjax

    out = {}
    for package in [name for name in physjax.__all__ if name != "__version__"]:
        module = importlib.import_module(f"physjax.{package}")
        names = list(module.__all__)
        for sub in [n for n in names if inspect.ismodule(getattr(module, n))]:
            names += [f"{sub}.{n}" for n in getattr(module, sub).__all__]
        for n in names:
            obj = module
            for part in n.split("."):
                obj = getattr(obj, part)
            if inspect.isfunction(obj):
                out.setdefault(obj, f"{package}.{n}")   # first (shortest) public name
    return {name: fn for fn, name in out.items()}
