r"""Speciation and collapse: the dynamical regimes of the backward process.

Biroli, Bonnaire, de Bortoli and Mézard ("Dynamical regimes of diffusion models", 2024)
show that, for large dimension :math:`d` and :math:`n` training points, the backward
process (Ornstein--Uhlenbeck forward process, :math:`a_t = e^{-t}`,
:math:`\Delta_t = 1 - e^{-2t}`) goes through three regimes as :math:`t` decreases from
:math:`T`:

* **Speciation** at :math:`t_S = \tfrac12\log\Lambda`, :math:`\Lambda` the largest eigenvalue
  of the data covariance matrix: below :math:`t_S` the trajectory has chosen its class
  (symmetry breaking along the top principal direction).  For another schedule the same
  criterion is written through the noise-to-signal ratio :math:`r_t = \Delta_t/a_t^2`
  (the only way the noised law depends on :math:`t`): :math:`r_{t_S} = \Lambda - 1`,
  which for OU is exactly :math:`e^{2t_S} = \Lambda`.
* **Collapse** at :math:`t_C`, the zero of the *excess entropy*

  .. math:: f(t) = s(t) - \tfrac12\log(2\pi e\,\Delta_t) - \frac{\log n}{d},

  :math:`s(t)` the entropy per dimension of the exact noised law :math:`p_t` and
  :math:`\tfrac12\log(2\pi e\Delta_t) + \log n/d` that of the noised empirical measure when
  its :math:`n` Gaussians do not overlap.  For :math:`t < t_C` (:math:`f > 0`) the
  empirical measure cannot carry the entropy of :math:`p_t`: the trajectory is attracted to
  one training point (condensation, as in the random energy model).
  **Approximation used here:** :math:`s(t)` is the entropy of the Gaussian with the data
  covariance (eigenvalues :math:`\lambda_i`), :math:`s(t) = \frac1{2d}\sum_i
  \log(2\pi e(a_t^2\lambda_i + \Delta_t))`, so

  .. math:: f(t) = \frac1{2d}\sum_i \log\Big(1 + \frac{\lambda_i}{r_t}\Big) - \frac{\log n}{d},

  exact for Gaussian data (e.g. white data: :math:`\Delta_{t_C} = n^{-2/d}`) and an upper
  bound on :math:`s(t)` for any other law (the Gaussian maximizes entropy at fixed
  covariance), i.e. an upper bound on :math:`t_C` in general.

Measurements in simulations:

* :func:`cloning_curve` -- the U-turn of :func:`physjax.diffusion.clone`: the probability
  :math:`\phi(t)` that two clones regenerated from a common :math:`x_t` end in the same class
  (1 below :math:`t_S`, the chance level :math:`\sum_k \pi_k^2` far above), and
  :func:`same_class_probability` for labels already at hand.
* :func:`collapse_curve` -- along backward trajectories driven by the empirical score, the
  posterior weight of the nearest training point :math:`\max_\mu w_\mu(x_t, t)` (mean over
  trajectories) and the fraction of trajectories where it exceeds 1/2; it crosses 1/2 at
  the collapse time.
* :func:`collapsed_fraction` -- the fraction of generated samples that coincide with a
  training point (nearest training point closer than ``ratio`` times the second nearest).
* :func:`crossing_time` -- where a measured curve crosses a level.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from physjax._array_types import Array, ArrayLike, Float, Key, Real, Scalar, Shaped
from physjax._checks import check_finite, check_key, check_positive_int, is_concrete
from physjax._options import Integrator, Process
from physjax.diffusion._common import KernelObserver as _KernelObserver
from physjax.diffusion._common import check_data as _check_data
from physjax.diffusion._common import check_schedule as _check_schedule
from physjax.diffusion._common import check_time as _check_time
from physjax.diffusion.backward import (
    clone,
    prior_sample,
    reverse,
    time_grid,
)
from physjax.diffusion.schedules import OU, Schedule
from physjax.diffusion.scores import EmpiricalScore

__all__ = [
    "covariance_spectrum",
    "speciation_time",
    "speciation_time_from_spectrum",
    "excess_entropy",
    "collapse_time",
    "collapse_time_from_spectrum",
    "same_class_probability",
    "CloningCurve",
    "cloning_curve",
    "nearest_posterior_weight",
    "CollapseCurve",
    "collapse_curve",
    "collapsed_fraction",
    "crossing_time",
]


def _schedule_or_ou(schedule):
    return OU() if schedule is None else _check_schedule(schedule)


def _check_samples(data, name="data", min_n=1) -> Array:
    data = _check_data(data, name, min_ndim=2)
    if data.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d), got {data.shape}")
    if data.shape[0] < min_n:
        raise ValueError(f"{name} must hold n >= {min_n} points, got n = {data.shape[0]}")
    if data.shape[1] < 1:
        raise ValueError(f"{name} must have d >= 1 dimensions, got shape {data.shape}")
    return data


def covariance_spectrum(data: Real[ArrayLike, "n d"] | Sequence[Sequence[float]], *,
                        centered: bool = True) -> Float[Array, " d"]:
    """Eigenvalues (descending) of the data covariance :math:`\\frac1n\\sum_\\mu
    (x^\\mu - \\bar x)(x^\\mu - \\bar x)^\\top` (``centered=False``: the second-moment
    matrix :math:`\\frac1n\\sum_\\mu x^\\mu x^{\\mu\\top}`)."""
    data = _check_samples(data, "data", min_n=2 if centered else 1)
    x = data - jnp.mean(data, axis=0) if centered else data
    c = x.T @ x / x.shape[0]
    return jnp.linalg.eigvalsh(c)[::-1]


def speciation_time_from_spectrum(largest_eigenvalue: Real[ArrayLike, "*batch"],
                                  schedule: Schedule | None = None
                                  ) -> Float[Array, "*batch"]:
    """:math:`t_S` from the largest covariance eigenvalue :math:`\\Lambda`: the time at
    which :math:`\\Delta_t/a_t^2 = \\Lambda - 1`; :math:`\\tfrac12\\log\\Lambda` for OU (the
    default).  Returns 0 when :math:`\\Lambda \\le 1` (no direction stands out of the
    noise)."""
    schedule = _schedule_or_ou(schedule)
    lam = jnp.asarray(largest_eigenvalue)
    if is_concrete(lam) and not np.all(np.isfinite(np.asarray(lam))):
        raise ValueError("largest_eigenvalue must be finite")
    return jnp.where(lam > 1, schedule.time_at_noise_to_signal(jnp.maximum(lam - 1, 0.0)),
                     0.0)


def speciation_time(data: Real[ArrayLike, "n d"] | Sequence[Sequence[float]],
                    schedule: Schedule | None = None, *, centered: bool = True) -> Float[Array, ""]:
    """Speciation time :math:`t_S = \\tfrac12\\log\\Lambda` (OU), :math:`\\Lambda` the largest
    eigenvalue of the covariance of ``data`` (shape ``(n, d)``; see
    :func:`speciation_time_from_spectrum` for other schedules)."""
    return speciation_time_from_spectrum(covariance_spectrum(data, centered=centered)[0],
                                         schedule)


def excess_entropy(t: Real[ArrayLike, "*#batch"],
                   eigenvalues: Real[ArrayLike, "*#batch d"] | Sequence[float], n: int,
                   schedule: Schedule | None = None) -> Float[Array, "*#batch"]:
    """Excess entropy per dimension :math:`f(t) = \\frac1{2d}\\sum_i\\log(1 + \\lambda_i a_t^2
    /\\Delta_t) - \\log(n)/d` (Gaussian approximation of :math:`s(t)`; see the module
    docstring); collapse for :math:`f > 0`."""
    schedule = _schedule_or_ou(schedule)
    n = check_positive_int(n, "n")
    check_finite(eigenvalues, "eigenvalues")
    lam = jnp.asarray(eigenvalues)
    t = _check_time(t, schedule, "t")
    r = schedule.noise_to_signal(t)[..., None]
    d = lam.shape[-1]
    return 0.5 * jnp.sum(jnp.log1p(jnp.maximum(lam, 0.0) / r), axis=-1) / d - np.log(n) / d


def collapse_time_from_spectrum(eigenvalues: Real[ArrayLike, " d"] | Sequence[float], n: int,
                                schedule: Schedule | None = None,
                                *, n_bisect: int = 200) -> Float[Array, ""]:
    """The collapse time :math:`t_C`, zero of :func:`excess_entropy`, for ``n`` training
    points drawn from a law whose covariance has ``eigenvalues`` (shape ``(d,)``).

    :math:`f` depends on :math:`t` only through :math:`r_t = \\Delta_t/a_t^2` and decreases
    with it, so the root is found by bisection in :math:`\\log r` and mapped back with the
    schedule.  ``inf`` for ``n == 1`` (a single point is memorized at every time); white
    data give :math:`\\Delta_{t_C} = n^{-2/d}` (OU).  May exceed :math:`T`."""
    schedule = _schedule_or_ou(schedule)
    n = check_positive_int(n, "n")
    n_bisect = check_positive_int(n_bisect, "n_bisect")
    lam = jnp.maximum(jnp.asarray(eigenvalues, dtype=jnp.result_type(float)), 0.0)
    if lam.ndim != 1 or lam.shape[0] < 1:
        raise ValueError(f"eigenvalues must have shape (d,), got {lam.shape}")
    if is_concrete(lam) and not np.all(np.isfinite(np.asarray(lam))):
        raise ValueError("eigenvalues must be finite")
    d = lam.shape[0]
    if n == 1:
        return jnp.asarray(jnp.inf, lam.dtype)

    def f(logr):
        return 0.5 * jnp.sum(jnp.log1p(lam * jnp.exp(-logr))) / d - np.log(n) / d

    def body(_, lo_hi):
        lo, hi = lo_hi
        mid = 0.5 * (lo + hi)
        pos = f(mid) > 0
        return jnp.where(pos, mid, lo), jnp.where(pos, hi, mid)

    lo, hi = jax.lax.fori_loop(0, n_bisect, body, (jnp.asarray(-60.0, lam.dtype),
                                                   jnp.asarray(60.0, lam.dtype)))
    r = jnp.exp(0.5 * (lo + hi))
    return schedule.time_at_noise_to_signal(r)


def collapse_time(data: Real[ArrayLike, "n d"] | Sequence[Sequence[float]],
                  schedule: Schedule | None = None, *, n: int | None = None) -> Float[Array, ""]:
    """Collapse time from the excess-entropy criterion, with the spectrum of the covariance
    of ``data`` (shape ``(n_data, d)``) and ``n`` training points (default ``n_data``).

    Pass a large sample of the data law as ``data`` and the training-set size as ``n``
    when the training set is too small to estimate the covariance (``n < d``)."""
    data = _check_samples(data, "data", min_n=2)
    n = data.shape[0] if n is None else check_positive_int(n, "n")
    return collapse_time_from_spectrum(covariance_spectrum(data), n, schedule)


# ------------------------------------------------------------------------- measurements

def same_class_probability(labels: Shaped[ArrayLike, "*batch m clones"] | Sequence[Any]
                           ) -> Float[Array, "*batch"]:
    """Probability that two clones share a class: ``labels`` of shape ``(..., m,
    n_clones)`` (integer classes of the ``n_clones`` regenerations of each of ``m``
    samples, ``n_clones >= 2``); the fraction of agreeing clone pairs averaged over the
    ``m`` samples, shape ``(...)``."""
    labels = jnp.asarray(labels)
    if labels.ndim < 2 or labels.shape[-1] < 2:
        raise ValueError(f"labels must have shape (..., m, n_clones) with n_clones >= 2, "
                         f"got {labels.shape}")
    k = labels.shape[-1]
    same = labels[..., :, None] == labels[..., None, :]
    pairs = (jnp.sum(same, axis=(-1, -2)) - k) / (k * (k - 1))
    return jnp.mean(pairs, axis=-1)


class CloningCurve(NamedTuple):
    """Output of :func:`cloning_curve`: the U-turn ``times``, the same-class probability
    :math:`\\phi(t)` and its standard error (over the samples)."""

    times: Array
    probability: Array
    stderr: Array


def cloning_curve(key: Key, schedule: Schedule, score: Callable[..., Any],
                  x0: Real[ArrayLike, "m d"] | Real[ArrayLike, " d"],
                  times: Scalar | Real[ArrayLike, " k"] | Sequence[float],
                  classify: Callable[..., Any], *, n_clones: int = 2, n_steps: int = 100,
                  t_end: Scalar = 1e-3, process: Process = "sde",
                  method: Integrator = "euler_maruyama") -> CloningCurve:
    """:math:`\\phi(t)`: for each U-turn time in ``times``, noise every sample of ``x0`` to
    :math:`t`, regenerate ``n_clones`` times (:func:`physjax.diffusion.clone`) and measure
    the fraction of clone pairs that ``classify`` (one sample ``(d,)`` -> integer class)
    puts in the same class."""
    if not callable(classify):
        raise TypeError(f"classify must be a callable x -> class label, got "
                        f"{type(classify).__name__}")
    _check_schedule(schedule)
    times = _check_time(jnp.atleast_1d(jnp.asarray(times)), schedule, "times")
    n_clones = check_positive_int(n_clones, "n_clones", minimum=2)
    res = clone(key, schedule, score, x0, times, n_clones, n_steps=n_steps, t_end=t_end,
                process=process, method=method)
    labels = jax.vmap(jax.vmap(jax.vmap(classify)))(res.endpoints)   # (k, m, n_clones)
    k = labels.shape[-1]
    same = labels[..., :, None] == labels[..., None, :]
    per_sample = (jnp.sum(same, axis=(-1, -2)) - k) / (k * (k - 1))     # (k_t, m)
    m = per_sample.shape[-1]
    return CloningCurve(times, jnp.mean(per_sample, -1),
                        jnp.std(per_sample, -1) / np.sqrt(max(m - 1, 1)))


def nearest_posterior_weight(score: EmpiricalScore, x: Real[ArrayLike, "n d"],
                             t: Scalar) -> Float[Array, " n"]:
    """:math:`\\max_\\mu w_\\mu(x, t)`, the posterior weight of the nearest training point,
    for each row of ``x``; shape ``(n,)``."""
    if not isinstance(score, EmpiricalScore):
        raise TypeError(f"score must be an EmpiricalScore, got {type(score).__name__}")
    x = _check_data(x, "x", min_ndim=2)
    d = score.data.shape[-1]
    if x.ndim != 2 or x.shape[-1] != d:
        raise ValueError(f"x must have shape (n, {d}) (the training points' dimension), got "
                         f"{x.shape}")
    t = _check_time(t, score.schedule, "t")
    return jnp.max(score.posterior_weights(x, t), axis=-1)


@dataclasses.dataclass(frozen=True)
class _NearestWeight(_KernelObserver):
    """Run-loop observer: max and argmax of the empirical posterior weights."""

    def __call__(self, model, state, info):
        t = model.times[state.k].astype(state.x.dtype)
        w = model.score.posterior_weights(state.x, t)
        return jnp.max(w, -1), jnp.argmax(w, -1)


class CollapseCurve(NamedTuple):
    """Output of :func:`collapse_curve` (one entry per grid time, decreasing).

    Attributes:
        times: the grid times.
        mean_weight: mean over trajectories of the nearest training point's posterior
            weight :math:`\\max_\\mu w_\\mu(x_t, t)`.
        collapsed_fraction: fraction of trajectories with that weight above 1/2.
        nearest: index of the nearest training point at the last time, per trajectory.
    """

    times: Array
    mean_weight: Array
    collapsed_fraction: Array
    nearest: Array


def collapse_curve(key: Key, score: EmpiricalScore, n_trajectories: int, *,
                   n_steps: int = 200, t_end: Scalar = 1e-3, process: Process = "sde",
                   method: Integrator = "euler_maruyama") -> CollapseCurve:
    """Run ``n_trajectories`` backward trajectories from the reference law at :math:`T`
    driven by the empirical score ``score`` and record, at every grid time, the posterior
    weight of the nearest training point (its crossing of 1/2 measures :math:`t_C`)."""
    if not isinstance(score, EmpiricalScore):
        raise TypeError(f"score must be an EmpiricalScore, got {type(score).__name__}")
    key = check_key(key, traced=True)
    n_trajectories = check_positive_int(n_trajectories, "n_trajectories")
    schedule = score.schedule
    d = score.data.shape[1]
    k0, k1 = jax.random.split(key)
    grid = time_grid(schedule, n_steps, t_end=t_end)
    x = prior_sample(k0, schedule, n_trajectories, d, dtype=score.data.dtype)

    res = reverse(k1, schedule, score, x, grid, process=process, method=method,
                  record_steps=np.arange(n_steps + 1), observe=_NearestWeight())
    wmax, idx = res.records
    return CollapseCurve(res.times, jnp.mean(wmax, -1), jnp.mean(wmax > 0.5, -1), idx[-1])


def collapsed_fraction(samples: Real[ArrayLike, "n d"], training: Real[ArrayLike, "k d"], *,
                       ratio: Scalar = 1.0 / 3.0) -> Float[Array, ""]:
    """Fraction of ``samples`` that coincide with a training point: the nearest training
    point is closer than ``ratio`` times the second nearest (``n >= 2``; for ``n == 1``,
    closer than ``ratio`` times the root-mean-square norm of the samples)."""
    samples = _check_samples(samples, "samples")
    training = _check_samples(training, "training")
    if samples.shape[1] != training.shape[1]:
        raise ValueError(f"samples and training must have the same d, got "
                         f"{samples.shape[1]} and {training.shape[1]}")
    if not 0 < ratio <= 1:
        raise ValueError(f"ratio must be in (0, 1], got {ratio!r}")
    d2 = (jnp.sum(samples**2, 1)[:, None] - 2 * samples @ training.T
          + jnp.sum(training**2, 1)[None, :])
    d2 = jnp.maximum(d2, 0.0)
    if training.shape[0] == 1:
        ref = jnp.mean(jnp.sum(samples**2, 1))
        return jnp.mean(d2[:, 0] < ratio**2 * ref)
    two = -jax.lax.top_k(-d2, 2)[0]
    return jnp.mean(two[:, 0] < ratio**2 * two[:, 1])


def crossing_time(times: Real[ArrayLike, " t"] | Sequence[float],
                  values: Real[ArrayLike, " t"] | Sequence[float],
                  level: Scalar = 0.5) -> float:
    """The time at which a measured curve ``values(times)`` first crosses ``level`` when
    scanned from the largest time downwards (the direction of the backward process),
    by linear interpolation between the two bracketing points; ``nan`` if it never does."""
    t = np.asarray(check_finite(times, "times"), np.float64)
    v = np.asarray(check_finite(values, "values"), np.float64)
    check_finite(level, "level")
    if t.shape != v.shape or t.ndim != 1:
        raise ValueError(f"times and values must be 1-D of the same length, got "
                         f"{t.shape} and {v.shape}")
    order = np.argsort(-t)
    t, v = t[order], v[order]
    s = np.sign(v - level)
    for i in range(len(t) - 1):
        if s[i] == 0:
            return float(t[i])
        if s[i] * s[i + 1] < 0:
            w = (level - v[i]) / (v[i + 1] - v[i])
            return float(t[i] + w * (t[i + 1] - t[i]))
    return float(t[-1]) if s[-1] == 0 else float("nan")
