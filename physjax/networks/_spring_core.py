r"""Spring-network internals shared by the networks modules.

* :class:`SpringNetwork`, the network type (re-exported by :mod:`physjax.networks.spring`,
  where it is documented and built);
* input checks of the public spring functions: :func:`check_network`,
  :func:`checked_positions`, :func:`checked_rest_lengths`, :func:`check_edge_array`;
* unvalidated kernels, which take positions already checked (``x``, shape ``(N, d)``) and
  run under ``jit`` on traced inputs: :func:`minimum_image`, :func:`bond_vectors_at`,
  :func:`rigidity_matrix_at`, :func:`rigid_body_modes_at`, :func:`linear_stiffness`,
  :func:`assemble_blocks`.

Used by :mod:`~physjax.networks.spring`, :mod:`~physjax.networks.strain`,
:mod:`~physjax.networks.thermal`, :mod:`~physjax.networks.packing` and the learning
modules; the physics and the notation are documented in :mod:`physjax.networks.spring`.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp

from physjax import graphs as _graphs
from physjax._array_types import Array, Float
from physjax._checks import check_finite


class SpringNetwork(eqx.Module):
    r"""A spring network: graph with reference positions, rest lengths, optional periodic box.

    Stiffnesses are *not* stored: every function takes them as an argument so that they can
    be trained and differentiated.  ``rest_lengths`` default to the reference bond lengths
    (a stress-free reference state).  ``box`` (shape ``(d,)``) makes the network periodic:
    bond vectors use the minimum image convention.  Build with
    :func:`~physjax.networks.spring.spring_network`, which validates the input.
    """

    graph: _graphs.Graph
    rest_lengths: Float[Array, " e"]
    box: Float[Array, " d"] | None = None

    @property
    def positions(self) -> Float[Array, "*batch n d"]:
        return self.graph.positions

    @property
    def n_nodes(self) -> int:
        return self.graph.n_nodes

    @property
    def n_edges(self) -> int:
        return self.graph.edges.shape[-2]

    @property
    def dim(self) -> int:
        return self.graph.positions.shape[-1]

    @property
    def n_dof(self) -> int:
        return self.n_nodes * self.dim

    @property
    def periodic(self) -> bool:
        return self.box is not None

    @property
    def n_rigid_modes(self) -> int:
        """d translations in a periodic box; d(d+1)/2 translations and rotations if free."""
        d = self.dim
        return d if self.periodic else d * (d + 1) // 2


# --------------------------------------------------------------------------- input checks

def check_network(network, name="network"):
    """``network`` itself if it is a :class:`SpringNetwork`, else ``TypeError``."""
    if not isinstance(network, SpringNetwork):
        raise TypeError(f"{name} must be a SpringNetwork (see spring_network), "
                        f"got {type(network).__name__}")
    return network


def checked_positions(network, positions):
    """``positions`` (finite, shape ``(..., n_nodes, dim)``), or the reference positions
    when ``None``."""
    x = network.positions if positions is None else jnp.asarray(check_finite(positions,
                                                                               "positions"))
    if x.shape[-2:] != (network.n_nodes, network.dim):
        raise ValueError(f"positions must have shape (n_nodes, dim) = "
                         f"({network.n_nodes}, {network.dim}), got {x.shape}")
    return x


def checked_rest_lengths(network, rest_lengths):
    """``rest_lengths`` checked by :func:`check_edge_array`, or the network's when ``None``."""
    if rest_lengths is None:
        return network.rest_lengths
    return check_edge_array(network, rest_lengths, "rest_lengths")


def check_edge_array(network, values, name):
    """Shape ``(..., n_edges)`` and finite (concrete values); no sign check."""
    a = jnp.asarray(check_finite(values, name))
    if a.ndim < 1 or a.shape[-1] != network.n_edges:
        raise ValueError(f"{name} must have shape (..., n_edges={network.n_edges}), got "
                         f"{tuple(a.shape)}")
    return a


# --------------------------------------------------------------------------- kernels

def minimum_image(vectors, box):
    """``vectors`` wrapped to the minimum image of a periodic ``box`` (unchanged if None)."""
    return vectors if box is None else vectors - box * jnp.round(vectors / box)


def bond_vectors_at(network, x) -> Array:
    """:math:`r_j = x_a - x_b` (minimum image if periodic) at checked positions ``x``."""
    e = network.graph.edges
    return minimum_image(x[..., e[:, 0], :] - x[..., e[:, 1], :], network.box)


@eqx.filter_jit
def rigidity_matrix_at(network, x):
    """Rigidity matrix R (``(n_edges, N d)``) at checked positions ``x``."""
    r = bond_vectors_at(network, x)
    nhat = r / jnp.linalg.norm(r, axis=-1, keepdims=True)
    n_e, d, n = network.n_edges, network.dim, network.n_nodes
    e = network.graph.edges
    rows = jnp.arange(n_e)
    out = jnp.zeros((n_e, n, d), nhat.dtype)
    out = out.at[rows, e[:, 0]].add(nhat).at[rows, e[:, 1]].add(-nhat)
    return out.reshape(n_e, n * d)


def assemble_blocks(network, g):
    """Σ_j Δ_jᵀ g_j Δ_j for d×d blocks g_j (shape (n_edges, d, d)), dense (N d, N d)."""
    n, d = network.n_nodes, network.dim
    e = network.graph.edges
    blocks = jnp.zeros((n, n, d, d), g.dtype)
    blocks = (blocks.at[e[:, 0], e[:, 0]].add(g).at[e[:, 1], e[:, 1]].add(g)
              .at[e[:, 0], e[:, 1]].add(-g).at[e[:, 1], e[:, 0]].add(-g))
    return blocks.transpose(0, 2, 1, 3).reshape(n * d, n * d)


def linear_stiffness(network, k, nhat):
    """RᵀKR assembled from the bonds' d×d blocks k_j n̂_j n̂_jᵀ (no dense R)."""
    return assemble_blocks(network, k[:, None, None] * nhat[:, :, None] * nhat[:, None, :])


@eqx.filter_jit
def rigid_body_modes_at(network, x):
    """Orthonormal rigid-body modes (``(N d, n_rigid)``) at checked positions ``x``."""
    n, d = network.n_nodes, network.dim
    cols = [jnp.zeros((n, d), x.dtype).at[:, a].set(1.0) for a in range(d)]
    if not network.periodic:
        c = x - jnp.mean(x, axis=0)
        if d == 2:
            cols.append(jnp.stack([-c[:, 1], c[:, 0]], -1))
        else:
            for a in range(3):
                w = jnp.zeros(3, x.dtype).at[a].set(1.0)
                cols.append(jnp.cross(w, c))
    q, _ = jnp.linalg.qr(jnp.stack([v.reshape(-1) for v in cols], -1))
    return q
