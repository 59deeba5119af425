"""Small spring networks shared by the spring-network tests (built once per session, in
float64)."""

from __future__ import annotations

import functools

import jax
import numpy as np

from physjax import graphs
from physjax.networks import packing, spring


@functools.cache
def perturbed_triangular(rows=5, cols=5, seed=0):
    """Triangular lattice with positions jittered by 0.1 (generic, rigid, free): 2-D."""
    with jax.enable_x64(True):
        g = graphs.triangular_grid(rows, cols)
        pos = np.asarray(g.positions) + 0.1 * np.random.default_rng(seed).standard_normal(
            (g.n_nodes, 2))
        return spring.spring_network(graphs.Graph(g.edges, g.n_nodes, pos))


@functools.cache
def complete_3d(n=10, seed=0):
    """Complete graph on n random points in the unit cube: a rigid free 3-D network."""
    with jax.enable_x64(True):
        pos = np.random.default_rng(seed).random((n, 3))
        i, j = np.triu_indices(n, 1)
        return spring.spring_network(graphs.Graph(np.stack([i, j], 1), n, pos))


@functools.cache
def jammed_packing_2d(n_particles=230, seed=0):
    """Periodic bidisperse packing at packing fraction 0.90."""
    with jax.enable_x64(True):
        return packing.jammed_packing(jax.random.key(seed), n_particles)


@functools.cache
def jammed_2d(n_particles=230, z=4.6, seed=0):
    """Periodic 2-D network: contacts of :func:`jammed_packing_2d`, pruned to mean
    coordination z (None: not pruned)."""
    with jax.enable_x64(True):
        net = packing.contact_network(jammed_packing_2d(n_particles, seed))
        if z is None:
            return net
        return packing.prune_to_coordination(jax.random.key(seed + 1000), net, z)


def random_stiffnesses(network, seed=1, low=0.5, high=1.5):
    return np.random.default_rng(seed).uniform(low, high, network.n_edges)


def unbonded_pair(network, node):
    """``[node, j]`` with j the nearest node not bonded to ``node`` (minimum image)."""
    x = np.asarray(network.positions)
    e = np.asarray(network.graph.edges)
    d = x - x[node]
    if network.box is not None:
        box = np.asarray(network.box)
        d -= box * np.round(d / box)
    dist = np.linalg.norm(d, axis=1)
    dist[node] = np.inf
    dist[e[e[:, 0] == node, 1]] = np.inf
    dist[e[e[:, 1] == node, 0]] = np.inf
    return np.array([node, int(np.argmin(dist))])


def farthest_node(network, node):
    x = np.asarray(network.positions)
    d = x - x[node]
    if network.box is not None:
        box = np.asarray(network.box)
        d -= box * np.round(d / box)
    return int(np.argmax(np.linalg.norm(d, axis=1)))


def allostery_pairs(network, node=0):
    """Source pair at ``node``, target pair at the farthest node (both unbonded pairs)."""
    return unbonded_pair(network, node), unbonded_pair(network, farthest_node(network, node))
