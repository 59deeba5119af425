"""Spring networks: dynamical matrix, zero modes, linear vs nonlinear response, strain tasks,
learning rules (physjax.networks.spring, strain, spring_learning), all in float64.

References: the Hessian of E = ½Σk(l − l0)² by jax.hessian and by finite differences; the
rigid-body count d(d+1)/2 of a free network (d in a periodic box); the exact nonlinear
minimum (Newton on the Lagrange system); finite differences of the cost; the limit
∂C_η/∂k → S_eff ∇C of coupled learning (S_eff = the target's effective stiffness).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from physjax import graphs
from physjax.networks import spring as sp
from physjax.networks import spring_learning as sl
from physjax.networks import strain as st

from . import spring_helpers as H


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def _stressed(net, seed=3, scale=0.05):
    rng = np.random.default_rng(seed)
    return np.asarray(net.positions) + scale * rng.standard_normal(net.positions.shape)


# ------------------------------------------------------------------- energy and Hessian

def test_forces_and_rigidity_matrix_match_finite_differences():
    net = H.perturbed_triangular()
    k = H.random_stiffnesses(net)
    x = _stressed(net)
    f = np.asarray(sp.spring_forces(net, k, x))
    h = 1e-6
    for node, a in [(3, 0), (12, 1), (24, 0)]:
        xp, xm = x.copy(), x.copy()
        xp[node, a] += h
        xm[node, a] -= h
        fd = (sp.elastic_energy(net, k, xp) - sp.elastic_energy(net, k, xm)) / (2 * h)
        assert f[node, a] == pytest.approx(-float(fd), rel=1e-7, abs=1e-10)
    # R u = first-order change of the bond lengths
    u = np.random.default_rng(4).standard_normal(x.shape)
    ru = np.asarray(sp.rigidity_matrix(net) @ u.reshape(-1))
    x0 = np.asarray(net.positions)
    fd = (sp.bond_lengths(net, x0 + h * u) - sp.bond_lengths(net, x0 - h * u)) / (2 * h)
    np.testing.assert_allclose(ru, fd, atol=1e-8)
    # the matrix-free operator is R^T K R; bond strains are (l - l0) / l0
    np.testing.assert_allclose(np.asarray(sp.dynamical_matvec(net, k)(u)).reshape(-1),
                               np.asarray(sp.stiffness_matrix(net, k)) @ u.reshape(-1),
                               atol=1e-12)
    e = np.asarray(net.graph.edges)
    ln = np.linalg.norm(x[e[:, 0]] - x[e[:, 1]], axis=1)
    l0 = np.asarray(net.rest_lengths)
    np.testing.assert_allclose(sp.edge_strains(net, x), (ln - l0) / l0, rtol=1e-12)


@pytest.mark.parametrize("which", ["triangular_2d", "complete_3d", "jammed_periodic"])
def test_hessian_equals_rigidity_form_at_force_free_state(which):
    net = {"triangular_2d": H.perturbed_triangular, "complete_3d": H.complete_3d,
           "jammed_periodic": H.jammed_2d}[which]()
    k = H.random_stiffnesses(net)
    d_auto = np.asarray(sp.dynamical_matrix(net, k))
    d_rig = np.asarray(sp.stiffness_matrix(net, k))
    rmat = np.asarray(sp.rigidity_matrix(net))
    scale = np.abs(d_auto).max()
    assert np.abs(d_auto - d_rig).max() < 1e-10 * scale
    assert np.abs(d_auto - rmat.T @ (k[:, None] * rmat)).max() < 1e-10 * scale
    assert np.allclose(sp.spring_forces(net, k), 0.0, atol=1e-12)


def test_prestress_term_completes_the_hessian_at_a_stressed_state():
    net = H.perturbed_triangular()
    k = H.random_stiffnesses(net)
    x = _stressed(net)
    d_auto = np.asarray(sp.dynamical_matrix(net, k, x))
    d_full = np.asarray(sp.stiffness_matrix(net, k, x, prestress=True))
    d_lin = np.asarray(sp.stiffness_matrix(net, k, x))
    assert np.abs(d_auto - d_full).max() < 1e-10 * np.abs(d_auto).max()
    assert np.abs(d_auto - d_lin).max() > 1e-3        # the stressed state needs the term


def _n_zero(matrix):
    ev = np.linalg.eigvalsh(np.asarray(matrix))
    return int(np.sum(np.abs(ev) < 1e-8 * ev.max())), ev


@pytest.mark.parametrize("which,expected", [("triangular_2d", 3), ("complete_3d", 6),
                                            ("jammed_periodic", 2)])
def test_zero_mode_count_and_mode_exclusion(which, expected):
    net = {"triangular_2d": H.perturbed_triangular, "complete_3d": H.complete_3d,
           "jammed_periodic": H.jammed_2d}[which]()
    k = H.random_stiffnesses(net)
    n_zero, ev = _n_zero(sp.dynamical_matrix(net, k))
    assert n_zero == expected == net.n_rigid_modes
    modes = sp.normal_modes(net, k)
    assert modes.n_excluded == expected
    assert modes.vectors.shape == (net.n_dof, net.n_dof - expected)
    # exactly the non-zero eigenvalues of the full matrix, orthonormal vectors that are
    # eigenvectors of D and orthogonal to the rigid-body motions
    np.testing.assert_allclose(modes.eigenvalues, ev[expected:], rtol=1e-9, atol=1e-12)
    v = np.asarray(modes.vectors)
    d = np.asarray(sp.dynamical_matrix(net, k))
    np.testing.assert_allclose(v.T @ v, np.eye(v.shape[1]), atol=1e-10)
    np.testing.assert_allclose(d @ v, v * np.asarray(modes.eigenvalues), atol=1e-9)
    assert np.abs(np.asarray(sp.rigid_body_modes(net)).T @ v).max() < 1e-10


@pytest.mark.parametrize("which,pins", [("triangular_2d", [0, 24]), ("complete_3d", [0, 1, 2])])
def test_pinned_networks_have_no_zero_modes(which, pins):
    net = {"triangular_2d": H.perturbed_triangular, "complete_3d": H.complete_3d}[which]()
    k = H.random_stiffnesses(net)
    modes = sp.normal_modes(net, k, pinned=pins)
    ev = np.asarray(modes.eigenvalues)
    assert modes.n_excluded == len(pins) * net.dim
    assert ev.min() > 1e-8 * ev.max()
    v = np.asarray(modes.vectors).reshape(net.n_nodes, net.dim, -1)
    assert np.all(v[pins] == 0)


def test_floppy_modes_are_counted():
    net = H.perturbed_triangular()
    assert sp.floppy_mode_count(net) == 0
    # removing the two bonds of a corner node leaves it with one spring: 1 floppy mode
    e = np.asarray(net.graph.edges)
    corner = np.flatnonzero((e == 0).any(1))
    assert len(corner) == 2
    loose = sp.spring_network(graphs.remove_edges(net.graph, corner[:1]))
    assert sp.floppy_mode_count(loose) == 1
    n_zero, _ = _n_zero(sp.dynamical_matrix(loose, np.ones(loose.n_edges)))
    assert n_zero == 4


# ------------------------------------------------------------- linear vs nonlinear

@pytest.fixture(scope="module")
def lattice_task():
    with jax.enable_x64(True):
        net = H.perturbed_triangular()
        k = H.random_stiffnesses(net)
        src, tgt = np.array([0, 6]), np.array([18, 24])     # unbonded node pairs
        yield net, k, src, tgt


def test_linear_response_is_the_derivative_of_the_nonlinear_minimum(lattice_task):
    net, k, src, tgt = lattice_task
    eps = 1e-4
    lin = st.free_state(net, k, st.allostery_task(net, src, tgt, source_strain=eps))[1]
    nl = {s: st.free_state(net, k, st.allostery_task(net, src, tgt, source_strain=s),
                           method="newton") for s in (eps, -eps, 2 * eps)}
    # the source strain is imposed exactly (nonlinear definition)
    assert nl[eps][1][0, 0] == pytest.approx(eps, rel=1e-10)
    # centred difference: second-order terms cancel, O(eps^2) = 1e-8 relative remains
    centred = (nl[eps][1][0, 1] - nl[-eps][1][0, 1]) / 2
    assert abs(centred - lin[0, 1]) < 1e-6 * abs(lin[0, 1])
    # one-sided: the geometric nonlinearity gives an O(eps) relative difference that
    # doubles with eps (measured ~1e-5 relative at eps = 1e-4 on this network)
    d1 = float(nl[eps][1][0, 1] - lin[0, 1])
    d2 = float(nl[2 * eps][1][0, 1] - 2 * lin[0, 1])
    assert abs(d1) < 1e-3 * abs(lin[0, 1])
    assert d2 / d1 == pytest.approx(4.0, rel=0.02)      # quadratic in eps
    # displacement fields agree to first order as well
    u_lin = st.free_state(net, k, st.allostery_task(net, src, tgt, source_strain=eps))[0]
    du = (nl[eps][0] - nl[-eps][0]) / 2
    assert float(jnp.linalg.norm(du - u_lin) / jnp.linalg.norm(u_lin)) < 1e-6


def test_nonlinear_free_state_is_force_balanced_and_fire_agrees(lattice_task):
    net, k, src, tgt = lattice_task
    task = st.allostery_task(net, src, tgt, source_strain=0.1)      # a large strain
    u_n, eps_n = st.free_state(net, k, task, method="newton")
    u_f, eps_f = st.free_state(net, k, task, method="fire")
    assert eps_n[0, 0] == pytest.approx(0.1, rel=1e-10)
    np.testing.assert_allclose(u_f, u_n, atol=1e-8)
    f = np.asarray(sp.spring_forces(net, k, net.positions + u_n[0]))
    others = np.setdiff1d(np.arange(net.n_nodes), src)
    assert np.abs(f[others]).max() < 1e-9          # force balance away from the source
    # the source's two nodes feel equal and opposite forces along the pair axis
    np.testing.assert_allclose(f[src[0]], -f[src[1]], atol=1e-9)


def test_cg_and_dense_solves_agree(lattice_task):
    net, k, src, tgt = lattice_task
    task = st.allostery_task(net, src, tgt)
    u_d, e_d = st.free_state(net, k, task, solver="dense")
    u_c, e_c = st.free_state(net, k, task, solver="cg")
    np.testing.assert_allclose(e_c, e_d, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(u_c, u_d, atol=1e-9)
    # implicit differentiation through the CG solve gives the same cost gradient
    task = st.allostery_task(net, src, tgt, ratio=0.5)
    g_d = sl.double_optimization_gradient(net, k, task, solver="dense")[1]
    g_c = sl.double_optimization_gradient(net, k, task, solver="cg")[1]
    np.testing.assert_allclose(g_c, g_d, rtol=1e-7, atol=1e-10 * np.abs(g_d).max())


def test_clamped_state_and_binding_energies(lattice_task):
    net, k, src, tgt = lattice_task
    task = st.allostery_task(net, src, tgt, ratio=0.7)
    ef = np.asarray(st.free_state(net, k, task)[1])
    ec = np.asarray(st.clamped_state(net, k, task, 0.3)[1])
    assert ec[0, 0] == pytest.approx(1.0)
    assert ec[0, 1] == pytest.approx(ef[0, 1] + 0.3 * (0.7 - ef[0, 1]), rel=1e-10)
    # E = ½ εᵀ C⁻¹ ε over the imposed pairs (C: compliance from jax.hessian's pseudo-inverse)
    g = np.linalg.pinv(np.asarray(sp.dynamical_matrix(net, k)), rcond=1e-12)
    pm = np.asarray(st.pair_strain_matrix(net, np.stack([src, tgt])))
    comp = pm @ g @ pm.T
    be = st.binding_energies(net, k, src, tgt, strain=0.5)
    assert float(be.a) == pytest.approx(0.125 / comp[0, 0], rel=1e-8)
    assert float(be.b) == pytest.approx(0.125 / comp[1, 1], rel=1e-8)
    assert float(be.ab) == pytest.approx(0.5 * 0.25 * np.linalg.inv(comp).sum(), rel=1e-8)
    coop = st.cooperative_binding_task(net, src, tgt, strain=0.5)
    assert coop.n_examples == 2
    np.testing.assert_allclose(coop.sources + coop.targets, 1.0)


# ------------------------------------------------------------------------ learning

def test_double_optimization_gradient_matches_finite_differences(lattice_task):
    net, k, src, tgt = lattice_task
    task = st.allostery_task(net, src, tgt, ratio=0.5)
    l0 = np.asarray(net.rest_lengths) * (1 + 0.01 * np.random.default_rng(5).standard_normal(
        net.n_edges))
    c, g_k, g_l = sl.double_optimization_gradient(net, k, task, rest_lengths=l0)
    h = 1e-5
    for j in (3, 40):
        kp, km = k.copy(), k.copy()
        kp[j] += h
        km[j] -= h
        fd = (sl.strain_cost(net, kp, task, rest_lengths=l0, check=False)
              - sl.strain_cost(net, km, task, rest_lengths=l0, check=False)) / (2 * h)
        assert float(g_k[j]) == pytest.approx(float(fd), rel=1e-6, abs=1e-12)
        lp, lm = l0.copy(), l0.copy()
        lp[j] += h
        lm[j] -= h
        fd = (sl.strain_cost(net, k, task, rest_lengths=lp, check=False)
              - sl.strain_cost(net, k, task, rest_lengths=lm, check=False)) / (2 * h)
        assert float(g_l[j]) == pytest.approx(float(fd), rel=1e-6, abs=1e-12)


def test_coupled_learning_tends_to_effective_stiffness_times_gradient(lattice_task):
    net, k, src, tgt = lattice_task
    task = st.allostery_task(net, src, tgt, ratio=0.5)
    _, g_k, g_l = sl.double_optimization_gradient(net, k, task)
    d_k, d_l = sl.coupled_learning_step(net, k, task, 1e-6)
    comp = np.asarray(st.linear_response(net, k, task.pairs).compliance)
    s_eff = 1.0 / (comp[1, 1] - comp[0, 1] ** 2 / comp[0, 0])
    np.testing.assert_allclose(-np.asarray(d_k), s_eff * np.asarray(g_k), rtol=1e-4,
                               atol=1e-6 * np.abs(s_eff * g_k).max())
    np.testing.assert_allclose(-np.asarray(d_l), s_eff * np.asarray(g_l), rtol=1e-4,
                               atol=1e-6 * np.abs(s_eff * g_l).max())
    # the literal rule: Δk/α = -(1/2η)[(l^C - l0)^2 - (l^F - l0)^2] from the two states
    eta = 0.1
    uf, _ = st.free_state(net, k, task)
    uc, _ = st.clamped_state(net, k, task, eta)
    ext = lambda u: np.asarray(sp.rigidity_matrix(net)) @ np.asarray(u).reshape(-1)  # noqa
    rule = -(ext(uc[0]) ** 2 - ext(uf[0]) ** 2) / (2 * eta)
    np.testing.assert_allclose(sl.coupled_learning_step(net, k, task, eta)[0], rule,
                               atol=1e-12)
    assert float(sl.regularized_contrast(net, k, task, eta)) >= 0


@pytest.fixture(scope="module")
def jammed_allostery():
    with jax.enable_x64(True):
        net = H.jammed_2d()
        src, tgt = H.allostery_pairs(net)
        yield net, st.allostery_task(net, src, tgt, ratio=1.0)


def test_coupled_learning_trains_allostery_on_a_jammed_network(jammed_allostery):
    net, task = jammed_allostery
    assert net.n_nodes >= 200 and sp.floppy_mode_count(net) == 0
    k0 = np.ones(net.n_edges)
    ratio0 = float(st.free_state(net, k0, task)[1][0, 1])
    assert abs(ratio0 - 1.0) > 0.5                       # far from the task initially
    # the coupled-learning direction fed to Adam (plain SGD with a fixed rate oscillates
    # near the solution once the soft springs make the cost curvature exceed 2/lr)
    res = sl.train_springs(net, k0, task, rule="coupled_learning", n_steps=300,
                           optimizer=optax.adam(0.01), eta=1e-2, record_every=100)
    ratio = float(st.free_state(net, res.stiffnesses, task)[1][0, 1])
    assert abs(ratio - 1.0) < 1e-2, ratio
    assert float(res.final_cost) < float(res.cost[0])
    assert np.all((np.asarray(res.stiffnesses) >= 1e-3) & (np.asarray(res.stiffnesses) <= 1e3))
    assert res.snapshots.shape == (4, net.n_edges)


def test_double_optimization_reaches_1e4(jammed_allostery):
    net, task = jammed_allostery
    k0 = np.ones(net.n_edges)
    res = sl.train_springs(net, k0, task, rule="double_optimization", n_steps=250,
                           optimizer=optax.adam(0.01))
    ratio = float(st.free_state(net, res.stiffnesses, task)[1][0, 1])
    assert abs(ratio - 1.0) < 1e-4, ratio


def test_coupled_learning_of_rest_lengths(lattice_task):
    net, k, src, tgt = lattice_task
    task = st.allostery_task(net, src, tgt, ratio=0.5)
    res = sl.train_springs(net, k, task, rule="coupled_learning", n_steps=300,
                           optimizer=optax.adam(0.003), learn_rest_lengths=True)
    assert float(res.final_cost) < 1e-3 * float(res.cost[0])
    assert np.abs(np.asarray(res.rest_lengths) - np.asarray(net.rest_lengths)).max() > 1e-3


# ------------------------------------------------------------------------ bad input

def test_bad_inputs_name_the_argument(lattice_task):
    net, k, src, tgt = lattice_task
    g = net.graph
    pos = np.asarray(g.positions).copy()
    a, b = np.asarray(g.edges[0])
    pos[b] = pos[a]
    with pytest.raises(ValueError, match="positions"):
        sp.spring_network(graphs.Graph(g.edges, g.n_nodes, pos))
    with pytest.raises(ValueError, match="rest_lengths"):
        sp.spring_network(g, rest_lengths=np.r_[0.0, np.ones(g.n_edges - 1)])
    task = st.allostery_task(net, src, tgt)
    bad_k = k.copy()
    bad_k[4] = -1.0
    with pytest.raises(ValueError, match="stiffnesses"):
        st.free_state(net, bad_k, task)
    with pytest.raises(ValueError, match="stiffnesses"):
        sp.normal_modes(net, np.zeros(net.n_edges))
    with pytest.raises(ValueError, match="source_pair"):
        st.allostery_task(net, [0, net.n_nodes], tgt)
    with pytest.raises(ValueError, match="pairs"):
        st.make_strain_task(net, [[0, 1], [2, 99]], sources=[1, 0], targets=[0, 1],
                            inputs=[1, 0], desired=[0, 1])
    corner = np.flatnonzero((np.asarray(g.edges) == 0).any(1))
    loose = sp.spring_network(graphs.remove_edges(g, corner[:1]))
    with pytest.raises(ValueError, match=r"network has 1 floppy mode"):
        st.free_state(loose, np.ones(loose.n_edges), st.allostery_task(loose, src, tgt))
    with pytest.raises(ValueError, match="eta"):
        sl.train_springs(net, k, task, eta=0.0)
