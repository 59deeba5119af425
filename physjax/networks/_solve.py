r"""Solves with the reduced Laplacian :math:`H_{ff}` of a network, differentiated implicitly,
and the banded block-Cholesky machinery shared with the spring networks.

Three methods, one interface (``factorize`` then ``solve`` with a matrix of right-hand sides):

* ``"dense"``: Cholesky of the dense :math:`H_{ff}`; :math:`O(n^3)`, best for a few hundred
  free nodes.
* ``"banded"``: a sparse direct solve written for networks.  The nodes are ordered by
  reverse Cuthill--McKee (host side, once per graph; the d degrees of freedom of a node
  stay together, node-major) so that the matrix is banded with bandwidth :math:`b`; cut into
  :math:`b \times b` blocks it is block tridiagonal and its block Cholesky factor is computed
  in one ``lax.scan`` over blocks: :math:`O(n b^2)` work (:math:`n^2` for 2-D networks,
  against :math:`n^3` dense) in :math:`n/b` BLAS-sized steps.  This beats SuperLU through
  SciPy on the same matrices because it stays inside one compiled program and vectorizes
  over networks with ``vmap``.  The ordering (a :class:`BandLayout`) is computed on the host
  from concrete edges; the blocks are then assembled by scatter-adds from edge indices that
  may be traced (an ensemble of networks whose bonds all lie inside the band of one layout,
  see :mod:`physjax.networks._spring_banded`).  Its blocks go through jaxlib's CPU LAPACK
  kernels, which come from SciPy's OpenBLAS: on a busy CPU, OpenBLAS threads fight XLA's and
  a 100 x 100 grid step slows ~10x; run with ``OPENBLAS_NUM_THREADS=1`` (the benchmarks do,
  for physjax and its SciPy anchor alike).
* ``"multifrontal"``: nested dissection and a level-batched multifrontal Cholesky
  (:mod:`physjax.networks._multifrontal`): :math:`O(n^{3/2})` work on 2-D networks.
* ``"cg"``: matrix-free Jacobi-preconditioned conjugate gradients (``lineax.CG``) with
  optional warm starts; for very large or 3-D networks where the band is wide.

Dense and banded solves are wrapped in ``lax.custom_linear_solve(symmetric=True)``: the
derivative of :math:`x = H_{ff}^{-1} b` with respect to the conductances is obtained from the
matrix-vector product and one more solve with the same factor (implicit differentiation);
``lineax.linear_solve`` does the same for CG.  No factorization or iteration is unrolled.
(Hand-written because lineax has no banded or block-tridiagonal solver, and this one
measured faster than SciPy's SuperLU inside one compiled program.)
"""

from __future__ import annotations

import dataclasses
import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physjax import graphs as _graphs
from physjax._checks import is_concrete
from physjax.networks import _cg
from physjax.networks import _multifrontal as _mf
from physjax.networks import _small_linalg as _sl
from physjax.networks import solvers as _solvers

DENSE_MAX_FREE_NODES = _solvers.AUTO_DENSE_MAX_DOF  # auto: dense up to here


def free_nodes(n_nodes: int, fixed: tuple[int, ...]) -> np.ndarray:
    mask = np.ones(n_nodes, bool)
    mask[list(fixed)] = False
    return np.flatnonzero(mask)


# --------------------------------------------------------------------------- band layout

@dataclasses.dataclass(frozen=True, eq=False)
class BandLayout:
    r"""Host-side layout of a symmetric matrix on ``n_nodes * dofs_per_node`` variables as
    ``n_blocks`` diagonal blocks of size ``block`` and the sub-diagonal blocks below them.

    ``position[v]`` is the padded position of variable v (node-major: v = node * d + axis),
    -1 for an eliminated variable (a fixed node, a pinned degree of freedom).  Positions
    ``n_free .. n_blocks * block - 1`` are padding (identity rows).  Flat storage: the
    diagonal blocks ``(n_blocks, block, block)`` then the sub-diagonal blocks
    ``(n_blocks - 1, block, block)``.  Not a pytree: it is a static argument of compiled
    functions and hashes by identity (layouts are cached per graph).
    """

    position: np.ndarray
    dofs_per_node: int
    n_free: int
    block: int
    n_blocks: int

    @property
    def size(self) -> int:
        return (2 * self.n_blocks - 1) * self.block**2


def band_layout(edges: np.ndarray, n_nodes: int, dofs_per_node: int = 1,
                eliminated=()) -> BandLayout:
    """Reverse Cuthill--McKee layout of the graph ``edges`` (host side, concrete)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    d = dofs_per_node
    edges = np.asarray(edges, np.int64).reshape(-1, 2)
    elim = np.zeros(n_nodes * d, bool)
    elim[np.asarray(eliminated, np.int64)] = True
    active = ~elim.reshape(n_nodes, d).all(1)
    e = edges[active[edges[:, 0]] & active[edges[:, 1]]]
    adj = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n_nodes, n_nodes)).tocsr()
    perm = np.asarray(reverse_cuthill_mckee(adj + adj.T, symmetric_mode=True), np.int64)
    dofs = (perm[:, None] * d + np.arange(d)).reshape(-1)
    dofs = dofs[~elim[dofs]]
    position = np.full(n_nodes * d, -1, np.int64)
    position[dofs] = np.arange(dofs.size)
    r, c = _edge_block_positions(position, edges, d, np)
    both = (r >= 0) & (c >= 0)
    width = int(np.max(np.abs(r - c)[both], initial=0))
    block = max(1, width, d - 1)
    return BandLayout(position, d, int(dofs.size), block, max(1, -(-dofs.size // block)))


def _edge_block_positions(position, edges, d, xp):
    """Padded row and column positions of the entries of the four d x d blocks
    ``[aa, bb, ab, ba]`` of every edge (a, b): two arrays of shape (n_edges, 4, d, d)."""
    a, b = edges[:, 0], edges[:, 1]
    rows = xp.stack([a, b, a, b], axis=1)[..., None] * d + xp.arange(d)
    cols = xp.stack([a, b, b, a], axis=1)[..., None] * d + xp.arange(d)
    pos = xp.asarray(position)
    return pos[rows][..., :, None], pos[cols][..., None, :]


EDGE_BLOCK_SIGNS = np.array([1.0, 1.0, -1.0, -1.0])  # an edge adds +g to aa, bb; -g to ab, ba


def edge_entry_index(layout: BandLayout, edges, xp=np):
    r"""Flat storage indices of every entry of the edges' blocks ``[aa, bb, ab, ba]``
    (shape ``(n_edges, 4, d, d)``), and the mask of entries that fall outside the band.

    Entries on an eliminated variable and those of the upper off-diagonal blocks (their
    transposes are stored) get index ``layout.size`` (dropped by the scatter).  ``xp`` is
    ``numpy`` for concrete edges (host side) or ``jax.numpy`` for traced ones."""
    bsz, d = layout.block, layout.dofs_per_node
    r, c = _edge_block_positions(layout.position, edges, d, xp)
    keep = (r >= 0) & (c >= 0)
    rb, cb = r // bsz, c // bsz
    in_diag = keep & (rb == cb)
    in_sub = keep & (rb == cb + 1)
    outside = keep & (xp.abs(rb - cb) > 1)
    local = (r % bsz) * bsz + c % bsz
    index = xp.where(in_diag, rb * bsz * bsz + local,
                     xp.where(in_sub, (layout.n_blocks + cb) * bsz * bsz + local, layout.size))
    return index, outside


def banded_factor(layout: BandLayout, index, values):
    r"""Assemble the blocks by a scatter-add of ``values`` at ``index`` (as returned by
    :func:`edge_entry_index`, any shape), set the padding to identity, and factor: block
    Cholesky :math:`L_i L_i^\top = D_i - C_i C_i^\top`, :math:`C_i = S_i L_{i-1}^{-\top}` in
    one ``lax.scan``.  Returns the factor ``(L (n_blocks, b, b), C (n_blocks - 1, b, b))``;
    not differentiable (the solves differentiate implicitly)."""
    b, n = layout.block, layout.n_blocks
    flat = jnp.zeros((layout.size,), values.dtype)
    flat = flat.at[index.reshape(-1)].add(values.reshape(-1), mode="drop")
    pad = np.arange(layout.n_free, n * b)
    flat = flat.at[(pad // b) * b * b + (pad % b) * (b + 1)].set(1.0)
    flat = jax.lax.stop_gradient(flat)
    return _block_cholesky(flat[: n * b * b].reshape(n, b, b),
                           flat[n * b * b:].reshape(n - 1, b, b))


def _block_cholesky(diag, sub):
    """Block Cholesky of a block-tridiagonal matrix (diagonal and sub-diagonal blocks);
    under ``vmap`` :mod:`._small_linalg` loops over the members with one-block LAPACK calls
    on the CPU (jaxlib's batched kernels can deadlock XLA's thread pool)."""
    # the blocks are symmetric by construction: LAPACK reads the lower triangle, no
    # symmetrization (15-20% faster than jnp.linalg.cholesky + solve_triangular here)
    cholesky = _sl.cholesky
    l0 = cholesky(diag[0])

    def step(l_prev, xs):
        dg, s = xs  # s = A[i, i-1]
        c = _sl.triangular_solve(l_prev, s, left_side=False, lower=True,
                                 transpose_a=True)  # s L_prev^-T
        l_i = cholesky(dg - c @ c.T)
        return l_i, (l_i, c)

    _, (ls, cs) = jax.lax.scan(step, l0, (diag[1:], sub))
    return jnp.concatenate([l0[None], ls]), cs


def banded_solve(layout: BandLayout, factor, rhs):
    """Solve with the block Cholesky factor; ``rhs`` ``(n_variables, m)``, zero returned on
    the eliminated variables (their rows of ``rhs`` are ignored)."""
    ls, cs = factor
    b, n = layout.block, layout.n_blocks
    m = rhs.shape[1]
    pos = np.where(layout.position >= 0, layout.position, n * b)
    x = jnp.zeros((n * b, m), rhs.dtype).at[pos].set(rhs, mode="drop").reshape(n, b, m)
    tri = _sl.solve_triangular  # no batched CPU LAPACK kernel under vmap
    y0 = tri(ls[0], x[0], lower=True)

    def fwd(y_prev, xs):
        l_i, c_i, x_i = xs
        y_i = tri(l_i, x_i - c_i @ y_prev, lower=True)
        return y_i, y_i

    _, ys = jax.lax.scan(fwd, y0, (ls[1:], cs, x[1:]))
    ys = jnp.concatenate([y0[None], ys])
    z_last = tri(ls[-1], ys[-1], lower=True, trans="T")

    def bwd(z_next, xs):
        l_i, c_next, y_i = xs
        z_i = tri(l_i, y_i - c_next.T @ z_next, lower=True, trans="T")
        return z_i, z_i

    _, zs = jax.lax.scan(bwd, z_last, (ls[:-1], cs, ys[:-1]), reverse=True)
    z = jnp.concatenate([zs, z_last[None]]).reshape(n * b, m)
    return jnp.where((layout.position >= 0)[:, None], z[np.maximum(layout.position, 0)], 0.0)


# ------------------------------------------------------------------------------------ plans

class LayoutPlan:
    """What the plans of sparse direct solves (:class:`BandedPlan`, and the spring networks'
    :class:`~._spring_banded.SpringBandPlan`) read from their ``layout``, a
    :class:`BandLayout` or a :class:`~._multifrontal.MultifrontalLayout`."""

    @property
    def kind(self) -> str:
        return "multifrontal" if isinstance(self.layout, _mf.MultifrontalLayout) else "banded"

    @property
    def block(self) -> int:
        """Band width (banded) or largest front (multifrontal), in unknowns (degrees of
        freedom)."""
        if self.kind == "multifrontal":
            return self.layout.largest_front
        return self.layout.block


# --------------------------------------------------------------------------- resistor plan

@dataclasses.dataclass(frozen=True, eq=False)
class BandedPlan(LayoutPlan):
    """Plan of a sparse direct solve of a resistor network's :math:`H_{ff}` (fixed nodes
    eliminated): a :class:`BandLayout` (``kind="banded"``) or a
    :class:`~._multifrontal.MultifrontalLayout` (``kind="multifrontal"``), the flat storage
    indices of its edges' entries, and the graph it was built for (host side; hashes by
    identity: plans are cached per graph, so compiled functions are reused)."""

    layout: BandLayout | _mf.MultifrontalLayout
    index: np.ndarray
    n_nodes: int
    free: np.ndarray
    edges: np.ndarray

    def __repr__(self) -> str:
        return (f"BandedPlan({self.kind}, {self.n_nodes} nodes, {self.free.size} free, "
                f"{len(self.edges)} edges, block {self.block})")


@functools.lru_cache(maxsize=64)
def _plan_cached(edges_bytes: bytes, n_edges: int, n_nodes: int, free_bytes: bytes,
                 kind: str) -> BandedPlan:
    edges = np.frombuffer(edges_bytes, np.int64).reshape(n_edges, 2)
    free = np.frombuffer(free_bytes, np.int64)
    fixed = np.setdiff1d(np.arange(n_nodes), free)
    if kind == "multifrontal":
        layout = _mf.multifrontal_layout(edges, n_nodes, 1, fixed)
        index = _mf.edge_entries(layout, edges).index
    else:
        layout = band_layout(edges, n_nodes, 1, fixed)
        index, _ = edge_entry_index(layout, edges)
    return BandedPlan(layout, index, n_nodes, free, edges)


def banded_plan(graph, free: np.ndarray, kind: str = "banded") -> BandedPlan:
    """The ``kind`` (``"banded"`` or ``"multifrontal"``) plan for ``graph``'s free nodes
    (concrete edges; cached per graph)."""
    edges = np.ascontiguousarray(np.asarray(graph.edges), np.int64)
    return _plan_cached(edges.tobytes(), edges.shape[0], graph.n_nodes,
                        np.ascontiguousarray(free, np.int64).tobytes(), kind)


def check_plan(plan, graph, free: np.ndarray, kind: str) -> None:
    """Raise ``ValueError`` naming ``solver`` unless ``plan`` is a resistor plan of ``kind``
    built for ``graph`` with these free nodes."""
    if not isinstance(plan, BandedPlan):
        raise ValueError(f"solver carries a {type(plan).__name__}, not a resistor-network "
                         "plan; build it with networks.prepare_solver(solver, graph, task)")
    if plan.kind != kind:
        raise ValueError(f"solver: a {kind} solver got a {plan.kind} plan")
    if plan.n_nodes != graph.n_nodes or not np.array_equal(plan.free, free):
        raise ValueError(
            f"solver: the plan was built for a graph of {plan.n_nodes} nodes with "
            f"{plan.free.size} free nodes, but this graph has {graph.n_nodes} nodes and the "
            f"task leaves {free.size} free; build the plan for this network and task")
    if not is_concrete(graph.edges):
        return  # checked when solving (solve_reduced, equinox.error_if)
    edges = np.asarray(graph.edges)
    if edges.shape != plan.edges.shape or not np.array_equal(edges, plan.edges):
        raise ValueError("solver: the plan was built for another graph (its edges differ); "
                         "build the plan for this network")


def system_info(graph, free: np.ndarray):
    """The :class:`~physjax.networks.solvers.SystemInfo` of a resistor network's
    :math:`H_{ff}`."""
    return _solvers.SystemInfo(
        n_dof=int(free.size), concrete=is_concrete(graph.edges),
        build_plan=lambda kind: banded_plan(graph, free, kind),
        check_plan=lambda plan, kind: check_plan(plan, graph, free, kind),
        family="resistor")


def resolve(solver, graph, free: np.ndarray, rtol: float | None = None):
    """``solver`` (a name or instance) resolved for this graph and free nodes."""
    return _solvers.resolve(solver, system_info(graph, free), rtol)


def reduced_matvec(graph, k, free: np.ndarray, x):
    """:math:`H_{ff} X` for ``x`` of shape ``(n_free, m)`` without forming the matrix."""
    full = jnp.zeros((x.shape[1], graph.n_nodes), x.dtype).at[:, free].set(x.T)
    return _graphs.laplacian_matvec(graph, k, full)[:, free].T


def solve_reduced(graph, k, free: np.ndarray, rhs, *, solver, initial=None):
    r"""Solve :math:`H_{ff} X = B` for ``rhs`` :math:`B` of shape ``(n_free, m)`` with a
    resolved ``solver`` (see :func:`resolve`)."""
    if isinstance(solver, _solvers.CG):
        return _cg_solve(graph, k, free, rhs, initial, solver)
    if isinstance(solver, _solvers.Dense):
        lap = _graphs.laplacian(graph, k)[jnp.ix_(free, free)]
        chol = _sl.cholesky(jax.lax.stop_gradient(lap))

        def solve(_, r):
            return _sl.cho_solve((chol, True), r)
    elif isinstance(solver, (_solvers.Banded, _solvers.Multifrontal)):
        plan = solver.plan
        if not is_concrete(graph.edges):  # traced graph: it must be the plan's graph
            same = (graph.edges.shape == plan.edges.shape
                    and jnp.all(graph.edges == jnp.asarray(plan.edges, graph.edges.dtype)))
            k = eqx.error_if(k, jnp.logical_not(same), "solver: the plan was built for "
                             "another graph (its edges differ); build it for this network")
        values = k[:, None, None, None] * EDGE_BLOCK_SIGNS[:, None, None]
        factor_fn, solve_fn = ((_mf.factor, _mf.solve) if plan.kind == "multifrontal"
                               else (banded_factor, banded_solve))
        pinned_solve = functools.partial(solve_fn, plan.layout,
                                         factor_fn(plan.layout, plan.index, values))

        def solve(_, r):
            full = jnp.zeros((graph.n_nodes, r.shape[1]), r.dtype).at[free].set(r)
            return pinned_solve(full)[free]
    else:
        raise TypeError(f"solver: unresolved solver {solver!r} (call _solve.resolve first)")

    def matvec(x):
        return reduced_matvec(graph, k, free, x)

    return jax.lax.custom_linear_solve(matvec, rhs, solve, symmetric=True)


def _cg_solve(graph, k, free, rhs, initial, solver):
    n = graph.n_nodes

    def matvec(x):
        full = jnp.zeros((n,), x.dtype).at[free].set(x)
        return _graphs.laplacian_matvec(graph, k, full)[free]

    deg = jax.ops.segment_sum(jnp.concatenate([k, k]), graph.edges.T.reshape(-1),
                              num_segments=n)[free]
    return _cg.cg_solve(matvec, deg, rhs, solver, initial)
