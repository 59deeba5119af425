"""Timing helpers shared by the ``bench_*.py`` modules (not a benchmark itself).

Every figure is the median of ``repeats`` timed calls after one untimed warm-up call (which
also pays for JIT compilation).  Inputs are prepared outside the timed region by ``prepare``
(donated JAX buffers must be fresh for every call); outputs are blocked on inside it.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

MIN_REPEATS = 5


def log(message: str) -> None:
    """Progress line on stderr (the table goes to stdout)."""
    print(f"  .. {message}", file=sys.stderr, flush=True)


def _block(out: Any) -> Any:
    if "jax" in sys.modules:
        import jax

        return jax.block_until_ready(out)
    return out


def time_repeats(call: Callable[..., Any], prepare: Callable[[int], tuple], repeats: int,
                 ) -> tuple[list[float], Any]:
    """Warm up once, then time ``repeats`` calls ``call(*prepare(i))``.

    ``prepare(i)`` builds the arguments of call ``i`` (``i = -1`` for the warm-up) outside the
    timed region; the result is blocked on inside it.  Returns (seconds per call, last output).
    """
    out = _block(call(*_block(prepare(-1))))
    seconds = []
    for i in range(repeats):
        args = _block(prepare(i))
        t0 = time.perf_counter()
        out = _block(call(*args))
        seconds.append(time.perf_counter() - t0)
    return seconds, out


def summarize(seconds: list[float]) -> dict:
    """Median, min and max of a list of timings (seconds)."""
    return {
        "median_s": statistics.median(seconds),
        "min_s": min(seconds),
        "max_s": max(seconds),
        "runs": len(seconds),
        "all_s": [round(s, 6) for s in seconds],
    }


# ------------------------------------------------------------------ compile time (device check)

_COMPILE_EVENTS = {
    "/jax/core/compile/jaxpr_trace_duration": "trace_s",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower_s",
    "/jax/core/compile/backend_compile_duration": "backend_compile_s",
}
_compile_totals = {name: 0.0 for name in _COMPILE_EVENTS.values()}
_listening = False


def _on_event(event: str, duration: float, **_kwargs) -> None:
    name = _COMPILE_EVENTS.get(event)
    if name is not None:
        _compile_totals[name] += duration


def compile_seconds() -> dict:
    """Running totals of JAX's compilation events in this process (tracing, lowering to
    MLIR, XLA backend compilation), from ``jax.monitoring``; take differences around a
    region.  Tracing of nested jitted functions is counted inside the outer trace too, so
    ``compile_s`` (the sum) is an upper bound of the time spent compiling."""
    global _listening
    if not _listening:
        from jax import monitoring

        monitoring.register_event_duration_secs_listener(_on_event)
        _listening = True
    totals = dict(_compile_totals)
    totals["compile_s"] = sum(totals.values())
    return totals


def compile_delta(before: dict) -> dict:
    now = compile_seconds()
    return {k: round(now[k] - before[k], 4) for k in now}


def time_device(call: Callable[..., Any], prepare: Callable[[int], tuple], repeats: int,
                ) -> tuple[dict, Any]:
    """:func:`time_repeats` that also reports the warm-up call (``first_call_s``) and the
    compilation it triggered (``compile_s``, from JAX's compile events; 0 when everything was
    already compiled), so that compile time is reported apart from run time."""
    before = compile_seconds()
    args = _block(prepare(-1))
    t0 = time.perf_counter()
    out = _block(call(*args))
    first = time.perf_counter() - t0
    compiled = compile_delta(before)
    seconds = []
    for i in range(repeats):
        args = _block(prepare(i))
        t0 = time.perf_counter()
        out = _block(call(*args))
        seconds.append(time.perf_counter() - t0)
    return {**summarize(seconds), "first_call_s": first, **compiled}, out
