"""Learning rules (double optimization, coupled learning, equilibrium propagation) and the
cost/physical Hessians at a solution, against exact gradients and linear algebra."""

import typing

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from physjax import graphs as G
from physjax import networks as N

SEED_TASK = [[0.15, 0.3], [0.2, 0.1]]
ETAS = np.logspace(-4, -1, 7)


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def loglog_slope(x, y):
    return np.polyfit(np.log(x), np.log(y), 1)[0]


@pytest.fixture(scope="module")
def grid10():
    with jax.enable_x64(True):
        g = G.square_grid(10)
        k = jnp.asarray(np.random.default_rng(0).uniform(0.5, 1.5, g.n_edges))
        task = N.make_task([0, 99], [45, 54], jnp.array([[1.0, 0.5], [0.3, -0.2]]),
                           coefficients=SEED_TASK, ground_nodes=[9], n_nodes=100)
        _, grad, _ = N.double_optimization_gradient(g, k, task)
    return g, k, task, np.asarray(grad)


def effective_conductance_limit(g, k, task):
    r"""J^T G_eff r / n: the eta -> 0 limit of the hard-clamp contrast gradient, from the
    residual Jacobian (forward-mode AD) and the Schur complement of the dense Laplacian."""
    n_ex, n_t = task.desired.shape
    jac = np.asarray(N.residual_jacobian(g, k, task)).reshape(n_ex, n_t, -1)
    r = np.asarray(N.residuals(g, k, task))
    lap = np.asarray(G.laplacian(g, k))
    free = np.setdiff1d(np.arange(g.n_nodes), task.fixed_nodes)
    green = np.linalg.inv(lap[np.ix_(free, free)])
    pos = np.searchsorted(free, task.target_nodes)
    g_eff = np.linalg.inv(green[np.ix_(pos, pos)])
    return np.einsum("mte,ts,ms->e", jac, g_eff, r) / n_ex


def test_gradient_is_jacobian_transpose_residual(grid10):
    g, k, task, grad = grid10
    jac = np.asarray(N.residual_jacobian(g, k, task))
    r = np.asarray(N.residuals(g, k, task)).reshape(-1)
    np.testing.assert_allclose(jac.T @ r / task.n_examples, grad, rtol=1e-10, atol=1e-16)


def test_learning_direction_of_double_optimization_is_the_gradient(grid10):
    g, k, task, grad = grid10
    c, direction, free = N.learning_direction("double_optimization", g, k, task)
    np.testing.assert_allclose(direction, grad, rtol=1e-12)
    np.testing.assert_allclose(c, N.cost(g, k, task), rtol=1e-12)
    np.testing.assert_allclose(free, N.free_state(g, k, task), atol=1e-14)


def test_equilibrium_propagation_converges_like_beta_and_beta_squared(grid10):
    g, k, task, grad = grid10
    errors = {nudge: [] for nudge in typing.get_args(N.Nudge)}
    for beta in ETAS:
        for nudge in typing.get_args(N.Nudge):
            est = N.equilibrium_propagation_gradient(g, k, task, beta, nudge=nudge)
            errors[nudge].append(np.linalg.norm(est - grad) / np.linalg.norm(grad))
    assert abs(loglog_slope(ETAS, errors["positive"]) - 1) < 0.2
    assert abs(loglog_slope(ETAS, errors["negative"]) - 1) < 0.2
    assert abs(loglog_slope(ETAS, errors["centred"]) - 2) < 0.2
    assert errors["centred"][0] < 1e-7 and errors["positive"][0] < 1e-3


def test_coupled_learning_converges_like_eta(grid10):
    """The hard-clamp contrast gradient tends to J^T G_eff r (error ~ eta): coupled learning
    descends C in the effective-conductance metric of the targets."""
    g, k, task, _ = grid10
    limit = effective_conductance_limit(g, k, task)
    errors = []
    for eta in ETAS:
        cl = -0.5 * np.asarray(N.coupled_learning_update(g, k, task, eta))
        np.testing.assert_allclose(cl, N.contrast_gradient(g, k, task, eta), rtol=1e-12)
        errors.append(np.linalg.norm(cl - limit) / np.linalg.norm(limit))
    assert abs(loglog_slope(ETAS, errors) - 1) < 0.2
    assert errors[0] < 1e-3


def test_coupled_learning_is_along_minus_gradient_for_one_target():
    g = G.square_grid(10)
    k = jnp.asarray(np.random.default_rng(1).uniform(0.5, 1.5, g.n_edges))
    task = N.make_task([0, 99], [45], [1.0, 0.5], desired=[0.2], ground_nodes=[9], n_nodes=100)
    _, grad, _ = N.double_optimization_gradient(g, k, task)
    cosines = []
    for eta in ETAS:
        upd = np.asarray(N.coupled_learning_update(g, k, task, eta))
        cosines.append(-upd @ grad / np.linalg.norm(upd) / np.linalg.norm(grad))
    misalignment = 1 - np.array(cosines)
    assert misalignment[0] < 1e-6
    assert loglog_slope(ETAS[:4], misalignment[:4]) > 1.5  # 1 - cos ~ eta^2


def test_contrast_is_nonnegative_and_vanishes_with_eta(grid10):
    g, k, task, _ = grid10
    c = [float(N.contrast(g, k, task, eta)) for eta in (1e-1, 1e-2)]
    assert c[0] > 0 and c[1] > 0
    np.testing.assert_allclose(c[0] / c[1], 10.0, rtol=1e-6)  # C_eta = eta r^T G_eff r / 2


# --------------------------------------------------------------------------- training

@pytest.fixture(scope="module")
def trained():
    """A 64-node random network trained on the seed-000 two-source two-target task."""
    with jax.enable_x64(True):
        g = G.random_geometric(jax.random.key(1), 64, 4.0)
        nodes = np.random.default_rng(0).choice(64, 5, replace=False)
        task = N.make_task(nodes[:2], nodes[2:4], jnp.eye(2), coefficients=SEED_TASK,
                           ground_nodes=nodes[4:], n_nodes=64)
        k0 = jnp.ones(g.n_edges)
        results = {rule: N.train(g, k0, task, rule=rule, n_steps=3000,
                                 optimizer=optax.adam(0.02), eta=1e-2)
                   for rule in typing.get_args(N.LearningRule)}
    return g, task, k0, results


@pytest.mark.compute_bound
def test_each_rule_learns_the_seed_task(trained):
    g, task, k0, results = trained
    assert float(N.cost(g, k0, task)) > 1e-2
    assert results["double_optimization"].final_cost < 1e-6
    assert results["coupled_learning"].final_cost < 1e-4
    assert results["equilibrium_propagation"].final_cost < 1e-6
    for res in results.values():
        np.testing.assert_allclose(res.final_cost, N.cost(g, res.conductances, task), rtol=1e-8,
                                   atol=1e-20)
        assert float(res.conductances.min()) >= 1e-3 and float(res.conductances.max()) <= 1e3


def test_train_records_snapshots_and_vmaps_over_an_ensemble():
    g = G.square_grid(6)
    task = N.make_task([0, 5], [14, 21], jnp.eye(2), coefficients=SEED_TASK, ground_nodes=[35],
                       n_nodes=36)
    ks = jnp.asarray(np.random.default_rng(2).uniform(0.5, 2.0, (3, g.n_edges)))
    run = lambda k: N.train(g, k, task, n_steps=40, record_every=10, learning_rate=0.5,  # noqa: E731
                            check=False)
    batched = jax.vmap(run)(ks)
    assert batched.snapshots.shape == (3, 5, g.n_edges)
    for i in range(3):
        single = run(ks[i])
        np.testing.assert_allclose(batched.cost[i], single.cost, rtol=1e-10)
    # plain gradient descent: the first recorded step is k0 - lr * grad C, clipped
    _, grad, _ = N.double_optimization_gradient(g, ks[0], task)
    one = N.train(g, ks[0], task, n_steps=1, learning_rate=0.5)
    np.testing.assert_allclose(one.conductances, jnp.clip(ks[0] - 0.5 * grad, 1e-3, 1e3),
                               rtol=1e-12)


# --------------------------------------------------------------------------- Hessians

def test_cost_hessian_at_a_solution_is_gauss_newton_with_one_stiff_mode_per_constraint(trained):
    g, task, _, results = trained
    k = results["double_optimization"].conductances
    hess = np.asarray(N.cost_hessian(g, k, task))
    gn = np.asarray(N.gauss_newton_hessian(g, k, task))
    green = np.asarray(N.cost_hessian_from_green(g, k, task))
    scale = np.abs(hess).max()
    assert np.abs(hess - gn).max() < 1e-8 * scale
    assert np.abs(green - gn).max() < 1e-10 * scale
    ev = np.linalg.eigvalsh(hess)
    assert int(N.count_stiff_modes(ev)) == task.n_constraints == 4


def test_single_constraint_stiff_direction_is_the_residual_gradient():
    g = G.random_geometric(jax.random.key(4), 64, 4.0)
    nodes = np.random.default_rng(3).choice(64, 4, replace=False)
    task = N.make_task(nodes[:2], nodes[2:3], [1.0, 0.5], desired=[0.3], ground_nodes=nodes[3:],
                       n_nodes=64)
    res = N.train(g, jnp.ones(g.n_edges), task, n_steps=2000, optimizer=optax.adam(0.02))
    assert res.final_cost < 1e-20
    k = res.conductances
    ev, vecs = np.linalg.eigh(np.asarray(N.cost_hessian(g, k, task)))
    assert int(N.count_stiff_modes(ev)) == 1
    dr = np.asarray(N.residual_jacobian(g, k, task))[0]
    cosine = abs(vecs[:, -1] @ dr) / np.linalg.norm(dr)
    assert cosine > 1 - 1e-10
    np.testing.assert_allclose(ev[-1], dr @ dr, rtol=1e-8)  # H = (grad r)(grad r)^T


def test_cost_hvp_matches_dense_hessian(trained):
    g, task, _, results = trained
    k = results["coupled_learning"].conductances
    hess = np.asarray(N.cost_hessian(g, k, task))
    v = np.random.default_rng(5).normal(size=g.n_edges)
    for solver in ("dense", "banded", "multifrontal", "cg"):
        hv = N.cost_hvp_fn(g, k, task, solver=solver)(jnp.asarray(v))
        np.testing.assert_allclose(hv, hess @ v, rtol=1e-8, atol=1e-10 * np.abs(hess).max())


def test_physical_hessian_spectrum_is_the_laplacian_spectrum():
    g = G.square_grid(5)
    k = jnp.ones(g.n_edges)
    ev = np.asarray(N.physical_hessian_spectrum(g, k))
    # open 5x5 grid: eigenvalues 4 sin^2(pi a/10) + 4 sin^2(pi b/10)
    s = 4 * np.sin(np.pi * np.arange(5) / 10) ** 2
    np.testing.assert_allclose(np.sort(ev), np.sort((s[:, None] + s[None, :]).ravel()),
                               atol=1e-12)
    red = np.asarray(N.physical_hessian_spectrum(g, k, fixed_nodes=[0]))
    assert red.min() > 1e-3 and red.size == 24
