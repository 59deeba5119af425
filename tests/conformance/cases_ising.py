"""Lattice Ising kernels: both engines x both rules on a periodic 2 x 6 lattice (12 spins).

The chains run at beta = 1 with the reduced couplings J/T and h/T of the model at
temperature T, so the temperature is a traced number of the model (the hyperparameter of
the table).  A field h = 0.2 makes checkerboard Metropolis mix fast from the ordered start
(at h = 0 a slowly decaying period-2 mode appears on a lattice this small; checked with the
exact 4096-state transition matrix).  Exact values: energy per spin and m^2 by enumerating
the 4096 configurations with the energy convention of physjax.spins.models (periodic
``roll`` neighbours, so the pairs across a side of length 2 count twice).
"""

import itertools

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from physjax.spins.models import IsingLattice
from physjax.spins.samplers import CheckerboardIsing, MultispinIsing
from tests.conformance._case import KernelCase

SHAPE = (2, 6)
T0, FIELD = 2.5, 0.2


def _model(dtype):
    return IsingLattice(SHAPE, J=jnp.asarray(1.0 / T0, dtype), h=jnp.asarray(FIELD / T0, dtype))


def _at_temperature(model, temperature):
    return eqx.tree_at(lambda m: (m.J, m.h), model, (1.0 / temperature, FIELD / temperature))


def _exact(model):
    """<e> and <m^2> by enumeration at beta = 1 with the model's (reduced) J and h."""
    J, h = float(model.J), float(model.h)
    s = np.array(list(itertools.product([1, -1], repeat=12)), float).reshape(-1, *SHAPE)
    bonds = sum((s * np.roll(s, -1, a)).sum(axis=(1, 2)) for a in (1, 2))
    m = s.sum(axis=(1, 2))
    energy = -J * bonds - h * m
    w = np.exp(-(energy - energy.min()))
    w /= w.sum()
    return [float(w @ energy) / 12, float(w @ (m / 12) ** 2)]


def _reference_init(key, kernel, model):
    return kernel.init(key, model, 1.0, start="up")


def _reference_observable(model, state):
    t = CheckerboardIsing().observables(model, state)
    return jnp.stack([t.energy, t.magnetization ** 2])


def _multispin_init(key, kernel, model):
    return kernel.init(key, model, [1.0], layout="replicas", start="up")


def _multispin_observable(model, state):
    t = MultispinIsing().observables(model, state)  # 32 independent lanes
    return jnp.stack([jnp.mean(t.energy), jnp.mean(t.magnetization ** 2)])


CASES = [
    KernelCase(
        name=f"ising-{engine}-{rule}",
        kernel=kernel,
        make_model=_model,
        init=init,
        hyperparameter=(_at_temperature, (2.0, 2.5, 3.5)),
        observable=observable,
        exact=_exact,
        n_chains=64, n_burn=50, n_steps=300 if engine == "reference" else 100)
    for engine, init, observable, make in [
        ("reference", _reference_init, _reference_observable, CheckerboardIsing),
        ("multispin", _multispin_init, _multispin_observable, MultispinIsing)]
    for rule in ("metropolis", "heat_bath")
    for kernel in [make(rule=rule)]
]
