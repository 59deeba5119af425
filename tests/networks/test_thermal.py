"""Thermal fluctuations of spring networks (physjax.networks.thermal), float64.

References: the Gaussian (equipartition) statistics computed independently from the
pseudo-inverse of the dynamical matrix (jax.hessian) and, with the input imposed, as the
limit of an infinitely stiff spring on the source pair; the T* criterion itself; and
underdamped Langevin sampling of the full nonlinear energy at small T (equipartition:
⟨E⟩ = (N_dof − N_zero) T/2).
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from physjax import graphs
from physjax.networks import spring as sp
from physjax.networks import spring_learning as sl
from physjax.networks import strain as st
from physjax.networks import thermal as th

from . import spring_helpers as H


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


@pytest.fixture(scope="module")
def lattice():
    with jax.enable_x64(True):
        net = H.perturbed_triangular()
        k = H.random_stiffnesses(net)
        pairs = np.array([[0, 6], [18, 24]])
        task = st.allostery_task(net, pairs[0], pairs[1], source_strain=0.01)
        yield net, k, pairs, task


def _pinv_compliance(net, k, pairs):
    g = np.linalg.pinv(np.asarray(sp.dynamical_matrix(net, k)), rcond=1e-12)
    pm = np.asarray(st.pair_strain_matrix(net, pairs))
    return pm @ g @ pm.T


def test_strain_statistics_against_pseudo_inverse_and_stiff_source_limit(lattice):
    net, k, pairs, task = lattice
    T = 2e-5
    stats = th.strain_statistics(net, k, task, T)
    # without input: covariance T P D^+ P^T
    comp = _pinv_compliance(net, k, pairs)
    np.testing.assert_allclose(stats.std_rest, np.sqrt(T * np.diag(comp)), rtol=1e-8)
    np.testing.assert_allclose(stats.mean_rest, 0.0, atol=1e-14)
    # with input: the mean is the linear-response free state (Cholesky route)
    np.testing.assert_allclose(stats.mean, st.free_state(net, k, task)[1], rtol=1e-9,
                               atol=1e-14)
    assert float(stats.std[0, 0]) == 0.0
    # ... and the variance that of a network whose source pair is held by a stiff spring
    e = np.concatenate([np.asarray(net.graph.edges), pairs[:1]])
    stiff = sp.spring_network(graphs.Graph(e, net.n_nodes, net.positions))
    kappa = 1e9
    comp_stiff = _pinv_compliance(stiff, np.r_[k, kappa], pairs)
    assert float(stats.std[0, 1]) == pytest.approx(np.sqrt(T * comp_stiff[1, 1]), rel=1e-6)
    # conditional variance formula C_TT - C_TS^2 / C_SS
    cond = comp[1, 1] - comp[0, 1] ** 2 / comp[0, 0]
    assert float(stats.std[0, 1]) == pytest.approx(np.sqrt(T * cond), rel=1e-8)


def test_crossover_temperature_criterion_and_bound(lattice):
    net, k, pairs, task = lattice
    t_star = th.crossover_temperature(net, k, task)
    assert np.isnan(t_star[0, 0])
    ts = float(t_star[0, 1])
    stats = th.strain_statistics(net, k, task, ts)
    delta = float(stats.mean[0, 1] - stats.mean_rest[1])
    assert abs(delta) == pytest.approx(float(stats.std[0, 1] + stats.std_rest[1]), rel=1e-10)
    # T* grows as the square of the input strain
    task2 = st.allostery_task(net, pairs[0], pairs[1], source_strain=0.02)
    assert float(th.crossover_temperature(net, k, task2)[0, 1]) == pytest.approx(4 * ts,
                                                                               rel=1e-10)
    # Cauchy-Schwarz: T* <= delta^2 / C_TT <= eps_S^2 / C_SS = 2 E^F
    e_free = float(st.binding_energies(net, k, pairs[0], pairs[1], strain=0.01).a)
    assert ts < 2 * e_free


@pytest.mark.compute_bound
def test_langevin_equipartition_at_small_temperature(lattice):
    net, k, pairs, task = lattice
    T = 1e-6
    stats = th.strain_statistics(net, k, task, T)
    samples = th.langevin_strain_samples(jax.random.key(0), net, k, pairs, T,
                                         n_replicas=256, n_samples=100, sample_every=40,
                                         burn_in=400)
    assert not bool(samples.diverged)
    z = np.asarray(samples.strains)
    # 25,600 samples, lag-one correlation ~0.1: the variance is known to ~1%, 5% is > 4 sigma
    var = z.var(axis=(0, 1))
    np.testing.assert_allclose(var, np.asarray(stats.std_rest) ** 2, rtol=0.05)
    n_zero = net.n_rigid_modes
    # energy: std of one sample sqrt((N-3)/2) T; the mean of 25,600 is known to < 0.5%
    assert float(samples.energy.mean()) == pytest.approx((net.n_dof - n_zero) * T / 2,
                                                         rel=0.02)


def test_energy_regularization_raises_t_star_at_a_cost():
    # seed 000: cooperative binding (A -> B and B -> A) trained with the contrast
    # (1/eta)[(E^C - E^F) - lam E^F] summed over both directions; lam > 0 raises the
    # free-state energies, T* with them, and the training error (the trade-off)
    import optax
    net = H.jammed_2d()
    a, b = H.allostery_pairs(net)
    task = st.cooperative_binding_task(net, a, b)
    k0 = np.ones(net.n_edges)
    out = {}
    for lam in (0.0, 1e-3):
        res = sl.train_springs(net, k0, task, n_steps=300, optimizer=optax.adam(0.01),
                               eta=1e-2, energy_regularization=lam, k_max=100.0)
        t_star = np.asarray(th.crossover_temperature(net, res.stiffnesses, task))
        be = st.binding_energies(net, res.stiffnesses, a, b)
        out[lam] = float(res.final_cost), min(t_star[0, 1], t_star[1, 0]), be
    (c0, t0, be0), (c1, t1, be1) = out[0.0], out[1e-3]
    assert c0 < 2e-3                           # learned (initial cost ~0.5)
    # cooperativity: binding B once A is bound costs far less than binding B alone
    assert float(be0.b_after_a) < 0.05 * float(be0.b)
    assert t1 > 2 * t0                         # regularization raises T* (measured ~4x)
    assert float(be1.a) > float(be0.a) and float(be1.b) > float(be0.b)
    assert c1 >= c0                            # ... and the training error is not lower


def test_bad_inputs_name_the_argument(lattice):
    net, k, pairs, task = lattice
    with pytest.raises(ValueError, match="temperature"):
        th.strain_statistics(net, k, task, -1.0)
    with pytest.raises(ValueError, match="temperature"):
        th.langevin_strain_samples(jax.random.key(0), net, k, pairs, -0.1)
    with pytest.raises(ValueError, match="stiffnesses"):
        th.strain_statistics(net, -np.asarray(k), task, 1.0)
