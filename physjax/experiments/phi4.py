r"""φ⁴ lattice field theory: Binder crossing in 3-D and the free-field propagator in 2-D.

**Binder curves.**  For each lattice side :math:`L` in ``sizes`` the 3-D action
:math:`S = \sum_x[-2\kappa\sum_\mu\phi_x\phi_{x+\hat\mu} + \phi_x^2 + \lambda(\phi_x^2-1)^2]`
at :math:`\lambda = 1.1` is sampled by checkerboard Metropolis
(:class:`physjax.spins.Phi4Metropolis`, shift and reflection proposals) at ``n_kappas``
hopping parameters in :math:`\kappa_c \pm` ``kappa_window``, all of them in one compiled
program (``jax.vmap`` over the model: :math:`\kappa` is traced).  The Binder cumulant
:math:`U = 1 - \langle m^4\rangle/(3\langle m^2\rangle^2)` with its jackknife error over
whole chains (``phi4_estimates(..., blocks="chains")``: near :math:`\kappa_c` the
autocorrelation of :math:`m^2` outgrows blocks of records) is plotted against
:math:`\kappa`; the crossing of the two largest sizes
(:func:`kappa_crossing`) is compared with the published
:math:`\kappa_c = \beta_c/2 = 0.3750966(4)/2` (M. Hasenbusch, J. Phys. A 32 (1999) 4851;
:math:`\beta = 2\kappa` in his convention).  :math:`\lambda = 1.1` is near the coupling
where the leading correction to scaling vanishes, so small lattices already cross close to
:math:`\kappa_c`.

**Free field.**  At :math:`\lambda = 0`, :math:`\kappa = 0.2` on an 8×8 lattice, HMC
(:class:`physjax.spins.Phi4HMC`) measures :math:`\langle|\tilde\phi(p)|^2\rangle/V`, to be
compared with :math:`G(p) = 1/(2 - 4\kappa\sum_\mu\cos p_\mu)` (``free_field_max_abs_z``:
the largest deviation over all momenta in units of its error).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physjax._checks import check_positive_int, check_sizes
from physjax.experiments import ExperimentResult, register

#: β_c = 0.3750966(4) of the 3-D φ⁴ model at λ = 1.1 (Hasenbusch, J. Phys. A 32 (1999)
#: 4851), in the hopping parametrization κ = β/2.
HASENBUSCH_LAMBDA_3D = 1.1
HASENBUSCH_KAPPA_C_3D = 0.3750966 / 2
HASENBUSCH_KAPPA_C_3D_ERR = 0.0000004 / 2


def kappa_crossing(kappas, u_small, u_big, err_small, err_big) -> tuple[float, float]:
    r"""Hopping parameter where the Binder cumulants of two sizes cross, and its error.

    :math:`D(\kappa) = U_{\rm big} - U_{\rm small}` goes from negative (disordered, small
    :math:`\kappa`) to positive.  A straight line is fitted by weighted least squares to
    :math:`D` at the grid points next to its last sign change (the two bracketing points
    and one more on each side when there are any; all points when the grid has at most
    four); the crossing is its zero and the error follows from the fit covariance
    (delta method).  ``(nan, nan)`` without a sign change.
    """
    k = np.asarray(kappas, dtype=np.float64)
    d = np.asarray(u_big, dtype=np.float64) - np.asarray(u_small, dtype=np.float64)
    sigma = np.hypot(err_small, err_big) + 1e-15
    change = np.flatnonzero((d[:-1] < 0) & (d[1:] >= 0))
    if change.size == 0:
        return float("nan"), float("nan")
    if k.size <= 4:
        sel = np.arange(k.size)
    else:
        i = change[-1]
        sel = np.arange(max(i - 1, 0), min(i + 3, k.size))
    x0 = k[sel].mean()
    a = np.stack([np.ones(sel.size), k[sel] - x0], axis=1)
    w = 1.0 / sigma[sel] ** 2
    cov = np.linalg.inv(a.T @ (a * w[:, None]))
    c0, c1 = cov @ (a.T @ (w * d[sel]))
    grad = np.array([-1.0 / c1, c0 / c1**2])
    return float(x0 - c0 / c1), float(np.sqrt(grad @ cov @ grad))


def _observe(model, state, info):
    from physjax.spins import phi4_observables

    return phi4_observables(model.action, state)


@eqx.filter_jit
def _binder_scan(key, kernel, models, n_chains, n_steps, burn_in, record_every):
    """Magnetization and φ² traces, shape (n_kappas, n_records, n_chains), one program."""
    from physjax.kernels import run

    def one(model, k):
        state = kernel.init(k, model, (n_chains,), start="up")
        return run(kernel, k, model, state, n_steps, record_every=record_every,
                   burn_in=burn_in, observe=_observe).records

    keys = jax.random.split(key, models.action.kappa.shape[0])
    return jax.vmap(one)(models, keys)


@register(
    "phi4",
    description="phi^4 lattice field theory: 3-D Binder cumulant vs kappa at lambda = 1.1 "
                "with the crossing against Hasenbusch's kappa_c, and the 2-D free-field "
                "propagator check",
    quick={"sizes": (4, 8), "n_kappas": 5, "kappa_window": 0.006, "n_chains": 32,
           "n_steps": 800, "burn_in": 400, "record_every": 4, "step_size": 1.0,
           "free_steps": 600},
    full={"sizes": (8, 16, 32), "n_kappas": 9, "kappa_window": 0.003, "n_chains": 32,
          "n_steps": 16000, "burn_in": 4000, "record_every": 8, "step_size": 1.0,
          "free_steps": 4000},
)
def phi4(key, *, sizes, n_kappas, kappa_window, n_chains, n_steps, burn_in, record_every,
         step_size, free_steps) -> ExperimentResult:
    """Binder curves, their crossing and the free-field check; see the module docstring."""
    from physjax.spins import (
        Phi4,
        Phi4HMC,
        Phi4Metropolis,
        Phi4Steps,
        free_propagator,
        phi4_estimates,
        sample_phi4,
    )

    sizes = check_sizes(sizes, "sizes", "lattice side L")
    n_kappas = check_positive_int(n_kappas, "n_kappas", minimum=2)
    n_chains = check_positive_int(n_chains, "n_chains", minimum=2)
    n_steps = check_positive_int(n_steps, "n_steps")
    record_every = check_positive_int(record_every, "record_every")
    free_steps = check_positive_int(free_steps, "free_steps", minimum=64)
    if not kappa_window > 0:
        raise ValueError(f"kappa_window must be > 0, got {kappa_window}")
    if n_steps % record_every or n_steps // record_every < 2:
        raise ValueError(f"n_steps ({n_steps}) must be a multiple of record_every "
                         f"({record_every}) with at least 2 records")

    kc, lam = HASENBUSCH_KAPPA_C_3D, HASENBUSCH_LAMBDA_3D
    kappas = kc + kappa_window * np.linspace(-1.0, 1.0, n_kappas)
    kernel = Phi4Metropolis()
    binder = np.zeros((len(sizes), n_kappas))
    binder_err = np.zeros_like(binder)
    abs_m = np.zeros_like(binder)
    chi = np.zeros_like(binder)
    for i, L in enumerate(sizes):
        models = jax.vmap(lambda k, L=L: Phi4Steps(Phi4((L, L, L), k, lam), step_size))(
            jnp.asarray(kappas))
        trace = _binder_scan(jax.random.fold_in(key, L), kernel, models, n_chains, n_steps,
                             burn_in, record_every)
        for j in range(n_kappas):
            t = jax.tree.map(lambda x, j=j: jnp.moveaxis(x[j], 0, 1), trace)
            # errors from whole chains: near kappa_c the autocorrelation of m^2 outgrows
            # blocks of records (phi4_estimates)
            e = phi4_estimates(t, L**3, blocks="chains")
            binder[i, j], binder_err[i, j] = float(e.binder), float(e.binder_err)
            abs_m[i, j], chi[i, j] = float(e.abs_m), float(e.susceptibility)

    crossing = crossing_err = float("nan")
    if len(sizes) >= 2:
        crossing, crossing_err = kappa_crossing(kappas, binder[-2], binder[-1],
                                                binder_err[-2], binder_err[-1])

    # free field: lambda = 0, kappa = 0.2 on 8 x 8, HMC
    free_kappa, free_shape = 0.2, (8, 8)
    model = Phi4Steps(Phi4(free_shape, free_kappa, 0.0), 0.25, 1.0)
    s = sample_phi4(jax.random.fold_in(key, 0), Phi4HMC(), model, 32, free_steps,
                    burn_in=free_steps // 8, record_every=2, two_point=True)
    g = np.asarray(s.two_point, dtype=np.float64).mean(axis=1)   # chain means
    g_mean, g_err = g.mean(axis=0), g.std(axis=0, ddof=1) / np.sqrt(g.shape[0])
    g_exact = np.asarray(free_propagator(free_shape, free_kappa), dtype=np.float64)
    z = (g_mean - g_exact) / g_err

    summary = {
        "binder_crossing_kappa": crossing,
        "binder_crossing_err": crossing_err,
        "published_kappa_c": kc,
        "crossing_minus_published": crossing - kc,
        "free_field_max_abs_z": float(np.max(np.abs(z))),
        "free_field_G0": float(g_mean[0, 0]),
        "free_field_G0_exact": float(g_exact[0, 0]),
        "free_field_acceptance": float(np.mean(s.acceptance)),
    }
    data = {"sizes": np.array(sizes), "kappas": kappas, "lam": lam, "binder": binder,
            "binder_err": binder_err, "abs_m": abs_m, "susceptibility": chi,
            "published_kappa_c": kc, "published_kappa_c_err": HASENBUSCH_KAPPA_C_3D_ERR,
            "free_kappa": free_kappa, "free_two_point": g_mean, "free_two_point_err": g_err,
            "free_propagator": g_exact}
    figure = _figure(data, crossing, crossing_err)
    return ExperimentResult(data=data, figure=figure, summary=summary)


def _figure(d, crossing, crossing_err):
    from physjax.plotting import new_figure

    fig, (ax_u, ax_g) = new_figure(1, 2, panel_size=(4.2, 3.3))
    for i, L in enumerate(d["sizes"]):
        ax_u.errorbar(d["kappas"], d["binder"][i], d["binder_err"][i], fmt="o-", ms=3.5,
                      capsize=1.5, lw=1, label=f"L = {L}")
    ax_u.axvline(d["published_kappa_c"], color="k", lw=0.9, ls=":",
                 label=r"Hasenbusch $\kappa_c$")
    if np.isfinite(crossing):
        ax_u.axvspan(crossing - crossing_err, crossing + crossing_err, color="C3",
                     alpha=0.25, label=f"crossing {crossing:.5f}")
    ax_u.set(xlabel=r"$\kappa$", ylabel=r"$U$",
             title=rf"3-D $\phi^4$, $\lambda = {d['lam']}$: Binder cumulant")
    ax_u.legend(fontsize=7)

    from physjax.spins import lattice_momenta

    g, ge, gx = d["free_two_point"], d["free_two_point_err"], d["free_propagator"]
    p = np.asarray(lattice_momenta(g.shape))
    phat2 = np.sum(4 * np.sin(p / 2) ** 2, axis=0).ravel()
    order = np.argsort(phat2)
    ax_g.errorbar(phat2, g.ravel(), ge.ravel(), fmt="o", ms=3, capsize=1.5, label="HMC")
    ax_g.plot(phat2[order], gx.ravel()[order], "k-", lw=1,
              label=r"$1/(2 - 4\kappa\sum_\mu\cos p_\mu)$")
    ax_g.set(xlabel=r"$\hat p^2$", ylabel=r"$\langle|\tilde\phi(p)|^2\rangle/V$",
             yscale="log", title=rf"free field $\lambda = 0$, $\kappa = {d['free_kappa']}$")
    ax_g.legend(fontsize=7)
    return fig
