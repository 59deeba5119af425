"""Maximally localized basis of low physical-Hessian modes (physjax.networks.localized),
float64.

References: the spread functional evaluated directly from its definition; a basis whose
maximally localized form is known (two separated bumps, mixed by a 45 degree rotation);
orthonormality and principal angles (scipy.linalg.subspace_angles); boundary edges of
hand-made binary maps; the frequency formula f = sum_m n(m)/sqrt(m).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.linalg

from physjax import graphs
from physjax.networks import localized as lo
from physjax.networks import spring as sp

from . import spring_helpers as H


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def _direct_spread(vectors, positions):
    v = np.asarray(vectors)
    x = np.asarray(positions)
    comp = v.shape[0] // x.shape[0]
    xx = np.repeat(x, comp, axis=0)
    total = 0.0
    for i in range(v.shape[1]):
        w = v[:, i] ** 2
        total += np.sum(w * np.sum(xx**2, 1)) - np.sum(np.sum(xx * w[:, None], 0) ** 2)
    return total


@pytest.fixture(scope="module")
def resistor_modes():
    with jax.enable_x64(True):
        g = graphs.random_geometric(jax.random.key(0), 120, 5.0)
        lap = graphs.laplacian(g, np.random.default_rng(0).uniform(0.5, 1.5, g.n_edges))
        _, v = jnp.linalg.eigh(lap)
        yield g, v[:, 1:9]                  # the lowest 8 non-constant modes


@pytest.fixture(scope="module")
def spring_modes():
    with jax.enable_x64(True):
        net = H.perturbed_triangular(6, 6)
        modes = sp.normal_modes(net, H.random_stiffnesses(net))
        yield net, modes.vectors[:, :6]


@pytest.mark.parametrize("which", ["resistor", "spring"])
def test_localization_descends_and_keeps_the_subspace(which, resistor_modes, spring_modes):
    if which == "resistor":
        g, modes = resistor_modes
        positions = g.positions
    else:
        net, modes = spring_modes
        positions = net.positions
    assert float(lo.spread_functional(modes, positions)) == pytest.approx(
        _direct_spread(modes, positions), rel=1e-12)
    res = lo.maximally_localized_basis(jax.random.key(1), modes, positions, n_steps=60,
                                       recentre_every=20)
    omega = np.asarray(res.spread)
    assert omega.shape == (61,)
    assert np.all(np.diff(omega) <= 1e-14 * omega[0])          # monotone
    assert omega[-1] < 0.9 * omega[0]                           # and it does localize
    assert omega[-1] == pytest.approx(_direct_spread(res.vectors, positions), rel=1e-10)
    v = np.asarray(res.vectors)
    n = v.shape[1]
    assert np.abs(v.T @ v - np.eye(n)).max() < 1e-10
    u = np.asarray(res.rotation)
    assert np.abs(u.T @ u - np.eye(n)).max() < 1e-10
    assert scipy.linalg.subspace_angles(v, np.asarray(modes)).max() < 1e-8


def test_recovers_known_localized_states():
    # two Gaussian bumps far apart on a line of nodes, mixed at 45 degrees
    x = np.linspace(0.0, 10.0, 101)
    positions = np.stack([x, np.zeros_like(x)], 1)
    bumps = np.stack([np.exp(-((x - 2) ** 2)), np.exp(-((x - 8) ** 2))], 1)
    bumps /= np.linalg.norm(bumps, axis=0)
    c = np.sqrt(0.5)
    mixed = bumps @ np.array([[c, c], [-c, c]])
    res = lo.maximally_localized_basis(jax.random.key(0), mixed, positions, n_steps=40,
                                       recentre_every=20)
    overlap = np.abs(np.asarray(res.vectors).T @ bumps)
    assert np.sort(overlap.max(0)).min() > 1 - 1e-9
    assert float(res.spread[-1]) == pytest.approx(_direct_spread(bumps, positions), rel=1e-9)
    # with a plain Optax optimizer (no line search) the spread still decreases
    res_sgd = lo.maximally_localized_basis(jax.random.key(0), mixed, positions, n_steps=40,
                                           optimizer=optax.sgd(0.01))
    assert float(res_sgd.spread[-1]) < float(res_sgd.spread[0])
    assert np.all(np.diff(np.asarray(res_sgd.spread)) <= 0)


def test_periodic_spread_is_translation_invariant(resistor_modes):
    g, modes = resistor_modes
    box = jnp.array([1.0, 1.0])
    a = lo.spread_functional(modes, g.positions, box=box)
    b = lo.spread_functional(modes, g.positions + jnp.array([0.3, 1.7]), box=box)
    assert float(a) == pytest.approx(float(b), rel=1e-12)
    res = lo.maximally_localized_basis(jax.random.key(2), modes, g.positions, box=box,
                                       n_steps=30)
    assert np.all(np.diff(np.asarray(res.spread)) <= 1e-14)
    assert float(res.spread[-1]) < float(res.spread[0])


def test_binarized_modes_boundary_edges_and_frequency():
    # a path 0-1-2-3-4-5; mode 0 lives on nodes 0..2, mode 1 on nodes 4..5
    g = graphs.from_edge_list([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]],
                              positions=np.stack([np.arange(6.0), np.zeros(6)], 1))
    v = np.zeros((6, 2))
    v[:3, 0] = [0.6, 0.7, 0.4]
    v[3, 0] = 0.1
    v[4:, 1] = [-0.8, -0.6]
    binary = np.asarray(lo.binarize_modes(v, 6))
    np.testing.assert_array_equal(binary, [[1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 1, 1]])
    np.testing.assert_array_equal(lo.boundary_edges(g, binary),
                                  [[0, 0, 1, 0, 0], [0, 0, 0, 1, 0]])
    # spring modes (two components per node): |psi_node| decides
    w = np.asarray(lo.node_weights(np.kron(v, np.array([[0.6], [0.8]])), 6))
    np.testing.assert_allclose(w, np.abs(v.T), atol=1e-15)


def test_boundary_frequency_formula(resistor_modes):
    g, modes = resistor_modes
    f, masks = lo.boundary_frequency(jax.random.key(3), g, modes, g.positions, 4, n_steps=20)
    masks = np.asarray(masks)
    assert masks.shape == (4, g.n_edges) and masks[0].any()
    np.testing.assert_allclose(f, (masks / np.sqrt(np.arange(1, 5))[:, None]).sum(0))


def test_bad_inputs_name_the_argument(resistor_modes):
    g, modes = resistor_modes
    with pytest.raises(ValueError, match="modes"):
        lo.maximally_localized_basis(jax.random.key(0), modes[:-1], g.positions)
    with pytest.raises(ValueError, match="max_modes"):
        lo.boundary_frequency(jax.random.key(0), g, modes, g.positions, 20)
    with pytest.raises(ValueError, match="box"):
        lo.spread_functional(modes, g.positions, box=jnp.ones(3))
    with pytest.raises(ValueError, match="positions"):
        lo.spread_functional(modes, np.full((120, 2), np.nan))
