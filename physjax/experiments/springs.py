r"""Elastic spring networks that learn (seed 000): allostery vs cooperative binding, the
thermal crossover temperature :math:`T^*`, and maximally localized modes.

All three start from a periodic 2-D network cut from a jammed bidisperse packing and pruned
to mean coordination Z (:func:`physjax.networks.packing.jammed_network`), with two binding
sites A and B far apart (:func:`physjax.networks.strain.distant_sites`), trained by coupled
learning on the linear response (:func:`physjax.networks.spring_learning.train_springs`,
Optax Adam on the coupled-learning direction, stiffnesses clipped to [1e-3, 100]).

* ``allostery-vs-cooperative``: allostery (strain A by 1 -> B strains by Delta = 1) and
  cooperative binding (A -> B and B -> A, both by 1); the response, the projection of the
  response to binding A on the normal modes of the trained network, and the binding energies
  :math:`E^B` (B alone) and :math:`E^{A+B} - E^A` (B after A).
* ``thermal-crossover``: :math:`\langle\varepsilon_B\rangle` with the thermal bands
  :math:`\sigma + \sigma^0` against T for a cooperative-binding network, :math:`T^*`
  against the allosteric response :math:`\Delta`, and :math:`T^*` and the training error
  against the energy regularization :math:`\lambda` (criterion:
  :func:`physjax.networks.thermal.crossover_temperature`).
* ``localized-modes``: the maximally localized basis of the lowest :math:`N_m` modes of the
  trained allosteric network, the boundary edges of the binarized modes, their number
  against :math:`N_m` (seed 000: :math:`\sim\sqrt{N_m}`) and the weighted boundary frequency
  :math:`f_e`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from physjax.experiments import ExperimentResult, register
from physjax.experiments._springs_figures import (
    allostery_figure,
    localized_figure,
    thermal_figure,
)


def _setup(key, n_particles, mean_coordination):
    from physjax.networks import packing, strain
    net = packing.jammed_network(key, n_particles, mean_coordination)
    a, b = strain.distant_sites(net)
    return net, a, b


def _train(net, task, n_steps, learning_rate, eta, lam=0.0):
    import optax

    from physjax.networks import spring_learning as sl
    return sl.train_springs(net, jnp.ones(net.n_edges), task, n_steps=n_steps,
                            optimizer=optax.adam(learning_rate), eta=eta,
                            energy_regularization=lam, k_max=100.0)


def _allostery_pair(net, a, b, ratio=1.0):
    """Allostery as a two-example task (the A -> B example twice: same cost and updates),
    so that every training here has the shape of cooperative binding and the experiments
    share one compiled training program."""
    from physjax.networks import strain
    eye = np.eye(2)
    src, tgt = np.tile(eye[0], (2, 1)), np.tile(eye[1], (2, 1))
    return strain.make_strain_task(net, np.stack([a, b]), sources=src, targets=tgt,
                                   inputs=src, desired=ratio * tgt)


def _train_many(net, tasks, lambdas, n_steps, learning_rate, eta):
    """One vmapped training over a list of same-shape tasks and regularizations."""
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *tasks)
    lam = jnp.asarray(lambdas, stacked.inputs.dtype)
    return jax.vmap(lambda t, g: _train(net, t, n_steps, learning_rate, eta, g))(stacked, lam)


# ---------------------------------------------------------------- allostery-vs-cooperative

@register(
    "allostery-vs-cooperative",
    description="Spring networks trained by coupled learning for allostery and cooperative "
                "binding: response, mode projections, binding energies",
    quick={"n_particles": 100, "mean_coordination": 4.6, "n_steps": 300,
           "learning_rate": 0.01, "eta": 0.01, "n_modes": 30, "regularization": 1e-3},
    full={"n_particles": 400, "mean_coordination": 4.6, "n_steps": 2000,
          "learning_rate": 0.01, "eta": 0.01, "n_modes": 60, "regularization": 1e-3},
)
def allostery_vs_cooperative(key, *, n_particles, mean_coordination, n_steps, learning_rate,
                             eta, n_modes, regularization) -> ExperimentResult:
    """Train both tasks on one network (and cooperative binding once more with the energy
    regularization ``regularization``); compare responses, modes and energies."""
    from physjax.networks import spring, strain

    net, a, b = _setup(key, n_particles, mean_coordination)
    both = strain.cooperative_binding_task(net, a, b)     # examples: A bound, B bound
    tasks = {"allostery": (_allostery_pair(net, a, b), 0.0),
             "cooperative": (both, 0.0),
             "cooperative, regularized": (both, regularization)}
    data = {"n_nodes": net.n_nodes, "n_edges": net.n_edges, "site_a": a, "site_b": b,
            "names": list(tasks)}
    summary = {}
    runs = _train_many(net, [t for t, _ in tasks.values()], [g for _, g in tasks.values()],
                       n_steps, learning_rate, eta)
    for i, (name, (_, lam)) in enumerate(tasks.items()):
        res = jax.tree.map(lambda x, i=i: x[i], runs)
        k = res.stiffnesses
        u, eps = strain.free_state(net, k, both)          # (2, N, d), (2, 2)
        modes = spring.normal_modes(net, k, check=False)
        n = min(n_modes, modes.eigenvalues.shape[0])
        amp = np.asarray(modes.vectors.T @ u[0].reshape(-1))
        proj = amp**2 / np.sum(amp**2)
        en = strain.binding_energies(net, k, a, b)
        data[name] = {"stiffnesses": np.asarray(k), "cost": np.asarray(res.cost),
                      "regularization": lam,
                      "strain_b_given_a": float(eps[0, 1]),
                      "strain_a_given_b": float(eps[1, 0]),
                      "eigenvalues": np.asarray(modes.eigenvalues[:n]),
                      "projection": proj[:n], "e_a": float(en.a), "e_b": float(en.b),
                      "e_ab": float(en.ab), "e_b_after_a": float(en.b_after_a)}
        summary[f"{name}: strain at B for unit strain at A"] = float(eps[0, 1])
        summary[f"{name}: strain at A for unit strain at B"] = float(eps[1, 0])
        summary[f"{name}: response weight on lowest mode"] = float(proj[0])
        summary[f"{name}: E_B (bind B alone)"] = float(en.b)
        summary[f"{name}: E_AB - E_A (bind B after A)"] = float(en.b_after_a)
    fig = allostery_figure(net, data)
    return ExperimentResult(data=data, figure=fig, summary=summary)


# ----------------------------------------------------------------------- thermal-crossover

@register(
    "thermal-crossover",
    description="Thermal spread of the target strain vs T, crossover temperature T* vs "
                "response and vs energy regularization",
    quick={"n_particles": 100, "mean_coordination": 4.6, "n_steps": 300,
           "learning_rate": 0.01, "eta": 0.01, "ratios": (0.25, 0.5, 1.0, 2.0),
           "lambdas": (0.0, 3e-4, 1e-3), "n_temperatures": 40},
    full={"n_particles": 300, "mean_coordination": 4.6, "n_steps": 1500,
          "learning_rate": 0.01, "eta": 0.01, "ratios": (0.1, 0.25, 0.5, 1.0, 2.0, 4.0),
          "lambdas": (0.0, 1e-4, 3e-4, 1e-3, 3e-3), "n_temperatures": 60},
)
def thermal_crossover(key, *, n_particles, mean_coordination, n_steps, learning_rate, eta,
                      ratios, lambdas, n_temperatures) -> ExperimentResult:
    """T* from the modes of trained networks; training sweeps are vmapped."""
    from physjax.networks import strain, thermal

    net, a, b = _setup(key, n_particles, mean_coordination)
    ratios = np.asarray(ratios, float)
    lambdas = np.asarray(lambdas, float)
    coop = strain.cooperative_binding_task(net, a, b)
    # one vmapped training: the regularization sweep (cooperative binding), then the
    # allosteric responses Delta
    tasks = [coop] * lambdas.size + [_allostery_pair(net, a, b, r) for r in ratios]
    runs = _train_many(net, tasks, np.r_[lambdas, np.zeros(ratios.size)], n_steps,
                       learning_rate, eta)
    k_all = runs.stiffnesses
    t_lam = np.array([np.nanmin(np.asarray(thermal.crossover_temperature(
        net, k_all[i], coop))) for i in range(lambdas.size)])
    cost_lam = np.asarray(runs.final_cost)[:lambdas.size]
    # <eps_B> and bands vs T for the unregularized cooperative network
    k0 = k_all[int(np.argmin(np.abs(lambdas)))]
    t_star0 = float(np.nanmin(np.asarray(thermal.crossover_temperature(net, k0, coop))))
    temps = t_star0 * np.logspace(-2, 2, n_temperatures)
    st1 = thermal.strain_statistics(net, k0, coop, 1.0)
    mean = float(st1.mean[0, 1])
    sigma = float(st1.std[0, 1]) * np.sqrt(temps)
    sigma0 = float(st1.std_rest[1]) * np.sqrt(temps)
    # T* against the allosteric response Delta
    t_ratio, achieved = [], []
    for i, r in enumerate(ratios):
        task_i = strain.allostery_task(net, a, b, ratio=float(r))
        k_i = k_all[lambdas.size + i]
        t_ratio.append(float(thermal.crossover_temperature(net, k_i, task_i)[0, 1]))
        achieved.append(float(strain.free_state(net, k_i, task_i, check=False)[1][0, 1]))
    data = {"n_nodes": net.n_nodes, "temperatures": temps, "mean_strain_b": mean,
            "sigma": sigma, "sigma_rest": sigma0, "t_star": t_star0, "lambdas": lambdas,
            "t_star_vs_lambda": t_lam, "cost_vs_lambda": cost_lam, "ratios": ratios,
            "t_star_vs_ratio": np.asarray(t_ratio), "achieved_ratio": np.asarray(achieved)}
    summary = {"T* (cooperative, lambda=0)": t_star0,
               "<eps_B> given A (cooperative)": mean,
               f"T*(lambda={lambdas.max():g}) / T*(lambda=0)": float(t_lam[-1] / t_lam[0]),
               f"cost(lambda={lambdas.max():g}) / cost(lambda=0)": float(
                   cost_lam[-1] / max(cost_lam[0], 1e-300)),
               "Delta with the largest T*": float(ratios[int(np.nanargmax(t_ratio))]),
               "max |achieved - Delta|": float(np.max(np.abs(np.asarray(achieved) - ratios)))}
    return ExperimentResult(data=data, figure=thermal_figure(data), summary=summary)


# ------------------------------------------------------------------------ localized-modes

@register(
    "localized-modes",
    description="Maximally localized basis of the low modes of a trained spring network: "
                "boundary edges and weighted boundary frequency vs number of modes",
    quick={"n_particles": 100, "mean_coordination": 4.6, "n_steps": 300,
           "learning_rate": 0.01, "eta": 0.01, "max_modes": 6, "localize_steps": 40},
    full={"n_particles": 300, "mean_coordination": 4.6, "n_steps": 1500,
          "learning_rate": 0.01, "eta": 0.01, "max_modes": 12, "localize_steps": 150},
)
def localized_modes(key, *, n_particles, mean_coordination, n_steps, learning_rate, eta,
                    max_modes, localize_steps) -> ExperimentResult:
    """Boundary-edge maps of the localized low modes of a trained allosteric network."""
    from physjax.networks import localized, spring

    k_net, k_loc = jax.random.split(key)
    net, a, b = _setup(k_net, n_particles, mean_coordination)
    res = _train(net, _allostery_pair(net, a, b), n_steps, learning_rate, eta)
    k = res.stiffnesses
    modes = spring.normal_modes(net, k, check=False)
    box = None if net.box is None else net.box
    f, masks = localized.boundary_frequency(k_loc, net.graph, modes.vectors[:, :max_modes],
                                            net.positions, max_modes, box=box,
                                            n_steps=localize_steps)
    counts = np.asarray(masks).sum(1)
    nm = np.arange(1, max_modes + 1)
    slope = float(np.polyfit(np.log(nm), np.log(np.maximum(counts, 1)), 1)[0])
    change = np.abs(np.log(np.asarray(k)))
    on = np.asarray(f) > 0
    data = {"n_nodes": net.n_nodes, "stiffnesses": np.asarray(k), "frequency": np.asarray(f),
            "boundary_masks": np.asarray(masks), "boundary_counts": counts,
            "eigenvalues": np.asarray(modes.eigenvalues[:max_modes]), "site_a": a,
            "site_b": b, "cost": np.asarray(res.cost)}
    summary = {"final cost": float(res.final_cost),
               "boundary edges, N_m = 1": int(counts[0]),
               f"boundary edges, N_m = {max_modes}": int(counts[-1]),
               "log-log slope of count vs N_m (seed: 1/2)": slope,
               "mean |log k| on boundary edges": float(change[on].mean()) if on.any()
               else float("nan"),
               "mean |log k| elsewhere": float(change[~on].mean()) if (~on).any()
               else float("nan")}
    return ExperimentResult(data=data, figure=localized_figure(net, data), summary=summary)
