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


@pytest.mark.parametrize("n,z,dim,seed", [(120, 4.0, 2, 0), (120, 5.0, 2, 1), (60, 3.0, 2, 2),
                                         (80, 6.0, 2, 3), (50, 4.0, 3, 4), (30, 2.1, 2, 5)])
def test_random_geometric_biconnected(n, z, dim, seed):
    key = jax.random.key(seed)
    full = pg.random_geometric(key, n, z, dim=dim)
    assert _canon(pg.random_geometric(key, n, z, dim=dim, biconnected=False).edges) \
        == _canon(full.edges)                                   # the default is unchanged
    g = pg.random_geometric(key, n, z, dim=dim, biconnected=True)
    h = pg.to_networkx(g)
    assert nx.is_biconnected(h) and not list(nx.articulation_points(h))
    assert g.n_nodes >= 3 and min(pg.degrees(g)) >= 2 and not nx.has_bridges(h)
    # it is the largest block of the full graph: positions kept, edges the induced ones
    block = pg.largest_biconnected_component(full)
    assert _canon(g.edges) == _canon(block.graph.edges)
    np.testing.assert_array_equal(g.positions, np.asarray(full.positions)[block.nodes])
    hf = pg.to_networkx(full)
    assert g.n_nodes == max(len(b) for b in nx.biconnected_components(hf)) < n
    assert _canon(g.edges) == _canon(nx.convert_node_labels_to_integers(
        hf.subgraph(block.nodes.tolist()), ordering="sorted").edges())


def test_random_geometric_default_is_nearly_a_tree_at_low_coordination():
    # the docstring's numbers: n=120, keys 0..19, mean fraction of nodes in the largest block
    fractions = {z: np.mean([pg.random_geometric(jax.random.key(s), 120, z, biconnected=True)
                             .n_nodes / 120 for s in range(20)]) for z in (4.0, 5.0, 6.0)}
    assert fractions[4.0] == pytest.approx(0.226, abs=0.001)
    assert fractions[5.0] == pytest.approx(0.542, abs=0.001)
    assert fractions[6.0] == pytest.approx(0.820, abs=0.001)


def _bridged():
    # triangle {0, 1, 2} - path 2-3-4 - block {4, 5, 6, 7} (a square 4-5-6-7 with chord 5-7),
    # node 8 hanging off 6; edges in a scrambled order and orientation
    edges = [[1, 0], [3, 2], [5, 4], [2, 1], [4, 3], [6, 5], [8, 6], [4, 7], [0, 2], [7, 6],
             [5, 7]]
    positions = np.arange(18.0).reshape(9, 2)
    return pg.from_edge_list(edges, positions=positions)


def test_largest_biconnected_component_hand_built():
    g = _bridged()
    block = pg.largest_biconnected_component(g)
    sub, nodes, edge_indices = block                                # a NamedTuple
    assert isinstance(block, pg.BiconnectedBlock) and sub is block.graph
    np.testing.assert_array_equal(nodes, [4, 5, 6, 7])
    np.testing.assert_array_equal(edge_indices, [2, 5, 7, 9, 10])
    # edges keep their order and orientation in g.edges, relabelled 4..7 -> 0..3
    np.testing.assert_array_equal(sub.edges, [[1, 0], [2, 1], [0, 3], [3, 2], [1, 3]])
    np.testing.assert_array_equal(np.asarray(g.edges)[edge_indices], nodes[np.asarray(sub.edges)])
    np.testing.assert_array_equal(sub.positions, np.asarray(g.positions)[nodes])
    assert sub.n_nodes == 4 and sub.n_edges == 5 and nx.is_biconnected(pg.to_networkx(sub))
    # two triangles joined by a bridge path: a tie, won by the block holding node 0 ...
    two = pg.from_edge_list([[3, 4], [4, 5], [5, 3], [5, 6], [6, 2], [2, 1], [1, 0], [0, 2]])
    tie = pg.largest_biconnected_component(two)
    np.testing.assert_array_equal(tie.nodes, [0, 1, 2])
    np.testing.assert_array_equal(tie.edge_indices, [5, 6, 7])
    np.testing.assert_array_equal(tie.graph.edges, [[2, 1], [1, 0], [0, 2]])
    assert tie.graph.positions is None
    # ... unless the other has more edges (two triangles sharing an edge: a 4-node block)
    more = pg.from_edge_list([[3, 4], [4, 5], [5, 3], [5, 6], [6, 2], [2, 1], [1, 0], [0, 2],
                              [3, 7], [7, 4]])
    np.testing.assert_array_equal(pg.largest_biconnected_component(more).nodes, [3, 4, 5, 7])
    # an already biconnected graph is returned whole, in the same order
    ring = pg.triangular_grid(3, 4)
    whole = pg.largest_biconnected_component(ring)
    np.testing.assert_array_equal(whole.graph.edges, ring.edges)
    np.testing.assert_array_equal(whole.nodes, np.arange(12))


def _solved_task(g, k, nodes, n_sources, n_targets, inputs):
    """Task with sources, targets and one ground at ``nodes`` whose desired outputs are the
    free state at ``k``: the cost vanishes there and its Hessian is the Gauss-Newton one."""
    from physjax import networks as N
    src, tgt, gnd = (nodes[:n_sources], nodes[n_sources:n_sources + n_targets],
                     nodes[n_sources + n_targets:])
    zero = np.zeros((len(inputs), n_targets))
    free = N.free_state(g, k, N.make_task(src, tgt, inputs, desired=zero, ground_nodes=gnd,
                                          n_nodes=g.n_nodes), solver="dense")
    return N.make_task(src, tgt, inputs, desired=np.asarray(free)[:, tgt], ground_nodes=gnd,
                       n_nodes=g.n_nodes)


def _hessian_rank(g, k, task):
    from physjax import networks as N
    assert float(N.cost(g, k, task)) < 1e-25
    return np.linalg.matrix_rank(np.asarray(N.cost_hessian(g, k, task)), hermitian=True)


def test_biconnected_network_reaches_full_cost_hessian_rank():
    """A resistor task (2 voltage sources, 1 ground, 2 targets, 2 examples) has at most
    n_targets x n_examples = 4 stiff cost-Hessian directions.  Two targets in one tree branch
    hanging off an articulation point y see the rest of the network only through y (same
    free-state voltage, same Green's function outside the branch), so they give one target's
    rows: rank 2.  On the biconnected block no such branch exists and the same task with
    sources and targets drawn at random reaches the full rank 4 here.  Biconnectivity removes
    this obstruction only: a pocket cut off by a fixed node and one other node can still lower
    the rank, so not every placement does (measured for this task at n=60, z=5, keys 0..19,
    10 random placements each: 185/200 reach rank 4 on the block, 136/200 on the full graph)."""
    with jax.enable_x64(True):
        key = jax.random.key(1)
        full = pg.random_geometric(key, 60, 5.0)
        block = pg.largest_biconnected_component(full)
        h = pg.to_networkx(full)
        inner = set(block.nodes.tolist())
        rng = np.random.default_rng(0)
        inputs = rng.normal(size=(2, 2))
        # a branch: a component of full - {y} with >= 2 nodes, outside the block
        y, branch = next((y, c) for y in sorted(nx.articulation_points(h))
                         for c in nx.connected_components(h.subgraph(set(h) - {y}))
                         if len(c) >= 2 and not c & inner)
        targets = sorted(branch)[:2]
        others = rng.choice(sorted(inner - {y}), 3, replace=False).tolist()
        nodes = others[:2] + targets + others[2:]
        k = jnp.asarray(rng.uniform(0.5, 1.5, full.n_edges))
        assert _hessian_rank(full, k, _solved_task(full, k, nodes, 2, 2, inputs)) == 2
        for seed in range(2):
            g = pg.random_geometric(jax.random.key(seed), 60, 5.0, biconnected=True)
            assert g.n_edges >= 4
            k = jnp.asarray(rng.uniform(0.5, 1.5, g.n_edges))
            nodes = rng.choice(g.n_nodes, 5, replace=False).tolist()
            assert _hessian_rank(g, k, _solved_task(g, k, nodes, 2, 2, inputs)) == 2 * 2


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


@pytest.mark.parametrize("seed", range(4))
def test_connected_components_match_networkx_on_random_sparse_graphs(seed):
    """Labels against networkx on random graphs near the percolation threshold (many
    components, long chains; node labels shuffled so no order helps): same partition, and
    components numbered in order of their smallest node."""
    rng = np.random.default_rng(seed)
    n = 300
    h = nx.gnm_random_graph(n, 160 + 40 * seed, seed=seed)
    h = nx.relabel_nodes(h, dict(enumerate(rng.permutation(n).tolist())))
    g = pg.from_edge_list(np.array(h.edges, dtype=np.int64).reshape(-1, 2), n)
    labels = pg.connected_components(g)
    comps = sorted((sorted(c) for c in nx.connected_components(h)), key=min)
    expected = np.empty(n, int)
    for i, c in enumerate(comps):
        expected[c] = i
    np.testing.assert_array_equal(labels, expected)


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
    (lambda: pg.random_geometric(KEY, 10, 1.8, biconnected=True), ValueError,
     "mean_coordination.*no cycle"),
    (lambda: pg.random_geometric(KEY, 10, 3.0, biconnected=1), TypeError, "biconnected"),
    (lambda: pg.largest_biconnected_component(pg.square_grid(1, 5)), ValueError,
     "graph has no cycle"),
    (lambda: pg.largest_biconnected_component(pg.from_edge_list([[0, 1], [2, 3], [1, 4]])),
     ValueError, "graph has no cycle.*forest"),
    (lambda: pg.largest_biconnected_component(pg.from_edge_list(np.zeros((0, 2), int), 3)),
     ValueError, "graph has no cycle"),
    (lambda: pg.largest_biconnected_component(nx.cycle_graph(4)), TypeError, "graph must be"),
    (lambda: pg.largest_biconnected_component(np.array([[0, 1], [1, 2], [2, 0]])), TypeError,
     "graph must be"),
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
