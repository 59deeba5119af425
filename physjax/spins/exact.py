r"""Exact references for the nearest-neighbour Ising model on periodic lattices.

These are the numbers that samplers and experiments are tested against; they are
computed in float64 NumPy (or, for Kaufman's formula, in arbitrary precision with
mpmath) and never depend on a random number.

Conventions (shared with :mod:`physjax.spins.samplers`).  Spins
:math:`s_i = \pm 1` sit on a periodic :math:`d`-dimensional lattice of shape
``shape`` (:math:`d = 2` or :math:`3`, :math:`N = \prod` sides), and

.. math::

    H(s) = -J \sum_i \sum_{a=1}^{d} s_i\, s_{i + e_a} - h \sum_i s_i ,

where :math:`i + e_a` is the neighbour one step forward along axis :math:`a`
(``roll`` by one).  On a side of length 2 the forward and backward neighbours
coincide, so that pair is counted twice; this is kept on purpose.  Units:
:math:`k_B = 1`, :math:`\beta = 1/T`, magnetization per spin
:math:`m = \sum_i s_i / N`.

Contents

* :func:`enumerate_ising` -- all :math:`2^N` states (:math:`N \le 20`) summed
  exactly: :math:`\ln Z`, energy, specific heat, :math:`\langle |m| \rangle`,
  moments of :math:`m`, Binder cumulant, susceptibility and the exact energy
  distribution.
* :func:`kaufman_log_partition`, :func:`exact_finite_lattice` -- Kaufman's (1949)
  closed form of :math:`Z` for the finite periodic :math:`M \times N` square
  lattice at :math:`h = 0`, with energy and specific heat from its analytic
  :math:`K`-derivatives.
* :data:`CRITICAL_TEMPERATURE_2D`, :func:`onsager_energy_per_spin`,
  :func:`onsager_specific_heat`, :func:`onsager_yang_magnetization` -- the
  infinite square lattice (Onsager 1944, Yang 1952).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from physjax._array_types import ArrayLike, Float, Real, Scalar
from physjax._checks import (
    check_finite,
    check_positive,
    check_positive_int,
    check_shape,
    check_temperature,
)
from physjax._optional import require

__all__ = [
    "CRITICAL_TEMPERATURE_2D",
    "FiniteLatticeThermodynamics",
    "IsingEnumeration",
    "MAX_ENUMERATION_SPINS",
    "enumerate_ising",
    "exact_finite_lattice",
    "kaufman_log_partition",
    "onsager_energy_per_spin",
    "onsager_specific_heat",
    "onsager_yang_magnetization",
]

#: :math:`T_c = 2J / \ln(1 + \sqrt 2) \approx 2.269185` of the square lattice (:math:`J = 1`).
CRITICAL_TEMPERATURE_2D: float = 2.0 / math.log1p(math.sqrt(2.0))

#: Largest number of spins :func:`enumerate_ising` accepts (:math:`2^{20}` states).
MAX_ENUMERATION_SPINS: int = 20

_CHUNK = 1 << 16  # states per enumeration chunk (bounds memory at ~N * 2^16 bytes)


# --------------------------------------------------------------------------- validation


def _real_array(x, name: str) -> np.ndarray:
    """Concrete finite real float64 array (rejects complex, non-numeric, NaN, inf)."""
    check_finite(x, name)
    a = np.asarray(x)
    if np.iscomplexobj(a) or a.dtype == np.bool_:
        raise TypeError(f"{name} must be real, got dtype {a.dtype}")
    return a.astype(np.float64)


def _real_scalar(x, name: str) -> float:
    a = _real_array(x, name)
    if a.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got an array of shape {a.shape}")
    return float(a)


def _temperatures(temperature, name: str = "temperature") -> np.ndarray:
    """Scalar or 1-D array of positive finite temperatures, as float64."""
    t = _real_array(temperature, name)
    if t.ndim > 1:
        raise ValueError(f"{name} must be a scalar or a 1-D array, got shape {t.shape}")
    if t.size == 0:
        raise ValueError(f"{name} must not be empty")
    check_temperature(t, name)
    return t


# --------------------------------------------------------------------------- enumeration


def _bond_sum(spins: np.ndarray, lattice_ndim: int) -> np.ndarray:
    r""":math:`\sum_i \sum_a s_i s_{i+e_a}` over the trailing ``lattice_ndim`` axes."""
    s = spins.astype(np.int32)
    total = 0
    for axis in range(s.ndim - lattice_ndim, s.ndim):
        total = total + (s * np.roll(s, -1, axis=axis)).sum(
            axis=tuple(range(s.ndim - lattice_ndim, s.ndim)))
    return total


def _lattice_energy(spins, J: float = 1.0, h: float = 0.0) -> float:
    r"""Energy :math:`H(s) = -J \sum_i \sum_a s_i s_{i+e_a} - h \sum_i s_i` of one configuration.

    ``spins`` is a single periodic lattice (no batch axis); NumPy, float64.
    """
    s = np.asarray(spins)
    return float(-J * _bond_sum(s, s.ndim) - h * s.sum())


@functools.lru_cache(maxsize=8)
def _joint_density_of_states(shape: tuple[int, ...]):
    r"""Exact joint density of states :math:`g(B, M)` of a periodic lattice.

    Enumerates all :math:`2^N` states in chunks and histograms the bond sum
    :math:`B = \sum_i \sum_a s_i s_{i+e_a}` and the magnetization
    :math:`M = \sum_i s_i`.  Returns read-only integer arrays ``(B, M, count)``
    over the classes with ``count > 0``.
    """
    n = math.prod(shape)
    d = len(shape)
    n_b, n_m = 2 * d * n + 1, 2 * n + 1
    counts = np.zeros(n_b * n_m, dtype=np.int64)
    shifts = np.arange(n, dtype=np.uint32)
    for start in range(0, 1 << n, _CHUNK):
        idx = np.arange(start, min(start + _CHUNK, 1 << n), dtype=np.uint32)
        bits = ((idx[:, None] >> shifts) & 1).astype(np.int8)
        spins = (1 - 2 * bits).reshape((idx.size, *shape))
        b = _bond_sum(spins, d)
        m = spins.reshape(idx.size, n).sum(axis=1, dtype=np.int32)
        counts += np.bincount((b + d * n) * n_m + (m + n), minlength=n_b * n_m)
    keys = np.nonzero(counts)[0]
    out = ((keys // n_m - d * n).astype(np.int64), (keys % n_m - n).astype(np.int64),
           counts[keys])
    for a in out:
        a.setflags(write=False)
    return out


class IsingEnumeration(NamedTuple):
    r"""Exact equilibrium averages from :func:`enumerate_ising`.

    With a 1-D ``temperature`` every field except ``energy_levels`` has a leading
    temperature axis.  All values are float64 NumPy.
    """

    log_partition: np.ndarray
    r""":math:`\ln Z = \ln \sum_s e^{-\beta H(s)}`."""
    energy_per_spin: np.ndarray
    r""":math:`\langle H \rangle / N`."""
    specific_heat: np.ndarray
    r"""Per spin: :math:`(\langle H^2 \rangle - \langle H \rangle^2) / (N T^2)`."""
    abs_magnetization: np.ndarray
    r""":math:`\langle |m| \rangle`."""
    m2: np.ndarray
    r""":math:`\langle m^2 \rangle`."""
    m4: np.ndarray
    r""":math:`\langle m^4 \rangle`."""
    binder: np.ndarray
    r"""Binder cumulant :math:`U_4 = 1 - \langle m^4 \rangle / (3 \langle m^2 \rangle^2)`."""
    susceptibility: np.ndarray
    r"""Per spin, finite-size form :math:`N (\langle m^2 \rangle - \langle |m| \rangle^2) / T`."""
    energy_levels: np.ndarray
    """Sorted distinct total energies :math:`E` (shape ``(n_levels,)``)."""
    energy_probabilities: np.ndarray
    r""":math:`P(E) = g(E) e^{-\beta E} / Z` for each level (last axis ``n_levels``)."""


def enumerate_ising(shape: Sequence[int],
                    temperature: Scalar | Real[ArrayLike, " t"] | Sequence[float],
                    J: Scalar = 1.0, h: Scalar = 0.0) -> IsingEnumeration:
    r"""Exact thermodynamics of the periodic Ising lattice by summing all :math:`2^N` states.

    With :math:`H(s) = -J \sum_i \sum_a s_i s_{i+e_a} - h \sum_i s_i` (module
    docstring), the states are first reduced to the exact joint density of states
    :math:`g(B, M)` of the bond sum :math:`B` and magnetization :math:`M` (computed
    once per ``shape`` and cached), then for every temperature

    .. math::

        \ln Z = \operatorname{logsumexp}_{B,M}\big[\ln g(B,M) - \beta E(B,M)\big],
        \qquad E = -J B - h M,

    and averages use :math:`p(B,M) = g\,e^{-\beta E}/Z`.  Returned (per spin where
    stated, :math:`m = M/N`): ``log_partition`` :math:`\ln Z`;
    ``energy_per_spin`` :math:`\langle E\rangle/N`; ``specific_heat``
    :math:`\operatorname{Var}(E)/(N T^2)`; ``abs_magnetization``
    :math:`\langle|m|\rangle`; ``m2``, ``m4``; ``binder``
    :math:`1 - \langle m^4\rangle/(3\langle m^2\rangle^2)`; ``susceptibility``
    :math:`N(\langle m^2\rangle - \langle|m|\rangle^2)/T` -- the finite-size
    :math:`|m|` form used with Monte Carlo data (at :math:`h = 0` the symmetric
    :math:`N\langle m^2\rangle/T` is ``N * m2 / T``); ``energy_levels`` and
    ``energy_probabilities`` :math:`P(E)`.

    Everything is float64 and computed in the log domain, so any
    :math:`T > 0` is safe.  Cost: :math:`O(N 2^N)` once per shape (about a second
    at :math:`N = 20`), then :math:`O(N^2)` per temperature.

    Args:
        shape: lattice sides, 2 or 3 of them, each >= 2, with :math:`N \le 20`.
        temperature: :math:`T > 0`, a scalar or a 1-D array (then each field
            except ``energy_levels`` has a leading temperature axis).
        J: coupling (any finite real; :math:`J < 0` is antiferromagnetic).
        h: uniform field.

    Raises:
        ValueError / TypeError naming the bad argument.
    """
    shape = check_shape(shape, "shape")
    n = math.prod(shape)
    if n > MAX_ENUMERATION_SPINS:
        raise ValueError(f"shape {shape} has N = {n} spins; exact enumeration of 2^N states "
                         f"is limited to N <= {MAX_ENUMERATION_SPINS}")
    t = _temperatures(temperature)
    J = _real_scalar(J, "J")
    h = _real_scalar(h, "h")

    b, m_tot, g = _joint_density_of_states(shape)
    energy = -J * b - h * m_tot                              # (classes,)
    beta = 1.0 / np.atleast_1d(t)[:, None]                   # (T, 1)
    log_w = np.log(g.astype(np.float64)) - beta * energy     # (T, classes)
    shift = log_w.max(axis=1, keepdims=True)
    w = np.exp(log_w - shift)
    z = w.sum(axis=1, keepdims=True)
    p = w / z
    log_z = (shift + np.log(z))[:, 0]

    mean_e = p @ energy
    var_e = np.einsum("tc,tc->t", p, (energy[None] - mean_e[:, None]) ** 2)
    m = m_tot / n
    abs_m, m2, m4 = p @ np.abs(m), p @ m**2, p @ m**4
    temps = np.atleast_1d(t)

    # Group the (B, M) classes into distinct energies (exact up to float rounding).
    order = np.argsort(energy, kind="stable")
    e_sorted = energy[order]
    tol = 1e-12 * max(1.0, float(np.abs(energy).max()))
    new_level = np.concatenate([[True], np.diff(e_sorted) > tol])
    level_of = np.cumsum(new_level) - 1
    levels = e_sorted[new_level] + 0.0                      # no -0.0
    probs = np.zeros((temps.size, levels.size))
    np.add.at(probs.T, level_of, p[:, order].T)

    out = IsingEnumeration(
        log_partition=log_z,
        energy_per_spin=mean_e / n,
        specific_heat=var_e / (n * temps**2),
        abs_magnetization=abs_m,
        m2=m2,
        m4=m4,
        binder=1.0 - m4 / (3.0 * m2**2),
        susceptibility=n * (m2 - abs_m**2) / temps,
        energy_levels=levels,
        energy_probabilities=probs,
    )
    if t.ndim == 0:
        out = out._replace(**{f: getattr(out, f)[0] for f in out._fields
                              if f != "energy_levels"})
    return out


# --------------------------------------------------------------------------- Kaufman


def _kaufman_sides(L) -> tuple[int, int]:
    if isinstance(L, int | np.integer) and not isinstance(L, bool):
        side = check_positive_int(L, "L", minimum=2)
        return side, side
    rows, cols = check_shape(L, "L", dims=(2,), minimum=2)
    return rows, cols


def _kaufman_derivatives(rows: int, cols: int, K, N: int):
    r""":math:`\ln Z` and its first two :math:`K`-derivatives (mpmath, current precision).

    Kaufman (1949), for ``rows`` x ``cols`` = :math:`m \times n` with :math:`N = mn`:

    .. math::

        Z = \tfrac12 (2\sinh 2K)^{N/2} \sum_{i=1}^{4} Z_i, \quad
        Z_{1,2} = \prod_{r=0}^{n-1} 2\{\cosh,\sinh\}\big(\tfrac m2 \gamma_{2r+1}\big), \quad
        Z_{3,4} = \prod_{r=0}^{n-1} 2\{\cosh,\sinh\}\big(\tfrac m2 \gamma_{2r}\big),

    with :math:`\cosh\gamma_k = \cosh 2K \coth 2K - \cos(\pi k/n)`,
    :math:`\gamma_k > 0` for :math:`k \ge 1`, and the signed
    :math:`\gamma_0 = 2K + \ln\tanh K` (negative above :math:`T_c`, which makes the
    :math:`r = 0` factor of :math:`Z_4` negative).  Derivatives: with
    :math:`c = \cosh^2 2K/\sinh 2K`, :math:`\gamma_k' = c'/\sinh\gamma_k`,
    :math:`\gamma_k'' = (c'' - c_k\gamma_k'^2)/\sinh\gamma_k` (:math:`c_k = \cosh\gamma_k`),
    :math:`\gamma_0' = 2 + 2/\sinh 2K`, :math:`\gamma_0'' = -4\cosh 2K/\sinh^2 2K`; each
    product is split as :math:`Z_i = f_0 P_i` (the :math:`r = 0` factor, which may
    vanish at :math:`T_c`, times a product with no zero factor) so that
    :math:`Z_i'` and :math:`Z_i''` need no division by a vanishing factor.
    """
    mp = require("mpmath", by="physjax.spins (Kaufman's exact finite lattice)").mp
    half_m = mp.mpf(rows) / 2
    s2, c2 = mp.sinh(2 * K), mp.cosh(2 * K)
    c = c2 * c2 / s2
    dc = 2 * c2 * (1 - 1 / s2**2)
    ddc = 4 * s2 - 4 / s2 + 8 * c2**2 / s2**3

    def gammas(k):
        if k == 0:
            return (2 * K + mp.log(mp.tanh(K)), 2 + 2 / s2, -4 * c2 / s2**2)
        ck = c - mp.cospi(mp.mpf(k) / cols)
        g = mp.acosh(ck)
        sg = mp.sinh(g)
        dg = dc / sg
        return g, dg, (ddc - ck * dg**2) / sg

    def product(ks, hyperbolic):
        # f(x) = 2 cosh x or 2 sinh x, x = (m/2) gamma_k.  Returns Z_i, Z_i', Z_i''.
        first, rest = ks[0], ks[1:]
        log_p, d1, d2sq, dd = mp.zero, mp.zero, mp.zero, mp.zero
        for k in rest:
            g, dg, ddg = gammas(k)
            x, dx, ddx = half_m * g, half_m * dg, half_m * ddg
            ratio = mp.tanh(x) if hyperbolic == "cosh" else mp.coth(x)  # f'/(f x')
            log_p += mp.log(2 * (mp.cosh(x) if hyperbolic == "cosh" else mp.sinh(x)))
            d1 += dx * ratio
            d2sq += (dx * ratio) ** 2
            dd += ddx * ratio + dx**2                                    # f''/f
        p = mp.exp(log_p)
        dp = p * d1
        ddp = p * (d1**2 - d2sq + dd)
        g, dg, ddg = gammas(first)
        x, dx, ddx = half_m * g, half_m * dg, half_m * ddg
        ch, sh = 2 * mp.cosh(x), 2 * mp.sinh(x)
        f, fp = (ch, sh) if hyperbolic == "cosh" else (sh, ch)
        df = fp * dx
        ddf = f * dx**2 + fp * ddx
        return f * p, df * p + f * dp, ddf * p + 2 * df * dp + f * ddp

    odd = [2 * r + 1 for r in range(cols)]
    even = [2 * r for r in range(cols)]
    terms = [product(odd, "cosh"), product(odd, "sinh"),
             product(even, "cosh"), product(even, "sinh")]
    s = sum(t[0] for t in terms)
    ds = sum(t[1] for t in terms)
    dds = sum(t[2] for t in terms)
    log_z = -mp.log(2) + mp.mpf(N) / 2 * mp.log(2 * s2) + mp.log(s)
    d_log_z = N * c2 / s2 + ds / s
    dd_log_z = -2 * N / s2**2 + dds / s - (ds / s) ** 2
    return log_z, d_log_z, dd_log_z


class FiniteLatticeThermodynamics(NamedTuple):
    r"""Exact thermodynamics of the finite periodic square lattice.

    Returned by :func:`exact_finite_lattice`; scalars or 1-D arrays like ``temperature``.
    """

    log_partition: np.ndarray
    r""":math:`\ln Z`."""
    energy_per_spin: np.ndarray
    r""":math:`\langle H\rangle/N = -(J/N)\,\partial_K \ln Z`."""
    specific_heat: np.ndarray
    r"""Per spin: :math:`(K^2/N)\,\partial_K^2 \ln Z`."""
    free_energy_per_spin: np.ndarray
    r""":math:`-T \ln Z / N`."""


def _kaufman(L, temperature, J, precision, by):
    rows, cols = _kaufman_sides(L)
    t = _temperatures(temperature)
    J = _real_scalar(J, "J")
    check_positive(J, "J")
    precision = check_positive_int(precision, "precision", minimum=20)
    n = rows * cols
    mpmath = require("mpmath", by=by)
    results = []
    with mpmath.workdps(precision):
        for temp in np.atleast_1d(t):
            K = mpmath.mpf(J) / mpmath.mpf(float(temp))
            results.append(_kaufman_derivatives(rows, cols, K, n) + (K,))
    return t, J, n, results


def kaufman_log_partition(L: int | Sequence[int],
                          temperature: Scalar | Real[ArrayLike, " t"] | Sequence[float],
                          J: Scalar = 1.0, precision: int = 60) -> float | Float[np.ndarray, " t"]:
    r"""Kaufman's exact :math:`\ln Z` of the periodic square lattice at :math:`h = 0`.

    .. math::

        Z = \tfrac12 (2\sinh 2K)^{N/2}\Big[\prod_{r=0}^{n-1} 2\cosh\tfrac{m\gamma_{2r+1}}{2}
        + \prod_{r=0}^{n-1} 2\sinh\tfrac{m\gamma_{2r+1}}{2}
        + \prod_{r=0}^{n-1} 2\cosh\tfrac{m\gamma_{2r}}{2}
        + \prod_{r=0}^{n-1} 2\sinh\tfrac{m\gamma_{2r}}{2}\Big],

    :math:`K = J/T`, :math:`N = mn`, :math:`\cosh\gamma_k = \cosh 2K\coth 2K - \cos(\pi k/n)`
    with :math:`\gamma_k > 0` for :math:`k \ge 1` and the signed
    :math:`\gamma_0 = 2K + \ln\tanh K` (B. Kaufman, Phys. Rev. 76, 1232 (1949);
    P. D. Beale, Phys. Rev. Lett. 76, 78 (1996)).  Evaluated with mpmath at
    ``precision`` decimal digits and returned as float64.  The energy is the
    module's :math:`H` (same as :func:`enumerate_ising`, a side of 2 counting its
    bond twice).

    Args:
        L: side of the :math:`L \times L` lattice (int >= 2), or ``(m, n)`` for a
            rectangle.
        temperature: :math:`T > 0`, scalar or 1-D array.
        J: ferromagnetic coupling, :math:`J > 0` (on even sides the antiferromagnet
            has the same :math:`Z`; use ``abs(J)``).
        precision: mpmath decimal digits (>= 20).

    Returns:
        float64 scalar or 1-D array, matching ``temperature``.
    """
    t, _, _, results = _kaufman(L, temperature, J, precision,
                                "physjax.spins.kaufman_log_partition")
    out = np.array([float(r[0]) for r in results])
    return out[0] if t.ndim == 0 else out


def exact_finite_lattice(L: int | Sequence[int],
                         temperature: Scalar | Real[ArrayLike, " t"] | Sequence[float],
                         J: Scalar = 1.0, precision: int = 60) -> FiniteLatticeThermodynamics:
    r"""Exact :math:`\ln Z`, energy, specific heat and free energy of the finite periodic lattice.

    From Kaufman's :math:`Z(K)` (see :func:`kaufman_log_partition`), with
    :math:`K = J/T` and analytic derivatives evaluated in mpmath at ``precision``
    digits, so the float64 results are exact to rounding at every :math:`T > 0`
    (the finite-lattice formula is regular at :math:`T_c`):

    .. math::

        \frac{\langle H\rangle}{N} = -\frac{J}{N}\frac{\partial\ln Z}{\partial K},\qquad
        c = \frac{\operatorname{Var} H}{N T^2} = \frac{K^2}{N}\frac{\partial^2\ln Z}{\partial K^2},
        \qquad f = -\frac{T\ln Z}{N}.

    Args: as :func:`kaufman_log_partition`.

    Returns:
        :class:`FiniteLatticeThermodynamics` of float64 scalars or 1-D arrays.
    """
    t, J, n, results = _kaufman(L, temperature, J, precision,
                                "physjax.spins.exact_finite_lattice")
    temps = np.atleast_1d(t)
    log_z = np.array([float(r[0]) for r in results])
    energy = np.array([float(-J * r[1] / n) for r in results])
    heat = np.array([float(r[3] ** 2 * r[2] / n) for r in results])
    out = FiniteLatticeThermodynamics(log_partition=log_z, energy_per_spin=energy,
                                      specific_heat=heat,
                                      free_energy_per_spin=-temps * log_z / n)
    if t.ndim == 0:
        out = FiniteLatticeThermodynamics(*(a[0] for a in out))
    return out


# --------------------------------------------------------------------------- Onsager


def _elliptic(fn, m: np.ndarray) -> np.ndarray:
    """Complete elliptic integral ``fn`` (mpmath, parameter m = k^2), elementwise float64."""
    return np.vectorize(lambda x: float(fn(x)), otypes=[np.float64])(m)


def _onsager_inputs(temperature, J):
    """Validated temperatures (any shape), J > 0, K = J/T and the modulus k (clipped at 1)."""
    t = _real_array(temperature, "temperature")
    check_temperature(t, "temperature")
    J = _real_scalar(J, "J")
    check_positive(J, "J")
    K = J / t
    with np.errstate(over="ignore"):
        kappa = 2.0 * np.tanh(2 * K) / np.cosh(2 * K)    # k = 2 sinh 2K / cosh^2 2K
    return t, J, K, np.minimum(kappa, 1.0)


def _as_output(x: np.ndarray, t: np.ndarray):
    return x if t.ndim else float(x)


def onsager_energy_per_spin(temperature: Real[ArrayLike, "*shape"] | Sequence[float],
                            J: Scalar = 1.0) -> float | Float[np.ndarray, "*shape"]:
    r"""Onsager's energy per spin of the infinite square lattice (:math:`h = 0`).

    .. math::

        u = -J\coth 2K\,\Big[1 + \frac{2}{\pi}\big(2\tanh^2 2K - 1\big)\,\mathbf K(k)\Big],
        \qquad k = \frac{2\sinh 2K}{\cosh^2 2K},\quad K = J/T,

    with :math:`\mathbf K(k) = \int_0^{\pi/2} d\phi\,(1 - k^2\sin^2\phi)^{-1/2}` the
    complete elliptic integral of the first kind -- note that it is evaluated as
    ``mpmath.ellipk(k**2)`` (like ``scipy.special.ellipk``, mpmath's argument is the
    parameter :math:`m = k^2`, not the modulus).  At :math:`T_c` (:math:`k = 1`) the
    product vanishes and :math:`u = -\sqrt2 J`.

    Args:
        temperature: :math:`T > 0`, scalar or array (any shape).
        J: ferromagnetic coupling :math:`J > 0`.
    """
    t, J, K, kappa = _onsager_inputs(temperature, J)
    below = kappa < 1.0
    mpmath = require("mpmath", by="physjax.spins.onsager_energy_per_spin")
    ell = np.where(below, _elliptic(mpmath.ellipk, np.where(below, kappa**2, 0.0)), 0.0)
    u = -J / np.tanh(2 * K) * (1 + 2 / np.pi * (2 * np.tanh(2 * K) ** 2 - 1) * ell)
    return _as_output(u, t)


def onsager_specific_heat(temperature: Real[ArrayLike, "*shape"] | Sequence[float],
                          J: Scalar = 1.0) -> float | Float[np.ndarray, "*shape"]:
    r"""Onsager's specific heat per spin of the infinite square lattice (:math:`h = 0`).

    .. math::

        c = \frac{4}{\pi}\,(K\coth 2K)^2\Big\{\mathbf K(k) - \mathbf E(k)
        - (1 - \tanh^2 2K)\Big[\frac{\pi}{2} + (2\tanh^2 2K - 1)\mathbf K(k)\Big]\Big\},

    :math:`k = 2\sinh 2K/\cosh^2 2K`, :math:`K = J/T`, with :math:`\mathbf K, \mathbf E`
    the complete elliptic integrals of the first and second kind evaluated as
    ``mpmath.ellipk(k**2)``, ``mpmath.ellipe(k**2)`` (parameter :math:`m = k^2`).
    It is :math:`du/dT` of :func:`onsager_energy_per_spin` (checked in the tests;
    beware the variant with :math:`\tfrac{2}{\pi}\{2\mathbf K - 2\mathbf E - \dots\}`
    quoted in some textbooks, which is wrong) and diverges logarithmically at
    :math:`T_c`, where ``inf`` is returned.
    """
    t, J, K, kappa = _onsager_inputs(temperature, J)
    m = np.where(kappa < 1.0, kappa**2, 0.0)
    mpmath = require("mpmath", by="physjax.spins.onsager_specific_heat")
    ek, ee = _elliptic(mpmath.ellipk, m), _elliptic(mpmath.ellipe, m)
    th2 = np.tanh(2 * K) ** 2
    c = (4 / np.pi) * (K / np.tanh(2 * K)) ** 2 * (
        ek - ee - (1 - th2) * (np.pi / 2 + (2 * th2 - 1) * ek))
    return _as_output(np.where(kappa < 1.0, c, np.inf), t)


def onsager_yang_magnetization(temperature: Real[ArrayLike, "*shape"] | Sequence[float],
                               J: Scalar = 1.0) -> float | Float[np.ndarray, "*shape"]:
    r"""Spontaneous magnetization of the infinite square lattice (Onsager 1949, Yang 1952).

    .. math::

        m_0(T) = \big(1 - \sinh^{-4}(2J/T)\big)^{1/8} \quad (T < T_c),
        \qquad m_0 = 0 \quad (T \ge T_c = 2J/\ln(1+\sqrt2)).

    Args:
        temperature: :math:`T > 0`, scalar or array (any shape).
        J: ferromagnetic coupling :math:`J > 0`.
    """
    t, J, K, _ = _onsager_inputs(temperature, J)
    with np.errstate(over="ignore", divide="ignore"):
        x = 1.0 - np.sinh(2 * K) ** -4.0
    return _as_output(np.where(x > 0, np.abs(x) ** 0.125, 0.0), t)
