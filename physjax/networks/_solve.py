r"""Solves with the reduced Laplacian :math:`H_{ff}` of a network, differentiated implicitly.

Three methods, one interface (``factorize`` then ``solve`` with a matrix of right-hand sides):

* ``"dense"``: Cholesky of the dense :math:`H_{ff}`; :math:`O(n^3)`, best for a few hundred
  free nodes.
* ``"banded"``: a sparse direct solve written for networks.  The free nodes are ordered by
  reverse Cuthill--McKee (host side, once per graph) so that :math:`H_{ff}` is banded with
  bandwidth :math:`b`; cut into :math:`b \times b` blocks it is block tridiagonal and its
  block Cholesky factor is computed in one ``lax.scan`` over blocks: :math:`O(n b^2)` work
  (:math:`n^2` for 2-D networks, against :math:`n^3` dense) in :math:`n/b` BLAS-sized steps.
  This beats SuperLU through SciPy on the same matrices because it stays inside one compiled
  program and vectorizes over networks with ``vmap``.  It needs concrete edges (the ordering
  is computed on the host); under a trace of the graph the solver falls back to dense or CG.
  Its blocks go through jaxlib's CPU LAPACK kernels, which come from SciPy's OpenBLAS: on a
  busy CPU, OpenBLAS threads fight XLA's and a 100 x 100 grid step slows ~10x; run with
  ``OPENBLAS_NUM_THREADS=1`` (the benchmark does, for physjax and its SciPy anchor alike).
* ``"cg"``: matrix-free Jacobi-preconditioned conjugate gradients (``lineax.CG``) with
  optional warm starts; for very large or 3-D networks where the band is wide.

Dense and banded solves are wrapped in ``lax.custom_linear_solve(symmetric=True)``: the
derivative of :math:`x = H_{ff}^{-1} b` with respect to the conductances is obtained from the
matrix-vector product and one more solve with the same factor (implicit differentiation);
``lineax.linear_solve`` does the same for CG.  No factorization or iteration is unrolled.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np

from physjax import graphs as _graphs
from physjax._checks import is_concrete

METHODS = ("dense", "banded", "cg")
DENSE_MAX_FREE_NODES = 256  # auto: dense below, banded (or CG) above
BANDED_MAX_BANDWIDTH = 768  # auto: CG when RCM leaves a wider band


def free_nodes(n_nodes: int, fixed: tuple[int, ...]) -> np.ndarray:
    mask = np.ones(n_nodes, bool)
    mask[list(fixed)] = False
    return np.flatnonzero(mask)


# --------------------------------------------------------------------------- banded plan

class BandedPlan(NamedTuple):
    """Host-side layout of :math:`H_{ff}` in ``n_blocks`` blocks of size ``block``."""

    order: np.ndarray  # padded position -> local free index (or -1 for padding)
    position: np.ndarray  # local free index -> padded position
    block: int
    n_blocks: int
    diag_edges: np.ndarray  # edges contributing k_e to diagonal entries ...
    diag_index: np.ndarray  # ... at these flat indices of the (n_blocks, b, b) diagonal
    off_edges: np.ndarray  # edges contributing -k_e to off-diagonal entries ...
    off_index: np.ndarray  # ... at these flat indices of [diagonal blocks | sub-diagonal]
    pad_index: np.ndarray  # flat diagonal indices of padding rows (set to 1)


@functools.lru_cache(maxsize=64)
def _banded_plan_cached(edges_bytes: bytes, n_edges: int, n_nodes: int,
                        free_bytes: bytes) -> BandedPlan:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    edges = np.frombuffer(edges_bytes, np.int64).reshape(n_edges, 2)
    free = np.frombuffer(free_bytes, np.int64)
    local = np.full(n_nodes, -1)
    local[free] = np.arange(free.size)
    la, lb = local[edges[:, 0]], local[edges[:, 1]]
    both = (la >= 0) & (lb >= 0)
    n_f = free.size
    adj = coo_matrix((np.ones(both.sum()), (la[both], lb[both])), shape=(n_f, n_f)).tocsr()
    adj = adj + adj.T
    perm = np.asarray(reverse_cuthill_mckee(adj, symmetric_mode=True))
    position = np.empty(n_f, np.int64)
    position[perm] = np.arange(n_f)
    pa, pb = position[la[both]], position[lb[both]]
    block = int(max(1, np.max(np.abs(pa - pb), initial=1)))
    n_blocks = -(-n_f // block)
    order = np.full(n_blocks * block, -1)
    order[:n_f] = perm
    bb = block * block
    n_diag = n_blocks * bb

    def flat_diag(p):
        return (p // block) * bb + (p % block) * block + (p % block)

    # diagonal: every edge adds k_e at each free endpoint
    ends_e = np.concatenate([np.flatnonzero(la >= 0), np.flatnonzero(lb >= 0)])
    ends_p = np.concatenate([position[la[la >= 0]], position[lb[lb >= 0]]])
    # off-diagonal: free-free edges, row r > column c in padded positions
    ids = np.flatnonzero(both)
    r, c = np.maximum(pa, pb), np.minimum(pa, pb)
    same = (r // block) == (c // block)
    upper_same = (r // block) * bb + (c % block) * block + (r % block)
    lower_same = (r // block) * bb + (r % block) * block + (c % block)
    lower_sub = n_diag + (c // block) * bb + (r % block) * block + (c % block)
    off_edges = np.concatenate([ids[same], ids[same], ids[~same]])
    off_index = np.concatenate([lower_same[same], upper_same[same], lower_sub[~same]])
    pads = np.arange(n_f, n_blocks * block)
    return BandedPlan(order, position, block, n_blocks, ends_e, flat_diag(ends_p),
                      off_edges, off_index, flat_diag(pads))


def banded_plan(graph, free: np.ndarray) -> BandedPlan | None:
    """The block layout for ``graph``'s free nodes, or ``None`` if the edges are traced."""
    if not is_concrete(graph.edges):
        return None
    edges = np.ascontiguousarray(np.asarray(graph.edges), np.int64)
    return _banded_plan_cached(edges.tobytes(), edges.shape[0], graph.n_nodes,
                               np.ascontiguousarray(free, np.int64).tobytes())


def _banded_factor(plan: BandedPlan, k):
    b, n = plan.block, plan.n_blocks
    size = n * b * b + (n - 1) * b * b
    flat = jnp.zeros((size,), k.dtype)
    flat = flat.at[plan.diag_index].add(k[plan.diag_edges])
    flat = flat.at[plan.off_index].add(-k[plan.off_edges])
    flat = flat.at[plan.pad_index].set(1.0)
    diag = flat[: n * b * b].reshape(n, b, b)
    sub = flat[n * b * b:].reshape(n - 1, b, b)
    l0 = jnp.linalg.cholesky(diag[0])

    def step(l_prev, xs):
        d, s = xs  # s = A[i, i-1]
        c = jax.scipy.linalg.solve_triangular(l_prev, s.T, lower=True).T  # s L_prev^-T
        l_i = jnp.linalg.cholesky(d - c @ c.T)
        return l_i, (l_i, c)

    _, (ls, cs) = jax.lax.scan(step, l0, (diag[1:], sub))
    return jnp.concatenate([l0[None], ls]), cs


def _banded_solve(plan: BandedPlan, factor, rhs):
    """Solve with the block Cholesky factor; rhs (n_free, m) in local order."""
    ls, cs = factor
    b, n = plan.block, plan.n_blocks
    m = rhs.shape[1]
    x = jnp.zeros((n * b, m), rhs.dtype).at[plan.position].set(rhs).reshape(n, b, m)
    tri = jax.scipy.linalg.solve_triangular
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
    return z[plan.position]


# --------------------------------------------------------------------------- public helpers

def choose_method(solver: str, graph, free: np.ndarray) -> tuple[str, BandedPlan | None]:
    """Resolve ``"auto"`` and build the banded plan when needed."""
    if solver == "auto":
        if free.size <= DENSE_MAX_FREE_NODES:
            return "dense", None
        plan = banded_plan(graph, free)
        if plan is not None and plan.block <= BANDED_MAX_BANDWIDTH:
            return "banded", plan
        return ("dense", None) if (plan is None and free.size <= 1024) else ("cg", None)
    if solver == "banded":
        plan = banded_plan(graph, free)
        if plan is None:
            raise ValueError("solver='banded' needs concrete graph edges (the node ordering "
                             "is computed on the host); use 'dense' or 'cg' under jit/vmap "
                             "over graphs, or close over the graph")
        return "banded", plan
    return solver, None


def reduced_matvec(graph, k, free: np.ndarray, x):
    """:math:`H_{ff} X` for ``x`` of shape ``(n_free, m)`` without forming the matrix."""
    full = jnp.zeros((x.shape[1], graph.n_nodes), x.dtype).at[:, free].set(x.T)
    return _graphs.laplacian_matvec(graph, k, full)[:, free].T


def solve_reduced(graph, k, free: np.ndarray, rhs, *, method: str, plan=None, initial=None,
                  rtol: float = 1e-12):
    r"""Solve :math:`H_{ff} X = B` for ``rhs`` :math:`B` of shape ``(n_free, m)``."""
    if method == "cg":
        return _cg_solve(graph, k, free, rhs, initial, rtol)
    if method == "dense":
        lap = _graphs.laplacian(graph, k)[jnp.ix_(free, free)]
        chol = jax.lax.stop_gradient(jnp.linalg.cholesky(lap))

        def solve(_, r):
            return jax.scipy.linalg.cho_solve((chol, True), r)
    else:
        factor = jax.lax.stop_gradient(_banded_factor(plan, k))

        def solve(_, r):
            return _banded_solve(plan, factor, r)

    def matvec(x):
        return reduced_matvec(graph, k, free, x)

    return jax.lax.custom_linear_solve(matvec, rhs, solve, symmetric=True)


def _cg_solve(graph, k, free, rhs, initial, rtol):
    n = graph.n_nodes
    dtype = rhs.dtype

    def matvec(x):
        full = jnp.zeros((n,), dtype).at[free].set(x)
        return _graphs.laplacian_matvec(graph, k, full)[free]

    structure = jax.ShapeDtypeStruct((free.size,), dtype)
    op = lx.FunctionLinearOperator(matvec, structure,
                                   tags=(lx.symmetric_tag, lx.positive_semidefinite_tag))
    deg = jax.ops.segment_sum(jnp.concatenate([k, k]), graph.edges.T.reshape(-1),
                              num_segments=n)[free]
    # options are not differentiated: the preconditioner and warm start change the path to
    # the solution, not the solution
    precond = lx.TaggedLinearOperator(lx.DiagonalLinearOperator(jax.lax.stop_gradient(1 / deg)),
                                      lx.positive_semidefinite_tag)
    # lineax tests |r_i| <= atol + rtol |b_i| entry by entry; the right-hand side is zero
    # away from the sources, so each column is scaled to max|b| = 1 and atol = rtol makes the
    # criterion relative to the drive.
    cg = lx.CG(rtol=rtol, atol=rtol, max_steps=20 * free.size + 100)

    def one(b, y0):
        scale = jax.lax.stop_gradient(jnp.max(jnp.abs(b)))
        scale = jnp.where(scale > 0, scale, 1.0)
        options = {"preconditioner": precond}
        if y0 is not None:
            options["y0"] = jax.lax.stop_gradient(y0) / scale
        return scale * lx.linear_solve(op, b / scale, cg, options=options).value

    if initial is None:
        return jax.vmap(lambda b: one(b, None), in_axes=1, out_axes=1)(rhs)
    return jax.vmap(one, in_axes=(1, 1), out_axes=1)(rhs, initial)
