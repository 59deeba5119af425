r"""Restricted Boltzmann machines: energy, free energy, block Gibbs sampling, exact
enumeration, and the RBM <-> Hopfield correspondence.

An RBM couples ``n_visible`` units :math:`v` and ``n_hidden`` units :math:`h` only across
the layers (seed 001, Fig. 5):

.. math::
    E(v, h) = -v^TWh - b^Tv - c^Th\;\bigl[+\tfrac12|h|^2\ \text{for Gaussian hidden units}\bigr],
    \qquad p(v, h) = e^{-E(v,h)}/Z.

Visible units are ``"binary"`` (0/1) or ``"spin"`` (:math:`\pm1`); hidden units are
``"binary"``, ``"spin"`` or ``"gaussian"`` (real, unit variance).  Summing out the hidden
layer gives the free energy :math:`p(v) = e^{-F(v)}/Z` with :math:`a = c + W^Tv` and

.. math::
    F(v) = -b^Tv - \sum_j \phi(a_j),\qquad
    \phi(a) = \log(1+e^a)\ \text{(binary)},\ \log 2\cosh a\ \text{(spin)},\
    \tfrac12 a^2 + \tfrac12\log 2\pi\ \text{(Gaussian)}.

The layers are conditionally independent: :math:`p(h_j=1|v) = \sigma(a_j)` (binary),
:math:`p(h_j=\pm1|v) = \sigma(\pm 2a_j)` (spin), :math:`h_j|v \sim \mathcal N(a_j, 1)`
(Gaussian), and likewise for :math:`v` given :math:`u = b + Wh`.

Block Gibbs sampling is the :class:`RBMGibbs` kernel (:mod:`physjax.kernels` protocol),
which samples the *tempered* RBM

.. math::
    p_\beta(v, h) \propto e^{-\beta E_{int}(v,h) - E_0(h)},\qquad
    E_{int} = -v^TWh - b^Tv - c^Th,\quad E_0 = \tfrac12|h|^2\ \text{(Gaussian) or } 0,

at the inverse temperature ``state.beta`` of each chain (1: the RBM itself; the fields
:math:`a`, :math:`u` are multiplied by :math:`\beta`).  A step draws
:math:`h \sim p_\beta(h|v)`, then :math:`v \sim p_\beta(v|h)`; it reads only the visible
layer, so it is a Markov kernel on :math:`v` alone, and the state's ``hidden`` is the layer
that produced its ``visible`` (a joint sample in equilibrium).  Chains are leading batch axes
(one key per step drives all of them through batched matrix products; ``jax.vmap`` with
per-chain keys gives the same chains in distribution).  Binary and spin units are drawn from
counter-based uniforms (:mod:`physjax._counter_rng`: two seeds from the key, a hash per
unit), 6x cheaper than Threefry on a CPU; Gaussian units use ``jax.random.normal``.
:func:`init_chains`, :func:`gibbs_step` and :func:`run_gibbs` are thin wrappers over the
kernel and :func:`physjax.kernels.run`.

Hopfield networks (seed 003, Hubbard–Stratonovich).  For spins :math:`\sigma` and Gaussian
:math:`z`,
:math:`\int\!dz\,e^{-\beta|z|^2/2 + \frac{\beta}{\sqrt N}\sigma^T\xi z}
\propto e^{\frac{\beta}{2N}\sum_\mu(\xi^\mu\cdot\sigma)^2} = e^{-\beta H_{Hebb}(\sigma)}`
(up to the constant diagonal term).  With :math:`h = \sqrt\beta z` this is the unit-variance
Gaussian RBM with :math:`W = \sqrt\beta\,\xi^T/\sqrt N`: :func:`hopfield_to_rbm` builds it
and :func:`rbm_to_hopfield` goes back (:math:`J = WW^T/\beta`, :math:`h = (b + Wc)/\beta`).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp

from physjax._array_types import Array, ArrayLike, Float, Key, Real, Scalar
from physjax._checks import (
    check_choice,
    check_finite,
    check_key,
    check_positive,
    check_positive_int,
)
from physjax._options import HiddenUnits, VisibleUnits
from physjax.kernels import Kernel, run
from physjax.spins._rbm_units import log_sum_unit, sample_units, unit_mean, visible_free_energy
from physjax.spins.boltzmann import (
    check_enumerable,
    check_finite_traced,
    check_inverse_temperature,
    check_unit_data,
    check_unit_values,
    enumerate_states,
    float_array,
)
from physjax.spins.models import LowRankIsing

__all__ = [
    "VisibleUnits",
    "HiddenUnits",
    "RBM",
    "RBMChains",
    "RBMGibbsInfo",
    "RBMGibbs",
    "init_rbm",
    "rbm_energy",
    "free_energy",
    "hidden_mean",
    "visible_mean",
    "sample_hidden",
    "sample_visible",
    "init_chains",
    "gibbs_step",
    "run_gibbs",
    "rbm_log_partition",
    "rbm_exact_log_likelihood",
    "rbm_exact_gradient",
    "hopfield_to_rbm",
    "rbm_to_hopfield",
]


class RBM(eqx.Module):
    r"""Restricted Boltzmann machine :math:`E(v,h) = -v^TWh - b^Tv - c^Th` (+ :math:`|h|^2/2`
    for Gaussian hidden units).

    Attributes:
        weights: (n_visible, n_hidden) couplings W.
        visible_bias: (n_visible,) b.
        hidden_bias: (n_hidden,) c.
        visible: ``"binary"`` (0/1) or ``"spin"`` (:math:`\pm1`) (static).
        hidden: ``"binary"``, ``"spin"`` or ``"gaussian"`` (static).
    """

    weights: Array
    visible_bias: Array
    hidden_bias: Array
    visible: VisibleUnits = eqx.field(static=True)
    hidden: HiddenUnits = eqx.field(static=True)

    def __init__(self, weights, visible_bias=0.0, hidden_bias=0.0, *,
                 visible: VisibleUnits = "binary", hidden: HiddenUnits = "binary"):
        W = float_array(weights, "weights")
        if W.ndim != 2 or 0 in W.shape:
            raise ValueError(f"weights must have shape (n_visible, n_hidden) with n_visible >= 1 "
                             f"and n_hidden >= 1, "
                             f"got {W.shape}")
        self.weights = W
        self.visible_bias = _bias(visible_bias, W.shape[0], "visible_bias", W.dtype)
        self.hidden_bias = _bias(hidden_bias, W.shape[1], "hidden_bias", W.dtype)
        self.visible = check_choice(visible, "visible", VisibleUnits)
        self.hidden = check_choice(hidden, "hidden", HiddenUnits)

    @property
    def n_visible(self) -> int:
        return self.weights.shape[0]

    @property
    def n_hidden(self) -> int:
        return self.weights.shape[1]


def _bias(b, n, name, dtype):
    b = float_array(b, name).astype(dtype)
    if b.ndim == 0:
        b = jnp.full((n,), b)
    if b.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have shape ({n},), got {b.shape}")
    return b


def check_rbm(rbm, name: str = "rbm") -> RBM:
    """An :class:`RBM` with finite parameters (checked when concrete)."""
    if not isinstance(rbm, RBM):
        raise TypeError(f"{name} must be a physjax.spins.RBM, got {type(rbm).__name__}")
    for field in ("weights", "visible_bias", "hidden_bias"):
        check_finite(getattr(rbm, field), f"{name}.{field}")
    return rbm


def check_visible_data(rbm: RBM, data, name: str = "data") -> Array:
    """Visible configurations (n_samples, n_visible) in the RBM's visible convention."""
    return check_unit_data(data, rbm.visible, name, rbm.n_visible).astype(rbm.weights.dtype)


def init_rbm(key: Key, n_visible: int, n_hidden: int, *, visible: VisibleUnits = "binary",
             hidden: HiddenUnits = "binary", scale: Scalar = 0.01,
             data: Real[ArrayLike, "m n_visible"] | None = None) -> RBM:
    """Weights :math:`\\mathcal N(0, \\text{scale}^2)`, zero biases; with ``data`` the visible
    biases start at the data's base rates (:math:`\\log\\bar v/(1-\\bar v)` for binary units,
    :math:`\\mathrm{artanh}\\,\\bar v` for spins; Hinton's practical guide)."""
    nv = check_positive_int(n_visible, "n_visible")
    nh = check_positive_int(n_hidden, "n_hidden")
    check_positive(scale, "scale")
    check_choice(visible, "visible", VisibleUnits)
    W = jax.random.normal(key, (nv, nh)) * scale
    b = 0.0
    if data is not None:
        b = base_rate_bias(check_unit_data(data, visible, "data", nv), visible)
    return RBM(W, b, 0.0, visible=visible, hidden=hidden)


@partial(jax.jit, static_argnums=(1, 2))
def base_rate_bias(data: Array, visible: VisibleUnits, eps: float = 1e-3) -> Array:
    """Visible biases of the independent-unit model matching the data means."""
    if visible == "binary":
        p = jnp.clip(jnp.mean(data, 0), eps, 1 - eps)
        return jnp.log(p) - jnp.log1p(-p)
    return jnp.arctanh(jnp.clip(jnp.mean(data, 0), -1 + 2 * eps, 1 - 2 * eps))


# --------------------------------------------------------------- energies and F(v)

def _hidden_free_energy(rbm, h):
    u = h @ rbm.weights.T + rbm.visible_bias
    return -(h @ rbm.hidden_bias) - jnp.sum(log_sum_unit(u, rbm.visible), axis=-1)


def rbm_energy(rbm: RBM, v: Real[ArrayLike, "*#batch n_visible"],
               h: Real[ArrayLike, "*#batch n_hidden"]) -> Float[Array, "*batch"]:
    """:math:`E(v,h)` for configurations with leading batch axes."""
    check_rbm(rbm)
    v = jnp.asarray(v, dtype=rbm.weights.dtype)
    h = jnp.asarray(h, dtype=rbm.weights.dtype)
    if v.shape[-1:] != (rbm.n_visible,) or h.shape[-1:] != (rbm.n_hidden,):
        name, got = ("v", v.shape) if v.shape[-1:] != (rbm.n_visible,) else ("h", h.shape)
        raise ValueError(f"{name} must have last axis n_visible = {rbm.n_visible} (v) and "
                         f"n_hidden = {rbm.n_hidden} (h); {name} has shape {got}")
    e = -jnp.sum((v @ rbm.weights) * h, -1) - v @ rbm.visible_bias - h @ rbm.hidden_bias
    return e + 0.5 * jnp.sum(h * h, -1) if rbm.hidden == "gaussian" else e


def free_energy(rbm: RBM, v: Real[ArrayLike, "*batch n_visible"]) -> Float[Array, "*batch"]:
    """Free energy :math:`F(v) = -\\log\\sum_h e^{-E(v,h)}` (integral for Gaussian hidden
    units) of visible configurations (..., n_visible): 0/1 entries for binary visible units,
    -1/+1 for spin units (other concrete values raise a ``ValueError`` naming ``v``)."""
    check_rbm(rbm)
    v = jnp.asarray(check_finite(v, "v"), dtype=rbm.weights.dtype)
    if v.shape[-1:] != (rbm.n_visible,):
        raise ValueError(f"v must have last axis n_visible = {rbm.n_visible}, got {v.shape}")
    check_unit_values(v, rbm.visible, "v")
    return _jit_free_energy(rbm, v)


_jit_free_energy = jax.jit(visible_free_energy)


# --------------------------------------------------------------- conditionals

@jax.jit
def hidden_mean(rbm: RBM, v: Real[ArrayLike, "*batch n_visible"]
                ) -> Float[Array, "*batch n_hidden"]:
    """:math:`E[h|v]`: :math:`\\sigma(a)`, :math:`\\tanh a` or :math:`a`, with
    :math:`a = c + W^Tv` (any leading batch axes)."""
    return unit_mean(jnp.asarray(v, rbm.weights.dtype) @ rbm.weights + rbm.hidden_bias, rbm.hidden)


@jax.jit
def visible_mean(rbm: RBM, h: Real[ArrayLike, "*batch n_hidden"]
                 ) -> Float[Array, "*batch n_visible"]:
    """:math:`E[v|h]` with :math:`u = b + Wh` (any leading batch axes)."""
    return unit_mean(jnp.asarray(h, rbm.weights.dtype) @ rbm.weights.T + rbm.visible_bias,
                 rbm.visible)


@jax.jit
def sample_hidden(key: Key, rbm: RBM, v: Real[ArrayLike, "*batch n_visible"]
                  ) -> Float[Array, "*batch n_hidden"]:
    """Draw :math:`h \\sim p(h|v)` (any leading batch axes)."""
    return sample_units(key, jnp.asarray(v, rbm.weights.dtype) @ rbm.weights + rbm.hidden_bias,
                   rbm.hidden)


@jax.jit
def sample_visible(key: Key, rbm: RBM, h: Real[ArrayLike, "*batch n_hidden"]
                   ) -> Float[Array, "*batch n_visible"]:
    """Draw :math:`v \\sim p(v|h)` (any leading batch axes)."""
    return sample_units(key, jnp.asarray(h, rbm.weights.dtype) @ rbm.weights.T + rbm.visible_bias,
                   rbm.visible)


# --------------------------------------------------------------- block Gibbs chains

class RBMChains(NamedTuple):
    r"""State of :class:`RBMGibbs` chains (leading axes: independent chains, or none).

    Attributes:
        visible: (..., n_visible) visible units.
        hidden: (..., n_hidden) hidden units, drawn from :math:`p_\beta(h|v)` of the
            previous visible state (of ``visible`` itself after :func:`init_chains`).
        beta: inverse temperature of each chain, shape ``visible.shape[:-1]``.
    """

    visible: Array
    hidden: Array
    beta: Array


class RBMGibbsInfo(NamedTuple):
    r"""The fields of one :class:`RBMGibbs` step (tempered: multiplied by beta).

    Attributes:
        hidden_field: :math:`\beta(c + W^Tv)` of the step's input visible state, which
            drew the new hidden layer (:math:`E[h|v]` is its unit mean).
        visible_field: :math:`\beta(b + Wh)` of the new hidden layer, which drew the new
            visible layer (its unit mean is the reconstruction :math:`E[v|h]`).
    """

    hidden_field: Array
    visible_field: Array


@partial(jax.jit, static_argnums=2)
def random_visible(key, rbm: RBM, shape) -> Array:
    lo = 0.0 if rbm.visible == "binary" else -1.0
    return jnp.where(jax.random.bernoulli(key, 0.5, (*shape, rbm.n_visible)), 1.0, lo
                     ).astype(rbm.weights.dtype)


def _check_rbm_state_shapes(model, state, name="state"):
    """Trace-time checks (shapes and dtypes) of an :class:`RBMChains` against ``model``."""
    if not isinstance(state, RBMChains):
        raise TypeError(f"{name} must be RBMChains (from RBMGibbs.init or init_chains), got "
                        f"{type(state).__name__}")
    for field, x in zip(("visible", "hidden", "beta"), state, strict=True):
        if not hasattr(x, "shape"):
            raise TypeError(f"{name}.{field} must be an array, got {type(x).__name__}")
    v, h, beta = state
    if v.ndim < 1 or v.shape[-1] != model.n_visible:
        raise ValueError(f"{name}.visible must have last axis n_visible = {model.n_visible} "
                         f"(a state of this RBM), got shape {v.shape}")
    if h.shape != v.shape[:-1] + (model.n_hidden,):
        raise ValueError(f"{name}.hidden must have shape {v.shape[:-1] + (model.n_hidden,)} "
                         f"(n_hidden = {model.n_hidden}), got {h.shape}")
    if beta.shape != v.shape[:-1]:
        raise ValueError(f"{name}.beta must have the chains' batch shape {v.shape[:-1]}, "
                         f"got {beta.shape}")
    dt = model.weights.dtype
    for field, x in zip(("visible", "hidden", "beta"), state, strict=True):
        if x.dtype != dt:
            raise TypeError(f"{name}.{field} has dtype {x.dtype} but the RBM's weights are "
                            f"{dt} (a state of another model or precision)")


@jax.jit
def _block_gibbs(key, rbm, v, beta):
    """h ~ p_beta(h|v), then v ~ p_beta(v|h), for visible states v (..., n_visible) and
    inverse temperatures beta (v.shape[:-1]).  Jitted so that an eager (or eagerly vmapped)
    step is one compiled call; inside a traced loop it is inlined."""
    k1, k2 = jax.random.split(key)
    b = beta[..., None]
    hidden_field = b * (v @ rbm.weights + rbm.hidden_bias)
    h = sample_units(k1, hidden_field, rbm.hidden)
    visible_field = b * (h @ rbm.weights.T + rbm.visible_bias)
    v = sample_units(k2, visible_field, rbm.visible)
    return RBMChains(v, h, beta), RBMGibbsInfo(hidden_field, visible_field)


class RBMGibbs(Kernel):
    r"""Block Gibbs sampling of the tempered RBM
    :math:`p_\beta(v,h) \propto e^{-\beta E_{int}(v,h) - E_0(h)}` (module docstring) at
    the inverse temperature ``state.beta`` of each chain: one step draws
    :math:`h \sim p_\beta(h|v)` and then :math:`v \sim p_\beta(v|h)`.

    ``model`` is an :class:`RBM` (its unit types are its static fields), ``state`` an
    :class:`RBMChains`, ``info`` an :class:`RBMGibbsInfo`.  ``energy`` is the tempered part
    :math:`E_{int}(v, h)` (the Gaussian :math:`|h|^2/2` does not depend on beta, so
    replica-exchange ratios are those of :math:`E_{int}`).
    """

    def init(self, key: Key, model: RBM, n_chains: int | None = None, *,
             visible: Real[ArrayLike, "*chains n_visible"] | None = None,
             beta: Real[ArrayLike, " ..."] = 1.0) -> RBMChains:
        r"""One chain (or ``n_chains``) from uniformly random visible states, or from the
        given ``visible`` (..., n_visible); hidden units drawn from
        :math:`p_\beta(h|v)`; every chain at inverse temperature ``beta`` (a scalar or one
        per chain)."""
        check_rbm(model, "model")
        dt = model.weights.dtype
        k1, k2 = jax.random.split(key)
        if visible is None:
            shape = () if n_chains is None else (check_positive_int(n_chains, "n_chains"),)
            v = random_visible(k1, model, shape)
        else:
            v = jnp.asarray(check_unit_values(check_finite(visible, "visible"),
                                              model.visible, "visible"), dt)
            if v.ndim < 1 or v.shape[-1] != model.n_visible:
                raise ValueError(f"visible must have last axis n_visible = "
                                 f"{model.n_visible}, got shape {v.shape}")
            if n_chains is not None and v.shape[:-1] != (n_chains,):
                raise ValueError(f"visible must hold n_chains = {n_chains} rows, got shape "
                                 f"{v.shape}")
        beta = jnp.asarray(check_inverse_temperature(beta, "beta"), dt)
        return _chains_from_visible(k2, model, v, beta)

    def step(self, key: Key, model: RBM, state: RBMChains
             ) -> tuple[RBMChains, RBMGibbsInfo]:
        _check_rbm_state_shapes(model, state)
        return _block_gibbs(key, model, state.visible, state.beta)

    def energy(self, model: RBM, state: RBMChains) -> Float[Array, "*chains"]:
        v, h = state.visible, state.hidden
        return (-jnp.sum((v @ model.weights) * h, -1) - v @ model.visible_bias
                - h @ model.hidden_bias)

    def check(self, model: RBM, state: RBMChains) -> tuple[RBM, RBMChains]:
        if not isinstance(model, RBM):
            raise TypeError(f"model must be a physjax.spins.RBM, got {type(model).__name__}")
        _check_rbm_state_shapes(model, state)
        fields = ("weights", "visible_bias", "hidden_bias")
        model = eqx.tree_at(lambda m: tuple(getattr(m, f) for f in fields), model,
                            tuple(check_finite_traced(getattr(model, f), f"model.{f}")
                                  for f in fields))
        state = RBMChains(check_unit_values(state.visible, model.visible, "state.visible"),
                          check_finite_traced(
                              check_unit_values(state.hidden, model.hidden, "state.hidden"),
                              "state.hidden"),
                          check_inverse_temperature(state.beta, "state.beta"))
        return model, state


@jax.jit
def _chains_from_visible(key, rbm, v, beta):
    beta = jnp.broadcast_to(beta, v.shape[:-1])
    a = beta[..., None] * (v @ rbm.weights + rbm.hidden_bias)
    return RBMChains(v, sample_units(key, a, rbm.hidden), beta)


def init_chains(key: Key, rbm: RBM, n_chains: int, *,
                visible: Real[ArrayLike, "r n_visible"] | None = None,
                beta: Real[ArrayLike, " ..."] = 1.0) -> RBMChains:
    r"""``n_chains`` chains from uniformly random visible states (or the given ``visible``
    (n_chains, n_visible)), hidden units drawn from :math:`p_\beta(h|v)`, at inverse
    temperature ``beta`` (:meth:`RBMGibbs.init`)."""
    check_rbm(rbm)
    R = check_positive_int(n_chains, "n_chains")
    if visible is not None:
        visible = check_visible_data(rbm, visible, "visible")
        if visible.shape[0] != R:
            raise ValueError(f"visible must hold n_chains = {R} rows, got {visible.shape[0]}")
    beta = jnp.asarray(check_inverse_temperature(beta, "beta"), rbm.weights.dtype)
    return _init_chains(RBMGibbs(), key, rbm, R, visible, beta)


@eqx.filter_jit
def _init_chains(kernel, key, rbm, R, v, beta):
    return kernel.init(key, rbm, R, visible=v, beta=beta)


@eqx.filter_jit
def _gibbs_step(kernel, key, rbm, chains):
    return kernel.step(key, rbm, chains)[0]


def gibbs_step(key: Key, rbm: RBM, chains: RBMChains) -> RBMChains:
    r"""One block-Gibbs step (:class:`RBMGibbs`), :math:`h \sim p(h|v)` then
    :math:`v' \sim p(v|h)`.  Leading axes of ``chains.visible`` are independent chains
    updated together with one key (batched matrix products); ``jax.vmap`` over per-chain
    keys works as well and gives the same distribution."""
    key = check_key(key, traced=True)
    check_rbm(rbm)
    _check_rbm_state_shapes(rbm, chains, "chains")
    return _gibbs_step(RBMGibbs(), key, rbm, chains)


def _no_record(model, state, info):
    return ()


def run_gibbs(key: Key, rbm: RBM, chains: RBMChains, n_steps: int) -> RBMChains:
    """``n_steps`` block-Gibbs steps of all chains (:class:`RBMGibbs` through
    :func:`physjax.kernels.run`, one compiled loop)."""
    check_rbm(rbm)
    n_steps = check_positive_int(n_steps, "n_steps")
    _check_rbm_state_shapes(rbm, chains, "chains")
    return run(RBMGibbs(), key, rbm, chains, n_steps, record_every=n_steps,
               observe=_no_record).state


# --------------------------------------------------------------- exact enumeration

def enumerated_layer(rbm: RBM, name: str = "rbm") -> str:
    """The layer summed over by exact enumeration: the smaller one (Gaussian hidden units
    cannot be enumerated, so then the visible layer)."""
    if rbm.hidden == "gaussian" or rbm.n_visible <= rbm.n_hidden:
        check_enumerable(rbm.n_visible, name, what="visible layer")
        return "visible"
    check_enumerable(rbm.n_hidden, name, what="hidden layer (the smaller layer)")
    return "hidden"


def _log_partition(rbm, layer):
    dt = rbm.weights.dtype
    if layer == "visible":
        return enumerate_states(rbm.n_visible, rbm.visible, dt,
                                lambda v: -visible_free_energy(rbm, v))[0]
    return enumerate_states(rbm.n_hidden, rbm.hidden, dt,
                            lambda h: -_hidden_free_energy(rbm, h))[0]


_jit_log_partition = jax.jit(_log_partition, static_argnums=1)


def rbm_log_partition(rbm: RBM) -> Float[Array, ""]:
    """Exact :math:`\\log Z` by enumerating the smaller layer (at most 24 units)."""
    check_rbm(rbm)
    return _jit_log_partition(rbm, enumerated_layer(rbm))


def rbm_exact_log_likelihood(rbm: RBM, data: Real[ArrayLike, "m n_visible"]
                             ) -> Float[Array, ""]:
    """Exact mean log-likelihood :math:`\\frac1M\\sum_m[-F(v^m)] - \\log Z` (per sample)."""
    return _exact_on_data(_exact_log_likelihood, rbm, data)


def _exact_on_data(compute, rbm, data):
    """Check ``rbm`` (its smaller layer enumerable) and ``data``, then the jitted exact
    ``compute(rbm, data, layer)`` with ``layer`` the layer to enumerate."""
    check_rbm(rbm)
    layer = enumerated_layer(rbm)
    return compute(rbm, check_visible_data(rbm, data), layer)


@partial(jax.jit, static_argnums=2)
def _exact_log_likelihood(rbm, data, layer):
    return jnp.mean(-visible_free_energy(rbm, data)) - _log_partition(rbm, layer)


def _model_moments(rbm, layer):
    """:math:`\\langle vh^T\\rangle, \\langle v\\rangle, \\langle h\\rangle` under the model."""
    dt = rbm.weights.dtype
    if layer == "visible":
        def moments(v, p):
            eh = unit_mean(v @ rbm.weights + rbm.hidden_bias, rbm.hidden)
            return ((p[:, None] * v).T @ eh, p @ v, p @ eh)
        return enumerate_states(rbm.n_visible, rbm.visible, dt,
                                lambda v: -visible_free_energy(rbm, v), moments)[1]

    def moments(h, p):
        ev = unit_mean(h @ rbm.weights.T + rbm.visible_bias, rbm.visible)
        return ((p[:, None] * ev).T @ h, p @ ev, p @ h)
    return enumerate_states(rbm.n_hidden, rbm.hidden, dt,
                            lambda h: -_hidden_free_energy(rbm, h), moments)[1]


def data_moments(rbm: RBM, data: Array):
    """Positive phase :math:`\\langle v E[h|v]^T\\rangle_{data}` etc."""
    eh = unit_mean(data @ rbm.weights + rbm.hidden_bias, rbm.hidden)
    M = data.shape[0]
    return data.T @ eh / M, jnp.mean(data, 0), jnp.mean(eh, 0)


def moments_to_gradient(rbm: RBM, positive, negative) -> RBM:
    """An RBM-shaped gradient from positive minus negative moments."""
    return eqx.tree_at(lambda m: (m.weights, m.visible_bias, m.hidden_bias), rbm,
                       tuple(p - n for p, n in zip(positive, negative, strict=True)))


def rbm_exact_gradient(rbm: RBM, data: Real[ArrayLike, "m n_visible"]) -> RBM:
    r"""Exact gradient of the mean log-likelihood, as an RBM of the same shape:
    :math:`\partial_W = \langle vh^T\rangle_{data} - \langle vh^T\rangle_{model}`,
    :math:`\partial_b = \langle v\rangle_{data} - \langle v\rangle_{model}`,
    :math:`\partial_c = \langle h\rangle_{data} - \langle h\rangle_{model}`, the model
    averages by enumerating the smaller layer and the hidden units given the data
    Rao-Blackwellized (:math:`E[h|v]`)."""
    return _exact_on_data(_exact_gradient, rbm, data)


@partial(jax.jit, static_argnums=2)
def _exact_gradient(rbm, data, layer):
    return moments_to_gradient(rbm, data_moments(rbm, data), _model_moments(rbm, layer))


# --------------------------------------------------------------- Hopfield <-> RBM

def hopfield_to_rbm(hopfield: Real[ArrayLike, "k n"] | LowRankIsing, beta: Scalar = 1.0
                    ) -> RBM:
    r"""The Gaussian-hidden RBM whose visible marginal is the Hopfield network's Boltzmann
    distribution :math:`e^{-\beta H(\sigma)}/Z` at inverse temperature ``beta``.

    ``hopfield`` is a (K, N) array of patterns (Hebb's couplings :math:`J=\xi^T\xi/N`) or a
    :class:`~physjax.spins.LowRankIsing` (Hebb, ``weights`` >= 0, or a positive
    semi-definite ``kernel`` A: :math:`W = \sqrt\beta\,\xi^TA^{1/2}/\sqrt N`).  Hebb gives
    :math:`W = \sqrt\beta\,\xi^T/\sqrt N` (seed 003's :math:`W = \xi/\sqrt N` with the hidden
    variables rescaled, :math:`h = \sqrt\beta z`), visible biases :math:`\beta h_i`, spin
    visible units.  Exact for :math:`\sigma\in\{\pm1\}^N`: the zero diagonal of J only
    shifts H by a constant.
    """
    check_positive(beta, "beta")
    if isinstance(hopfield, LowRankIsing):
        xi, h = hopfield.patterns, hopfield.h
        if hopfield.kernel is not None:
            evals, evecs = jnp.linalg.eigh(hopfield.kernel)
            if float(jnp.min(evals)) < -1e-8 * max(1.0, float(jnp.max(jnp.abs(evals)))):
                raise ValueError(
                    f"hopfield.kernel must be positive semi-definite for a Gaussian RBM "
                    f"(Hubbard-Stratonovich needs J >= 0), min eigenvalue {float(evals.min())}")
            xi = (evecs * jnp.sqrt(jnp.clip(evals, 0))).T @ xi
        elif hopfield.weights is not None:
            if float(jnp.min(hopfield.weights)) < 0:
                raise ValueError("hopfield.weights must be >= 0 for a Gaussian RBM "
                                 "(Hubbard-Stratonovich needs J >= 0)")
            xi = jnp.sqrt(hopfield.weights)[:, None] * xi
    else:
        xi = float_array(hopfield, "hopfield")
        if xi.ndim != 2 or 0 in xi.shape:
            raise ValueError(f"hopfield patterns must have shape (K, N), got {xi.shape}")
        h = jnp.zeros(xi.shape[1], xi.dtype)
    N = xi.shape[1]
    beta = jnp.asarray(beta, xi.dtype)
    return RBM(jnp.sqrt(beta / N) * xi.T, beta * h, 0.0, visible="spin", hidden="gaussian")


def rbm_to_hopfield(rbm: RBM, beta: Scalar = 1.0) -> LowRankIsing:
    r"""The Hopfield network (:class:`~physjax.spins.LowRankIsing`) whose Boltzmann
    distribution at inverse temperature ``beta`` is the visible marginal of a spin-visible,
    Gaussian-hidden RBM: patterns :math:`\xi = \sqrt{N/\beta}\,W^T` (so
    :math:`J = WW^T/\beta`), field :math:`h = (b + Wc)/\beta`."""
    check_rbm(rbm)
    check_positive(beta, "beta")
    if rbm.visible != "spin" or rbm.hidden != "gaussian":
        raise ValueError(f"rbm must have spin visible and Gaussian hidden units to be a "
                         f"Hopfield network, got visible={rbm.visible!r}, "
                         f"hidden={rbm.hidden!r}")
    N = rbm.n_visible
    beta = jnp.asarray(beta, rbm.weights.dtype)
    return LowRankIsing(jnp.sqrt(N / beta) * rbm.weights.T, None,
                        (rbm.visible_bias + rbm.weights @ rbm.hidden_bias) / beta)
