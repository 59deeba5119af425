r"""Learning rules for physical networks: double optimization, coupled learning and
equilibrium propagation, each as one update direction plus a ``train`` loop in ``lax.scan``.

Every rule returns a *descent direction estimate* :math:`g \approx \nabla_k C` (up to a
positive metric for coupled learning), which an Optax optimizer turns into an update
:math:`k \leftarrow k - \alpha g`; conductances are then clipped to ``[k_min, k_max]``
(clipping, rather than a log parametrization, keeps the local rules exactly the update a
physical network would apply to its edges).

* **Double optimization** (:func:`double_optimization_gradient`): :math:`g = \nabla_k C`
  through the equilibrium, by implicit (adjoint) differentiation of the free-state solve.
* **Coupled learning** (Stern et al. 2021; seed 000): targets clamped at
  :math:`V_T^C = V_T^F + \eta(V_T^{desired} - V_T^F)`, and
  :math:`\Delta k_e = -\frac{\alpha}{\eta}[(\Delta V_e^C)^2 - (\Delta V_e^F)^2]`, i.e.
  :math:`g = 2\,\partial_k \mathcal C_\eta` with the contrast
  :math:`\mathcal C_\eta = [P_C - P_F]/\eta`.  As :math:`\eta \to 0`,
  :math:`\partial_k \mathcal C_\eta \to J^\top G_{eff}\, r` where :math:`r = V_T^F -
  V_T^{desired}`, :math:`J = \partial V_T^F/\partial k` and :math:`G_{eff}` is the effective
  conductance matrix between the targets (the Schur complement of the Laplacian on the
  targets, sources grounded).  A hard clamp injects the current :math:`\eta G_{eff}
  (V^{desired} - V^F)`, so coupled learning descends :math:`C` in the metric
  :math:`G_{eff}` -- along :math:`-\nabla C` exactly when there is a single target.  With
  several targets :math:`\nabla C \cdot J^\top G_{eff} r` need not be positive, so how fast
  (and whether) coupled learning converges depends on the step size and optimizer: on the
  seed-000 task some networks need plain steps, others Adam (see the tests and README).
* **Equilibrium propagation** (Scellier & Bengio 2017): the nudged state minimizes
  :math:`P + \beta C`; :math:`\partial_k P(V^\beta)` with :math:`\partial_{k_e} P =
  \int_0^{\Delta V_e} f` gives :math:`g_+ = [\partial_k P(V^{\beta}) - \partial_k P(V^0)]
  /\beta`, :math:`g_- = [\partial_k P(V^0) - \partial_k P(V^{-\beta})]/\beta` (errors
  :math:`O(\beta)`) and the centred :math:`g_\pm = [\partial_k P(V^{\beta}) -
  \partial_k P(V^{-\beta})]/2\beta` (error :math:`O(\beta^2)`), all tending to
  :math:`\nabla_k C`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from physjax import graphs as _graphs
from physjax._checks import check_choice, check_positive, check_positive_int, is_concrete
from physjax.networks import resistor as _res

__all__ = [
    "NUDGES",
    "RULES",
    "TrainResult",
    "contrast",
    "contrast_gradient",
    "coupled_learning_update",
    "double_optimization_gradient",
    "equilibrium_propagation_gradient",
    "learning_direction",
    "train",
]

RULES = ("double_optimization", "coupled_learning", "equilibrium_propagation")
NUDGES = ("positive", "negative", "centred")


def _power_partials(graph, voltages, current):
    r""":math:`\partial P/\partial k_e = \int_0^{\Delta V_e} f`, averaged over examples."""
    dv = _graphs.edge_differences(graph, voltages)
    return jnp.mean(_res.co_content(current, dv), axis=0)


def double_optimization_gradient(graph, conductances, task, *, solver="auto", current=None,
                                 initial=None, check=True):
    r""":math:`\nabla_k C` through the free state (adjoint method); returns
    ``(C, grad, V_F)``.

    Linear networks: the adjoint potentials :math:`\lambda = H_{ff}^{-1}\partial C/\partial V`
    are combinations of the targets' Green's-function columns, which come from the same
    factorization and solve as the free state, and
    :math:`\partial C/\partial k_e = -\sum_\mu \Delta V^\mu_e\,\Delta\lambda^\mu_e`
    (about 20% less time than differentiating the solve, 40 x 40 grid).  Nonlinear
    networks: reverse mode through the Newton solve (implicit differentiation)."""
    if check:
        _res.check_network(graph, conductances, task)
    tgt = np.asarray(task.target_nodes)
    if initial is not None:
        initial = jax.lax.stop_gradient(initial)
    if current is None:
        free, green = _res._linear_free_state(graph, jnp.asarray(conductances), task,
                                              solver=solver, initial=initial, rtol=None,
                                              green=True)
        r = free[:, tgt] - task.desired
        c = 0.5 * jnp.sum(r**2) / task.n_examples
        adjoint = r @ green.T / task.n_examples  # (n_ex, N), zero at the fixed nodes
        grad = -jnp.sum(_graphs.edge_differences(graph, free)
                        * _graphs.edge_differences(graph, adjoint), axis=0)
        return c, grad, free

    def solve(k):
        return _res.free_state(graph, k, task, solver=solver, current=current,
                               initial=initial, check=False)

    free, pullback = jax.vjp(solve, jnp.asarray(conductances))
    r = free[:, tgt] - task.desired
    c = 0.5 * jnp.sum(r**2) / task.n_examples
    dc_dv = jnp.zeros_like(free).at[:, tgt].set(r / task.n_examples)
    (grad,) = pullback(dc_dv)
    return c, grad, free


def _equilibria(graph, conductances, task, *, solver, current, initial):
    """Free state plus functions giving the clamped (eta) and nudged (beta) states.

    For linear networks all three come from one factorization: the clamped and nudged
    states add the response of the targets' Green's function to the free state."""
    k = jnp.asarray(conductances)
    if current is None:
        free, green = _res._linear_free_state(graph, k, task, solver=solver, initial=initial,
                                              rtol=None, green=True)
        return (free, lambda eta: _res._clamp_with_green(free, green, task, eta),
                lambda beta: _res._nudge_with_green(free, green, task, beta))
    kw = dict(solver=solver, current=current, check=False)
    free = _res.free_state(graph, k, task, initial=initial, **kw)
    return (free, lambda eta: _res.clamped_state(graph, k, task, eta, free=free, **kw),
            lambda beta: _res.nudged_state(graph, k, task, beta, initial=free, **kw))


def contrast(graph, conductances, task, eta, *, solver="auto", current=None):
    r"""Contrast :math:`\mathcal C_\eta = [P(V^C) - P(V^F)]/\eta` (hard clamp), averaged over
    examples; non-negative because :math:`V^F` minimizes :math:`P` with only the sources
    fixed."""
    _res.check_network(graph, conductances, task)
    check_positive(eta, "eta")
    free, clamp, _ = _equilibria(graph, conductances, task, solver=solver, current=current,
                                 initial=None)
    p = lambda v: _res.power(graph, conductances, v, current=current)  # noqa: E731
    return jnp.mean(p(clamp(eta)) - p(free)) / eta


def _contrast_gradient(graph, free, clamp, eta, current):
    clamped = _power_partials(graph, clamp(eta), current)
    return (clamped - _power_partials(graph, free, current)) / eta


def contrast_gradient(graph, conductances, task, eta, *, solver="auto", current=None,
                      initial=None, check=True):
    r"""Partial :math:`\partial_k \mathcal C_\eta = [\partial_k P(V^C) - \partial_k P(V^F)]/
    \eta` at fixed states (what each edge can measure locally)."""
    if check:
        _res.check_network(graph, conductances, task)
        check_positive(eta, "eta")
    free, clamp, _ = _equilibria(graph, conductances, task, solver=solver, current=current,
                                 initial=initial)
    return _contrast_gradient(graph, free, clamp, eta, current)


def coupled_learning_update(graph, conductances, task, eta, **kwargs):
    r"""Coupled-learning update per unit learning rate,
    :math:`\Delta k_e/\alpha = -\frac1\eta[(\Delta V_e^C)^2 - (\Delta V_e^F)^2]` (seed 000;
    :math:`-2\,\partial_k \mathcal C_\eta`, which for nonlinear edges uses the co-content)."""
    return -2.0 * contrast_gradient(graph, conductances, task, eta, **kwargs)


def _ep_gradient(graph, free, nudge_fn, beta, nudge, current):
    def partials(b):
        return _power_partials(graph, nudge_fn(b), current)

    if nudge == "centred":
        return (partials(beta) - partials(-beta)) / (2.0 * beta)
    p0 = _power_partials(graph, free, current)
    if nudge == "positive":
        return (partials(beta) - p0) / beta
    return (p0 - partials(-beta)) / beta


def equilibrium_propagation_gradient(graph, conductances, task, beta, *, nudge="centred",
                                     solver="auto", current=None, initial=None, check=True):
    r"""Equilibrium-propagation estimate of :math:`\nabla_k C` from nudged states
    (``nudge`` = ``"positive"``, ``"negative"`` or ``"centred"``)."""
    check_choice(nudge, "nudge", NUDGES)
    if check:
        _res.check_network(graph, conductances, task)
        check_positive(beta, "beta")
    free, _, nudge_fn = _equilibria(graph, conductances, task, solver=solver, current=current,
                                    initial=initial)
    return _ep_gradient(graph, free, nudge_fn, beta, nudge, current)


def learning_direction(rule, graph, conductances, task, *, eta=1e-3, nudge="centred",
                       solver="auto", current=None, initial=None):
    r"""One rule's descent direction :math:`g` and the cost and free state at ``conductances``:
    returns ``(C, g, V^F)``; the update is :math:`k \leftarrow k - \alpha g`."""
    check_choice(rule, "rule", RULES)
    if rule == "double_optimization":
        return double_optimization_gradient(graph, conductances, task, solver=solver,
                                            current=current, initial=initial, check=False)
    free, clamp, nudge_fn = _equilibria(graph, conductances, task, solver=solver,
                                        current=current, initial=initial)
    c = 0.5 * jnp.sum((free[:, np.asarray(task.target_nodes)] - task.desired) ** 2)
    c = c / task.n_examples
    if rule == "coupled_learning":
        g = 2.0 * _contrast_gradient(graph, free, clamp, eta, current)
    else:
        g = _ep_gradient(graph, free, nudge_fn, eta, nudge, current)
    return c, g, free


class TrainResult(NamedTuple):
    """Outcome of :func:`train`.

    Attributes:
        conductances: final conductances, shape ``(n_edges,)``.
        cost: cost before each step, shape ``(n_steps,)``; ``final_cost`` after the last.
        final_cost: cost at the final conductances.
        snapshots: conductances every ``record_every`` steps, shape
            ``(n_steps // record_every + 1, n_edges)`` (first row: the initial ones).
    """

    conductances: jax.Array
    cost: jax.Array
    final_cost: jax.Array
    snapshots: jax.Array


def train(graph, conductances, task, *, rule: str = "double_optimization",
          n_steps: int = 1000, learning_rate: float = 0.1,
          optimizer: optax.GradientTransformation | None = None, eta: float = 1e-3,
          nudge: str = "centred", k_min: float = 1e-3, k_max: float = 1e3,
          record_every: int | None = None, solver: str = "auto", current=None,
          check: bool = True) -> TrainResult:
    r"""Train conductances with one rule for ``n_steps`` inside ``lax.scan``.

    ``optimizer`` defaults to ``optax.sgd(learning_rate)`` (plain gradient descent: the
    coupled-learning update of seed 000 with :math:`\alpha` = ``learning_rate``).  After each
    update the conductances are clipped to ``[k_min, k_max]``.  The free (and clamped) states
    of the previous step warm-start the iterative solver.  ``eta`` is the clamping factor of
    coupled learning and the nudge :math:`\beta` of equilibrium propagation.

    ``train`` is a pure function of its array arguments: ``jax.vmap`` it over conductances
    (an ensemble of initial conditions) or over graphs of equal size.
    """
    check_choice(rule, "rule", RULES)
    check_choice(nudge, "nudge", NUDGES)
    n_steps = check_positive_int(n_steps, "n_steps")
    record_every = n_steps if record_every is None else check_positive_int(record_every,
                                                                           "record_every")
    if n_steps % record_every:
        raise ValueError(f"record_every={record_every} must divide n_steps={n_steps}")
    if check:
        _res.check_network(graph, conductances, task)
        check_positive(eta, "eta")
        check_positive(learning_rate, "learning_rate")
        check_positive(k_min, "k_min")
        if is_concrete(k_max) and not k_max > k_min:
            raise ValueError(f"k_max={k_max} must exceed k_min={k_min}")
    opt = optax.sgd(learning_rate) if optimizer is None else optimizer
    k0 = jnp.asarray(conductances)
    dtype = jnp.result_type(k0.dtype, task.inputs.dtype)
    k0 = k0.astype(dtype)
    v0 = _res.free_state(graph, k0, task, solver=solver, current=current, check=False)

    def step(carry, _):
        k, opt_state, v_prev = carry
        c, g, v = learning_direction(rule, graph, k, task, eta=eta, nudge=nudge,
                                     solver=solver, current=current, initial=v_prev)
        updates, opt_state = opt.update(g, opt_state, k)
        k = jnp.clip(optax.apply_updates(k, updates), k_min, k_max)
        return (k, opt_state, v), c

    def block(carry, _):
        carry, costs = jax.lax.scan(step, carry, None, length=record_every)
        return carry, (costs, carry[0])

    carry = (k0, opt.init(k0), v0)
    (k, _, v), (costs, snaps) = jax.lax.scan(block, carry, None,
                                             length=n_steps // record_every)
    final = _res.cost(graph, k, task, solver=solver, current=current, initial=v, check=False)
    return TrainResult(k, costs.reshape(-1), final, jnp.concatenate([k0[None], snaps]))
