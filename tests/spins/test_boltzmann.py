"""Boltzmann machines (``physjax.spins.boltzmann``): exact enumeration against brute-force
NumPy sums, the learning rule against finite differences of the exact log-likelihood,
Gibbs-sampled correlations against enumeration, and coupling recovery from samples of a
known Ising model (issue 4, test 4)."""

from __future__ import annotations

import itertools
import typing

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.special import logsumexp

import physjax.spins as ps

from ._enumeration import all_states as _states


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _random_bm(seed, n_visible, n_hidden, units, scale=0.6):
    rng = np.random.default_rng(seed)
    n = n_visible + n_hidden
    g = np.triu(rng.normal(size=(n, n)) * scale, 1)
    return ps.BoltzmannMachine(g + g.T, rng.normal(size=n) * 0.3, n_visible=n_visible,
                               units=units)


def _brute_log_p_visible(bm, V):
    """log p(v) for the rows of V by brute-force sums over all states (NumPy, float64)."""
    W, b = np.asarray(bm.weights, float), np.asarray(bm.bias, float)
    X = _states(bm.n_units, bm.units)
    neg_e = 0.5 * np.einsum("si,ij,sj->s", X, W, X) + X @ b
    log_z = logsumexp(neg_e)
    out = []
    for v in V:
        rows = np.all(X[:, : bm.n_visible] == v, axis=1)
        out.append(logsumexp(neg_e[rows]) - log_z)
    return np.array(out), log_z


@pytest.mark.parametrize("units", ["spin", "binary"])
def test_energy_partition_and_likelihood_match_brute_force(units, x64):
    bm = _random_bm(0, 5, 3, units)
    X = _states(8, units)
    W, b = np.asarray(bm.weights), np.asarray(bm.bias)
    np.testing.assert_allclose(ps.bm_energy(bm, X), -0.5 * np.einsum("si,ij,sj->s", X, W, X)
                               - X @ b, rtol=1e-12, atol=1e-12)
    data = _states(5, units)[[0, 3, 7, 7, 12, 31]]
    log_p, log_z = _brute_log_p_visible(bm, data)
    assert float(ps.bm_log_partition(bm)) == pytest.approx(log_z, abs=1e-10)
    assert float(ps.bm_log_likelihood(bm, data)) == pytest.approx(log_p.mean(), abs=1e-10)


def test_enumeration_in_chunks_matches_a_single_sum(x64):
    # 14 units = 16384 states = 4 chunks of 4096: the running log-sum-exp must agree
    bm = _random_bm(1, 14, 0, "spin", scale=0.3)
    assert float(ps.bm_log_partition(bm)) == pytest.approx(_brute_log_p_visible(
        bm, _states(14, "spin")[:1])[1], abs=1e-9)


@pytest.mark.parametrize("units,n_hidden", [("spin", 3), ("binary", 0)])
def test_learning_rule_is_the_gradient_of_the_exact_log_likelihood(units, n_hidden, x64):
    """<x_i x_j>_clamped - <x_i x_j>_free equals the central finite difference (step 1e-5,
    truncation error ~1e-10, float64 rounding ~1e-10) of the exact mean log-likelihood
    with respect to the pair coupling w_ij = w_ji and the biases."""
    bm = _random_bm(2, 4, n_hidden, units)
    data = _states(4, units)[[0, 1, 5, 5, 9, 14, 15]]
    grad = ps.bm_learning_rule(bm, ps.bm_exact_correlations(bm, data))
    eps, n = 1e-5, bm.n_units
    pairs = list(itertools.combinations(range(n), 2))
    dW = np.zeros((len(pairs) + n, n, n))
    db = np.zeros((len(pairs) + n, n))
    for a, (i, j) in enumerate(pairs):
        dW[a, i, j] = dW[a, j, i] = eps
    db[len(pairs):] = eps * np.eye(n)

    def ll(dw, dbias):
        return ps.bm_log_likelihood(eqx.tree_at(lambda m: (m.weights, m.bias), bm,
                                                (bm.weights + dw, bm.bias + dbias)), data)
    lls = jax.jit(jax.vmap(ll))
    fd = np.asarray(lls(jnp.asarray(dW), jnp.asarray(db)) - lls(-jnp.asarray(dW),
                                                                 -jnp.asarray(db))) / (2 * eps)
    iu = tuple(np.array(pairs).T)
    np.testing.assert_allclose(np.asarray(grad.weights)[iu], fd[: len(pairs)], atol=1e-8)
    np.testing.assert_allclose(np.asarray(grad.bias), fd[len(pairs):], atol=1e-8)
    assert np.all(np.diag(grad.weights) == 0)


def test_gibbs_sampled_correlations_match_enumeration():
    """Free and clamped moments from sequential heat-bath sweeps against enumeration.
    Every moment lies in [-1, 1]; 1024 free chains (and 1024 clamped ones) with 200
    measured sweeps each have a standard error below 0.01 even with an integrated
    autocorrelation time of 10 sweeps, so 0.04 is a > 4 sigma window."""
    bm = _random_bm(3, 4, 2, "spin", scale=0.4)
    data = np.repeat(_states(4, "spin")[[0, 6, 9, 15]], 256, axis=0)
    with jax.enable_x64(True):
        exact = ps.bm_exact_correlations(bm, data)
    assert isinstance(exact, ps.BMCorrelations)
    est = ps.bm_sampled_correlations(jax.random.key(0), bm, data, n_chains=1024, n_sweeps=200,
                                     burn_in=50)
    for name in exact._fields:
        np.testing.assert_allclose(getattr(est, name), getattr(exact, name), atol=0.04,
                                   err_msg=name)


def test_gibbs_sweep_clamps_the_visible_units():
    bm = _random_bm(4, 3, 3, "binary")
    x = jnp.array([1.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    keys = jax.random.split(jax.random.key(0), 200)
    out = jax.vmap(lambda k: ps.bm_gibbs_sweep(k, bm, x, clamp_visible=True))(keys)
    assert np.all(np.asarray(out[:, :3]) == np.asarray(x[:3]))
    assert np.all(np.isin(np.asarray(out), [0.0, 1.0]))
    assert 0 < float(out[:, 3:].mean()) < 1  # the hidden units do move


def test_fully_visible_bm_recovers_ising_couplings(x64):
    """Issue 4, test 4.  2 x 10^5 exact samples of a known N = 8 Ising model (random
    couplings J ~ N(0, 0.4^2), fields ~ N(0, 0.2^2)); a BM without hidden units trained with
    the exact learning rule converges to the maximum-likelihood estimate, whose error per
    parameter is ~ 1/sqrt(M Var) ~ 0.003 here (Var of the sufficient statistics ~ 0.5):
    0.05 is > 10 standard errors."""
    rng = np.random.default_rng(5)
    N = 8
    J = np.triu(rng.normal(size=(N, N)) * 0.4, 1)
    J = J + J.T
    h = rng.normal(size=N) * 0.2
    S = _states(N, "spin")
    log_w = 0.5 * np.einsum("si,ij,sj->s", S, J, S) + S @ h
    p = np.exp(log_w - logsumexp(log_w))
    data = S[rng.choice(len(S), size=200_000, p=p)]
    bm0 = ps.BoltzmannMachine(np.zeros((N, N)), 0.0, units="spin")
    bm, grad_norm = ps.fit_boltzmann_machine(jax.random.key(0), bm0, data, n_steps=600,
                                             optimizer=optax.adam(0.05))
    assert float(grad_norm[-1]) < 1e-6  # converged to the MLE
    assert np.max(np.abs(np.asarray(bm.weights) - J)) < 0.05
    assert np.max(np.abs(np.asarray(bm.bias) - h)) < 0.05


def test_gibbs_learning_moves_towards_the_data(x64):
    """The sampled learning rule (``method="gibbs"``) increases the exact likelihood."""
    bm0 = _random_bm(6, 5, 1, "spin", scale=0.1)
    data = np.repeat(_states(5, "spin")[[0, 31]], 50, axis=0)  # two ferromagnetic states
    bm, _ = ps.fit_boltzmann_machine(jax.random.key(1), bm0, data, n_steps=5,
                                     learning_rate=0.3, method="gibbs", n_chains=32,
                                     n_sweeps=12)
    assert float(ps.bm_log_likelihood(bm, data)) > float(ps.bm_log_likelihood(bm0, data)) + 0.5


def test_init_boltzmann_machine_shapes():
    bm = ps.init_boltzmann_machine(jax.random.key(0), 5, 3, units="binary")
    assert bm.n_units == 8 and bm.n_visible == 5 and bm.n_hidden == 3
    np.testing.assert_array_equal(bm.weights, bm.weights.T)
    assert np.all(np.diag(bm.weights) == 0)


# ----------------------------------------------------------------------- bad input

def test_bad_input_is_rejected_with_the_argument_named():
    bm = _random_bm(7, 4, 1, "spin")
    with pytest.raises(ValueError, match="data must be spin"):
        ps.bm_log_likelihood(bm, np.array([[0.0, 1.0, 1.0, 1.0]]))
    with pytest.raises(ValueError, match="data has 3 columns"):
        ps.bm_log_likelihood(bm, np.ones((2, 3)))
    with pytest.raises(ValueError, match="data must be finite"):
        ps.bm_log_likelihood(bm, np.array([[np.nan, 1.0, 1.0, 1.0]]))
    with pytest.raises(ValueError, match="weights must be finite"):
        ps.BoltzmannMachine(np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match="weights must be symmetric"):
        ps.BoltzmannMachine(np.arange(9.0).reshape(3, 3))
    with pytest.raises(ValueError, match="learning_rate must be > 0"):
        ps.fit_boltzmann_machine(jax.random.key(0), bm, np.ones((2, 4)), n_steps=1,
                                 learning_rate=0.0)
    with pytest.raises(ValueError, match=r"method must be one of \['exact', 'gibbs'\]"):
        ps.fit_boltzmann_machine(jax.random.key(0), bm, np.ones((2, 4)), n_steps=1,
                                 method="sampled")
    assert typing.get_args(ps.CorrelationMethod) == ("exact", "gibbs")
    with pytest.raises(ValueError, match="n_hidden must be an integer >= 0"):
        ps.init_boltzmann_machine(jax.random.key(0), 3, -1)
    big = ps.BoltzmannMachine(np.zeros((ps.MAX_ENUMERATION_UNITS + 1,) * 2))
    with pytest.raises(ValueError, match="25 units.*ais_log_partition"):
        ps.bm_log_partition(big)
    with pytest.raises(TypeError, match="bm must be a physjax.spins.BoltzmannMachine"):
        ps.bm_energy(np.zeros((3, 3)), np.ones(3))
