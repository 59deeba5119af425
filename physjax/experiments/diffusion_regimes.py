r"""``diffusion-regimes``: speciation and collapse of the backward diffusion process.

Biroli, Bonnaire, de Bortoli and Mézard ("Dynamical regimes of diffusion models", 2024),
Ornstein--Uhlenbeck forward process:

* **Speciation.**  Two Gaussian clusters :math:`\pm m` (unit variance, :math:`|m|^2 = d`)
  in each dimension of ``clone_dims``: the U-turn protocol
  (:func:`physjax.diffusion.cloning_curve`, exact mixture score) gives the probability
  :math:`\phi(t)` that two clones regenerated from a common :math:`x_t` end in the same
  cluster, from 1 (:math:`t \ll t_S`) to 1/2 (:math:`t \gg t_S`); its midpoint
  :math:`\phi = 3/4` is compared with :math:`t_S = \tfrac12\log\Lambda`, :math:`\Lambda` the
  top eigenvalue of the data covariance (:math:`|m|^2 + 1`).
* **Collapse.**  White Gaussian training sets of ``n`` points in ``d`` dimensions: backward
  trajectories driven by the empirical score (:func:`physjax.diffusion.collapse_curve`);
  the mean posterior weight of the nearest training point and the fraction of
  trajectories where it exceeds 1/2 (collapsed fraction) vs :math:`t`, crossing 1/2 near the
  excess-entropy prediction :math:`t_C = -\tfrac12\log(1 - n^{-2/d})`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from physjax.experiments import ExperimentResult, register


@register(
    "diffusion-regimes",
    description="Diffusion models: speciation (cloning) and collapse (memorization) times "
                "vs the predictions t_S = log(Lambda)/2 and the excess-entropy t_C",
    quick={"clone_dims": (100,), "n_clone_samples": 200, "clone_offsets": 5,
           "collapse_pairs": ((100, 16), (1000, 16), (100, 32)), "n_trajectories": 100,
           "n_steps": 60},
    full={"clone_dims": (50, 200, 800), "n_clone_samples": 1000, "clone_offsets": 13,
          "collapse_pairs": ((10, 16), (100, 16), (1000, 16), (10, 32), (100, 32),
                             (1000, 32), (100, 64), (1000, 64), (10_000, 64)),
          "n_trajectories": 500, "n_steps": 200},
)
def diffusion_regimes(key, *, clone_dims, n_clone_samples, clone_offsets, collapse_pairs,
                      n_trajectories, n_steps, progress=None) -> ExperimentResult:
    from physjax._checks import check_positive_int
    from physjax.diffusion import (
        OU,
        EmpiricalScore,
        GaussianMixtureScore,
        cloning_curve,
        collapse_curve,
        collapse_time_from_spectrum,
        crossing_time,
        speciation_time,
    )

    n_clone_samples = check_positive_int(n_clone_samples, "n_clone_samples")
    clone_offsets = check_positive_int(clone_offsets, "clone_offsets", minimum=2)
    n_trajectories = check_positive_int(n_trajectories, "n_trajectories")
    n_steps = check_positive_int(n_steps, "n_steps")
    clone_dims = tuple(check_positive_int(d, "clone_dims") for d in clone_dims)
    pairs = tuple((check_positive_int(n, "collapse_pairs"),
                   check_positive_int(d, "collapse_pairs")) for n, d in collapse_pairs)
    total = len(clone_dims) + len(pairs)
    done = 0
    schedule = OU(8.0)
    summary, data = {}, {}
    offsets = np.linspace(-1.5, 1.5, clone_offsets)
    k_clone, k_coll = jax.random.split(key)

    clone_curves = []
    for i, d in enumerate(clone_dims):
        m = jnp.ones(d)
        score = GaussianMixtureScore(schedule, jnp.array([0.5, 0.5]), jnp.stack([m, -m]),
                                     jnp.ones(2))
        k1, k2, k3 = jax.random.split(jax.random.fold_in(k_clone, i), 3)
        labels = jax.random.bernoulli(k1, 0.5, (n_clone_samples,))
        x0 = jnp.where(labels[:, None], m, -m) + jax.random.normal(k2, (n_clone_samples, d))
        t_s = float(speciation_time(x0))
        times = jnp.asarray(t_s + offsets, jnp.float32)
        curve = cloning_curve(k3, schedule, score, x0, times,
                              lambda x, m=m: (jnp.sum(x * m) > 0).astype(jnp.int32),
                              n_steps=max(n_steps // 2, 10), method="heun")
        t_cross = crossing_time(times, curve.probability, 0.75)
        clone_curves.append((d, np.asarray(times), np.asarray(curve.probability),
                             np.asarray(curve.stderr), t_s, t_cross))
        summary[f"t_S_predicted_d{d}"] = t_s
        summary[f"t_S_measured_d{d}"] = t_cross
        data[f"cloning_d{d}"] = {"times": times, "phi": curve.probability,
                                 "stderr": curve.stderr}
        done += 1
        if progress is not None:
            progress(done, total)

    collapse = []
    for j, (n, d) in enumerate(pairs):
        kk = jax.random.fold_in(k_coll, j)
        train = jax.random.normal(jax.random.fold_in(kk, 0), (n, d))
        curve = collapse_curve(jax.random.fold_in(kk, 1), EmpiricalScore(schedule, train),
                               n_trajectories, n_steps=n_steps, method="exponential")
        t_pred = float(collapse_time_from_spectrum(jnp.ones(d), n))
        t_meas = crossing_time(curve.times, curve.mean_weight, 0.5)
        collapse.append((n, d, np.asarray(curve.times), np.asarray(curve.mean_weight),
                         np.asarray(curve.collapsed_fraction), t_pred, t_meas))
        summary[f"t_C_predicted_n{n}_d{d}"] = t_pred
        summary[f"t_C_measured_n{n}_d{d}"] = t_meas
        data[f"collapse_n{n}_d{d}"] = {"times": curve.times, "mean_weight": curve.mean_weight,
                                       "collapsed_fraction": curve.collapsed_fraction}
        done += 1
        if progress is not None:
            progress(done, total)

    diffs = [abs(c[6] - c[5]) for c in collapse]
    summary["t_C_max_abs_deviation"] = float(np.nanmax(diffs)) if diffs else float("nan")
    sdiffs = [abs(c[5] - c[4]) for c in clone_curves]
    summary["t_S_max_abs_deviation"] = float(np.nanmax(sdiffs)) if sdiffs else float("nan")

    from physjax.plotting import new_figure

    fig, axes = new_figure(1, 2, panel_size=(5.0, 3.6))
    ax = axes[0]
    for d, times, phi, err, t_s, _ in clone_curves:
        line = ax.errorbar(times, phi, yerr=err, marker="o", ms=3, label=f"d = {d}")
        ax.axvline(t_s, color=line[0].get_color(), ls="--", lw=0.8)
    ax.axhline(0.75, color="gray", lw=0.5)
    ax.set(xlabel="U-turn time t", ylabel="P(two clones in the same class)",
           title="speciation (dashed: t_S = ½ log Λ)")
    ax.legend(fontsize=7)
    ax = axes[1]
    for n, d, times, w, frac, t_pred, _ in collapse:
        line, = ax.plot(times, frac, label=f"n = {n}, d = {d}")
        ax.plot(times, w, color=line.get_color(), ls=":", lw=0.8)
        ax.axvline(t_pred, color=line.get_color(), ls="--", lw=0.8)
    ax.axhline(0.5, color="gray", lw=0.5)
    ax.set(xscale="log", xlabel="t", ylabel="collapsed fraction (dotted: mean weight)",
           title="collapse (dashed: excess-entropy t_C)")
    ax.legend(fontsize=7)
    return ExperimentResult(data=data, figure=fig, summary=summary)
