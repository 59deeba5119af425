"""Resistor-network physics: Kirchhoff's laws, solver agreement, gradients through the solve,
and the clamped/nudged states, against exact linear algebra and finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physjax import graphs as G
from physjax import networks as N
from physjax.networks import resistor as R
from tests.helpers import central_difference

# seed 000: V_T1 = .15 V_S1 + .3 V_S2, V_T2 = .2 V_S1 + .1 V_S2
SEED_TASK = [[0.15, 0.3], [0.2, 0.1]]


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def grid_task(L, inputs=((1.0, 0.0), (0.0, 1.0)), **kw):
    n = L * L
    return N.make_task([0, L - 1], [n // 2 + L // 2, n // 2 + L // 4], jnp.asarray(inputs),
                       coefficients=SEED_TASK, ground_nodes=[n - 1], n_nodes=n, **kw)


def random_k(graph, seed=0, low=0.5, high=2.0):
    return jnp.asarray(np.random.default_rng(seed).uniform(low, high, graph.n_edges))


def free_mask(task, n):
    return np.setdiff1d(np.arange(n), task.fixed_nodes)


# --------------------------------------------------------------------------- free states

@pytest.fixture(scope="module")
def grid40():
    with jax.enable_x64(True):
        g = G.square_grid(40)
        k = random_k(g, 1)
        task = grid_task(40, inputs=((1.0, -0.5), (0.3, 0.8), (2.0, 1.0)))
        states = {s: np.asarray(N.free_state(g, k, task, solver=s))
                  for s in ("dense", "banded", "multifrontal", "cg")}
    return g, k, task, states


def test_free_state_obeys_kirchhoff_and_imposed_voltages(grid40):
    g, k, task, states = grid40
    for solver, v in states.items():
        kcl = np.asarray(N.kirchhoff_residual(g, k, jnp.asarray(v)))
        assert np.abs(kcl[:, free_mask(task, g.n_nodes)]).max() < 1e-10, solver
        np.testing.assert_array_equal(v[:, list(task.source_nodes)], np.asarray(task.inputs))
        np.testing.assert_array_equal(v[:, list(task.ground_nodes)], 0.0)


def test_dense_banded_multifrontal_and_cg_agree_on_a_40x40_grid(grid40):
    _, _, _, states = grid40
    np.testing.assert_allclose(states["banded"], states["dense"], atol=1e-9, rtol=0)
    np.testing.assert_allclose(states["multifrontal"], states["dense"], atol=1e-9, rtol=0)
    np.testing.assert_allclose(states["cg"], states["dense"], atol=1e-9, rtol=0)


def test_reduced_solve_equals_the_lagrange_extended_hessian_of_seed_000():
    """Solving the extended Hessian with S = (0, -V_input) gives the same voltages, and the
    Lagrange multipliers are the currents the sources supply."""
    g = G.random_geometric(jax.random.key(3), 30, 4.0)
    k = random_k(g, 2)
    task = N.make_task([0, 1], [2, 3], [0.7, -0.4], coefficients=SEED_TASK, ground_nodes=[4],
                       n_nodes=30)
    fixed = task.fixed_nodes
    ext = N.extended_hessian(g, k, fixed)
    rhs = jnp.concatenate([jnp.zeros(30), -task.fixed_values()[0]])
    sol = np.linalg.solve(np.asarray(ext), np.asarray(rhs))
    v = N.free_state(g, k, task)[0]
    np.testing.assert_allclose(sol[:30], v, atol=1e-12)
    np.testing.assert_allclose(sol[30:], N.kirchhoff_residual(g, k, v)[np.asarray(fixed)],
                               atol=1e-12)


def test_power_balance_and_minimum():
    """Joule heating equals the power the sources deliver (Tellegen), and the free state
    minimizes P among voltages with the same imposed values."""
    g = G.square_grid(8)
    k = random_k(g, 4)
    task = grid_task(8, inputs=((1.0, 0.3),))
    v = N.free_state(g, k, task)
    heat = N.dissipated_power(g, k, v)[0]
    delivered = jnp.sum(N.source_currents(g, k, v, task)[0] * task.inputs[0])
    np.testing.assert_allclose(heat, delivered, rtol=1e-12)
    np.testing.assert_allclose(heat, 2 * N.power(g, k, v)[0], rtol=1e-12)
    dv = np.asarray(G.edge_differences(g, v[0]))
    np.testing.assert_allclose(N.edge_currents(g, k, v)[0], np.asarray(k) * dv, rtol=1e-14)
    free = free_mask(task, g.n_nodes)
    dv = np.zeros(g.n_nodes)
    dv[free] = np.random.default_rng(0).normal(size=free.size) * 1e-3
    assert N.power(g, k, v + dv)[0] > N.power(g, k, v)[0]


def test_current_sources_with_ground():
    g = G.square_grid(6)
    k = random_k(g, 5)
    task = N.make_task([0, 5], [14], [[1e-2, -3e-3]], desired=[[0.0]], ground_nodes=[35],
                       source_kind="current", n_nodes=36)
    v = N.free_state(g, k, task)
    kcl = N.kirchhoff_residual(g, k, v)[0]
    np.testing.assert_allclose(kcl[np.array([0, 5])], [1e-2, -3e-3], atol=1e-14)
    mask = np.ones(36, bool)
    mask[[0, 5, 35]] = False
    assert np.abs(kcl[mask]).max() < 1e-14


def test_clamped_state_holds_the_targets_and_relaxes_the_rest():
    g = G.square_grid(10)
    k = random_k(g, 6)
    task = grid_task(10)
    vf = N.free_state(g, k, task)
    eta = 0.3
    vc = N.clamped_state(g, k, task, eta)
    tgt = list(task.target_nodes)
    np.testing.assert_allclose(vc[:, tgt], vf[:, tgt] + eta * (task.desired - vf[:, tgt]),
                               atol=1e-13)
    rest = np.setdiff1d(free_mask(task, 100), tgt)
    assert np.abs(N.kirchhoff_residual(g, k, vc)[:, rest]).max() < 1e-12
    # the clamped state is the minimum of P with sources and targets fixed: solve it directly
    direct = N.make_task(list(task.source_nodes) + tgt, [1], jnp.concatenate(
        [task.inputs, vc[:, tgt]], axis=1), desired=jnp.zeros((2, 1)), ground_nodes=[99],
        n_nodes=100)
    np.testing.assert_allclose(N.free_state(g, k, direct), vc, atol=1e-12)


def test_nudged_state_minimizes_power_plus_beta_cost():
    g = G.square_grid(10)
    k = random_k(g, 7)
    task = grid_task(10)
    tgt = np.asarray(task.target_nodes)
    for beta in (0.5, -0.05):
        v = N.nudged_state(g, k, task, beta)
        # stationarity: Kirchhoff residual = -beta (V_T - V_desired) at targets, 0 elsewhere
        r = N.kirchhoff_residual(g, k, v)
        r = r.at[:, tgt].add(beta * (v[:, tgt] - task.desired))
        assert np.abs(r[:, free_mask(task, 100)]).max() < 1e-12


def test_vmap_over_an_ensemble_of_conductances_and_of_graphs():
    g = G.square_grid(6)
    task = grid_task(6)
    ks = jnp.stack([random_k(g, s) for s in range(4)])
    batched = jax.vmap(lambda k: N.free_state(g, k, task, check=False))(ks)
    for i in range(4):
        np.testing.assert_allclose(batched[i], N.free_state(g, ks[i], task), atol=1e-13)
    graphs = [G.random_geometric(jax.random.key(s), 30, 4.0) for s in range(3)]
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *graphs)
    t30 = N.make_task([0, 1], [2, 3], [0.7, -0.4], coefficients=SEED_TASK, ground_nodes=[4],
                      n_nodes=30)
    k60 = jnp.ones(60)
    out = jax.vmap(lambda gr: N.free_state(gr, k60, t30, check=False))(stacked)
    for i, gr in enumerate(graphs):
        np.testing.assert_allclose(out[i], N.free_state(gr, k60, t30), atol=1e-12)


# --------------------------------------------------------------------------- gradients

def richardson_difference(f, k, edges):
    """Central differences with one Richardson step (error O(h^4)) at h = 1e-3, large
    enough that the rounding error of the solves (~1e-15 / h) stays far below the
    tolerance."""
    return central_difference(jax.jit(f), k, edges, h=1e-3, richardson=True)


def assert_gradient_close(grad, fd, rtol=1e-6):
    """|g - fd| <= rtol * max|g| componentwise (relative to the gradient's scale)."""
    grad = np.asarray(grad)
    assert np.abs(grad - fd).max() <= rtol * np.abs(grad).max(), (grad, fd)


@pytest.mark.parametrize("solver", ["dense", "banded", "multifrontal", "cg"])
def test_cost_gradient_matches_finite_differences_linear(solver):
    g = G.square_grid(9)
    k = random_k(g, 8)
    task = grid_task(9, inputs=((1.0, -0.3), (0.2, 0.9)))
    c, grad, _ = N.double_optimization_gradient(g, k, task, solver=solver)
    edges = np.random.default_rng(0).choice(g.n_edges, 6, replace=False)
    fd = richardson_difference(lambda kk: N.cost(g, kk, task, solver=solver, check=False), k,
                            edges)
    assert_gradient_close(np.asarray(grad)[edges], fd)
    # the adjoint from the targets' Green's function against reverse mode through the solve
    # (for CG both agree to the solver's relative tolerance 1e-12, not to rounding)
    np.testing.assert_allclose(jax.grad(lambda kk: N.cost(g, kk, task, solver=solver))(k),
                               grad, rtol=1e-10, atol=1e-10 * np.abs(grad).max())


@pytest.mark.parametrize("current", [N.cubic_current(2.0), N.diode_current(0.3)],
                         ids=["cubic", "diode"])
def test_cost_gradient_matches_finite_differences_nonlinear(current):
    g = G.square_grid(6)
    k = random_k(g, 9)
    task = grid_task(6, inputs=((1.0, -0.5), (0.4, 0.8)))
    v = N.free_state(g, k, task, current=current)
    kcl = N.kirchhoff_residual(g, k, v, current=current)
    assert np.abs(kcl[:, free_mask(task, 36)]).max() < 1e-10
    lin = N.free_state(g, k, task)
    assert np.abs(v - lin).max() > 1e-3  # the nonlinearity matters at these voltages
    _, grad, _ = N.double_optimization_gradient(g, k, task, current=current)
    edges = np.arange(0, g.n_edges, 10)
    fd = richardson_difference(lambda kk: N.cost(g, kk, task, current=current, check=False), k,
                            edges)
    assert_gradient_close(np.asarray(grad)[edges], fd)


def test_co_content_is_the_integral_of_the_current():
    f = N.cubic_current(1.5)
    dv = jnp.linspace(-2, 2, 9)
    np.testing.assert_allclose(N.co_content(f, dv), dv**2 / 2 + 1.5 * dv**4 / 4, rtol=1e-13)
    diode = N.diode_current(0.2)
    np.testing.assert_allclose(jax.vmap(jax.grad(lambda x: N.co_content(diode, x)))(dv),
                               diode(dv), rtol=1e-10)


# --------------------------------------------------------------------------- bad input

def test_disconnected_component_without_source_is_named():
    edges = [(0, 1), (1, 2), (2, 3), (4, 5), (5, 6)]
    g = G.from_edge_list(edges, 7)
    task = N.make_task([0], [2], [1.0], desired=[0.5], ground_nodes=[3], n_nodes=7)
    with pytest.raises(ValueError, match=r"graph.*nodes \[4, 5, 6\]"):
        N.free_state(g, jnp.ones(5), task)
    with pytest.raises(ValueError, match=r"graph.*nodes \[4, 5, 6\]"):
        N.check_network(g, jnp.ones(5), task)
    N.check_network(g, jnp.ones(5))  # without a task only the conductances are checked


@pytest.mark.parametrize("bad, match", [
    (lambda k: k.at[3].set(0.0), "conductances must be positive"),
    (lambda k: k.at[3].set(-1.0), "conductances must be positive"),
    (lambda k: k.at[2].set(jnp.nan), "conductances has 1 non-finite"),
    (lambda k: k[:-1], r"conductances must have shape \(\.\.\., n_edges="),
])
def test_bad_conductances(bad, match):
    g = G.square_grid(4)
    task = grid_task(4)
    with pytest.raises(ValueError, match=match):
        N.free_state(g, bad(jnp.ones(g.n_edges)), task)


def test_bad_task_indices_and_shapes():
    with pytest.raises(ValueError, match="source_nodes has node indices"):
        N.make_task([0, 99], [2], [1.0, 1.0], desired=[0.0], n_nodes=16)
    with pytest.raises(ValueError, match="source_nodes and target_nodes overlap"):
        N.make_task([0, 1], [1], [1.0, 1.0], desired=[0.0])
    with pytest.raises(ValueError, match="target_nodes and ground_nodes overlap"):
        N.make_task([0], [1], [1.0], desired=[0.0], ground_nodes=[1])
    with pytest.raises(ValueError, match="target_nodes lists a node more than once"):
        N.make_task([0], [1, 1], [1.0], desired=[0.0, 0.0])
    with pytest.raises(ValueError, match=r"inputs must have shape \(n_examples, n_sources=2\)"):
        N.make_task([0, 1], [2], [[1.0, 2.0, 3.0]], desired=[[0.0]])
    with pytest.raises(ValueError, match=r"desired must have shape \(n_examples=2"):
        N.make_task([0, 1], [2], [[1.0, 2.0], [0.0, 1.0]], desired=[[0.0]])
    with pytest.raises(ValueError, match=r"coefficients must have shape \(n_targets=1"):
        N.make_task([0, 1], [2], [1.0, 2.0], coefficients=SEED_TASK)
    with pytest.raises(ValueError, match="inputs must be finite"):
        N.make_task([0], [2], [jnp.nan], desired=[0.0])
    with pytest.raises(ValueError, match="source_kind='current' needs ground_nodes"):
        N.make_task([0], [2], [1.0], desired=[0.0], source_kind="current")
    with pytest.raises(TypeError, match="target_nodes must be a 1-D sequence of integer"):
        N.make_task([0], [0.5], [1.0], desired=[0.0])
    g = G.square_grid(4)
    task = N.make_task([0], [20], [1.0], desired=[0.0])  # built without n_nodes
    with pytest.raises(ValueError, match=r"task.target_nodes has node indices \[20\]"):
        N.free_state(g, jnp.ones(g.n_edges), task)


def test_bad_eta_and_solver():
    g = G.square_grid(4)
    task = grid_task(4)
    k = jnp.ones(g.n_edges)
    for eta in (0.0, -0.1):
        with pytest.raises(ValueError, match="eta"):
            N.clamped_state(g, k, task, eta)
        with pytest.raises(ValueError, match="eta"):
            N.coupled_learning_update(g, k, task, eta)
    with pytest.raises(ValueError, match="beta"):
        N.equilibrium_propagation_gradient(g, k, task, 0.0)
    with pytest.raises(ValueError, match="solver"):
        N.free_state(g, k, task, solver="lu")
    with pytest.raises(ValueError, match="rule"):
        N.train(g, k, task, rule="hebbian")
    for solver in ("banded", "multifrontal"):
        with pytest.raises(ValueError, match=rf"solver={solver.title()}\(\) .* concrete edges"):
            jax.jit(lambda gr, s=solver: N.free_state(gr, k, task, solver=s, check=False))(g)


def test_float32_default_paths_run_and_agree():
    with jax.enable_x64(False):
        g = G.square_grid(12)
        k = jnp.ones(g.n_edges)
        task = grid_task(12)
        assert R.free_state(g, k, task).dtype == jnp.float32
        vs = [np.asarray(N.free_state(g, k, task, solver=s))
              for s in ("dense", "banded", "cg", "multifrontal")]
        np.testing.assert_allclose(vs[1], vs[0], atol=1e-5)
        np.testing.assert_allclose(vs[2], vs[0], atol=1e-4)
        np.testing.assert_allclose(vs[3], vs[0], atol=1e-5)


def test_reduced_hessian_is_the_laplacian_without_fixed_rows_and_is_positive_definite():
    g = G.square_grid(5)
    k = random_k(g, 11)
    fixed = (0, 24)
    h = np.asarray(N.reduced_hessian(g, k, fixed))
    lap = np.asarray(G.laplacian(g, k))
    keep = np.setdiff1d(np.arange(25), fixed)
    np.testing.assert_array_equal(h, lap[np.ix_(keep, keep)])
    assert np.linalg.eigvalsh(h).min() > 0
