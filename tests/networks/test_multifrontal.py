"""Nested-dissection multifrontal Cholesky (physjax.networks._multifrontal), float64.

References: dense NumPy solves of the same matrices (graph Laplacians with grounded nodes,
block matrices with d degrees of freedom per node), the structural invariants of an
elimination tree, and the flop count of the banded layout on the same graph.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physjax import graphs
from physjax.networks import _multifrontal as mf
from physjax.networks import _solve

from . import spring_helpers as H


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def block_matrix(edges, n_nodes, d, weights):
    """Dense sum over edges of w_e (e_a - e_b)(e_a - e_b)^T (x) G_e, G_e = w n n^T + w I/4."""
    rng = np.random.default_rng(3)
    m = np.zeros((n_nodes * d, n_nodes * d))
    blocks = []
    for (a, b), w in zip(edges, weights, strict=True):
        n = rng.standard_normal(d)
        g = w * (np.outer(n, n) / (n @ n) + np.eye(d) / 4)
        blocks.append(g)
        for r, c, s in ((a, a, 1), (b, b, 1), (a, b, -1), (b, a, -1)):
            m[r * d:(r + 1) * d, c * d:(c + 1) * d] += s * g
    return m, np.stack(blocks)


def laplacian(edges, n_nodes, w):
    m = np.zeros((n_nodes, n_nodes))
    for (a, b), wi in zip(edges, w, strict=True):
        m[[a, b], [a, b]] += wi
        m[a, b] -= wi
        m[b, a] -= wi
    return m


def solve_with_layout(edges, n_nodes, d, eliminated, values, rhs, leaf_size=mf.LEAF_SIZE):
    layout = mf.multifrontal_layout(edges, n_nodes, d, eliminated, leaf_size=leaf_size)
    entries = mf.edge_entries(layout, edges)
    index, missing = mf.edge_entry_index(layout, entries, np.asarray(edges))
    assert not missing.any()
    @jax.jit
    def factor_and_solve(index, values, rhs):
        return mf.solve(layout, mf.factor(layout, index, values), rhs)

    return layout, np.asarray(factor_and_solve(jnp.asarray(index), jnp.asarray(values),
                                               jnp.asarray(rhs)))


def reference(m, eliminated, rhs):
    keep = np.setdiff1d(np.arange(m.shape[0]), eliminated)
    x = np.zeros_like(rhs)
    x[keep] = np.linalg.solve(m[np.ix_(keep, keep)], rhs[keep])
    return x


@pytest.mark.parametrize("d", [1, 2, 3])
def test_solves_grounded_block_laplacians_like_numpy(d):
    g = graphs.triangular_grid(9, 8)
    edges = np.asarray(g.edges)
    w = np.random.default_rng(0).uniform(0.2, 3.0, len(edges))
    m, blocks = block_matrix(edges, g.n_nodes, d, w)
    eliminated = list(range(d)) + [37 * d + a for a in range(d)]      # two grounded nodes
    values = blocks[:, None] * _solve.EDGE_BLOCK_SIGNS[:, None, None]
    rhs = np.random.default_rng(1).standard_normal((g.n_nodes * d, 3))
    layout, x = solve_with_layout(edges, g.n_nodes, d, eliminated, values, rhs, leaf_size=6)
    assert layout.n_levels >= 3
    ref = reference(m, eliminated, rhs)
    np.testing.assert_allclose(x, ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    assert np.all(x[eliminated] == 0)


def test_disconnected_components_are_dissected_separately():
    a = graphs.square_grid(5)
    e = np.asarray(a.edges)
    edges = np.concatenate([e, e + a.n_nodes])           # two copies, not connected
    n = 2 * a.n_nodes
    w = np.random.default_rng(2).uniform(0.5, 2.0, len(edges))
    m = laplacian(edges, n, w)
    eliminated = [0, a.n_nodes + 7]                       # ground each component
    values = w[:, None, None, None] * _solve.EDGE_BLOCK_SIGNS[:, None, None]
    rhs = np.random.default_rng(3).standard_normal((n, 2))
    _, x = solve_with_layout(edges, n, 1, eliminated, values, rhs, leaf_size=4)
    ref = reference(m, eliminated, rhs)
    np.testing.assert_allclose(x, ref, rtol=0, atol=1e-12 * np.abs(ref).max())


def test_elimination_tree_invariants():
    g = graphs.square_grid(12)
    layout = mf.multifrontal_layout(np.asarray(g.edges), g.n_nodes, 2, [0, 1], leaf_size=5)
    # every free variable is eliminated exactly once, in positions 0 .. n_free - 1
    pos = layout.position[layout.position >= 0]
    assert np.array_equal(np.sort(pos), np.arange(layout.n_free))
    assert layout.n_free == 2 * g.n_nodes - 2
    piv = np.concatenate([p[p < layout.n_free] for p in layout.piv_pos])
    assert np.array_equal(np.sort(piv), np.arange(layout.n_free))
    # a front's boundary rows are eliminated after its pivots (they belong to ancestors)
    for pp, bp in zip(layout.piv_pos, layout.bnd_pos, strict=True):
        for p_row, b_row in zip(pp, bp, strict=True):
            real_p, real_b = p_row[p_row < layout.n_free], b_row[b_row < layout.n_free]
            if real_b.size:
                assert real_b.min() > real_p.max()
    # the top level is one root with no boundary
    assert layout.n_fronts[-1] == 1 and layout.boundary[-1] == 0


def test_fewer_flops_than_the_band_on_a_periodic_packing():
    """The wrap-around of a periodic packing widens the RCM band; nested dissection does not
    care (the reason the multifrontal plan exists)."""
    net = H.jammed_2d(320)
    edges = np.asarray(net.graph.edges)
    layout = mf.multifrontal_layout(edges, net.n_nodes, 2, [0, 1])
    band = _solve.band_layout(edges, net.n_nodes, 2, [0, 1])
    band_flops = band.n_blocks * (band.block**3 / 3 + 2 * band.block**3)
    assert layout.factor_flops < band_flops / 4


def test_vmap_over_values_shares_one_layout():
    g = graphs.square_grid(8)
    edges = np.asarray(g.edges)
    layout = mf.multifrontal_layout(edges, g.n_nodes, 1, [0], leaf_size=6)
    index, _ = mf.edge_entry_index(layout, mf.edge_entries(layout, edges), edges)
    w = np.random.default_rng(4).uniform(0.5, 2.0, (3, len(edges)))
    rhs = np.random.default_rng(5).standard_normal((g.n_nodes, 1))

    def one(wi):
        values = wi[:, None, None, None] * jnp.asarray(_solve.EDGE_BLOCK_SIGNS)[:, None, None]
        return mf.solve(layout, mf.factor(layout, jnp.asarray(index), values), jnp.asarray(rhs))

    out = np.asarray(jax.jit(jax.vmap(one))(jnp.asarray(w)))
    for i in range(3):
        ref = reference(laplacian(edges, g.n_nodes, w[i]), [0], rhs)
        np.testing.assert_allclose(out[i], ref, rtol=0, atol=1e-12 * np.abs(ref).max())
