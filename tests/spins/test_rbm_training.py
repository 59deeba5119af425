"""Training RBMs (``physjax.spins.rbm_training``): CD-k with long chains against the exact
gradient (issue 4, test 1), parallel tempering against the exact marginal, training on a
small multimodal data set against its generating distribution, and binarized digits
against scikit-learn's BernoulliRBM (test 6).  Test 5 (Ising thermodynamics) runs through
the ``rbm-ising`` experiment in ``tests/test_boltzmann_experiments.py``."""

from __future__ import annotations

import typing

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import physjax.spins as ps
from physjax import datasets

from ._enumeration import all_states as _states


def _random_rbm(seed, nv, nh, visible="binary", hidden="binary", scale=1.0):
    rng = np.random.default_rng(seed)
    return ps.RBM(rng.normal(size=(nv, nh)) * scale, rng.normal(size=nv) * 0.5,
                  rng.normal(size=nh) * 0.5, visible=visible, hidden=hidden)


def _binomial_p_values(counts, p, n):
    """Two-sided exact binomial p-values of the observed counts of each state."""
    from scipy.stats import binom
    lower = binom.cdf(counts, n, p)
    upper = binom.sf(counts - 1, n, p)
    return np.minimum(1.0, 2 * np.minimum(lower, upper))


def _flat(tree):
    return np.concatenate([np.asarray(x, np.float64).ravel() for x in jax.tree.leaves(tree)])


def test_cd_with_long_chains_matches_the_exact_gradient():
    """Issue 4, test 1.  CD-k with k = 50 on a 6 x 4 RBM (weights ~ N(0, 1)) from 2^14
    copies of 8 data vectors is the exact log-likelihood gradient up to sampling error.
    The positive phase is exact; each negative-phase term v_i E[h_j|v] lies in [0, 1], so
    its standard error is at most 0.5 / sqrt(2^14) = 0.0039 and 0.019 is 4.8 sigma for
    every one of the 34 components (P(fail) < 1e-4).  The same holds for PCD chains
    started at random states and run for k = 50 steps."""
    rbm = _random_rbm(0, 6, 4)
    data = _states(6, "binary")[[1, 7, 12, 30, 33, 45, 58, 63]]
    with jax.enable_x64(True):
        exact = _flat(ps.rbm_exact_gradient(rbm, data))
    batch = np.tile(data, (2**11, 1))
    cd = _flat(ps.cd_gradient(jax.random.key(0), rbm, batch, k=50))
    assert np.max(np.abs(cd - exact)) < 0.019
    chains = np.asarray(ps.init_chains(jax.random.key(1), rbm, 2**14).visible)
    g, new = ps.pcd_gradient(jax.random.key(2), rbm, data, chains, k=50)
    assert new.shape == chains.shape
    assert np.max(np.abs(_flat(g) - exact)) < 0.019
    # CD-1 from the data is biased for these couplings: far outside the same window
    cd1 = _flat(ps.cd_gradient(jax.random.key(3), rbm, batch, k=1))
    assert np.max(np.abs(cd1 - exact)) > 0.06


def test_parallel_tempering_chains_sample_the_exact_marginal():
    """A strongly coupled 6 x 2 spin RBM is bimodal; with a zero learning rate the PT chains
    at beta = 1 are a sampler of the model.  2048 chains after 40 rounds of one Gibbs step
    per temperature and one exchange sweep: the count of each of the 64 states is
    compatible with the exact p(v) (exact binomial two-sided p-value > 1e-4 / 64 for every
    state, i.e. < 1e-4 overall by Bonferroni), and the chi-square is below its 0.9999
    quantile for 63 degrees of freedom (~ 111).  A wrong exchange acceptance ratio would
    bias the weights of the two modes."""
    W = np.array([[2.0, 0.3], [2.0, -0.3], [2.0, 0.3], [2.0, -0.3], [2.0, 0.3], [2.0, -0.3]])
    rbm = ps.RBM(W * 0.6, 0.0, 0.0, visible="spin", hidden="spin")
    V = _states(6, "spin")
    with jax.enable_x64(True):
        p = np.exp(-np.asarray(ps.free_energy(rbm, V)) - float(ps.rbm_log_partition(rbm)))
    opt = optax.sgd(0.0)
    state = ps.init_training(jax.random.key(0), rbm, opt, method="pt", n_chains=2048,
                             n_temperatures=4)
    dummy = V[:8]
    state, hist = ps.train_epochs(jax.random.key(1), state, dummy, opt, n_epochs=40,
                                  batch_size=8)
    v = np.asarray(state.chains[0])
    idx = ((v + 1) / 2).astype(int) @ (2 ** np.arange(6)[::-1])
    counts = np.bincount(idx, minlength=64)
    assert np.all(_binomial_p_values(counts, p, v.shape[0]) > 1e-4 / 64)
    assert np.sum((counts / v.shape[0] - p) ** 2 / p) * v.shape[0] < 111
    acc = np.asarray(hist.swap_acceptance[-1])
    assert acc.shape == (3,) and np.all((acc > 0) & (acc <= 1))
    np.testing.assert_allclose(state.betas, [1.0, 2 / 3, 1 / 3, 0.0], atol=1e-6)


def test_training_approaches_the_generating_distribution():
    """Data: 2000 noisy copies (10% bit flips) of 4 random 8-bit prototypes.  Exact
    log-likelihood (enumeration) after training an 8 x 6 RBM by CD-1 (PCD and PT-PCD run
    through the same loop in the tests above and below): it gains > 0.5 nats per sample
    over the base-rate initialization and ends within 0.1 nats of the generating
    mixture."""
    rng = np.random.default_rng(0)
    proto = rng.integers(0, 2, size=(4, 8)).astype(float)
    data = proto[rng.integers(0, 4, size=2000)]
    data = np.abs(data - (rng.random(data.shape) < 0.1))
    V = _states(8, "binary")
    dist = (V[:, None, :] != proto[None]).sum(-1)
    p_mix = (0.1**dist * 0.9 ** (8 - dist)).mean(1)
    ll_mix = np.log(p_mix[(data @ 2 ** np.arange(8)[::-1]).astype(int)]).mean()
    rbm0 = ps.init_rbm(jax.random.key(1), 8, 6, data=data)
    ll0 = float(ps.rbm_exact_log_likelihood(rbm0, data))
    for method, tol in (("cd", 0.1),):
        rbm, hist = ps.train_rbm(jax.random.key(2), rbm0, data, n_epochs=30, batch_size=50,
                                 optimizer=optax.adam(0.01), method=method, n_chains=200,
                                 n_temperatures=4)
        ll = float(ps.rbm_exact_log_likelihood(rbm, data))
        assert ll > ll0 + 0.5, method
        assert ll > ll_mix - tol, (method, ll, ll_mix)
        assert hist.reconstruction_error.shape == (30,)
        assert hist.reconstruction_error[-1] < hist.reconstruction_error[0]


def test_digits_rbm_beats_sklearn_bernoulli_rbm():
    """Issue 4, test 6.  64 hidden units, learning rate 0.05, batch 10, 10 epochs on a
    fixed 80/20 split of binarized load_digits, for physjax (CD-1, Optax SGD with momentum
    0.9, visible biases at the data's base rates) and scikit-learn's BernoulliRBM (PCD-1,
    plain SGD) trained in this test.  Both are scored with the exact full pseudo-likelihood
    on the held-out images; physjax must be better by more than 1 nat per image (it is
    ~3.5 better; the spread over seeds is ~0.3)."""
    from sklearn.neural_network import BernoulliRBM

    X, _ = datasets.binarized_digits()
    train, test = datasets.split_data(jax.random.key(0), X, 0.2)
    lr, n_hidden, epochs, batch = 0.05, 64, 10, 10
    rbm0 = ps.init_rbm(jax.random.key(1), 64, n_hidden, data=train)
    rbm, _ = ps.train_rbm(jax.random.key(2), rbm0, train, n_epochs=epochs, batch_size=batch,
                          learning_rate=lr, optimizer=optax.sgd(lr, momentum=0.9), method="cd")
    sk = BernoulliRBM(n_components=n_hidden, learning_rate=lr, batch_size=batch,
                      n_iter=epochs, random_state=0).fit(np.asarray(train))
    sk_rbm = ps.RBM(sk.components_.T, sk.intercept_visible_, sk.intercept_hidden_)
    ours = float(ps.pseudo_log_likelihood(rbm, test))
    theirs = float(ps.pseudo_log_likelihood(sk_rbm, test))
    assert ours > theirs + 1.0, (ours, theirs)


def test_train_epochs_continues_a_run():
    rbm = _random_rbm(4, 6, 3, scale=0.1)
    data = _states(6, "binary")
    opt = optax.sgd(0.1)
    state = ps.init_training(jax.random.key(0), rbm, opt, method="pcd", n_chains=16)
    state, hist = ps.train_epochs(jax.random.key(1), state, data, opt, n_epochs=2,
                                  batch_size=16)
    assert int(state.step) == 2 * 4 and state.chains.shape == (16, 6)
    state, _ = ps.train_epochs(jax.random.key(2), state, data, opt, n_epochs=1, batch_size=16)
    assert int(state.step) == 3 * 4
    assert isinstance(state, ps.RBMTrainState) and isinstance(hist, ps.TrainHistory)
    assert set(typing.get_args(ps.TrainingMethod)) == {"cd", "pcd", "pt"}


# ----------------------------------------------------------------------- bad input

def test_bad_input_is_rejected_with_the_argument_named():
    rbm = _random_rbm(5, 4, 3)
    data = _states(4, "binary")
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        ps.train_rbm(key, rbm, data, k=0)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        ps.cd_gradient(key, rbm, data, k=0)
    with pytest.raises(ValueError, match="learning_rate must be > 0"):
        ps.train_rbm(key, rbm, data, learning_rate=-0.1)
    with pytest.raises(ValueError, match="learning_rate must be > 0"):
        ps.train_rbm(key, rbm, data, learning_rate=0.0)
    with pytest.raises(ValueError, match="data must be binary"):
        ps.train_rbm(key, rbm, data * 0.5, batch_size=4)
    with pytest.raises(ValueError, match="data must be binary"):
        ps.train_rbm(key, rbm, 2 * data - 1, batch_size=4)     # spins given to a 0/1 RBM
    with pytest.raises(ValueError, match="data has 5 columns"):
        ps.train_rbm(key, rbm, np.ones((10, 5)), batch_size=4)
    with pytest.raises(ValueError, match="data must be finite"):
        ps.train_rbm(key, rbm, np.where(data == 1, np.nan, 0.0), batch_size=4)
    with pytest.raises(ValueError, match="batch_size .* must be <= the number of samples"):
        ps.train_rbm(key, rbm, data, batch_size=100)
    with pytest.raises(ValueError, match="method must be one of"):
        ps.train_rbm(key, rbm, data, method="ml")
    with pytest.raises(ValueError, match="rbm.weights must be finite"):
        ps.train_rbm(key, _nan_rbm(), data, batch_size=4)
    with pytest.raises(ValueError, match="betas must be a decreasing"):
        ps.init_training(key, rbm, optax.sgd(0.1), method="pt", betas=[0.5, 1.0])
    with pytest.raises(ValueError, match="chains must be binary"):
        ps.pcd_gradient(key, rbm, data, jnp.full((3, 4), 0.5))


def _nan_rbm():
    rbm = _random_rbm(6, 4, 3)
    return eqx.tree_at(lambda m: m.weights, rbm, rbm.weights.at[1, 1].set(jnp.nan))
