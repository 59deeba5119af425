"""Aging observables from recorded trajectories.

For a trajectory :math:`x(t)\\in\\mathbb R^N` (the flattened position recorded by
``run_dynamics(..., record_position=True)``) and a waiting time :math:`t_w`:

* two-time correlation :math:`C(t_w, t_w + t) = x(t_w)\\cdot x(t_w + t)/N`;
* mean-square displacement :math:`\\Delta(t_w, t_w + t) = |x(t_w + t) - x(t_w)|^2/N`
  (on the sphere :math:`|x|^2 = N`: :math:`\\Delta = 2(1 - C)`).

In equilibrium both depend on :math:`t` only (time-translation invariance); in an aging
system they depend on :math:`t_w` too, and *simple aging* means they are functions of
:math:`t/t_w` alone.  :func:`scaling_collapse` measures how well curves for several
:math:`t_w` fall on one curve when plotted against :math:`t/t_w^{a}` (``a = 1``: simple
aging, ``a = 0``: no aging, ``0 < a < 1``: sub-aging).  :func:`loglog_slope` reads the
exponent of a power-law energy (loss) decay :math:`e(t) - e_\\infty \\propto t^{-\\alpha}`
or diffusion :math:`\\Delta\\propto t^{\\alpha}`.

Recording: :func:`aging_schedule` returns the sorted union of the :math:`t_w` and
:math:`t_w + t` steps (optionally with a log-spaced grid) to pass as ``record_steps``;
positions are stored only at those steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from physjax._array_types import Array, ArrayLike, Float, Int, Real, Scalar
from physjax._checks import check_finite, check_positive_int, check_step_schedule
from physjax.dynamics._common import Steps

__all__ = [
    "aging_schedule",
    "two_time_correlation",
    "mean_square_displacement",
    "Collapse",
    "scaling_collapse",
    "loglog_slope",
]


def _steps_1d(steps, name, *, positive=False):
    a = np.asarray(steps)
    if a.ndim == 0:
        a = a.reshape(1)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of step indices, "
                         f"got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.integer):
        if np.issubdtype(a.dtype, np.floating) and np.all(a == np.round(a)):
            a = a.astype(np.int64)
        else:
            raise TypeError(f"{name} must hold integer step indices, got dtype {a.dtype}")
    if np.any(a < (1 if positive else 0)):
        raise ValueError(f"{name} must be {'> 0' if positive else '>= 0'}, got min {a.min()}")
    return a.astype(np.int64)


def aging_schedule(waiting_steps: Real[ArrayLike, " w"] | Scalar | Sequence[Scalar],
                   lag_steps: Real[ArrayLike, " l"] | Scalar | Sequence[Scalar], *,
                   n_steps: int | None = None, n_log: int = 0) -> Int[np.ndarray, " t"]:
    """Record steps for aging measurements: the sorted union of :math:`\\{0\\}`,
    :math:`\\{t_w\\}`, :math:`\\{t_w + t\\}` and, with ``n_log > 0``, ``n_log`` log-spaced
    steps up to ``n_steps`` (default: the largest :math:`t_w + t`)."""
    tw = _steps_1d(waiting_steps, "waiting_steps")
    lags = _steps_1d(lag_steps, "lag_steps")
    steps = {0, *tw.tolist(), *(tw[:, None] + lags[None, :]).ravel().tolist()}
    if n_log:
        n_log = check_positive_int(n_log, "n_log")
        top = max(steps) if n_steps is None else check_positive_int(n_steps, "n_steps")
        steps |= set(np.unique(np.round(np.logspace(0, np.log10(top), n_log))).astype(int)
                     .tolist())
    return np.array(sorted(steps), dtype=np.int64)


def _indices(record_steps, waiting_steps, lag_steps):
    rec = check_step_schedule(record_steps, "record_steps")
    tw = _steps_1d(waiting_steps, "waiting_steps")
    lags = _steps_1d(lag_steps, "lag_steps")
    targets = {"waiting_steps": tw, "waiting_steps + lag_steps": tw[:, None] + lags[None, :]}
    out = []
    for name, t in targets.items():
        i = np.searchsorted(rec, t)
        i_clip = np.minimum(i, rec.size - 1)
        missing = np.asarray(t)[rec[i_clip] != t]
        if missing.size:
            raise ValueError(f"{name} contains steps that were not recorded, e.g. "
                             f"{np.unique(missing)[:5].tolist()}; record at "
                             f"aging_schedule(waiting_steps, lag_steps)")
        out.append(i_clip)
    return out


def _pairs(positions, record_steps, waiting_steps, lag_steps):
    x = jnp.asarray(positions)
    if x.ndim < 2:
        raise ValueError(f"positions must have shape (..., n_records, N), got {x.shape}")
    n_rec = np.asarray(record_steps).reshape(-1).size
    if x.shape[-2] != n_rec:
        raise ValueError(f"positions has {x.shape[-2]} records (axis -2) but record_steps "
                         f"has {n_rec}")
    iw, it = _indices(record_steps, waiting_steps, lag_steps)
    return x[..., iw, None, :], x[..., it, :]


def two_time_correlation(positions: Real[ArrayLike, "*batch t n"], record_steps: Steps,
                         waiting_steps: Real[ArrayLike, " w"] | Scalar | Sequence[Scalar],
                         lag_steps: Real[ArrayLike, " l"] | Scalar | Sequence[Scalar]
                         ) -> Float[Array, "*batch w l"]:
    """:math:`C(t_w, t_w + t) = x(t_w)\\cdot x(t_w + t)/N`.

    Args:
        positions: recorded flat positions, shape ``(..., n_records, N)`` (e.g.
            ``record.position`` from ``run_dynamics``/``run_replicas``).
        record_steps: the 1-D schedule they were recorded at (relative steps, as passed
            to the run).
        waiting_steps: :math:`t_w` in steps, shape ``(n_w,)``.
        lag_steps: :math:`t` in steps, shape ``(n_lag,)``.

    Returns:
        shape ``(..., n_w, n_lag)``.
    """
    xw, xt = _pairs(positions, record_steps, waiting_steps, lag_steps)
    return jnp.sum(xw * xt, axis=-1) / xw.shape[-1]


def mean_square_displacement(positions: Real[ArrayLike, "*batch t n"], record_steps: Steps,
                             waiting_steps: Real[ArrayLike, " w"] | Scalar | Sequence[Scalar],
                             lag_steps: Real[ArrayLike, " l"] | Scalar | Sequence[Scalar]
                             ) -> Float[Array, "*batch w l"]:
    """:math:`\\Delta(t_w, t_w + t) = |x(t_w + t) - x(t_w)|^2/N`, shape ``(..., n_w, n_lag)``
    (arguments as :func:`two_time_correlation`)."""
    xw, xt = _pairs(positions, record_steps, waiting_steps, lag_steps)
    return jnp.sum(jnp.square(xt - xw), axis=-1) / xw.shape[-1]


class Collapse(NamedTuple):
    """Result of :func:`scaling_collapse`.

    Attributes:
        scaled_lag: common grid of :math:`t/t_w^{a}` (log-spaced over the range that all
            curves cover), shape ``(n_grid,)``.
        curves: each curve interpolated (linearly in :math:`\\log(t/t_w^a)`) on that
            grid, shape ``(n_w, n_grid)``.
        spread: RMS over the grid of the standard deviation across :math:`t_w` -- 0 for a
            perfect collapse, in the units of the curves.
    """

    scaled_lag: Array
    curves: Array
    spread: Array


def scaling_collapse(waiting_times: Real[ArrayLike, " w"] | Sequence[Scalar],
                     lag_times: Real[ArrayLike, " l"] | Sequence[Scalar],
                     curves: Real[ArrayLike, "w l"], *, exponent: Scalar = 1.0,
                     n_grid: int = 32) -> Collapse:
    """Collapse quality of curves :math:`f(t_w, t_w + t)` (``curves[w, l]`` at
    ``waiting_times[w]``, ``lag_times[l]``; e.g. the replica mean of
    :func:`two_time_correlation`) plotted against :math:`t/t_w^{a}`, ``a = exponent``.

    Compare ``exponent=1`` (simple aging) with ``exponent=0`` (time-translation invariance):
    the smaller ``spread`` says which scaling holds.
    """
    tw = np.asarray(check_finite(waiting_times, "waiting_times"), np.float64).reshape(-1)
    lags = np.asarray(check_finite(lag_times, "lag_times"), np.float64).reshape(-1)
    check_finite(exponent, "exponent")
    f = jnp.asarray(curves)
    if f.shape != (tw.size, lags.size):
        raise ValueError(f"curves must have shape (len(waiting_times), len(lag_times)) = "
                         f"({tw.size}, {lags.size}), got {f.shape}")
    if tw.size < 2:
        raise ValueError("waiting_times: a collapse needs at least 2 waiting times")
    if np.any(tw <= 0) or np.any(lags <= 0):
        raise ValueError("waiting_times and lag_times must be > 0 for a log scaling variable")
    if np.any(np.diff(lags) <= 0):
        raise ValueError("lag_times must be strictly increasing")
    n_grid = check_positive_int(n_grid, "n_grid", minimum=2)
    log_x = np.log(lags)[None, :] - exponent * np.log(tw)[:, None]       # (n_w, n_lag)
    lo, hi = log_x[:, 0].max(), log_x[:, -1].min()
    if not lo < hi:
        raise ValueError(f"the curves do not overlap in t/t_w^{exponent}: ranges of "
                         f"log(t/t_w^a) are disjoint; use more lag times")
    grid = np.linspace(lo, hi, n_grid)
    interp = jnp.stack([jnp.interp(grid, log_x[w], f[w]) for w in range(tw.size)])
    spread = jnp.sqrt(jnp.mean(jnp.var(interp, axis=0)))
    return Collapse(scaled_lag=jnp.asarray(np.exp(grid)), curves=interp, spread=spread)


def loglog_slope(times: Real[ArrayLike, " t"] | Sequence[Scalar],
                 values: Real[ArrayLike, " t"] | Sequence[Scalar], *,
                 t_min: Scalar | None = None,
                 t_max: Scalar | None = None) -> Float[Array, ""]:
    """Least-squares slope of :math:`\\log|v|` against :math:`\\log t` for
    ``t_min <= t <= t_max``: the exponent :math:`\\alpha` of :math:`v\\propto t^{\\alpha}`
    (negative for a decay such as :math:`e(t) - e_\\infty`)."""
    t = np.asarray(check_finite(times, "times"), np.float64).reshape(-1)
    v = jnp.asarray(check_finite(values, "values")).reshape(-1)
    if t.size != v.size:
        raise ValueError(f"times and values must have the same length, got {t.size} "
                         f"and {v.size}")
    keep = (t > 0) & (t >= (t_min if t_min is not None else 0.0)) \
        & (t <= (t_max if t_max is not None else np.inf))
    if keep.sum() < 2:
        raise ValueError("times: fewer than 2 positive times in [t_min, t_max]")
    lt = np.log(t[keep])
    lv = jnp.log(jnp.abs(v[np.flatnonzero(keep)]))
    lt_c = lt - lt.mean()
    return jnp.sum(lt_c * (lv - lv.mean())) / np.sum(lt_c ** 2)
