"""RBMs (``physjax.spins.rbm``): energies and free energies against brute-force sums over
both layers, exact gradients against finite differences (issue 4, test 1, second half),
block Gibbs sampling against the exact visible marginal, and the RBM <-> Hopfield
correspondence over all 2^12 states (issue 4, test 3)."""

from __future__ import annotations

import typing

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

import physjax.spins as ps

from ._enumeration import all_states as _states

# every unit type of each layer appears at least once
UNIT_PAIRS = [("binary", "binary"), ("spin", "spin"), ("spin", "binary"), ("binary", "gaussian")]


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _random_rbm(seed, nv, nh, visible, hidden, scale=0.5):
    rng = np.random.default_rng(seed)
    return ps.RBM(rng.normal(size=(nv, nh)) * scale, rng.normal(size=nv) * 0.3,
                  rng.normal(size=nh) * 0.3, visible=visible, hidden=hidden)


def _brute_log_marginal(rbm, V):
    """log sum_h exp(-E(v, h)) by summing (or, for Gaussian units, integrating in closed
    form unit by unit) over the hidden layer, in NumPy."""
    W, b, c = (np.asarray(a, float) for a in (rbm.weights, rbm.visible_bias, rbm.hidden_bias))
    a = V @ W + c
    if rbm.hidden == "gaussian":   # int dh exp(a h - h^2/2) = sqrt(2 pi) exp(a^2/2)
        return V @ b + np.sum(0.5 * a**2 + 0.5 * np.log(2 * np.pi), axis=1)
    H = _states(rbm.n_hidden, rbm.hidden)
    return V @ b + logsumexp(a @ H.T, axis=1)   # a @ h = v W h + c h


@pytest.mark.parametrize("visible,hidden", UNIT_PAIRS)
def test_free_energy_and_log_partition_match_brute_force(visible, hidden, x64):
    rbm = _random_rbm(0, 7, 5, visible, hidden)
    V = _states(7, visible)
    log_marg = _brute_log_marginal(rbm, V)
    np.testing.assert_allclose(-np.asarray(ps.free_energy(rbm, V)), log_marg, atol=1e-10)
    assert float(ps.rbm_log_partition(rbm)) == pytest.approx(logsumexp(log_marg), abs=1e-10)
    data = V[[1, 2, 2, 50, 127]]
    assert float(ps.rbm_exact_log_likelihood(rbm, data)) == pytest.approx(
        np.mean(log_marg[[1, 2, 2, 50, 127]]) - logsumexp(log_marg), abs=1e-10)
    if hidden != "gaussian":  # the joint energy, summed over both layers
        H = _states(5, hidden)
        E = ps.rbm_energy(rbm, V[:, None, :], H[None, :, :])
        assert float(logsumexp(-np.asarray(E))) == pytest.approx(logsumexp(log_marg),
                                                                 abs=1e-10)


def test_log_partition_enumerates_the_smaller_layer(x64):
    # 14 visible x 5 hidden: enumerating the 5 hidden units (32 states) must give the same
    # log Z as the brute-force sum over the 2^14 visible states
    rbm = _random_rbm(1, 14, 5, "binary", "binary", scale=0.3)
    log_z = logsumexp(_brute_log_marginal(rbm, _states(14, "binary")))
    assert float(ps.rbm_log_partition(rbm)) == pytest.approx(log_z, abs=1e-9)


def _binomial_p_values(counts, p, n):
    """Two-sided exact binomial p-values of the observed counts of each state."""
    from scipy.stats import binom
    lower = binom.cdf(counts, n, p)
    upper = binom.sf(counts - 1, n, p)
    return np.minimum(1.0, 2 * np.minimum(lower, upper))


@pytest.mark.parametrize("visible,hidden", [("binary", "binary"), ("spin", "gaussian")])
def test_exact_gradient_matches_finite_differences(visible, hidden, x64):
    """Issue 4, test 1 (second half): the enumerated gradient of a 6 x 4 RBM equals central
    finite differences (step 1e-5: truncation ~1e-10, rounding ~1e-10) of the exact mean
    log-likelihood, for every weight and bias."""
    rbm = _random_rbm(2, 6, 4, visible, hidden)
    data = _states(6, visible)[[0, 3, 3, 17, 40, 63]]
    grad = ps.rbm_exact_gradient(rbm, data)
    eps = 1e-5
    leaves, treedef = jax.tree.flatten(rbm)
    sizes = [leaf.size for leaf in leaves]
    n = sum(sizes)
    flat = jnp.concatenate([leaf.ravel() for leaf in leaves])

    def ll(delta):
        parts = jnp.split(flat + delta, np.cumsum(sizes)[:-1])
        model = jax.tree.unflatten(treedef, [p.reshape(leaf.shape)
                                             for p, leaf in zip(parts, leaves, strict=True)])
        return ps.rbm_exact_log_likelihood(model, data)
    lls = jax.jit(jax.vmap(ll))
    fd = np.asarray(lls(eps * jnp.eye(n)) - lls(-eps * jnp.eye(n))) / (2 * eps)
    g = np.concatenate([np.asarray(x).ravel() for x in jax.tree.leaves(grad)])
    np.testing.assert_allclose(g, fd, atol=1e-8)


@pytest.mark.parametrize("visible,hidden", [("binary", "spin"), ("spin", "gaussian")])
def test_block_gibbs_samples_the_exact_visible_marginal(visible, hidden):
    """8192 chains after 50 block-Gibbs steps: the count of each of the 32 states is
    compatible with the exact p(v) (exact binomial two-sided p-value > 1e-4 / 32, i.e.
    < 1e-4 overall by Bonferroni) and the chi-square is below its 0.9999 quantile (~ 67
    for 31 degrees of freedom)."""
    rbm = _random_rbm(3, 5, 3, visible, hidden, scale=0.4)
    V = _states(5, visible)
    with jax.enable_x64(True):
        p = np.exp(-np.asarray(ps.free_energy(rbm, V)) - float(ps.rbm_log_partition(rbm)))
    R = 8192
    chains = ps.init_chains(jax.random.key(0), rbm, R)
    chains = ps.run_gibbs(jax.random.key(1), rbm, chains, 50)
    lo = V.min()
    idx = ((np.asarray(chains.visible) - lo) / (1 - lo)).astype(int) @ (2 ** np.arange(5)[::-1])
    counts = np.bincount(idx, minlength=32)
    assert np.all(_binomial_p_values(counts, p, R) > 1e-4 / 32)
    assert np.sum((counts / R - p) ** 2 / p) * R < 67
    # the hidden layer carries a draw from p(h | v): its mean matches E[h | v] per chain
    eh = ps.hidden_mean(rbm, chains.visible)
    assert float(jnp.abs(jnp.mean(chains.hidden - eh))) < 4.5 / np.sqrt(R * 3)


def test_conditional_samplers_have_the_conditional_means():
    rbm = _random_rbm(4, 6, 4, "spin", "binary")
    v = np.tile([1.0, -1, 1, 1, -1, -1], (8000, 1))
    h = ps.sample_hidden(jax.random.key(0), rbm, v)
    # Bernoulli means: standard error <= 0.5 / sqrt(8000) = 0.0056; 0.025 is 4.5 sigma
    np.testing.assert_allclose(h.mean(0), ps.hidden_mean(rbm, v[0]), atol=0.025)
    hv = np.tile([1.0, 0, 0, 1], (8000, 1))
    vs = ps.sample_visible(jax.random.key(1), rbm, hv)
    # spins: standard error <= 1 / sqrt(8000)
    np.testing.assert_allclose(vs.mean(0), ps.visible_mean(rbm, hv[0]), atol=0.05)
    assert set(np.unique(np.asarray(vs))) <= {-1.0, 1.0}
    one = ps.gibbs_step(jax.random.key(2), rbm, ps.init_chains(jax.random.key(3), rbm, 3))
    assert isinstance(one, ps.RBMChains)
    assert one.visible.shape == (3, 6) and one.hidden.shape == (3, 4)
    # chains as a vmap axis: single-chain states with per-chain keys
    keys = jax.random.split(jax.random.key(4), 3)
    many = jax.vmap(lambda k, v, h, b: ps.gibbs_step(k, rbm, ps.RBMChains(v, h, b)))(
        keys, one.visible, one.hidden, one.beta)
    assert many.visible.shape == (3, 6) and set(np.unique(np.asarray(many.visible))) <= {-1, 1}


# ------------------------------------------------------------------ RBM <-> Hopfield

def _energies(model, S):
    """H(s) = -1/2 s^T J s - h^T s with the model's dense zero-diagonal couplings (NumPy)."""
    J, h = np.asarray(model.couplings(), float), np.asarray(model.h, float)
    return -0.5 * np.einsum("si,ij,sj->s", S, J, S) - S @ h


def test_gaussian_rbm_marginal_is_the_hopfield_distribution(x64):
    """Issue 4, test 3: N = 12 spins, K = 3 Hebbian patterns at beta = 1.3; the visible
    marginal of the Gaussian RBM W = sqrt(beta) xi^T / sqrt(N) equals exp(-beta H) / Z of
    the Hopfield energy H = -1/(2N) sum_mu (xi^mu . s)^2 over all 4096 states."""
    xi = ps.random_patterns(jax.random.key(0), 3, 12)
    beta = 1.3
    rbm = ps.hopfield_to_rbm(xi, beta)
    S = _states(12, "spin")
    H = -0.5 / 12 * np.sum((S @ np.asarray(xi).T) ** 2, axis=1)
    log_p_hop = -beta * H - logsumexp(-beta * H)
    log_p_rbm = -np.asarray(ps.free_energy(rbm, S)) - float(ps.rbm_log_partition(rbm))
    assert np.max(np.abs(log_p_rbm - log_p_hop)) < 1e-6
    # the same through the Hopfield model's zero-diagonal couplings
    e = _energies(ps.hebbian(xi), S)
    np.testing.assert_allclose(log_p_rbm, -beta * e - logsumexp(-beta * e), atol=1e-6)


def test_rbm_to_hopfield_is_the_converse(x64):
    """A random spin/Gaussian RBM with biases: the Hopfield model it maps to has the same
    Boltzmann distribution at beta; and the round trip from patterns returns Hebb's J."""
    rbm = _random_rbm(5, 10, 4, "spin", "gaussian")
    beta = 0.7
    hop = ps.rbm_to_hopfield(rbm, beta)
    S = _states(10, "spin")
    e = _energies(hop, S)
    log_p_rbm = -np.asarray(ps.free_energy(rbm, S)) - float(ps.rbm_log_partition(rbm))
    np.testing.assert_allclose(log_p_rbm, -beta * e - logsumexp(-beta * e), atol=1e-9)
    xi = ps.random_patterns(jax.random.key(1), 4, 10)
    back = ps.rbm_to_hopfield(ps.hopfield_to_rbm(xi, 2.0), 2.0)
    np.testing.assert_allclose(back.couplings(), ps.hebbian(xi).couplings(), atol=1e-12)


def test_hopfield_to_rbm_handles_kernels_and_fields(x64):
    xi = ps.random_patterns(jax.random.key(2), 3, 8)
    model = ps.dreaming(xi, 2.0, h=0.1)          # J = xi^T A xi / N with a PSD kernel A
    rbm = ps.hopfield_to_rbm(model, 0.9)
    S = _states(8, "spin")
    e = _energies(model, S)
    log_p_rbm = -np.asarray(ps.free_energy(rbm, S)) - float(ps.rbm_log_partition(rbm))
    np.testing.assert_allclose(log_p_rbm, -0.9 * e - logsumexp(-0.9 * e), atol=1e-9)
    bad = ps.LowRankIsing(xi, kernel=-np.eye(3))
    with pytest.raises(ValueError, match="positive semi-definite"):
        ps.hopfield_to_rbm(bad)


# ----------------------------------------------------------------------- bad input

def test_bad_input_is_rejected_with_the_argument_named():
    rbm = _random_rbm(6, 4, 3, "binary", "binary")
    with pytest.raises(ValueError, match="data must be binary"):
        ps.rbm_exact_log_likelihood(rbm, np.array([[0.0, 1.0, 2.0, 1.0]]))
    with pytest.raises(ValueError, match="data must be binary"):
        ps.rbm_exact_gradient(rbm, -np.ones((2, 4)))
    with pytest.raises(ValueError, match="data has 5 columns.*4 visible units"):
        ps.rbm_exact_log_likelihood(rbm, np.ones((2, 5)))
    with pytest.raises(ValueError, match="data must be finite"):
        ps.rbm_exact_gradient(rbm, np.array([[np.nan, 1.0, 1.0, 1.0]]))
    with pytest.raises(ValueError, match="weights must be finite"):
        ps.RBM(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="rbm.weights must be finite"):
        ps.free_energy(eqx.tree_at(lambda m: m.weights, rbm, rbm.weights.at[0, 0].set(np.inf)),
                       np.ones((1, 4)))
    with pytest.raises(ValueError, match="n_hidden must be an integer >= 1"):
        ps.init_rbm(jax.random.key(0), 4, 0)
    with pytest.raises(ValueError, match="n_hidden must be an integer >= 1"):
        ps.init_rbm(jax.random.key(0), 4, -3)
    with pytest.raises(ValueError, match="n_hidden >= 1"):
        ps.RBM(np.zeros((4, 0)))
    assert typing.get_args(ps.VisibleUnits) == ("binary", "spin")
    assert typing.get_args(ps.HiddenUnits) == ("binary", "spin", "gaussian")
    with pytest.raises(ValueError, match="hidden must be one of"):
        ps.RBM(np.zeros((4, 2)), hidden="potts")
    big = ps.RBM(np.zeros((30, 26)))
    with pytest.raises(ValueError, match="26 units.*limit is 24.*ais_log_partition"):
        ps.rbm_log_partition(big)
    with pytest.raises(ValueError, match="30 units.*ais_log_partition"):
        ps.rbm_exact_log_likelihood(ps.RBM(np.zeros((30, 4)), hidden="gaussian"),
                                    np.ones((1, 30)))
    with pytest.raises(ValueError, match="spin visible and Gaussian hidden"):
        ps.rbm_to_hopfield(rbm)
    with pytest.raises(TypeError, match="rbm must be a physjax.spins.RBM"):
        ps.free_energy(ps.hebbian(np.ones((1, 4))), np.ones(4))
