r"""Strain-task internals shared by the networks modules.

* :class:`StrainTask` and :class:`LinearResponse`, the task and solve types (re-exported
  by :mod:`physjax.networks.strain`, where they are documented and built);
* input checks: :func:`check_pairs` (node pairs of a network), :func:`check_task` (a task
  with its stiffnesses and rest lengths, on a rigid network);
* unvalidated kernels, which take checked inputs and run under ``jit`` on traced ones:
  :func:`pair_strain_matrix_at` (the linearized pair strains P at positions ``x``) and
  :func:`solve_linear_response` (the linear solves of :func:`strain.linear_response
  <physjax.networks.strain.linear_response>` for a resolved solver).

Used by :mod:`~physjax.networks.strain`, :mod:`~physjax.networks.thermal`, the nonlinear
states (:mod:`physjax.networks._strain_nonlinear`) and the learning modules; the physics
and the notation are documented in :mod:`physjax.networks.strain`.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physjax._array_types import Array, Float, Int
from physjax._checks import check_positive, is_concrete
from physjax.networks import _cg
from physjax.networks import _small_linalg as _sl
from physjax.networks import _spring_banded as _banded
from physjax.networks import _spring_core as _spc
from physjax.networks import solvers as _solvers
from physjax.networks import spring as _sp


class StrainTask(eqx.Module):
    r"""Strain task on node pairs; all fields are arrays (a task can be ``vmap``-ed).

    Attributes:
        pairs: ``(n_pairs, 2)`` node indices.
        sources: ``(n_examples, n_pairs)`` 0/1 mask of the pairs whose strain is imposed.
        targets: ``(n_examples, n_pairs)`` 0/1 mask of the pairs with a desired strain.
        inputs: ``(n_examples, n_pairs)`` imposed strains :math:`\varepsilon_S` (0 elsewhere).
        desired: ``(n_examples, n_pairs)`` desired target strains (0 elsewhere).
    """

    pairs: Int[Array, "p 2"]
    sources: Float[Array, "k p"]
    targets: Float[Array, "k p"]
    inputs: Float[Array, "k p"]
    desired: Float[Array, "k p"]

    @property
    def n_examples(self) -> int:
        return self.sources.shape[-2]


class LinearResponse(NamedTuple):
    r"""What one set of linear solves gives (see :mod:`physjax.networks.strain`).

    Attributes:
        basis: :math:`Y^\top = (G P^\top)^\top`, shape ``(n_pairs, N d)``.
        offset: :math:`y_0 = -G R^\top K s`, shape ``(N d,)`` (0 at zero prestress).
        compliance: :math:`C = P G P^\top`, ``(n_pairs, n_pairs)``.
        offset_strains: :math:`P y_0`, the pair strains with nothing imposed.
    """

    basis: Float[Array, "p nd"]
    offset: Float[Array, " nd"]
    compliance: Float[Array, "p p"]
    offset_strains: Float[Array, " p"]


# --------------------------------------------------------------------------- input checks

def check_pairs(network, pairs, name="pairs"):
    """``pairs`` as int32 ``(n_pairs, 2)`` node indices of ``network`` (1-D: one pair); the
    index checks need concrete values."""
    arr = np.asarray(pairs) if is_concrete(pairs) else pairs
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{name} must have shape (n_pairs, 2), got {tuple(arr.shape)}")
    if not jnp.issubdtype(arr.dtype, jnp.integer):
        raise TypeError(f"{name} must hold integer node indices, got dtype {arr.dtype}")
    if is_concrete(arr):
        bad = (arr < 0) | (arr >= network.n_nodes)
        if np.any(bad):
            raise ValueError(f"{name} has node indices {arr[bad].tolist()} outside "
                             f"[0, {network.n_nodes}) for a network of {network.n_nodes} "
                             "nodes")
        if np.any(arr[:, 0] == arr[:, 1]):
            raise ValueError(f"{name} must join two different nodes, got {arr.tolist()}")
    return jnp.asarray(arr, jnp.int32)


def check_task(network, stiffnesses, task, check, rest_lengths=None):
    """``TypeError`` unless ``task`` is a :class:`StrainTask`; with ``check``, also validate
    the stiffnesses, the task's pairs, the rest lengths and the network's rigidity."""
    if not isinstance(task, StrainTask):
        raise TypeError(f"task must be a StrainTask (see make_strain_task), got "
                        f"{type(task).__name__}")
    if check:
        _sp.check_stiffnesses(network, stiffnesses)
        check_pairs(network, task.pairs, "task.pairs")
        if rest_lengths is not None:
            check_positive(rest_lengths, "rest_lengths")
        _sp.check_rigid(network)


# --------------------------------------------------------------------------- kernels

@eqx.filter_jit
def pair_strain_matrix_at(network, p, x):
    """Linearized pair strains P (``(n_pairs, N d)``) of checked pairs ``p`` about checked
    positions ``x``."""
    v = _spc.minimum_image(x[p[:, 0]] - x[p[:, 1]], network.box)
    r = jnp.linalg.norm(v, axis=-1, keepdims=True)
    m = v / r**2
    rows = jnp.arange(p.shape[0])
    out = jnp.zeros((p.shape[0], network.n_nodes, network.dim), x.dtype)
    out = out.at[rows, p[:, 0]].add(m).at[rows, p[:, 1]].add(-m)
    return out.reshape(p.shape[0], -1)


@eqx.filter_jit
def solve_linear_response(network, k, pairs, rest_lengths, solver, initial):
    """:class:`LinearResponse` for stiffnesses ``k`` (an array), checked ``pairs`` and a
    resolved ``solver`` (see :func:`physjax.networks.strain.resolve_solver`); a CG is
    warm-started from ``initial`` (a :class:`LinearResponse` or None)."""
    x = network.positions
    dtype = jnp.result_type(k.dtype, x.dtype)
    pm = pair_strain_matrix_at(network, pairs, x).astype(dtype)
    s = (_sp.bond_lengths(network) - _spc.checked_rest_lengths(network, rest_lengths)).astype(dtype)
    q = jax.lax.stop_gradient(_spc.rigid_body_modes_at(network, x).astype(dtype))
    c = jax.lax.stop_gradient(jnp.mean(k))
    nhat = _unit_bonds(network).astype(dtype)
    e = network.graph.edges
    n = network.n_nodes
    ks = (k * s)[:, None] * nhat
    force_s = jax.ops.segment_sum(jnp.concatenate([ks, -ks]), e.T.reshape(-1),
                                  num_segments=n).reshape(-1)          # R^T K s
    rhs = jnp.concatenate([pm, -force_s[None]], 0)
    if isinstance(solver, (_solvers.Banded, _solvers.Multifrontal)):
        sol = _banded.linear_response_solve(solver.plan, network, k, nhat, q, c, rhs.T).T
    elif isinstance(solver, _solvers.Dense):
        h = _spc.linear_stiffness(network, k, nhat) + c * q @ q.T
        chol = _sl.cholesky(jax.lax.stop_gradient(h))
        sol = jax.lax.custom_linear_solve(
            lambda v: h @ v, rhs.T, lambda _, v: _sl.cho_solve((chol, True), v),
            symmetric=True).T
    elif isinstance(solver, _solvers.CG):
        sol = _cg_response(network, k, nhat, q, c, rhs, initial, solver)
    else:
        raise TypeError(f"solver: unresolved solver {solver!r} (call resolve_solver first)")
    basis, offset = sol[:-1], sol[-1]
    return LinearResponse(basis, offset, pm @ basis.T, pm @ offset)


def _cg_response(network, k, nhat, q, c, rhs, initial, solver):
    r"""CG on :math:`H + cQQ^\top`, Jacobi-preconditioned, warm-started, one right-hand side
    per row of ``rhs`` (:func:`physjax.networks._cg.cg_solve`)."""
    e = network.graph.edges
    n = network.n_nodes
    matvec0 = _sp.dynamical_matvec(network, k)

    def matvec(v):
        return matvec0(v) + c * (q @ (q.T @ v))

    diag = jax.ops.segment_sum(jnp.concatenate([k[:, None] * nhat**2] * 2),
                               e.T.reshape(-1), num_segments=n).reshape(-1)
    diag = diag + c * jnp.sum(q**2, axis=1)
    x0 = None if initial is None else jnp.concatenate([initial.basis, initial.offset[None]], 0).T
    return _cg.cg_solve(matvec, diag, rhs.T, solver, x0).T


def _unit_bonds(network):
    r = _sp.bond_vectors(network)
    return r / jnp.linalg.norm(r, axis=-1, keepdims=True)
