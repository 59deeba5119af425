"""Parallel tempering (replica exchange) for dense spin models.

R replicas sit on a ladder of temperatures :math:`T_1 < \\dots < T_R`.  A round is
``sweeps_per_round`` sweeps of every replica (vmapped), then an exchange attempt between
neighbouring slots (k, k+1) — even k on even rounds, odd k on odd rounds — accepted with
probability :math:`\\min\\{1, \\exp[(\\beta_k-\\beta_{k+1})(E_k-E_{k+1})]\\}`.  Configurations
move between slots; slot k always holds temperature :math:`T_k`.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from physjax._checks import check_choice, check_finite, check_positive_int
from physjax.spins import dense as _dense

__all__ = ["TemperingResult", "check_temperature_ladder", "parallel_tempering"]


class TemperingResult(NamedTuple):
    """``states``: final per-slot states (leading axis R); ``energy``: energy per spin per
    round and slot (n_rounds, R); ``swap_acceptance``: accepted / attempted exchanges for
    each neighbour pair (R - 1,); ``slot_of_replica``: which slot each walker ended in
    (a permutation, to follow round trips); ``extra``: ``observe`` per round and slot."""

    states: _dense.DenseState
    energy: Array
    swap_acceptance: Array
    slot_of_replica: Array
    extra: object


def check_temperature_ladder(temperatures, name="temperatures") -> np.ndarray:
    """A non-empty, finite, strictly increasing 1-D ladder of positive temperatures."""
    t = np.asarray(check_finite(temperatures, name), dtype=float)
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D ladder, got shape {t.shape}")
    if np.any(t <= 0):
        raise ValueError(f"{name} must be > 0, got min {t.min()}")
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"{name} must be strictly increasing (sorted ladder), got {t}")
    return t


def parallel_tempering(key, model, temperatures, n_rounds: int, *, sweeps_per_round: int = 1,
                       rule: str = "heat_bath", states=None, observe=None,
                       block: int = _dense.DEFAULT_BLOCK) -> TemperingResult:
    """Run replica exchange; ``states`` (leading axis R) continues an earlier run."""
    _dense._check_model(model)
    temps = check_temperature_ladder(temperatures)
    check_positive_int(n_rounds, "n_rounds")
    check_positive_int(sweeps_per_round, "sweeps_per_round")
    check_choice(rule, "rule", ("heat_bath", "metropolis"))
    R = temps.size
    k_init, k_run = jax.random.split(key)
    if states is None:
        states = jax.vmap(lambda k, t: _dense.init_dense(k, model, t))(
            jax.random.split(k_init, R), jnp.asarray(temps))
    else:
        n = jax.tree.leaves(states)[0].shape[0]
        if n != R:
            raise ValueError(f"states hold {n} replicas but temperatures has {R} entries; "
                             f"they must match")
        states = states._replace(beta=1.0 / jnp.asarray(temps, states.spins.dtype))
    return _pt(k_run, model, states, n_rounds, sweeps_per_round, rule, observe, block)


@partial(jax.jit, static_argnums=(3, 4, 5, 6, 7))
def _pt(key, model, states, n_rounds, sweeps_per_round, rule, observe, block):
    R = states.beta.shape[0]
    N = model.n_spins
    slots = jnp.arange(R)

    def sweeps(k, st):
        def one(i, s):
            return _dense.dense_sweep(jax.random.fold_in(k, i), model, s, rule=rule,
                                      block=block)[0]
        return jax.lax.fori_loop(0, sweeps_per_round, one, st)

    def round_(carry, xs):
        st, accepted, attempted, walker = carry
        k, r = xs
        k_sweep, k_swap = jax.random.split(k)
        st = jax.vmap(sweeps)(jax.random.split(k_sweep, R), st)
        E = jax.vmap(model.energy)(st.spins)
        # pair (k, k+1) is active when k has the parity of the round
        active = (slots[:-1] % 2 == r % 2)
        log_acc = (st.beta[:-1] - st.beta[1:]) * (E[:-1] - E[1:])
        u = jax.random.uniform(k_swap, (R - 1,))
        swap = active & (jnp.log(u) < log_acc)
        partner = slots
        partner = partner.at[:-1].set(jnp.where(swap, slots[1:], partner[:-1]))
        partner = partner.at[1:].set(jnp.where(swap, slots[:-1], partner[1:]))
        beta = st.beta
        st = jax.tree.map(lambda x: x[partner], st)._replace(beta=beta)
        E = E[partner]
        walker = walker[partner]
        extra = None if observe is None else jax.vmap(observe)(st.spins)
        return ((st, accepted + swap, attempted + active, walker),
                (E / N, extra))

    init = (states, jnp.zeros(R - 1, jnp.int32), jnp.zeros(R - 1, jnp.int32), slots)
    (st, acc, att, walker), (E, extra) = jax.lax.scan(
        round_, init, (jax.random.split(key, n_rounds), jnp.arange(n_rounds)))
    rate = jnp.where(att > 0, acc / jnp.maximum(att, 1), jnp.nan)
    slot_of_replica = jnp.argsort(walker)
    return TemperingResult(st, E, rate, slot_of_replica, extra)
