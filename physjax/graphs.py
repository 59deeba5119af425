"""Networks as graphs: incidence operators, Laplacians and builders.

A physical network (resistors, springs) lives on an undirected graph with N nodes and
Ne edges.  Edge ``e = (a, b)`` carries an orientation that fixes signs only: the
incidence matrix Δ (Ne × N) has ``Δ[e, a] = +1``, ``Δ[e, b] = -1``, so that
``(Δ V)_e = V_a − V_b`` is the voltage drop (or relative displacement) across the edge
and ``(Δᵀ f)_n = Σ_{e: a=n} f_e − Σ_{e: b=n} f_e`` is the net flux out of node ``n``.
The weighted Laplacian is ``L(w) = Δᵀ diag(w) Δ``.

The operators are pure and jit/vmap/grad-compatible and never build Δ unless asked
(:func:`incidence_matrix`): differences are gathers and divergences are segment sums.
Builders, connectivity checks and conversions run on the host with numpy/scipy/networkx
(imported lazily) and return a :class:`Graph` holding jnp arrays.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

from physjax import _graph_build
from physjax._array_types import (
    Array,
    ArrayLike,
    Bool,
    Float,
    Int,
    Key,
    Num,
    Real,
    Scalar,
    Shaped,
    Size,
)
from physjax._checks import (
    check_edge_array,
    check_finite,
    check_key,
    check_positions,
    check_positive_int,
    is_concrete,
)
from physjax._optional import require

__all__ = [
    "BiconnectedBlock", "Graph", "check_connected", "connected_components", "degrees",
    "edge_differences", "from_edge_list", "from_networkx", "incidence_matrix", "laplacian",
    "laplacian_matvec", "largest_biconnected_component", "mean_coordination",
    "node_divergence", "random_geometric", "random_regular", "remove_edges", "square_grid",
    "to_networkx", "triangular_grid",
]


def _default_float():
    return jax.dtypes.canonicalize_dtype(float)


class Graph(eqx.Module):
    """Undirected simple graph: ``edges[e] = (a, b)`` with ``a != b``; ΔV_e = V[a] − V[b].

    A pytree: ``edges`` (int32, shape (n_edges, 2)) and ``positions`` (float, shape
    (n_nodes, dim), or None) are leaves, ``n_nodes`` is static.  Concrete inputs are
    validated on construction (indices in range, no self loops, no duplicate edges).
    """

    edges: Int[Array, "e 2"]
    n_nodes: int = eqx.field(static=True)
    positions: Float[Array, "n d"] | None = None

    def __init__(self, edges: Int[ArrayLike, "e 2"] | Sequence[Sequence[int]], n_nodes: Size,
                 positions: Real[ArrayLike, "n d"] | Sequence[Sequence[Scalar]] | None = None):
        self.n_nodes = check_positive_int(n_nodes, "n_nodes")
        self.edges = check_edge_array(edges, self.n_nodes)
        self.positions = check_positions(positions, self.n_nodes)

    @property
    def n_edges(self) -> int:
        return self.edges.shape[0]

    @property
    def dim(self) -> int | None:
        return None if self.positions is None else self.positions.shape[1]


def _check_graph(graph, name: str = "graph") -> Graph:
    if not isinstance(graph, Graph):
        raise TypeError(f"{name} must be a physjax.graphs.Graph, got {type(graph).__name__}")
    return graph


def _host_edges(graph, name: str, fname: str) -> np.ndarray:
    _check_graph(graph, name)
    if not is_concrete(graph.edges):
        raise TypeError(f"{fname} runs on the host: {name}.edges must be concrete, "
                        f"got a traced value")
    return np.asarray(graph.edges)


def _axis(x, axis, size: int, name: str, what: str) -> int:
    if x.ndim == 0:
        raise ValueError(f"{name} must have an axis of length {size} ({what}), got a scalar")
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) \
            or not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis must be an integer in [{-x.ndim}, {x.ndim - 1}], got {axis!r}")
    if x.shape[axis] != size:
        raise ValueError(f"{name} must have {size} entries ({what}) along axis {axis}, "
                         f"got shape {x.shape}")
    return axis % x.ndim


def _edge_weights(graph, weights, name: str = "weights") -> jax.Array:
    w = jnp.asarray(check_finite(weights, name))
    if not jnp.issubdtype(w.dtype, jnp.inexact):
        w = w.astype(_default_float())
    _axis(w, -1, graph.n_edges, name, "one per edge")
    return w


def incidence_matrix(graph: Graph, dtype: DTypeLike | None = None) -> Shaped[Array, "e n"]:
    """Dense incidence matrix Δ, shape (n_edges, n_nodes): Δ[e, a] = +1, Δ[e, b] = −1.

    Every row sums to zero (Δ 1 = 0).  ``dtype`` defaults to JAX's default float.
    """
    _check_graph(graph)
    return _incidence(graph.edges, graph.n_nodes, jnp.dtype(dtype or _default_float()))


@partial(jax.jit, static_argnums=(1, 2))
def _incidence(edges, n_nodes, dtype):
    e = jnp.arange(edges.shape[0])
    d = jnp.zeros((edges.shape[0], n_nodes), dtype)
    return d.at[e, edges[:, 0]].set(1).at[e, edges[:, 1]].set(-1)


def edge_differences(graph: Graph, node_values: Num[ArrayLike, " ..."], *,
                     axis: int = -1) -> Num[Array, " ..."]:
    """(Δ x)_e = x[a_e] − x[b_e] along the node axis ``axis`` (a gather, no dense Δ).

    With ``axis=-1`` leading axes are batch axes; ``axis=0`` maps node vectors of shape
    (n_nodes, dim) (e.g. displacements) to edge vectors of shape (n_edges, dim).
    """
    _check_graph(graph)
    x = jnp.asarray(node_values)
    return _differences(graph.edges, x, _axis(x, axis, graph.n_nodes, "node_values",
                                              "one per node"))


@partial(jax.jit, static_argnums=2)
def _differences(edges, x, axis):
    return jnp.take(x, edges[:, 0], axis=axis) - jnp.take(x, edges[:, 1], axis=axis)


def node_divergence(graph: Graph, edge_values: Num[ArrayLike, " ..."], *,
                    axis: int = -1) -> Num[Array, " ..."]:
    """(Δᵀ f)_n = Σ_{e: a_e = n} f_e − Σ_{e: b_e = n} f_e, by a segment sum.

    The adjoint of :func:`edge_differences`: ⟨Δx, f⟩ = ⟨x, Δᵀf⟩.  For currents
    f_e = k_e ΔV_e it is the net current leaving each node (Kirchhoff residual).
    """
    _check_graph(graph)
    f = jnp.asarray(edge_values)
    axis = _axis(f, axis, graph.n_edges, "edge_values", "one per edge")
    return _divergence(graph.edges, f, graph.n_nodes, axis)


@partial(jax.jit, static_argnums=(2, 3))
def _divergence(edges, f, n_nodes, axis):
    f = jnp.moveaxis(f, axis, 0)
    out = jax.ops.segment_sum(jnp.concatenate([f, -f]), edges.T.reshape(-1),
                              num_segments=n_nodes)
    return jnp.moveaxis(out, 0, axis)


def laplacian(graph: Graph, weights: Real[ArrayLike, "*batch e"] | Sequence[Scalar]
              ) -> Float[Array, "*batch n n"]:
    """Dense weighted Laplacian L = Δᵀ diag(w) Δ, shape (..., n_nodes, n_nodes).

    Built by scatter-adding w_e at (a, a), (b, b) and −w_e at (a, b), (b, a); leading
    axes of ``weights`` (shape (..., n_edges)) are batch axes.  Linear, hence exactly
    differentiable, in w.  For w ≥ 0 it is symmetric positive semi-definite with one
    zero eigenvalue per connected component (constant on each component).
    """
    _check_graph(graph)
    return _laplacian(graph.edges, _edge_weights(graph, weights), graph.n_nodes)


@partial(jax.jit, static_argnums=2)
def _laplacian(edges, w, n_nodes):
    a, b = edges[:, 0], edges[:, 1]
    rows, cols = jnp.concatenate([a, b, a, b]), jnp.concatenate([a, b, b, a])
    vals = jnp.concatenate([w, w, -w, -w], axis=-1)
    out = jnp.zeros(w.shape[:-1] + (n_nodes, n_nodes), w.dtype)
    return out.at[..., rows, cols].add(vals)


def laplacian_matvec(graph: Graph, weights: Real[ArrayLike, "*#batch e"] | Sequence[Scalar],
                     v: Real[ArrayLike, "*#batch n"]) -> Float[Array, "*#batch n"]:
    """Matrix-free L(w) v = Δᵀ (w ⊙ Δ v); ``v`` has shape (..., n_nodes)."""
    w = _edge_weights(graph, weights)
    v = jnp.asarray(v)
    _axis(v, -1, graph.n_nodes, "v", "one per node")
    return _matvec(graph.edges, w, v, graph.n_nodes)


@partial(jax.jit, static_argnums=3)
def _matvec(edges, w, v, n_nodes):
    return _divergence(edges, w * _differences(edges, v, v.ndim - 1), n_nodes, -1)


# ----------------------------------------------------------------------------- host side

def degrees(graph: Graph) -> Int[np.ndarray, " n"]:
    """Coordination number z_n (number of edges touching node n), shape (n_nodes,)."""
    e = _host_edges(graph, "graph", "degrees")
    return np.bincount(e.ravel(), minlength=graph.n_nodes)


def mean_coordination(graph: Graph) -> float:
    """Mean coordination number ⟨z⟩ = 2 n_edges / n_nodes."""
    _check_graph(graph)
    return 2.0 * graph.n_edges / graph.n_nodes


def _components(n_nodes: int, edges: np.ndarray) -> tuple[int, np.ndarray]:
    """(number of components, component label of every node), labels numbered in order of
    each component's smallest node: every root hooks onto the smallest root it shares an
    edge with, then pointer jumping compresses the forest, until no edge joins two roots.
    Written here instead of ``scipy.sparse.csgraph.connected_components`` because importing
    ``scipy.sparse`` took 0.19 s, a fifth of the first ``networks.train`` call at 10x10."""
    parent = np.arange(n_nodes)
    edges = np.asarray(edges, dtype=np.intp).reshape(-1, 2)
    u, v = edges[:, 0], edges[:, 1]
    while True:
        ru, rv = parent[u], parent[v]          # roots: parent is fully compressed here
        if np.array_equal(ru, rv):
            break
        np.minimum.at(parent, np.maximum(ru, rv), np.minimum(ru, rv))
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    roots, labels = np.unique(parent, return_inverse=True)
    return len(roots), labels.astype(np.int32)


def connected_components(graph: Graph) -> Int[np.ndarray, " n"]:
    """Component label of every node (0, 1, ...; node 0 is in component 0)."""
    e = _host_edges(graph, "graph", "connected_components")
    return _components(graph.n_nodes, e)[1]


def check_connected(graph: Graph, name: str = "graph") -> None:
    """Raise ``ValueError`` naming ``name``, the number of components and the nodes
    outside the largest one, unless ``graph`` is connected (its Laplacian then has a
    single zero mode, the constant vector)."""
    e = _host_edges(graph, name, "check_connected")
    n_comp, labels = _components(graph.n_nodes, e)
    if n_comp == 1:
        return
    sizes = np.bincount(labels)
    outside = np.flatnonzero(labels != np.argmax(sizes))
    shown = outside[:20].tolist()
    more = f" and {outside.size - 20} more" if outside.size > 20 else ""
    raise ValueError(
        f"{name} is not connected: it has {n_comp} connected components of sizes "
        f"{sorted(sizes.tolist(), reverse=True)[:10]}; nodes outside the largest component: "
        f"{shown}{more}. Its Laplacian is singular; connect or remove these nodes.")


def _real(value, name: str, lo: float, hi: float = math.inf) -> float:
    """A finite real number in the open interval (lo, hi)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or not lo < value < hi:
        raise ValueError(f"{name} must be a finite number in ({lo}, {hi}), got {value!r}")
    return float(value)


def _flag(value, name: str) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {value!r} of type "
                        f"{type(value).__name__}")
    return bool(value)


def _grid_sides(rows, cols, minimum: int = 1) -> tuple[int, int]:
    rows = check_positive_int(rows, "rows", minimum=minimum)
    cols = rows if cols is None else check_positive_int(cols, "cols", minimum=minimum)
    if rows * cols < 2:
        raise ValueError(f"rows * cols must be >= 2 (a network needs two nodes), "
                         f"got rows={rows}, cols={cols}")
    return rows, cols


def _pairs(*blocks) -> np.ndarray:
    return np.concatenate([np.stack([a.ravel(), b.ravel()], -1) for a, b in blocks])


def square_grid(rows: Size, cols: Size | None = None, *, periodic: bool = False,
                spacing: Scalar = 1.0) -> Graph:
    """Square lattice of rows × cols nodes, node (r, c) → index r·cols + c at position
    spacing·(c, r).  Open: rows(cols−1) + cols(rows−1) edges; ``periodic=True`` wraps both
    directions (a torus, rows, cols ≥ 3; the positions stay those of the open lattice):
    2·rows·cols edges, coordination 4 everywhere."""
    rows, cols = _grid_sides(rows, cols, minimum=3 if periodic else 1)
    spacing = _real(spacing, "spacing", 0)
    idx = np.arange(rows * cols).reshape(rows, cols)
    if periodic:
        edges = _pairs((idx, np.roll(idx, -1, 1)), (idx, np.roll(idx, -1, 0)))
    else:
        edges = _pairs((idx[:, :-1], idx[:, 1:]), (idx[:-1], idx[1:]))
    r, c = np.divmod(np.arange(rows * cols), cols)
    return Graph(edges, rows * cols, spacing * np.stack([c, r], -1).astype(np.float64))


def triangular_grid(rows: Size, cols: Size | None = None, *, spacing: Scalar = 1.0) -> Graph:
    """Triangular lattice: ``rows`` rows of ``cols`` nodes, odd rows shifted by spacing/2,
    row separation spacing·√3/2, so every edge has length ``spacing``.  Node (r, c) has
    index r·cols + c; bulk coordination 6; rows(cols−1) + (rows−1)(2cols−1) edges."""
    rows, cols = _grid_sides(rows, cols)
    spacing = _real(spacing, "spacing", 0)
    idx = np.arange(rows * cols).reshape(rows, cols)
    even, odd = idx[0:-1:2], idx[1:-1:2]    # rows r with r+1 < rows, by parity of r
    edges = _pairs((idx[:, :-1], idx[:, 1:]), (idx[:-1], idx[1:]),
                   (even[:, 1:], idx[1::2][:, :-1]), (odd[:, :-1], idx[2::2][:, 1:]))
    r, c = np.divmod(np.arange(rows * cols), cols)
    pos = np.stack([c + 0.5 * (r % 2), r * math.sqrt(3) / 2], -1)
    return Graph(edges, rows * cols, spacing * pos)


def random_regular(key: Key, n_nodes: Size, degree: Size, *, max_tries: int = 1000) -> Graph:
    """Connected random ``degree``-regular graph on ``n_nodes`` nodes (no positions).

    Samples ``networkx.random_regular_graph`` with seeds drawn from ``key`` and rejects
    disconnected samples (up to ``max_tries``), i.e. a uniform connected regular graph.
    """
    nx = require("networkx", by="physjax.graphs.random_regular")
    key = check_key(key)
    n_nodes = check_positive_int(n_nodes, "n_nodes", minimum=2)
    degree = check_positive_int(degree, "degree")
    if degree >= n_nodes:
        raise ValueError(f"degree must be < n_nodes={n_nodes}, got {degree}")
    if degree * n_nodes % 2:
        raise ValueError(f"degree * n_nodes must be even, got degree={degree}, "
                         f"n_nodes={n_nodes}")
    if degree == 1 and n_nodes > 2:
        raise ValueError(f"degree=1 gives a perfect matching, disconnected for "
                         f"n_nodes={n_nodes} > 2; use degree >= 2")
    rng = _graph_build.host_rng(key)
    for _ in range(max_tries):
        g = nx.random_regular_graph(degree, n_nodes, seed=int(rng.integers(2**62)))
        if nx.is_connected(g):
            return Graph(_graph_build.canonical_edges(list(g.edges())), n_nodes)
    raise RuntimeError(f"no connected {degree}-regular graph on {n_nodes} nodes in "
                       f"{max_tries} tries; increase degree or max_tries")


def random_geometric(key: Key, n_nodes: Size, mean_coordination: Scalar, *, dim: Size = 2,
                     biconnected: bool = False) -> Graph:
    """Connected random geometric network with a prescribed mean coordination.

    Points x_i are uniform in the unit cube [0, 1)^dim.  With m = round(n_nodes·z/2)
    target edges, the graph is the union of the k shortest pairs |x_i − x_j| and the
    Euclidean minimum spanning tree (the shortest edges that join the components left
    by the k shortest pairs).  That union has f(k) = k + c(k) − 1 edges, c(k) the number
    of components, and f grows by 0 or 1 per step, so k is chosen to give exactly m
    edges: the graph is connected and its mean coordination is 2m/n_nodes, within
    1/n_nodes of ``mean_coordination``.  Requires 2(n_nodes − 1)/n_nodes ≤ z < n_nodes − 1.

    At low coordination this graph is nearly a tree: the shortest pairs cluster in the
    dense regions and the sparse regions hang on by spanning-tree branches (bridges and
    articulation points).  Measured for n_nodes=120, dim=2, keys ``jax.random.key(0..19)``:
    the largest biconnected block (a maximal sub-graph with no articulation point) holds on
    average 23% of the nodes at z=4 (27 nodes; 14–42 over the 20 keys), 54% at z=5 (65
    nodes; 25–114) and 82% at z=6 (98 nodes; 49–119).  A node outside that block reaches it
    through a single node, so e.g. two targets in one dangling branch respond to the rest of
    the network only through that node, and a learning task on them cannot reach the full
    cost-Hessian rank n_targets × n_examples.  Biconnectivity removes that obstruction but
    does not guarantee the full rank for every placement (a pocket cut off by a source or
    ground node and one other node can still lower it).

    ``biconnected=True`` returns instead :func:`largest_biconnected_component` of that graph
    (ties between equal blocks go to the one with more edges, then the lowest node id): a
    biconnected graph, every node on a cycle, with *fewer nodes than requested* (the numbers
    above) and a higher mean coordination than requested (the tree branches removed: on the
    same keys ⟨z⟩ ≈ 4.77 at z=4, 5.55 at z=5, 6.34 at z=6).  Its nodes keep their positions and
    are relabelled 0..n−1 in increasing order of their index in the full graph.  It needs a
    cycle, i.e. mean_coordination > 2(n_nodes − 1)/n_nodes.  The default (False) is the
    full graph, unchanged.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import minimum_spanning_tree
    from scipy.spatial import cKDTree
    key = check_key(key)
    n = check_positive_int(n_nodes, "n_nodes", minimum=3)
    dim = check_positive_int(dim, "dim")
    z = _real(mean_coordination, "mean_coordination", 0, n - 1)
    biconnected = _flag(biconnected, "biconnected")
    m = int(round(n * z / 2))
    if m < n - 1:
        raise ValueError(f"mean_coordination={z} gives {m} edges, but a connected graph on "
                         f"{n} nodes needs n_nodes - 1 = {n - 1}: mean_coordination must be "
                         f">= {2 * (n - 1) / n:.4g}")
    if biconnected and m == n - 1:
        raise ValueError(f"mean_coordination={z} gives {m} = n_nodes - 1 edges, a spanning tree "
                         f"with no cycle, so biconnected=True has no block to return: "
                         f"mean_coordination must be > {2 * (n - 1) / n:.4g}")
    points = _graph_build.host_rng(key).random((n, dim))
    tree = cKDTree(points)
    ball = math.pi ** (dim / 2) / math.gamma(dim / 2 + 1)
    radius = (3.0 * m / (n * n * ball)) ** (1 / dim)     # about 1.5 m pairs in the bulk
    while True:      # all pairs within radius: >= m of them and a connected graph
        pairs = tree.query_pairs(radius, output_type="ndarray").reshape(-1, 2)
        if len(pairs) >= m and _components(n, pairs)[0] == 1:
            break
        radius *= 1.3
    length = np.linalg.norm(points[pairs[:, 0]] - points[pairs[:, 1]], axis=1)
    order = np.lexsort((pairs[:, 1], pairs[:, 0], length))
    pairs, length = pairs[order], length[order]
    # The radius graph is connected, so its MST is the Euclidean MST.
    mst = minimum_spanning_tree(coo_matrix((length, tuple(pairs.T)), (n, n))).tocoo()
    mst = np.sort(np.stack([mst.row, mst.col], -1), axis=1).astype(np.int64)
    in_mst = np.isin(pairs[:, 0].astype(np.int64) * n + pairs[:, 1], mst[:, 0] * n + mst[:, 1])
    f = np.arange(len(pairs) + 1) + (n - 1) - np.concatenate([[0], np.cumsum(in_mst)])
    k = int(np.searchsorted(f, m))
    edges = np.concatenate([pairs[:k], pairs[k:][in_mst[k:]]])
    assert len(edges) == m
    graph = Graph(_graph_build.canonical_edges(edges), n, points)
    return largest_biconnected_component(graph).graph if biconnected else graph


class BiconnectedBlock(NamedTuple):
    """Result of :func:`largest_biconnected_component`.

    ``graph``: the block, nodes relabelled 0..n−1; ``nodes[i]``: the index in the original
    graph of node i (increasing); ``edge_indices[j]``: the index in the original
    ``graph.edges`` of edge j (increasing), e.g. ``conductances[edge_indices]``.
    """

    graph: Graph
    nodes: Int[np.ndarray, " n"]
    edge_indices: Int[np.ndarray, " e"]


def largest_biconnected_component(graph: Graph) -> BiconnectedBlock:
    """The largest biconnected block of ``graph`` as a graph of its own.

    A biconnected block is a maximal sub-graph that stays connected when any one node is
    removed (``networkx.biconnected_components``); one with ≥ 3 nodes has every node and
    edge on a cycle.  The largest has the most nodes; ties go to the one with more edges,
    then to the one holding the lowest node index.  Its nodes are relabelled 0..n−1 in
    increasing order of their old index, its edges keep their order and orientation in
    ``graph.edges``, and positions (if any) are kept.  Raises ``ValueError`` if ``graph``
    has no cycle (a forest: every block is a single edge).
    """
    nx = require("networkx", by="physjax.graphs.largest_biconnected_component")
    e = _host_edges(graph, "graph", "largest_biconnected_component")
    h = nx.Graph()
    h.add_nodes_from(range(graph.n_nodes))
    h.add_edges_from(e.tolist())
    blocks = [b for b in nx.biconnected_components(h) if len(b) >= 3]
    if not blocks:
        raise ValueError(f"graph has no cycle ({graph.n_nodes} nodes, {graph.n_edges} edges: "
                         f"a forest), so no biconnected block with >= 3 nodes; every edge is "
                         f"a bridge")

    def size(block):
        sub = h.subgraph(block)
        return len(block), sub.number_of_edges(), -min(block)

    nodes = np.array(sorted(max(blocks, key=size)), dtype=np.int64)
    keep = np.zeros(graph.n_nodes, bool)
    keep[nodes] = True
    edge_indices = np.flatnonzero(keep[e[:, 0]] & keep[e[:, 1]])
    index = np.cumsum(keep) - 1
    positions = graph.positions
    if positions is not None:       # on the host: a jnp gather would compile per block size
        positions = np.asarray(positions)[nodes] if is_concrete(positions) \
            else positions[nodes]
    sub = Graph(index[e[edge_indices]], len(nodes), positions)
    return BiconnectedBlock(sub, nodes, edge_indices)


def from_edge_list(edges: Int[ArrayLike, "e 2"] | Sequence[Sequence[int]],
                   n_nodes: Size | None = None, *,
                   positions: Real[ArrayLike, "n d"] | Sequence[Sequence[Scalar]] | None = None
                   ) -> Graph:
    """Graph from (a, b) pairs, keeping their order and orientation.

    ``n_nodes`` defaults to ``len(positions)`` or to 1 + the largest index.  Rejects
    non-integer indices, indices out of range, self loops and duplicate edges (in either
    orientation), and positions that are not finite of shape (n_nodes, dim).
    """
    if not is_concrete(edges):
        raise TypeError("from_edge_list runs on the host: edges must be concrete")
    e = np.asarray(edges)
    if n_nodes is None and positions is not None:
        n_nodes = np.shape(positions)[0] if np.ndim(positions) else 1
    elif n_nodes is None:
        if e.size == 0:
            raise ValueError("n_nodes must be given when edges is empty")
        n_nodes = max(int(e.max()) + 1, 1) if np.issubdtype(e.dtype, np.integer) else 1
    return Graph(e, n_nodes, positions)


def from_networkx(nx_graph: Any, *,
                  positions: Real[ArrayLike, "n d"] | Mapping[Any, Any] | None = None) -> Graph:
    """Graph from an undirected simple ``networkx.Graph``; node i is the i-th node of
    ``nx_graph.nodes``.  ``positions`` is an array (n_nodes, dim) or a mapping node →
    coordinates; if None, the node attribute ``"pos"`` is used when present."""
    nx = require("networkx", by="physjax.graphs.from_networkx")
    if not isinstance(nx_graph, nx.Graph):
        raise TypeError(f"nx_graph must be a networkx.Graph, got {type(nx_graph).__name__}")
    if nx_graph.is_directed() or nx_graph.is_multigraph():
        raise TypeError(f"nx_graph must be an undirected simple graph (networkx.Graph), "
                        f"got {type(nx_graph).__name__}")
    nodes = list(nx_graph.nodes)
    if not nodes:
        raise ValueError("nx_graph has no nodes")
    loops = list(nx.selfloop_edges(nx_graph))
    if loops:
        raise ValueError(f"nx_graph must not contain self loops, found {loops[:5]}")
    index = {u: i for i, u in enumerate(nodes)}
    edges = np.array([(index[u], index[v]) for u, v in nx_graph.edges()],
                     dtype=np.int64).reshape(-1, 2)
    name = "positions"
    if positions is None:
        name, positions = "nx_graph node attribute 'pos'", nx.get_node_attributes(nx_graph, "pos")
    if isinstance(positions, Mapping) and positions:
        missing = [u for u in nodes if u not in positions][:5]
        if missing:
            raise ValueError(f"{name} has no entry for nodes {missing}")
        positions = np.array([np.asarray(positions[u], dtype=float) for u in nodes])
    positions = None if isinstance(positions, Mapping) else positions
    return Graph(edges, len(nodes), positions)


def to_networkx(graph: Graph) -> Any:
    """``networkx.Graph`` with nodes 0..n_nodes−1 (attribute ``"pos"`` when the graph has
    positions) and edges carrying their index in ``graph.edges`` as attribute ``"index"``."""
    nx = require("networkx", by="physjax.graphs.to_networkx")
    e = _host_edges(graph, "graph", "to_networkx")
    g = nx.Graph()
    g.add_nodes_from(range(graph.n_nodes))
    if graph.positions is not None:
        for i, p in enumerate(np.asarray(graph.positions).tolist()):
            g.nodes[i]["pos"] = tuple(p)
    g.add_edges_from((int(a), int(b), {"index": i}) for i, (a, b) in enumerate(e))
    return g


def remove_edges(graph: Graph,
                 edge_indices: Int[ArrayLike, " ..."] | Bool[ArrayLike, " e"] | Sequence[int]
                 ) -> Graph:
    """Graph without the edges ``edge_indices`` (integer indices, or a boolean mask of
    length n_edges); the other edges keep their order, nodes and positions are kept.
    The result may be disconnected: see :func:`check_connected`."""
    e = _host_edges(graph, "graph", "remove_edges")
    if not is_concrete(edge_indices):
        raise TypeError("remove_edges runs on the host: edge_indices must be concrete")
    idx = np.asarray(edge_indices)
    n_e = graph.n_edges
    if idx.dtype == np.bool_ and idx.shape != (n_e,):
        raise ValueError(f"edge_indices as a boolean mask must have shape ({n_e},), "
                         f"got {idx.shape}")
    if idx.dtype != np.bool_:
        idx = idx.astype(np.int64) if idx.size == 0 else idx
        if not np.issubdtype(idx.dtype, np.integer) or idx.ndim > 1:
            raise TypeError(f"edge_indices must be integers (or a boolean mask), "
                            f"got dtype {idx.dtype} shape {idx.shape}")
        if np.any((idx < 0) | (idx >= n_e)):
            raise ValueError(f"edge_indices must be in [0, {n_e - 1}], got "
                             f"{idx[(idx < 0) | (idx >= n_e)][:5].tolist()}")
    drop = idx if idx.dtype == np.bool_ else np.isin(np.arange(n_e), idx)
    return Graph(e[~drop], graph.n_nodes, graph.positions)
