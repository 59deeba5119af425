"""Per-function XLA compile options for entry points whose first call is mostly compile time.

``jax.jit``'s ``compiler_options`` apply to one top-level compilation and nothing else in the
process; JAX refuses them on a jit nested in another trace (``vmap``, ``jit``, ``scan``).
:func:`filter_jit_with_options` compiles with the options when it is called at top level and
falls back to the same function without them inside a trace, so the entry point stays
composable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax

from physjax._checks import is_concrete

#: XLA:CPU's legacy elemental emitter: it compiles fused kernels about twice as fast as the
#: MLIR fusion emitters, and the small loops of physjax's entry points run as fast with it
#: (physjax/networks/learning.py has the figures).  An XLA:CPU option: it is passed only
#: when JAX's default backend is the CPU.
FAST_CPU_COMPILE = {"xla_cpu_use_fusion_emitters": False}


class _WithOptions:
    def __init__(self, fun: Callable, options: dict[str, Any]) -> None:
        self._plain = eqx.filter_jit(fun)
        self._tuned = eqx.filter_jit(fun, compiler_options=dict(options))
        self.__wrapped__ = fun

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if jax.default_backend() != "cpu" or not all(
                is_concrete(x) for x in jax.tree.leaves((args, kwargs))):
            return self._plain(*args, **kwargs)   # XLA:CPU options only; none inside a trace
        try:
            return self._tuned(*args, **kwargs)
        except ValueError as err:  # a top-level call made inside someone else's trace
            if "compiler_options" not in str(err):
                raise
            return self._plain(*args, **kwargs)


def filter_jit_with_options(options: dict[str, Any]) -> Callable[[Callable], Callable]:
    """``equinox.filter_jit`` with XLA ``compiler_options`` at top level (see module doc)."""
    return lambda fun: _WithOptions(fun, options)
