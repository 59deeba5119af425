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

The AGS theory the experiments compare with (capacity, retrieval and spin-glass lines) is
:mod:`physjax.spins.theory`; the figures are drawn by
:mod:`physjax.experiments._hopfield_figures`.
"""

from __future__ import annotations

import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from physjax._checks import check_positive_int, check_sizes
from physjax.experiments import ExperimentResult, register
from physjax.experiments._hopfield_figures import (
    capacity_figure,
    dreaming_figure,
    phase_figure,
    retrieval_figure,
)
from physjax.spins.models import LowRankIsing
from physjax.spins.theory import (
    AGS_ALPHA_C,
    AGS_M_C,
    ags_retrieval_line,
    retrieval_threshold,
    spin_glass_temperature,
)

PARAMAGNET, SPIN_GLASS, RETRIEVAL = 0, 1, 2
PHASE_NAMES = ("paramagnet", "spin glass", "retrieval")


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


def _check_relaxation(n_replicas, max_sweeps):
    """The replica count (>= 2, for standard errors) and the sweep cap of the T = 0
    experiments, checked."""
    return (check_positive_int(n_replicas, "n_replicas", minimum=2),
            check_positive_int(max_sweeps, "max_sweeps"))


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

    N = check_positive_int(n_spins, "n_spins", minimum=2)
    R, max_sweeps = _check_relaxation(n_replicas, max_sweeps)
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
    data = {"n_spins": N, "alphas": alpha, "n_patterns": K, "initial_overlaps": m0,
            "measured_initial_overlaps": start_overlap.mean(-1), "final_overlaps": final,
            "mean_final_overlap": mean, "se_final_overlap": se, "fixed_point": fixed}
    fig = retrieval_figure(data)
    return ExperimentResult(data=data, figure=fig, summary=summary)


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

    sizes = check_sizes(sizes, "sizes", "number of spins N")
    R, max_sweeps = _check_relaxation(n_replicas, max_sweeps)
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
    data = {"sizes": np.array(sizes), "alphas": np.stack([K / N for K, N in zip(
        Ks, sizes, strict=True)]), "final_overlaps": final, "mean_final_overlap": mean,
            "se_final_overlap": se, "retrieval_probability": p_success,
            "success_overlap": success_overlap, "thresholds": thresholds,
            "fixed_point": fixed, "sweeps": sweeps}
    return ExperimentResult(data=data, figure=capacity_figure(data), summary=summary)


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
    data = {"n_spins": N, "alphas": alpha, "n_patterns": K, "temperatures": temperatures,
            "abs_m_mean": np.asarray(v["abs_m_mean"]), "m_final": np.asarray(v["m_final"]),
            "q_ea": np.asarray(v["q_ea"]), "energy": np.asarray(v["energy"]),
            "mean_abs_overlap": m_abs, "mean_q_ea": q, "phase": phase, "ags_phase": ags_phase,
            "phase_names": list(PHASE_NAMES), "ags_line_temperature": t_line,
            "ags_line_alpha": alpha_line, "ags_line_overlap": m_line,
            "retrieval_overlap": retrieval_overlap, "q_threshold": q_threshold}
    return ExperimentResult(data=data, figure=phase_figure(data), summary=summary)


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

    N = check_positive_int(n_spins, "n_spins", minimum=2)
    R, max_sweeps = _check_relaxation(n_replicas, max_sweeps)
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
    data = {"n_spins": N, "sleep_times": t, "alphas": alpha, "n_patterns": K,
            "final_overlaps": final, "mean_final_overlap": mean, "se_final_overlap": se,
            "thresholds": thresholds}
    return ExperimentResult(data=data, figure=dreaming_figure(data), summary=summary)
