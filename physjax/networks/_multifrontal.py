r"""Sparse Cholesky of network matrices by nested dissection and level-batched multifrontal
factorization, written for ``jit`` and ``vmap`` over ensembles.

**Ordering (host side, once per graph).**  Nested dissection of the node graph: a connected
part larger than ``leaf_size`` nodes is split at the median of its Fiedler vector (the
eigenvector of the second-smallest eigenvalue of its graph Laplacian, ``scipy``), the
*separator* is the smaller of the two sets of nodes that touch the other side, and both
sides are dissected in turn; disconnected parts are dissected separately.  A separator is
eliminated after everything below it, so the elimination tree is the separator tree: its
depth grows like :math:`\log n` and its fronts stay small (a 2-D network of n nodes has
separators of :math:`O(\sqrt n)` nodes), which cuts the factorization work from the
:math:`O(n b^2)` of a banded Cholesky (:math:`b \sim \sqrt n` for 2-D networks, wider on
periodic ones) to :math:`O(n^{3/2})` with a small constant.  The d degrees of freedom of a
node stay together; eliminated degrees of freedom (fixed nodes, pinned dofs) are left out.

**Fronts.**  Tree node t owns the pivots of its separator (or leaf) and a *boundary*: the
ancestors' degrees of freedom adjacent to its subtree, which is exactly where its Schur
complement (the update matrix) lands.  Fronts of the same height in the tree are
independent: they are padded to a common size, stacked, and factored together by one
batched Cholesky, one batched triangular inverse and matrix products
(:math:`L_{11}L_{11}^\top = F_{11}`, :math:`L_{21} = F_{21}L_{11}^{-\top}`,
:math:`U = F_{22} - L_{21}L_{21}^\top`), so a factorization is a handful of XLA operations
per level (about :math:`\log_2 n` levels) instead of one per block of a band; ``vmap`` over
an ensemble batches them further.  Original entries are scattered into the fronts by
precomputed flat indices (from edge indices that may be traced, as for the banded solver),
and each update matrix is added into its parent's front by precomputed gathers
("extend-add").  Padding pivots get a unit diagonal; padding boundary entries are dropped.

**Solves** go level by level: forward (bottom-up) :math:`y_t = L_{11}^{-1}b_t` then
:math:`b_{\partial t} \mathrel{-}= L_{21} y_t`; backward (top-down)
:math:`x_t = L_{11}^{-\top}(y_t - L_{21}^\top x_{\partial t})`, with the inverse factors
:math:`L_{11}^{-1}` kept from the factorization (matrix products only).

The factor is not differentiable by itself: callers wrap the solve in
``lax.custom_linear_solve`` with the matrix-free product (implicit differentiation).
(Hand-written: no JAX library offers a sparse direct solver that runs inside a compiled
CPU program and batches over an ensemble.)
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from physjax.networks import _small_linalg as _sl

LEAF_SIZE = 16  # nodes: leaves below this are factored as dense fronts


# ----------------------------------------------------------------------- ordering (host)

def _components(adj, nodes):
    from scipy.sparse.csgraph import connected_components
    sub = adj[nodes][:, nodes]
    n, labels = connected_components(sub, directed=False)
    return [nodes[labels == i] for i in range(n)]


def _fiedler(sub):
    """Fiedler vector of the connected graph with adjacency matrix ``sub``."""
    sub = sub.astype(float)
    n = sub.shape[0]
    deg = np.asarray(sub.sum(1)).ravel()
    if n <= 600:
        lap = np.diag(deg) - sub.toarray()
        _, vec = np.linalg.eigh(lap)
        return vec[:, 1]
    from scipy.sparse import diags
    from scipy.sparse.linalg import eigsh
    lap = (diags(deg) - sub).tocsc()
    # shift-invert just below zero: the two smallest eigenpairs of a connected Laplacian
    _, vec = eigsh(lap, k=2, sigma=-1e-3 * deg.mean(), which="LM",
                   v0=np.linspace(-1.0, 1.0, n))
    return vec[:, 1]


@dataclasses.dataclass
class _Tree:
    pivots: list      # node ids per tree node
    children: list    # tree-node ids per tree node
    parent: list


def _dissect(adj, nodes, leaf_size, tree: _Tree) -> list[int]:
    """Dissect ``nodes``; returns the roots of the subtrees made (one per component)."""
    roots = []
    for comp in _components(adj, nodes):
        if comp.size <= leaf_size:
            roots.append(_add(tree, comp, []))
            continue
        sub = adj[comp][:, comp]
        order = np.argsort(_fiedler(sub), kind="stable")
        side = np.zeros(comp.size, bool)
        side[order[comp.size // 2:]] = True
        sub = sub.tocoo()
        cut = side[sub.row] != side[sub.col]
        a_touch = np.unique(sub.row[cut & ~side[sub.row]])
        b_touch = np.unique(sub.row[cut & side[sub.row]])
        sep_local = a_touch if a_touch.size <= b_touch.size else b_touch
        mask = np.zeros(comp.size, bool)
        mask[sep_local] = True
        kids = []
        for part in (~side & ~mask, side & ~mask):
            if part.any():
                kids += _dissect(adj, comp[part], leaf_size, tree)
        roots.append(_add(tree, comp[mask], kids))
    return roots


def _add(tree, pivots, kids):
    t = len(tree.pivots)
    tree.pivots.append(np.asarray(pivots, np.int64))
    tree.children.append(list(kids))
    tree.parent.append(-1)
    for c in kids:
        tree.parent[c] = t
    return t


# ------------------------------------------------------------------------- the layout

@dataclasses.dataclass(frozen=True, eq=False)
class MultifrontalLayout:
    """Host-side symbolic factorization (nested dissection order, fronts grouped by level).

    ``position[v]`` is the elimination position of variable v (node-major v = node*d + axis),
    -1 for an eliminated variable.  Level l holds ``n_fronts[l]`` fronts of ``pivots[l]``
    pivot rows and ``boundary[l]`` boundary rows; ``piv_pos[l]`` / ``bnd_pos[l]`` give the
    elimination positions of those rows (``n_free`` for padding).  The fronts are stored
    flat, level after level: ``offset[l]`` is where level l starts (``size`` in all), and
    ``pad_diag`` lists the diagonal entries of padding pivots.  ``extend[l]`` is a list of
    (source level, source flat indices into its update matrices, target flat indices into
    level l's fronts).  Hashes by identity."""

    position: np.ndarray
    dofs_per_node: int
    n_free: int
    n_fronts: tuple
    pivots: tuple
    boundary: tuple
    piv_pos: tuple
    bnd_pos: tuple
    offset: tuple
    size: int
    extend: tuple
    pad_diag: np.ndarray  # flat storage indices of padding pivots' diagonal entries

    @property
    def n_levels(self) -> int:
        return len(self.n_fronts)

    @property
    def factor_flops(self) -> float:
        """Floating-point operations of one factorization, padding included."""
        return float(sum(n * (p**3 / 3 + p * p * r + p * r * r)
                         for n, p, r in zip(self.n_fronts, self.pivots, self.boundary,
                                            strict=True)))

    @property
    def largest_front(self) -> int:
        return max(p + r for p, r in zip(self.pivots, self.boundary, strict=True))


def multifrontal_layout(edges: np.ndarray, n_nodes: int, dofs_per_node: int = 1,
                        eliminated=(), leaf_size: int = LEAF_SIZE) -> MultifrontalLayout:
    """Nested-dissection :class:`MultifrontalLayout` of the graph ``edges`` (host side)."""
    from scipy.sparse import coo_matrix

    d = dofs_per_node
    edges = np.asarray(edges, np.int64).reshape(-1, 2)
    elim = np.zeros(n_nodes * d, bool)
    elim[np.asarray(eliminated, np.int64)] = True
    active = ~elim.reshape(n_nodes, d).all(1)
    e = edges[active[edges[:, 0]] & active[edges[:, 1]] & (edges[:, 0] != edges[:, 1])]
    adj = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n_nodes, n_nodes))
    adj = ((adj + adj.T) > 0).astype(np.int8).tocsr()

    tree = _Tree([], [], [])
    _dissect(adj, np.flatnonzero(active), leaf_size, tree)
    n_t = len(tree.pivots)
    # postorder is the creation order (children are created before their parent)
    height = np.zeros(n_t, np.int64)
    for t in range(n_t):
        if tree.children[t]:
            height[t] = 1 + max(height[c] for c in tree.children[t])
    # elimination order of the dofs: by tree node (postorder), node-major within
    dof_lists = []
    for t in range(n_t):
        v = (tree.pivots[t][:, None] * d + np.arange(d)).reshape(-1)
        dof_lists.append(v[~elim[v]])
    position = np.full(n_nodes * d, -1, np.int64)
    start = 0
    for t in range(n_t):
        position[dof_lists[t]] = np.arange(start, start + dof_lists[t].size)
        start += dof_lists[t].size
    n_free = start

    # boundary of t: ancestors' dofs adjacent to subtree(t) = (N(subtree) \ subtree);
    # computed bottom-up as (adjacent to own pivots  U  children's boundaries) minus own
    # (subtree(t) is adjacent only to itself and to ancestors, whose tree index is > t)
    tree_of = np.full(n_nodes, -1, np.int64)
    for t in range(n_t):
        tree_of[tree.pivots[t]] = t
    bnd_nodes = [None] * n_t
    for t in range(n_t):
        piv = tree.pivots[t]
        cand = [adj.indices[adj.indptr[i]:adj.indptr[i + 1]] for i in piv]
        cand += [bnd_nodes[c] for c in tree.children[t]]
        cand = np.unique(np.concatenate(cand)) if cand else np.zeros(0, np.int64)
        bnd_nodes[t] = cand[tree_of[cand] > t]
    bnd_dofs = []
    for t in range(n_t):
        v = (bnd_nodes[t][:, None] * d + np.arange(d)).reshape(-1)
        v = v[~elim[v]]
        bnd_dofs.append(v[np.argsort(position[v])])

    levels = [np.flatnonzero(height == h) for h in range(int(height.max()) + 1)]
    n_fronts, pivots, boundary, piv_pos, bnd_pos, offset = [], [], [], [], [], []
    slot = np.zeros(n_t, np.int64)      # index of t within its level
    off = 0
    for ts in levels:
        p = max(1, max(dof_lists[t].size for t in ts))
        r = max(bnd_dofs[t].size for t in ts)
        pp = np.full((ts.size, p), n_free, np.int64)
        bp = np.full((ts.size, r), n_free, np.int64)
        for i, t in enumerate(ts):
            slot[t] = i
            pp[i, :dof_lists[t].size] = position[dof_lists[t]]
            bp[i, :bnd_dofs[t].size] = position[bnd_dofs[t]]
        n_fronts.append(ts.size), pivots.append(p), boundary.append(r)
        piv_pos.append(pp), bnd_pos.append(bp), offset.append(off)
        off += ts.size * (p + r) ** 2
    size = off

    def local_index(t, pos):
        """Local row in front t of elimination positions ``pos`` (pivots then boundary)."""
        h = height[t]
        rows = np.concatenate([piv_pos[h][slot[t]], bnd_pos[h][slot[t]]])
        lookup = {int(q): i for i, q in enumerate(rows) if q < n_free}
        return np.array([lookup[int(q)] for q in pos], np.int64)

    extend = [[] for _ in levels]
    for c in range(n_t):
        parent = tree.parent[c]
        if parent < 0 or bnd_dofs[c].size == 0:
            continue
        hc, hp = height[c], height[parent]
        rc = boundary[hc]
        fp = pivots[hp] + boundary[hp]
        nb = bnd_dofs[c].size
        loc = local_index(parent, position[bnd_dofs[c]])
        ii, jj = np.meshgrid(np.arange(nb), np.arange(nb), indexing="ij")
        src = slot[c] * rc * rc + ii * rc + jj
        tgt = slot[parent] * fp * fp + loc[ii] * fp + loc[jj]
        extend[hp].append((hc, src.ravel(), tgt.ravel()))
    extend_merged = []
    for h in range(len(levels)):
        by_src = {}
        for hc, s, t in extend[h]:
            by_src.setdefault(hc, ([], []))
            by_src[hc][0].append(s), by_src[hc][1].append(t)
        extend_merged.append(tuple((hc, np.concatenate(s), np.concatenate(t))
                                   for hc, (s, t) in sorted(by_src.items())))
    pad = []
    for h in range(len(levels)):
        p, r = pivots[h], boundary[h]
        f = p + r
        i, j = np.nonzero(piv_pos[h] == n_free)
        pad.append(offset[h] + i * f * f + j * (f + 1))
    return MultifrontalLayout(position, d, n_free, tuple(n_fronts), tuple(pivots),
                              tuple(boundary), tuple(piv_pos), tuple(bnd_pos), tuple(offset),
                              size, tuple(extend_merged), np.concatenate(pad))


# ------------------------------------------------------------------ entries -> storage

@functools.lru_cache(maxsize=32)
def _front_lookup(layout: MultifrontalLayout):
    """Host arrays: for every elimination position, the level, slot and local pivot row of
    the front that eliminates it."""
    n = layout.n_free
    own_level = np.zeros(n, np.int64)
    own_slot = np.zeros(n, np.int64)
    own_row = np.zeros(n, np.int64)
    for h in range(layout.n_levels):
        pp = layout.piv_pos[h]
        i, j = np.nonzero(pp < n)
        own_level[pp[i, j]] = h
        own_slot[pp[i, j]] = i
        own_row[pp[i, j]] = j
    return own_level, own_slot, own_row


def entry_index(layout: MultifrontalLayout, rows: np.ndarray, cols: np.ndarray):
    """Flat storage indices of matrix entries (``rows``, ``cols``: variable ids, concrete,
    any shape; upper-triangle entries (their transposes are stored) and eliminated
    variables get index ``layout.size``, dropped by the scatter).  An entry belongs to
    the front that eliminates the earlier of its two variables (the other one is then a
    pivot or a boundary row of that front, by construction of the boundaries)."""
    pos = layout.position
    pr, pc = pos[rows], pos[cols]
    keep = (pr >= 0) & (pc >= 0) & (pr >= pc)   # lower triangle (the transposes are equal)
    pr, pc = np.where(keep, pr, 0), np.where(keep, pc, 0)
    first = np.minimum(pr, pc)
    other = np.maximum(pr, pc)
    own_level, own_slot, own_row = _front_lookup(layout)
    lev, slot, row = own_level[first], own_slot[first], own_row[first]
    out = np.full(first.shape, layout.size, np.int64)
    outside = np.zeros(first.shape, bool)
    for h in range(layout.n_levels):
        sel = keep & (lev == h)
        if not sel.any():
            continue
        p, r = layout.pivots[h], layout.boundary[h]
        f = p + r
        full = np.concatenate([layout.piv_pos[h], layout.bnd_pos[h]], 1)  # (n_f, f)
        s, o = slot[sel], other[sel]
        hit = full[s] == o[:, None]
        found = hit.any(1)
        col = np.argmax(hit, 1)
        idx = layout.offset[h] + s * f * f + np.maximum(row[sel], col) * f \
            + np.minimum(row[sel], col)
        out[sel] = np.where(found, idx, layout.size)
        outside[sel] = ~found
    return out, outside


# ------------------------------------------------------------------------ numeric phase

def factor(layout: MultifrontalLayout, index, values):
    """Scatter-add ``values`` at ``index`` (lower triangles of the fronts; see
    :func:`entry_index`), then factor level by level.  Returns the per-level
    ``(L11^-1, L21)`` (not differentiable; the solves differentiate implicitly).

    jaxlib's batched CPU LAPACK kernels (0.10) split their batch over XLA's thread pool and
    block until it is done; two of them running at once can deadlock the pool on a 2-core
    machine (observed).  So the only LAPACK calls are a Cholesky and a triangular inverse per
    level, chained level after level by an optimization barrier, and they go through
    :mod:`._small_linalg`, which loops over the fronts (and ensemble members) with one-matrix
    LAPACK calls on the CPU; everything else, solves included, is matrix products."""
    flat = jnp.zeros((layout.size,), values.dtype)
    flat = flat.at[index.reshape(-1)].add(values.reshape(-1), mode="drop")
    flat = flat.at[layout.pad_diag].set(1.0)
    flat = jax.lax.stop_gradient(flat)
    updates, out = [], []
    for h in range(layout.n_levels):
        n, p, r = layout.n_fronts[h], layout.pivots[h], layout.boundary[h]
        f = p + r
        fronts = flat[layout.offset[h]: layout.offset[h] + n * f * f]
        for hc, src, tgt in layout.extend[h]:
            fronts = fronts.at[tgt].add(updates[hc].reshape(-1)[src])
        fronts = fronts.reshape(n, f, f)
        if out:
            # the LAPACK calls of a level must not overlap those of the level below (they
            # already depend on its update matrices, except through padding): two batched
            # LAPACK kernels at once can deadlock XLA's CPU thread pool (see ``solve``)
            fronts, _ = jax.lax.optimization_barrier((fronts, out[-1]))
        l11 = _sl.cholesky(fronts[:, :p, :p])
        # the inverse factor: the rest of the factorization and the solves are then matrix
        # products (XLA's own), and the only LAPACK calls are these two per level, in a chain
        eye = jnp.broadcast_to(jnp.eye(p, dtype=values.dtype), (n, p, p))
        l11_inv = _sl.triangular_solve(l11, eye, left_side=True, lower=True)
        if r:
            l21 = fronts[:, p:, :p] @ jnp.swapaxes(l11_inv, 1, 2)
            upd = fronts[:, p:, p:] - l21 @ jnp.swapaxes(l21, 1, 2)
        else:
            l21 = jnp.zeros((n, 0, p), values.dtype)
            upd = jnp.zeros((n, 0, 0), values.dtype)
        updates.append(upd)
        out.append((l11_inv, l21))
    return tuple(out)


def solve(layout: MultifrontalLayout, fac, rhs):
    """Solve with the factor; ``rhs`` ``(n_variables, m)``; zero on eliminated variables."""
    n_free = layout.n_free
    m = rhs.shape[1]
    pos = np.where(layout.position >= 0, layout.position, n_free + 1)
    z = jnp.zeros((n_free + 1, m), rhs.dtype).at[pos].set(rhs, mode="drop")
    ys = []
    for h in range(layout.n_levels):
        l11_inv, l21 = fac[h]
        pp = layout.piv_pos[h]
        y = l11_inv @ z[pp]                                          # (n, p, m)
        ys.append(y)
        if layout.boundary[h]:
            z = z.at[layout.bnd_pos[h]].add(-(l21 @ y))
        z = z.at[pp].set(y).at[n_free].set(0.0)
    x = jnp.zeros((n_free + 1, m), rhs.dtype)
    for h in reversed(range(layout.n_levels)):
        l11_inv, l21 = fac[h]
        y = ys[h]
        if layout.boundary[h]:
            y = y - jnp.swapaxes(l21, 1, 2) @ x[layout.bnd_pos[h]]
        x = x.at[layout.piv_pos[h]].set(jnp.swapaxes(l11_inv, 1, 2) @ y).at[n_free].set(0.0)
    return jnp.where((layout.position >= 0)[:, None], x[np.maximum(layout.position, 0)], 0.0)


# ------------------------------------------------------------- edges of a network -> index

@dataclasses.dataclass(frozen=True, eq=False)
class EdgeEntries:
    """Storage indices of the ``[aa, bb, ab, ba]`` blocks of every edge of the graph a
    layout was built for (``index``, shape ``(n_edges, 4, d, d)``), and its neighbour table
    (``neighbors``/``neighbor_edge``, ``(n_nodes, max_degree)``, -1 padded) to find the edge
    id of an edge given by its endpoints -- also when those are traced (an ensemble member
    whose bonds are a subset of the plan network's).  Hashes by identity."""

    index: np.ndarray
    neighbors: np.ndarray
    neighbor_edge: np.ndarray


def edge_entries(layout: MultifrontalLayout, edges: np.ndarray) -> EdgeEntries:
    """Host-side :class:`EdgeEntries` of the concrete ``edges`` the layout was built for."""
    d = layout.dofs_per_node
    edges = np.asarray(edges, np.int64).reshape(-1, 2)
    a, b = edges[:, 0], edges[:, 1]
    rows = np.stack([a, b, a, b], 1)[..., None] * d + np.arange(d)            # (E, 4, d)
    cols = np.stack([a, b, b, a], 1)[..., None] * d + np.arange(d)
    rows = np.broadcast_to(rows[..., :, None], rows.shape + (d,))
    cols = np.broadcast_to(cols[..., None, :], cols.shape[:2] + (d, d))
    index, outside = entry_index(layout, rows, cols)
    if outside.any():
        raise AssertionError("multifrontal layout does not hold its own edges")
    n_nodes = layout.position.size // d
    ends = np.concatenate([edges, edges[:, ::-1]])
    ids = np.concatenate([np.arange(len(edges))] * 2)
    order = np.lexsort((ends[:, 1], ends[:, 0]))
    ends, ids = ends[order], ids[order]
    deg = np.bincount(ends[:, 0], minlength=n_nodes)
    width = max(1, int(deg.max(initial=0)))
    slot = np.arange(len(ends)) - np.repeat(np.cumsum(deg) - deg, deg)
    neighbors = np.full((n_nodes, width), -1, np.int64)
    neighbor_edge = np.zeros((n_nodes, width), np.int64)
    neighbors[ends[:, 0], slot] = ends[:, 1]
    neighbor_edge[ends[:, 0], slot] = ids
    return EdgeEntries(index, neighbors, neighbor_edge)


def edge_entry_index(layout: MultifrontalLayout, entries: EdgeEntries, edges, xp=np):
    """Storage indices ``(n_edges, 4, d, d)`` of the blocks of ``edges`` (concrete with
    ``xp=numpy`` or traced with ``jax.numpy``) and the mask of edges that are not edges of
    the plan's graph (their entries get index ``layout.size``: dropped).  Block values do
    not depend on an edge's orientation (``aa``/``bb`` and ``ab``/``ba`` carry the same
    values), so an edge given as (b, a) uses the entries of (a, b)."""
    a, b = edges[:, 0], edges[:, 1]
    nb = xp.asarray(entries.neighbors)[a]                                 # (n, width)
    hit = nb == b[:, None]
    found = hit.any(axis=1)
    eid = xp.take_along_axis(xp.asarray(entries.neighbor_edge)[a],
                             xp.argmax(hit, axis=1)[:, None], axis=1)[:, 0]
    index = xp.where(found[:, None, None, None], xp.asarray(entries.index)[eid], layout.size)
    return index, ~found
