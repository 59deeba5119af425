r"""Amit–Gutfreund–Sompolinsky (AGS) theory of the Hebbian Hopfield network, in closed form.

The replica-symmetric mean-field theory of a Hopfield network storing :math:`K = \alpha N`
random patterns with Hebb's rule (D. J. Amit, H. Gutfreund, H. Sompolinsky, Phys. Rev.
Lett. 55, 1530 (1985) and Phys. Rev. A 35, 2293 (1987)), evaluated numerically in float64
NumPy; nothing here is random or depends on JAX.

Contents

* :data:`AGS_ALPHA_C`, :data:`AGS_M_C` -- the published storage capacity
  :math:`\alpha_c = 0.138` and retrieval overlap :math:`m_c = 0.967` at T = 0.
* :func:`ags_retrieval_line` -- the capacity :math:`\alpha_c(T)` and overlap :math:`m_c(T)`
  at the end of the retrieval branch; the curve :math:`(\alpha_c(T), T)` is the retrieval
  line :math:`T_M(\alpha)`.
* :func:`ags_zero_temperature` -- :math:`(\alpha_c, m_c)` at T = 0 from the closed form.
* :func:`spin_glass_temperature` -- the spin-glass line :math:`T_g(\alpha) = 1 + \sqrt\alpha`.
* :func:`retrieval_threshold` -- the load where a measured mean overlap first falls below
  a level (by default :data:`AGS_M_C`), for comparing finite-N runs with the theory.

The replica symmetric retrieval state with one condensed pattern solves

.. math::
    m = \int\!Dz\,\tanh\beta(m+\sqrt{\alpha r}\,z),\quad
    q = \int\!Dz\,\tanh^2\beta(m+\sqrt{\alpha r}\,z),\quad
    r = \frac{q}{(1-\beta(1-q))^2}.

With the noise amplitude :math:`s = \sqrt{\alpha r}` as parameter, the first equation
alone fixes :math:`m(s)` (its largest root, found by Newton's method from m = 1: the map is
concave for m > 0), then :math:`q(s)`, :math:`C = \beta(1-q)` and
:math:`\alpha(s) = s^2(1-C)^2/q`.  Retrieval states exist for
:math:`\alpha \le \alpha_c(T) = \max_s \alpha(s)`; the retrieval line :math:`T_M(\alpha)`
is the curve :math:`(\alpha_c(T), T)`.  At T = 0, :math:`\int Dz\,\mathrm{sign} =
\mathrm{erf}(m/\sqrt2 s)` and :math:`C = \sqrt{2/\pi}\,e^{-m^2/2s^2}/s`, giving
:math:`\alpha_c = 0.1379`, :math:`m_c = 0.9674`.  The Gaussian averages use a uniform
grid of 801 points on :math:`z\in[-8, 8]` (trapezoid rule): Gauss–Hermite nodes do not
resolve the kink of width :math:`T/s` of the integrand at low T (200 nodes are off by
0.02 in :math:`\alpha_c` at T = 0.05; the uniform grid agrees with the T = 0 closed form
to 1e-4).  The spin-glass line is the AGS :math:`T_g(\alpha) = 1 + \sqrt\alpha`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from physjax._array_types import ArrayLike, Float, Real, Scalar

__all__ = [
    "AGS_ALPHA_C",
    "AGS_M_C",
    "ags_retrieval_line",
    "ags_zero_temperature",
    "retrieval_threshold",
    "spin_glass_temperature",
]

AGS_ALPHA_C = 0.138  #: AGS storage capacity at T = 0 (0.1379 from :func:`ags_zero_temperature`)
AGS_M_C = 0.967  #: AGS retrieval overlap at the capacity, T = 0

_Z = np.linspace(-8.0, 8.0, 801)
# Below this temperature the 801-point quadrature cannot resolve tanh(beta x) (width ~ T)
# and the T = 0 closed form is used instead: between T = 0 and 0.03 the AGS alpha_c moves by
# less than 3e-4 and m_c by less than 1e-3, while the quadrature at T = 1e-3 was off by 1.
_T_QUADRATURE = 0.015
_W = np.exp(-0.5 * _Z**2) / np.exp(-0.5 * _Z**2).sum()


def _gauss(values):
    """:math:`\\int Dz\\, f(z)` of values on the trailing ``_Z`` axis."""
    return values @ _W


def _sech2(x):
    return 1.0 / np.cosh(np.minimum(np.abs(x), 40.0)) ** 2


def _largest_root(update, m, tol=1e-12, max_iter=100):
    """Vectorized Newton iteration ``m[sel] <- update(m[sel], sel)`` on the entries ``sel``
    that still moved by more than ``tol``."""
    sel = np.arange(m.size)
    for _ in range(max_iter):
        new = update(m[sel], sel)
        moved = np.abs(new - m[sel]) >= tol
        m[sel] = new
        sel = sel[moved]
        if sel.size == 0:
            break
    return m


def _alpha_of_noise(temperature, s):
    """Retrieval branch at noise amplitude ``s``: returns (alpha(s), m(s)); NaN where the
    m > 0 solution or the condition C < 1 fails.  ``temperature`` and ``s`` broadcast."""
    from scipy.special import erf

    T, s = np.broadcast_arrays(np.asarray(temperature, float), np.asarray(s, float))
    alpha, m_out = np.full(T.shape, np.nan), np.full(T.shape, np.nan)
    zero = T < _T_QUADRATURE
    if zero.any():  # T = 0: E sign(m + s z) = erf(m / (sqrt2 s)), C = sqrt(2/pi) e^{-m^2/2s^2}/s
        s0 = s[zero]
        gain = lambda m, s: np.sqrt(2 / np.pi) / s * np.exp(-0.5 * (m / s) ** 2)
        m = _largest_root(lambda m, i: np.clip(m - (m - erf(m / (np.sqrt(2) * s0[i])))
                                               / np.maximum(1 - gain(m, s0[i]), 1e-12), 0, 1),
                          np.ones_like(s0))
        C = gain(m, s0)
        ok = (gain(0.0, s0) > 1) & (m > 1e-6) & (C < 1)
        alpha[zero] = np.where(ok, s0**2 * (1 - C) ** 2, np.nan)
        m_out[zero] = np.where(ok, m, np.nan)
    warm = ~zero
    if warm.any():
        beta, sw = 1.0 / T[warm], s[warm]

        def newton(m, i):
            x = beta[i, None] * (m[:, None] + sw[i, None] * _Z)
            g, dg = _gauss(np.tanh(x)), beta[i] * _gauss(_sech2(x))
            return np.clip(m - (m - g) / np.maximum(1 - dg, 1e-12), 0.0, 1.0)

        m = _largest_root(newton, np.ones(sw.shape))
        one_minus_q = _gauss(_sech2(beta[:, None] * (m[:, None] + sw[:, None] * _Z)))
        q, C = 1 - one_minus_q, beta * one_minus_q
        slope0 = beta * _gauss(_sech2(beta[:, None] * sw[:, None] * _Z))
        ok = (slope0 > 1) & (m > 1e-6) & (C < 1)
        alpha[warm] = np.where(ok, sw**2 * (1 - C) ** 2 / q, np.nan)
        m_out[warm] = np.where(ok, m, np.nan)
    return alpha, m_out


def ags_retrieval_line(temperatures: Real[ArrayLike, "*shape"] | Sequence[float],
                       ) -> tuple[Float[np.ndarray, "*t"], Float[np.ndarray, "*t"]]:
    """AGS capacity :math:`\\alpha_c(T)` and overlap :math:`m_c(T)` at the end of the
    retrieval branch, for each temperature (0 and NaN for T >= 1).  Below T = 0.015 the
    T = 0 closed form is returned (the corrections there are below 3e-4 in alpha_c)."""
    T = np.atleast_1d(np.asarray(temperatures, float))
    if np.any(T < 0) or not np.all(np.isfinite(T)):
        raise ValueError(f"temperatures must be finite and >= 0, got {T}")
    alpha_c, m_c = np.zeros(T.shape), np.full(T.shape, np.nan)
    live = T < 1
    if live.any():
        Tl = T[live]
        log_s = np.linspace(np.log(1e-3), np.log(1.5), 40)
        a, _ = _alpha_of_noise(Tl[:, None], np.exp(log_s)[None, :])
        i = np.clip(np.argmax(np.nan_to_num(a, nan=-1.0), axis=1), 1, log_s.size - 2)
        lo, hi = log_s[i - 1], log_s[i + 1]
        g = (np.sqrt(5) - 1) / 2  # golden-section search for max_s alpha(s), per T
        x1, x2 = hi - g * (hi - lo), lo + g * (hi - lo)
        f1 = np.nan_to_num(_alpha_of_noise(Tl, np.exp(x1))[0], nan=-1.0)
        f2 = np.nan_to_num(_alpha_of_noise(Tl, np.exp(x2))[0], nan=-1.0)
        for _ in range(30):
            left = f1 < f2  # the maximum lies in [x1, hi]
            lo, hi = np.where(left, x1, lo), np.where(left, hi, x2)
            x1, x2 = hi - g * (hi - lo), lo + g * (hi - lo)
            f_new = np.nan_to_num(_alpha_of_noise(Tl, np.exp(np.where(left, x2, x1)))[0],
                                  nan=-1.0)
            f1, f2 = np.where(left, f2, f_new), np.where(left, f_new, f1)
        a, m = _alpha_of_noise(Tl, np.exp(0.5 * (lo + hi)))
        alpha_c[live], m_c[live] = np.nan_to_num(a, nan=0.0), m
    return alpha_c, m_c


def ags_zero_temperature() -> tuple[float, float]:
    """(alpha_c, m_c) of the AGS retrieval branch at T = 0: (0.1379, 0.9674)."""
    a, m = ags_retrieval_line([0.0])
    return float(a[0]), float(m[0])


def spin_glass_temperature(alpha: Real[ArrayLike, "*shape"] | Sequence[float],
                           ) -> Float[np.ndarray | np.floating, "*shape"]:
    """AGS spin-glass (freezing) temperature :math:`T_g(\\alpha) = 1 + \\sqrt\\alpha`."""
    a = np.asarray(alpha, float)
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError(f"alpha must be finite and >= 0 (the load K/N), got {alpha}")
    return 1.0 + np.sqrt(a)


def retrieval_threshold(alphas: Real[ArrayLike, " a"] | Sequence[float],
                        overlaps: Real[ArrayLike, " a"] | Sequence[float],
                        level: Scalar = AGS_M_C) -> float:
    """Load where the mean final overlap first falls below ``level``, by linear
    interpolation between the neighbouring grid loads; NaN if it stays above ``level`` on
    the whole grid or is already below it at the first load."""
    a, m = np.asarray(alphas, float), np.asarray(overlaps, float)
    if a.ndim != 1 or a.size < 2 or not np.all(np.isfinite(a)) or np.any(np.diff(a) <= 0):
        raise ValueError(f"alphas must be an increasing 1-D grid of at least two finite "
                         f"loads, got {alphas}")
    if m.shape != a.shape:
        raise ValueError(f"overlaps must have the shape of alphas {a.shape}, got {m.shape}")
    if not np.isfinite(level):
        raise ValueError(f"level must be finite, got {level}")
    below = m < level
    if not below.any() or below[0]:
        return float("nan")
    i = int(np.argmax(below))
    return float(a[i - 1] + (a[i] - a[i - 1]) * (m[i - 1] - level) / (m[i - 1] - m[i]))
