r"""Dynamics in rough landscapes: signal recovery on the sphere and aging (seed 002).

``spiked-recovery`` -- gradient flow (T = 0, explicit Euler) and overdamped Langevin on the
sphere :math:`|x|^2 = N` from uniformly random starts (:math:`m(0) = O(N^{-1/2})`):

* spiked Wigner :math:`Y = (\lambda/N)vv^\top + W/\sqrt N`, :math:`H = -\tfrac12 x^\top Yx`,
  at several SNRs :math:`\lambda`, one :func:`physjax.ensemble.sweep` over
  :math:`\lambda` (each replica draws its own matrix, signal and start).  References:
  gradient flow ends on the top eigenvector, :math:`m^2 \to 1 - 1/\lambda^2` for
  :math:`\lambda > 1` (BBP) and :math:`0` below; Langevin at temperature :math:`T`
  equilibrates to :math:`m^2 = (1 - T/\lambda)(1 - 1/\lambda^2)` for :math:`T < \lambda`,
  :math:`\lambda > 1` (spherical model: the Lagrange multiplier sticks to the outlier
  eigenvalue :math:`\lambda + 1/\lambda`, whose semicircle Stieltjes transform is
  :math:`1/\lambda`, so a fraction :math:`1 - T/\lambda` of :math:`|x|^2` condenses on the
  top eigenvector), and 0 for :math:`\lambda < 1`.
* the spiked matrix--tensor model of Sarao Mannelli et al. (p = 3; see
  :class:`physjax.dynamics.SpikedMatrixTensor`): the matrix channel alone (noise
  :math:`\Delta_2`, reference :math:`m^2 \to 1 - \Delta_2` for :math:`\Delta_2 < 1`, the BBP
  value of its effective SNR :math:`\lambda = \Delta_2^{-1/2}`), the tensor channel alone
  (:math:`\Delta_p`; from the equator its drift is :math:`O(m^{p-1})`, so recovery needs an
  SNR growing with N) and the mixed model, for gradient flow and Langevin at
  :math:`T = 1` (which samples the Bayes posterior).  One instance per configuration, all
  replicas sharing the tensor (one GEMM per step).

``aging`` -- two quenches read through two-time observables:

* the spherical 3-spin glass (:math:`\langle H^2\rangle = N/2`, dynamical temperature
  :math:`T_d = \sqrt{3/8} \approx 0.612`) quenched from a random start to
  :math:`T < T_d`: :math:`C(t_w, t_w + t) = x(t_w)\cdot x(t_w + t)/N` (on the sphere the
  mean-square displacement is :math:`2(1 - C)`) for several :math:`t_w`; in the aging regime
  the curves collapse when plotted against :math:`t/t_w` (Cugliandolo--Kurchan);
* minibatch SGD on the 8x8 digits (MLP with one hidden layer, cross-entropy), an
  under-parametrized and an over-parametrized width run as one
  :func:`physjax.dynamics.sgd_width_sweep`: the mean-square displacement of the weights
  per active parameter :math:`\Delta(t_w, t_w + t)` for several :math:`t_w` (Baity-Jesi et
  al. 2018).  What these small nets show (quick and full size alike): the
  under-parametrized net keeps a finite loss and SGD noise, so its one-step motion is
  stationary (``short_lag_msd_ratio`` = :math:`\Delta` on the first lags at the last over
  the first :math:`t_w` is :math:`\gtrsim 1`) while the long lags age, with no clean
  collapse in either :math:`t` or :math:`t/t_w` -- the glassy two-step picture; the
  over-parametrized net fits the training set and then slows down *as a whole*
  (``short_lag_msd_ratio`` :math:`\ll 1`), :math:`\Delta` collapsing in :math:`t/t_w`.
  With cross-entropy on separable data the loss has no minimum at finite weights: the
  weights drift outwards ever more slowly (:math:`|w|\sim\log t`), which by itself makes
  :math:`\Delta` a function of :math:`t/t_w`.  The *interrupted* aging that Baity-Jesi et
  al. report for over-parametrized nets (diffusion at the bottom of the landscape once the
  loss is ~0) is therefore not what this set-up shows; ``weight_decay`` gives the
  landscape a bottom for further study.

Collapse quality: :func:`physjax.dynamics.scaling_collapse` of :math:`C` (p-spin) or of
:math:`\log_{10}\Delta` (SGD, which spans decades) against :math:`t/t_w^{a}`: the spread at
:math:`a = 1` (simple aging) and :math:`a = 0` (time-translation invariance), and the
exponent :math:`a^*\in[0, 1.5]` of the best collapse (:math:`a^* < 1`: sub-aging).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from physjax._checks import check_positive, check_positive_int
from physjax.dynamics.theory import matrix_channel_overlap, wigner_equilibrium_overlap
from physjax.experiments import ExperimentResult, register
from physjax.experiments._dynamics_figures import aging_figure, recovery_figure

#: dynamical (mode-coupling) temperature of the spherical 3-spin model with xi(q) = q^3/2
P_SPIN_3_DYNAMICAL_TEMPERATURE = math.sqrt(3.0 / 8.0)


def _check_tuple(values, name, *, positive=True):
    a = np.asarray(values, np.float64).reshape(-1)
    if a.size == 0:
        raise ValueError(f"{name} must hold at least one value")
    if positive:
        check_positive(a, name)
    return a


# --------------------------------------------------------------------- spiked-recovery

def _wigner_sweep(key, *, n, snrs, n_replicas, dt, temperature, steps):
    """Gradient flow and Langevin from the same start, every (snr, replica) its own
    instance: records of m, shape (G, R, 2, n_records)."""
    import physjax.dynamics as dyn
    from physjax.ensemble import sweep

    def recover(k, point):
        k_model, k_x, k_run = jax.random.split(k, 3)
        model = dyn.spiked_wigner(k_model, n, point["snr"])
        x0 = dyn.uniform_sphere(k_x, n)
        out = []
        for dynamics in (dyn.GradientFlow(model, dt, spherical=True),
                         dyn.OverdampedLangevin(model, dt, temperature, spherical=True)):
            state = dyn.init_dynamics(k_run, dynamics, x0)
            _, rec = dyn.run_dynamics(k_run, dynamics, state, steps, observe=model.overlap)
            out.append(rec.observables)
        return jnp.stack(out)

    result = sweep(recover, key, {"snr": np.asarray(snrs, np.float32)}, n_replicas,
                   progress=False, tag={"n": n, "dt": dt, "T": temperature,
                                        "steps": np.asarray(steps).tolist()})
    return np.asarray(result.values)


def _matrix_tensor_configs(delta2s, deltap):
    configs = []
    for d2 in delta2s:
        configs.append((f"matrix Δ2={d2:g}", float(d2), None))
    configs.append((f"tensor Δ3={deltap:g}", None, float(deltap)))
    for d2 in delta2s:
        configs.append((f"mixed Δ2={d2:g}, Δ3={deltap:g}", float(d2), float(deltap)))
    return configs


def _matrix_tensor_runs(key, *, n, configs, n_replicas, dt, temperature, steps):
    """m(t) for each configuration, shape (n_config, 2 dynamics, R, n_records).

    A switched-off channel is stored as a zero matrix / tensor (with a unit noise
    variance), so every configuration has the same structure: the configurations are
    stacked and vmapped, and one compiled program runs them all (all replicas of one
    configuration share its tensor, one GEMM per step)."""
    import equinox as eqx

    import physjax.dynamics as dyn

    models = []
    for c, (_, d2, dp) in enumerate(configs):
        model = dyn.spiked_matrix_tensor(
            jax.random.fold_in(key, c), n, delta2=jnp.asarray(1.0 if d2 is None else d2),
            deltap=jnp.asarray(1.0 if dp is None else dp), p=3)
        if d2 is None:
            model = eqx.tree_at(lambda m: m.matrix, model, jnp.zeros_like(model.matrix))
        if dp is None:
            model = eqx.tree_at(lambda m: m.tensor, model, jnp.zeros_like(model.tensor))
        models.append(model)
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *models)
    keys = jax.random.split(jax.random.fold_in(key, len(configs)), len(configs))

    @eqx.filter_jit
    def run_all(stacked, keys):
        def one(model, k):
            k_x, k_run = jax.random.split(k)
            x0 = dyn.uniform_sphere(k_x, n, shape=(n_replicas,))
            out = []
            for dynamics in (dyn.GradientFlow(model, dt, spherical=True),
                             dyn.OverdampedLangevin(model, dt, temperature, spherical=True)):
                states = dyn.init_replicas(k_run, dynamics, x0)
                _, rec = dyn.run_replicas(k_run, dynamics, states, steps,
                                          observe=model.overlap)
                out.append(rec.observables)
            return jnp.stack(out)

        return jax.vmap(one)(stacked, keys)

    return np.asarray(run_all(stacked, keys))


@register(
    "spiked-recovery",
    description="Signal recovery on the sphere: overlap vs time for gradient flow and "
                "Langevin, spiked Wigner at several SNRs (vs 1 - 1/λ² and its finite-T "
                "value) and the spiked matrix-tensor model (matrix vs tensor vs mixed)",
    quick={"wigner_n": 300, "snrs": (0.5, 1.5, 2.0, 3.0), "wigner_replicas": 6,
           "wigner_time": 100.0, "wigner_dt": 0.1, "wigner_temperature": 0.5,
           "mt_n": 64, "mt_delta2s": (0.5,), "mt_deltap": 1.0, "mt_replicas": 12,
           "mt_time": 60.0, "mt_dt": 0.1, "mt_temperature": 1.0, "n_records": 30},
    full={"wigner_n": 2000, "snrs": (0.5, 0.9, 1.2, 1.5, 2.0, 3.0), "wigner_replicas": 16,
          "wigner_time": 300.0, "wigner_dt": 0.05, "wigner_temperature": 0.5,
          "mt_n": 128, "mt_delta2s": (0.5, 0.8), "mt_deltap": 1.0,
          "mt_replicas": 32, "mt_time": 300.0, "mt_dt": 0.05, "mt_temperature": 1.0,
          "n_records": 50},
)
def spiked_recovery(key, *, wigner_n, snrs, wigner_replicas, wigner_time, wigner_dt,
                    wigner_temperature, mt_n, mt_delta2s, mt_deltap, mt_replicas, mt_time,
                    mt_dt, mt_temperature, n_records, progress=None) -> ExperimentResult:
    """Overlap with the signal against time; see the module docstring."""
    from physjax.dynamics import log_spaced_steps

    wigner_n = check_positive_int(wigner_n, "wigner_n", minimum=2)
    mt_n = check_positive_int(mt_n, "mt_n", minimum=3)
    snrs = _check_tuple(snrs, "snrs")
    mt_delta2s = _check_tuple(mt_delta2s, "mt_delta2s")
    check_positive(np.array([wigner_time, wigner_dt, mt_time, mt_dt, mt_deltap]),
                   "times, step sizes and mt_deltap")
    if wigner_temperature < 0 or mt_temperature < 0:
        raise ValueError("wigner_temperature and mt_temperature must be >= 0")
    n_records = check_positive_int(n_records, "n_records", minimum=2)
    k_w, k_mt = jax.random.split(key)

    w_steps = log_spaced_steps(max(1, round(wigner_time / wigner_dt)), n_records)
    m_w = _wigner_sweep(k_w, n=wigner_n, snrs=snrs,
                        n_replicas=check_positive_int(wigner_replicas, "wigner_replicas"),
                        dt=wigner_dt, temperature=wigner_temperature, steps=w_steps)
    m2_w = m_w**2                                           # (G, R, 2, n_records)
    if progress is not None:
        progress(1, 2)
    configs = _matrix_tensor_configs(mt_delta2s, mt_deltap)
    mt_steps = log_spaced_steps(max(1, round(mt_time / mt_dt)), n_records)
    m_mt = _matrix_tensor_runs(k_mt, n=mt_n, configs=configs,
                               n_replicas=check_positive_int(mt_replicas, "mt_replicas",
                                                             minimum=2),
                               dt=mt_dt, temperature=mt_temperature, steps=mt_steps)
    if progress is not None:                                # m_mt: (C, 2, R, n_records)
        progress(2, 2)

    gf_theory = wigner_equilibrium_overlap(snrs, 0.0)
    lang_theory = wigner_equilibrium_overlap(snrs, wigner_temperature)
    final_gf = m2_w[:, :, 0, -1].mean(1)
    final_lang = m2_w[:, :, 1, -1].mean(1)
    summary = {}
    for g, lam in enumerate(snrs):
        x = m2_w[g, :, 0, -1]
        summary[f"wigner_gf_m2_snr{lam:g}"] = final_gf[g]
        summary[f"wigner_gf_m2_snr{lam:g}_err"] = x.std(ddof=1) / np.sqrt(x.size) \
            if x.size > 1 else np.nan
        summary[f"wigner_gf_theory_snr{lam:g}"] = gf_theory[g]
        summary[f"wigner_langevin_m2_snr{lam:g}"] = final_lang[g]
        summary[f"wigner_langevin_theory_snr{lam:g}"] = lang_theory[g]
    summary["wigner_gf_max_abs_error"] = np.max(np.abs(final_gf - gf_theory))
    summary["wigner_langevin_max_abs_error"] = np.max(np.abs(final_lang - lang_theory))
    final_mt = m_mt[:, :, :, -1]                            # (C, 2, R)
    for c, (name, d2, dp) in enumerate(configs):
        label = name.replace(" ", "_").replace(",", "").replace("Δ", "d")
        for j, dname in enumerate(("gf", "langevin")):
            m = final_mt[c, j]
            summary[f"mt_{dname}_mean_abs_m_{label}"] = np.mean(np.abs(m))
            if dp is not None:  # odd p: the sign matters
                summary[f"mt_{dname}_recovered_fraction_{label}"] = np.mean(m > 0.5)
        if dp is None:
            for dname, temp in (("gf", 0.0), ("langevin", mt_temperature)):
                summary[f"mt_{dname}_theory_abs_m_{label}"] = np.sqrt(
                    matrix_channel_overlap(d2, temp))
    summary = {k: float(v) for k, v in summary.items()}
    data = {
        "snrs": snrs, "wigner_n": wigner_n, "wigner_time": w_steps * wigner_dt,
        "wigner_m2": m2_w, "wigner_gf_theory": gf_theory, "wigner_langevin_theory":
        lang_theory, "wigner_temperature": wigner_temperature,
        "mt_configs": [c[0] for c in configs], "mt_delta2": [c[1] for c in configs],
        "mt_deltap": [c[2] for c in configs], "mt_time": mt_steps * mt_dt, "mt_m": m_mt,
        "mt_temperature": mt_temperature, "mt_n": mt_n,
    }
    figure = recovery_figure(data)
    return ExperimentResult(data=data, figure=figure, summary=summary)


# -------------------------------------------------------------------------------- aging

_EXPONENTS = np.linspace(0.0, 1.5, 31)


def _best_exponent(waiting, lags, curves, exponents=_EXPONENTS):
    from physjax.dynamics import scaling_collapse

    spreads = []
    for a in exponents:
        try:
            spreads.append(float(scaling_collapse(waiting, lags, curves, exponent=a).spread))
        except ValueError:          # no common range of t/t_w^a
            spreads.append(np.inf)
    spreads = np.asarray(spreads)
    return float(exponents[int(np.argmin(spreads))]), spreads


def _collapse_summary(prefix, waiting, lags, curves):
    from physjax.dynamics import scaling_collapse

    best, _ = _best_exponent(waiting, lags, curves)
    return {
        f"{prefix}_spread_t_over_tw": float(scaling_collapse(waiting, lags, curves,
                                                             exponent=1.0).spread),
        f"{prefix}_spread_t": float(scaling_collapse(waiting, lags, curves,
                                                     exponent=0.0).spread),
        f"{prefix}_best_exponent": best,
    }


def _lag_grid(max_lag, n_lags, unit):
    """Integer lags (in steps) log-spaced from one step to ``max_lag`` time units."""
    top = max(1, round(max_lag / unit))
    return np.unique(np.round(np.logspace(0.0, np.log10(top), n_lags)).astype(np.int64))


def _p_spin_aging(key, *, n, temperature, dt, n_replicas, waiting_times, max_lag, n_lags):
    import physjax.dynamics as dyn

    k_j, k_x, k_run = jax.random.split(key, 3)
    model = dyn.spherical_p_spin(k_j, n, 3)
    langevin = dyn.OverdampedLangevin(model, dt, temperature, spherical=True)
    tw = np.unique(np.maximum(1, np.round(np.asarray(waiting_times) / dt))).astype(np.int64)
    lags = _lag_grid(max_lag, n_lags, dt)
    steps = dyn.aging_schedule(tw, lags, n_log=24)
    states = dyn.init_replicas(k_run, langevin, dyn.uniform_sphere(k_x, n, shape=(n_replicas,)))
    _, rec = dyn.run_replicas(k_run, langevin, states, steps, record_position=True)
    corr = np.asarray(dyn.two_time_correlation(rec.position, steps, tw, lags))
    return {"tw": tw * dt, "lags": lags * dt, "C": corr.mean(0),
            "C_err": corr.std(0, ddof=1) / np.sqrt(n_replicas),
            "time": steps * dt, "energy": np.asarray(rec.energy).mean(0) / n}


def _sgd_aging(key, *, widths, n_replicas, learning_rate, batch_size, weight_decay,
               waiting_steps, max_lag, n_lags):
    import physjax.dynamics as dyn
    from physjax import datasets

    k_data, k_run = jax.random.split(key)
    task = datasets.digits_task(k_data)
    sgd = dyn.MinibatchSGD(task, learning_rate, batch_size, weight_decay=weight_decay)
    tw = np.unique(np.asarray(waiting_steps, np.int64))
    lags = _lag_grid(max_lag, n_lags, 1)
    steps = dyn.aging_schedule(tw, lags, n_log=24)
    result = dyn.sgd_width_sweep(k_run, sgd, widths, n_replicas, steps)
    msd = result.mean_square_displacement(tw, lags)          # (G, R, n_w, n_lag)
    rec = result.record
    return {"widths": result.widths, "n_parameters": result.n_parameters,
            "n_train": task.n_train, "tw": tw, "lags": lags, "msd": msd.mean(1),
            "steps": steps, "train_loss": rec.train_loss.mean(1),
            "test_loss": rec.test_loss.mean(1),
            "train_accuracy": rec.train_accuracy.mean(1),
            "test_accuracy": rec.test_accuracy.mean(1),
            "diverged": bool(np.any(rec.diverged))}


@register(
    "aging",
    description="Aging: C(t_w, t_w+t) in the spherical 3-spin quench (collapse in t/t_w) "
                "and the weights' mean-square displacement under SGD on digits, "
                "under- vs over-parametrized",
    quick={"pspin_n": 48, "pspin_temperature": 0.3, "pspin_dt": 0.1, "pspin_replicas": 32,
           "pspin_waiting_times": (2.0, 8.0, 32.0), "pspin_max_lag": 128.0,
           "widths": (3, 64), "sgd_replicas": 3, "learning_rate": 0.1, "batch_size": 32,
           "weight_decay": 0.0, "sgd_waiting_steps": (100, 400, 1600),
           "sgd_max_lag": 1600, "n_lags": 14},
    full={"pspin_n": 128, "pspin_temperature": 0.3, "pspin_dt": 0.05, "pspin_replicas": 64,
          "pspin_waiting_times": (2.0, 8.0, 32.0, 128.0), "pspin_max_lag": 1024.0,
          "widths": (3, 16, 256), "sgd_replicas": 8, "learning_rate": 0.1,
          "batch_size": 32, "weight_decay": 0.0,
          "sgd_waiting_steps": (100, 400, 1600, 6400), "sgd_max_lag": 25600, "n_lags": 20},
)
def aging(key, *, pspin_n, pspin_temperature, pspin_dt, pspin_replicas, pspin_waiting_times,
          pspin_max_lag, widths, sgd_replicas, learning_rate, batch_size, weight_decay,
          sgd_waiting_steps, sgd_max_lag, n_lags, progress=None) -> ExperimentResult:
    """Two-time observables of a p-spin quench and of SGD; see the module docstring."""
    pspin_n = check_positive_int(pspin_n, "pspin_n", minimum=3)
    check_positive(np.array([pspin_temperature, pspin_dt, pspin_max_lag, learning_rate]),
                   "pspin_temperature, pspin_dt, pspin_max_lag, learning_rate")
    waiting_times = _check_tuple(pspin_waiting_times, "pspin_waiting_times")
    sgd_waiting = _check_tuple(sgd_waiting_steps, "sgd_waiting_steps").astype(np.int64)
    widths = np.asarray([check_positive_int(int(w), "widths") for w in widths], np.int64)
    if waiting_times.size < 2 or sgd_waiting.size < 2:
        raise ValueError("pspin_waiting_times and sgd_waiting_steps need >= 2 values each")
    n_lags = check_positive_int(n_lags, "n_lags", minimum=3)
    k_p, k_s = jax.random.split(key)

    ps = _p_spin_aging(k_p, n=pspin_n, temperature=pspin_temperature, dt=pspin_dt,
                       n_replicas=check_positive_int(pspin_replicas, "pspin_replicas",
                                                     minimum=2),
                       waiting_times=waiting_times, max_lag=pspin_max_lag, n_lags=n_lags)
    if progress is not None:
        progress(1, 2)
    sg = _sgd_aging(k_s, widths=widths,
                    n_replicas=check_positive_int(sgd_replicas, "sgd_replicas"),
                    learning_rate=learning_rate,
                    batch_size=check_positive_int(batch_size, "batch_size"),
                    weight_decay=weight_decay, waiting_steps=sgd_waiting,
                    max_lag=check_positive_int(sgd_max_lag, "sgd_max_lag"), n_lags=n_lags)
    if progress is not None:
        progress(2, 2)

    summary = {"pspin_final_energy": ps["energy"][-1],
               "pspin_T_over_Td": pspin_temperature / P_SPIN_3_DYNAMICAL_TEMPERATURE}
    summary.update(_collapse_summary("pspin_C", ps["tw"], ps["lags"], ps["C"]))
    log_msd = np.log10(np.maximum(sg["msd"], 1e-30))
    for g, w in enumerate(sg["widths"]):
        p = f"sgd_w{w}"
        summary[f"{p}_parameters_per_sample"] = sg["n_parameters"][g] / sg["n_train"]
        summary[f"{p}_final_train_loss"] = sg["train_loss"][g, -1]
        summary[f"{p}_final_train_accuracy"] = sg["train_accuracy"][g, -1]
        summary[f"{p}_final_test_accuracy"] = sg["test_accuracy"][g, -1]
        summary.update(_collapse_summary(f"{p}_logmsd", sg["tw"], sg["lags"], log_msd[g]))
        short = sg["msd"][g, :, :3].mean(-1)
        summary[f"{p}_short_lag_msd_ratio"] = short[-1] / short[0]
    summary["sgd_diverged"] = sg["diverged"]
    summary = {k: float(v) for k, v in summary.items()}
    data = {"pspin_" + k: v for k, v in ps.items()} | {"sgd_" + k: v for k, v in sg.items()}
    data |= {"pspin_temperature": pspin_temperature, "pspin_n": pspin_n}
    figure = aging_figure(data)
    return ExperimentResult(data=data, figure=figure, summary=summary)


