"""Tests of physjax.spins.observables against exact results.

Statistical tests use AR(1) chains  x_{t+1} = rho x_t + sqrt(1 - rho^2) xi_t  started in
equilibrium (x_0 ~ N(0, 1)), for which everything is known exactly:

* tau_int = (1 + rho) / (2 (1 - rho))                     (convention var(mean) = 2 tau / n)
* var(mean of n) = [1 + 2 sum_{t<n} (1 - t/n) rho^t] / n   (finite-n, exact)
* var(biased sample variance) = 2 (1 + rho^2) / ((1 - rho^2) n) + O(n^-2)
* the marginal is N(0, 1), so the Binder cumulant is exactly 0.

Tolerances are stated at each test with the noise they cover; each is >= 4.5 standard
deviations of the estimator beyond the known O(tau/n) biases, so a correct implementation
fails far less than once in 10^4 runs.  Seeds are fixed.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.signal import lfilter

from physjax.spins.observables import (
    autocorrelation,
    binder_cumulant,
    binning_analysis,
    binning_error,
    integrated_autocorrelation_time,
    jackknife,
    mean_and_error,
    specific_heat,
    susceptibility,
)


def ar1(rng: np.random.Generator, rho: float, shape: tuple[int, ...]) -> np.ndarray:
    """Stationary AR(1) chains with unit variance along the last axis (float64)."""
    xi = rng.standard_normal(shape)
    x_before = rng.standard_normal(shape[:-1])  # the (equilibrium) state before x_0
    s = np.sqrt(1.0 - rho**2)
    return lfilter([s], [1.0, -rho], xi, axis=-1, zi=(rho * x_before)[..., None])[0]


def exact_tau(rho: float) -> float:
    return 0.5 * (1.0 + rho) / (1.0 - rho)


def exact_error_of_mean(rho: float, n: int) -> float:
    t = np.arange(1, n)
    return float(np.sqrt((1.0 + 2.0 * np.sum((1.0 - t / n) * rho**t)) / n))


# 1600 independent chains of 4096 steps: the sample std of 1600 chain means has a relative
# noise of 1/sqrt(2 * 1599) = 1.8 %, so a 10 % tolerance on a ratio to it is > 4.5 sigma even
# after the largest systematic bias below (~2 %).
N_CHAINS, N_STEPS = 1600, 4096


@pytest.fixture(scope="module")
def chains():
    rng = np.random.default_rng(20240611)
    return {rho: ar1(rng, rho, (N_CHAINS, N_STEPS)).astype(np.float32) for rho in (0.5, 0.9)}


# ------------------------------------------------------------------- exact identities


def test_autocorrelation_matches_direct_sum():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 50))
    n = x.shape[-1]
    d = x - x.mean(-1, keepdims=True)
    acov = np.stack([np.sum(d[:, : n - t] * d[:, t:], axis=-1) / n for t in range(n)], -1)
    expected = acov / acov[:, :1]
    np.testing.assert_allclose(autocorrelation(x.astype(np.float32)), expected, atol=2e-6)
    with jax.enable_x64(True):
        got = autocorrelation(x)
        assert got.dtype == jnp.float64
        np.testing.assert_allclose(got, expected, atol=1e-12)
        # time on axis 0
        np.testing.assert_allclose(autocorrelation(x.T, axis=0), expected.T, atol=1e-12)
        # Sokal's rule by hand: smallest W >= 1 with W >= c tau(W), tau(W) = 1/2 + sum rho
        for c in (2.0, 5.0):
            tau_w = 0.5 + np.cumsum(expected[:, 1:], axis=-1)
            accepted = np.arange(1, n) >= c * tau_w
            tau = np.array([row[np.argmax(ok)] for row, ok in zip(tau_w, accepted, strict=True)])
            assert accepted.any(-1).all()
            got = integrated_autocorrelation_time(x, c=c)
            assert got.dtype == jnp.float64
            np.testing.assert_allclose(got, tau, rtol=1e-12)
            mean, err = mean_and_error(x, c=c)
            # negative tau_hat (white noise of 50 samples can give one) is clipped to 0
            expected_err = np.sqrt(2 * np.maximum(tau, 0) * acov[:, 0] / n)
            np.testing.assert_allclose(err, expected_err, rtol=1e-12)


def test_constant_series_has_no_nan():
    # rows 0.1, -3, 7: the float32 mean of 1000 copies of 0.1 is not exactly 0.1
    value = np.array([0.1, -3.0, 7.0])
    x = np.repeat(value[:, None], 1000, axis=1)
    for series in (x, x.astype(int), x[1]):  # undefined for a constant series: refused
        with pytest.raises(ValueError, match="x holds a constant series.*undefined"):
            integrated_autocorrelation_time(series)
    np.testing.assert_array_equal(autocorrelation(x)[:, 0], 1.0)
    np.testing.assert_array_equal(autocorrelation(x)[:, 1:], 0.0)
    for method in ("tau", "binning"):
        mean, err = mean_and_error(x, method)
        np.testing.assert_allclose(mean, value, rtol=1e-6)
        np.testing.assert_array_equal(err, 0.0)
    np.testing.assert_array_equal(binning_analysis(x)[1], 0.0)
    np.testing.assert_array_equal(specific_heat(x, 1.0, 4), 0.0)
    np.testing.assert_array_equal(susceptibility(x, 1.0, 4), 0.0)


def test_alternating_series_hand_result():
    # x = +1, -1, +1, ...: rho(1) = -(n-1)/n, so tau(W=1) = 1/2 - (n-1)/n < c tau(1) is
    # already accepted; the mean is exactly 0 and has no error (tau clipped at 0).
    n = 100
    x = np.tile([1.0, -1.0], n // 2)
    np.testing.assert_allclose(integrated_autocorrelation_time(x), 0.5 - (n - 1) / n, atol=1e-6)
    mean, err = mean_and_error(x)
    assert float(mean) == 0.0 and float(err) == 0.0


def hand_blocking_error(x: np.ndarray, b: int) -> np.ndarray:
    n_b = x.shape[-1] // b
    blocks = x[..., x.shape[-1] - n_b * b:].reshape(*x.shape[:-1], n_b, b).mean(-1)
    return blocks.std(-1, ddof=1) / np.sqrt(n_b)


def test_binning_against_hand_blocking():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 203)).cumsum(-1)  # correlated, odd length
    with jax.enable_x64(True):
        sizes, errors = binning_analysis(x)
        np.testing.assert_array_equal(sizes, [1, 2, 4, 8, 16, 32, 64])
        for k, b in enumerate(sizes):
            np.testing.assert_allclose(errors[:, k], hand_blocking_error(x, int(b)), rtol=1e-12)
        # min_bins = 8: 203 // 8 = 25 -> block 16 (12 blocks)
        np.testing.assert_allclose(binning_error(x, min_bins=8), hand_blocking_error(x, 16),
                                   rtol=1e-12)
        np.testing.assert_allclose(binning_error(x, min_bins=2), hand_blocking_error(x, 64),
                                   rtol=1e-12)
        mean, err = mean_and_error(x.T, "binning", min_bins=8, axis=0)
        np.testing.assert_allclose(mean, x.mean(-1), rtol=1e-12)
        np.testing.assert_allclose(err, hand_blocking_error(x, 16), rtol=1e-12)


def test_jackknife_of_mean_is_block_error():
    # For the sample mean the jackknife error equals the standard error of the block means
    # exactly; the leading n mod B = 3 samples are dropped.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 103))
    with jax.enable_x64(True):
        value, err = jackknife(lambda y: jnp.mean(y, axis=-1), x, n_blocks=10)
        np.testing.assert_allclose(value, x[:, 3:].mean(-1), rtol=1e-12)
        np.testing.assert_allclose(err, hand_blocking_error(x, 10), rtol=1e-10)
        # time axis first
        value0, err0 = jackknife(lambda y: jnp.mean(y, axis=0), x.T, n_blocks=10, axis=0)
        np.testing.assert_allclose(err0, err, rtol=1e-12)


def test_jackknife_two_series_pytree_against_hand_loop():
    rng = np.random.default_rng(4)
    a = rng.standard_normal(60) + 3.0
    b = rng.standard_normal(60) + 5.0
    B = 6

    def estimator(u, v):
        return {"ratio": jnp.mean(u) / jnp.mean(v), "product": jnp.mean(u * v)}

    theta_i = []
    for i in range(B):
        keep = np.ones(60, bool)
        keep[10 * i: 10 * (i + 1)] = False
        theta_i.append([a[keep].mean() / b[keep].mean(), (a[keep] * b[keep]).mean()])
    theta_i = np.array(theta_i)
    full = np.array([a.mean() / b.mean(), (a * b).mean()])
    err = np.sqrt((B - 1) / B * ((theta_i - theta_i.mean(0)) ** 2).sum(0))
    corrected = B * full - (B - 1) * theta_i.mean(0)
    with jax.enable_x64(True):
        value, error = jackknife(estimator, a, b, n_blocks=B)
        np.testing.assert_allclose([value["ratio"], value["product"]], full, rtol=1e-12)
        np.testing.assert_allclose([error["ratio"], error["product"]], err, rtol=1e-10)
        value, _ = jackknife(estimator, a, b, n_blocks=B, bias_corrected=True)
        np.testing.assert_allclose([value["ratio"], value["product"]], corrected, rtol=1e-10)


def test_jackknife_bias_correction_of_variance_is_exact():
    # Delete-1 jackknife (n_blocks = n) of the biased variance (1/n) gives exactly the
    # unbiased variance 1/(n-1) sum (x - mean)^2.
    x = np.random.default_rng(5).standard_normal(40)
    with jax.enable_x64(True):
        value, _ = jackknife(lambda y: jnp.var(y, axis=-1), x, n_blocks=40,
                             bias_corrected=True)
        np.testing.assert_allclose(value, x.var(ddof=1), rtol=1e-10)


def test_binder_two_valued_is_two_thirds():
    rng = np.random.default_rng(6)
    m0 = np.array([[0.3], [1.0], [0.05]])
    m = m0 * rng.choice([-1.0, 1.0], size=(3, 1001))
    np.testing.assert_allclose(binder_cumulant(m), 2.0 / 3.0, rtol=1e-6)
    with jax.enable_x64(True):
        np.testing.assert_allclose(binder_cumulant(m), 2.0 / 3.0, rtol=1e-14)
        np.testing.assert_allclose(binder_cumulant(m.T, axis=0), 2.0 / 3.0, rtol=1e-14)


def test_binder_gaussian_is_zero():
    # iid N(0,1): U4 = 1 - b2/3 with var(b2) = 24/n, so sd(U4) = sqrt(8/(3n)) = 1.6e-3 for
    # n = 10^6; bias -2/n is negligible.  Tolerance 4.5 sd.
    n = 1_000_000
    m = np.random.default_rng(7).standard_normal(n).astype(np.float32)
    assert abs(float(binder_cumulant(m))) < 4.5 * np.sqrt(8.0 / (3.0 * n))


def test_specific_heat_and_susceptibility_hand_formulas():
    e = np.array([-2.0, -1.5, -2.0, -1.0])
    # <e> = -1.625, <e^2> = 2.8125, var = 0.171875; N = 16, T = 2
    assert np.isclose(float(specific_heat(e, 2.0, 16)), 16 * 0.171875 / 4)
    m = np.array([0.5, -0.25, 1.0, -0.75])
    # <|m|> = 0.625, <m^2> = 0.46875
    assert np.isclose(float(susceptibility(m, 2.0, 16)), 16 * (0.46875 - 0.625**2) / 2)
    assert np.isclose(float(susceptibility(m, 2.0, 16, connected=False)), 16 * 0.46875 / 2)
    # batch over temperatures, time last, temperature broadcast against the batch axis
    temps = np.array([1.0, 2.0, 4.0])
    e3 = np.stack([e, 2 * e, e + 1])
    expected = 16 * np.array([1, 4, 1]) * 0.171875 / temps**2
    np.testing.assert_allclose(specific_heat(e3, temps, 16), expected, rtol=1e-6)
    np.testing.assert_allclose(specific_heat(e3.T, temps, 16, axis=0), expected, rtol=1e-6)
    m3 = np.stack([m, -m, 2 * m])
    expected = 16 * np.array([1, 1, 4]) * (0.46875 - 0.625**2) / temps
    np.testing.assert_allclose(susceptibility(m3, temps, np.int64(16)), expected, rtol=1e-6)
    # integer series are accepted (converted to floating point)
    assert np.isclose(float(specific_heat(np.array([1, -1, 1, -1]), 1.0, 1)), 1.0)


def test_jit_and_vmap():
    x = np.random.default_rng(8).standard_normal((3, 500)).astype(np.float32)
    tau = integrated_autocorrelation_time(x)
    np.testing.assert_allclose(jax.jit(integrated_autocorrelation_time)(x), tau, rtol=1e-6)
    np.testing.assert_allclose(jax.vmap(integrated_autocorrelation_time)(x), tau, rtol=1e-6)
    mean, err = mean_and_error(x)
    vm, ve = jax.vmap(mean_and_error)(x)
    np.testing.assert_allclose(vm, mean, rtol=1e-6)
    np.testing.assert_allclose(ve, err, rtol=1e-6)
    u, du = jax.jit(lambda y: jackknife(binder_cumulant, y, n_blocks=10))(x)
    u2, du2 = jackknife(binder_cumulant, x, n_blocks=10)
    np.testing.assert_allclose(u, u2, rtol=1e-5)
    np.testing.assert_allclose(du, du2, rtol=1e-5)
    np.testing.assert_allclose(jax.jit(binning_error)(x), binning_error(x), rtol=1e-6)


# ---------------------------------------------------------------- statistical checks


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_tau_int_of_ar1(rho):
    # 16 chains of 2*10^5 steps.  Sokal: var(tau_hat) ~ 2 (2W + 1) tau^2 / n with W ~ c tau;
    # we take W = ceil(c tau) + 1 (conservative: the observed spread is ~0.8 of this).  The
    # mean over 16 chains must lie within 4.5 of these sigma / sqrt(16).  Known biases are
    # smaller: window truncation rho^(W+1)/(1-rho) (0.057 = 0.8 sigma_mean for rho=0.9,
    # < 0.1 sigma_mean otherwise) and ~2 W tau / n = 0.005 from the estimated mean.
    n_chains, n = 16, 200_000
    x = ar1(np.random.default_rng(int(10 * rho) + 100), rho, (n_chains, n)).astype(np.float32)
    tau = np.asarray(integrated_autocorrelation_time(x))
    expected = exact_tau(rho)
    window = np.ceil(5.0 * expected) + 1
    sigma_mean = expected * np.sqrt(2 * (2 * window + 1) / n) / np.sqrt(n_chains)
    assert abs(tau.mean() - expected) < 4.5 * sigma_mean, (tau.mean(), expected, sigma_mean)


@pytest.mark.parametrize("rho", [0.5, 0.9])
def test_tau_error_of_mean_matches_spread(chains, rho):
    # Ratio of the rms reported error to (a) the observed spread of 1600 chain means
    # (noise 1.8 %, bias of the tau method ~ (2W+1)/(2n) <= 1.2 %): 10 % tolerance;
    # (b) the exact AR(1) error of the mean (noise of the rms error < 0.5 %): 4 % tolerance.
    x = chains[rho]
    mean, err = mean_and_error(x, "tau")
    rms = float(np.sqrt(np.mean(np.asarray(err, np.float64) ** 2)))
    spread = float(np.std(np.asarray(mean, np.float64), ddof=1))
    assert abs(rms / spread - 1) < 0.10, rms / spread
    assert abs(rms / exact_error_of_mean(rho, N_STEPS) - 1) < 0.04
    np.testing.assert_allclose(mean, x.mean(-1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("rho, min_bins", [(0.5, 32), (0.9, 16)])
def test_binning_error_matches_spread(chains, rho, min_bins):
    # Blocks of b = 128 (rho=0.5) / 256 (rho=0.9) samples underestimate the variance by the
    # known factor 1 - 2 rho / ((1 - rho^2) b) (0.99 / 0.963), which is divided out; then as
    # above: 10 % vs the spread (noise 1.8 %), 4 % vs the exact error (noise <= 0.5 %).
    x = chains[rho]
    block = N_STEPS // min_bins  # a power of two here
    blocking_bias = np.sqrt(1 - 2 * rho / ((1 - rho**2) * block))
    err = np.asarray(binning_error(x, min_bins=min_bins), np.float64)
    rms = np.sqrt(np.mean(err**2)) / blocking_bias
    spread = np.std(x.astype(np.float64).mean(-1), ddof=1)
    assert abs(rms / spread - 1) < 0.10, rms / spread
    assert abs(rms / exact_error_of_mean(rho, N_STEPS) - 1) < 0.04


def test_jackknife_binder_and_specific_heat_of_ar1(chains):
    # rho = 0.5 chains, 32 blocks of 128 >> tau = 1.5 samples.
    x = chains[0.5]
    u, du = jackknife(binder_cumulant, x, bias_corrected=True)
    u, du = np.asarray(u, np.float64), np.asarray(du, np.float64)
    spread = u.std(ddof=1)
    # error bar vs spread of 1600 independent estimates (noise 1.8 %, block bias ~1 %)
    assert abs(np.sqrt(np.mean(du**2)) / spread - 1) < 0.10
    # exact U4 = 0; the bias-corrected value has no O(1/n) bias (the plain one is biased by
    # ~2.4 sigma_mean here), tolerance 4.5 sigma of the mean of 1600.
    assert abs(u.mean()) < 4.5 * spread / np.sqrt(N_CHAINS)

    # specific heat with N = T = 1 is the biased variance; exact asymptotic error
    # sqrt(2 (1 + rho^2) / ((1 - rho^2) n)) (corrections O(tau/n) ~ 0.1 %)
    c, dc = jackknife(lambda e: specific_heat(e, 1.0, 1), x)
    c, dc = np.asarray(c, np.float64), np.asarray(dc, np.float64)
    rms = np.sqrt(np.mean(dc**2))
    assert abs(rms / c.std(ddof=1) - 1) < 0.10
    assert abs(rms / np.sqrt(2 * 1.25 / (0.75 * N_STEPS)) - 1) < 0.04


# --------------------------------------------------------------------------- bad input


def test_bad_series_name_the_argument():
    good = np.ones(100)
    bad_nan = good.copy()
    bad_nan[3] = np.nan
    for fn in (integrated_autocorrelation_time, autocorrelation, binning_analysis,
               binning_error, mean_and_error):
        with pytest.raises(ValueError, match="x must be finite"):
            fn(bad_nan)
        with pytest.raises(ValueError, match="x is empty"):
            fn(np.zeros((3, 0)))
        with pytest.raises(ValueError, match="x must be an array with a time axis"):
            fn(np.float32(1.0))
        with pytest.raises(ValueError, match="x has 1 samples"):
            fn(np.ones(1))
        with pytest.raises(TypeError, match="x must be real"):
            fn(np.ones(10, complex))
        with pytest.raises(ValueError, match="axis must be in"):
            fn(good, axis=2)
    with pytest.raises(ValueError, match="x has 20 samples.*at least 32"):
        binning_error(np.ones(20))
    with pytest.raises(ValueError, match="min_bins"):
        binning_error(good, min_bins=1)
    with pytest.raises(TypeError, match="min_bins"):
        binning_error(good, min_bins=8.0)
    with pytest.raises(ValueError, match="c must be > 0"):
        integrated_autocorrelation_time(good, c=0.0)
    with pytest.raises(ValueError, match="c must be"):
        mean_and_error(good, c=np.nan)
    with pytest.raises(ValueError, match="method must be one of"):
        mean_and_error(good, method="bootstrap")
    with pytest.raises(TypeError, match="x must be a real numeric"):
        mean_and_error(np.array(["a", "b"]))


def test_bad_thermodynamic_inputs_name_the_argument():
    e = np.array([-2.0, -1.0, -1.5])
    for t in (0.0, -1.0, np.nan, np.array([1.0, -2.0])):
        with pytest.raises(ValueError, match="temperature"):
            specific_heat(e, t, 4)
        with pytest.raises(ValueError, match="temperature"):
            susceptibility(e, t, 4)
    for n in (0, -3):
        with pytest.raises(ValueError, match="n_spins"):
            specific_heat(e, 1.0, n)
    for n in (2.5, 4.0, True):
        with pytest.raises(TypeError, match="n_spins"):
            susceptibility(e, 1.0, n)
    with pytest.raises(ValueError, match="e must be finite"):
        specific_heat(np.array([1.0, np.inf]), 1.0, 4)
    with pytest.raises(ValueError, match="m is empty"):
        susceptibility(np.array([]), 1.0, 4)
    with pytest.raises(ValueError, match="m must be finite"):
        binder_cumulant(np.array([0.1, np.nan]))
    with pytest.raises(ValueError, match="m is identically zero"):
        binder_cumulant(np.zeros((2, 10)))


def test_bad_jackknife_inputs():
    x = np.ones(100)
    with pytest.raises(TypeError, match="estimator must be a callable"):
        jackknife(x, x)
    with pytest.raises(TypeError, match="at least one series"):
        jackknife(binder_cumulant)
    with pytest.raises(ValueError, match="n_blocks"):
        jackknife(binder_cumulant, x, n_blocks=1)
    with pytest.raises(ValueError, match="series has 100 samples.*at least 200"):
        jackknife(binder_cumulant, x, n_blocks=200)
    with pytest.raises(ValueError, match="same length"):
        jackknife(lambda a, b: jnp.mean(a * b), x, np.ones(99))
    with pytest.raises(ValueError, match=r"series\[1\] must be finite"):
        jackknife(lambda a, b: jnp.mean(a * b), x, np.full(100, np.nan))
