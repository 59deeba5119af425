r"""Learning in spring networks: coupled learning, double optimization, energy regularization.

Learning degrees of freedom are the stiffnesses :math:`k_j` and, optionally, the rest
lengths :math:`\ell_{0j}`; states are linear responses (:mod:`physjax.networks.strain`).
The cost of a task is :math:`C = \frac{1}{n_{ex}}\sum_\mu \tfrac12\sum_T
(\varepsilon_T^F - \Delta_T)^2`.

* **Coupled learning** (seed 000).  Free state F: sources imposed.  Clamped state C: targets
  also held, at :math:`\varepsilon_T^C = \varepsilon_T^F + \eta(\Delta - \varepsilon_T^F)`.
  The contrast :math:`\mathcal C = \frac1\eta(E^C - E^F) \ge 0` is differentiated at fixed
  states (what each spring can measure locally):

  .. math:: \Delta k_j = -\alpha\,\partial_{k_j}\mathcal C
            = -\frac{\alpha}{2\eta}\big[(\ell_j^C - \ell_{0j})^2 - (\ell_j^F - \ell_{0j})^2\big],
            \qquad
            \Delta\ell_{0j} = -\alpha\,\partial_{\ell_{0j}}\mathcal C
            = \frac{\alpha}{\eta}k_j\big[(\ell_j^C - \ell_{0j}) - (\ell_j^F - \ell_{0j})\big].

* **Energy regularization** (seed 000: a term "to raise the energy of the free state", so
  that mode energies rise and the crossover temperature :math:`T^*` with them):

  .. math:: \mathcal C_\lambda = \frac1\eta\big[(E^C - E^F) - \lambda E^F\big],\qquad
            \Delta k_j = -\frac{\alpha}{2\eta}\big[(\ell^C_j-\ell_{0j})^2 -
            (1+\lambda)(\ell^F_j-\ell_{0j})^2\big],

  :math:`\lambda` = ``energy_regularization`` (summed over examples, e.g. the A→B and B→A
  directions of cooperative binding).  Seed 000 writes the term as :math:`+\lambda E^F`;
  since :math:`\partial E^F/\partial k_j = \tfrac12(\ell^F_j-\ell_{0j})^2 > 0`, descending
  :math:`+\lambda E^F` would *lower* :math:`E^F` (and, we checked, :math:`T^*`), so the sign
  here is the one that does what the seed says the term is for: :math:`\lambda > 0` raises
  :math:`E^F` and :math:`T^*` at the price of a larger training error
  (tests/networks/test_thermal.py).  Note :math:`T^* \le 2E^F` (per unit input strain):
  the response :math:`\delta` obeys :math:`\delta^2 \le C_{TT}\,\varepsilon_S^2/C_{SS}`.
* **Double optimization**: :math:`\nabla C` through the equilibrium (implicit
  differentiation of the linear solves), the update :math:`\Delta\theta = -\alpha\nabla C`.

:func:`train_springs` runs one rule inside ``lax.scan`` with an Optax optimizer (default
``optax.sgd``, i.e. exactly the rules above with :math:`\alpha` = ``learning_rate``),
clipping :math:`k` to ``[k_min, k_max]`` and :math:`\ell_0 > 0` after every step and
warm-starting iterative solves from the previous step.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from physjax._checks import check_choice, check_positive, check_positive_int, is_concrete
from physjax.networks import spring as _sp
from physjax.networks import strain as _st

__all__ = [
    "SPRING_RULES",
    "SpringTrainResult",
    "coupled_learning_step",
    "double_optimization_gradient",
    "regularized_contrast",
    "regularized_contrast_gradient",
    "strain_cost",
    "train_springs",
]

SPRING_RULES = ("coupled_learning", "double_optimization")


def _cost_from_strains(task, strains):
    r = task.targets * (strains - task.desired)
    return 0.5 * jnp.sum(r**2) / task.n_examples


def strain_cost(network, stiffnesses, task, *, rest_lengths=None, solver="auto",
                check=True):
    r""":math:`C = \frac1{n_{ex}}\sum_\mu\tfrac12\sum_T(\varepsilon_T^F - \Delta_T)^2`
    (linear response)."""
    if check:
        _check(network, stiffnesses, task, None, rest_lengths)
    return _cost(network, jnp.asarray(stiffnesses), task, rest_lengths,
                 _st._choose(solver, network))


@eqx.filter_jit
def _cost(network, k, task, l0, solver):
    resp = _st._linear_response(network, k, task.pairs, l0, solver, None, None)
    return _cost_from_strains(task, _st.constrained_state(resp, task.sources, task.inputs)[1])


def _states(network, k, task, eta, l0, solver, initial=None, rtol=None):
    resp = _st._linear_response(network, k, task.pairs, l0, _st._choose(solver, network),
                                initial, rtol)
    uf, ef = _st.constrained_state(resp, task.sources, task.inputs)
    values = task.inputs + task.targets * (ef + eta * (task.desired - ef))
    uc, _ = _st.constrained_state(resp, task.sources + task.targets, values)
    shape = (task.n_examples, network.n_nodes, network.dim)
    return resp, uf.reshape(shape), ef, uc.reshape(shape)


def _contrast_partials(network, k, l0, uf, uc, eta, lam):
    ext_f = _st._extensions(network, uf, l0)
    ext_c = _st._extensions(network, uc, l0)
    g_k = jnp.mean(ext_c**2 - (1.0 - lam) * ext_f**2, axis=0) / (2.0 * eta)
    g_l0 = -k * jnp.mean(ext_c - (1.0 - lam) * ext_f, axis=0) / eta
    return g_k, g_l0


def _check(network, k, task, eta=None, l0=None):
    _st._check_task(network, k, task, True, l0)
    if eta is not None:
        check_positive(eta, "eta")


def regularized_contrast(network, stiffnesses, task, eta, *, energy_regularization=0.0,
                         rest_lengths=None, solver="auto", check=True):
    r"""Contrast :math:`\frac1\eta\,\overline{[(E^C - E^F) - \lambda E^F]}` (mean over
    examples), :math:`\lambda` = ``energy_regularization`` (sign: see the module docs).
    Non-negative for :math:`\lambda = 0`."""
    if check:
        _check(network, stiffnesses, task, eta, rest_lengths)
    k = jnp.asarray(stiffnesses)
    return _contrast(network, k, task, jnp.asarray(eta, k.dtype),
                     jnp.asarray(energy_regularization, k.dtype), rest_lengths,
                     _st._choose(solver, network))


@eqx.filter_jit
def _contrast(network, k, task, eta, lam, l0, solver):
    _, uf, _, uc = _states(network, k, task, eta, l0, solver)
    ef = _st.linear_energy(network, k, uf, rest_lengths=l0)
    ec = _st.linear_energy(network, k, uc, rest_lengths=l0)
    return jnp.mean(ec - ef - lam * ef) / eta


def regularized_contrast_gradient(network, stiffnesses, task, eta, *,
                                  energy_regularization=0.0, rest_lengths=None,
                                  solver="auto", check=True):
    r"""Partial derivatives of :func:`regularized_contrast` at fixed free and clamped states,
    ``(∂C/∂k, ∂C/∂ℓ0)``; the coupled-learning update is minus these times :math:`\alpha`."""
    if check:
        _check(network, stiffnesses, task, eta, rest_lengths)
    k = jnp.asarray(stiffnesses)
    return _contrast_grad(network, k, task, jnp.asarray(eta, k.dtype),
                          jnp.asarray(energy_regularization, k.dtype), rest_lengths,
                          _st._choose(solver, network))


@eqx.filter_jit
def _contrast_grad(network, k, task, eta, lam, rest_lengths, solver):
    l0 = _sp._rest(network, rest_lengths)
    _, uf, _, uc = _states(network, k, task, eta, rest_lengths, solver)
    return _contrast_partials(network, k, l0, uf, uc, eta, -lam)


def coupled_learning_step(network, stiffnesses, task, eta, *, energy_regularization=0.0,
                          rest_lengths=None, solver="auto", check=True):
    r"""Coupled-learning update per unit learning rate, ``(Δk/α, Δℓ0/α)`` (seed 000):
    :math:`-\frac1{2\eta}[(\ell^C - \ell_0)^2 - (1+\lambda)(\ell^F - \ell_0)^2]` and
    :math:`\frac{k}{\eta}[(\ell^C - \ell_0) - (1+\lambda)(\ell^F - \ell_0)]`, averaged over
    examples (:math:`\lambda` = ``energy_regularization``).  As :math:`\eta \to 0` (and
    :math:`\lambda = 0`) the partials tend to :math:`S_{eff}\nabla C` for a single target,
    :math:`S_{eff} = 1/(C_{TT} - C_{TS}^2/C_{SS})` the target's effective stiffness."""
    g_k, g_l0 = regularized_contrast_gradient(
        network, stiffnesses, task, eta, energy_regularization=energy_regularization,
        rest_lengths=rest_lengths, solver=solver, check=check)
    return -g_k, -g_l0


def double_optimization_gradient(network, stiffnesses, task, *, rest_lengths=None,
                                 solver="auto", check=True):
    r"""Cost and its gradient through the equilibrium: ``(C, ∂C/∂k, ∂C/∂ℓ0)`` (reverse mode
    through the implicit linear solves)."""
    if check:
        _check(network, stiffnesses, task, None, rest_lengths)
    l0 = _sp._rest(network, rest_lengths)
    return _do_grad(network, jnp.asarray(stiffnesses), l0, task, _st._choose(
        solver, network), None)[:3]


@eqx.filter_jit
def _do_grad(network, k, l0, task, solver, initial, rtol=None):
    def cost(kk, ll):
        resp = _st._linear_response(network, kk, task.pairs, ll, solver, initial, rtol)
        _, eps = _st.constrained_state(resp, task.sources, task.inputs)
        return _cost_from_strains(task, eps), resp

    (c, resp), (g_k, g_l0) = jax.value_and_grad(cost, argnums=(0, 1), has_aux=True)(k, l0)
    return c, g_k, g_l0, resp


class SpringTrainResult(NamedTuple):
    """Outcome of :func:`train_springs`: final ``stiffnesses`` and ``rest_lengths``, the
    ``cost`` before each step, the ``final_cost``, and ``snapshots`` of the stiffnesses
    every ``record_every`` steps (first row: the initial ones)."""

    stiffnesses: jax.Array
    rest_lengths: jax.Array
    cost: jax.Array
    final_cost: jax.Array
    snapshots: jax.Array


def train_springs(network, stiffnesses, task, *, rule: str = "coupled_learning",
                  n_steps: int = 1000, learning_rate: float = 0.1,
                  optimizer: optax.GradientTransformation | None = None, eta: float = 1e-2,
                  energy_regularization: float = 0.0, learn_rest_lengths: bool = False,
                  rest_lengths=None, k_min: float = 1e-3, k_max: float = 1e3,
                  record_every: int | None = None, solver: str = "auto",
                  rtol: float | None = None, check: bool = True) -> SpringTrainResult:
    r"""Train a spring network on a strain task for ``n_steps`` in one ``lax.scan``.

    ``rule``: ``"coupled_learning"`` (local rule of the energy-regularized contrast) or
    ``"double_optimization"`` (exact cost gradient).  The Optax ``optimizer`` (default
    ``optax.sgd(learning_rate)``) receives the descent direction for :math:`k` (and
    :math:`\ell_0` when ``learn_rest_lengths``); then :math:`k` is clipped to
    ``[k_min, k_max]`` and :math:`\ell_0` to at least 1% of the reference length.  ``rtol``:
    relative residual of the iterative solves (default 1e-12 in float64, 1e-6 in float32),
    each warm-started from the previous step.  ``solver``: ``"auto"``, ``"dense"``,
    ``"banded"``, ``"multifrontal"``, ``"cg"`` or a plan from
    :func:`~physjax.networks.strain.multifrontal_plan` or
    :func:`~physjax.networks.strain.banded_plan` (see :mod:`physjax.networks.strain`).  A
    pure function of its array arguments: ``jax.vmap`` it over stiffnesses, tasks or stacked
    networks of equal sizes (``check=False`` inside ``vmap``; for a sparse direct solver
    pass ``solver=strain.multifrontal_plan(union)``, built from a network that holds every
    member's bonds, e.g. the unpruned contact network).
    """
    check_choice(rule, "rule", SPRING_RULES)
    n_steps = check_positive_int(n_steps, "n_steps")
    record_every = n_steps if record_every is None else check_positive_int(
        record_every, "record_every")
    if n_steps % record_every:
        raise ValueError(f"record_every={record_every} must divide n_steps={n_steps}")
    if check:
        _check(network, stiffnesses, task, eta, rest_lengths)
        check_positive(learning_rate, "learning_rate")
        check_positive(k_min, "k_min")
        if is_concrete(k_max) and not k_max > k_min:
            raise ValueError(f"k_max={k_max} must exceed k_min={k_min}")
    opt = optax.sgd(learning_rate) if optimizer is None else optimizer
    solver = _st._choose(solver, network)
    k0 = jnp.asarray(stiffnesses)
    l00 = _sp._rest(network, rest_lengths).astype(k0.dtype)
    scalars = [jnp.asarray(v, k0.dtype) for v in (eta, energy_regularization, k_min, k_max)]
    return _train(network, k0, l00, task, rule, n_steps, record_every, opt, *scalars[:2],
                  bool(learn_rest_lengths), *scalars[2:], solver, rtol)


@eqx.filter_jit
def _train(network, k0, l00, task, rule, n_steps, record_every, opt, eta, gamma, learn_l0,
           k_min, k_max, solver, rtol):
    l_min = 1e-2 * jax.lax.stop_gradient(_sp.bond_lengths(network))
    params0 = (k0, l00) if learn_l0 else k0

    def direction(k, l0, initial):
        if rule == "double_optimization":
            c, g_k, g_l0, resp = _do_grad(network, k, l0, task, solver, initial, rtol)
        else:
            resp, uf, ef, uc = _states(network, k, task, eta, l0, solver, initial, rtol)
            c = _cost_from_strains(task, ef)
            g_k, g_l0 = _contrast_partials(network, k, l0, uf, uc, eta, -gamma)
        return c, ((g_k, g_l0) if learn_l0 else g_k), resp

    def step(carry, _):
        params, opt_state, resp = carry
        k, l0 = params if learn_l0 else (params, l00)
        c, g, resp = direction(k, l0, resp)
        updates, opt_state = opt.update(g, opt_state, params)
        params = optax.apply_updates(params, updates)
        if learn_l0:
            params = (jnp.clip(params[0], k_min, k_max), jnp.maximum(params[1], l_min))
        else:
            params = jnp.clip(params, k_min, k_max)
        return (params, opt_state, resp), c

    def block(carry, _):
        carry, costs = jax.lax.scan(step, carry, None, length=record_every)
        p = carry[0]
        return carry, (costs, p[0] if learn_l0 else p)

    resp0 = _st._linear_response(network, k0, task.pairs, l00, solver, None, rtol)
    carry = (params0, opt.init(params0), resp0)
    (params, _, resp), (costs, snaps) = jax.lax.scan(block, carry, None,
                                                     length=n_steps // record_every)
    k, l0 = params if learn_l0 else (params, l00)
    final = _cost_from_strains(task, _st.constrained_state(
        _st._linear_response(network, k, task.pairs, l0, solver, resp, rtol),
        task.sources, task.inputs)[1])
    return SpringTrainResult(k, l0, costs.reshape(-1), final,
                             jnp.concatenate([k0[None], snaps]))
