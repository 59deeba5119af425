r"""Boltzmann machines: energy, exact enumeration, Gibbs sampling and the learning rule.

A Boltzmann machine (seed 001, Ackley, Hinton & Sejnowski 1985) is an Ising model whose
first ``n_visible`` units are clamped to data during learning and whose remaining units are
hidden.  With all units :math:`x = (v, h)`, symmetric couplings :math:`W` (zero diagonal)
and biases :math:`b`,

.. math::
    E(x) = -\tfrac12 \sum_{i\ne j} W_{ij} x_i x_j - \sum_i b_i x_i ,\qquad
    p(v) = \frac{1}{Z}\sum_h e^{-E(v, h)},

with units :math:`x_i \in \{-1, +1\}` (``units="spin"``, the seed's convention) or
:math:`\{0, 1\}` (``units="binary"``).  The gradient of the mean log-likelihood of data
with respect to the pair coupling :math:`w_{ij} = W_{ij} = W_{ji}` and the bias is the
Boltzmann-machine learning rule

.. math::
    \frac{\partial \langle\log p(v)\rangle_{data}}{\partial w_{ij}}
      = \langle x_i x_j\rangle_{clamped} - \langle x_i x_j\rangle_{free},\qquad
    \frac{\partial \langle\log p(v)\rangle_{data}}{\partial b_i}
      = \langle x_i\rangle_{clamped} - \langle x_i\rangle_{free},

where *clamped* averages over the data and the hidden units' conditional distribution and
*free* over the model.  Both are computed exactly by enumeration (up to
:data:`MAX_ENUMERATION_UNITS` units) or estimated by sequential heat-bath (Glauber) sweeps:
unit i is set to its "on" state with probability :math:`\sigma(2\phi_i)` (spins) or
:math:`\sigma(\phi_i)` (binary), :math:`\phi_i = \sum_j W_{ij}x_j + b_i`.

Sampling is the :class:`BMGibbs` kernel (:mod:`physjax.kernels` protocol): one sequential
heat-bath sweep per step at the inverse temperature ``state.beta`` (per chain, so a
temperature ladder is a vmap or a batch axis), free or with the visible units clamped.
:func:`bm_gibbs_sweep` and :func:`bm_sampled_correlations` are thin wrappers over it and
:func:`physjax.kernels.run`.

Gradients are returned as a :class:`BoltzmannMachine` of the same shape (the ascent
direction); :func:`fit_boltzmann_machine` hands their negative to an Optax optimizer.  The
default optimizer is SGD with its learning rate an array in the optimizer state
(``optax.inject_hyperparams``), so the rate may be traced (``jax.vmap`` over rates) and
every rate runs the same compiled program.
"""

from __future__ import annotations

import functools
from functools import partial
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from physjax._array_types import Array, ArrayLike, Float, Key, Real, Scalar
from physjax._checks import (
    check_choice,
    check_finite,
    check_positive,
    check_positive_int,
    check_sample_matrix,
    check_square_symmetric,
    is_concrete,
)
from physjax._options import CorrelationMethod, Units
from physjax.kernels import Kernel, run

__all__ = [
    "CorrelationMethod",
    "Units",
    "MAX_ENUMERATION_UNITS",
    "BMCorrelations",
    "BoltzmannMachine",
    "init_boltzmann_machine",
    "bm_energy",
    "bm_log_partition",
    "bm_log_likelihood",
    "bm_exact_correlations",
    "bm_sampled_correlations",
    "bm_learning_rule",
    "bm_gibbs_sweep",
    "fit_boltzmann_machine",
    "BMState",
    "BMGibbsInfo",
    "BMGibbs",
]

#: Largest layer (or machine) enumerated exactly: 2**24 states, summed in chunks.
MAX_ENUMERATION_UNITS = 24
_CHUNK_BITS = 12


# ------------------------------------------------------------------ shared helpers

@functools.cache
def sgd_optimizer() -> optax.GradientTransformation:
    """Plain SGD whose learning rate lives in the optimizer state
    (``optax.inject_hyperparams``): one transformation object for every rate, so a new rate
    (or a traced one) reuses the compiled program.  Set the rate with
    :func:`with_learning_rate` after ``init``."""
    return optax.inject_hyperparams(optax.sgd)(learning_rate=1.0)


def with_learning_rate(opt_state, learning_rate, dtype):
    """``opt_state`` of :func:`sgd_optimizer` with its learning rate set (may be traced)."""
    rate = jnp.asarray(learning_rate, dtype)
    return opt_state._replace(hyperparams={**opt_state.hyperparams, "learning_rate": rate})


def check_optimizer(optimizer, name: str = "optimizer") -> optax.GradientTransformation:
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"{name} must be an optax.GradientTransformation (e.g. "
                        f"optax.sgd(0.01)), got {type(optimizer).__name__} {optimizer!r:.40}")
    return optimizer


def check_rate(value, name: str):
    """A finite rate > 0: checked on concrete values, ``equinox.error_if`` when traced."""
    if is_concrete(value):
        return check_positive(value, name)
    value = jnp.asarray(value)
    return eqx.error_if(value, ~jnp.all(jnp.isfinite(value) & (value > 0)),
                        f"{name} must be finite and > 0")


def check_inverse_temperature(beta, name: str = "beta"):
    """Inverse temperatures must be finite and >= 0 (0: infinite temperature); concrete
    values raise a ``ValueError``, traced ones go through ``equinox.error_if``."""
    if is_concrete(beta):
        a = np.asarray(beta)
        check_finite(a, name)
        if np.any(a < 0):
            raise ValueError(f"{name} (an inverse temperature) must be >= 0, got min "
                             f"{a.min()!r}")
        return beta
    return eqx.error_if(beta, ~jnp.all(jnp.isfinite(beta) & (beta >= 0)),
                        f"{name} (an inverse temperature) must be finite and >= 0")


def check_finite_traced(x, name: str):
    """Finite entries: ``check_finite`` on concrete values, ``equinox.error_if`` on traced."""
    if is_concrete(x):
        return check_finite(x, name)
    return eqx.error_if(x, ~jnp.all(jnp.isfinite(x)), f"{name} must be finite")


def check_unit_values(x, units: str, name: str):
    """``x`` must hold only the values of ``units``: 0/1 for ``"binary"``, -1/+1 for
    ``"spin"`` (``"gaussian"`` passes).  Concrete values raise a ``ValueError`` naming
    ``name``; traced ones go through ``equinox.error_if``."""
    if units == "gaussian":
        return x
    allowed = (0, 1) if units == "binary" else (-1, 1)
    if is_concrete(x):
        a = np.asarray(x)
        bad = (a != allowed[0]) & (a != allowed[1])
        if bad.any():
            raise ValueError(f"{name} must hold {units} unit values ({allowed[0]}/"
                             f"{allowed[1]} for {units!r} units), found e.g. "
                             f"{a[bad].ravel()[:3].tolist()}")
        return x
    return eqx.error_if(x, jnp.any((x != allowed[0]) & (x != allowed[1])),
                        f"{name} must hold {units} unit values ({allowed[0]}/{allowed[1]} "
                        f"for {units!r} units)")


def check_enumerable(n_units: int, name: str, *, what: str = "layer") -> None:
    """Raise when exact enumeration over ``2**n_units`` states is out of reach."""
    if n_units > MAX_ENUMERATION_UNITS:
        raise ValueError(
            f"{name}: exact enumeration over the {what} of {n_units} units (2^{n_units} "
            f"states) is out of reach; the limit is {MAX_ENUMERATION_UNITS} units. Estimate "
            f"log Z with annealed importance sampling (physjax.spins.ais_log_partition) "
            f"instead")


def check_unit_data(data, units: str, name: str, width: int | None = None, *,
                    width_name: str = "n_visible") -> Array:
    """Data as a float array of shape (n_samples, width) holding only the unit values:
    0/1 for ``units="binary"``, -1/+1 for ``units="spin"``.  Tracers pass unchecked."""
    data = check_sample_matrix(data, name, columns=str(width or "n_units"))
    if width is not None and data.shape[1] != width:
        raise ValueError(f"{name} has {data.shape[1]} columns but the model has {width} "
                         f"visible units ({width_name}); expected shape (n_samples, {width})")
    if is_concrete(data):
        a = np.asarray(data)
        check_finite(a, name)
        allowed = (0, 1) if units == "binary" else (-1, 1)
        bad = (a != allowed[0]) & (a != allowed[1])
        if bad.any():
            raise ValueError(f"{name} must be {units} ({allowed[0]}/{allowed[1]} values for "
                             f"units={units!r}), found e.g. {a[bad].ravel()[:3].tolist()}")
    return jnp.asarray(data, dtype=float)


def unit_states(indices: Array, n: int, units: str, dtype) -> Array:
    """The states numbered by ``indices`` (bit i of the index is unit i)."""
    bits = (indices[:, None] >> jnp.arange(n, dtype=indices.dtype)) & 1
    x = bits.astype(dtype)
    return 2 * x - 1 if units == "spin" else x


def enumerate_states(n: int, units: str, dtype, log_weight, moments=None):
    r"""Sum over all :math:`2^n` unit states in chunks of at most 4096.

    Returns :math:`\log\sum_x e^{\ell(x)}` with :math:`\ell` = ``log_weight(x)`` (batched
    over the leading axis) and, if ``moments(x, p)`` is given (weighted sums over a chunk,
    with ``p`` the chunk's weights relative to its maximum), the normalized expectations
    :math:`\sum_x e^{\ell(x)} f(x) / \sum_x e^{\ell(x)}` as the same pytree.
    """
    chunk = 2 ** min(n, _CHUNK_BITS)
    n_chunks = 2**n // chunk
    x0 = unit_states(jnp.arange(chunk, dtype=jnp.int32), n, units, dtype)
    acc0 = (jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype),
                         jax.eval_shape(moments, x0, jnp.ones(chunk, dtype)))
            if moments is not None else ())

    def body(carry, c):
        m, s, acc = carry
        x = unit_states(c * chunk + jnp.arange(chunk, dtype=jnp.int32), n, units, dtype)
        lw = log_weight(x)
        mc = jnp.max(lw)
        p = jnp.exp(lw - mc)
        stats = moments(x, p) if moments is not None else ()
        m_new = jnp.maximum(m, mc)
        a, b = jnp.exp(m - m_new), jnp.exp(mc - m_new)
        acc = jax.tree.map(lambda u, v: u * a + v * b, acc, stats)
        return (m_new, s * a + jnp.sum(p) * b, acc), None

    init = (jnp.asarray(-jnp.inf, dtype), jnp.asarray(0.0, dtype), acc0)
    (m, s, acc), _ = jax.lax.scan(body, init, jnp.arange(n_chunks, dtype=jnp.int32))
    return m + jnp.log(s), jax.tree.map(lambda u: u / s, acc)


def float_array(x, name: str) -> Array:
    return jnp.asarray(check_finite(x, name), dtype=float)


# ---------------------------------------------------------------------- the model

class BoltzmannMachine(eqx.Module):
    r"""A (possibly hidden-unit) Boltzmann machine,
    :math:`E(x) = -\frac12 x^TWx - b^Tx` with :math:`x = (v, h)`.

    Attributes:
        weights: symmetric (n_units, n_units) couplings; the diagonal is set to zero.
        bias: (n_units,) biases (fields).
        n_visible: the first ``n_visible`` units are visible (static).
        units: ``"spin"`` (:math:`\pm1`, seed 001) or ``"binary"`` (0/1) (static).
    """

    weights: Array
    bias: Array
    n_visible: int = eqx.field(static=True)
    units: Units = eqx.field(static=True)

    def __init__(self, weights, bias=0.0, *, n_visible: int | None = None,
                 units: Units = "spin"):
        W = check_square_symmetric(float_array(weights, "weights"), "weights",
                                   axes="n_units, n_units", symbol="W", allow_empty=False)
        n = W.shape[0]
        b = float_array(bias, "bias")
        if b.ndim == 0:
            b = jnp.full((n,), b)
        if b.shape != (n,):
            raise ValueError(f"bias must be a scalar or have shape ({n},), got {b.shape}")
        self.n_visible = n if n_visible is None else check_positive_int(n_visible, "n_visible")
        if self.n_visible > n:
            raise ValueError(f"n_visible must be <= the number of units {n}, got "
                             f"{self.n_visible}")
        self.units = check_choice(units, "units", Units)
        self.weights = 0.5 * (W + W.T) * (1 - jnp.eye(n, dtype=W.dtype))
        self.bias = b

    @property
    def n_units(self) -> int:
        return self.weights.shape[0]

    @property
    def n_hidden(self) -> int:
        return self.n_units - self.n_visible


def init_boltzmann_machine(key: Key, n_visible: int, n_hidden: int = 0, *, units: Units = "spin",
                           scale: Scalar = 0.01) -> BoltzmannMachine:
    """Small random symmetric couplings :math:`W_{ij} \\sim \\mathcal N(0, \\text{scale}^2)`,
    zero biases."""
    nv = check_positive_int(n_visible, "n_visible")
    nh = check_positive_int(n_hidden, "n_hidden", minimum=0)
    check_positive(scale, "scale")
    n = nv + nh
    g = jnp.triu(jax.random.normal(key, (n, n)) * scale, 1)
    return BoltzmannMachine(g + g.T, 0.0, n_visible=nv, units=units)


def _check_bm(bm):
    if not isinstance(bm, BoltzmannMachine):
        raise TypeError(f"bm must be a physjax.spins.BoltzmannMachine, got "
                        f"{type(bm).__name__}")
    check_finite(bm.weights, "bm.weights")
    check_finite(bm.bias, "bm.bias")


def _neg_energy(bm, x):
    return 0.5 * jnp.sum((x @ bm.weights) * x, axis=-1) + x @ bm.bias


def bm_energy(bm: BoltzmannMachine, x: Real[ArrayLike, "*batch n"]) -> Float[Array, "*batch"]:
    """:math:`E(x) = -\\frac12 x^TWx - b^Tx` of configurations ``x`` (..., n_units)."""
    _check_bm(bm)
    x = jnp.asarray(x, dtype=bm.weights.dtype)
    if x.shape[-1:] != (bm.n_units,):
        raise ValueError(f"x must have last axis n_units = {bm.n_units}, got shape {x.shape}")
    return -_neg_energy(bm, x)


# ------------------------------------------------------------------ exact enumeration

def _log_partition(bm):
    return enumerate_states(bm.n_units, bm.units, bm.weights.dtype,
                            lambda x: _neg_energy(bm, x))[0]


def bm_log_partition(bm: BoltzmannMachine) -> Float[Array, ""]:
    """:math:`\\log Z = \\log\\sum_x e^{-E(x)}` by enumerating all :math:`2^{n}` states
    (n <= 24; at most ~20 is quick)."""
    _check_bm(bm)
    check_enumerable(bm.n_units, "bm", what="machine")
    return jax.jit(_log_partition)(bm)


def _with_hidden(bm, v, h):
    return jnp.concatenate([jnp.broadcast_to(v, h.shape[:-1] + v.shape[-1:]), h], axis=-1)


def _clamped_log_weight(bm, v):
    """log sum_h exp(-E(v, h)) for one visible vector v."""
    if bm.n_hidden == 0:
        return _neg_energy(bm, v)
    return enumerate_states(bm.n_hidden, bm.units, bm.weights.dtype,
                            lambda h: _neg_energy(bm, _with_hidden(bm, v, h)))[0]


@jax.jit
def _log_likelihood(bm, data):
    return jnp.mean(jax.lax.map(partial(_clamped_log_weight, bm), data)) - _log_partition(bm)


def bm_log_likelihood(bm: BoltzmannMachine, data: Real[ArrayLike, "m n_visible"]
                      ) -> Float[Array, ""]:
    """Exact mean log-likelihood :math:`\\frac1M\\sum_m \\log p(v^m)` of data (M, n_visible)
    by enumeration of the hidden units (per sample) and of all units (for Z)."""
    _check_bm(bm)
    check_enumerable(bm.n_units, "bm", what="machine")
    data = check_unit_data(data, bm.units, "data", bm.n_visible)
    return _log_likelihood(bm, data.astype(bm.weights.dtype))


class BMCorrelations(NamedTuple):
    r"""Clamped (data) and free (model) moments :math:`\langle x_ix_j\rangle`,
    :math:`\langle x_i\rangle` over all units; each pair matrix is (n_units, n_units)."""

    clamped_pairs: Array
    clamped_means: Array
    free_pairs: Array
    free_means: Array


def _pair_moments(x, p):
    return (x.T @ (p[:, None] * x), p @ x)


def _exact_correlations(bm, data):
    dt = bm.weights.dtype
    _, (free_pairs, free_means) = enumerate_states(
        bm.n_units, bm.units, dt, lambda x: _neg_energy(bm, x), _pair_moments)
    if bm.n_hidden == 0:
        clamped = _pair_moments(data, jnp.full(data.shape[0], 1.0 / data.shape[0], dt))
    else:
        def one(v):
            return enumerate_states(
                bm.n_hidden, bm.units, dt,
                lambda h: _neg_energy(bm, _with_hidden(bm, v, h)),
                lambda h, p: _pair_moments(_with_hidden(bm, v, h), p))[1]
        clamped = jax.tree.map(lambda a: jnp.mean(a, axis=0), jax.lax.map(one, data))
    return BMCorrelations(clamped[0], clamped[1], free_pairs, free_means)


def bm_exact_correlations(bm: BoltzmannMachine, data: Real[ArrayLike, "m n_visible"]
                          ) -> BMCorrelations:
    """Clamped and free correlations by exact enumeration."""
    _check_bm(bm)
    check_enumerable(bm.n_units, "bm", what="machine")
    data = check_unit_data(data, bm.units, "data", bm.n_visible)
    return jax.jit(_exact_correlations)(bm, data.astype(bm.weights.dtype))


def bm_learning_rule(bm: BoltzmannMachine, correlations: BMCorrelations) -> BoltzmannMachine:
    r"""The log-likelihood gradient :math:`\Delta w_{ij} = \langle x_ix_j\rangle_{clamped} -
    \langle x_ix_j\rangle_{free}` (zero diagonal), :math:`\Delta b_i = \langle x_i
    \rangle_{clamped} - \langle x_i\rangle_{free}`, as a machine of ``bm``'s shape.

    The coupling entry is the derivative with respect to the *pair* :math:`w_{ij}=w_{ji}`
    (moving both entries of W together), so ``W + lr * grad.weights`` stays symmetric.
    """
    c = correlations
    n = bm.n_units
    dW = (c.clamped_pairs - c.free_pairs) * (1 - jnp.eye(n, dtype=c.free_pairs.dtype))
    return eqx.tree_at(lambda m: (m.weights, m.bias), bm, (dW, c.clamped_means - c.free_means))


# ------------------------------------------------------------------ Gibbs sampling

def _on_probability(bm, field):
    return jax.nn.sigmoid(2 * field if bm.units == "spin" else field)


class BMState(NamedTuple):
    """State of :class:`BMGibbs` chains.

    Attributes:
        x: configurations (..., n_units) (leading axes: independent chains, or none).
        beta: inverse temperature of each chain, shape ``x.shape[:-1]``.
    """

    x: Array
    beta: Array


class BMGibbsInfo(NamedTuple):
    """Per step: the fraction of the swept units whose value changed (per chain)."""

    changed_fraction: Array


def _check_bm_type(model, name="model"):
    if not isinstance(model, BoltzmannMachine):
        raise TypeError(f"{name} must be a physjax.spins.BoltzmannMachine, got "
                        f"{type(model).__name__}")


def _check_bm_state_shapes(model, state):
    """Trace-time checks (shapes and dtypes) of a :class:`BMState` against ``model``."""
    if not isinstance(state, BMState):
        raise TypeError(f"state must be a BMState (from BMGibbs.init), got "
                        f"{type(state).__name__}")
    for field, a in zip(("x", "beta"), state, strict=True):
        if not hasattr(a, "shape"):
            raise TypeError(f"state.{field} must be an array, got {type(a).__name__}")
    x, beta = state.x, state.beta
    if x.ndim < 1 or x.shape[-1] != model.n_units:
        raise ValueError(f"state.x must have last axis n_units = {model.n_units} (a state of "
                         f"this machine), got shape {x.shape}")
    if x.dtype != model.weights.dtype:
        raise TypeError(f"state.x has dtype {x.dtype} but the model's weights are "
                        f"{model.weights.dtype} (a state of another model or precision)")
    if beta.shape != x.shape[:-1]:
        raise ValueError(f"state.beta must have the chains' batch shape {x.shape[:-1]}, got "
                         f"{beta.shape}")
    if beta.dtype != x.dtype:
        raise TypeError(f"state.beta has dtype {beta.dtype}, expected {x.dtype}")


def _sweep(u, bm, x, beta, first):
    """Sequential heat-bath sweep over units ``first..n-1`` of configurations ``x`` (..., n)
    at inverse temperature ``beta`` (x.shape[:-1]), with uniforms ``u`` of x's shape."""
    lo = -1.0 if bm.units == "spin" else 0.0

    def update(i, x):
        field = beta * (x @ bm.weights[:, i] + bm.bias[i])
        return x.at[..., i].set(jnp.where(u[..., i] < _on_probability(bm, field), 1.0, lo))
    return jax.lax.fori_loop(first, bm.n_units, update, x)


@partial(jax.jit, static_argnums=3)
def _bm_step(key, bm, state, first):
    """One sweep of units ``first..n-1`` (jitted: an eager step is one compiled call)."""
    x = _sweep(jax.random.uniform(key, state.x.shape, state.x.dtype), bm, state.x,
               state.beta, first)
    changed = jnp.sum(x != state.x, axis=-1) / max(bm.n_units - first, 1)
    return BMState(x, state.beta), BMGibbsInfo(changed.astype(x.dtype))


@partial(jax.jit, static_argnums=2)
def _random_units(key, bm, shape):
    lo = -1.0 if bm.units == "spin" else 0.0
    return jnp.where(jax.random.bernoulli(key, 0.5, (*shape, bm.n_units)), 1.0,
                     lo).astype(bm.weights.dtype)


class BMGibbs(Kernel):
    r"""Sequential heat-bath (Glauber) sweeps of a :class:`BoltzmannMachine` at inverse
    temperature ``state.beta``: unit i (in index order) is set "on" with probability
    :math:`\sigma(2\beta\phi_i)` (spins) or :math:`\sigma(\beta\phi_i)` (binary),
    :math:`\phi_i = \sum_j W_{ij}x_j + b_i`, which leaves :math:`e^{-\beta E(x)}/Z_\beta`
    invariant.  With ``clamp_visible`` only the hidden units move (the clamped, or
    conditional, distribution :math:`p_\beta(h | v)`).

    ``model`` is the machine; ``state`` a :class:`BMState` (chains are leading axes of
    ``state.x``); ``info`` a :class:`BMGibbsInfo`.  ``energy`` is :math:`E(x)`.
    """

    clamp_visible: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        if not isinstance(self.clamp_visible, bool | np.bool_):
            raise TypeError(f"clamp_visible must be a bool, got {self.clamp_visible!r}")

    def init(self, key: Key, model: BoltzmannMachine, n_chains: int | None = None, *,
             x: Real[ArrayLike, "*chains n"] | None = None,
             beta: Real[ArrayLike, " ..."] = 1.0) -> BMState:
        """Uniformly random configurations (one chain, or ``n_chains``), or the given ``x``
        (..., n_units); every chain at inverse temperature ``beta`` (a scalar or one per
        chain)."""
        _check_bm_type(model)
        dt = model.weights.dtype
        if x is None:
            shape = () if n_chains is None else (check_positive_int(n_chains, "n_chains"),)
            x = _random_units(key, model, shape)
        else:
            x = jnp.asarray(check_unit_values(x, model.units, "x"), dt)
            if x.ndim < 1 or x.shape[-1] != model.n_units:
                raise ValueError(f"x must have last axis n_units = {model.n_units}, got "
                                 f"shape {x.shape}")
        beta = check_inverse_temperature(beta, "beta")
        return BMState(x, jnp.broadcast_to(jnp.asarray(beta, dt), x.shape[:-1]))

    def step(self, key: Key, model: BoltzmannMachine, state: BMState
             ) -> tuple[BMState, BMGibbsInfo]:
        _check_bm_state_shapes(model, state)
        return _bm_step(key, model, state, model.n_visible if self.clamp_visible else 0)

    def energy(self, model: BoltzmannMachine, state: BMState) -> Float[Array, "*chains"]:
        return -_neg_energy(model, state.x)

    def check(self, model: BoltzmannMachine, state: BMState
              ) -> tuple[BoltzmannMachine, BMState]:
        _check_bm_type(model)
        _check_bm_state_shapes(model, state)
        model = eqx.tree_at(lambda m: (m.weights, m.bias), model,
                            (check_finite_traced(model.weights, "model.weights"),
                             check_finite_traced(model.bias, "model.bias")))
        state = BMState(check_unit_values(state.x, model.units, "state.x"),
                        check_inverse_temperature(state.beta, "state.beta"))
        return model, state


def bm_gibbs_sweep(key: Key, bm: BoltzmannMachine, x: Real[ArrayLike, " n"], *,
                   clamp_visible: bool = False) -> Float[Array, " n"]:
    """One sequential heat-bath sweep of one configuration ``x`` (n_units,) in index order
    (one step of :class:`BMGibbs` at beta = 1); with ``clamp_visible`` only the hidden units
    move.  ``x`` must hold the machine's unit values (-1/+1 or 0/1).  ``jax.vmap`` makes
    chains."""
    _check_bm(bm)
    if not hasattr(x, "shape"):
        x = np.asarray(x)
    if tuple(x.shape) != (bm.n_units,):
        raise ValueError(f"x must have shape ({bm.n_units},) (one configuration; vmap over "
                         f"chains), got {tuple(x.shape)}")
    x = jnp.asarray(check_unit_values(check_finite(x, "x"), bm.units, "x"),
                    bm.weights.dtype)
    return _jit_sweep(BMGibbs(bool(clamp_visible)), key, bm, x)


@eqx.filter_jit
def _jit_sweep(kernel, key, bm, x):
    return kernel.step(key, bm, BMState(x, jnp.ones((), x.dtype)))[0].x


def _pair_moments_of_state(model, state, info):
    r"""Chain-averaged :math:`\langle x_ix_j\rangle` and :math:`\langle x_i\rangle`."""
    x = state.x
    return x.T @ x / x.shape[0], jnp.mean(x, 0)


def _time_average_moments(key, kernel, bm, x, burn_in, n_sweeps):
    """Moments averaged over ``n_sweeps`` sweeps after ``burn_in`` and over the chains
    (leading axis of x)."""
    state = BMState(x, jnp.ones(x.shape[:1], x.dtype))
    r = run(kernel, key, bm, state, n_sweeps, burn_in=burn_in, observe=_pair_moments_of_state)
    return tuple(jnp.mean(m, 0) for m in r.records)


@partial(jax.jit, static_argnums=(3, 4, 5))
def _sampled_correlations(key, bm, data, n_chains, burn_in, n_sweeps):
    k_init, k_free, k_clamp = jax.random.split(key, 3)
    dt = bm.weights.dtype
    lo = -1.0 if bm.units == "spin" else 0.0
    x0 = jnp.where(jax.random.bernoulli(k_init, 0.5, (n_chains, bm.n_units)), 1.0, lo)
    free = _time_average_moments(k_free, BMGibbs(), bm, x0.astype(dt), burn_in, n_sweeps)
    if bm.n_hidden == 0:
        clamped = _pair_moments(data, jnp.full(data.shape[0], 1.0 / data.shape[0], dt))
    else:
        h0 = jnp.where(jax.random.bernoulli(k_init, 0.5, (data.shape[0], bm.n_hidden)), 1.0,
                       lo).astype(dt)
        xc = jnp.concatenate([data, h0], axis=1)
        clamped = _time_average_moments(k_clamp, BMGibbs(clamp_visible=True), bm, xc,
                                        burn_in, n_sweeps)
    return BMCorrelations(clamped[0], clamped[1], free[0], free[1])


def bm_sampled_correlations(key: Key, bm: BoltzmannMachine,
                            data: Real[ArrayLike, "m n_visible"], *, n_chains: int = 256,
                            n_sweeps: int = 200, burn_in: int = 50) -> BMCorrelations:
    """Clamped and free correlations estimated by Gibbs sampling (:class:`BMGibbs` through
    :func:`physjax.kernels.run`).

    Free: ``n_chains`` chains from random states, ``burn_in`` sweeps, then the average over
    ``n_sweeps`` sweeps and the chains.  Clamped: one chain per data row with the visible
    units held at the row (hidden units sampled the same way); without hidden units the
    clamped moments are the data moments.
    """
    _check_bm(bm)
    data = check_unit_data(data, bm.units, "data", bm.n_visible)
    check_positive_int(n_chains, "n_chains")
    check_positive_int(n_sweeps, "n_sweeps")
    check_positive_int(burn_in, "burn_in", minimum=0)
    return _sampled_correlations(key, bm, data.astype(bm.weights.dtype), n_chains, burn_in,
                                 n_sweeps)


# ------------------------------------------------------------------------ learning

@eqx.filter_jit  # optimizer, n_steps, method, n_chains, n_sweeps: static (not arrays)
def _fit(key, bm, data, optimizer, opt_state, n_steps, method, n_chains, n_sweeps):
    def step(carry, k):
        bm, opt_state = carry
        if method == "exact":
            corr = _exact_correlations(bm, data)
        else:
            corr = _sampled_correlations(k, bm, data, n_chains, n_sweeps // 4, n_sweeps)
        grad = bm_learning_rule(bm, corr)
        updates, opt_state = optimizer.update(jax.tree.map(jnp.negative, grad), opt_state, bm)
        bm = optax.apply_updates(bm, updates)
        size = jnp.sqrt(jnp.sum(grad.weights**2) + jnp.sum(grad.bias**2))
        return (bm, opt_state), size

    (bm, _), sizes = jax.lax.scan(step, (bm, opt_state), jax.random.split(key, n_steps))
    return bm, sizes


def fit_boltzmann_machine(key: Key, bm: BoltzmannMachine,
                          data: Real[ArrayLike, "m n_visible"], *, n_steps: int,
                          learning_rate: Scalar = 0.1,
                          optimizer: optax.GradientTransformation | None = None,
                          method: CorrelationMethod = "exact", n_chains: int = 256,
                          n_sweeps: int = 100,
                          ) -> tuple[BoltzmannMachine, Float[Array, " n_steps"]]:
    r"""Train with the Boltzmann-machine learning rule, ``n_steps`` full-batch steps in one
    ``lax.scan``.

    ``method="exact"`` uses enumerated correlations (small machines), ``"gibbs"``
    :func:`bm_sampled_correlations` with ``n_chains`` chains, ``n_sweeps // 4`` burn-in and
    ``n_sweeps`` measuring sweeps per step (``key`` drives the sampling).  ``optimizer`` is an
    Optax ``GradientTransformation``; the default is SGD at ``learning_rate`` (plain gradient
    ascent, the seed's :math:`\Delta w_{ij} = \epsilon(p_{ij} - p'_{ij})`), the rate held as
    an array so it may be traced (``jax.vmap`` over rates).  Returns the trained machine and
    the gradient norm per step.
    """
    _check_bm(bm)
    data = check_unit_data(data, bm.units, "data", bm.n_visible)
    check_positive_int(n_steps, "n_steps")
    check_choice(method, "method", CorrelationMethod)
    if method == "exact":
        check_enumerable(bm.n_units, "bm", what="machine")
    learning_rate = check_rate(learning_rate, "learning_rate")
    check_positive_int(n_chains, "n_chains")
    check_positive_int(n_sweeps, "n_sweeps")
    if optimizer is None:
        optimizer = sgd_optimizer()
        opt_state = with_learning_rate(optimizer.init(bm), learning_rate, bm.weights.dtype)
    else:
        opt_state = check_optimizer(optimizer).init(bm)
    return _fit(key, bm, data.astype(bm.weights.dtype), optimizer, opt_state, n_steps, method,
                n_chains, n_sweeps)
