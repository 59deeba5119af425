r"""Monte Carlo time-series statistics for spin systems.

Convention: **time is the last axis** by default.  Every function takes a keyword
``axis`` (default ``-1``) naming the time axis; all other axes are batch axes (replicas,
temperatures, couplings) and broadcast, so a ``(n_temperatures, n_replicas, n_sweeps)``
array gives ``(n_temperatures, n_replicas)`` results in one call, with no Python loop.

Error bars of correlated Monte Carlo data
----------------------------------------
For a stationary series :math:`x_1, \dots, x_n` with variance :math:`\sigma^2` and normalized
autocorrelation :math:`\rho(t)`, the variance of the sample mean is

.. math::  \operatorname{var}(\bar x) \simeq 2\,\tau_{\rm int}\,\sigma^2 / n,
           \qquad \tau_{\rm int} = \tfrac12 + \sum_{t \ge 1} \rho(t),

so ``n / (2 tau_int)`` is the number of effectively independent samples.  Three
estimators are provided: :func:`integrated_autocorrelation_time` (Sokal's automatic
window), blocking (:func:`binning_analysis`, :func:`binning_error`), and for nonlinear
estimators (Binder cumulant, specific heat, susceptibility) the blocked
:func:`jackknife`.  Recipe for an error bar on a thermodynamic estimator::

    C, dC = jackknife(lambda e: specific_heat(e, T, N), energies, n_blocks=32)
    U, dU = jackknife(binder_cumulant, magnetizations)

which is reliable when every block (``n // n_blocks`` samples) is much longer than
``tau_int`` (check with :func:`integrated_autocorrelation_time`).

Thermodynamic estimators take per-sweep time series of the energy per spin :math:`e_t`
and magnetization per spin :math:`m_t` of a lattice of :math:`N` spins at temperature
:math:`T` (units with :math:`k_B = 1`) and return quantities *per spin*.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from physjax._array_types import Array, ArrayLike, Float, Int, PyTree, Real, Scalar, Size
from physjax._checks import (
    check_choice,
    check_positive,
    check_positive_int,
    check_temperature,
    check_time_series,
    is_concrete,
)
from physjax._options import ErrorMethod

__all__ = [
    "ErrorMethod",
    "autocorrelation",
    "integrated_autocorrelation_time",
    "binning_analysis",
    "binning_error",
    "mean_and_error",
    "jackknife",
    "binder_cumulant",
    "specific_heat",
    "susceptibility",
]

#: A real time series (or a batch of them): an array, or a list of numbers.  The time axis
#: is any one axis (``axis``), so the result shapes are written without binding it.
Series = Real[ArrayLike, "..."] | Sequence[float]
#: The number of spins: a static integer, or a traced integer scalar.
NSpins = Size | Int[ArrayLike, ""]

# ----------------------------------------------------------------------------- helpers


def _series(x: ArrayLike, name: str, axis: int, min_length: int) -> Array:
    """Validate ``x`` and return it as a float array with the time axis moved last."""
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        x = np.asarray(x)
    axis = check_time_series(x, name, axis=axis, min_length=min_length)
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        x = x.astype(jnp.result_type(float))
    return jnp.moveaxis(x, axis, -1)


def _check_n_spins(n_spins: Any) -> Any:
    if is_concrete(n_spins):
        if isinstance(n_spins, np.ndarray | jax.Array) and np.ndim(n_spins) == 0:
            n_spins = n_spins.item()
        return check_positive_int(n_spins, "n_spins")
    return n_spins


def _autocovariance(x: Array) -> Array:
    r"""Biased autocovariance :math:`C(t) = \frac1n \sum_{s=1}^{n-t} \delta x_s \delta x_{s+t}`
    for ``t = 0..n-1`` along the last axis, by FFT zero-padded to ``>= 2n - 1`` (no wrap)."""
    n = x.shape[-1]
    nfft = 1 << (2 * n - 1).bit_length()
    dx = x - jnp.mean(x, axis=-1, keepdims=True)
    f = jnp.fft.rfft(dx, n=nfft, axis=-1)
    power = (f.real**2 + f.imag**2).astype(f.dtype)
    return jnp.fft.irfft(power, n=nfft, axis=-1)[..., :n].astype(x.dtype) / n


def _normalized(acov: Array, x: Array) -> tuple[Array, Array]:
    """rho(t) = C(t)/C(0); a constant series (max == min) gets rho(t) = delta_{t,0}.

    The explicit test is needed because the floating-point mean of a constant series is
    not always the constant, which would leave a tiny offset with rho(t) = 1 - t/n.
    """
    constant = (jnp.max(x, axis=-1) == jnp.min(x, axis=-1))[..., None]
    c0 = acov[..., :1]
    rho = acov / jnp.where(constant, 1.0, c0)
    delta = (jnp.arange(x.shape[-1]) == 0).astype(rho.dtype)
    return jnp.where(constant, delta, rho), constant[..., 0]


@jax.jit
def _autocorrelation_last(x: Array) -> Array:
    rho, _ = _normalized(_autocovariance(x), x)
    return rho


@jax.jit
def _tau_and_variance(x: Array, c: Array) -> tuple[Array, Array]:
    """Sokal window on the last axis; returns (tau_int, biased variance C(0))."""
    n = x.shape[-1]
    acov = _autocovariance(x)
    rho, constant = _normalized(acov, x)
    # tau_w[..., k] = tau_int(W) for W = k + 1, W = 1 .. n-1
    tau_w = 0.5 + jnp.cumsum(rho[..., 1:], axis=-1)
    window = jnp.arange(1, n, dtype=tau_w.dtype)
    accepted = window >= c * tau_w
    first = jnp.argmax(accepted, axis=-1)
    first = jnp.where(jnp.any(accepted, axis=-1), first, n - 2)
    tau = jnp.take_along_axis(tau_w, first[..., None], axis=-1)[..., 0]
    variance = jnp.where(constant, 0.0, acov[..., 0])
    return tau, variance


def _block_means(x: Array, block: int) -> Array:
    """Means of consecutive blocks of ``block`` samples (last axis); the leading
    ``n mod block`` samples are dropped, so blocks are aligned to the end of the series."""
    n = x.shape[-1]
    n_blocks = n // block
    y = x[..., n - n_blocks * block:]
    return jnp.mean(y.reshape(*y.shape[:-1], n_blocks, block), axis=-1)


def _central_moment2(x: Array, ddof: int = 0) -> Array:
    """Variance along the last axis, exactly 0 for a constant series (the floating-point
    mean of equal numbers need not equal them)."""
    variance = jnp.var(x, axis=-1, ddof=ddof)
    return jnp.where(jnp.max(x, axis=-1) == jnp.min(x, axis=-1), 0.0, variance)


def _standard_error_of_blocks(means: Array) -> Array:
    """sqrt( s^2 / n_b ) with the unbiased variance s^2 of the n_b block means."""
    return jnp.sqrt(_central_moment2(means, ddof=1) / means.shape[-1])


@partial(jax.jit, static_argnames="min_bins")
def _binning_error_last(x: Array, min_bins: int) -> Array:
    n = x.shape[-1]
    block = 1 << (n // min_bins).bit_length() - 1  # largest power of two <= n // min_bins
    return _standard_error_of_blocks(_block_means(x, block))


@jax.jit
def _binning_analysis_last(x: Array) -> tuple[Array, Array]:
    sizes, errors = [], []
    y, block = x, 1
    while y.shape[-1] >= 2:
        sizes.append(block)
        errors.append(_standard_error_of_blocks(y))
        if y.shape[-1] % 2:  # drop the oldest sample to keep blocks aligned to the end
            y = y[..., 1:]
        y = 0.5 * (y[..., 0::2] + y[..., 1::2])
        block *= 2
    return jnp.asarray(sizes), jnp.stack(errors, axis=-1)


# ------------------------------------------------------------------- autocorrelations


def autocorrelation(x: Series, *, axis: int = -1) -> Float[Array, "*shape"]:
    r"""Normalized autocorrelation function :math:`\rho(t)`, ``t = 0 .. n-1``.

    .. math::  \rho(t) = C(t)/C(0), \qquad
               C(t) = \frac1n \sum_{s=1}^{n-t} (x_s - \bar x)(x_{s+t} - \bar x),

    the standard (biased, positive-definite) estimator, computed by FFT with zero padding
    to at least ``2n - 1`` points, i.e. without periodic wrap-around, in
    :math:`O(n \log n)`.  A constant series has :math:`\rho(t) = \delta_{t0}`.

    Args:
        x: real series of at least 2 samples; time along ``axis``.
        axis: the time axis.

    Returns:
        :math:`\rho(t)` with the shape of ``x`` (lag along ``axis``).
    """
    xs = _series(x, "x", axis, 2)
    return jnp.moveaxis(_autocorrelation_last(xs), -1, axis)


def integrated_autocorrelation_time(x: Series, c: Scalar = 5.0, *, axis: int = -1,
                                    ) -> Float[Array, "*batch"]:
    r"""Integrated autocorrelation time with Sokal's automatic window.

    .. math::  \hat\tau_{\rm int}(W) = \tfrac12 + \sum_{t=1}^{W} \hat\rho(t),

    with :math:`\hat\rho` from :func:`autocorrelation`, evaluated at the smallest window
    :math:`W \ge 1` with :math:`W \ge c\,\hat\tau_{\rm int}(W)` (Sokal 1997, "Monte Carlo
    methods in statistical mechanics"); if no window qualifies, :math:`W = n-1`.  The
    convention is the one where :math:`\operatorname{var}(\bar x) \simeq 2\tau_{\rm int}
    \sigma^2/n`: independent samples give :math:`\tau_{\rm int} = \frac12`, an AR(1) chain
    :math:`x_{t+1} = \rho x_t + \sqrt{1-\rho^2}\,\xi_t` gives
    :math:`\frac12 (1+\rho)/(1-\rho)`.  Statistical error (Sokal):
    :math:`\operatorname{var}(\hat\tau) \approx 2(2W+1)\tau^2/n`; the truncation bias is
    small once :math:`c \gtrsim 4\text{--}6` for roughly exponential decays.  Reliable only
    for :math:`n \gg 1000\,\tau_{\rm int}`.

    A constant series (zero variance) has no autocorrelation function, so its
    :math:`\tau_{\rm int}` is undefined: a concrete ``x`` with a constant series raises a
    ``ValueError`` (under a trace such a series gives ``0.5``; :func:`mean_and_error`
    accepts constant series and returns a zero error).  Anticorrelated series can give
    :math:`\hat\tau < \frac12`.

    Args:
        x: real series of at least 2 samples; time along ``axis``, other axes are batch.
        c: window factor, > 0 (Sokal recommends 4-10 ; default 5).
        axis: the time axis.

    Returns:
        :math:`\hat\tau_{\rm int}` with the shape of ``x`` without ``axis``.
    """
    xs = _series(x, "x", axis, 2)
    check_positive(c, "c")
    if is_concrete(xs):
        a = np.asarray(xs)
        constant = np.max(a, axis=-1) == np.min(a, axis=-1)
        if np.any(constant):
            where = "" if a.ndim == 1 else f" (batch index {np.argwhere(constant)[0].tolist()})"
            raise ValueError(f"x holds a constant series{where}: its integrated "
                             f"autocorrelation time is undefined (zero variance)")
    tau, _ = _tau_and_variance(xs, jnp.asarray(c, xs.dtype))
    return tau


# ------------------------------------------------------------------------- blocking


def binning_analysis(x: Series, *, axis: int = -1,
                     ) -> tuple[Int[Array, " l"], Float[Array, "*batch l"]]:
    r"""Standard error of the mean against block size (blocking / Flyvbjerg-Petersen).

    For block sizes :math:`b = 1, 2, 4, \dots` (while at least 2 blocks remain) the series
    is cut into :math:`n_b = \lfloor n/b \rfloor` consecutive blocks (the leading
    :math:`n \bmod b` samples, the oldest, are dropped) with means :math:`\bar x_k`, and

    .. math::  \varepsilon(b) = \sqrt{\frac{1}{n_b (n_b-1)} \sum_k (\bar x_k - \bar{\bar x})^2}.

    :math:`\varepsilon(b)` grows with :math:`b` and reaches a plateau at the true error
    once :math:`b \gg \tau_{\rm int}`; the relative underestimate of the variance at
    block size :math:`b` is :math:`\approx \sum_t t\rho(t)/(b\,\tau_{\rm int})`.  Plot
    :math:`\varepsilon(b)` to see the plateau; the noise of each point is
    :math:`\varepsilon/\sqrt{2(n_b-1)}`.

    Args:
        x: real series of at least 2 samples; time along ``axis``.
        axis: the time axis.

    Returns:
        ``(block_sizes, errors)``: ``block_sizes`` of shape ``(L,)`` and ``errors`` with
        the batch shape of ``x`` followed by ``L``.
    """
    xs = _series(x, "x", axis, 2)
    return _binning_analysis_last(xs)


def binning_error(x: Series, min_bins: int = 32, *, axis: int = -1) -> Float[Array, "*batch"]:
    r"""Standard error of the mean from blocking at the largest safe block size.

    Rule: :math:`\varepsilon(b)` of :func:`binning_analysis` at the largest power of two
    :math:`b` that still leaves at least ``min_bins`` blocks, i.e.
    :math:`b = 2^{\lfloor \log_2 (n/\text{min\_bins}) \rfloor}` and
    :math:`\text{min\_bins} \le n_b < 2\,\text{min\_bins}`.  The relative statistical
    noise of the error is then :math:`\le 1/\sqrt{2(\text{min\_bins}-1)}` (13 % for 32),
    and the systematic underestimate of the variance is
    :math:`\approx \sum_t t\rho(t)/(b\,\tau_{\rm int})` (for AR(1),
    :math:`2\rho/((1-\rho^2)\,b)`), negligible when :math:`n \gg \text{min\_bins}
    \cdot \tau_{\rm int}`.  Check the plateau with :func:`binning_analysis` when unsure.

    Args:
        x: real series of at least ``min_bins`` samples; time along ``axis``.
        min_bins: the minimum number of blocks, an integer >= 2.
        axis: the time axis.

    Returns:
        The standard error of the mean, with the shape of ``x`` without ``axis``.
    """
    min_bins = check_positive_int(min_bins, "min_bins", minimum=2)
    xs = _series(x, "x", axis, min_bins)
    return _binning_error_last(xs, min_bins)


def mean_and_error(x: Series, method: ErrorMethod = "tau", *, c: Scalar = 5.0,
                   min_bins: int = 32, axis: int = -1,
                   ) -> tuple[Float[Array, "*batch"], Float[Array, "*batch"]]:
    r"""Sample mean and its standard error, accounting for autocorrelation.

    ``method="tau"``:
    :math:`\varepsilon = \sqrt{2\,\hat\tau_{\rm int}\,\hat\sigma^2/n}
    = \sqrt{\tfrac1n \big[C(0) + 2\sum_{t=1}^{W} C(t)\big]}` with
    :math:`\hat\sigma^2 = C(0)` the biased variance and :math:`\hat\tau_{\rm int}, W` from
    :func:`integrated_autocorrelation_time` (a negative :math:`\hat\tau`, possible for
    strongly anticorrelated data, is clipped to 0).  ``method="binning"``:
    :math:`\varepsilon` from :func:`binning_error`.  The mean is over all ``n`` samples
    in both cases.  A constant series has error 0.

    Args:
        x: real series; time along ``axis`` (at least 2 samples, ``min_bins`` for binning).
        method: ``"tau"`` or ``"binning"``.
        c: Sokal window factor for ``"tau"``.
        min_bins: minimum number of blocks for ``"binning"``.
        axis: the time axis.

    Returns:
        ``(mean, error)``, each with the shape of ``x`` without ``axis``.
    """
    check_choice(method, "method", ErrorMethod)
    if method == "binning":
        min_bins = check_positive_int(min_bins, "min_bins", minimum=2)
        xs = _series(x, "x", axis, min_bins)
        return jnp.mean(xs, axis=-1), _binning_error_last(xs, min_bins)
    xs = _series(x, "x", axis, 2)
    check_positive(c, "c")
    tau, variance = _tau_and_variance(xs, jnp.asarray(c, xs.dtype))
    n = xs.shape[-1]
    error = jnp.sqrt(2.0 * jnp.maximum(tau, 0.0) * variance / n)
    return jnp.mean(xs, axis=-1), error


# ------------------------------------------------------------------------- jackknife


def jackknife(estimator: Callable[..., Any], *series: Series, n_blocks: int = 32,
              axis: int = -1, bias_corrected: bool = False) -> tuple[PyTree, PyTree]:
    r"""Blocked jackknife value and error of an arbitrary (nonlinear) estimator.

    The series (all of the same length :math:`n` along ``axis``) are cut into
    :math:`B` = ``n_blocks`` blocks of :math:`b = \lfloor n/B \rfloor` consecutive samples
    (the leading :math:`n - Bb` samples, the oldest, are dropped).  With
    :math:`\hat\theta` the estimator on all kept samples and :math:`\hat\theta_{(i)}` on all
    kept samples except block :math:`i` (order preserved),

    .. math::  \bar\theta = \frac1B \sum_i \hat\theta_{(i)}, \qquad
               \varepsilon^2 = \frac{B-1}{B} \sum_{i=1}^{B} (\hat\theta_{(i)} - \bar\theta)^2,

    and the bias-corrected value is :math:`B\hat\theta - (B-1)\bar\theta` (removes the
    :math:`O(1/n)` bias of ratio estimators such as the Binder cumulant).  Blocks of
    consecutive samples make the error account for autocorrelation when
    :math:`b \gg \tau_{\rm int}`.  For the sample mean, :math:`\varepsilon` equals the
    blocking error of the block means exactly.

    ``estimator(*series)`` must be a JAX-traceable function reducing the time axis
    (``axis``, which keeps its position in the arrays it receives); it may return any
    pytree of arrays.  Extra arguments go in a closure, e.g.
    ``jackknife(lambda e: specific_heat(e, T, N), e)``.  The :math:`B` leave-one-out
    evaluations run sequentially (``jax.lax.map``), so the extra memory is about one copy
    of the data.

    Args:
        estimator: callable taking one array per series.
        *series: one or more real series with equal length along ``axis``.
        n_blocks: number of blocks :math:`B`, an integer >= 2 and <= n.
        axis: the time axis of every series.
        bias_corrected: return :math:`B\hat\theta - (B-1)\bar\theta` instead of
            :math:`\hat\theta`.

    Returns:
        ``(value, error)``, pytrees with the structure of ``estimator``'s output.
    """
    if not callable(estimator):
        raise TypeError(f"estimator must be a callable taking {len(series) or 'the'} "
                        f"series, got {estimator!r}")
    if not series:
        raise TypeError("jackknife needs at least one series after the estimator")
    n_blocks = check_positive_int(n_blocks, "n_blocks", minimum=2)
    last = []  # time axis moved last
    for i, s in enumerate(series):
        name = "series" if len(series) == 1 else f"series[{i}]"
        last.append(_series(s, name, axis, n_blocks))
    lengths = [a.shape[-1] for a in last]
    if len(set(lengths)) != 1:
        raise ValueError(f"all series must have the same length along the time axis "
                         f"(axis {axis}), got lengths {lengths}")
    n = lengths[0]
    block = n // n_blocks
    kept = n_blocks * block
    last = [a[..., n - kept:] for a in last]
    theta = estimator(*(jnp.moveaxis(a, -1, axis) for a in last))
    blocks = [a.reshape(*a.shape[:-1], n_blocks, block) for a in last]

    def leave_one_block_out(i):
        j = jnp.arange(n_blocks - 1)
        j = jnp.where(j >= i, j + 1, j)  # every block but block i, in order
        kept_blocks = (jnp.take(a, j, axis=-2) for a in blocks)
        return estimator(*(jnp.moveaxis(a.reshape(*a.shape[:-2], kept - block), -1, axis)
                           for a in kept_blocks))

    thetas = jax.lax.map(leave_one_block_out, jnp.arange(n_blocks))
    theta_bar = jax.tree.map(lambda t: jnp.mean(t, axis=0), thetas)
    error = jax.tree.map(
        lambda t, tb: jnp.sqrt((n_blocks - 1) / n_blocks * jnp.sum((t - tb) ** 2, axis=0)),
        thetas, theta_bar)
    if bias_corrected:
        theta = jax.tree.map(lambda t, tb: n_blocks * t - (n_blocks - 1) * tb,
                             theta, theta_bar)
    return theta, error


# ---------------------------------------------------------- thermodynamic estimators


def binder_cumulant(m: Series, *, axis: int = -1) -> Float[Array, "*batch"]:
    r"""Binder cumulant :math:`U_4 = 1 - \langle m^4\rangle / (3 \langle m^2\rangle^2)`.

    Time averages over ``axis``.  :math:`U_4 \to 2/3` in an ordered phase with
    :math:`m = \pm m_0`, :math:`U_4 \to 0` for Gaussian fluctuations around
    :math:`m = 0` (disordered phase); curves for different sizes cross at :math:`T_c`.
    Error bars: ``jackknife(binder_cumulant, m)``.

    Args:
        m: magnetization per spin, time along ``axis``; not identically zero.
        axis: the time axis.

    Returns:
        :math:`U_4` with the shape of ``m`` without ``axis``.
    """
    ms = _series(m, "m", axis, 1)
    m2 = jnp.mean(ms**2, axis=-1)
    m4 = jnp.mean(ms**4, axis=-1)
    if is_concrete(m2) and np.any(np.asarray(m2) == 0):
        raise ValueError("m is identically zero along its time axis, so <m^2> = 0 and the "
                         "Binder cumulant is undefined; expected a nonzero magnetization "
                         "series")
    return 1.0 - m4 / (3.0 * m2**2)


def specific_heat(e: Series, temperature: Real[ArrayLike, "*#batch"], n_spins: NSpins, *,
                  axis: int = -1) -> Float[Array, "*#batch"]:
    r"""Specific heat per spin from energy-per-spin samples (fluctuation formula).

    .. math::  c = \frac{N\,(\langle e^2\rangle - \langle e\rangle^2)}{T^2}
                 = \frac{\operatorname{var}(E)}{N T^2},

    with time averages over ``axis`` (the biased :math:`1/n` variance, computed as
    :math:`\langle (e - \langle e\rangle)^2\rangle` to avoid cancellation) and
    :math:`k_B = 1`.  Error bars: ``jackknife(lambda e: specific_heat(e, T, N), e)``.

    Args:
        e: energy per spin, time along ``axis``.
        temperature: :math:`T > 0`, scalar or broadcastable to ``e`` without ``axis``.
        n_spins: number of spins :math:`N`, an integer >= 1.
        axis: the time axis.
    """
    es = _series(e, "e", axis, 1)
    check_temperature(temperature)
    n_spins = _check_n_spins(n_spins)
    return n_spins * _central_moment2(es) / jnp.asarray(temperature) ** 2


def susceptibility(m: Series, temperature: Real[ArrayLike, "*#batch"], n_spins: NSpins,
                   connected: bool = True, *, axis: int = -1) -> Float[Array, "*#batch"]:
    r"""Magnetic susceptibility per spin from magnetization-per-spin samples.

    .. math::  \chi = \frac{N\,(\langle m^2\rangle - \langle |m|\rangle^2)}{T}
               \quad(\text{connected}), \qquad
               \chi' = \frac{N \langle m^2\rangle}{T} \quad(\texttt{connected=False}).

    The finite-size form uses :math:`|m|` because :math:`\langle m\rangle = 0` on a finite
    lattice in zero field (the spin-flip symmetry is never broken); :math:`\chi'` is the
    one to use above :math:`T_c`.  Time averages over ``axis``, :math:`k_B = 1`.
    Error bars: ``jackknife(lambda m: susceptibility(m, T, N), m)``.

    Args:
        m: magnetization per spin, time along ``axis``.
        temperature: :math:`T > 0`, scalar or broadcastable to ``m`` without ``axis``.
        n_spins: number of spins :math:`N`, an integer >= 1.
        connected: subtract :math:`\langle |m|\rangle^2`.
        axis: the time axis.
    """
    ms = _series(m, "m", axis, 1)
    check_temperature(temperature)
    n_spins = _check_n_spins(n_spins)
    if connected:
        fluctuation = _central_moment2(jnp.abs(ms))
    else:
        fluctuation = jnp.mean(ms**2, axis=-1)
    return n_spins * fluctuation / jnp.asarray(temperature)
