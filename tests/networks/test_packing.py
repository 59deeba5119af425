"""Jammed packings and the networks built from them (physjax.networks.packing), float64.

References: FIRE against exactly known minima; force balance and the prescribed packing
fraction of the relaxed packing; Maxwell counting (a jammed network is rigid, Z >= 2d in the
bulk) and the rigid-body zero-mode count of its dynamical matrix; the exact edge count of
the pruned network.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physjax import graphs
from physjax.networks import packing as pk
from physjax.networks import spring as sp

from . import spring_helpers as H


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def test_fire_finds_exact_minima():
    # an ill-conditioned quadratic with known minimum and Rosenbrock's valley
    a = jnp.diag(jnp.array([1.0, 10.0, 100.0]))
    x_star = jnp.array([1.0, -2.0, 0.5])
    res = pk.fire_minimize(lambda x: 0.5 * (x - x_star) @ a @ (x - x_star), jnp.zeros(3),
                           dt=0.01, force_tol=1e-12)
    assert bool(res.converged)
    np.testing.assert_allclose(res.position, x_star, atol=1e-12)

    def rosen(x):
        return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2

    res = pk.fire_minimize(rosen, jnp.array([-1.2, 1.0]), dt=1e-3, max_steps=50_000,
                           force_tol=1e-10)
    assert bool(res.converged)
    np.testing.assert_allclose(res.position, [1.0, 1.0], atol=1e-8)
    # max_displacement stops early without converging
    res = pk.fire_minimize(rosen, jnp.array([-1.2, 1.0]), dt=1e-3, max_displacement=0.05)
    assert not bool(res.converged) and float(jnp.abs(res.position - jnp.array([-1.2, 1.0]))
                                             .max()) >= 0.05


def test_bidisperse_radii():
    r = pk.bidisperse_radii(11, ratio=1.4)
    assert np.sum(r == 0.5) == 6 and np.sum(r == 0.7) == 5


@pytest.fixture(scope="module")
def packing():
    yield H.jammed_packing_2d()


def test_jammed_packing_is_force_balanced_at_the_requested_density(packing):
    x, r, box = packing.positions, packing.radii, packing.box
    assert packing.max_force <= 1e-10
    assert packing.energy > 0                         # overlapping: above jamming
    assert float(np.sum(math.pi * r**2) / np.prod(box)) == pytest.approx(0.90, rel=1e-12)
    # an independent all-pairs force evaluation (numpy, minimum image)
    d = x[:, None] - x[None]
    d -= box * np.round(d / box)
    dist = np.linalg.norm(d, axis=-1) + np.eye(len(x))
    sigma = r[:, None] + r[None]
    f = np.where(dist < sigma, (1 - dist / sigma) / sigma, 0.0)[..., None] * d / dist[..., None]
    assert np.abs(f.sum(1)).max() < 1e-9


def test_contact_network_is_unstressed_rigid_and_jammed(packing):
    net = pk.contact_network(packing)
    n_rattlers = len(packing.radii) - net.n_nodes
    assert 0 <= n_rattlers < 0.1 * len(packing.radii)
    deg = graphs.degrees(net.graph)
    assert deg.min() >= 3
    assert graphs.mean_coordination(net.graph) > 4.0     # above isostatic Z_c = 2d
    k = np.ones(net.n_edges)
    assert np.abs(np.asarray(sp.spring_forces(net, k))).max() < 1e-12
    ev = np.linalg.eigvalsh(np.asarray(sp.stiffness_matrix(net, k)))
    assert int(np.sum(ev < 1e-8 * ev[-1])) == 2          # periodic: 2 translations only
    # every spring joins overlapping disks: its length is below the largest diameter
    assert float(sp.bond_lengths(net).max()) < 2 * packing.radii.max()


def test_pruning_reaches_the_target_coordination_and_stays_rigid():
    net = H.jammed_2d()                   # the contact network pruned to Z = 4.6
    assert net.n_edges == round(4.6 * net.n_nodes / 2)
    assert graphs.degrees(net.graph).min() >= 3
    assert sp.floppy_mode_count(net) == 0
    full = H.jammed_2d(230, None)
    full_edges = {tuple(e) for e in np.asarray(full.graph.edges).tolist()}
    assert {tuple(e) for e in np.asarray(net.graph.edges).tolist()} <= full_edges
    np.testing.assert_allclose(net.rest_lengths, sp.bond_lengths(net), rtol=1e-12)


def test_open_box_and_3d_packings_give_free_rigid_networks():
    open2d = pk.jammed_network(jax.random.key(1), 40, packing_fraction=0.95, periodic=False)
    assert open2d.box is None and open2d.n_rigid_modes == 3
    ev = np.linalg.eigvalsh(np.asarray(sp.stiffness_matrix(open2d, np.ones(open2d.n_edges))))
    assert int(np.sum(ev < 1e-8 * ev[-1])) == 3
    net3 = pk.jammed_network(jax.random.key(2), 40, dim=3)
    assert net3.dim == 3 and net3.n_rigid_modes == 3
    assert graphs.degrees(net3.graph).min() >= 4 and sp.floppy_mode_count(net3) == 0


def test_bad_inputs_name_the_argument():
    net = H.jammed_2d()
    with pytest.raises(ValueError, match="mean_coordination"):
        pk.prune_to_coordination(jax.random.key(0), net, 6.0)
    with pytest.raises(ValueError, match="mean_coordination"):
        pk.prune_to_coordination(jax.random.key(0), net, 2.5)
    with pytest.raises(ValueError, match="packing_fraction"):
        pk.jammed_packing(jax.random.key(0), 10, packing_fraction=-0.5)
    with pytest.raises(ValueError, match="dim"):
        pk.jammed_packing(jax.random.key(0), 10, dim=4)
    with pytest.raises(ValueError, match="radii"):
        pk.jammed_packing(jax.random.key(0), 10, radii=np.ones(3))
