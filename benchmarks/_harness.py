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
