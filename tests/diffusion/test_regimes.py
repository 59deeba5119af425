"""Speciation and collapse (physics tests 4 and 5 of issue 19) and the regime formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physjax.diffusion import (
    OU,
    VE,
    VP,
    CurieWeissScore,
    EmpiricalScore,
    GaussianScore,
    cloning_curve,
    collapse_curve,
    collapse_time_from_spectrum,
    collapsed_fraction,
    covariance_spectrum,
    crossing_time,
    curie_weiss_magnetization_law,
    excess_entropy,
    mean_field_magnetization,
    same_class_probability,
    sample,
    sample_curie_weiss,
    speciation_time,
    speciation_time_from_spectrum,
)

# ------------------------------------------------------------------ formulas (analytic)

@pytest.mark.parametrize("schedule", [OU(10.0), VP(0.1, 20.0, 1.0), VE(0.01, 50.0, 1.0)],
                         ids=["OU", "VP", "VE"])
def test_speciation_time_formula(schedule):
    lam = 37.0
    t = float(speciation_time_from_spectrum(lam, schedule))
    a, var = float(schedule.mean_scale(t)), float(schedule.variance(t))
    np.testing.assert_allclose(a**2 * (lam - 1), var, rtol=1e-4)
    if isinstance(schedule, OU):
        np.testing.assert_allclose(t, 0.5 * np.log(lam), rtol=1e-6)
    assert float(speciation_time_from_spectrum(0.8, schedule)) == 0.0


def test_speciation_time_from_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20_000, 5)) * np.sqrt([9.0, 1.0, 1.0, 2.0, 0.5])
    np.testing.assert_allclose(float(speciation_time(x)), 0.5 * np.log(9.0), atol=0.02)
    np.testing.assert_allclose(covariance_spectrum(x)[0], 9.0, rtol=0.05)


@pytest.mark.parametrize("n,d", [(10, 16), (1000, 32), (10_000, 64)])
def test_collapse_time_white_data_closed_form(n, d):
    """White data: Delta_{t_C} = n^(-2/d) (OU)."""
    t = float(collapse_time_from_spectrum(jnp.ones(d), n))
    np.testing.assert_allclose(t, -0.5 * np.log1p(-n ** (-2.0 / d)), rtol=1e-5)
    assert abs(float(excess_entropy(t, jnp.ones(d), n))) < 1e-6
    assert float(collapse_time_from_spectrum(jnp.ones(d), 1)) == np.inf


def test_excess_entropy_against_monte_carlo_entropy():
    """f(t) = s(t) - log(2 pi e Delta_t)/2 - log(n)/d with s(t) = -E log p_t / d estimated
    by Monte Carlo from the exact noised Gaussian density."""
    rng = np.random.default_rng(1)
    d, n = 6, 50
    eig = np.array([4.0, 2.0, 1.0, 1.0, 0.5, 0.2])
    s = OU(5.0)
    score = GaussianScore(s, jnp.zeros(d), jnp.asarray(eig))
    for t in [0.2, 0.8]:
        a, var = float(s.mean_scale(t)), float(s.variance(t))
        x = rng.normal(size=(40_000, d)) * np.sqrt(a**2 * eig + var)
        lp = np.asarray(jax.vmap(score.log_density, in_axes=(0, None))(jnp.asarray(x), t))
        s_mc = -lp.mean() / d
        f_mc = s_mc - 0.5 * np.log(2 * np.pi * np.e * var) - np.log(n) / d
        assert abs(float(excess_entropy(t, eig, n)) - f_mc) < 4 * lp.std() / d / 200


def test_measurement_helpers():
    labels = jnp.array([[[0, 0], [1, 0], [1, 1], [0, 1]]])
    np.testing.assert_allclose(same_class_probability(labels), [0.5])
    np.testing.assert_allclose(same_class_probability(jnp.array([[0, 0, 1]])), 1 / 3)
    t = np.linspace(3, 0, 31)
    assert abs(crossing_time(t, 1 - t / 2, 0.5) - 1.0) < 1e-9
    assert np.isnan(crossing_time(t, np.zeros_like(t), 0.5))
    train = jnp.array([[0.0, 0.0], [10.0, 0.0]])
    samples = jnp.array([[0.1, 0.0], [5.0, 0.0], [9.5, 0.0], [4.0, 0.0]])
    np.testing.assert_allclose(collapsed_fraction(samples, train), 0.5)


# ---------------------------------------------------------- physics test 4: collapse

def _measured_collapse(n, d, seed):
    s = OU(6.0)
    train = jax.random.normal(jax.random.key(seed), (n, d))
    curve = collapse_curve(jax.random.key(seed + 1), EmpiricalScore(s, train), 100,
                           n_steps=100, method="exponential")
    return curve, train


def test_empirical_score_collapses_onto_training_points():
    """Empirical score (white data): the nearest training point's posterior weight
    crosses 1/2 within 0.3 of the excess-entropy t_C for three (n, d) pairs; t_C
    decreases with n at fixed d (measured and predicted); the endpoints are training
    points."""
    measured, predicted = {}, {}
    for n, d in [(100, 16), (100, 32), (1000, 32)]:
        curve, train = _measured_collapse(n, d, seed=n + d)
        measured[n, d] = crossing_time(curve.times, curve.mean_weight, 0.5)
        predicted[n, d] = float(collapse_time_from_spectrum(jnp.ones(d), n))
        assert abs(measured[n, d] - predicted[n, d]) < 0.3, (n, d, measured, predicted)
        assert float(curve.mean_weight[-1]) > 0.99 and float(curve.mean_weight[0]) < 0.05
    assert measured[1000, 32] < measured[100, 32]
    assert predicted[1000, 32] < predicted[100, 32]


def test_collapsed_fraction_of_generated_samples():
    s = OU(6.0)
    train = jax.random.normal(jax.random.key(5), (100, 16))
    x = sample(jax.random.key(6), s, EmpiricalScore(s, train), 100, 16, n_steps=100,
               method="exponential")
    assert float(collapsed_fraction(x, train)) == 1.0
    # fresh Gaussian samples are never that close to a training point
    assert float(collapsed_fraction(jax.random.normal(jax.random.key(7), (100, 16)),
                                    train)) == 0.0


@pytest.mark.slow
def test_collapse_time_full_range():
    """Larger set of (n, d): d = 16-64, n = 10-10^4."""
    hits = 0
    t_prev = np.inf
    for n, d in [(10, 64), (100, 64), (1000, 64), (10_000, 64), (1000, 16)]:
        curve, _ = _measured_collapse(n, d, seed=n + d)
        tm = crossing_time(curve.times, curve.mean_weight, 0.5)
        tp = float(collapse_time_from_spectrum(jnp.ones(d), n))
        hits += abs(tm - tp) < 0.3
        if d == 64:
            assert tm < t_prev
            t_prev = tm
    assert hits >= 3


# ------------------------------------------------------ physics test 5: Curie-Weiss

N_SPINS, BETA = 32, 1.5
CW_STEPS = 40


@pytest.fixture(scope="module")
def cw_score():
    return CurieWeissScore(OU(8.0), N_SPINS, BETA)


# compute_bound like the speciation test below: both run the same reverse-process program
# (Heun, the same score), and the first to compile it fixes its optimization for both
@pytest.mark.compute_bound
def test_curie_weiss_regeneration(cw_score):
    """Samples regenerated from the exact Curie-Weiss score (beta = 1.5 < beta_c... i.e.
    T = 2/3 T_c) reproduce the exact finite-N magnetization law: two peaks near +-m*
    (m* = tanh(beta m*), mean field), <|m|> and <m^2> within 4 sigma, symmetric signs."""
    n = 600
    x = sample(jax.random.key(0), cw_score.schedule, cw_score, n, N_SPINS,
               n_steps=CW_STEPS, method="heun")
    m = np.asarray(jnp.mean(jnp.sign(x), 1), np.float64)
    mv, p = (np.asarray(a, np.float64) for a in curie_weiss_magnetization_law(N_SPINS, BETA))
    m_star = float(mean_field_magnetization(BETA))
    # the exact finite-N law peaks next to the mean-field value
    peak = mv[np.argmax(p)]
    assert abs(abs(peak) - m_star) <= 2.0 / N_SPINS + 0.05
    for f in (np.abs, np.square):
        exact = np.sum(p * f(mv))
        sd = np.sqrt(np.sum(p * f(mv) ** 2) - exact**2)
        assert abs(f(m).mean() - exact) < 4 * sd / np.sqrt(n), (f, f(m).mean(), exact)
    assert abs(np.mean(m > 0) - 0.5) < 4 * 0.5 / np.sqrt(n)
    # histogram of |m| against the exact law (chi^2 over well-populated bins)
    pa = np.bincount(np.abs(np.round(mv * N_SPINS)).astype(int) // 2, weights=p)
    counts = np.bincount(np.abs(np.round(m * N_SPINS)).astype(int) // 2,
                         minlength=pa.size)
    keep = n * pa > 5
    chi2 = np.sum((counts[keep] - n * pa[keep]) ** 2 / (n * pa[keep]))
    k = keep.sum()
    assert chi2 < k + 4 * np.sqrt(2 * k), (chi2, k)


@pytest.mark.compute_bound
def test_curie_weiss_speciation_marks_sign_choice(cw_score):
    """Clones of Curie-Weiss data choose the same sign of m below t_S = (1/2) log Lambda
    (Lambda = N <m^2>, the top eigenvalue of the spin correlation matrix) and independent
    signs above: phi = 3/4 within 0.3 of t_S."""
    data = sample_curie_weiss(jax.random.key(1), 4000, N_SPINS, BETA)
    t_s = float(speciation_time(data))
    mv, p = curie_weiss_magnetization_law(N_SPINS, BETA)
    lam_exact = 1 + (N_SPINS * float(jnp.sum(p * mv**2)) - 1)      # 1 + (N-1) q
    assert abs(t_s - 0.5 * np.log(lam_exact)) < 0.05
    times = t_s + jnp.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    curve = cloning_curve(jax.random.key(2), cw_score.schedule, cw_score, data[:300],
                          times, lambda x: (jnp.sum(x) > 0).astype(jnp.int32),
                          n_steps=CW_STEPS, method="heun")
    phi = np.asarray(curve.probability)
    assert phi[0] > 0.9 and phi[-1] < 0.7
    t_cross = crossing_time(times, phi, 0.75)
    assert abs(t_cross - t_s) < 0.3, (t_cross, t_s, phi)


# ------------------------------------------------- closed forms of the public helpers

def test_collapse_time_of_white_data_has_the_closed_form():
    """White data (unit covariance) under OU: p_t stays N(0, I) while the noised empirical
    law is n Gaussians of variance Delta_t, so the excess entropy vanishes at
    (1/2) log(1/Delta_t) = log(n)/d, i.e. t_C = -(1/2) log(1 - n^(-2/d)).  The covariance
    is estimated from 40000 draws (eigenvalues 1 +- 0.04)."""
    from physjax.diffusion import collapse_time

    d = 16
    data = jax.random.normal(jax.random.key(3), (40_000, d))
    for n in (100, 1000):
        expected = -0.5 * np.log(1 - n ** (-2 / d))
        np.testing.assert_allclose(float(collapse_time(data, OU(10.0), n=n)), expected,
                                   atol=0.03)


def test_nearest_posterior_weight_of_two_points_is_a_logistic():
    """Training points +-m: the posterior weight of +m given x_t is
    sigmoid(2 a_t x.m / Delta_t), so the nearest point's weight is
    sigmoid(2 a_t |x.m| / Delta_t); it tends to 1/2 at large t and to 1 as t -> 0."""
    from physjax.diffusion import nearest_posterior_weight

    schedule = OU(10.0)
    m = jnp.array([1.5, -0.5, 0.25])
    score = EmpiricalScore(schedule, jnp.stack([m, -m]))
    x = jax.random.normal(jax.random.key(4), (64, 3))
    for t in (0.05, 0.5, 3.0):
        a, var = np.exp(-t), 1 - np.exp(-2 * t)
        expected = 1 / (1 + np.exp(-2 * a * np.abs(np.asarray(x) @ np.asarray(m)) / var))
        np.testing.assert_allclose(nearest_posterior_weight(score, x, t), expected,
                                   rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("schedule", [OU(5.0), VE(0.01, 20.0, 1.0)], ids=["OU", "VE"])
def test_prior_sample_is_the_reference_gaussian(schedule):
    """The backward process starts from N(0, (a_T^2 + Delta_T) I): 1 for OU, and
    1 + sigma_max^2 - sigma_min^2 for VE.  Mean and variance within 4 sigma."""
    from physjax.diffusion import prior_sample

    n, d = 20_000, 4
    x = np.asarray(prior_sample(jax.random.key(5), schedule, n, d), np.float64)
    var = 1.0 if isinstance(schedule, OU) else 1 + 20.0**2 - 0.01**2
    assert x.shape == (n, d)
    assert np.all(np.abs(x.mean(0)) < 4 * np.sqrt(var / n))
    assert np.all(np.abs(x.var(0) / var - 1) < 4 * np.sqrt(2 / n))
