r"""Random vs Hessian projections of a saddle (seed 001, Figs. 7, 8 and 10).

At the saddle :math:`\theta^* = (0,\dots,0,1)` of the test losses (eq. 40,
:math:`\tilde n = n`, and eq. 45, :math:`n < \tilde n \le 2n`) the Hessian is
:math:`\mathrm{diag}(1\times\tilde n, -1\times(2n-\tilde n), 0)`.  For ``n_planes`` random
Gaussian planes :math:`(\eta, \delta)` the projected Hessian
:math:`H_{\alpha\beta} = ((\eta^\top H\eta, \eta^\top H\delta), (\delta^\top H\eta,
\delta^\top H\delta))` is computed with two HVPs and its principal curvatures
:math:`\kappa_\pm` (eq. 35):

* histograms of :math:`\kappa_\pm` (Fig. 8) and the fraction of planes that hide the saddle
  (:math:`\kappa_+\kappa_- > 0`): about :math:`1 - 1/\sqrt2 \approx 0.29` for eq. (40)
  (large-:math:`n` limit of :math:`P(2ac > b^2)`, :math:`a, b, c` standard normal) and 1
  for eq. (45);
* ensemble means over the first :math:`S` planes (Fig. 7): :math:`\langle\kappa_\pm\rangle`
  and :math:`\tilde\kappa_\pm` from :math:`\langle A\rangle, \langle B\rangle, \langle
  C\rangle` (eq. 44), against :math:`\mathrm{tr}\,H = 2(\tilde n - n)`;
* the eq. (45) loss on a random plane (unit-norm Gaussian directions: an apparent minimum,
  Fig. 10d) and on the plane of the dominant Hessian directions found by Algorithm 1
  (:func:`physjax.curvature.landscape.hessian_directions`: a saddle, Fig. 10a), both with
  :math:`\alpha, \beta \in [-1, 1]`.

Everything runs in float64 (a scoped ``jax.enable_x64``).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from physjax._checks import check_positive_int
from physjax.curvature.landscape import (
    hessian_directions,
    loss_plane,
    plane_minimum,
    principal_curvatures,
    projected_hessian,
    random_direction,
    random_projection_curvatures,
)
from physjax.curvature.losses import saddle_critical_point, saddle_hessian_trace, saddle_loss
from physjax.experiments import ExperimentResult, register

HIDDEN_FRACTION_EQ40_LIMIT = 1.0 - 1.0 / np.sqrt(2.0)


def _running_means(h):
    """<kappa_+->_S (mean of per-plane curvatures) and kappa~_+- (eq. 44) for S = 1..n."""
    kp, km = principal_curvatures(h)
    s = np.arange(1, h.shape[0] + 1)
    mean_kp = np.cumsum(np.asarray(kp)) / s
    mean_km = np.cumsum(np.asarray(km)) / s
    mean_h = np.cumsum(np.asarray(h), axis=0) / s[:, None, None]
    tkp, tkm = principal_curvatures(jnp.asarray(mean_h))
    return mean_kp, mean_km, np.asarray(tkp), np.asarray(tkm)


@register(
    "random-vs-hessian",
    description="seed 001 Figs. 7, 8, 10: random planes hide saddles, Hessian planes show them",
    quick={"n": 500, "n_tilde": 800, "n_planes": 2000, "grid": 31},
    full={"n": 500, "n_tilde": 800, "n_planes": 10000, "grid": 61},
)
def random_vs_hessian(key, *, n, n_tilde, n_planes, grid, progress=None) -> ExperimentResult:
    n = check_positive_int(n, "n")
    n_planes = check_positive_int(n_planes, "n_planes", minimum=2)
    grid = check_positive_int(grid, "grid", minimum=3)
    if not n < n_tilde <= 2 * n:
        raise ValueError(f"n_tilde must satisfy n < n_tilde <= 2n (eq. 45), got n={n}, "
                         f"n_tilde={n_tilde}")
    k_planes, k_hess, k_rand = jax.random.split(key, 3)
    losses = {"eq40": saddle_loss, "eq45": partial(saddle_loss, n_positive=int(n_tilde))}
    traces = {"eq40": saddle_hessian_trace(n), "eq45": saddle_hessian_trace(n, int(n_tilde))}
    data, summary = {}, {}
    total = 4
    with jax.enable_x64(True):
        theta = saddle_critical_point(n)
        for i, (name, loss) in enumerate(losses.items()):
            res = random_projection_curvatures(jax.random.fold_in(k_planes, i), loss, theta,
                                               n_planes)
            mkp, mkm, tkp, tkm = _running_means(res.projected_hessians)
            hd = hessian_directions(jax.random.fold_in(k_hess, i), loss, theta)
            kp_h, km_h = principal_curvatures(
                projected_hessian(loss, theta, hd.max_direction, hd.min_direction))
            data[name] = {
                "kappa_plus": res.kappa_plus, "kappa_minus": res.kappa_minus,
                "mean_kappa_plus": mkp, "mean_kappa_minus": mkm,
                "tilde_kappa_plus": tkp, "tilde_kappa_minus": tkm,
                "trace": traces[name],
            }
            summary[f"{name}_hidden_fraction"] = float(res.hidden_fraction)
            summary[f"{name}_mean_kappa_plus"] = float(mkp[-1])
            summary[f"{name}_mean_kappa_minus"] = float(mkm[-1])
            summary[f"{name}_trace"] = traces[name]
            summary[f"{name}_hessian_kappa_plus"] = float(kp_h)
            summary[f"{name}_hessian_kappa_minus"] = float(km_h)
            summary[f"{name}_hessian_plane_saddle"] = bool(kp_h * km_h < 0)
            summary[f"{name}_hessian_converged"] = bool(np.all(hd.result.converged))
            if progress is not None:
                progress(i + 1, total)

        # Fig. 10: eq. (45) on a random plane and on the Hessian plane
        loss = losses["eq45"]
        coords = jnp.linspace(-1.0, 1.0, grid)
        k1, k2 = jax.random.split(k_rand)
        e1 = random_direction(k1, theta, normalization="unit")
        e2 = random_direction(k2, theta, normalization="unit")
        random_plane = loss_plane(loss, theta, e1, e2, coords, coords)
        if progress is not None:
            progress(3, total)
        hd = hessian_directions(jax.random.fold_in(k_hess, 1), loss, theta)
        hessian_plane = loss_plane(loss, theta, hd.max_direction, hd.min_direction, coords,
                                   coords)
        random_kappas = principal_curvatures(projected_hessian(loss, theta, e1, e2))
        if progress is not None:
            progress(4, total)
    data["eq45_planes"] = {"alphas": coords, "random": random_plane, "hessian": hessian_plane}
    summary["eq40_hidden_fraction_large_n"] = float(HIDDEN_FRACTION_EQ40_LIMIT)
    summary["eq45_random_plane_kappa_plus"] = float(random_kappas[0])
    summary["eq45_random_plane_kappa_minus"] = float(random_kappas[1])
    rmin = plane_minimum(random_plane, coords, coords)
    half_step = 1.0 / (grid - 1)
    summary["eq45_random_plane_min_at_origin"] = bool(abs(rmin[0]) < half_step
                                                      and abs(rmin[1]) < half_step)
    fig = _figure(data, summary, n, int(n_tilde), n_planes)
    return ExperimentResult(data=data, figure=fig, summary=summary)


def _figure(data, summary, n, n_tilde, n_planes):
    from physjax.plotting import new_figure, plot_loss_heatmap, plot_loss_surface

    fig, axes = new_figure(2, 3, panel_size=(4.2, 3.4))
    for ax, name, title in ((axes[0, 0], "eq40", f"eq. (40), n={n}"),
                            (axes[0, 1], "eq45", f"eq. (45), n={n}, ñ={n_tilde}")):
        d = data[name]
        kp, km = np.asarray(d["kappa_plus"]), np.asarray(d["kappa_minus"])
        bins = np.linspace(min(km.min(), kp.min()), max(km.max(), kp.max()), 60)
        ax.hist(np.asarray(km), bins=bins, color="tab:red", alpha=0.7, label=r"$\kappa_-$")
        ax.hist(np.asarray(kp), bins=bins, color="k", alpha=0.6, label=r"$\kappa_+$")
        ax.axvline(0, color="grey", lw=0.8)
        ax.axvline(d["trace"], color="grey", ls="--", lw=1, label=r"tr $H$")
        frac = summary[f"{name}_hidden_fraction"]
        ax.set_title(f"{title}\n" + r"$P(\kappa_+\kappa_->0)$" + f" = {frac:.3f}", fontsize=9)
        ax.set_xlabel(r"principal curvature $\kappa_\pm^{\alpha,\beta}$")
        ax.set_ylabel(f"count ({n_planes} random planes)")
        ax.legend(fontsize=7)

    ax = axes[0, 2]
    s = np.arange(1, n_planes + 1)
    for name, color in (("eq40", "tab:blue"), ("eq45", "tab:green")):
        d = data[name]
        ax.plot(s, d["mean_kappa_plus"], color=color, lw=1,
                label=rf"{name}: $\langle\kappa_\pm\rangle$")
        ax.plot(s, d["mean_kappa_minus"], color=color, lw=1)
        ax.plot(s, d["tilde_kappa_plus"], color=color, lw=1, ls=":",
                label=rf"{name}: $\tilde\kappa_\pm$ (eq. 44)")
        ax.plot(s, d["tilde_kappa_minus"], color=color, lw=1, ls=":")
        ax.axhline(d["trace"], color="grey", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("number of random planes S")
    ax.set_ylabel("ensemble mean")
    ax.set_title("convergence (Fig. 7); dashed: tr H", fontsize=9)
    ax.legend(fontsize=6)

    planes = data["eq45_planes"]
    coords = np.asarray(planes["alphas"])
    plot_loss_heatmap(axes[1, 0], coords, coords, planes["random"])
    axes[1, 0].set_title("eq. (45), random unit directions:\napparent minimum (Fig. 10d)",
                         fontsize=9)
    plot_loss_heatmap(axes[1, 1], coords, coords, planes["hessian"])
    axes[1, 1].set_title(r"eq. (45), Hessian directions $v_{\max}, v_{\min}$:" + "\nsaddle "
                         "(Fig. 10a)", fontsize=9)
    axes[1, 2].remove()
    ax3 = fig.add_subplot(2, 3, 6, projection="3d")
    plot_loss_surface(ax3, coords, coords, planes["hessian"])
    ax3.set_title("Hessian-direction plane", fontsize=9)
    return fig
