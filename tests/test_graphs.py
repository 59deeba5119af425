"""physjax.graphs: incidence operators and Laplacians against dense linear algebra, lattice
counts, random builders against independent constructions, conversions and bad input."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest

import physjax
import physjax.graphs as pg

KEY = jax.random.key(0)


def _canon(edges):
    return {tuple(sorted(map(int, e))) for e in np.asarray(edges)}


def _disconnected():
    # a triangle, a path of two edges and an isolated node: 3 components on 7 nodes
    return pg.from_edge_list([[0, 1], [1, 2], [2, 0], [3, 4], [5, 4]], 7)


GRAPHS = {
    "square": lambda: pg.square_grid(4, 5),
    "periodic": lambda: pg.square_grid(3, 4, periodic=True),
    "triangular": lambda: pg.triangular_grid(4, 5),
    "regular": lambda: pg.random_regular(KEY, 12, 3),
    "geometric": lambda: pg.random_geometric(KEY, 20, 3.0),
    "disconnected": _disconnected,
}


def test_graph_is_a_pytree_and_reexported():
    g = pg.square_grid(2, 3)
    assert physjax.graphs is pg and "graphs" in physjax.__all__
    leaves, treedef = jax.tree_util.tree_flatten(g)
    assert len(leaves) == 2 and g.edges.dtype == jnp.int32
    assert (g.n_nodes, g.n_edges, g.dim) == (6, 7, 2)
    assert pg.from_edge_list([[0, 1]]).dim is None
    assert jax.tree_util.tree_unflatten(treedef, leaves).n_nodes == 6


def test_incidence_matrix_hand_built():
    g = pg.from_edge_list([[0, 1], [1, 2], [2, 0], [0, 3]])
    expected = np.array([[1, -1, 0, 0], [0, 1, -1, 0], [-1, 0, 1, 0], [1, 0, 0, -1]])
    np.testing.assert_array_equal(pg.incidence_matrix(g), expected)
    assert pg.incidence_matrix(g).dtype == jnp.float32
    with jax.enable_x64(True):
        assert pg.incidence_matrix(g).dtype == jnp.float64
    assert pg.incidence_matrix(g, jnp.int32).dtype == jnp.int32


@pytest.mark.parametrize("name", GRAPHS)
def test_laplacian_matches_dense_and_spectrum(name):
    with jax.enable_x64(True):
        g = GRAPHS[name]()
        rng = np.random.default_rng(1)
        w = rng.uniform(0.5, 2.0, g.n_edges)
        D = np.asarray(pg.incidence_matrix(g))
        np.testing.assert_array_equal(D.sum(axis=1), 0.0)
        L = np.asarray(pg.laplacian(g, w))
        assert L.dtype == np.float64
        np.testing.assert_allclose(L, D.T @ np.diag(w) @ D, rtol=0, atol=1e-14)
        np.testing.assert_array_equal(L, L.T)
        np.testing.assert_allclose(L @ np.ones(g.n_nodes), 0.0, atol=1e-13)
        eig = np.linalg.eigvalsh(L)
        assert eig.min() > -1e-12
        n_comp = len(set(pg.connected_components(g).tolist()))
        assert np.sum(eig < 1e-10) == n_comp
        assert n_comp == (3 if name == "disconnected" else 1)
        v = rng.normal(size=(3, g.n_nodes))
        np.testing.assert_allclose(pg.laplacian_matvec(g, w, v), v @ L.T, atol=1e-12)


def test_adjoint_identity_and_node_axis():
    with jax.enable_x64(True):
        g = pg.triangular_grid(4, 4)
        rng = np.random.default_rng(3)
        v = rng.normal(size=(2, g.n_nodes))
        f = rng.normal(size=(2, g.n_edges))
        lhs = np.sum(np.asarray(pg.edge_differences(g, v)) * f, axis=-1)
        rhs = np.sum(v * np.asarray(pg.node_divergence(g, f)), axis=-1)
        np.testing.assert_allclose(lhs, rhs, rtol=1e-12)
        D = np.asarray(pg.incidence_matrix(g))
        np.testing.assert_allclose(pg.edge_differences(g, v), v @ D.T, atol=1e-14)
        np.testing.assert_allclose(pg.node_divergence(g, f), f @ D, atol=1e-14)
        u = rng.normal(size=(g.n_nodes, 2))            # node vectors, axis=0
        np.testing.assert_allclose(pg.edge_differences(g, u, axis=0), D @ u, atol=1e-14)
        fe = rng.normal(size=(g.n_edges, 2))
        np.testing.assert_allclose(pg.node_divergence(g, fe, axis=0), D.T @ fe, atol=1e-14)


def test_grad_through_laplacian_matches_finite_differences():
    with jax.enable_x64(True):
        g = pg.square_grid(3, 3)
        w0 = np.random.default_rng(4).uniform(0.5, 2.0, g.n_edges)
        s = np.eye(g.n_nodes - 1)[-1]

        @jax.jit
        def resistance(w):      # effective resistance node 8 -> grounded node 0
            return jnp.linalg.solve(pg.laplacian(g, w)[1:, 1:], s)[-1]

        grad = jax.grad(resistance)(w0)
        h = 1e-5
        steps = h * np.eye(g.n_edges)
        fd = (jax.vmap(resistance)(w0 + steps) - jax.vmap(resistance)(w0 - steps)) / (2 * h)
        np.testing.assert_allclose(grad, fd, rtol=1e-7, atol=1e-12)
        assert np.all(grad < 0)      # Rayleigh monotonicity


def test_jit_and_vmap():
    g = pg.square_grid(3, 4)
    ws = np.random.default_rng(5).uniform(size=(6, g.n_edges)).astype(np.float32)
    Ls = jax.vmap(lambda w: pg.laplacian(g, w))(ws)
    np.testing.assert_allclose(Ls, pg.laplacian(g, ws), rtol=1e-6)   # batch axes directly
    np.testing.assert_allclose(Ls[2], pg.laplacian(g, ws[2]), rtol=1e-6)
    jitted = jax.jit(pg.laplacian_matvec)(g, ws[0], jnp.arange(12.0))
    np.testing.assert_allclose(jitted, pg.laplacian(g, ws[0]) @ jnp.arange(12.0), rtol=1e-5)
    # an ensemble of different graphs of the same size, vmapped as one pytree
    graphs = [pg.random_regular(k, 10, 3) for k in jax.random.split(KEY, 4)]
    batch = jax.tree.map(lambda *x: jnp.stack(x), *graphs)
    Lb = jax.jit(jax.vmap(pg.laplacian))(batch, ws[:4, :15])
    for i, gi in enumerate(graphs):
        np.testing.assert_allclose(Lb[i], pg.laplacian(gi, ws[i, :15]), rtol=1e-6)
    grads = jax.vmap(jax.grad(lambda w: pg.laplacian(g, w)[0, 0]))(ws)
    np.testing.assert_allclose(grads.sum(axis=1), 2.0)     # node 0 has 2 edges


@pytest.mark.parametrize("rows,cols,periodic", [(2, 2, False), (3, 5, False), (1, 4, False),
                                                (3, 3, True), (4, 6, True)])
def test_square_grid_counts(rows, cols, periodic):
    g = pg.square_grid(rows, cols, periodic=periodic, spacing=0.5)
    expected = 2 * rows * cols if periodic else rows * (cols - 1) + cols * (rows - 1)
    assert (g.n_nodes, g.n_edges) == (rows * cols, expected)
    assert g.positions.shape == (rows * cols, 2)
    if periodic:
        assert np.all(pg.degrees(g) == 4)
    else:
        e, p = np.asarray(g.edges), np.asarray(g.positions)
        np.testing.assert_allclose(np.linalg.norm(p[e[:, 0]] - p[e[:, 1]], axis=1), 0.5)
    assert pg.mean_coordination(g) == pytest.approx(2 * expected / (rows * cols))
    assert len(_canon(g.edges)) == g.n_edges


@pytest.mark.parametrize("rows,cols", [(2, 2), (5, 6), (6, 5), (7, 7)])
def test_triangular_grid(rows, cols):
    g = pg.triangular_grid(rows, cols, spacing=2.0)
    assert g.n_edges == rows * (cols - 1) + (rows - 1) * (2 * cols - 1)
    deg = pg.degrees(g).reshape(rows, cols)
    assert np.all(deg[1:-1, 1:-1] == 6)
    e, p = np.asarray(g.edges), np.asarray(g.positions)
    np.testing.assert_allclose(np.linalg.norm(p[e[:, 0]] - p[e[:, 1]], axis=1), 2.0, rtol=1e-6)
    # every pair at distance 2 is an edge: the lattice is complete
    d = np.linalg.norm(p[:, None] - p[None], axis=-1)
    assert np.sum(np.isclose(d, 2.0, rtol=1e-5)) == 2 * g.n_edges


def test_random_regular():
    g = pg.random_regular(KEY, 30, 3)
    assert np.all(pg.degrees(g) == 3) and g.n_edges == 45 and g.positions is None
    pg.check_connected(g)
    assert nx.is_connected(pg.to_networkx(g))
    np.testing.assert_array_equal(g.edges, pg.random_regular(KEY, 30, 3).edges)
    assert _canon(g.edges) != _canon(pg.random_regular(jax.random.key(1), 30, 3).edges)
    g2 = pg.random_regular(jax.random.PRNGKey(7), 20, 2)     # one cycle through 20 nodes
    assert np.all(pg.degrees(g2) == 2) and len(set(pg.connected_components(g2))) == 1


@pytest.mark.parametrize("n,z,dim", [(60, 2.5, 2), (60, 4.0, 2), (80, 6.0, 2), (50, 5.0, 3)])
def test_random_geometric_against_euclidean_mst(n, z, dim):
    g = pg.random_geometric(KEY, n, z, dim=dim)
    assert abs(pg.mean_coordination(g) - z) <= 1 / n
    assert g.n_edges == round(n * z / 2)
    pg.check_connected(g)
    p = np.asarray(g.positions, dtype=np.float64)
    assert p.shape == (n, dim) and np.all((p >= 0) & (p < 1))
    # Independent construction: the graph is the Euclidean MST plus the shortest pairs.
    complete = nx.Graph()
    for i in range(n):
        for j in range(i + 1, n):
            complete.add_edge(i, j, weight=np.linalg.norm(p[i] - p[j]))
    mst = _canon(nx.minimum_spanning_tree(complete).edges())
    edges = _canon(g.edges)
    assert mst <= edges
    length = {e: complete.edges[e]["weight"] for e in complete.edges()}
    extra = [length[e] for e in edges - mst]
    missing = [length[e] for e in set(length) - edges]
    assert max(extra, default=0.0) <= min(missing) + 1e-6


def test_random_builders_deterministic_and_independent_of_x64():
    g = pg.random_geometric(KEY, 40, 4.0)
    with jax.enable_x64(True):
        g64 = pg.random_geometric(KEY, 40, 4.0)
        r64 = pg.random_regular(KEY, 16, 3)
    assert _canon(g.edges) == _canon(g64.edges)
    np.testing.assert_allclose(g.positions, g64.positions, rtol=1e-7)
    assert _canon(pg.random_regular(KEY, 16, 3).edges) == _canon(r64.edges)
    assert _canon(pg.random_geometric(jax.random.key(9), 40, 4.0).edges) != _canon(g.edges)


def test_networkx_round_trip():
    g = pg.triangular_grid(3, 4)
    h = pg.to_networkx(g)
    assert h.number_of_nodes() == 12 and h.number_of_edges() == g.n_edges
    assert all(h.edges[tuple(map(int, e))]["index"] == i for i, e in enumerate(g.edges))
    back = pg.from_networkx(h)
    assert back.n_nodes == g.n_nodes and _canon(back.edges) == _canon(g.edges)
    np.testing.assert_array_equal(back.positions, g.positions)
    # non-integer labels are relabelled in node order; "pos" attributes become positions
    grid = nx.grid_2d_graph(3, 2)
    nx.set_node_attributes(grid, {u: (float(u[1]), float(u[0])) for u in grid}, "pos")
    gg = pg.from_networkx(grid)
    nodes = list(grid.nodes)
    assert _canon(gg.edges) == {tuple(sorted((nodes.index(u), nodes.index(v))))
                                for u, v in grid.edges()}
    np.testing.assert_array_equal(gg.positions, [(u[1], u[0]) for u in nodes])
    pos = {u: (1.0 * i, 0.0, 2.0) for i, u in enumerate(nodes)}
    assert pg.from_networkx(grid, positions=pos).dim == 3
    assert pg.from_networkx(nx.path_graph(4)).positions is None


def test_check_connected_names_nodes():
    with pytest.raises(ValueError, match=r"network is not connected: it has 3 connected "
                                         r"components.*\[3, 4, 5, 6\]"):
        pg.check_connected(_disconnected(), name="network")
    labels = pg.connected_components(_disconnected())
    np.testing.assert_array_equal(labels, [0, 0, 0, 1, 1, 1, 2])
    big = pg.from_edge_list([[0, 1]], 40)
    with pytest.raises(ValueError, match="and 18 more"):
        pg.check_connected(big)


def test_remove_edges():
    g = pg.square_grid(2, 3)           # 7 edges
    r = pg.remove_edges(g, [0, 5])
    np.testing.assert_array_equal(r.edges, np.delete(np.asarray(g.edges), [0, 5], axis=0))
    assert r.n_nodes == 6
    np.testing.assert_array_equal(r.positions, g.positions)
    mask = np.zeros(7, bool)
    mask[[0, 5]] = True
    np.testing.assert_array_equal(pg.remove_edges(g, mask).edges, r.edges)
    assert pg.remove_edges(g, []).n_edges == 7
    cut = pg.remove_edges(pg.square_grid(1, 4), [1])
    assert len(set(pg.connected_components(cut).tolist())) == 2


def test_degrees_and_mean_coordination():
    g = pg.from_edge_list([[0, 1], [0, 2], [0, 3]], 5)
    np.testing.assert_array_equal(pg.degrees(g), [3, 1, 1, 1, 0])
    assert pg.mean_coordination(g) == pytest.approx(1.2)


BAD = [
    (lambda: pg.from_edge_list([[0, 0], [0, 1]]), ValueError, "self loops"),
    (lambda: pg.from_edge_list([[0, 1], [1, 0]]), ValueError, "duplicate edges.*0, 1"),
    (lambda: pg.from_edge_list([[0, 1], [1, 3]], 3), ValueError, r"edges.*\[0, 2\]"),
    (lambda: pg.from_edge_list([[0, -1]], 3), ValueError, "edges.*node indices"),
    (lambda: pg.from_edge_list([[0.0, 1.0]]), TypeError, "edges.*integer"),
    (lambda: pg.from_edge_list([0, 1, 2]), ValueError, r"edges.*\(n_edges, 2\)"),
    (lambda: pg.from_edge_list([], None), ValueError, "n_nodes"),
    (lambda: pg.from_edge_list([[0, 1]], 0), ValueError, "n_nodes"),
    (lambda: pg.from_edge_list([[0, 1]], 2.0), TypeError, "n_nodes"),
    (lambda: pg.from_edge_list([[0, 1]], 3, positions=np.zeros((2, 2))), ValueError,
     "positions"),
    (lambda: pg.from_edge_list([[0, 1]], positions=[[0.0], [np.nan]]), ValueError,
     "positions"),
    (lambda: pg.Graph(np.array([[0, 5]]), 3), ValueError, "edges"),
    (lambda: pg.square_grid(0), ValueError, "rows"),
    (lambda: pg.square_grid(3, 2.5), TypeError, "cols"),
    (lambda: pg.square_grid(1, 1), ValueError, "rows \\* cols"),
    (lambda: pg.square_grid(3, 2, periodic=True), ValueError, "cols"),
    (lambda: pg.square_grid(3, spacing=0.0), ValueError, "spacing"),
    (lambda: pg.triangular_grid(-2, 3), ValueError, "rows"),
    (lambda: pg.triangular_grid(3, spacing=np.inf), ValueError, "spacing"),
    (lambda: pg.random_regular(KEY, 10, 10), ValueError, "degree"),
    (lambda: pg.random_regular(KEY, 9, 3), ValueError, "degree \\* n_nodes"),
    (lambda: pg.random_regular(KEY, 10, 1), ValueError, "degree"),
    (lambda: pg.random_regular(KEY, 1, 1), ValueError, "n_nodes"),
    (lambda: pg.random_regular(0, 10, 3), TypeError, "key"),
    (lambda: pg.random_geometric(KEY, 10, 0.0), ValueError, "mean_coordination"),
    (lambda: pg.random_geometric(KEY, 10, 9.0), ValueError, "mean_coordination"),
    (lambda: pg.random_geometric(KEY, 10, 1.2), ValueError, "mean_coordination.*connected"),
    (lambda: pg.random_geometric(KEY, 10, np.nan), ValueError, "mean_coordination"),
    (lambda: pg.random_geometric(KEY, 10, 3.0, dim=0), ValueError, "dim"),
    (lambda: pg.random_geometric(jax.random.split(KEY, 2), 10, 3.0), ValueError, "key"),
    (lambda: pg.laplacian(pg.square_grid(2), jnp.ones(3)), ValueError, "weights"),
    (lambda: pg.laplacian(pg.square_grid(2), jnp.array([1.0, np.nan, 1, 1])), ValueError,
     "weights"),
    (lambda: pg.laplacian("graph", jnp.ones(4)), TypeError, "graph"),
    (lambda: pg.edge_differences(pg.square_grid(2), jnp.ones(5)), ValueError, "node_values"),
    (lambda: pg.node_divergence(pg.square_grid(2), jnp.ones((4, 2))), ValueError,
     "edge_values"),
    (lambda: pg.laplacian_matvec(pg.square_grid(2), jnp.ones(4), jnp.ones(3)), ValueError,
     "v must have 4"),
    (lambda: pg.from_networkx(nx.DiGraph([(0, 1)])), TypeError, "nx_graph"),
    (lambda: pg.from_networkx(nx.Graph([(0, 0), (0, 1)])), ValueError, "nx_graph.*self"),
    (lambda: pg.from_networkx([(0, 1)]), TypeError, "nx_graph"),
    (lambda: pg.from_networkx(nx.path_graph(3), positions={0: (0, 0)}), ValueError,
     "positions"),
    (lambda: pg.remove_edges(pg.square_grid(2), [4]), ValueError, "edge_indices"),
    (lambda: pg.remove_edges(pg.square_grid(2), [0.5]), TypeError, "edge_indices"),
    (lambda: pg.remove_edges(pg.square_grid(2), np.ones(3, bool)), ValueError,
     "edge_indices"),
    (lambda: pg.degrees(np.zeros((2, 2))), TypeError, "graph"),
]


@pytest.mark.parametrize("call,exc,match", BAD)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_host_functions_reject_traced_graphs():
    g = pg.square_grid(2)
    with pytest.raises(TypeError, match="graph.edges"):
        jax.jit(lambda g: pg.degrees(g).sum())(g)


def test_import_physjax_does_not_import_networkx_or_scipy():
    code = ("import sys, physjax; physjax.graphs.square_grid(3); "
            "assert 'networkx' not in sys.modules and 'scipy' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
