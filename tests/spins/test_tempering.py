"""Parallel tempering (physjax.spins.tempering): the generic ReplicaExchange kernel against
exact enumeration at every temperature of the ladder, traced ladders, any temperable inner
kernel, bad input."""

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physjax.spins as ps
from physjax.kernels import Kernel, run
from physjax.spins.dense import DenseSingleSpin
from physjax.spins.tempering import ReplicaExchange, TemperingState

KEY = jax.random.key(0)


def _sk_exact(model, temperatures):
    """<H>/N and <m^2> at each temperature by enumeration of the 2^N states."""
    J = np.asarray(model.couplings(), np.float64)
    h = np.asarray(model.h, np.float64)
    n = J.shape[0]
    s = np.array(list(itertools.product([-1.0, 1.0], repeat=n)))
    E = -0.5 * np.einsum("si,ij,sj->s", s, J, s) - s @ h
    m2 = s.mean(1) ** 2
    out = []
    for T in temperatures:
        w = np.exp(-(E - E.min()) / T)
        w /= w.sum()
        out.append((w @ E / n, w @ m2))
    return np.array(out)


def _energy_and_m2(model, state, info):
    spins = state.replicas.spins
    return info.energy / model.n_spins, jnp.mean(spins, axis=-1) ** 2


def test_replica_exchange_reproduces_enumeration_at_every_temperature():
    """SK, N = 8, ladder T = 0.4 ... 2.0 (the lowest is glassy for single-spin moves):
    64 independent PT chains of 600 rounds (heat bath, 1 sweep per round); per-chain time
    averages of E/N and m^2 at every slot agree with the exact values within 4 sigma of
    the spread of the chain averages."""
    model = ps.sherrington_kirkpatrick(jax.random.key(3), 8, h=0.1)
    temps = np.array([0.4, 0.6, 0.9, 1.3, 2.0])
    kernel = ReplicaExchange(DenseSingleSpin("heat_bath"), sweeps_per_round=1)

    @jax.jit
    def chains(keys):
        def one(k):
            k_init, k_run = jax.random.split(k)
            st = kernel.init(k_init, model, temps)
            r = run(kernel, k_run, model, st, 600, burn_in=100, observe=_energy_and_m2)
            return jax.tree.map(lambda x: x.mean(0), r.records), r.state
        return jax.vmap(one)(keys)

    (E, m2), final = chains(jax.random.split(jax.random.key(4), 64))
    exact = _sk_exact(model, temps)
    for est, ex in ((np.asarray(E), exact[:, 0]), (np.asarray(m2), exact[:, 1])):
        mean, err = est.mean(0), est.std(0, ddof=1) / np.sqrt(est.shape[0])
        assert np.all(np.abs(mean - ex) < 4 * err), (mean, ex, err)
    acc = np.asarray(final.accepted) / np.asarray(final.attempted)
    assert np.all((acc > 0.05) & (acc <= 1))
    # every chain's walkers are a permutation of the slots
    assert np.all(np.sort(np.asarray(final.walker), axis=1) == np.arange(5))


def test_parallel_tempering_vmapped_over_ladders_matches_per_ladder_runs():
    """Traced temperatures: vmap (and jit) over two ladders gives each ladder's own run."""
    model = ps.sherrington_kirkpatrick(jax.random.key(5), 10)
    ladders = jnp.asarray([[0.5, 0.8, 1.3], [0.7, 1.1, 2.0]])
    pt = lambda T: ps.parallel_tempering(KEY, model, T, 30, sweeps_per_round=2)  # noqa: E731
    batched = jax.jit(jax.vmap(pt))(ladders)
    for i in range(2):
        one = pt(ladders[i])
        np.testing.assert_allclose(batched.energy[i], one.energy, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(batched.states.spins[i], one.states.spins)
        np.testing.assert_allclose(batched.states.beta[i], 1 / ladders[i], rtol=1e-6)
        np.testing.assert_array_equal(batched.slot_of_replica[i], one.slot_of_replica)


# -------------------------------------------------- any inner kernel with energy + beta

class LevelState(eqx.Module):
    level: jax.Array
    beta: jax.Array


class Levels(eqx.Module):
    energies: jax.Array


class ExactLevelSampler(Kernel):
    """A toy temperable kernel: draws the level of a discrete system afresh from its
    Boltzmann law (an Equinox-module state, so ReplicaExchange must not rely on
    NamedTuple._replace)."""

    def init(self, key, model, temperature):
        return LevelState(jnp.zeros((), jnp.int32), 1.0 / jnp.asarray(temperature, float))

    def step(self, key, model, state):
        level = jax.random.categorical(key, -state.beta * model.energies).astype(jnp.int32)
        return LevelState(level, state.beta), None

    def energy(self, model, state):
        return model.energies[state.level]


def test_replica_exchange_wraps_any_temperable_kernel():
    """Level occupations at every slot match the Boltzmann law of a 4-level system."""
    model = Levels(jnp.asarray([0.0, 0.5, 1.0, 3.0]))
    temps = np.array([0.3, 1.0, 3.0])
    kernel = ReplicaExchange(ExactLevelSampler())
    st = kernel.init(KEY, model, temps)
    onehot = lambda m, s, i: jax.nn.one_hot(s.replicas.level, 4)  # noqa: E731
    r = run(kernel, jax.random.key(1), model, st, 4000, observe=onehot)
    p = np.asarray(r.records).mean(0)                       # (slots, levels)
    E = np.asarray(model.energies)
    exact = np.exp(-E[None] / temps[:, None])
    exact /= exact.sum(1, keepdims=True)
    # independent draws every round: binomial error sqrt(p(1-p)/n) (exchanges only move
    # configurations between exactly sampled slots)
    err = np.sqrt(exact * (1 - exact) / 4000)
    assert np.all(np.abs(p - exact) < 4 * err + 1e-12), (p, exact)
    assert np.all(np.asarray(r.state.attempted) > 0)


# ------------------------------------------------------------------------- bad input

def test_bad_ladders_and_states():
    model = ps.sherrington_kirkpatrick(KEY, 6)
    kernel = ReplicaExchange(DenseSingleSpin())
    for ladder in ([1.0, 1.0], [2.0, 1.0], [0.0, 1.0], [1.0, np.nan], []):
        with pytest.raises(ValueError, match="temperatures"):
            kernel.init(KEY, model, ladder)
    # traced ladders are checked when the program runs
    f = jax.jit(lambda T: ps.parallel_tempering(KEY, model, T, 2).energy)
    for ladder in ([1.0, 0.5], [-1.0, 1.0], [1.0, np.nan]):
        with pytest.raises(Exception, match="temperatures"):
            jax.block_until_ready(f(jnp.asarray(ladder)))
    # a state whose slots are not a decreasing ladder of inverse temperatures
    st = kernel.init(KEY, model, [0.5, 1.0, 2.0])
    flipped = st._replace(replicas=st.replicas._replace(beta=st.replicas.beta[::-1]))
    with pytest.raises(ValueError, match="state.replicas.beta"):
        run(kernel, KEY, model, flipped, 2)
    g = jax.jit(lambda b: run(kernel, KEY, model, st._replace(
        replicas=st.replicas._replace(beta=b)), 2).state.walker)
    with pytest.raises(Exception, match="state.replicas.beta"):
        jax.block_until_ready(g(jnp.asarray([1.0, 1.0, 0.5])))
    # slots of another model, a state of another kind
    other = ReplicaExchange(DenseSingleSpin()).init(KEY, ps.sherrington_kirkpatrick(KEY, 7),
                                                   [0.5, 1.0, 2.0])
    with pytest.raises(ValueError, match="state"):
        run(kernel, KEY, model, other, 2)
    with pytest.raises(TypeError, match="state"):
        run(kernel, KEY, model, st.replicas, 2)
    assert isinstance(st, TemperingState)


def test_inner_kernel_must_be_temperable():
    class NoEnergy(Kernel):
        def init(self, key, model):
            return None

        def step(self, key, model, state):
            return state, None

    with pytest.raises(TypeError, match="energy"):
        ReplicaExchange(NoEnergy())
    with pytest.raises(ValueError, match="sweeps_per_round"):
        ReplicaExchange(DenseSingleSpin(), sweeps_per_round=0)
