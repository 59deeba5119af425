r"""Hessian trace estimates at a saddle: Hutchinson vs curvature-based vs Hutch++ (seed 001 Fig. 9).

At :math:`\theta^* = (0,\dots,0,1)` of the seed's test losses, eq. (40) (:math:`\mathrm{tr}\,H
= 0`) and eq. (45) (:math:`\mathrm{tr}\,H = 2(\tilde n - n)`, 600 for :math:`n = 500,
\tilde n = 800`):

* Hutchinson (eq. 39): :math:`\langle z^\top H z\rangle` over :math:`S` Gaussian probes, one
  HVP each, running mean with a :math:`\pm` one-standard-error band;
* curvature-based (eq. 37): least-squares fit of :math:`L(\theta^* + \alpha\eta)` on 50
  equidistant :math:`\alpha \in [-0.05, 0.05]` (seed) with the *same* Gaussian vectors, no
  HVP.  Along :math:`\eta` this loss is :math:`\tfrac12 Q\alpha^2(1 + \alpha\eta_N)` with
  :math:`Q = \eta^\top H\eta`; on a symmetric grid the odd cubic term is orthogonal to
  :math:`\alpha^2` and the fit returns :math:`Q` exactly, so the two curves coincide (the
  seed: "their convergence behavior is similar");
* Hutch++ with the same total numbers of HVPs, mean and spread over ``n_repeats``
  independent runs.  The spectrum here is flat (:math:`|\lambda_i| = 1`), the worst case
  for Hutch++: the low-rank sketch captures nothing and costs two thirds of the budget.

Variance of one Gaussian probe: :math:`2\lVert H\rVert_F^2 = 4n`, so after :math:`S` probes
the error is :math:`\sqrt{4n/S}` (2 for :math:`n=500,\ S=500`).  (Rademacher probes would
be exact here: :math:`H` is diagonal.)  Float64 throughout (a scoped ``jax.enable_x64``).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from physjax._checks import check_positive_int
from physjax.curvature.losses import saddle_critical_point, saddle_hessian_trace, saddle_loss
from physjax.curvature.trace import curvature_trace_estimate, hutch_plus_plus, hutchinson_trace
from physjax.experiments import ExperimentResult, register


def _running(samples):
    x = np.asarray(samples, dtype=np.float64)
    s = np.arange(1, x.size + 1)
    mean = np.cumsum(x) / s
    second = np.cumsum(x**2) / s
    var = np.maximum(second - mean**2, 0.0) * s / np.maximum(s - 1, 1)
    return mean, np.sqrt(var / s)


@register(
    "trace-estimates",
    description="seed 001 Fig. 9: Hutchinson vs curvature-based vs Hutch++ Hessian traces",
    quick={"n": 500, "n_tilde": 800, "n_probes": 1000, "hpp_budgets": (30, 300),
           "n_repeats": 8, "n_alphas": 50, "alpha_max": 0.05},
    full={"n": 500, "n_tilde": 800, "n_probes": 10000,
          "hpp_budgets": (30, 100, 300, 1000, 3000), "n_repeats": 20, "n_alphas": 50,
          "alpha_max": 0.05},
)
def trace_estimates(key, *, n, n_tilde, n_probes, hpp_budgets, n_repeats, n_alphas,
                    alpha_max, progress=None) -> ExperimentResult:
    n = check_positive_int(n, "n")
    n_probes = check_positive_int(n_probes, "n_probes", minimum=2)
    n_repeats = check_positive_int(n_repeats, "n_repeats", minimum=2)
    n_alphas = check_positive_int(n_alphas, "n_alphas", minimum=3)
    budgets = tuple(check_positive_int(b, "hpp_budgets", minimum=4) for b in hpp_budgets)
    if not n < n_tilde <= 2 * n:
        raise ValueError(f"n_tilde must satisfy n < n_tilde <= 2n (eq. 45), got n={n}, "
                         f"n_tilde={n_tilde}")
    if not (np.isfinite(alpha_max) and alpha_max > 0):
        raise ValueError(f"alpha_max must be a positive number, got {alpha_max}")
    losses = {"eq40": saddle_loss, "eq45": partial(saddle_loss, n_positive=int(n_tilde))}
    exact = {"eq40": saddle_hessian_trace(n), "eq45": saddle_hessian_trace(n, int(n_tilde))}
    data, summary = {}, {}
    total = 2 * (2 + len(budgets))
    done = 0
    with jax.enable_x64(True):
        theta = saddle_critical_point(n)
        alphas = jnp.linspace(-alpha_max, alpha_max, n_alphas)
        for i, (name, loss) in enumerate(losses.items()):
            k_probe, k_hpp = jax.random.split(jax.random.fold_in(key, i))
            hutch = hutchinson_trace(k_probe, loss, theta, n_probes, probe="gaussian")
            done += 1
            if progress is not None:
                progress(done, total)
            curv = curvature_trace_estimate(k_probe, loss, theta, n_probes, alphas=alphas)
            done += 1
            if progress is not None:
                progress(done, total)
            hpp_mean, hpp_std = [], []
            for b in budgets:
                keys = jax.random.split(jax.random.fold_in(k_hpp, b), n_repeats)
                est = jax.vmap(
                    lambda k, b=b, loss=loss: hutch_plus_plus(k, loss, theta, b,
                                                              probe="gaussian").estimate
                )(keys)
                hpp_mean.append(float(jnp.mean(est)))
                hpp_std.append(float(jnp.std(est, ddof=1)))
                done += 1
                if progress is not None:
                    progress(done, total)
            h_mean, h_err = _running(hutch.samples)
            c_mean, c_err = _running(curv.samples)
            data[name] = {
                "exact": exact[name],
                "hutchinson_running_mean": h_mean, "hutchinson_running_error": h_err,
                "curvature_running_mean": c_mean, "curvature_running_error": c_err,
                "hutch_plus_plus_budgets": list(budgets), "hutch_plus_plus_mean": hpp_mean,
                "hutch_plus_plus_std": hpp_std,
            }
            summary[f"{name}_exact_trace"] = exact[name]
            summary[f"{name}_hutchinson"] = float(hutch.estimate)
            summary[f"{name}_hutchinson_error"] = float(hutch.standard_error)
            summary[f"{name}_curvature"] = float(curv.estimate)
            summary[f"{name}_curvature_error"] = float(curv.standard_error)
            summary[f"{name}_hutchinson_z"] = float(
                (hutch.estimate - exact[name]) / hutch.standard_error)
            summary[f"{name}_max_probe_difference"] = float(
                jnp.max(jnp.abs(hutch.samples - curv.samples)))
            summary[f"{name}_hpp{budgets[-1]}"] = hpp_mean[-1]
            summary[f"{name}_hpp{budgets[-1]}_spread"] = hpp_std[-1]
    summary["expected_error_at_n_probes"] = float(np.sqrt(4 * n / n_probes))
    fig = _figure(data, n, int(n_tilde), n_probes)
    return ExperimentResult(data=data, figure=fig, summary=summary)


def _figure(data, n, n_tilde, n_probes):
    from physjax.plotting import new_figure

    fig, axes = new_figure(1, 2, panel_size=(5.0, 3.8))
    s = np.arange(1, n_probes + 1)
    for ax, (name, title) in zip(axes, (("eq40", f"eq. (40), n={n}"),
                                        ("eq45", f"eq. (45), n={n}, ñ={n_tilde}")),
                                 strict=True):
        d = data[name]
        hm, he = d["hutchinson_running_mean"], d["hutchinson_running_error"]
        ax.fill_between(s[1:], (hm - he)[1:], (hm + he)[1:], color="k", alpha=0.12, lw=0)
        ax.plot(s, hm, "k-", lw=1.2, label=r"Hutchinson $\langle z^\top H z\rangle$ ± s.e.")
        ax.plot(s, d["curvature_running_mean"], color="tab:red", ls="-.", lw=1.2,
                label=r"curvature-based $\langle\kappa^\alpha\rangle$ (same $\eta$)")
        ax.errorbar(d["hutch_plus_plus_budgets"], d["hutch_plus_plus_mean"],
                    yerr=d["hutch_plus_plus_std"], fmt="o", color="tab:blue", ms=4,
                    capsize=3, label="Hutch++ (mean ± sd of runs)")
        ax.axhline(d["exact"], color="grey", ls="--", lw=1, label=f"exact tr H = {d['exact']:g}")
        ax.set_xscale("log")
        ax.set_xlabel("number of probes / HVPs S")
        ax.set_ylabel(r"estimate of tr $H_\theta$")
        ax.set_title(title, fontsize=10)
        span = 8 * np.sqrt(4 * n / 10)
        ax.set_ylim(d["exact"] - span, d["exact"] + span)
        ax.legend(fontsize=7, loc="upper right")
    return fig
