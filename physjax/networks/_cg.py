"""Conjugate gradients for the network solvers (resistor and spring), shared.

One matrix-free Jacobi-preconditioned ``lineax.CG`` per right-hand side (``vmap`` over the
columns), each column scaled to ``max|b| = 1`` so that the tolerance convention of
:class:`physjax.networks.solvers.CG` holds, and non-convergence is an error naming ``solver``.
It is wrapped in ``lax.custom_linear_solve(symmetric=True)`` like the direct solvers: the
derivative is one more CG solve with the cotangent as right-hand side.  (Differentiating
``lineax.linear_solve`` itself returned zero derivatives for a right-hand side that is
exactly zero -- the prestress column of an unstressed spring network -- in lineax 0.1.1.)
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx

from physjax.networks import solvers as _solvers


def cg_solve(matvec, diagonal, rhs, solver: _solvers.CG, initial=None):
    r"""Solve :math:`A X = B` for ``rhs`` :math:`B` of shape ``(n, m)`` with ``matvec``
    (:math:`v \mapsto Av` on one vector, closing over what :math:`A` depends on),
    its ``diagonal`` (the Jacobi preconditioner) and an optional warm start ``initial``
    (``(n, m)``); differentiable with respect to everything ``matvec`` closes over and
    ``rhs``, implicitly."""
    n = rhs.shape[0]
    dtype = rhs.dtype
    rtol = _solvers.default_rtol(dtype) if solver.rtol is None else solver.rtol
    atol = rtol if solver.atol is None else solver.atol
    max_steps = 20 * n + 100 if solver.max_steps is None else solver.max_steps
    structure = jax.ShapeDtypeStruct((n,), dtype)
    cg = lx.CG(rtol=rtol, atol=atol, max_steps=max_steps)
    precond = lx.TaggedLinearOperator(
        lx.DiagonalLinearOperator(jax.lax.stop_gradient(1.0 / diagonal)),
        lx.positive_semidefinite_tag)
    x0 = None if initial is None else jax.lax.stop_gradient(initial)

    def solve(mv, b):
        op = lx.FunctionLinearOperator(mv, structure,
                                       tags=(lx.symmetric_tag, lx.positive_semidefinite_tag))

        def one(bi, yi):
            scale = jnp.max(jnp.abs(bi))
            scale = jnp.where(scale > 0, scale, 1.0)
            options = {"preconditioner": precond}
            if yi is not None:
                options["y0"] = yi / scale
            sol = lx.linear_solve(op, bi / scale, cg, options=options, throw=False)
            x = eqx.error_if(sol.value, sol.result != lx.RESULTS.successful,
                             "solver: CG did not reach its tolerance within max_steps (a "
                             "singular or ill-conditioned system, e.g. a part of the network "
                             "held by no source; or raise CG(max_steps=...))")
            return scale * x

        if x0 is None:
            return jax.vmap(lambda bi: one(bi, None), in_axes=1, out_axes=1)(b)
        return jax.vmap(one, in_axes=(1, 1), out_axes=1)(b, x0)

    def matvec_columns(x):
        return jax.vmap(matvec, in_axes=1, out_axes=1)(x)

    def solve_columns(_, b):
        # the solve itself is not differentiated (custom_linear_solve's contract): its
        # operator sees the same matrix with no derivative attached
        return solve(lambda v: jax.lax.stop_gradient(matvec(v)), b)

    return jax.lax.custom_linear_solve(matvec_columns, rhs, solve_columns, symmetric=True)
