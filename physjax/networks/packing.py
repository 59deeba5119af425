r"""Disordered spring networks from jammed packings of soft disks and spheres.

Protocol (the standard route to the networks of Liu, Nagel and co-workers):

1. :func:`jammed_packing`: N soft particles with bidisperse radii (:func:`bidisperse_radii`,
   ratio 1.4, half small and half large), placed uniformly at random in a periodic box (or an
   open box with soft walls) at a packing fraction :math:`\phi` above jamming
   (:math:`\phi_J \approx 0.84` in 2-D, 0.64 in 3-D), relaxed to a local energy minimum of
   the harmonic soft-sphere energy
   :math:`U = \sum_{i<j} \tfrac{\epsilon}{2}(1 - r_{ij}/\sigma_{ij})^2\,\Theta(\sigma_{ij} -
   r_{ij})`, :math:`\sigma_{ij} = R_i + R_j`, by FIRE (:func:`fire_minimize`).
2. :func:`contact_network`: a spring on every overlapping pair, at its current length (so the
   network is unstressed), after removing rattlers (particles with fewer than d+1 contacts,
   iteratively).
3. :func:`prune_to_coordination`: remove random bonds, never taking a node below ``d+1``
   bonds, down to a target mean coordination :math:`Z` (isostatic: :math:`Z_c = 2d`), and
   check that the result is rigid (no floppy modes; retried with a new key otherwise).

FIRE (Bitzek et al., PRL 97, 170201 (2006); the semi-implicit Euler variant of Guénolé et
al. 2020) is written here as one ``lax.while_loop`` rather than taken from JAX MD: jax_md is
not a physjax dependency, and the minimizer is 40 lines that work on any energy (it also
serves the large-strain free states of :mod:`physjax.networks.strain`).  Neighbour pairs of
the packing are rebuilt on the host (``scipy.spatial.cKDTree``, with a skin) between chunks
of FIRE steps, so a packing of N particles costs O(N) per step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from physjax import _graph_build
from physjax import graphs as _graphs
from physjax._array_types import Array, ArrayLike, Float, Int, Key, Real, Scalar
from physjax._checks import check_finite, check_key, check_positive, check_positive_int
from physjax.networks import _spring_core as _spc
from physjax.networks import spring as _sp

__all__ = [
    "FireResult",
    "Packing",
    "bidisperse_radii",
    "contact_network",
    "fire_minimize",
    "jammed_network",
    "jammed_packing",
    "prune_to_coordination",
    "soft_sphere_energy",
]



class FireResult(NamedTuple):
    """Outcome of :func:`fire_minimize`: final ``position``, ``energy``, ``max_force``
    (largest force component), ``n_steps`` taken and ``converged`` (max_force <= tol)."""

    position: Array
    energy: Array
    max_force: Array
    n_steps: Array
    converged: Array


def fire_minimize(energy_fn: Callable[..., Any], x0: Real[ArrayLike, "*shape"], *,
                  dt: Scalar = 0.05, dt_max: Scalar | None = None,
                  force_tol: Scalar | None = None, max_steps: int = 20_000, n_min: int = 5,
                  f_inc: Scalar = 1.1, f_dec: Scalar = 0.5, alpha_start: Scalar = 0.1,
                  f_alpha: Scalar = 0.99, max_step: Scalar | None = None,
                  max_displacement: Scalar | None = None) -> FireResult:
    r"""FIRE minimization of ``energy_fn(x)`` from ``x0`` (any array shape; unit masses).

    Each step: :math:`P = F\cdot v`; if :math:`P > 0` for more than ``n_min`` steps,
    :math:`\Delta t \leftarrow \min(f_{inc}\Delta t, \Delta t_{max})`,
    :math:`\alpha \leftarrow f_\alpha\alpha`; if :math:`P \le 0`, :math:`x \leftarrow x -
    \tfrac12\Delta t\,v`, :math:`v \leftarrow 0`, :math:`\Delta t \leftarrow f_{dec}\Delta t`,
    :math:`\alpha \leftarrow \alpha_{start}`; then :math:`v \leftarrow v + \Delta t F`,
    :math:`v \leftarrow (1-\alpha)v + \alpha|v|\hat F`, :math:`x \leftarrow x + \Delta t v`.
    Stops when the largest force component is below ``force_tol`` (default 1e-10 in
    float64, 1e-5 in float32) or after ``max_steps``.  ``max_step`` caps each coordinate's
    move per step; ``max_displacement`` stops the loop (unconverged) once a coordinate has
    moved that far from ``x0`` (neighbour lists with a skin).  Pure; ``jit``/``vmap``-
    compatible.
    """
    x0 = jnp.asarray(check_finite(x0, "x0"))
    check_positive(dt, "dt")
    check_positive(max_steps, "max_steps")
    if not jnp.issubdtype(x0.dtype, jnp.floating):
        x0 = x0.astype(jax.dtypes.canonicalize_dtype(float))
    dtype = x0.dtype
    tol = (1e-10 if dtype == jnp.float64 else 1e-5) if force_tol is None else force_tol
    dt_max = 10.0 * dt if dt_max is None else dt_max
    vg = jax.value_and_grad(energy_fn)

    def cond(s):
        x, v, e, g, h, a, npos, step = s
        go = (jnp.max(jnp.abs(g)) > tol) & (step < max_steps)
        if max_displacement is not None:
            go &= jnp.max(jnp.abs(x - x0)) < max_displacement
        return go

    def body(s):
        x, v, e, g, h, a, npos, step = s
        f = -g
        power = jnp.sum(f * v)
        up = power > 0
        npos = jnp.where(up, npos + 1, 0)
        grow = up & (npos > n_min)
        h = jnp.where(grow, jnp.minimum(h * f_inc, dt_max), jnp.where(up, h, h * f_dec))
        a = jnp.where(grow, a * f_alpha, jnp.where(up, a, alpha_start))
        x = jnp.where(up, x, x - 0.5 * h * v)
        v = jnp.where(up, v, 0.0)
        v = v + h * f
        fn = jnp.sqrt(jnp.sum(f * f))
        vn = jnp.sqrt(jnp.sum(v * v))
        v = (1.0 - a) * v + a * vn * f / jnp.where(fn > 0, fn, 1.0)
        x = x + (h * v if max_step is None else jnp.clip(h * v, -max_step, max_step))
        e, g = vg(x)
        return x, v, e, g, h, a, npos, step + 1

    e0, g0 = vg(x0)
    init = (x0, jnp.zeros_like(x0), e0, g0, jnp.asarray(dt, dtype), jnp.asarray(alpha_start,
            dtype), jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))
    x, _, e, g, _, _, _, step = jax.lax.while_loop(cond, body, init)
    fmax = jnp.max(jnp.abs(g))
    return FireResult(x, e, fmax, step, fmax <= tol)


# ------------------------------------------------------------------------- packings

class Packing(NamedTuple):
    """A relaxed packing: ``positions`` (N, d) (wrapped into the box if periodic),
    ``radii`` (N,), ``box`` side lengths (d,), ``periodic``, final ``energy`` and
    ``max_force``, ``packing_fraction``."""

    positions: np.ndarray
    radii: np.ndarray
    box: np.ndarray
    periodic: bool
    energy: float
    max_force: float
    packing_fraction: float


def bidisperse_radii(n_particles: int, *, ratio: Scalar = 1.4, small_fraction: Scalar = 0.5,
                     small_radius: Scalar = 0.5) -> Float[np.ndarray, " n"]:
    """Radii: the first ``round(small_fraction n)`` particles ``small_radius``, the others
    ``ratio * small_radius`` (ratio 1.4 avoids crystallization in 2-D)."""
    n = check_positive_int(n_particles, "n_particles", minimum=2)
    if not (ratio >= 1 and 0 <= small_fraction <= 1 and small_radius > 0):
        raise ValueError(f"need ratio >= 1, 0 <= small_fraction <= 1 and small_radius > 0, "
                         f"got {ratio}, {small_fraction}, {small_radius}")
    n_small = int(round(small_fraction * n))
    return np.where(np.arange(n) < n_small, small_radius, small_radius * ratio)


def _volume(radii, dim):
    return float(np.sum(math.pi ** (dim / 2) / math.gamma(dim / 2 + 1) * radii**dim))


def soft_sphere_energy(positions: Real[ArrayLike, "n d"], radii: Real[ArrayLike, " n"],
                       box: Real[ArrayLike, " d"] | Scalar, *, periodic: bool = True,
                       pairs: Int[ArrayLike, "q 2"] | None = None,
                       pair_mask: Real[ArrayLike, " q"] | None = None,
                       epsilon: Scalar = 1.0) -> Float[Array, ""]:
    r"""Harmonic soft-sphere energy :math:`\sum_{i<j}\tfrac\epsilon2(1-r_{ij}/\sigma_{ij})^2`
    over overlapping pairs (all pairs, or the candidate ``pairs`` with 0/1 ``pair_mask``);
    in an open box each particle also overlaps the walls :math:`x_\alpha = 0, L_\alpha`
    with energy :math:`\tfrac\epsilon2(\delta/2R_i)^2` for an overlap :math:`\delta`."""
    x = jnp.asarray(check_finite(positions, "positions"))
    r = jnp.asarray(check_positive(radii, "radii"), x.dtype)
    box = jnp.asarray(check_positive(box, "box"), x.dtype)
    if x.ndim != 2 or r.shape != x.shape[:1]:
        raise ValueError(f"positions (n, dim) and radii (n,) disagree: {x.shape}, {r.shape}")
    if pairs is None:
        i, j = np.triu_indices(x.shape[0], 1)
        pairs = np.stack([i, j], -1)
    pairs = jnp.asarray(pairs)
    mask = jnp.ones(pairs.shape[0], x.dtype) if pair_mask is None else pair_mask
    d = x[pairs[:, 0]] - x[pairs[:, 1]]
    if periodic:
        d = d - box * jnp.round(d / box)
    r2 = jnp.sum(d * d, -1)
    sigma = r[pairs[:, 0]] + r[pairs[:, 1]]
    ok = (mask > 0) & (r2 < sigma**2)
    dist = jnp.sqrt(jnp.where(ok, r2, 1.0))
    e = 0.5 * epsilon * jnp.sum(jnp.where(ok, (1.0 - dist / sigma) ** 2, 0.0))
    if not periodic:
        low = jax.nn.relu(r[:, None] - x)
        high = jax.nn.relu(x + r[:, None] - box)
        e = e + 0.5 * epsilon * jnp.sum(((low + high) / (2 * r[:, None])) ** 2)
    return e


def _candidate_pairs(x, radii, box, periodic, skin):
    from scipy.spatial import cKDTree
    cutoff = 2.0 * radii.max() * (1.0 + skin)
    if periodic:
        tree = cKDTree(np.mod(x, box), boxsize=box)
    else:
        tree = cKDTree(x)
    pairs = tree.query_pairs(cutoff, output_type="ndarray").reshape(-1, 2)
    size = max(256, 1 << int(math.ceil(math.log2(max(len(pairs), 1) * 1.1 + 1))))
    padded = np.zeros((size, 2), np.int32)
    padded[:, 1] = 1
    padded[: len(pairs)] = pairs
    mask = np.zeros(size)
    mask[: len(pairs)] = 1.0
    return padded, mask


def _fire_chunk(x, radii, box, pairs, mask, periodic, force_tol, steps, reach):
    def energy(y):
        return soft_sphere_energy(y, radii, box, periodic=periodic, pairs=pairs,
                                  pair_mask=mask)

    return fire_minimize(energy, x, dt=0.05, dt_max=0.5, force_tol=force_tol,
                         max_steps=steps, max_step=0.1 * reach, max_displacement=reach)


_fire_chunk_jit = jax.jit(_fire_chunk, static_argnums=(5, 7))
_energy_grad_jit = jax.jit(lambda x, r, box, pairs, mask, periodic: jax.value_and_grad(
    soft_sphere_energy)(x, r, box, periodic=periodic, pairs=pairs, pair_mask=mask),
    static_argnums=5)


def jammed_packing(key: Key, n_particles: int, *, dim: int = 2,
                   packing_fraction: Scalar | None = None, periodic: bool = True,
                   radii: Real[ArrayLike, " n"] | None = None, force_tol: Scalar | None = None,
                   chunk_steps: int = 2000, max_chunks: int = 200,
                   skin: Scalar = 0.3) -> Packing:
    """Relaxed soft-sphere packing at ``packing_fraction`` (default 0.90 in 2-D, 0.72 in
    3-D, both well above jamming) from uniform random positions drawn with ``key``.

    ``radii`` default to :func:`bidisperse_radii`.  FIRE runs in chunks of ``chunk_steps``
    with a neighbour list rebuilt between chunks, until the largest force component is below
    ``force_tol`` (default 1e-10 in float64, 1e-5 in float32); ``RuntimeError`` after
    ``max_chunks`` chunks.
    """
    key = check_key(key)
    n = check_positive_int(n_particles, "n_particles", minimum=2)
    if dim not in (2, 3):
        raise ValueError(f"dim must be 2 or 3, got {dim}")
    phi = (0.90 if dim == 2 else 0.72) if packing_fraction is None else float(packing_fraction)
    if not 0 < phi < 1.5:
        raise ValueError(f"packing_fraction must be in (0, 1.5), got {packing_fraction}")
    radii_given = radii
    radii = bidisperse_radii(n) if radii is None else np.asarray(radii, float)
    if radii.shape != (n,) or np.any(radii <= 0):
        raise ValueError(f"radii must be {n} positive numbers, got shape {radii.shape}")
    side = (_volume(radii, dim) / phi) ** (1.0 / dim)
    if periodic and side < 4 * radii.max():
        # a pair must touch through one periodic image at most (minimum image convention)
        hint = ""
        if radii_given is None:
            m = n
            while (_volume(bidisperse_radii(m), dim) / phi) ** (1.0 / dim) < 4 * radii.max():
                m += 1
            hint = f"; use n_particles >= {m}"
        raise ValueError(f"n_particles={n} is too few for a periodic packing at packing_fraction "
                         f"{phi}: the box side {side:.3g} must be at least twice the largest "
                         f"contact distance 2 max(radii) = {2 * radii.max():.3g}, so that each "
                         f"pair touches through one periodic image at most{hint}")
    box = np.full(dim, side)
    dtype = jax.dtypes.canonicalize_dtype(float)
    tol = (1e-10 if dtype == np.float64 else 1e-5) if force_tol is None else force_tol
    rng = _graph_build.host_rng(key)
    x = rng.random((n, dim)) * box
    if not periodic:   # keep the centres at least one radius from the walls
        x = radii[:, None] + rng.random((n, dim)) * (box - 2 * radii[:, None])
    r_j, box_j = jnp.asarray(radii, dtype), jnp.asarray(box, dtype)
    for _ in range(max_chunks):
        pairs, mask = _candidate_pairs(x, radii, box, periodic, skin)
        res = _fire_chunk_jit(jnp.asarray(x, dtype), r_j, box_j, jnp.asarray(pairs),
                              jnp.asarray(mask, dtype), periodic, tol, chunk_steps,
                              skin * radii.max() / math.sqrt(dim))
        x = np.asarray(res.position, np.float64)
        if periodic:
            x = np.mod(x, box)
        if bool(res.converged):   # confirm with a fresh neighbour list
            pairs, mask = _candidate_pairs(x, radii, box, periodic, skin)
            e, g = _energy_grad_jit(jnp.asarray(x, dtype), r_j, box_j, jnp.asarray(pairs),
                                    jnp.asarray(mask, dtype), periodic)
            fmax = float(jnp.max(jnp.abs(g)))
            if fmax <= tol:
                return Packing(x, radii, box, periodic, float(e), fmax, phi)
    raise RuntimeError(f"FIRE did not reach force_tol={tol} in {max_chunks} x {chunk_steps} "
                       "steps; raise max_chunks or force_tol")


def _prune_rattlers(edges, n, dim):
    keep = np.ones(n, bool)
    while True:
        alive = keep[edges[:, 0]] & keep[edges[:, 1]]
        deg = np.bincount(edges[alive].ravel(), minlength=n)
        drop = keep & (deg < dim + 1)
        if not drop.any():
            return keep, edges[alive]
        keep &= ~drop


def contact_network(packing: Packing) -> _sp.SpringNetwork:
    """Spring network on the contacts (overlapping pairs) of a packing, rattlers removed,
    springs at their current lengths (unstressed), periodic if the packing is."""
    x, radii, box = packing.positions, packing.radii, packing.box
    n, dim = x.shape
    pairs, mask = _candidate_pairs(x, radii, box, packing.periodic, 0.05)
    pairs = pairs[mask > 0]
    d = x[pairs[:, 0]] - x[pairs[:, 1]]
    if packing.periodic:
        d -= box * np.round(d / box)
    touching = np.linalg.norm(d, axis=1) < radii[pairs[:, 0]] + radii[pairs[:, 1]]
    keep, edges = _prune_rattlers(pairs[touching], n, dim)
    if keep.sum() < dim + 2:
        raise ValueError(f"packing has only {keep.sum()} non-rattler particles; compress it "
                         "more (larger packing_fraction)")
    index = np.cumsum(keep) - 1
    graph = _graphs.Graph(_graph_build.canonical_edges(index[edges]), int(keep.sum()), x[keep])
    return _sp.spring_network(graph, box=box if packing.periodic else None)


def prune_to_coordination(key: Key, network: _sp.SpringNetwork, mean_coordination: Scalar, *,
                          min_degree: int | None = None, check_rigidity: bool = True,
                          max_tries: int = 20) -> _sp.SpringNetwork:
    """Remove random bonds (one pass over a random order; a bond goes only if both its
    nodes keep at least ``min_degree`` = d+1 bonds) until the mean coordination
    2 n_edges / n_nodes equals ``mean_coordination`` (rounded to whole bonds).  With
    ``check_rigidity`` the result must have no floppy mode (:func:`spring.floppy_mode_count`,
    networks up to :data:`spring.DENSE_RIGIDITY_MAX_DOF` dofs); otherwise another random
    order is tried, up to ``max_tries``."""
    key = check_key(key)
    _spc.check_network(network)
    check_positive(mean_coordination, "mean_coordination")
    max_tries = check_positive_int(max_tries, "max_tries")
    n, dim = network.n_nodes, network.dim
    min_degree = dim + 1 if min_degree is None else check_positive_int(min_degree, "min_degree")
    target = int(round(mean_coordination * n / 2))
    z_now = 2 * network.n_edges / n
    if target > network.n_edges:
        raise ValueError(f"mean_coordination={mean_coordination} exceeds the network's "
                         f"{z_now:.4g}; compress the packing more")
    if target < min_degree * n / 2:
        raise ValueError(f"mean_coordination={mean_coordination} is below min_degree="
                         f"{min_degree}: no network has every node with >= {min_degree} bonds")
    edges = np.asarray(network.graph.edges)
    rng = _graph_build.host_rng(key)
    big = check_rigidity and network.n_dof > _sp.DENSE_RIGIDITY_MAX_DOF
    for _ in range(max_tries):
        deg = np.bincount(edges.ravel(), minlength=n)
        alive = np.ones(len(edges), bool)
        n_remove = len(edges) - target
        for j in rng.permutation(len(edges)):
            if n_remove == 0:
                break
            a, b = edges[j]
            if deg[a] > min_degree and deg[b] > min_degree:
                alive[j] = False
                deg[a] -= 1
                deg[b] -= 1
                n_remove -= 1
        if n_remove:
            continue
        graph = _graphs.Graph(edges[alive], n, network.positions)
        out = _sp.SpringNetwork(graph, network.rest_lengths[np.flatnonzero(alive)],
                                network.box)
        if not check_rigidity or big or _sp.floppy_mode_count(out) == 0:
            return out
    raise RuntimeError(f"no rigid network with mean coordination {mean_coordination} found "
                       f"in {max_tries} random prunings; raise mean_coordination")


def jammed_network(key: Key, n_particles: int, mean_coordination: Scalar | None = None, *,
                   dim: int = 2, packing_fraction: Scalar | None = None,
                   periodic: bool = True, **packing_kw: Any) -> _sp.SpringNetwork:
    """:func:`jammed_packing` -> :func:`contact_network` -> :func:`prune_to_coordination`
    (skipped if ``mean_coordination`` is None).  The network has at most ``n_particles``
    nodes (rattlers removed).

    Refused up front (``ValueError`` naming the argument): ``n_particles < dim + 2`` (the
    contact network needs ``dim + 2`` non-rattlers), a ``mean_coordination`` below the
    ``dim + 1`` bonds every node keeps or above ``n_particles - 1`` (a simple graph on
    ``n`` nodes has mean coordination at most ``n - 1``), and a periodic box too small for
    the minimum image convention (see :func:`jammed_packing`)."""
    k_pack, k_prune = jax.random.split(check_key(key))
    n = check_positive_int(n_particles, "n_particles", minimum=2)
    if dim in (2, 3) and n < dim + 2:
        raise ValueError(f"n_particles must be >= dim + 2 = {dim + 2} (a contact network "
                         f"needs that many non-rattler particles), got {n}")
    if mean_coordination is not None:
        check_positive(mean_coordination, "mean_coordination")
        if np.ndim(mean_coordination):
            raise ValueError(f"mean_coordination must be a number, got shape "
                             f"{np.shape(mean_coordination)}")
        z = float(mean_coordination)
        if z > n - 1:
            raise ValueError(f"n_particles={n} is too few for mean_coordination={z}: a network "
                             f"on n nodes has mean coordination at most n - 1; use "
                             f"n_particles >= {math.ceil(z) + 1}")
        if dim in (2, 3) and z < dim + 1:
            raise ValueError(f"mean_coordination must be >= dim + 1 = {dim + 1} (every node "
                             f"keeps at least dim + 1 bonds), got {z}")
    packing = jammed_packing(k_pack, n_particles, dim=dim, packing_fraction=packing_fraction,
                             periodic=periodic, **packing_kw)
    net = contact_network(packing)
    if mean_coordination is None:
        return net
    return prune_to_coordination(k_prune, net, mean_coordination)
