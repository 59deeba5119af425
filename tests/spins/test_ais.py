"""RBM evaluation (``physjax.spins.ais``): AIS log Z against enumeration (issue 4, test 2),
pseudo-likelihood against exact conditionals and scikit-learn's estimator, likelihood and
reconstruction error against NumPy formulas."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from scipy.special import expit, logsumexp

import physjax.spins as ps
from physjax import datasets

from ._enumeration import all_states as _states


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _random_rbm(seed, nv, nh, visible="binary", hidden="binary", scale=1.0):
    rng = np.random.default_rng(seed)
    return ps.RBM(rng.normal(size=(nv, nh)) * scale, rng.normal(size=nv) * 0.5,
                  rng.normal(size=nh) * 0.5, visible=visible, hidden=hidden)


def test_ais_log_partition_of_a_20x10_rbm():
    """Issue 4, test 2.  20 x 10 binary RBM with weights ~ N(0, 1) (log Z ~ 31, far from
    the independent base model); 2048 AIS chains over 1000 evenly spaced temperatures.
    The estimate is within 0.1 nats of enumeration (its standard error is ~0.003) and the
    reported 3-sigma interval covers the truth."""
    rbm = _random_rbm(1, 20, 10)
    with jax.enable_x64(True):
        exact = float(ps.rbm_log_partition(rbm))
    res = ps.ais_log_partition(jax.random.key(0), rbm, n_chains=2048, n_betas=1000)
    assert isinstance(res, ps.AISResult)
    assert abs(float(res.log_partition) - exact) < 0.1
    assert float(res.lower) <= exact <= float(res.upper)
    assert 0 < float(res.stderr) < 0.02
    assert res.log_weights.shape == (2048,)
    assert 1 <= float(res.effective_sample_size) <= 2048
    # the base model: independent units, log Z_A = 20 log 2 + 10 log 2 with zero biases
    assert float(res.base_log_partition) == pytest.approx(30 * np.log(2), rel=1e-6)


@pytest.mark.parametrize("visible,hidden", [("spin", "gaussian")])
def test_ais_other_unit_types_and_base_rates(visible, hidden):
    """A 12 x 6 RBM with spin visible and Gaussian hidden units, 1024 chains x 300
    temperatures, the base model at the base rates of some data: within 0.05 nats
    (standard error ~0.005)."""
    rbm = _random_rbm(2, 12, 6, visible, hidden, scale=0.3)
    with jax.enable_x64(True):
        exact = float(ps.rbm_log_partition(rbm))
    data = _states(12, visible)[::37]
    res = ps.ais_log_partition(jax.random.key(1), rbm, n_chains=1024, n_betas=300,
                               base_data=data)
    assert abs(float(res.log_partition) - exact) < 0.05
    assert float(res.lower) <= exact <= float(res.upper)


def test_log_likelihood_with_exact_and_ais_partition_functions(x64):
    rbm = _random_rbm(3, 8, 5, scale=0.8)
    V = _states(8, "binary")
    W, b, c = (np.asarray(a, float) for a in (rbm.weights, rbm.visible_bias, rbm.hidden_bias))
    log_marg = V @ b + np.sum(np.logaddexp(0, V @ W + c), axis=1)
    data = V[[3, 3, 100, 200, 255]]
    want = log_marg[[3, 3, 100, 200, 255]].mean() - logsumexp(log_marg)
    got = ps.log_likelihood(rbm, data, ps.rbm_log_partition(rbm))
    assert float(got) == pytest.approx(want, abs=1e-9)
    ais = ps.ais_log_partition(jax.random.key(2), rbm, n_chains=512, n_betas=200)
    assert float(ps.log_likelihood(rbm, data, ais)) == pytest.approx(want, abs=0.05)


@pytest.mark.parametrize("visible,hidden", [("binary", "binary"), ("spin", "gaussian")])
def test_pseudo_likelihood_is_the_sum_of_exact_conditionals(visible, hidden, x64):
    """sum_i log p(v_i | v_-i) from the enumerated joint p(v) of a 7 x 4 RBM."""
    rbm = _random_rbm(4, 7, 4, visible, hidden, scale=0.7)
    V = _states(7, visible)
    log_p = -np.asarray(ps.free_energy(rbm, V))
    data = V[[0, 9, 9, 64, 127]]
    got = float(ps.pseudo_log_likelihood(rbm, data))
    lo = V.min()
    index = {tuple(v): k for k, v in enumerate(V)}
    want = []
    for v in data:
        total = 0.0
        for i in range(7):
            w = v.copy()
            w[i] = lo if v[i] == 1 else 1.0
            total += log_p[index[tuple(v)]] - np.logaddexp(log_p[index[tuple(v)]],
                                                           log_p[index[tuple(w)]])
        want.append(total)
    assert got == pytest.approx(np.mean(want), abs=1e-9)


def test_pseudo_likelihood_matches_sklearn_score_samples_on_average():
    """scikit-learn's ``score_samples`` is n_features * log sigma(F(v~) - F(v)) for one
    random unit per sample: its expectation over the unit is the full pseudo-likelihood.
    Averaged over 400 independent draws for 50 digits images; the window is 4.5 standard
    errors of that average (estimated from the draws, ~0.3 nats)."""
    from sklearn.neural_network import BernoulliRBM

    X, _ = datasets.binarized_digits()
    X = np.asarray(X)
    sk = BernoulliRBM(n_components=16, n_iter=2, learning_rate=0.05, random_state=0).fit(X)
    sk.random_state = np.random.RandomState(1)   # a fresh unit choice on every call
    data = X[:50]
    draws = np.array([sk.score_samples(data).mean() for _ in range(400)])
    se = draws.std(ddof=1) / np.sqrt(draws.size)
    rbm = ps.RBM(sk.components_.T, sk.intercept_visible_, sk.intercept_hidden_)
    assert float(ps.pseudo_log_likelihood(rbm, data)) == pytest.approx(draws.mean(),
                                                                         abs=4.5 * se)
    assert se < 0.5


def test_reconstruction_error(x64):
    rbm = _random_rbm(5, 6, 3, visible="spin", hidden="binary")
    data = _states(6, "spin")[::5]
    W, b, c = (np.asarray(a, float) for a in (rbm.weights, rbm.visible_bias, rbm.hidden_bias))
    h = expit(data @ W + c)
    want = np.mean((data - np.tanh(h @ W.T + b)) ** 2)
    assert float(ps.reconstruction_error(rbm, data)) == pytest.approx(want, abs=1e-9)


def test_bad_input_is_rejected_with_the_argument_named():
    rbm = _random_rbm(6, 5, 3)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="n_chains must be an integer >= 1"):
        ps.ais_log_partition(key, rbm, n_chains=0)
    with pytest.raises(ValueError, match="n_betas must be an integer >= 2"):
        ps.ais_log_partition(key, rbm, n_betas=1)
    with pytest.raises(ValueError, match="betas must be an increasing"):
        ps.ais_log_partition(key, rbm, betas=[0.0, 0.7, 0.5, 1.0])
    with pytest.raises(ValueError, match="base_data must be binary"):
        ps.ais_log_partition(key, rbm, base_data=-np.ones((3, 5)))
    with pytest.raises(ValueError, match="data has 4 columns"):
        ps.pseudo_log_likelihood(rbm, np.ones((2, 4)))
    with pytest.raises(ValueError, match="data must be finite"):
        ps.reconstruction_error(rbm, np.full((2, 5), np.nan))
    with pytest.raises(ValueError, match="log_partition must be finite"):
        ps.log_likelihood(rbm, np.ones((2, 5)), np.nan)
