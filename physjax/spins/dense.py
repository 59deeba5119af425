"""Single-spin dynamics of dense spin models (Curie-Weiss, SK, Hopfield).

Models are :class:`~physjax.spins.models.DenseIsing` or
:class:`~physjax.spins.models.LowRankIsing`; one replica's state is a float vector of
:math:`\\pm1` spins plus the model's field cache (the Mattis overlaps for low-rank
couplings) and its inverse temperature.  Replicas are a ``jax.vmap`` axis; per-replica
temperatures live in the state.

Rules for the update of spin i with local field
:math:`\\phi_i = \\sum_{j\\ne i}J_{ij}\\sigma_j+h_i`:

* ``"heat_bath"`` (Glauber): :math:`P(\\sigma_i=+1) = \\tfrac12[1+\\tanh(\\beta\\phi_i)]`;
* ``"metropolis"``: flip with probability :math:`\\min(1, e^{-2\\beta\\sigma_i\\phi_i})`;
* ``"zero_temperature"``: :math:`\\sigma_i \\leftarrow \\mathrm{sign}(\\phi_i)` (kept when
  :math:`\\phi_i = 0`); with symmetric J and zero diagonal each such flip lowers
  :math:`H = -\\tfrac12\\sigma^TJ\\sigma - h^T\\sigma`.

A sweep visits all N spins once, in index order (``order="sequential"``) or in a fresh
random permutation (``order="random"``, random sequential / asynchronous dynamics).
Updates are strictly sequential, but are organised in blocks of B spins: the fields of a
block are computed with one matrix product, then the B updates run one after another,
each correcting its field for the flips made earlier in the block with the B x B
coupling block.  This is exactly single-spin sequential dynamics at O(N) work per spin
(O(K) for low-rank couplings), with one loop iteration per block instead of per spin.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from physjax._checks import check_choice, check_positive_int, check_spins
from physjax.spins.models import DenseIsing, LowRankIsing

__all__ = [
    "DenseState",
    "DenseTrace",
    "RelaxResult",
    "DENSE_RULES",
    "init_dense",
    "dense_sweep",
    "run_dense",
    "relax",
]

DENSE_RULES = ("heat_bath", "metropolis", "zero_temperature")
_ORDERS = ("sequential", "random")
DEFAULT_BLOCK = 32


class DenseState(NamedTuple):
    """One replica: spins (N,) of +-1 floats, the model's field cache, inverse temperature."""

    spins: Array
    cache: Array
    beta: Array


class DenseTrace(NamedTuple):
    """Recorded observables: energy per spin, flips per spin in the last sweep, and the
    user's ``observe(spins)`` output (``None`` if not requested)."""

    energy: Array
    flip_rate: Array
    extra: object


def _check_model(model):
    if not isinstance(model, DenseIsing | LowRankIsing):
        raise TypeError(f"model must be a physjax.spins.DenseIsing or LowRankIsing, got "
                        f"{type(model).__name__}")


def init_dense(key, model, temperature, *, spins=None) -> DenseState:
    """State of one replica at ``temperature`` (``jnp.inf`` allowed; 0 only for the
    zero-temperature rule, encoded as beta = inf).  Random spins unless ``spins`` given."""
    _check_model(model)
    N = model.n_spins
    t = jnp.asarray(temperature, dtype=float)
    if not isinstance(t, jax.core.Tracer):
        tn = np.asarray(t)
        if tn.ndim:
            raise ValueError(f"temperature must be a scalar for one replica, got shape "
                             f"{tn.shape}; vmap init_dense over replicas")
        if np.isnan(tn) or tn < 0:
            raise ValueError(f"temperature must be >= 0 (0 only for zero-temperature "
                             f"dynamics), got {float(tn)}")
    if spins is None:
        spins = jnp.where(jax.random.bernoulli(key, 0.5, (N,)), 1.0, -1.0)
    else:
        spins = jnp.asarray(check_spins(spins, "spins"), dtype=float)
        if spins.shape != (N,):
            raise ValueError(f"spins must have shape ({N},) for one replica of this model, "
                             f"got {spins.shape}; vmap over replicas")
    spins = spins.astype(jnp.result_type(float))
    return DenseState(spins, model.field_cache(spins), 1.0 / t)


def _new_spin(rule, phi, s, u, beta):
    if rule == "heat_bath":
        return jnp.where(u < jax.nn.sigmoid(2.0 * beta * phi), 1.0, -1.0).astype(s.dtype)
    if rule == "metropolis":
        flip = u < jnp.exp(-2.0 * beta * s * phi)
        return jnp.where(flip, -s, s)
    return jnp.where(phi > 0, 1.0, jnp.where(phi < 0, -1.0, s)).astype(s.dtype)


def _block_layout(N, block):
    B = min(block, N)
    n_blocks = -(-N // B)
    return B, n_blocks


@partial(jax.jit, static_argnames=("rule", "order", "block"))
def dense_sweep(key, model, state: DenseState, *, rule="heat_bath", order="sequential",
                block=DEFAULT_BLOCK) -> tuple[DenseState, Array]:
    """One sweep of single-spin updates.  Returns the new state and the number of flips."""
    N = model.n_spins
    B, n_blocks = _block_layout(N, block)
    k_perm, k_u = jax.random.split(key)
    sites = jax.random.permutation(k_perm, N) if order == "random" else jnp.arange(N)
    pad = n_blocks * B - N
    sites = jnp.concatenate([sites, jnp.zeros((pad,), sites.dtype)]).reshape(n_blocks, B)
    valid = (jnp.arange(n_blocks * B) < N).reshape(n_blocks, B)
    u = jax.random.uniform(k_u, (n_blocks, B), dtype=state.spins.dtype)

    def block_step(carry, xs):
        spins, cache = carry
        idx, ok, ub = xs
        phi = model.block_fields(cache, spins, idx)
        Jbb = model.block_couplings(idx)
        s_b = spins[idx]
        ds = jnp.zeros_like(s_b)
        for i in range(B):  # strictly sequential inside the block
            phi_i = phi[i] + Jbb[i] @ ds
            new = _new_spin(rule, phi_i, s_b[i], ub[i], state.beta)
            ds = ds.at[i].set(jnp.where(ok[i], new - s_b[i], 0.0))
        spins = spins.at[idx].add(ds)
        cache = model.update_cache(cache, idx, ds)
        return (spins, cache), jnp.sum(ds != 0)

    (spins, cache), flips = jax.lax.scan(block_step, (state.spins, state.cache),
                                         (sites, valid, u))
    return state._replace(spins=spins, cache=cache), jnp.sum(flips)


def _check_rule_temperature(rule, beta):
    if rule != "zero_temperature" and not isinstance(beta, jax.core.Tracer):
        b = np.asarray(beta)
        if np.any(~np.isfinite(b)) or np.any(b <= 0):
            raise ValueError(f"rule={rule!r} needs temperatures > 0 (T = 0 only with "
                             f"rule='zero_temperature')")


def run_dense(key, model, state: DenseState, n_sweeps: int, *, rule="heat_bath",
              order="sequential", record_every: int = 1, observe=None,
              block: int = DEFAULT_BLOCK) -> tuple[DenseState, DenseTrace]:
    """``n_sweeps`` sweeps inside one ``lax.scan``, recording every ``record_every`` sweeps
    the energy per spin, the flip rate and ``observe(spins)`` (e.g. Mattis overlaps)."""
    _check_model(model)
    check_choice(rule, "rule", DENSE_RULES)
    check_choice(order, "order", _ORDERS)
    check_positive_int(n_sweeps, "n_sweeps", minimum=0)
    check_positive_int(record_every, "record_every")
    check_positive_int(block, "block")
    if n_sweeps % record_every:
        raise ValueError(f"n_sweeps ({n_sweeps}) must be a multiple of record_every "
                         f"({record_every})")
    _check_rule_temperature(rule, state.beta)
    return _run_dense(key, model, state, n_sweeps // record_every, record_every, rule, order,
                      observe, block)


@partial(jax.jit, static_argnums=(3, 4, 5, 6, 7, 8))
def _run_dense(key, model, state, n_records, record_every, rule, order, observe, block):
    N = model.n_spins

    def record(st, k):
        def one(i, carry):
            st_, _ = carry
            return dense_sweep(jax.random.fold_in(k, i), model, st_, rule=rule, order=order,
                               block=block)
        st, flips = jax.lax.fori_loop(0, record_every, one, (st, jnp.zeros((), jnp.int32)))
        extra = None if observe is None else observe(st.spins)
        return st, DenseTrace(model.energy(st.spins) / N, flips / N, extra)

    return jax.lax.scan(record, state, jax.random.split(key, n_records))


class RelaxResult(NamedTuple):
    """Outcome of zero-temperature dynamics for one replica.

    ``fixed_point``: a sweep (asynchronous) or a parallel update (synchronous) changed no
    spin; ``two_cycle``: synchronous dynamics returned to the configuration of two steps
    before without being fixed; ``n_sweeps``: sweeps (or parallel steps) performed.
    """

    spins: Array
    fixed_point: Array
    two_cycle: Array
    n_sweeps: Array


def relax(key, model, spins, *, dynamics="asynchronous", max_sweeps: int = 100,
          block: int = DEFAULT_BLOCK) -> RelaxResult:
    """Zero-temperature sign dynamics from ``spins`` (one replica; vmap for more) until a
    fixed point, a 2-cycle (synchronous only) or ``max_sweeps``.

    ``"asynchronous"``: random sequential updates (a fresh permutation every sweep);
    ``"synchronous"``: :math:`\\sigma \\leftarrow \\mathrm{sign}(J\\sigma + h)` for all spins
    at once (Little dynamics), which can end in a 2-cycle.
    """
    _check_model(model)
    check_choice(dynamics, "dynamics", ("asynchronous", "synchronous"))
    check_positive_int(max_sweeps, "max_sweeps")
    state = init_dense(key, model, 0.0, spins=spins)
    return _relax(key, model, state, dynamics, max_sweeps, block)


@partial(jax.jit, static_argnums=(3, 4, 5))
def _relax(key, model, state, dynamics, max_sweeps, block):
    false = jnp.zeros((), bool)
    if dynamics == "asynchronous":
        def body(c):
            st, _, n = c
            st, flips = dense_sweep(jax.random.fold_in(key, n), model, st,
                                    rule="zero_temperature", order="random", block=block)
            return st, flips == 0, n + 1
        st, fixed, n = jax.lax.while_loop(lambda c: ~c[1] & (c[2] < max_sweeps), body,
                                          (state, false, jnp.zeros((), jnp.int32)))
        return RelaxResult(st.spins, fixed, false, n)

    def sync(s):
        phi = model.fields(s)
        return jnp.where(phi > 0, 1.0, jnp.where(phi < 0, -1.0, s)).astype(s.dtype)

    def body(c):
        prev, s, _, _, n = c
        new = sync(s)
        return s, new, jnp.all(new == s), jnp.all(new == prev) & ~jnp.all(new == s), n + 1
    s0 = state.spins
    _, s, fixed, cycle, n = jax.lax.while_loop(
        lambda c: ~c[2] & ~c[3] & (c[4] < max_sweeps), body,
        (s0, s0, false, false, jnp.zeros((), jnp.int32)))
    return RelaxResult(s, fixed, cycle, n)
