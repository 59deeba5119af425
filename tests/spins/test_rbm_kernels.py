"""Boltzmann machines and RBMs on the kernel protocol (issue 14): the tempered kernels
against exact enumeration at beta != 1, traced inverse temperatures and learning rates
(vmap equals the single runs, one compilation for every value), and bad input (a state of
another model, non-finite or negative numbers, values that are not unit values, a bogus
optimizer), concrete and under jit."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.special import logsumexp

import physjax.spins as ps
from physjax import kernels
from physjax.kernels import run
from physjax.spins import rbm_training
from physjax.spins.boltzmann import BMGibbs, BMGibbsInfo, BMState
from physjax.spins.rbm import RBMGibbs, RBMGibbsInfo

from ._enumeration import all_states as _states


def _random_rbm(seed, nv, nh, visible="binary", hidden="binary", scale=0.6):
    rng = np.random.default_rng(seed)
    return ps.RBM(rng.normal(size=(nv, nh)) * scale, rng.normal(size=nv) * 0.4,
                  rng.normal(size=nh) * 0.4, visible=visible, hidden=hidden)


def _random_bm(seed, n_visible, n_hidden, units, scale=0.5):
    rng = np.random.default_rng(seed)
    n = n_visible + n_hidden
    g = np.triu(rng.normal(size=(n, n)) * scale, 1)
    return ps.BoltzmannMachine(g + g.T, rng.normal(size=n) * 0.3, n_visible=n_visible,
                               units=units)


def _x_mean(model, state, info):
    return state.x.mean(0)


# ------------------------------------------------------------------ tempered kernels

def test_tempered_rbm_chains_sample_the_exact_tempered_distribution():
    """Spin/spin 5 x 3 RBM at beta = 0.4 and 1, the inverse temperature traced (vmap over the
    two values): <v> and <h> of 256 chains (200 steps after 50 burn-in) against the
    enumerated p_beta(v, h) ∝ exp(-beta E(v, h)), within 4 standard errors of the
    chain averages."""
    rbm = _random_rbm(0, 5, 3, "spin", "spin", scale=0.8)
    kernel = RBMGibbs()
    betas = jnp.array([0.4, 1.0])

    # per chain: the time average of each chain (256 independent chains)
    def per_chain(beta):
        chains = kernel.init(jax.random.key(1), rbm, 256, beta=beta)
        r = run(kernel, jax.random.key(2), rbm, chains, 200, burn_in=50,
                observe=lambda m, s, i: jnp.concatenate([s.visible, s.hidden], -1))
        return r.records.mean(0)
    per = np.asarray(jax.jit(jax.vmap(per_chain))(betas), np.float64)   # (2, 256, 8)
    W, b, c = (np.asarray(x, float) for x in (rbm.weights, rbm.visible_bias, rbm.hidden_bias))
    V, H = _states(5, "spin"), _states(3, "spin")
    v, h = np.repeat(V, 8, 0), np.tile(H, (32, 1))
    energy = -np.einsum("si,ij,sj->s", v, W, h) - v @ b - h @ c
    for i, beta in enumerate(np.asarray(betas)):
        p = np.exp(-beta * energy - logsumexp(-beta * energy))
        exact = p @ np.concatenate([v, h], 1)
        est = per[i].mean(0)
        se = per[i].std(0, ddof=1) / np.sqrt(per.shape[1])
        assert np.all(np.abs(est - exact) < 4 * se), (beta, est, exact, se)
    # the vmapped runs are the single-beta runs
    np.testing.assert_allclose(per[0], jax.jit(per_chain)(betas[0]), rtol=1e-5, atol=1e-6)


def test_tempered_bm_sweeps_sample_the_exact_tempered_distribution():
    """A 6-unit spin BM at beta = 0.5: <x_i> of 256 chains x 200 sweeps against the
    enumerated exp(-beta E(x)) / Z_beta, within 4 standard errors."""
    bm = _random_bm(1, 6, 0, "spin", scale=0.8)
    kernel = BMGibbs()
    state = kernel.init(jax.random.key(0), bm, 256, beta=0.5)
    assert state.beta.shape == (256,)

    def per_chain(model, state, info):
        return state.x
    r = run(kernel, jax.random.key(1), bm, state, 200, burn_in=50, observe=per_chain)
    per = np.asarray(r.records, np.float64).mean(0)          # (256, 6)
    X = _states(6, "spin")
    log_w = -0.5 * np.asarray(ps.bm_energy(bm, X), np.float64)
    exact = np.exp(log_w - logsumexp(log_w)) @ X
    se = per.std(0, ddof=1) / np.sqrt(per.shape[0])
    assert np.all(np.abs(per.mean(0) - exact) < 4 * se), (per.mean(0), exact, se)


def test_kernel_energies_and_step_infos():
    """RBMGibbs.energy is E_int = -v W h - b.v - c.h (rbm_energy without the Gaussian
    |h|^2 / 2, which beta does not scale) and its info holds the tempered fields
    beta (c + W^T v) of the input and beta (b + W h) of the drawn hidden layer;
    BMGibbs.energy is bm_energy."""
    for hidden in ("binary", "gaussian"):
        rbm = _random_rbm(2, 4, 3, "spin", hidden)
        chains = ps.init_chains(jax.random.key(0), rbm, 5)
        e = RBMGibbs().energy(rbm, chains)
        h = np.asarray(chains.hidden)
        want = np.asarray(ps.rbm_energy(rbm, chains.visible, chains.hidden))
        if hidden == "gaussian":
            want = want - 0.5 * np.sum(h * h, -1)
        np.testing.assert_allclose(e, want, rtol=1e-5, atol=1e-5)
    hot = ps.init_chains(jax.random.key(3), rbm, 5, beta=0.3)
    new, info = RBMGibbs().step(jax.random.key(4), rbm, hot)
    assert isinstance(info, RBMGibbsInfo)
    W, b, c = (np.asarray(x, np.float64) for x in (rbm.weights, rbm.visible_bias,
                                                    rbm.hidden_bias))
    np.testing.assert_allclose(info.hidden_field, 0.3 * (np.asarray(hot.visible) @ W + c),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(info.visible_field, 0.3 * (np.asarray(new.hidden) @ W.T + b),
                               rtol=1e-5, atol=1e-6)
    bm = _random_bm(3, 3, 2, "binary")
    state = BMGibbs().init(jax.random.key(1), bm, 4)
    assert isinstance(state, BMState)
    np.testing.assert_allclose(BMGibbs().energy(bm, state), ps.bm_energy(bm, state.x),
                               rtol=1e-6)
    moved, info = BMGibbs(clamp_visible=True).step(jax.random.key(2), bm, state)
    assert isinstance(info, BMGibbsInfo)
    np.testing.assert_array_equal(moved.x[:, :3], state.x[:, :3])
    changed = np.mean(np.asarray(moved.x[:, 3:]) != np.asarray(state.x[:, 3:]), axis=1)
    np.testing.assert_allclose(info.changed_fraction, changed)


def test_run_gibbs_compiles_once_for_new_numbers():
    rbm = _random_rbm(4, 4, 3)
    chains = ps.init_chains(jax.random.key(0), rbm, 8)
    ps.run_gibbs(jax.random.key(1), rbm, chains, 3)
    before = kernels._uniform._cached._cache_size()
    other = eqx.tree_at(lambda m: m.weights, rbm, rbm.weights * 2.0)
    ps.run_gibbs(jax.random.key(2), other, chains, 3)
    assert kernels._uniform._cached._cache_size() == before


# ------------------------------------------------------------------ traced learning rates

def _binary_data():
    return _states(6, "binary")[::3]          # 22 of the 64 states


def test_train_rbm_takes_a_traced_learning_rate():
    """vmap over three learning rates equals the three single runs (float64, so that no
    Bernoulli draw sits on a rounding difference), and a new rate reuses the compiled
    training program."""
    with jax.enable_x64(True):
        rbm = _random_rbm(5, 6, 3, scale=0.1)
        data = _binary_data()
        key = jax.random.key(0)

        def train(lr):
            return ps.train_rbm(key, rbm, data, n_epochs=2, batch_size=5, learning_rate=lr,
                                method="pcd", n_chains=4)[0]
        rates = jnp.array([0.01, 0.1, 0.5])
        batched = jax.vmap(train)(rates)
        for i, lr in enumerate([0.01, 0.1, 0.5]):
            single = train(lr)
            for a, b in zip(jax.tree.leaves(single), jax.tree.leaves(batched), strict=True):
                np.testing.assert_allclose(b[i], a, rtol=1e-9, atol=1e-12)
        # the rates matter, and a new one does not compile again
        assert not np.allclose(batched.weights[0], batched.weights[2])
        before = rbm_training._train._cached._cache_size()
        train(0.37)
        assert rbm_training._train._cached._cache_size() == before


def test_fit_boltzmann_machine_takes_a_traced_learning_rate():
    """One exact full-batch step is bm + lr * (the enumerated learning rule), for three
    rates under vmap."""
    with jax.enable_x64(True):
        bm = _random_bm(6, 3, 1, "spin")
        data = _states(3, "spin")[[0, 2, 5, 7, 7]]
        grad = ps.bm_learning_rule(bm, ps.bm_exact_correlations(bm, data))
        rates = jnp.array([0.05, 0.2, 1.0])
        fitted, norms = jax.vmap(lambda lr: ps.fit_boltzmann_machine(
            jax.random.key(0), bm, data, n_steps=1, learning_rate=lr))(rates)
        for i, lr in enumerate(np.asarray(rates)):
            np.testing.assert_allclose(fitted.weights[i], bm.weights + lr * grad.weights,
                                       atol=1e-12)
            np.testing.assert_allclose(fitted.bias[i], bm.bias + lr * grad.bias, atol=1e-12)
        assert fitted.weights.dtype == jnp.float64


# ----------------------------------------------------------------------- bad input

def test_unit_values_are_checked():
    bm = _random_bm(7, 3, 1, "spin")
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="x must hold spin unit values"):
        ps.bm_gibbs_sweep(key, bm, np.array([1.0, 0.5, -1.0, 1.0]))
    with pytest.raises(ValueError, match="x must hold binary unit values"):
        ps.bm_gibbs_sweep(key, _random_bm(7, 3, 1, "binary"), np.array([1.0, -1, 0, 1]))
    with pytest.raises(Exception, match="x must hold spin unit values"):
        jax.block_until_ready(jax.jit(lambda x: ps.bm_gibbs_sweep(key, bm, x))(
            jnp.array([1.0, 0.0, -1.0, 1.0])))
    rbm = _random_rbm(8, 4, 3, "spin", "binary")
    chains = ps.init_chains(key, rbm, 2)
    bad = chains._replace(visible=chains.visible.at[0, 0].set(0.0))
    with pytest.raises(ValueError, match="state.visible must hold spin unit values"):
        run(RBMGibbs(), key, rbm, bad, 2)
    with pytest.raises(Exception, match="state.visible must hold spin unit values"):
        jax.block_until_ready(jax.jit(lambda s: run(RBMGibbs(), key, rbm, s, 2).state)(bad))


def test_a_state_of_another_model_is_rejected():
    key = jax.random.key(0)
    rbm = _random_rbm(9, 4, 3)
    kernel = RBMGibbs()
    with pytest.raises(ValueError, match="state.visible must have last axis n_visible = 4"):
        run(kernel, key, rbm, kernel.init(key, _random_rbm(9, 5, 3), 2), 2)
    with pytest.raises(ValueError, match="state.hidden must have shape"):
        run(kernel, key, rbm, kernel.init(key, _random_rbm(9, 4, 2), 2), 2)
    with pytest.raises(ValueError, match="state.visible must have last axis"):
        kernel.step(key, rbm, kernel.init(key, _random_rbm(9, 5, 3)))   # trace-time check
    with jax.enable_x64(True):
        state64 = kernel.init(key, jax.tree.map(lambda x: x.astype(jnp.float64), rbm), 2)
    with pytest.raises(TypeError, match="state.visible has dtype float64"):
        run(kernel, key, rbm, state64, 2)
    with pytest.raises(TypeError, match="state must be RBMChains"):
        run(kernel, key, rbm, BMGibbs().init(key, _random_bm(0, 4, 3, "binary")), 2)
    with pytest.raises(TypeError, match="model must be a physjax.spins.RBM"):
        run(kernel, key, _random_bm(0, 4, 3, "binary"), kernel.init(key, rbm), 2)
    bm = _random_bm(10, 3, 1, "spin")
    with pytest.raises(ValueError, match="state.x must have last axis n_units = 4"):
        run(BMGibbs(), key, bm, BMGibbs().init(key, _random_bm(10, 3, 2, "spin")), 2)
    with pytest.raises(TypeError, match="model must be a physjax.spins.BoltzmannMachine"):
        run(BMGibbs(), key, rbm, BMGibbs().init(key, bm), 2)
    with pytest.raises(TypeError, match="clamp_visible must be a bool"):
        BMGibbs(clamp_visible="visible")


def test_non_finite_parameters_and_negative_beta_are_rejected():
    key = jax.random.key(0)
    rbm = _random_rbm(11, 4, 3)
    kernel = RBMGibbs()
    chains = kernel.init(key, rbm, 2)
    nan_rbm = eqx.tree_at(lambda m: m.weights, rbm, rbm.weights.at[0, 0].set(jnp.nan))
    with pytest.raises(ValueError, match="model.weights must be finite"):
        run(kernel, key, nan_rbm, chains, 2)
    with pytest.raises(Exception, match="model.weights must be finite"):
        jax.block_until_ready(jax.jit(lambda m: run(kernel, key, m, chains, 2).state)(nan_rbm))
    with pytest.raises(ValueError, match="beta .*must be >= 0"):
        kernel.init(key, rbm, 2, beta=-1.0)
    with pytest.raises(ValueError, match="beta must be finite"):
        ps.init_chains(key, rbm, 2, beta=np.nan)
    negative = chains._replace(beta=-chains.beta)
    with pytest.raises(ValueError, match="state.beta .*must be >= 0"):
        run(kernel, key, rbm, negative, 2)
    with pytest.raises(Exception, match="state.beta .*must be finite and >= 0"):
        jax.block_until_ready(jax.jit(lambda s: run(kernel, key, rbm, s, 2).state)(negative))
    bm = _random_bm(12, 3, 1, "binary")
    bm_kernel = BMGibbs()
    state = bm_kernel.init(key, bm, 2)
    with pytest.raises(ValueError, match="model.bias must be finite"):
        run(bm_kernel, key, eqx.tree_at(lambda m: m.bias, bm, bm.bias.at[1].set(jnp.inf)),
            state, 2)
    with pytest.raises(ValueError, match="state.beta .*must be >= 0"):
        run(bm_kernel, key, bm, state._replace(beta=-state.beta), 2)
    with pytest.raises(ValueError, match="beta .*must be >= 0"):
        bm_kernel.init(key, bm, beta=-0.5)


def test_optimizer_and_learning_rate_are_checked():
    rbm = _random_rbm(13, 4, 3)
    key = jax.random.key(0)
    with pytest.raises(TypeError, match="optimizer must be an optax.GradientTransformation"):
        ps.init_training(key, rbm, "bogus")
    state = ps.init_training(key, rbm, optax.sgd(0.1))
    with pytest.raises(TypeError, match="optimizer must be an optax.GradientTransformation"):
        ps.train_epochs(key, state, _states(4, "binary"), "sgd", batch_size=4)
    with pytest.raises(Exception, match="learning_rate must be finite and > 0"):
        jax.block_until_ready(jax.jit(lambda lr: ps.train_rbm(
            key, rbm, _states(4, "binary"), n_epochs=1, batch_size=4,
            learning_rate=lr)[0].weights)(-0.1))
