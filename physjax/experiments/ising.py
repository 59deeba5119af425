r"""2-D lattice Ising model across :math:`T_c`: Monte Carlo against Onsager and Kaufman.

For each lattice size :math:`L` one call of :func:`physjax.spins.sample_ising` runs every
temperature × replica pair at once (the multi-spin engine packs 32 replicas per ``uint32``
word, with per-replica temperatures), from an ordered start, with ``burn_in`` sweeps
before ``n_sweeps`` recorded ones.  Per replica the time averages of :math:`e`,
:math:`|m|`, :math:`m^2`, :math:`m^4` are taken; replicas are independent, so

* :math:`\langle e\rangle`, :math:`\langle|m|\rangle`: mean over replicas, error = standard
  error of the replica means;
* :math:`U_4 = 1 - \langle m^4\rangle / (3\langle m^2\rangle^2)` and
  :math:`\chi = N(\langle m^2\rangle - \langle|m|\rangle^2)/T` from the pooled moments, error
  by the leave-one-replica-out jackknife (:func:`physjax.spins.observables.jackknife` with
  one block per replica).

References drawn: Onsager's energy per spin and the Onsager–Yang spontaneous magnetization
of the infinite lattice, Kaufman's exact energy per spin of each finite periodic
:math:`L\times L` lattice (dashed), and :math:`T_c = 2/\ln(1+\sqrt2)`.  The Binder
cumulants of the two largest sizes cross near :math:`T_c` (at the universal
:math:`U^* \approx 0.6107` of the periodic square lattice, Salas & Sokal 2000).
The temperature grid is ``linspace(t_min, t_max, n_temperatures)`` with a denser window of
``n_critical`` points in :math:`T_c \pm` ``critical_window`` (see :func:`temperature_grid`).
(:func:`physjax.ensemble.sweep` would vmap single replicas and lose the
32-replicas-per-word packing, so this experiment calls ``sample_ising`` directly.)
Progress is reported after every chunk of each size's run (``sample_ising(progress=...)``,
about 50 chunks per size), in lattice-site updates per replica.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from physjax._checks import check_choice, check_positive_int, check_sizes, check_temperature
from physjax._options import UpdateRule
from physjax.experiments import ExperimentResult, register

#: Universal Binder cumulant at criticality of the periodic square lattice (Salas & Sokal 2000).
BINDER_CRITICAL_PERIODIC_SQUARE = 0.61069

_Z_BRACKET = 3.0  # |U_big - U_small| / error beyond which the sign of the difference counts


def temperature_grid(n_temperatures, t_min, t_max, n_critical, critical_window):
    r"""``linspace(t_min, t_max, n_temperatures)`` with a denser window around :math:`T_c`.

    The window holds :math:`T_c` and ``n_critical`` equally spaced points spanning
    :math:`T_c \pm` ``critical_window``; it replaces the uniform points closer to
    :math:`T_c` than the window's edge plus half its spacing.  Points outside
    ``[t_min, t_max]`` are dropped.
    """
    from physjax.spins import CRITICAL_TEMPERATURE_2D as tc

    uniform = np.linspace(t_min, t_max, n_temperatures)
    window = tc + critical_window * np.linspace(-1.0, 1.0, n_critical)
    spacing = 2 * critical_window / (n_critical - 1) if n_critical > 1 else 0.0
    keep = np.abs(uniform - tc) > critical_window + spacing / 2
    grid = np.unique(np.concatenate([uniform[keep], window, [tc]]))
    return grid[(grid >= t_min) & (grid <= t_max)]


def _replica_moments(samples, n_temperatures, n_replicas):
    """Per-replica time averages, each of shape (n_temperatures, n_replicas)."""
    keep = n_temperatures * n_replicas
    e = np.asarray(samples.energy[:keep], dtype=np.float64)
    m = np.asarray(samples.magnetization[:keep], dtype=np.float64)
    shape = (n_temperatures, n_replicas)
    return {
        "e": e.mean(axis=-1).reshape(shape),
        "abs_m": np.abs(m).mean(axis=-1).reshape(shape),
        "m2": (m**2).mean(axis=-1).reshape(shape),
        "m4": (m**4).mean(axis=-1).reshape(shape),
    }


def _mean_and_standard_error(x):
    return x.mean(axis=-1), x.std(axis=-1, ddof=1) / np.sqrt(x.shape[-1])


def _binder_from_moments(m2, m4):
    return 1.0 - jnp.mean(m4, axis=-1) / (3.0 * jnp.mean(m2, axis=-1) ** 2)


def _leave_one_out_binder(m2, m4):
    """U4 with replica i left out, shape (n_temperatures, n_replicas)."""
    r = m2.shape[-1]
    m2_loo = (m2.sum(axis=-1, keepdims=True) - m2) / (r - 1)
    m4_loo = (m4.sum(axis=-1, keepdims=True) - m4) / (r - 1)
    return 1.0 - m4_loo / (3.0 * m2_loo**2)


def binder_crossing(temperatures, u_small, u_big, err_small, err_big) -> float:
    r"""Temperature where the Binder cumulants of two sizes cross.

    :math:`D(T) = U_{\rm big} - U_{\rm small}` is positive below :math:`T_c` and negative
    above.  The bracket runs from the last point with :math:`D > 3\sigma_D` to the first
    later point with :math:`D < -3\sigma_D`; the last sign change of :math:`D` inside it is
    interpolated linearly between its two grid points (:math:`D` is far from linear across
    the bracket: tiny below :math:`T_c`, steep above, so a line fitted to the whole bracket
    is biased).  NaN when there is no such bracket.
    """
    d = np.asarray(u_big) - np.asarray(u_small)
    sigma = np.hypot(err_small, err_big) + 1e-12
    z = d / sigma
    below = np.flatnonzero(z > _Z_BRACKET)
    for j in np.flatnonzero(z < -_Z_BRACKET):
        before = below[below < j]
        if before.size:
            i = before[-1]
            k = i + np.flatnonzero(d[i:j] > 0)[-1]  # last sign change in the bracket
            t0, t1, d0, d1 = temperatures[k], temperatures[k + 1], d[k], d[k + 1]
            return float(t0 + (t1 - t0) * d0 / (d0 - d1))
    return float("nan")


def _size_progress(progress, work, i, sites):
    """Progress of the run of size ``i`` (in sweeps) as site updates of the whole
    experiment."""
    before, total = sum(work[:i]), sum(work)
    return lambda done, _total: progress(before + sites * done, total)


def _exact_curves(sizes, temperatures, t_fine):
    from physjax.spins import exact

    return {
        "onsager_energy": exact.onsager_energy_per_spin(temperatures),
        "onsager_yang_magnetization": exact.onsager_yang_magnetization(temperatures),
        "kaufman_energy": np.stack(
            [exact.exact_finite_lattice(L, temperatures).energy_per_spin for L in sizes]),
        "fine_temperatures": t_fine,
        "fine_onsager_energy": exact.onsager_energy_per_spin(t_fine),
        "fine_onsager_yang_magnetization": exact.onsager_yang_magnetization(t_fine),
        "fine_kaufman_energy": np.stack(
            [exact.exact_finite_lattice(L, t_fine).energy_per_spin for L in sizes]),
    }


@register(
    "ising",
    description="2-D Ising model: |m|, energy, Binder cumulant and susceptibility vs T for "
                "several L against Onsager/Kaufman, with snapshots",
    quick={"sizes": (8, 16, 32), "n_temperatures": 16, "t_min": 1.5, "t_max": 3.5,
           "n_critical": 5, "critical_window": 0.1,
           "n_replicas": 32, "n_sweeps": 2000, "burn_in": 1000, "record_every": 10,
           "rule": "metropolis", "snapshot_temperatures": (1.5, 2.5, 4.0)},
    full={"sizes": (16, 32, 64, 128), "n_temperatures": 16, "t_min": 1.5, "t_max": 3.5,
          "n_critical": 11, "critical_window": 0.1,
          "n_replicas": 32, "n_sweeps": 10000, "burn_in": 5000, "record_every": 10,
          "rule": "metropolis", "snapshot_temperatures": (1.5, 2.5, 4.0)},
)
def ising(key, *, sizes, n_temperatures, t_min, t_max, n_critical, critical_window,
          n_replicas, n_sweeps, burn_in, record_every, rule, snapshot_temperatures,
          progress=None) -> ExperimentResult:
    """|m|, e, U4 and χ against T for each L in ``sizes``; see the module docstring."""
    from physjax.spins import CRITICAL_TEMPERATURE_2D as TC
    from physjax.spins import IsingLattice, sample_ising
    from physjax.spins.observables import jackknife

    sizes = check_sizes(sizes, "sizes", "lattice side L")
    n_temperatures = check_positive_int(n_temperatures, "n_temperatures", minimum=2)
    n_replicas = check_positive_int(n_replicas, "n_replicas", minimum=2)
    check_temperature(np.array([t_min, t_max]), "t_min/t_max")
    if not t_min < t_max:
        raise ValueError(f"t_min must be below t_max, got t_min={t_min}, t_max={t_max}")
    n_critical = check_positive_int(n_critical, "n_critical", minimum=0)
    if not critical_window >= 0:
        raise ValueError(f"critical_window must be >= 0, got {critical_window}")
    check_choice(rule, "rule", UpdateRule)
    snap_t = np.asarray(check_temperature(np.asarray(snapshot_temperatures, dtype=float),
                                          "snapshot_temperatures"), dtype=float).reshape(-1)

    temperatures = temperature_grid(n_temperatures, t_min, t_max, n_critical, critical_window)
    n_t = temperatures.size
    stats = {k: np.zeros((len(sizes), n_t)) for k in (
        "energy", "energy_err", "abs_magnetization", "abs_magnetization_err",
        "binder", "binder_err", "susceptibility", "susceptibility_err")}
    loo_binder = []
    snapshots = None
    # progress in lattice-site updates per replica (a sweep of size L counts L^2), reported
    # after every chunk of each size's run
    work = [L * L * (burn_in + n_sweeps) for L in sizes]
    for i, L in enumerate(sizes):
        model = IsingLattice((L, L))
        temps = np.repeat(temperatures, n_replicas)
        if L == sizes[-1]:  # extra replicas for the snapshots, left out of the statistics
            temps = np.concatenate([temps, snap_t])
        report = None if progress is None else _size_progress(progress, work, i, L * L)
        samples = sample_ising(jax.random.fold_in(key, L), model, temps, n_sweeps, rule=rule,
                               burn_in=burn_in, record_every=record_every, start="up",
                               progress=report)
        mom = _replica_moments(samples, n_t, n_replicas)
        stats["energy"][i], stats["energy_err"][i] = _mean_and_standard_error(mom["e"])
        stats["abs_magnetization"][i], stats["abs_magnetization_err"][i] = (
            _mean_and_standard_error(mom["abs_m"]))
        u, du = jackknife(_binder_from_moments, mom["m2"], mom["m4"], n_blocks=n_replicas)
        stats["binder"][i], stats["binder_err"][i] = u, du
        chi, dchi = jackknife(
            lambda am, m2, n=L * L: n * (jnp.mean(m2, -1) - jnp.mean(am, -1) ** 2)
            / temperatures, mom["abs_m"], mom["m2"], n_blocks=n_replicas)
        stats["susceptibility"][i], stats["susceptibility_err"][i] = chi, dchi
        loo_binder.append(_leave_one_out_binder(mom["m2"], mom["m4"]))
        if L == sizes[-1]:
            snapshots = np.asarray(samples.spins[n_t * n_replicas:])

    t_fine = np.union1d(np.linspace(t_min, t_max, 61), [TC] if t_min < TC < t_max else [])
    exact = _exact_curves(sizes, temperatures, t_fine)

    # Binder crossing of the two largest sizes, jackknifed over replicas.
    crossing = crossing_err = float("nan")
    if len(sizes) >= 2:
        args = (stats["binder_err"][-2], stats["binder_err"][-1])
        crossing = binder_crossing(temperatures, stats["binder"][-2], stats["binder"][-1],
                                   *args)
        loo = np.array([binder_crossing(temperatures, loo_binder[-2][:, r],
                                        loo_binder[-1][:, r], *args)
                        for r in range(n_replicas)])
        if np.all(np.isfinite(loo)):
            crossing_err = float(np.sqrt((n_replicas - 1) / n_replicas
                                         * np.sum((loo - loo.mean()) ** 2)))

    i_tc = int(np.argmin(np.abs(temperatures - TC)))
    z_energy = (stats["energy"] - exact["kaufman_energy"]) / np.maximum(stats["energy_err"],
                                                                         1e-12)
    summary = {
        "binder_crossing_T": crossing,
        "binder_crossing_err": crossing_err,
        "binder_crossing_minus_Tc": crossing - TC,
        "abs_m_lowest_T": stats["abs_magnetization"][-1, 0],
        "abs_m_lowest_T_err": stats["abs_magnetization_err"][-1, 0],
        "onsager_yang_lowest_T": float(exact["onsager_yang_magnetization"][0]),
        "e_Tc_largest_L": stats["energy"][-1, i_tc],
        "e_Tc_largest_L_err": stats["energy_err"][-1, i_tc],
        "kaufman_e_Tc_largest_L": float(exact["kaufman_energy"][-1, i_tc]),
        "max_abs_z_energy_vs_kaufman": float(np.max(np.abs(z_energy))),
        "binder_Tc_largest_L": stats["binder"][-1, i_tc],
    }
    summary = {k: float(v) for k, v in summary.items()}
    data = {"sizes": np.array(sizes), "temperatures": temperatures, "critical_temperature": TC,
            **stats, **exact, "snapshot_temperatures": snap_t, "snapshots": snapshots}
    figure = _figure(data, crossing)
    return ExperimentResult(data=data, figure=figure, summary=summary)


def _figure(d, crossing):
    from physjax.plotting import new_figure

    fig, axes = new_figure(2, 4, panel_size=(3.6, 3.0))
    sizes, t, tc, tf = d["sizes"], d["temperatures"], d["critical_temperature"], \
        d["fine_temperatures"]
    colours = [f"C{i}" for i in range(len(sizes))]
    ax_m, ax_e, ax_u, ax_chi = axes[0]
    ax_m.plot(tf, d["fine_onsager_yang_magnetization"], "k-", lw=1.2, label="Onsager–Yang")
    ax_e.plot(tf, d["fine_onsager_energy"], "k-", lw=1.2, label=r"Onsager $L=\infty$")
    for i, L in enumerate(sizes):
        kw = dict(color=colours[i], fmt="o", ms=3.5, capsize=1.5, lw=1)
        ax_m.errorbar(t, d["abs_magnetization"][i], d["abs_magnetization_err"][i],
                      label=f"L = {L}", **kw)
        ax_e.errorbar(t, d["energy"][i], d["energy_err"][i], **kw)
        ax_e.plot(tf, d["fine_kaufman_energy"][i], "--", color=colours[i], lw=0.9,
                  label=f"Kaufman L = {L}")
        ax_u.errorbar(t, d["binder"][i], d["binder_err"][i], ls="-", **kw)
        ax_chi.errorbar(t, d["susceptibility"][i], d["susceptibility_err"][i], ls="-", **kw)
        resid = d["energy"][i] - d["kaufman_energy"][i]
        axes[1, 3].errorbar(t, resid, d["energy_err"][i], label=f"L = {L}", **kw)
    ax_u.axhline(BINDER_CRITICAL_PERIODIC_SQUARE, color="0.5", lw=0.8, ls=":",
                 label=r"$U^*$")
    if np.isfinite(crossing):
        u_cross = np.interp(crossing, t, d["binder"][-1])
        ax_u.plot([crossing], [u_cross], "kx", ms=8, label=f"crossing T = {crossing:.3f}")
    axes[1, 3].axhline(0.0, color="k", lw=0.8)
    for ax in (ax_m, ax_e, ax_u, ax_chi, axes[1, 3]):
        ax.axvline(tc, color="0.4", lw=0.8, ls=":")
        ax.set_xlabel("T")
    ax_m.set(ylabel=r"$\langle |m| \rangle$", title="magnetization")
    ax_e.set(ylabel=r"$\langle e \rangle$", title="energy per spin")
    ax_u.set(ylabel=r"$U_4$", title="Binder cumulant", ylim=(-0.05, 0.72))
    ax_chi.set(ylabel=r"$\chi$", title="susceptibility", yscale="log")
    axes[1, 3].set(ylabel=r"$e_{MC} - e_{Kaufman}(L)$", title="energy vs exact finite L")
    ax_m.legend(fontsize=7)
    ax_e.legend(fontsize=6)
    ax_u.legend(fontsize=7, loc="lower left")
    L = sizes[-1]
    for ax, ts, spins in zip(axes[1, :3], d["snapshot_temperatures"], d["snapshots"],
                             strict=False):
        ax.imshow(spins, cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
        ax.set(xticks=[], yticks=[],
               title=f"L = {L}, T = {ts:g}, m = {float(np.mean(spins)):+.2f}")
    for ax in axes[1, len(d["snapshot_temperatures"]):3]:
        ax.set_axis_off()
    return fig
