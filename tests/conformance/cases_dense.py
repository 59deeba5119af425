"""Dense spin kernels (physjax.spins.dense / tempering) in the conformance table.

Tiny models (8-10 spins); the stationary statistics are compared with exact enumeration of
all 2^N states.  The traced hyperparameter is the coupling strength g (J -> g J, or the
field h for the low-rank case): at fixed T it is the inverse temperature of the couplings
(the temperature itself lives in the state, per replica).
"""

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import physjax.spins as ps
from physjax.spins.dense import DenseSingleSpin
from physjax.spins.tempering import ReplicaExchange
from tests.conformance._case import KernelCase

T = 1.3                                    # temperature of the single-chain cases
LADDER = (0.5, 0.9, 1.6)                   # replica-exchange ladder


def _states(n):
    return np.array(list(itertools.product([-1.0, 1.0], repeat=n)))


def _couplings(model):
    """J in float64 NumPy (the model may hold float64 arrays outside x64)."""
    if isinstance(model, ps.DenseIsing):
        J = np.asarray(model.J, np.float64)
    else:
        assert model.kernel is None and model.weights is None
        xi = np.asarray(model.patterns, np.float64)
        J = xi.T @ xi / xi.shape[1]                 # Hebb (A = I)
    return J * (1 - np.eye(J.shape[0]))


def _boltzmann_means(model, temperature, stats):
    """Exact <stats(s)> under exp(-H/T) by enumeration; stats: (2^N, N) -> (2^N, k)."""
    J = _couplings(model)
    h = np.asarray(model.h, np.float64)
    s = _states(J.shape[0])
    E = -0.5 * np.einsum("si,ij,sj->s", s, J, s) - s @ h
    w = np.exp(-(E - E.min()) / temperature)
    return (w / w.sum()) @ stats(s, E)


def _energy_m2_pair(s, E):
    n = s.shape[1]
    return np.stack([E / n, s.mean(1) ** 2, s[:, 0] * s[:, 1]], axis=1)


def _observable(model, state):
    s = state.spins
    return jnp.stack([model.energy(s) / model.n_spins, jnp.mean(s) ** 2, s[0] * s[1]])


def _sk(dtype):
    m = ps.sherrington_kirkpatrick(jax.random.key(11), 10, h=0.2)
    return jax.tree.map(lambda x: x.astype(dtype), m)


def _curie_weiss(dtype):
    return jax.tree.map(lambda x: x.astype(dtype), ps.curie_weiss(9, J=1.2, h=0.05))


def _hebbian(dtype):
    xi = ps.random_patterns(jax.random.key(12), 2, 10)
    return jax.tree.map(lambda x: x.astype(dtype), ps.hebbian(xi, h=0.1))


def _scale_couplings(model, g):
    return eqx.tree_at(lambda m: m.J, model, model.J * g)


def _set_field(model, h):
    return eqx.tree_at(lambda m: m.h, model, jnp.full_like(model.h, h))


def _init_at(temperature):
    def init(key, kernel, model):
        return kernel.init(key, model, temperature)
    return init


def _exact_single(model):
    return _boltzmann_means(model, T, _energy_m2_pair)


# --------------------------------------------------------------- replica exchange

def _pt_observable(model, state):
    s = state.replicas.spins                                   # (R, N)
    E = jax.vmap(model.energy)(s) / model.n_spins
    return jnp.concatenate([E, jnp.mean(s, axis=1) ** 2])


def _pt_exact(model):
    per_slot = [_boltzmann_means(model, t, lambda s, E: np.stack(
        [E / s.shape[1], s.mean(1) ** 2], axis=1)) for t in LADDER]
    per_slot = np.array(per_slot)                              # (R, 2)
    return np.concatenate([per_slot[:, 0], per_slot[:, 1]])


def _pt_init(key, kernel, model):
    return kernel.init(key, model, LADDER)


CASES = [
    KernelCase(
        name="dense-heat-bath-sk",
        kernel=DenseSingleSpin("heat_bath", "sequential", block=4),
        make_model=_sk,
        init=_init_at(T),
        hyperparameter=(_scale_couplings, (0.5, 1.0, 2.0)),
        observable=_observable,
        exact=_exact_single,
        n_chains=64, n_burn=50, n_steps=300),
    KernelCase(
        name="dense-metropolis-curie-weiss-random-order",
        kernel=DenseSingleSpin("metropolis", "random"),
        make_model=_curie_weiss,
        init=_init_at(T),
        hyperparameter=(_scale_couplings, (0.5, 1.0, 2.0)),
        observable=_observable,
        exact=_exact_single,
        n_chains=64, n_burn=50, n_steps=300),
    KernelCase(
        name="dense-heat-bath-hebbian-low-rank",
        kernel=DenseSingleSpin("heat_bath", "random", block=3),
        make_model=_hebbian,
        init=_init_at(T),
        hyperparameter=(_set_field, (0.0, 0.2, 0.5)),
        observable=_observable,
        exact=_exact_single,
        n_chains=64, n_burn=50, n_steps=300),
    KernelCase(
        name="dense-zero-temperature",
        kernel=DenseSingleSpin("zero_temperature", "random", block=4),
        make_model=_sk,
        init=_init_at(0.0),
        hyperparameter=(_scale_couplings, (0.5, 1.0, 2.0)),
        observable=_observable,
        exact=None),
    KernelCase(
        name="replica-exchange-dense-sk",
        kernel=ReplicaExchange(DenseSingleSpin("heat_bath"), sweeps_per_round=1),
        make_model=_sk,
        init=_pt_init,
        hyperparameter=(_scale_couplings, (0.5, 1.0, 2.0)),
        observable=_pt_observable,
        exact=_pt_exact,
        n_chains=64, n_burn=50, n_steps=300),
]
