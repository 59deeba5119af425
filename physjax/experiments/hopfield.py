r"""Hopfield networks: retrieval, storage capacity, the AGS phase diagram and dreaming.

Four experiments on Hebbian (and dreaming) associative memories of :math:`K = \alpha N`
random patterns (seed 003):

* ``hopfield-retrieval``: zero-temperature asynchronous dynamics from a pattern with a
  fraction :math:`(1-m_0)/2` of its spins flipped; final Mattis overlap against the
  initial overlap :math:`m_0` at several loads :math:`\alpha`.
* ``hopfield-capacity``: the same dynamics started *on* the stored patterns, mean final
  overlap and retrieval probability against :math:`\alpha` for two sizes N.  The
  threshold is the load where the mean final overlap falls below the AGS overlap at the
  transition, :math:`m_c = 0.967` (linear interpolation between grid loads); the AGS
  capacity :math:`\alpha_c = 0.138` is drawn for reference.
* ``hopfield-phase-diagram``: one :func:`physjax.ensemble.sweep` over an
  :math:`\alpha\times T` grid; each replica runs heat-bath (Glauber) sweeps from pattern
  :math:`\xi^1` and returns its overlap with :math:`\xi^1` and an Edwards–Anderson
  order parameter from time averages (below).  Cells are classified as retrieval
  (:math:`\langle|\bar m|\rangle >` ``retrieval_overlap``), spin glass
  (:math:`q_{EA} >` ``q_threshold``) or paramagnet, and compared with the AGS lines.
* ``dreaming``: capacity against the sleep time t of the dreaming kernel
  :math:`J(t) = \xi^T(1+t)(I+tC)^{-1}\xi/N` (zero-temperature retrieval from the
  stored patterns, threshold defined as for ``hopfield-capacity``).

Fixed shapes across the load.  Patterns are drawn once as a :math:`(K_{max}, N)` array and
the network at load :math:`\alpha` uses its first :math:`K = \alpha N` rows, so one
compiled program serves every load.  At T = 0 the model is an argument (not a vmapped
axis) of one jitted ``vmap(relax)``.  In the phase-diagram sweep each grid cell has its own
K, so the model is built inside the vmapped replica: there the shared pattern matrix is a
constant and only a :math:`(K_{max},)` 0/1 vector of active patterns belongs to the cell
(``LowRankIsing(patterns, weights=active)``), instead of a batched
:math:`K_{max}\times N` matrix per replica
(25x faster on a CPU at N = 1000, K_max = 200).

Edwards–Anderson order parameter.  The measuring window of ``n_measure`` sweeps is cut
into two halves with time averages :math:`a_i, b_i` of :math:`\sigma_i`;
:math:`q_{EA} = \frac1N\sum_i a_i b_i`.  A frozen (retrieval or glassy) state gives
:math:`q_{EA} \approx \frac1N\sum_i\langle\sigma_i\rangle^2 > 0`; in the paramagnet the two
halves are independent and :math:`q_{EA}` is 0 up to :math:`O(\tau/(n\sqrt N))` noise,
with no :math:`1/n` bias (which the square of a single time average would have).

AGS theory (Amit, Gutfreund, Sompolinsky, Phys. Rev. A 35, 2293 (1987)).  The replica
symmetric retrieval state with one condensed pattern solves

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

import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from physjax._checks import check_positive_int
from physjax._optional import require
from physjax.experiments import ExperimentResult, register
from physjax.spins.models import LowRankIsing

AGS_ALPHA_C = 0.138  #: AGS storage capacity at T = 0 (0.1379 from :func:`ags_zero_temperature`)
AGS_M_C = 0.967  #: AGS retrieval overlap at the capacity, T = 0

PARAMAGNET, SPIN_GLASS, RETRIEVAL = 0, 1, 2
PHASE_NAMES = ("paramagnet", "spin glass", "retrieval")

_Z = np.linspace(-8.0, 8.0, 801)
_W = np.exp(-0.5 * _Z**2) / np.exp(-0.5 * _Z**2).sum()


# ------------------------------------------------------------------------- AGS theory

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
    zero = T == 0
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


def ags_retrieval_line(temperatures):
    """AGS capacity :math:`\\alpha_c(T)` and overlap :math:`m_c(T)` at the end of the
    retrieval branch, for each temperature (0 and NaN for T >= 1)."""
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


def ags_zero_temperature():
    """(alpha_c, m_c) of the AGS retrieval branch at T = 0: (0.1379, 0.9674)."""
    a, m = ags_retrieval_line([0.0])
    return float(a[0]), float(m[0])


def spin_glass_temperature(alpha):
    """AGS spin-glass (freezing) temperature :math:`T_g(\\alpha) = 1 + \\sqrt\\alpha`."""
    return 1.0 + np.sqrt(np.asarray(alpha, float))


def retrieval_threshold(alphas, overlaps, level=AGS_M_C) -> float:
    """Load where the mean final overlap first falls below ``level``, by linear
    interpolation between the neighbouring grid loads; NaN if it stays above ``level`` on
    the whole grid or is already below it at the first load."""
    a, m = np.asarray(alphas, float), np.asarray(overlaps, float)
    below = m < level
    if not below.any() or below[0]:
        return float("nan")
    i = int(np.argmax(below))
    return float(a[i - 1] + (a[i] - a[i - 1]) * (m[i - 1] - level) / (m[i - 1] - m[i]))


# -------------------------------------------------------------------- shared machinery

def _active_hebbian(patterns, active):
    """Hebbian couplings of the active rows of a shared pattern matrix,
    :math:`J = \\sum_\\mu a_\\mu\\xi^\\mu\\xi^{\\mu T}/N`, :math:`a_\\mu\\in\\{0,1\\}`: the
    per-network data is the vector ``active`` (``LowRankIsing`` weights), so vmapping
    networks of different loads over a shared pattern matrix batches K numbers, not a
    K x N matrix."""
    return LowRankIsing(patterns, weights=active)


def _active(n_max, n_active, dtype=jnp.float32):
    return (jnp.arange(n_max) < n_active).astype(dtype)


@partial(jax.jit, static_argnames=("max_sweeps", "block"))
def _relax_overlaps(keys, model, starts, targets, *, max_sweeps, block=8):
    """Zero-temperature asynchronous dynamics of a batch of replicas of one network (the
    model is shared, not vmapped): final overlap with ``targets``, fixed point, sweeps."""
    from physjax.spins.dense import relax

    def one(key, start, target):
        res = relax(key, model, start, dynamics="asynchronous", max_sweeps=max_sweeps,
                    block=block)
        return jnp.mean(res.spins * target), res.fixed_point, res.n_sweeps

    return jax.vmap(one)(keys, starts, targets)


def _loads(alphas, n_spins, name="alphas"):
    a = np.asarray(alphas, float).reshape(-1)
    if a.size == 0 or np.any(a <= 0) or np.any(np.diff(a) <= 0):
        raise ValueError(f"{name} must be a non-empty increasing list of loads > 0, got {a}")
    K = np.maximum(1, np.round(a * n_spins)).astype(int)
    if np.any(np.diff(K) <= 0):
        raise ValueError(f"{name} gives repeated pattern counts K = alpha N = {K.tolist()} at "
                         f"N = {n_spins}; use fewer loads or more spins")
    return K


def _mean_se(x):
    """Mean and standard error over the last (replica) axis."""
    x = np.asarray(x, float)
    return x.mean(-1), x.std(-1, ddof=1) / np.sqrt(x.shape[-1])


def _hebbian_network(patterns, n_patterns):
    """Hebb's couplings of the first ``n_patterns`` rows (shapes fixed by K_max)."""
    return _active_hebbian(patterns, _active(patterns.shape[0], n_patterns, patterns.dtype))


def _dreaming_network(patterns, n_patterns, sleep_time):
    """Dreaming couplings of the first K rows, :math:`J = \\xi^T A\\xi/N` with
    :math:`A = (1+t)(I+tC)^{-1} = LL^T`, written as Hebb's rule for the real "patterns"
    :math:`\\eta = L^T\\xi` (:math:`J = \\eta^T\\eta/N`): a K x K kernel would cost
    O(K^2) per block of spin updates, the factor costs nothing per update.  A and L are
    computed in float64 NumPy (the same A as :func:`physjax.spins.dreaming_kernel`, checked
    in the tests; NumPy avoids compiling XLA programs for every K)."""
    xi = np.asarray(patterns[:n_patterns], np.float64)
    K, N = xi.shape
    A = (1 + sleep_time) * np.linalg.inv(np.eye(K) + sleep_time * (xi @ xi.T) / N)
    eta = np.zeros(patterns.shape)
    eta[:K] = np.linalg.cholesky(0.5 * (A + A.T)).T @ xi
    return _active_hebbian(jnp.asarray(eta, patterns.dtype),
                           _active(patterns.shape[0], n_patterns, patterns.dtype))


def _retrieval_from_patterns(key, model, patterns, n_patterns, n_replicas, max_sweeps):
    """T = 0 relaxation of ``n_replicas`` replicas of ``model`` started on the stored
    patterns :math:`\\xi^{r \\bmod K}`: (final overlaps, fixed point reached, sweeps)."""
    starts = patterns[jnp.arange(n_replicas) % n_patterns]
    return _relax_overlaps(jax.random.split(key, n_replicas), model, starts, starts,
                           max_sweeps=max_sweeps)


# ---------------------------------------------------------------- hopfield-retrieval

@register(
    "hopfield-retrieval",
    description="Hopfield T=0 asynchronous retrieval: final vs initial Mattis overlap "
                "at several loads alpha",
    quick={"n_spins": 500, "alphas": (0.05, 0.1, 0.138, 0.2),
           "initial_overlaps": (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
           "n_replicas": 16, "max_sweeps": 50},
    full={"n_spins": 1000, "alphas": (0.05, 0.1, 0.12, 0.138, 0.16, 0.2),
          "initial_overlaps": tuple(np.round(np.linspace(0.05, 1.0, 20), 3).tolist()),
          "n_replicas": 24, "max_sweeps": 100},
)
def hopfield_retrieval(key, *, n_spins, alphas, initial_overlaps, n_replicas, max_sweeps,
                       progress=None) -> ExperimentResult:
    """Final overlap against initial overlap m0 (a fraction (1 - m0)/2 of flipped spins)."""
    from physjax.spins.hopfield import corrupt, random_patterns

    start = time.perf_counter()
    N = check_positive_int(n_spins, "n_spins", minimum=2)
    R = check_positive_int(n_replicas, "n_replicas", minimum=2)
    max_sweeps = check_positive_int(max_sweeps, "max_sweeps")
    K = _loads(alphas, N)
    m0 = np.asarray(initial_overlaps, float)
    if m0.size == 0 or np.any(m0 < 0) or np.any(m0 > 1):
        raise ValueError(f"initial_overlaps must lie in [0, 1], got {m0}")
    k_pat, k_run = jax.random.split(key)
    xi = random_patterns(k_pat, int(K[-1]), N)
    final = np.zeros((K.size, m0.size, R))
    start_overlap = np.zeros((K.size, m0.size, R))
    fixed = np.zeros((K.size, m0.size, R), bool)
    for a, k in enumerate(K):
        targets = xi[jnp.arange(R) % int(k)]
        ka = jax.random.fold_in(k_run, a)
        starts = jnp.stack([corrupt(jax.random.fold_in(ka, 1000 + j), targets, (1 - m) / 2)
                            for j, m in enumerate(m0)])
        model = _hebbian_network(xi, int(k))
        flat = starts.reshape(-1, N)
        tgt = jnp.tile(targets, (m0.size, 1))
        m, fp, _ = _relax_overlaps(jax.random.split(ka, flat.shape[0]), model, flat, tgt,
                                   max_sweeps=max_sweeps)
        final[a] = np.asarray(m).reshape(m0.size, R)
        fixed[a] = np.asarray(fp).reshape(m0.size, R)
        start_overlap[a] = np.asarray(jnp.mean(flat * tgt, -1)).reshape(m0.size, R)
        if progress is not None:
            progress(a + 1, K.size)
    mean, se = _mean_se(final)
    alpha = K / N
    summary = {}
    for a, al in enumerate(alpha):
        ok = np.flatnonzero(mean[a] > 0.95)
        basin = float(m0[ok[0]]) if ok.size and np.all(mean[a, ok[0]:] > 0.95) else float("nan")
        summary[f"alpha={al:.3g}: smallest m0 retrieved (m>0.95)"] = basin
        j = int(np.argmin(np.abs(m0 - 0.7)))
        summary[f"alpha={al:.3g}: m_final at m0={m0[j]:g}"] = float(mean[a, j])
    summary["fraction at fixed point"] = float(fixed.mean())
    summary["seconds"] = time.perf_counter() - start
    data = {"n_spins": N, "alphas": alpha, "n_patterns": K, "initial_overlaps": m0,
            "measured_initial_overlaps": start_overlap.mean(-1), "final_overlaps": final,
            "mean_final_overlap": mean, "se_final_overlap": se, "fixed_point": fixed}
    fig = _retrieval_figure(data)
    return ExperimentResult(data=data, figure=fig, summary=summary)


def _retrieval_figure(d):
    from physjax.plotting import new_figure

    fig, ax = new_figure(1, 1, panel_size=(5.0, 4.0))
    colours = _colours(len(d["alphas"]))
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls=":", label="no change")
    for a, al in enumerate(d["alphas"]):
        ax.errorbar(d["initial_overlaps"], d["mean_final_overlap"][a], d["se_final_overlap"][a],
                    fmt="o-", ms=3.5, lw=1.2, capsize=1.5, color=colours[a],
                    label=rf"$\alpha$ = {al:.3g}")
    ax.axhline(AGS_M_C, color="k", lw=0.8, ls="--", label=r"AGS $m_c$ = 0.967")
    ax.set(xlabel=r"initial overlap $m_0$", ylabel=r"final overlap $m$", ylim=(-0.05, 1.05),
           title=f"T = 0 asynchronous retrieval, N = {d['n_spins']}")
    ax.legend(fontsize=7, loc="lower right")
    return fig


def _colours(n):
    colormaps = require("matplotlib", by="physjax.experiments.hopfield (figures)").colormaps

    return [colormaps["viridis"](x) for x in np.linspace(0.0, 0.8, n)]


# ----------------------------------------------------------------- hopfield-capacity

@register(
    "hopfield-capacity",
    description="Hopfield storage capacity: retrieval from the stored patterns vs load alpha "
                "for two N, threshold where <m> < 0.967, AGS alpha_c = 0.138",
    quick={"sizes": (250, 500), "alphas": tuple(np.round(np.arange(0.06, 0.241, 0.02), 3)
                                                .tolist()),
           "n_replicas": 32, "max_sweeps": 60, "success_overlap": 0.9},
    full={"sizes": (500, 1000), "alphas": tuple(np.round(np.arange(0.05, 0.2501, 0.01), 3)
                                                .tolist()),
          "n_replicas": 64, "max_sweeps": 100, "success_overlap": 0.9},
)
def hopfield_capacity(key, *, sizes, alphas, n_replicas, max_sweeps, success_overlap,
                      progress=None) -> ExperimentResult:
    """Mean final overlap and P(m_final > success_overlap) against alpha, per size N."""
    from physjax.spins.hopfield import random_patterns

    start = time.perf_counter()
    sizes = tuple(sorted(check_positive_int(n, "sizes", minimum=2) for n in sizes))
    if not sizes:
        raise ValueError("sizes must name at least one number of spins N")
    R = check_positive_int(n_replicas, "n_replicas", minimum=2)
    max_sweeps = check_positive_int(max_sweeps, "max_sweeps")
    alpha = np.asarray(alphas, float)
    Ks = [_loads(alpha, N) for N in sizes]
    final = np.zeros((len(sizes), alpha.size, R))
    fixed = np.zeros(final.shape, bool)
    sweeps = np.zeros(final.shape, int)
    done, total = 0, len(sizes) * alpha.size
    for i, (N, K) in enumerate(zip(sizes, Ks, strict=True)):
        kn = jax.random.fold_in(key, N)
        xi = random_patterns(jax.random.fold_in(kn, 0), int(K[-1]), N)
        for a, k in enumerate(K):
            m, fp, n = _retrieval_from_patterns(jax.random.fold_in(kn, a + 1),
                                                _hebbian_network(xi, int(k)), xi, int(k), R,
                                                max_sweeps)
            final[i, a], fixed[i, a], sweeps[i, a] = m, fp, n
            done += 1
            if progress is not None:
                progress(done, total)
    mean, se = _mean_se(final)
    p_success = (final > success_overlap).mean(-1)
    thresholds = np.array([retrieval_threshold(Ks[i] / N, mean[i])
                           for i, N in enumerate(sizes)])
    summary = {}
    for i, N in enumerate(sizes):
        summary[f"N={N}: threshold alpha (<m> < {AGS_M_C})"] = thresholds[i]
        half = retrieval_threshold(Ks[i] / N, p_success[i], 0.5)
        summary[f"N={N}: alpha where P(retrieval) = 1/2"] = half
        summary[f"N={N}: <m> at alpha={alpha[0]:g}"] = float(mean[i, 0])
        summary[f"N={N}: <m> at alpha={alpha[-1]:g}"] = float(mean[i, -1])
    summary["AGS alpha_c"] = AGS_ALPHA_C
    summary["fraction at fixed point"] = float(fixed.mean())
    summary["seconds"] = time.perf_counter() - start
    data = {"sizes": np.array(sizes), "alphas": np.stack([K / N for K, N in zip(
        Ks, sizes, strict=True)]), "final_overlaps": final, "mean_final_overlap": mean,
            "se_final_overlap": se, "retrieval_probability": p_success,
            "success_overlap": success_overlap, "thresholds": thresholds,
            "fixed_point": fixed, "sweeps": sweeps}
    return ExperimentResult(data=data, figure=_capacity_figure(data), summary=summary)


def _capacity_figure(d):
    from physjax.plotting import new_figure

    fig, (ax_m, ax_p) = new_figure(1, 2, panel_size=(4.6, 3.6))
    colours = _colours(len(d["sizes"]))
    for i, N in enumerate(d["sizes"]):
        a = d["alphas"][i]
        ax_m.errorbar(a, d["mean_final_overlap"][i], d["se_final_overlap"][i], fmt="o-", ms=3.5,
                      capsize=1.5, color=colours[i], label=f"N = {N}")
        ax_p.plot(a, d["retrieval_probability"][i], "o-", ms=3.5, color=colours[i],
                  label=f"N = {N}")
        th = d["thresholds"][i]
        if np.isfinite(th):
            for ax in (ax_m, ax_p):
                ax.axvline(th, color=colours[i], lw=0.9, ls="--")
            ax_m.plot([th], [AGS_M_C], "x", color=colours[i], ms=8,
                      label=rf"threshold $\alpha$ = {th:.3f}")
    for ax in (ax_m, ax_p):
        ax.axvline(AGS_ALPHA_C, color="k", lw=1.0, ls=":", label=r"AGS $\alpha_c$ = 0.138")
        ax.set_xlabel(r"load $\alpha = K/N$")
    ax_m.axhline(AGS_M_C, color="0.5", lw=0.8, ls="-.", label=r"AGS $m_c$ = 0.967")
    ax_m.set(ylabel=r"mean final overlap $\langle m\rangle$", ylim=(0, 1.03),
             title="T = 0 from the stored patterns")
    ax_p.set(ylabel=rf"P($m > {d['success_overlap']:g}$)", ylim=(-0.03, 1.03),
             title="retrieval probability")
    ax_m.legend(fontsize=7, loc="lower left")
    ax_p.legend(fontsize=7, loc="lower left")
    return fig


# ------------------------------------------------------------ hopfield-phase-diagram

def _phase_replica(patterns, n_burn, n_measure, block=8):
    """``fn(key, {'n_patterns', 'temperature'})`` for :func:`physjax.ensemble.sweep`: one
    heat-bath replica (:class:`~physjax.spins.dense.DenseSingleSpin`) started on
    :math:`\\xi^1` of the network of the first K patterns; ``n_burn`` sweeps, then
    ``n_measure`` measuring sweeps, in one loop."""
    from physjax.spins.dense import DenseSingleSpin

    K_max, N = patterns.shape
    half = n_measure // 2
    overlap = lambda s: patterns[0] @ s / N
    kernel = DenseSingleSpin("heat_bath", "sequential", block)

    def one_replica(key, params):
        model = _active_hebbian(patterns, _active(K_max, params["n_patterns"], patterns.dtype))
        k_init, k_run = jax.random.split(key)
        state = kernel.init(k_init, model, params["temperature"], spins=patterns[0])
        model, state = kernel.check(model, state)

        def sweep(i, carry):
            st, first, second, m_sum = carry
            st, _ = kernel.step(jax.random.fold_in(k_run, i), model, st)
            j = i - n_burn  # measuring sweep (< 0 during the burn-in)
            first = first + jnp.where((j >= 0) & (j < half), st.spins, 0.0)
            second = second + jnp.where(j >= half, st.spins, 0.0)
            m_sum = m_sum + jnp.where(j >= 0, jnp.abs(overlap(st.spins)), 0.0)
            return st, first, second, m_sum

        zeros = jnp.zeros_like(state.spins)
        state, first, second, m_sum = jax.lax.fori_loop(
            0, n_burn + 2 * half, sweep, (state, zeros, zeros, jnp.zeros((), zeros.dtype)))
        return {"abs_m_mean": m_sum / (2 * half), "m_final": overlap(state.spins),
                "q_ea": jnp.mean(first * second) / half**2,
                "energy": model.energy(state.spins) / N}

    return one_replica


@register(
    "hopfield-phase-diagram",
    description="Hopfield (alpha, T) phase diagram from one sharded ensemble sweep of "
                "heat-bath replicas: retrieval / spin glass / paramagnet vs the AGS lines",
    quick={"n_spins": 200, "n_alphas": 8, "alpha_max": 0.2, "n_temperatures": 6,
           "t_min": 0.1, "t_max": 1.6, "n_replicas": 4, "n_burn": 50, "n_measure": 50,
           "retrieval_overlap": 0.5, "q_threshold": 0.1, "chunk_size": 512},
    full={"n_spins": 1000, "n_alphas": 40, "alpha_max": 0.2, "n_temperatures": 20,
          "t_min": 0.1, "t_max": 1.6, "n_replicas": 16, "n_burn": 80, "n_measure": 80,
          "retrieval_overlap": 0.5, "q_threshold": 0.1, "chunk_size": 512},
)
def hopfield_phase_diagram(key, *, n_spins, n_alphas, alpha_max, n_temperatures, t_min,
                           t_max, n_replicas, n_burn, n_measure, retrieval_overlap,
                           q_threshold, chunk_size, progress=None) -> ExperimentResult:
    """Classify every (alpha, T) cell from R heat-bath replicas; see the module docstring."""
    import physjax.ensemble as ens
    from physjax.spins.hopfield import random_patterns

    start = time.perf_counter()
    N = check_positive_int(n_spins, "n_spins", minimum=2)
    n_a = check_positive_int(n_alphas, "n_alphas")
    n_t = check_positive_int(n_temperatures, "n_temperatures")
    R = check_positive_int(n_replicas, "n_replicas")
    n_burn = check_positive_int(n_burn, "n_burn")
    n_measure = check_positive_int(n_measure, "n_measure", minimum=2)
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    if not 0 < t_min < t_max:
        raise ValueError(f"need 0 < t_min < t_max, got t_min={t_min}, t_max={t_max}")
    K = _loads(np.linspace(alpha_max / n_a, alpha_max, n_a), N, "n_alphas/alpha_max")
    temperatures = np.linspace(t_min, t_max, n_t)
    k_pat, k_sweep = jax.random.split(key)
    xi = random_patterns(k_pat, int(K[-1]), N)
    grid = ens.product_grid(n_patterns=K.astype(np.int32), temperature=temperatures)
    fn = _phase_replica(xi, n_burn, n_measure)
    n_chunks = -(-grid.points["temperature"].size * R // chunk_size)
    finished = []

    def on_chunk(c, loaded):
        finished.append(c)
        if progress is not None:
            progress(len(finished), n_chunks)

    t_sweep = time.perf_counter()
    result = ens.sweep(fn, k_sweep, grid, R, chunk_size=chunk_size, progress=False,
                       on_chunk=on_chunk,
                       tag={"experiment": "hopfield-phase-diagram", "n_spins": N,
                            "n_burn": n_burn, "n_measure": n_measure})
    sweep_seconds = time.perf_counter() - t_sweep
    v = ens.unflatten_grid(result.values, grid.shape)  # (n_a, n_t, R)
    m_abs = np.asarray(v["abs_m_mean"], float).mean(-1)
    q = np.asarray(v["q_ea"], float).mean(-1)
    phase = np.where(m_abs > retrieval_overlap, RETRIEVAL,
                     np.where(q > q_threshold, SPIN_GLASS, PARAMAGNET))
    alpha = K / N
    t_line = np.concatenate([np.linspace(0.0, 0.98, 50), [0.995, 1.0]])
    alpha_line, m_line = ags_retrieval_line(t_line)
    A, T = np.meshgrid(alpha, temperatures, indexing="ij")
    ags_phase = np.where(A < np.interp(T, t_line, alpha_line, right=0.0), RETRIEVAL,
                         np.where(T < spin_glass_temperature(A), SPIN_GLASS, PARAMAGNET))
    summary = {f"fraction {name}": float(np.mean(phase == p))
               for p, name in enumerate(PHASE_NAMES)}
    summary["fraction of cells agreeing with AGS"] = float(np.mean(phase == ags_phase))
    retrieving = phase[:, 0] == RETRIEVAL
    summary[f"largest retrieving alpha at T={temperatures[0]:g}"] = (
        float(alpha[retrieving].max()) if retrieving.any() else float("nan"))
    summary[f"AGS alpha_c at T={temperatures[0]:g}"] = float(
        ags_retrieval_line([temperatures[0]])[0][0])
    summary["<|m|> at smallest alpha, lowest T"] = float(m_abs[0, 0])
    summary["max q_EA at highest T"] = float(q[:, -1].max())
    summary["replicas"] = int(K.size * n_t * R)
    summary["sweep seconds"] = sweep_seconds
    summary["seconds"] = time.perf_counter() - start
    data = {"n_spins": N, "alphas": alpha, "n_patterns": K, "temperatures": temperatures,
            "abs_m_mean": np.asarray(v["abs_m_mean"]), "m_final": np.asarray(v["m_final"]),
            "q_ea": np.asarray(v["q_ea"]), "energy": np.asarray(v["energy"]),
            "mean_abs_overlap": m_abs, "mean_q_ea": q, "phase": phase, "ags_phase": ags_phase,
            "phase_names": list(PHASE_NAMES), "ags_line_temperature": t_line,
            "ags_line_alpha": alpha_line, "ags_line_overlap": m_line,
            "retrieval_overlap": retrieval_overlap, "q_threshold": q_threshold}
    return ExperimentResult(data=data, figure=_phase_figure(data), summary=summary)


def _phase_figure(d):
    from physjax.plotting import new_figure

    colors = require("matplotlib.colors", by="physjax.experiments.hopfield (figures)")
    ListedColormap = colors.ListedColormap

    fig, axes = new_figure(1, 3, panel_size=(4.2, 3.6))
    a, t = d["alphas"], d["temperatures"]
    da, dt = (a[1] - a[0] if a.size > 1 else a[0]), (t[1] - t[0] if t.size > 1 else 0.1)
    extent = (a[0] - da / 2, a[-1] + da / 2, t[0] - dt / 2, t[-1] + dt / 2)
    cmap = ListedColormap(["#f2f2f2", "#9ecae1", "#fdae6b"])
    panels = [(d["phase"], cmap, (-0.5, 2.5), "phases (this run)"),
              (d["mean_abs_overlap"], "magma", (0, 1), r"$\langle|\bar m|\rangle$"),
              (d["mean_q_ea"], "viridis", (0, 1), r"$q_{EA}$ (split-half)")]
    a_fine = np.linspace(0, extent[1], 200)
    for ax, (z, cm, (lo, hi), title) in zip(axes, panels, strict=True):
        im = ax.imshow(np.asarray(z, float).T, origin="lower", aspect="auto", extent=extent,
                       cmap=cm, vmin=lo, vmax=hi, interpolation="nearest")
        ax.plot(d["ags_line_alpha"], d["ags_line_temperature"], "k-", lw=1.4,
                label=r"AGS $T_M(\alpha)$")
        ax.plot(a_fine, spin_glass_temperature(a_fine), "k--", lw=1.2,
                label=r"$T_g = 1+\sqrt{\alpha}$")
        ax.set(xlabel=r"$\alpha = K/N$", ylabel="T", title=title, xlim=extent[:2],
               ylim=extent[2:])
        if ax is not axes[0]:
            fig.colorbar(im, ax=ax, shrink=0.85)
    Patch = require("matplotlib.patches", by="physjax.experiments.hopfield (figures)").Patch

    handles = [Patch(color=cmap(p), label=name) for p, name in enumerate(PHASE_NAMES)]
    handles += axes[0].get_legend_handles_labels()[0]
    axes[0].legend(handles=handles, fontsize=7, loc="upper left")
    axes[0].set_title(f"phases, N = {d['n_spins']} (m > {d['retrieval_overlap']:g}, "
                      f"q > {d['q_threshold']:g})", fontsize=9)
    return fig


# ------------------------------------------------------------------------- dreaming

@register(
    "dreaming",
    description="Dreaming networks: T=0 capacity vs sleep time t of J(t) = xi^T (1+t)"
                "(I+tC)^-1 xi / N",
    quick={"n_spins": 200, "sleep_times": (0.0, 1.0, 10.0, 100.0, 1e4),
           "alphas": (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95),
           "n_replicas": 16, "max_sweeps": 50},
    full={"n_spins": 500, "sleep_times": (0.0, 1.0, 10.0, 100.0, 1e4),
          "alphas": tuple(np.round(np.arange(0.05, 0.951, 0.05), 3).tolist()),
          "n_replicas": 32, "max_sweeps": 100},
)
def dreaming_capacity(key, *, n_spins, sleep_times, alphas, n_replicas, max_sweeps,
                      progress=None) -> ExperimentResult:
    """Mean final overlap against alpha for each sleep time, and the threshold per t."""
    from physjax.spins.hopfield import random_patterns

    start = time.perf_counter()
    N = check_positive_int(n_spins, "n_spins", minimum=2)
    R = check_positive_int(n_replicas, "n_replicas", minimum=2)
    max_sweeps = check_positive_int(max_sweeps, "max_sweeps")
    t = np.asarray(sleep_times, float)
    if t.size == 0 or np.any(t < 0) or not np.all(np.isfinite(t)):
        raise ValueError(f"sleep_times must be finite and >= 0, got {t}")
    K = _loads(alphas, N)
    if K[-1] >= N:
        raise ValueError(f"alphas must stay below 1 (K < N) for the dreaming kernel, got "
                         f"K = {K[-1]} at N = {N}")
    k_pat, k_run = jax.random.split(key)
    xi = random_patterns(k_pat, int(K[-1]), N)
    final = np.zeros((t.size, K.size, R))
    done = 0
    for i, ti in enumerate(t):
        for a, k in enumerate(K):
            model = _dreaming_network(xi, int(k), float(ti))
            m, _, _ = _retrieval_from_patterns(jax.random.fold_in(k_run, i * K.size + a), model,
                                               xi, int(k), R, max_sweeps)
            final[i, a] = m
            done += 1
            if progress is not None:
                progress(done, t.size * K.size)
    mean, se = _mean_se(final)
    alpha = K / N
    thresholds = np.array([retrieval_threshold(alpha, mean[i]) for i in range(t.size)])
    summary = {}
    for i, ti in enumerate(t):
        summary[f"t={ti:g}: threshold alpha (<m> < {AGS_M_C})"] = thresholds[i]
        kept = np.flatnonzero(mean[i] >= AGS_M_C)
        summary[f"t={ti:g}: largest alpha with <m> >= {AGS_M_C}"] = (
            float(alpha[kept[-1]]) if kept.size else float("nan"))
        summary[f"t={ti:g}: <m> at alpha={alpha[-1]:g}"] = float(mean[i, -1])
    summary["seconds"] = time.perf_counter() - start
    data = {"n_spins": N, "sleep_times": t, "alphas": alpha, "n_patterns": K,
            "final_overlaps": final, "mean_final_overlap": mean, "se_final_overlap": se,
            "thresholds": thresholds}
    return ExperimentResult(data=data, figure=_dreaming_figure(data), summary=summary)


def _dreaming_figure(d):
    from physjax.plotting import new_figure

    fig, (ax_m, ax_t) = new_figure(1, 2, panel_size=(4.6, 3.6))
    colours = _colours(len(d["sleep_times"]))
    for i, ti in enumerate(d["sleep_times"]):
        ax_m.errorbar(d["alphas"], d["mean_final_overlap"][i], d["se_final_overlap"][i],
                      fmt="o-", ms=3.5, capsize=1.5, color=colours[i], label=f"t = {ti:g}")
    ax_m.axhline(AGS_M_C, color="0.5", lw=0.8, ls="-.", label=r"$m_c$ = 0.967")
    ax_m.axvline(AGS_ALPHA_C, color="k", lw=0.8, ls=":", label=r"AGS $\alpha_c$")
    ax_m.set(xlabel=r"load $\alpha$", ylabel=r"mean final overlap $\langle m\rangle$",
             ylim=(0, 1.03), title=f"T = 0 from the stored patterns, N = {d['n_spins']}")
    ax_m.legend(fontsize=7, loc="lower left")
    th = np.asarray(d["thresholds"], float)
    x = np.maximum(d["sleep_times"], 0.1)
    ok = np.isfinite(th)
    ax_t.plot(x[ok], th[ok], "ko-", ms=4, label=r"threshold ($\langle m\rangle < m_c$)")
    if (~ok).any():
        ax_t.plot(x[~ok], np.full((~ok).sum(), d["alphas"][-1]), "k^", ms=7, mfc="none",
                  label="retrieves on the whole grid")
    ax_t.axhline(AGS_ALPHA_C, color="k", lw=0.8, ls=":", label="Hebb (AGS)")
    ax_t.axhline(1.0, color="0.5", lw=0.8, ls="--", label=r"$t\to\infty$: $\alpha_c = 1$")
    ax_t.set(xscale="log", xlabel="sleep time t (t = 0 drawn at 0.1)",
             ylabel=r"threshold $\alpha$", ylim=(0, 1.05), title="capacity vs sleep time")
    ax_t.legend(fontsize=7, loc="lower right")
    return fig
