"""Data for Boltzmann machines, generated or shipped with a package (no downloads).

* :func:`ising_configurations`: equilibrium configurations of the periodic 2-D Ising model
  from physjax's own checkerboard sampler (:func:`~physjax.spins.sample_ising`), one
  independent replica per configuration (random start, ``burn_in`` sweeps), flattened to
  rows of L*L units, as in Torlai & Melko (2016) and seed 001 (Fig. 6).
* :func:`ising_observables`: energy per spin and :math:`|m|` of flattened configurations
  (for comparing RBM samples with the training data).
* :func:`binarized_digits`: scikit-learn's bundled 8x8 ``load_digits`` (1797 images, 16
  grey levels), thresholded to 0/1 (or +-1) units.
* :func:`split_data`: a random train/test split of the rows.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from physjax._checks import check_choice, check_finite, check_positive_int, check_temperature
from physjax._optional import require
from physjax.spins.boltzmann import UNITS, check_unit_data
from physjax.spins.models import IsingLattice
from physjax.spins.samplers import sample_ising

__all__ = [
    "IsingConfigurations",
    "ising_configurations",
    "ising_observables",
    "binarized_digits",
    "split_data",
]


class IsingConfigurations(NamedTuple):
    """Ising training data: ``spins`` (n_T, n_samples, L*L) in the requested units,
    ``energy`` and ``magnetization`` per spin (n_T, n_samples), ``temperatures`` (n_T,)."""

    spins: Array
    energy: Array
    magnetization: Array
    temperatures: Array


def _to_units(s, units):
    return (s + 1) / 2 if units == "binary" else s


def ising_configurations(key, L: int, temperatures, n_samples: int, *, burn_in: int = 1000,
                         units: str = "spin", rule: str = "metropolis",
                         engine: str = "auto") -> IsingConfigurations:
    """``n_samples`` independent equilibrium configurations of the L x L periodic Ising model
    (J = 1, h = 0) at each temperature: every configuration is its own replica, run for
    ``burn_in`` checkerboard sweeps from a random start by :func:`sample_ising`'s
    ``engine`` (``"auto"``: the multi-spin engine, fastest for many replicas; the
    ``"reference"`` engine compiles faster for small jobs)."""
    L = check_positive_int(L, "L", minimum=2)
    if L % 2:
        raise ValueError(f"L must be even (checkerboard updates on a periodic lattice), got {L}")
    temps = np.atleast_1d(np.asarray(check_temperature(temperatures, "temperatures"), float))
    if temps.ndim != 1:
        raise ValueError(f"temperatures must be a scalar or 1-D, got shape {temps.shape}")
    n = check_positive_int(n_samples, "n_samples")
    check_positive_int(burn_in, "burn_in")
    check_choice(units, "units", UNITS)
    model = IsingLattice((L, L))
    res = sample_ising(key, model, jnp.repeat(jnp.asarray(temps), n), 1, rule=rule,
                       burn_in=burn_in - 1, engine=engine)
    shape = (temps.size, n)
    spins = res.spins.reshape(*shape, L * L).astype(jnp.result_type(float))
    return IsingConfigurations(_to_units(spins, units), res.energy[:, -1].reshape(shape),
                               res.magnetization[:, -1].reshape(shape), jnp.asarray(temps))


def ising_observables(configurations, L: int, *, units: str = "spin") -> tuple[Array, Array]:
    """Energy per spin :math:`-\\frac1N\\sum_{\\langle ij\\rangle}s_is_j` (periodic L x L,
    J = 1) and :math:`|m|` of each row of ``configurations`` (n, L*L)."""
    L = check_positive_int(L, "L", minimum=2)
    check_choice(units, "units", UNITS)
    x = check_unit_data(configurations, units, "configurations", L * L, width_name="L*L")
    return _observables(x, L, units)


@partial(jax.jit, static_argnums=(1, 2))
def _observables(x, L, units):
    s = (2 * x - 1 if units == "binary" else x).reshape(-1, L, L)
    bonds = jnp.sum(s * jnp.roll(s, 1, 1), (1, 2)) + jnp.sum(s * jnp.roll(s, 1, 2), (1, 2))
    return -bonds / (L * L), jnp.abs(jnp.mean(s, (1, 2)))


def binarized_digits(*, threshold: float = 7.5, units: str = "binary") -> tuple[Array, Array]:
    """scikit-learn's 8x8 digits (1797 images, pixel values 0..16) as (1797, 64) units:
    on where the pixel exceeds ``threshold`` (default: at least 8 of 16).  Returns
    (images, labels)."""
    check_finite(threshold, "threshold")
    check_choice(units, "units", UNITS)
    load_digits = require("sklearn.datasets", by="physjax.spins.binarized_digits").load_digits
    d = load_digits()
    x = (d.data > float(threshold)).astype(np.float64)
    x = x if units == "binary" else 2 * x - 1
    return jnp.asarray(x, dtype=float), jnp.asarray(d.target)


def split_data(key, data, test_fraction: float = 0.2) -> tuple[Array, Array]:
    """Random (train, test) split of the rows of ``data``."""
    data = jnp.asarray(check_finite(data, "data"))
    if not 0 < float(test_fraction) < 1:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    n_test = int(round(float(test_fraction) * data.shape[0]))
    if not 0 < n_test < data.shape[0]:
        raise ValueError(f"test_fraction {test_fraction} leaves an empty train or test set "
                         f"for {data.shape[0]} rows")
    return _split(key, data, n_test)


@partial(jax.jit, static_argnums=2)
def _split(key, data, n_test):
    perm = jax.random.permutation(key, data.shape[0])
    return data[perm[n_test:]], data[perm[:n_test]]
