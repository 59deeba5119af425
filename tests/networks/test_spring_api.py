"""Spring-network helpers not covered by the physics tests: bond vectors, checks, pair
strains, the linear-response energy, soft-sphere overlaps, mode compliance and the
gradient of the regularized contrast -- each against its definition or finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physjax import graphs
from physjax.networks import packing, spring, spring_learning, strain, thermal

from .spring_helpers import perturbed_triangular


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def test_bond_vectors_lengths_and_checks():
    net = perturbed_triangular()
    x = np.asarray(net.graph.positions)
    e = np.asarray(net.graph.edges)
    r = np.asarray(spring.bond_vectors(net))
    np.testing.assert_allclose(r, x[e[:, 0]] - x[e[:, 1]], atol=1e-14)
    np.testing.assert_allclose(spring.bond_lengths(net), np.linalg.norm(r, axis=1), atol=1e-14)
    spring.check_rigid(net)
    k = jnp.ones(net.n_edges)
    spring.check_stiffnesses(net, k)
    with pytest.raises(ValueError, match="stiffnesses"):
        spring.check_stiffnesses(net, k.at[0].set(-1.0))
    floppy = spring.spring_network(graphs.square_grid(3))  # a square grid has floppy modes
    with pytest.raises(ValueError, match="network has .* floppy"):
        spring.check_rigid(floppy)


def test_soft_sphere_energy_of_two_overlapping_disks():
    """Two disks of radius 0.5 at distance 0.8 in an open box far from the walls:
    E = eps/2 (1 - r/sigma)^2 with sigma = 1."""
    pos = jnp.array([[4.6, 5.0], [5.4, 5.0]])
    e = packing.soft_sphere_energy(pos, jnp.array([0.5, 0.5]), 10.0, periodic=False)
    np.testing.assert_allclose(e, 0.5 * (1 - 0.8) ** 2, rtol=1e-12)
    apart = jnp.array([[2.0, 5.0], [8.0, 5.0]])
    assert float(packing.soft_sphere_energy(apart, jnp.array([0.5, 0.5]), 10.0,
                                            periodic=False)) == 0.0


def test_pair_strains_linear_is_the_derivative_of_the_exact_strain():
    net = perturbed_triangular()
    a, b = strain.distant_sites(net)
    pairs = jnp.array([a, b])
    x = np.asarray(net.graph.positions)
    u = 1e-6 * np.random.default_rng(0).standard_normal(x.shape)
    lin = np.asarray(strain.pair_strains(net, pairs, jnp.asarray(u)))
    exact = np.asarray(strain.pair_strains(net, pairs, jnp.asarray(u), linear=False))
    exact_m = np.asarray(strain.pair_strains(net, pairs, jnp.asarray(-u), linear=False))
    np.testing.assert_allclose(lin, (exact - exact_m) / 2, rtol=1e-6, atol=1e-14)


def test_linear_energy_is_the_quadratic_expansion_of_the_elastic_energy():
    net = perturbed_triangular()
    k = jnp.asarray(np.random.default_rng(1).uniform(0.5, 2.0, net.n_edges))
    x = np.asarray(net.graph.positions)
    u = 1e-4 * np.random.default_rng(2).standard_normal(x.shape)
    exact = spring.elastic_energy(net, k, jnp.asarray(x + u))  # rest lengths = lengths
    approx = strain.linear_energy(net, k, jnp.asarray(u))
    np.testing.assert_allclose(approx, exact, rtol=1e-3)


def test_mode_compliance_is_the_pseudo_inverse_response():
    net = perturbed_triangular()
    k = jnp.ones(net.n_edges)
    modes = spring.normal_modes(net, k)
    p = np.random.default_rng(3).standard_normal((2, 2 * net.n_nodes))
    hess = np.asarray(spring.dynamical_matrix(net, k)).reshape(2 * net.n_nodes, -1)
    expected = p @ np.linalg.pinv(hess, rcond=1e-9) @ p.T
    np.testing.assert_allclose(thermal.mode_compliance(modes, jnp.asarray(p)), expected,
                               rtol=1e-7, atol=1e-10)


def test_regularized_contrast_gradient_without_regularization_is_the_coupled_learning_rule():
    r"""lambda = 0: dC/dk_j = [(Ru^C + s)_j^2 - (Ru^F + s)_j^2] / (2 eta) at fixed states, with
    the linear-response bond extensions of the free and clamped states."""
    net = perturbed_triangular()
    k = jnp.asarray(np.random.default_rng(4).uniform(0.5, 2.0, net.n_edges))
    a, b = strain.distant_sites(net)
    task = strain.allostery_task(net, a, b, ratio=0.5)
    eta = 0.1
    u_f, _ = strain.free_state(net, k, task)
    u_c, _ = strain.clamped_state(net, k, task, eta)
    rig = np.asarray(spring.rigidity_matrix(net)).reshape(net.n_edges, -1)
    ext_f = np.einsum("ej,mj->me", rig, np.asarray(u_f).reshape(u_f.shape[0], -1))
    ext_c = np.einsum("ej,mj->me", rig, np.asarray(u_c).reshape(u_c.shape[0], -1))
    expected = np.mean(ext_c**2 - ext_f**2, axis=0) / (2 * eta)
    dk, _ = spring_learning.regularized_contrast_gradient(net, k, task, eta)
    np.testing.assert_allclose(dk, expected, rtol=1e-8, atol=1e-12 * np.abs(expected).max())
