"""Boltzmann machines and RBMs in the kernel conformance table: sequential heat-bath sweeps of
a Boltzmann machine (free and visible-clamped) and block Gibbs sampling of RBMs with binary,
spin and Gaussian hidden units.  The exact stationary moments come from enumerating every
joint state in NumPy (float64); for Gaussian hidden units from the closed-form Gaussian
integral over h given each enumerated v."""

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physjax.spins.boltzmann import BMGibbs, BMState, BoltzmannMachine
from physjax.spins.rbm import RBM, RBMGibbs
from tests.conformance._case import KernelCase


def _states(n, units):
    lo = -1.0 if units == "spin" else 0.0
    return np.array(list(itertools.product([lo, 1.0], repeat=n)))


def _cast(model, dtype):
    return jax.tree.map(lambda x: jnp.asarray(x, dtype), model)


def _pairs(x):
    """x_i x_j for i < j (last axis)."""
    i, j = np.triu_indices(x.shape[-1], 1)
    return x[..., i] * x[..., j]


def _boltzmann_average(log_w, f):
    p = np.exp(log_w - log_w.max())
    return (p / p.sum()) @ f


# ------------------------------------------------------------------ Boltzmann machines

def _bm(dtype, n_visible, n_hidden, units, seed):
    rng = np.random.default_rng(seed)
    n = n_visible + n_hidden
    g = np.triu(rng.normal(size=(n, n)) * 0.5, 1)
    bm = BoltzmannMachine(g + g.T, rng.normal(size=n) * 0.3, n_visible=n_visible, units=units)
    return _cast(bm, dtype)


def _bm_log_weight(model, X):
    W, b = np.asarray(model.weights, float), np.asarray(model.bias, float)
    return 0.5 * np.einsum("si,ij,sj->s", X, W, X) + X @ b


def _bm_free_exact(model):
    X = _states(model.n_units, model.units)
    return _boltzmann_average(_bm_log_weight(model, X), np.concatenate([X, _pairs(X)], 1))


CLAMPED_VISIBLE = np.array([1.0, 0.0, 1.0, 1.0])


def _bm_clamped_init(key, kernel, model):
    x = kernel.init(key, model).x
    return BMState(x.at[: model.n_visible].set(jnp.asarray(CLAMPED_VISIBLE, x.dtype)),
                   jnp.ones((), x.dtype))


def _bm_clamped_observable(model, state):
    h = state.x[model.n_visible:]
    return jnp.concatenate([h, _pairs(h)])


def _bm_clamped_exact(model):
    H = _states(model.n_hidden, model.units)
    X = np.concatenate([np.broadcast_to(CLAMPED_VISIBLE, (H.shape[0], 4)), H], 1)
    return _boltzmann_average(_bm_log_weight(model, X), np.concatenate([H, _pairs(H)], 1))


def _scale_couplings(model, value):
    return eqx.tree_at(lambda m: m.weights, model, model.weights * value)


# ------------------------------------------------------------------ RBMs

def _rbm(dtype, nv, nh, visible, hidden, seed, scale=0.6):
    rng = np.random.default_rng(seed)
    rbm = RBM(rng.normal(size=(nv, nh)) * scale, rng.normal(size=nv) * 0.4,
              rng.normal(size=nh) * 0.4, visible=visible, hidden=hidden)
    return _cast(rbm, dtype)


def _rbm_observable(model, state):
    v, h = state.visible, state.hidden
    return jnp.concatenate([v, h, jnp.outer(v, h).ravel()])


def _rbm_exact(model):
    """<v>, <h>, <v h^T> by enumerating all joint states."""
    W, b, c = (np.asarray(x, float) for x in (model.weights, model.visible_bias,
                                              model.hidden_bias))
    V, H = _states(model.n_visible, model.visible), _states(model.n_hidden, model.hidden)
    v = np.repeat(V, H.shape[0], 0)
    h = np.tile(H, (V.shape[0], 1))
    log_w = np.einsum("si,ij,sj->s", v, W, h) + v @ b + h @ c
    f = np.concatenate([v, h, (v[:, :, None] * h[:, None, :]).reshape(v.shape[0], -1)], 1)
    return _boltzmann_average(log_w, f)


def _gaussian_observable(model, state):
    return jnp.concatenate([state.visible, state.hidden, state.hidden ** 2])


def _gaussian_exact(model):
    """Gaussian hidden units: p(v) ∝ exp(b.v + |a|^2/2) with a = c + W^T v, and h | v ~
    N(a, 1), so <h> = <a> and <h^2> = <a^2> + 1."""
    W, b, c = (np.asarray(x, float) for x in (model.weights, model.visible_bias,
                                              model.hidden_bias))
    V = _states(model.n_visible, model.visible)
    a = V @ W + c
    log_w = V @ b + 0.5 * np.sum(a * a, 1)
    return _boltzmann_average(log_w, np.concatenate([V, a, a * a + 1], 1))


def _scale_visible_bias(model, value):
    return eqx.tree_at(lambda m: m.visible_bias, model, model.visible_bias * value)


def _init(key, kernel, model):
    return kernel.init(key, model)


def _rbm_case(name, nv, nh, visible, hidden, seed, observable=_rbm_observable,
              exact=_rbm_exact):
    return KernelCase(
        name=name,
        kernel=RBMGibbs(),
        make_model=lambda dt: _rbm(dt, nv, nh, visible, hidden, seed),
        init=_init,
        hyperparameter=(_scale_visible_bias, (0.5, 1.0, 2.0)),
        observable=observable,
        exact=exact,
        n_chains=64, n_burn=50, n_steps=300)


CASES = [
    KernelCase(
        name="bm-gibbs-free-spin",
        kernel=BMGibbs(),
        make_model=lambda dt: _bm(dt, 4, 2, "spin", 0),
        init=_init,
        hyperparameter=(_scale_couplings, (0.5, 1.0, 1.5)),
        observable=lambda m, s: jnp.concatenate([s.x, _pairs(s.x)]),
        exact=_bm_free_exact,
        n_chains=64, n_burn=50, n_steps=300),
    KernelCase(
        name="bm-gibbs-clamped-binary",
        kernel=BMGibbs(clamp_visible=True),
        make_model=lambda dt: _bm(dt, 4, 3, "binary", 1),
        init=_bm_clamped_init,
        hyperparameter=(_scale_couplings, (0.5, 1.0, 1.5)),
        observable=_bm_clamped_observable,
        exact=_bm_clamped_exact,
        n_chains=64, n_burn=50, n_steps=300),
    _rbm_case("rbm-gibbs-binary", 5, 4, "binary", "binary", 2),
    _rbm_case("rbm-gibbs-spin", 6, 4, "spin", "spin", 3),
    _rbm_case("rbm-gibbs-gaussian", 6, 2, "spin", "gaussian", 5,
              observable=_gaussian_observable, exact=_gaussian_exact),
]
