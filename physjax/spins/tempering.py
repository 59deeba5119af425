"""Parallel tempering (replica exchange) of any temperable kernel.

:class:`ReplicaExchange` wraps an inner :class:`physjax.kernels.Kernel` that has
``energy(model, state)`` and a state with a ``beta`` field (the dense kernel
:class:`~physjax.spins.dense.DenseSingleSpin`, or any other with that contract).  R replicas
sit in R slots of a ladder of inverse temperatures :math:`\\beta_1 > \\dots > \\beta_R`
(temperatures :math:`T_1 < \\dots < T_R`).  One step (a round) is ``sweeps_per_round``
inner steps of every slot (vmapped), then an exchange attempt between neighbouring slots
(k, k+1) -- even k on even rounds, odd k on odd rounds -- accepted with probability
:math:`\\min\\{1, \\exp[(\\beta_k-\\beta_{k+1})(E_k-E_{k+1})]\\}`.  Configurations move
between slots; slot k always keeps :math:`\\beta_k`.  Each half of the round leaves the
product of the Boltzmann laws of the slots invariant.

The ladder lives in the state (the slots' ``beta``), so it may be traced: ``jax.vmap``
over ladders, or a ladder scale swept by :func:`physjax.ensemble.sweep`.
:func:`parallel_tempering` is the convenience wrapper for dense spin models.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physjax._array_types import Array, ArrayLike, Float, Key, PyTree, Real
from physjax._checks import (
    check_choice,
    check_finite,
    check_positive_int,
    is_concrete,
)
from physjax._options import UpdateRule
from physjax.kernels import Kernel, run
from physjax.spins import dense as _dense

__all__ = ["ReplicaExchange", "TemperingState", "TemperingInfo", "TemperingResult",
           "check_temperature_ladder", "parallel_tempering"]

_COUNT = jnp.int32


class TemperingState(NamedTuple):
    """``replicas``: the per-slot states of the inner kernel (leading axis R, slot k at
    inverse temperature ``replicas.beta[k]``); ``walker``: which walker (replica, numbered
    by its starting slot) is in each slot; ``accepted`` / ``attempted``: exchange counts of
    each neighbour pair (R - 1,); ``round``: rounds done (sets the parity of the pairs)."""

    replicas: Any
    walker: Array
    accepted: Array
    attempted: Array
    round: Array


class TemperingInfo(NamedTuple):
    """One round: ``swapped`` / ``attempted`` exchanges of each neighbour pair (R - 1,) and
    the ``energy`` of each slot after the exchange (R,)."""

    swapped: Array
    attempted: Array
    energy: Array


def check_temperature_ladder(temperatures: Real[ArrayLike, " r"] | Sequence[float],
                             name: str = "temperatures",
                             ) -> Float[np.ndarray, " r"] | Float[Array, " r"]:
    """A non-empty, finite, strictly increasing 1-D ladder of positive temperatures.

    Concrete ladders are checked here (ValueError naming ``name``) and returned as a NumPy
    array; a traced ladder has its shape checked and its values guarded with
    ``equinox.error_if`` (an error when the program runs)."""
    if is_concrete(temperatures):
        t = np.asarray(check_finite(temperatures, name), dtype=float)
        if t.ndim != 1 or t.size == 0:
            raise ValueError(f"{name} must be a non-empty 1-D ladder, got shape {t.shape}")
        if np.any(t <= 0):
            raise ValueError(f"{name} must be > 0, got min {t.min()}")
        if np.any(np.diff(t) <= 0):
            raise ValueError(f"{name} must be strictly increasing (sorted ladder), got {t}")
        return t
    t = jnp.asarray(temperatures)
    if t.ndim != 1 or t.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 1-D ladder, got shape {t.shape}")
    bad = ~jnp.all(jnp.isfinite(t)) | jnp.any(t <= 0) | jnp.any(jnp.diff(t) <= 0)
    return eqx.error_if(t, bad, f"{name} must be finite, > 0 and strictly increasing")


def _set_beta(state, beta):
    if hasattr(state, "_replace"):
        return state._replace(beta=beta)
    return eqx.tree_at(lambda s: s.beta, state, beta)


def _guard_ladder(beta, name="state.replicas.beta"):
    """Inverse temperatures of the slots: finite, >= 0 and strictly decreasing."""
    msg = (f"{name} must be a finite, >= 0, strictly decreasing ladder of inverse "
           f"temperatures (temperatures strictly increasing)")
    if is_concrete(beta):
        b = np.asarray(beta)
        if not (np.all(np.isfinite(b)) and np.all(b >= 0) and np.all(np.diff(b) < 0)):
            raise ValueError(f"{msg}, got {b}")
        return beta
    bad = ~jnp.all(jnp.isfinite(beta)) | jnp.any(beta < 0) | jnp.any(jnp.diff(beta) >= 0)
    return eqx.error_if(beta, bad, msg)


class ReplicaExchange(Kernel):
    """Parallel tempering around ``inner`` (see the module docstring).

    ``inner``: a kernel with ``energy(model, state)`` whose state has a ``beta`` field;
    ``sweeps_per_round``: inner steps of every slot between two exchange attempts.  The
    model is the inner kernel's model (shared by all slots); the state is
    :class:`TemperingState`, the info :class:`TemperingInfo`.
    """

    inner: Kernel
    sweeps_per_round: int = eqx.field(static=True, default=1)

    def __check_init__(self):
        if not isinstance(self.inner, Kernel):
            raise TypeError(f"inner must be a physjax.kernels.Kernel, got "
                            f"{type(self.inner).__name__}")
        if type(self.inner).energy is Kernel.energy:
            raise TypeError(f"inner kernel {type(self.inner).__name__} has no energy(model, "
                            f"state); it cannot be tempered")
        check_positive_int(self.sweeps_per_round, "sweeps_per_round")

    def init(self, key: Key, model: PyTree, temperatures: Real[ArrayLike, " r"] | Sequence[float],
             *, states: PyTree | None = None, **inner_kwargs: Any) -> TemperingState:
        """Slot k at ``temperatures[k]`` (strictly increasing; may be traced).  Fresh
        replicas from ``inner.init(key_k, model, T_k, **inner_kwargs)``, or ``states``
        (leading axis R, e.g. an earlier run's ``replicas``) with their ``beta`` reset to
        the ladder."""
        temps = check_temperature_ladder(temperatures)
        R = temps.shape[0]
        if states is None:
            temps = jnp.asarray(temps, jnp.result_type(float))
            states = _init_slots(self.inner, jax.random.split(key, R), model, temps,
                                 inner_kwargs)
        else:
            n = jax.tree.leaves(states)[0].shape[0]
            if n != R:
                raise ValueError(f"states hold {n} replicas but temperatures has {R} "
                                 f"entries; they must match")
            dtype = jnp.result_type(states.beta)
            states = _set_beta(states, 1.0 / jnp.asarray(temps, dtype))
        zeros = jnp.zeros((max(R - 1, 0),), _COUNT)
        return TemperingState(states, jnp.arange(R, dtype=_COUNT), zeros, zeros,
                              jnp.zeros((), _COUNT))

    def _check_shapes(self, state):
        if not isinstance(state, TemperingState):
            raise TypeError(f"state must be a TemperingState (from ReplicaExchange.init), "
                            f"got {type(state).__name__}")
        beta = jnp.shape(state.replicas.beta)
        if len(beta) != 1 or beta[0] == 0:
            raise ValueError(f"state.replicas.beta must be a non-empty ladder (R,), got "
                             f"shape {beta}")
        R = beta[0]
        for leaf in jax.tree.leaves(state.replicas):
            if jnp.ndim(leaf) == 0 or jnp.shape(leaf)[0] != R:
                raise ValueError(f"state.replicas must have a leading slot axis of length "
                                 f"{R}, got a leaf of shape {jnp.shape(leaf)}")
        if jnp.shape(state.walker) != (R,) or jnp.shape(state.accepted) != (max(R - 1, 0),):
            raise ValueError(f"state.walker / state.accepted must have shapes ({R},) and "
                             f"({R - 1},) for {R} slots")

    def step(self, key: Key, model: PyTree, state: TemperingState,
             ) -> tuple[TemperingState, TemperingInfo]:
        self._check_shapes(state)
        return _exchange_round(self, key, model, state)

    def energy(self, model: PyTree, state: TemperingState) -> Float[Array, " r"]:
        """Energy of every slot (R,)."""
        return jax.vmap(self.inner.energy, in_axes=(None, 0))(model, state.replicas)

    def check(self, model: PyTree, state: TemperingState) -> tuple[PyTree, TemperingState]:
        self._check_shapes(state)
        beta = _guard_ladder(state.replicas.beta)
        # the inner kernel's own checks, slot by slot (shapes at trace time; values guarded)
        model, reps = _check_slots(self.inner, model, _set_beta(state.replicas, beta))
        return model, state._replace(replicas=reps)


@eqx.filter_jit
def _init_slots(inner, keys, model, temperatures, inner_kwargs):
    return jax.vmap(lambda k, t: inner.init(k, model, t, **inner_kwargs))(keys, temperatures)


@eqx.filter_jit
def _check_slots(inner, model, replicas):
    return jax.vmap(inner.check, in_axes=(None, 0), out_axes=(None, 0))(model, replicas)


@eqx.filter_jit
def _exchange_round(kernel, key, model, state):
    """One round of :class:`ReplicaExchange` (jitted: traced once per configuration)."""
    R = state.walker.shape[0]
    inner, n_inner = kernel.inner, kernel.sweeps_per_round
    keys = jax.random.split(key, R + 1)       # one key per slot, one for the exchanges

    def sweeps(k, st):
        if n_inner == 1:
            return inner.step(k, model, st)[0]
        def one(i, s):
            return inner.step(jax.random.fold_in(k, i), model, s)[0]
        return jax.lax.fori_loop(0, n_inner, one, st)

    reps = jax.vmap(sweeps)(keys[:R], state.replicas)
    E = jax.vmap(inner.energy, in_axes=(None, 0))(model, reps)
    beta = reps.beta
    slots = jnp.arange(R, dtype=_COUNT)
    # pair (k, k+1) is active when k has the parity of the round
    active = slots[:-1] % 2 == state.round % 2
    log_acc = (beta[:-1] - beta[1:]) * (E[:-1] - E[1:])
    u = jax.random.uniform(keys[R], (R - 1,), dtype=E.dtype)
    swap = active & (jnp.log(u) < log_acc)
    partner = slots
    partner = partner.at[:-1].set(jnp.where(swap, slots[1:], partner[:-1]))
    partner = partner.at[1:].set(jnp.where(swap, slots[:-1], partner[1:]))
    reps = _set_beta(jax.tree.map(lambda x: x[partner], reps), beta)
    new = TemperingState(reps, state.walker[partner],
                         state.accepted + swap.astype(_COUNT),
                         state.attempted + active.astype(_COUNT), state.round + 1)
    return new, TemperingInfo(swap, active, E[partner])


# ------------------------------------------------------------ dense-model convenience

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


class _TemperingRecord(eqx.Module):
    extra: Callable | None = eqx.field(static=True)

    def __call__(self, model, state, info):
        spins = state.replicas.spins
        extra = None if self.extra is None else jax.vmap(self.extra)(spins)
        return info.energy / model.n_spins, extra


def parallel_tempering(key: Key, model: _dense.DenseModel,
                       temperatures: Real[ArrayLike, " r"] | Sequence[float], n_rounds: int, *,
                       sweeps_per_round: int = 1, rule: UpdateRule = "heat_bath",
                       states: _dense.DenseState | None = None,
                       observe: Callable[..., Any] | None = None,
                       block: int = _dense.DEFAULT_BLOCK) -> TemperingResult:
    """Replica exchange of a dense spin model: :class:`ReplicaExchange` around
    :class:`~physjax.spins.dense.DenseSingleSpin` (sequential order), run for ``n_rounds``
    rounds by :func:`physjax.kernels.run`.  ``temperatures`` may be traced (vmap over
    ladders); ``states`` (leading axis R) continues an earlier run; ``observe(spins)`` is
    recorded per round and slot."""
    _dense.check_dense_model(model)
    n_rounds = check_positive_int(n_rounds, "n_rounds")
    check_choice(rule, "rule", UpdateRule)
    kernel = ReplicaExchange(_dense.DenseSingleSpin(rule, "sequential", block),
                             sweeps_per_round)
    k_init, k_run = jax.random.split(key)
    state = kernel.init(k_init, model, temperatures, states=states)
    r = run(kernel, k_run, model, state, n_rounds, observe=_TemperingRecord(observe))
    energy, extra = r.records
    acc, att = r.state.accepted, r.state.attempted
    rate = jnp.where(att > 0, acc / jnp.maximum(att, 1), jnp.nan)
    return TemperingResult(r.state.replicas, energy, rate, jnp.argsort(r.state.walker), extra)
