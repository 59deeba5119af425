r"""Cholesky factorizations and triangular solves of small dense blocks that never enter a
*batched* CPU LAPACK kernel.

jaxlib 0.10's CPU LAPACK kernels (``lapack_?potrf_ffi``, ``lapack_?trsm_ffi``, ...) split a
batch whose estimated work reaches :math:`2\times10^5` flops into chunks, schedule them on
XLA's intra-op thread pool and *block* the calling pool thread until they are done
(``jax::ParallelBatchMap``).  When two such kernels run at once on a pool of two threads --
two CPU devices (``--xla_force_host_platform_device_count``) each running its shard of a
``jit(vmap(...))``, as :func:`physjax.ensemble.sweep` does -- each waits for chunks that no
free thread can run, and the program hangs (``docs/known-issues.md``).  A kernel called on one
matrix runs inline and never waits.

So the functions here are the LAPACK primitives on one matrix, and, on the CPU backend, turn
a batch -- from ``vmap`` (nested vmaps are flattened into one batch) or from leading axes --
into a sequential loop (``lax.map``) of one-matrix LAPACK calls, through
``jax.custom_batching.custom_vmap``.  Every matrix of a batch is factored by the same LAPACK
call as alone, so results do not depend on the batch size (nor on how many devices an
ensemble is sharded over).  On other backends the batched primitive is kept
(``lax.platform_dependent``, decided at lowering).

Measured on a 2-core CPU (jaxlib 0.10.2, one OpenBLAS thread), one call in isolation: the
loop took 0.35-1.5x the batched Cholesky's time (1.5x on 896 blocks of 8 x 8, 1.3x on 64 of
20 x 20 in float32, faster on large float64 blocks) and 0.3-1.4x the batched triangular
solve's (faster on large blocks, where the batched kernel's splitting costs more than it
gains); inside a ``lax.scan`` of small calls, 1.3-1.4x on 64 x 20 x 20 and up to 3x on
64 x 8 x 8.  On the network benchmarks that use it (64-network banded and multifrontal
ensembles, single networks) paired runs differed by -6 to +8 %, within the machine's noise.
A pure-JAX Cholesky vectorized over the batch (batch on the last axis, a few XLA operations
per column) was 1.5-8x slower than the batched kernel from 14 x 14 blocks up (as fast on
8 x 8) and took 1-20 s to compile, so it is not used.

Differentiable in forward and reverse mode: a triangular solve is a
``lax.custom_linear_solve`` (transposed by the transposed solve), the Cholesky factor has the
forward-mode rule of ``jax.lax.linalg.cholesky`` written with these solves.  (Callers that
factor a matrix only to solve with it should still ``stop_gradient`` it and solve inside
``lax.custom_linear_solve``, as the network solvers do.)
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap

__all__ = ["cho_solve", "cholesky", "solve_triangular", "triangular_solve"]


def _lapack_cholesky(a):
    return jax.lax.linalg.cholesky(a, symmetrize_input=False)


def _flatten_batch(x, n_core: int):
    """Merge all leading (batch) axes of ``x`` into one; ``n_core`` trailing axes kept."""
    return x.reshape((-1,) + x.shape[x.ndim - n_core:])


def _broadcast_batched(axis_size, in_batched, args):
    """Give every argument the leading vmap axis of length ``axis_size``."""
    return [x if b else jnp.broadcast_to(x, (axis_size,) + x.shape)
            for x, b in zip(args, in_batched, strict=True)]


def _loop(lapack, args):
    """``lapack`` on every matrix of the stacks ``args``, one call per matrix."""
    if args[0].shape[0] == 1:
        return lapack(*[x[0] for x in args])[None]
    return jax.lax.map(lambda xs: lapack(*xs), args)


# ------------------------------------------------------------------------------- cholesky

@custom_vmap
def _cholesky_batch(a):
    """Cholesky of a stack ``(B, n, n)``: a loop of one-matrix LAPACK calls on the CPU."""
    return jax.lax.platform_dependent(
        a, cpu=lambda x: _loop(_lapack_cholesky, (x,)), default=_lapack_cholesky)


@_cholesky_batch.def_vmap
def _cholesky_batch_vmap(axis_size, in_batched, a):
    # nested vmap: one flat batch, so that the loop itself is never vmapped
    return _cholesky_batch(_flatten_batch(a, 2)).reshape(a.shape), True


@custom_vmap
def _cholesky_one(a):
    return _lapack_cholesky(a)


@_cholesky_one.def_vmap
def _cholesky_one_vmap(axis_size, in_batched, a):
    return _cholesky_batch(a), True


def cholesky(a):
    """Lower Cholesky factor of ``a`` (``(..., n, n)``), which is assumed symmetric: only
    its lower triangle is read, as ``lax.linalg.cholesky(a, symmetrize_input=False)`` (and
    differentiated as such: a tangent's upper triangle is ignored).  Not positive definite:
    NaN (per matrix, as LAPACK through JAX)."""
    return _cholesky(jnp.asarray(a))


@jax.custom_jvp
def _cholesky(a):
    if a.ndim == 2:
        return _cholesky_one(a)
    if a.size == 0:
        return _lapack_cholesky(a)
    return _cholesky_batch(_flatten_batch(a, 2)).reshape(a.shape)


@_cholesky.defjvp
def _cholesky_jvp(primals, tangents):
    # jax.lax.linalg's rule (Murray 2016, arXiv:1602.07527) with the symmetric tangent that
    # the lower triangle stands for
    (a,), (da,) = primals, tangents
    factor = _cholesky(a)
    sym = jnp.tril(da) + jnp.swapaxes(jnp.tril(da, -1), -1, -2)
    tmp = triangular_solve(factor, sym, left_side=False, lower=True, transpose_a=True)
    inner = jnp.tril(triangular_solve(factor, tmp, left_side=True, lower=True))
    n = a.shape[-1]
    phi = inner / (1 + jnp.eye(n, dtype=inner.dtype))     # lower triangle, half diagonal
    return factor, factor @ phi


# ---------------------------------------------------------------------- triangular solves

@functools.cache
def _solvers(left_side: bool, lower: bool, transpose_a: bool):
    """The solve for one ``(m, m)`` matrix and for a stack: custom_vmap functions."""

    def lapack(a, b):
        return jax.lax.linalg.triangular_solve(a, b, left_side=left_side, lower=lower,
                                               transpose_a=transpose_a)

    @custom_vmap
    def batch(a, b):
        return jax.lax.platform_dependent(a, b, cpu=lambda x, y: _loop(lapack, (x, y)),
                                          default=lapack)

    @batch.def_vmap
    def batch_vmap(axis_size, in_batched, a, b):
        a, b = _broadcast_batched(axis_size, in_batched, (a, b))
        return batch(_flatten_batch(a, 2), _flatten_batch(b, 2)).reshape(b.shape), True

    @custom_vmap
    def one(a, b):
        return lapack(a, b)

    @one.def_vmap
    def one_vmap(axis_size, in_batched, a, b):
        # a shared matrix is broadcast, not folded into the columns of b: every member is
        # then solved by the same LAPACK call whatever the batch size (bitwise results)
        return batch(*_broadcast_batched(axis_size, in_batched, (a, b))), True

    return one, batch


def triangular_solve(a, b, *, left_side: bool = False, lower: bool = False,
                     transpose_a: bool = False):
    r"""``jax.lax.linalg.triangular_solve`` (no conjugation, no unit diagonal): solves
    :math:`\mathrm{op}(A) X = B` (``left_side``) or :math:`X \mathrm{op}(A) = B`, with
    :math:`\mathrm{op}(A) = A^\top` if ``transpose_a``; ``a`` ``(..., m, m)``, ``b``
    ``(..., m, n)`` (``(..., n, m)`` for the right side), leading axes broadcast."""
    a, b = jnp.asarray(a), jnp.asarray(b)
    left_side, lower, transpose_a = bool(left_side), bool(lower), bool(transpose_a)
    lead = jnp.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = jnp.broadcast_to(a, lead + a.shape[-2:])
    b = jnp.broadcast_to(b, lead + b.shape[-2:])

    def matvec(x):  # op(A) X or X op(A): derivatives (a's closure) and transposition
        tri = jnp.tril(a) if lower else jnp.triu(a)   # what LAPACK reads
        op = jnp.swapaxes(tri, -1, -2) if transpose_a else tri
        return op @ x if left_side else x @ op

    return jax.lax.custom_linear_solve(
        matvec, b, lambda _, r: _solve(a, r, left_side, lower, transpose_a),
        lambda _, r: _solve(a, r, left_side, lower, not transpose_a))


def _solve(a, b, left_side, lower, transpose_a):
    one, batch = _solvers(left_side, lower, transpose_a)
    if a.ndim == 2 and b.ndim == 2:
        return one(a, b)
    if a.size == 0 or b.size == 0:
        return jax.lax.linalg.triangular_solve(a, b, left_side=left_side, lower=lower,
                                               transpose_a=transpose_a)
    return batch(_flatten_batch(a, 2), _flatten_batch(b, 2)).reshape(b.shape)


def solve_triangular(a, b, *, trans=0, lower: bool = False):
    """``jax.scipy.linalg.solve_triangular`` (real matrices, no unit diagonal): ``b`` of
    shape ``(..., m)`` (one vector per matrix) or ``(..., m, n)``; ``trans`` 0/"N", 1/"T"
    (2/"C" is "T" for real matrices)."""
    a, b = jnp.asarray(a), jnp.asarray(b)
    if trans in (0, "N"):
        transpose_a = False
    elif trans in (1, "T", 2, "C"):
        transpose_a = True
    else:
        raise ValueError(f"trans={trans!r}: expected 0, 1, 2, 'N', 'T' or 'C'")
    vector = b.ndim == a.ndim - 1
    x = triangular_solve(a, b[..., None] if vector else b, left_side=True, lower=lower,
                         transpose_a=transpose_a)
    return x[..., 0] if vector else x


def cho_solve(c_and_lower, b):
    r"""``jax.scipy.linalg.cho_solve`` with a factor from :func:`cholesky` (real): solves
    :math:`A x = b` given ``(c, lower)``, :math:`A = c c^\top` (lower) or :math:`c^\top c`."""
    c, lower = c_and_lower
    y = solve_triangular(c, b, lower=lower, trans=0 if lower else 1)
    return solve_triangular(c, y, lower=lower, trans=1 if lower else 0)
