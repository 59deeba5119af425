r"""Elastic spring networks: energy, forces, dynamical matrix, normal modes and strains.

A network is a :class:`physjax.graphs.Graph` whose node positions :math:`X` (shape
``(N, d)``, d = 2 or 3) are the reference state, with a spring of stiffness :math:`k_j > 0`
and rest length :math:`\ell_{0j} > 0` on every edge :math:`j = (a, b)`.  With positions
:math:`x = X + u`, bond vectors :math:`r_j = x_a - x_b` (minimum image in a periodic box)
and lengths :math:`\ell_j = |r_j|`,

.. math::  E(x) = \tfrac12 \sum_j k_j\,(\ell_j - \ell_{0j})^2 ,\qquad
           \varepsilon_j = (\ell_j - \ell_{0j})/\ell_{0j} .

The dynamical matrix (unit masses) is the Hessian :math:`D = \partial^2 E/\partial x\partial x`,
an :math:`Nd\times Nd` matrix with the degrees of freedom ordered node by node
(:math:`x_0, y_0, x_1, y_1, \dots`).  Linearizing about a state with unit bond vectors
:math:`\hat n_j` and tensions :math:`t_j = k_j(\ell_j-\ell_{0j})`,

.. math::  D = R^\top K R + \sum_j \frac{t_j}{\ell_j}\,\Delta_j^\top(I - \hat n_j\hat n_j^\top)
           \Delta_j, \qquad (R u)_j = \hat n_j\cdot(u_a - u_b),

with the rigidity (compatibility) matrix :math:`R` (:math:`N_e\times Nd`), :math:`K =
\mathrm{diag}(k)`.  At a force-free state (:math:`t = 0`, e.g. the reference state with
:math:`\ell_0 = \ell(X)`) only the linear-response part :math:`R^\top K R` survives.

A free network in d dimensions has :math:`d(d+1)/2` rigid-body zero modes (translations and
rotations; only the d translations in a periodic box); any further zero mode is a floppy
mode (null vector of :math:`R`).  :func:`normal_modes` excludes the rigid-body modes
exactly, by diagonalizing :math:`D` in an orthonormal basis of their complement, or
removes the degrees of freedom of pinned nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physjax import graphs as _graphs
from physjax._array_types import Array, ArrayLike, Float, Indices, Real, Scalar, Size
from physjax._checks import check_finite, is_concrete
from physjax.networks import _spring_core as _spc
from physjax.networks._spring_core import SpringNetwork
from physjax.networks._weights import check_edge_weights

__all__ = [
    "DENSE_RIGIDITY_MAX_DOF",
    "NormalModes",
    "SpringNetwork",
    "bond_lengths",
    "bond_vectors",
    "check_rigid",
    "check_stiffnesses",
    "dynamical_matrix",
    "dynamical_matvec",
    "edge_strains",
    "elastic_energy",
    "floppy_mode_count",
    "normal_modes",
    "rigid_body_modes",
    "rigidity_matrix",
    "spring_forces",
    "spring_network",
    "stiffness_matrix",
]

#: Largest number of degrees of freedom for which the host-side rigidity check (a dense
#: eigen-decomposition of RᵀR) runs; above it the check is skipped.
DENSE_RIGIDITY_MAX_DOF = 2500


def spring_network(graph: _graphs.Graph, *,
                   rest_lengths: Real[ArrayLike, " e"] | Sequence[Scalar] | None = None,
                   box: Real[ArrayLike, " d"] | Sequence[Scalar] | None = None) -> SpringNetwork:
    """Validated :class:`SpringNetwork` from a graph with positions (2-D or 3-D).

    Raises ``ValueError`` when two joined nodes overlap (a zero-length spring has no
    direction), when ``rest_lengths`` are not positive and finite with one per edge, or when
    ``box`` is not a positive vector of length d.
    """
    if not isinstance(graph, _graphs.Graph):
        raise TypeError(f"graph must be a physjax.graphs.Graph, got {type(graph).__name__}")
    if graph.positions is None:
        raise ValueError("graph must have node positions (the reference state), got None")
    dim = graph.positions.shape[1]
    if dim not in (2, 3):
        raise ValueError(f"graph.positions must be 2-D or 3-D, got dimension {dim}")
    if box is not None:
        box = jnp.asarray(check_finite(box, "box"), graph.positions.dtype)
        if box.shape != (dim,) or (is_concrete(box) and not np.all(np.asarray(box) > 0)):
            raise ValueError(f"box must hold {dim} positive side lengths, got {box}")
    lengths = jnp.linalg.norm(_spc.minimum_image(_graphs.edge_differences(
        graph, graph.positions, axis=0), box), axis=-1)
    if is_concrete(lengths) and graph.n_edges:
        ln = np.asarray(lengths)
        scale = float(np.max(ln)) if ln.size else 1.0
        bad = np.flatnonzero(ln <= 1e-12 * max(scale, 1e-300))
        if bad.size:
            raise ValueError(
                f"graph.positions: {bad.size} spring(s) join overlapping nodes (zero-length "
                f"springs have no direction), e.g. edge {int(bad[0])} = "
                f"{np.asarray(graph.edges[bad[0]]).tolist()}; move the nodes apart")
    if rest_lengths is None:
        rest_lengths = lengths
    else:
        rest_lengths = jnp.asarray(rest_lengths, lengths.dtype)
        if rest_lengths.shape != (graph.n_edges,):
            raise ValueError(f"rest_lengths must have shape (n_edges,) = ({graph.n_edges},), "
                             f"got {rest_lengths.shape}")
        check_finite(rest_lengths, "rest_lengths")
        if is_concrete(rest_lengths) and np.any(np.asarray(rest_lengths) <= 0):
            bad = np.flatnonzero(np.asarray(rest_lengths) <= 0)
            raise ValueError(f"rest_lengths must be > 0; edges {bad[:10].tolist()} have "
                             f"rest length <= 0")
    return SpringNetwork(graph, rest_lengths, box)


def check_stiffnesses(network: SpringNetwork, stiffnesses: Real[ArrayLike, "*batch e"],
                      name: str = "stiffnesses") -> Real[Array, "*batch e"]:
    """Stiffnesses of shape ``(..., n_edges)``, finite and > 0 (concrete values)."""
    return check_edge_weights(
        stiffnesses, network.n_edges, name,
        not_finite="{name} must be finite, got NaN or infinite entries",
        not_positive="{name} must be > 0 (a spring with k <= 0 is not a spring); edges "
                     "{edges} have k <= 0 (min {minimum:.3g})")


# --------------------------------------------------------------------------- energy

def bond_vectors(network: SpringNetwork, positions: Real[ArrayLike, "*batch n d"] | None = None
                 ) -> Real[Array, "*batch e d"]:
    """:math:`r_j = x_a - x_b` (minimum image if periodic), shape ``(n_edges, d)``."""
    _spc.check_network(network)
    return _spc.bond_vectors_at(network, _spc.checked_positions(network, positions))


def bond_lengths(network: SpringNetwork, positions: Real[ArrayLike, "*batch n d"] | None = None
                 ) -> Float[Array, "*batch e"]:
    """:math:`\\ell_j = |x_a - x_b|`, shape ``(n_edges,)``."""
    return jnp.linalg.norm(bond_vectors(network, positions), axis=-1)


def edge_strains(network: SpringNetwork, positions: Real[ArrayLike, "*#batch n d"] | None = None,
                 *, rest_lengths: Real[ArrayLike, "*#batch e"] | None = None
                 ) -> Float[Array, "*#batch e"]:
    r"""Bond strains :math:`\varepsilon_j = (\ell_j - \ell_{0j})/\ell_{0j}`."""
    l0 = _spc.checked_rest_lengths(network, rest_lengths)
    return (bond_lengths(network, positions) - l0) / l0


def elastic_energy(network: SpringNetwork, stiffnesses: Real[ArrayLike, "*#batch e"],
                   positions: Real[ArrayLike, "*#batch n d"] | None = None, *,
                   rest_lengths: Real[ArrayLike, "*#batch e"] | None = None
                   ) -> Float[Array, "*#batch"]:
    r""":math:`E = \tfrac12\sum_j k_j(\ell_j - \ell_{0j})^2`; leading axes of ``positions``
    are batch axes."""
    check_stiffnesses(network, stiffnesses)
    l0 = _spc.checked_rest_lengths(network, rest_lengths)
    ext = bond_lengths(network, positions) - l0
    return 0.5 * jnp.sum(jnp.asarray(stiffnesses) * ext**2, axis=-1)


def spring_forces(network: SpringNetwork, stiffnesses: Real[ArrayLike, "*#batch e"],
                  positions: Real[ArrayLike, "*#batch n d"] | None = None, *,
                  rest_lengths: Real[ArrayLike, "*#batch e"] | None = None
                  ) -> Float[Array, "*#batch n d"]:
    r"""Forces :math:`F = -\partial E/\partial x` on the nodes, shape ``(n_nodes, d)``:
    :math:`F_a = -\sum_{j\ni a} t_j \hat n_j` (signed), tension :math:`t_j = k_j(\ell_j -
    \ell_{0j})`."""
    r = bond_vectors(network, positions)
    ln = jnp.linalg.norm(r, axis=-1)
    k = _spc.check_edge_array(network, stiffnesses, "stiffnesses")
    t = k * (ln - _spc.checked_rest_lengths(network, rest_lengths))
    f_edge = (t / ln)[..., None] * r            # force pulling a towards b, per unit
    return -_graphs.node_divergence(network.graph, f_edge, axis=-2)


def dynamical_matrix(network: SpringNetwork, stiffnesses: Real[ArrayLike, " e"],
                     positions: Real[ArrayLike, "n d"] | None = None, *,
                     rest_lengths: Real[ArrayLike, " e"] | None = None
                     ) -> Float[Array, "nd nd"]:
    r"""Dynamical matrix :math:`D = \partial^2E/\partial x\partial x` by ``jax.hessian``,
    shape ``(N d, N d)``, node-major degrees of freedom (unit masses)."""
    _spc.check_network(network)
    return _dynamical_matrix(network, _spc.check_edge_array(network, stiffnesses, "stiffnesses"),
                             _spc.checked_positions(network, positions),
                             rest_lengths)


@eqx.filter_jit
def _dynamical_matrix(network, k, x, rest_lengths):
    def energy(flat):
        return elastic_energy(network, k, flat.reshape(x.shape), rest_lengths=rest_lengths)

    return jax.hessian(energy)(x.reshape(-1))


def rigidity_matrix(network: SpringNetwork, positions: Real[ArrayLike, "n d"] | None = None
                    ) -> Float[Array, "e nd"]:
    r"""Rigidity matrix :math:`R` (:math:`N_e \times Nd`): :math:`(Ru)_j = \hat n_j\cdot
    (u_a - u_b)`, the first-order change of bond length :math:`j` under displacements u."""
    _spc.check_network(network)
    return _spc.rigidity_matrix_at(network, _spc.checked_positions(network, positions))


@eqx.filter_jit
def stiffness_matrix(network: SpringNetwork, stiffnesses: Real[ArrayLike, " e"],
                     positions: Real[ArrayLike, "n d"] | None = None, *,
                     rest_lengths: Real[ArrayLike, " e"] | None = None,
                     prestress: bool = False) -> Float[Array, "nd nd"]:
    r"""Dynamical matrix in rigidity-matrix form, :math:`R^\top K R`, plus the prestress
    term :math:`\sum_j (t_j/\ell_j)\Delta_j^\top(I-\hat n_j\hat n_j^\top)\Delta_j` when
    ``prestress=True`` (then it equals :func:`dynamical_matrix` at any state)."""
    k = jnp.asarray(stiffnesses)
    r = bond_vectors(network, positions)
    ln = jnp.linalg.norm(r, axis=-1)
    nhat = r / ln[:, None]
    out = _spc.linear_stiffness(network, k, nhat)
    if not prestress:
        return out
    d = network.dim
    g = (k * (ln - _spc.checked_rest_lengths(network, rest_lengths)) / ln)[:, None, None] * (
        jnp.eye(d) - nhat[:, :, None] * nhat[:, None, :])
    return out + _spc.assemble_blocks(network, g)


def dynamical_matvec(network: SpringNetwork, stiffnesses: Real[ArrayLike, " e"],
                     positions: Real[ArrayLike, "n d"] | None = None
                     ) -> Callable[[Float[Array, " ..."]], Float[Array, " ..."]]:
    r"""Matrix-free linear response :math:`u \mapsto R^\top K R\,u` (``u`` of shape
    ``(N, d)`` or flat ``(N d,)``): a gather and a segment sum over the bonds, no dense
    matrix; the operator of the iterative solves of :mod:`physjax.networks.strain`."""
    r = bond_vectors(network, positions)
    nhat = r / jnp.linalg.norm(r, axis=-1, keepdims=True)
    k = _spc.check_edge_array(network, stiffnesses, "stiffnesses")
    e = network.graph.edges
    n, d = network.n_nodes, network.dim

    def matvec(u):
        flat = u.ndim == 1
        uu = u.reshape(n, d) if flat else u
        t = k * jnp.sum(nhat * (uu[e[:, 0]] - uu[e[:, 1]]), axis=-1)
        f = jax.ops.segment_sum(jnp.concatenate([t[:, None] * nhat, -t[:, None] * nhat]),
                                e.T.reshape(-1), num_segments=n)
        return f.reshape(-1) if flat else f

    return matvec


# --------------------------------------------------------------------------- modes

def rigid_body_modes(network: SpringNetwork, positions: Real[ArrayLike, "n d"] | None = None
                     ) -> Float[Array, "nd r"]:
    r"""Orthonormal basis of the rigid-body motions, shape ``(N d, n_rigid)``: the d
    translations, and (free networks only) the rotations :math:`\omega\times(x - x_{cm})`
    (1 in 2-D, 3 in 3-D), orthonormalized by QR."""
    _spc.check_network(network)
    return _spc.rigid_body_modes_at(network, _spc.checked_positions(network, positions))


class NormalModes(NamedTuple):
    r"""Normal modes of a spring network (unit masses).

    Attributes:
        eigenvalues: :math:`\omega_j^2`, ascending, rigid-body modes excluded.
        vectors: orthonormal eigenvectors :math:`e_j` as columns, shape ``(N d, n_modes)``
            (zero on the degrees of freedom of pinned nodes).
        n_excluded: number of modes left out (rigid-body modes, or pinned degrees of
            freedom).
    """

    eigenvalues: Float[Array, "*batch m"]
    vectors: Float[Array, "*batch nd m"]
    n_excluded: int

    @property
    def frequencies(self) -> Float[Array, "*batch m"]:
        return jnp.sqrt(jnp.clip(self.eigenvalues, 0.0))


def _complement(q):
    """Orthonormal basis of the orthogonal complement of the columns of q."""
    full, _ = jnp.linalg.qr(q, mode="complete")
    return full[:, q.shape[1]:]


def normal_modes(network: SpringNetwork, stiffnesses: Real[ArrayLike, " e"],
                 positions: Real[ArrayLike, "n d"] | None = None, *,
                 pinned: Indices | Size | None = None,
                 rest_lengths: Real[ArrayLike, " e"] | None = None,
                 check: bool = True) -> NormalModes:
    r"""Normal modes of the dynamical matrix (``jax.hessian``; at a stressed state the
    prestress term is included).

    Free network (``pinned=None``): :math:`D` is diagonalized in an orthonormal basis of the
    complement of the :func:`rigid_body_modes`, which excludes the d(d+1)/2 (periodic: d)
    rigid-body modes exactly.  With ``pinned`` node indices the rows and columns of their
    degrees of freedom are removed.  Floppy modes, if any, remain (as zero eigenvalues).
    """
    _spc.check_network(network)
    if check:
        check_stiffnesses(network, stiffnesses)
    n, d = network.n_nodes, network.dim
    x = _spc.checked_positions(network, positions)
    k = jnp.asarray(stiffnesses)
    if pinned is None:
        evals, vectors = _free_modes(network, k, x, rest_lengths)
        return NormalModes(evals, vectors, network.n_rigid_modes)
    pins = _node_indices(pinned, n, "pinned")
    mask = np.ones((n, d), bool)
    mask[pins] = False
    free = np.flatnonzero(mask.reshape(-1))
    evals, vectors = _pinned_modes(network, k, x, rest_lengths, free)
    return NormalModes(evals, vectors, n * d - free.size)


@eqx.filter_jit
def _free_modes(network, k, x, rest_lengths):
    dmat = _dynamical_matrix(network, k, x, rest_lengths)
    basis = _complement(_spc.rigid_body_modes_at(network, x))
    evals, v = jnp.linalg.eigh(basis.T @ dmat @ basis)
    return evals, basis @ v


@eqx.filter_jit
def _pinned_modes(network, k, x, rest_lengths, free):
    dmat = _dynamical_matrix(network, k, x, rest_lengths)
    evals, v = jnp.linalg.eigh(dmat[jnp.ix_(free, free)])
    return evals, jnp.zeros((dmat.shape[0], free.size), v.dtype).at[free].set(v)


def _node_indices(nodes, n_nodes, name):
    arr = np.atleast_1d(np.asarray(nodes))
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must be a 1-D sequence of integer node indices, got {nodes!r}")
    if arr.size and (arr.min() < 0 or arr.max() >= n_nodes):
        bad = arr[(arr < 0) | (arr >= n_nodes)].tolist()
        raise ValueError(f"{name} has node indices {bad} outside [0, {n_nodes})")
    return arr


def floppy_mode_count(network: SpringNetwork, positions: Real[ArrayLike, "n d"] | None = None,
                      *, relative_tolerance: Scalar = 1e-9) -> int:
    r"""Number of floppy modes: zero modes of :math:`R^\top R` beyond the rigid-body ones
    (host-side, dense eigenvalues of :math:`R^\top R` in float64; independent of k > 0).
    A mode counts as zero below ``relative_tolerance`` times the largest eigenvalue."""
    _spc.check_network(network)
    if not relative_tolerance >= 0:
        raise ValueError(f"relative_tolerance must be >= 0, got {relative_tolerance}")
    rmat = np.asarray(rigidity_matrix(network, positions), np.float64)
    ev = np.linalg.eigvalsh(rmat.T @ rmat)
    n_zero = int(np.sum(ev <= relative_tolerance * max(ev[-1], 1e-300)))
    return max(n_zero - network.n_rigid_modes, 0)


def check_rigid(network: SpringNetwork, positions: Real[ArrayLike, "n d"] | None = None, *,
                name: str = "network") -> None:
    """Raise ``ValueError`` naming ``name`` and the number of floppy modes unless the
    network is rigid (skipped for concrete networks above :data:`DENSE_RIGIDITY_MAX_DOF`
    degrees of freedom and for traced ones)."""
    _spc.check_network(network, name)
    x = _spc.checked_positions(network, positions)
    if network.n_dof > DENSE_RIGIDITY_MAX_DOF or not is_concrete(x) \
            or not is_concrete(network.graph.edges):
        return
    n_floppy = floppy_mode_count(network, positions)
    if n_floppy:
        deg = _graphs.degrees(network.graph)
        low = np.flatnonzero(deg < network.dim + 1)
        hint = (f"; nodes with fewer than d+1 = {network.dim + 1} springs: "
                f"{low[:10].tolist()}" if low.size else "")
        raise ValueError(
            f"{name} has {n_floppy} floppy mode(s) (zero modes beyond the "
            f"{network.n_rigid_modes} rigid-body ones): its response to a strain is not "
            f"unique and the task needs a rigid network{hint}; add springs or prune less")
