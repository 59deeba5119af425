"""Spin models: energies and couplings.

The lattice Ising model lives here; dense models (Curie-Weiss, SK, Hopfield) join it.

Conventions used throughout :mod:`physjax.spins`: spins are :math:`s_i=\\pm1`
(stored as ``int8``), :math:`k_B = 1`, and the periodic lattice energy is

.. math::  H(s) = -J \\sum_i \\sum_{a=1}^{d} s_i s_{i+e_a} - h \\sum_i s_i ,

with the neighbour :math:`i+e_a` taken by a periodic ``roll`` along axis ``a``
(for a side of length 2 a pair is therefore counted twice, consistently in the
energy, the samplers and the exact enumeration).
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jax import Array

from physjax._checks import check_finite, check_shape, check_spins

__all__ = ["IsingLattice", "lattice_energy", "magnetization", "neighbour_sum"]


class IsingLattice(eqx.Module):
    """Periodic hypercubic Ising model in 2 or 3 dimensions.

    Attributes:
        shape: lattice side lengths, e.g. ``(64, 64)`` or ``(16, 16, 16)`` (static).
        J: nearest-neighbour coupling (``J > 0`` ferromagnetic).
        h: uniform external field.
    """

    shape: tuple[int, ...] = eqx.field(static=True)
    J: Array
    h: Array

    def __init__(self, shape, J=1.0, h=0.0):
        self.shape = check_shape(shape, "shape", dims=(2, 3), minimum=2)
        self.J = jnp.asarray(check_finite(J, "J"), dtype=float)
        self.h = jnp.asarray(check_finite(h, "h"), dtype=float)
        if self.J.ndim or self.h.ndim:
            raise ValueError(f"J and h must be scalars, got shapes {self.J.shape} and "
                             f"{self.h.shape}; vmap over models for several couplings")

    @property
    def n_spins(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def dimension(self) -> int:
        return len(self.shape)

    @property
    def coordination(self) -> int:
        """Number of nearest neighbours z = 2d."""
        return 2 * len(self.shape)


def _check_lattice_spins(model: IsingLattice, spins) -> Array:
    spins = jnp.asarray(check_spins(spins, "spins"))
    if spins.shape != model.shape:
        raise ValueError(f"spins must have the lattice shape {model.shape}, got {spins.shape}; "
                         f"vmap over replicas")
    return spins


def neighbour_sum(spins: Array) -> Array:
    """Sum of the 2d nearest neighbours of every site, :math:`\\sum_{j\\in\\partial i} s_j`."""
    s = spins.astype(jnp.int32)
    total = jnp.zeros_like(s)
    for axis in range(s.ndim):
        total = total + jnp.roll(s, 1, axis) + jnp.roll(s, -1, axis)
    return total


def lattice_energy(model: IsingLattice, spins: Array) -> Array:
    """Total energy :math:`H(s) = -J\\sum_i\\sum_a s_i s_{i+e_a} - h\\sum_i s_i`."""
    spins = _check_lattice_spins(model, spins)
    s = spins.astype(jnp.int32)
    bonds = sum(jnp.sum(s * jnp.roll(s, -1, axis)) for axis in range(s.ndim))
    return -model.J * bonds - model.h * jnp.sum(s)


def magnetization(spins: Array) -> Array:
    """Magnetization per spin :math:`m = \\sum_i s_i / N` (over the trailing lattice axes of a
    single configuration)."""
    return jnp.mean(spins.astype(jnp.float32 if spins.dtype != jnp.float64 else spins.dtype))
