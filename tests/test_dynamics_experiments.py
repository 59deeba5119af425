"""The dynamics experiments (``physjax/experiments/dynamics.py``) at quick size, with
physics checks that a wrong implementation would fail: the BBP overlap of gradient flow
and its finite-temperature value for Langevin, the matrix channel's overlap, the hardness
of tensor PCA from a random start, the glassy energy and aging of the 3-spin quench, and
the under- vs over-parametrized SGD dynamics.  Seeds are fixed; margins are stated."""

from __future__ import annotations

import numpy as np
import pytest

from physjax.experiments import dynamics as dx
from physjax.experiments import names


@pytest.fixture(scope="module")
def recovery(tmp_path_factory, run_quick_experiment):
    return run_quick_experiment("spiked-recovery", tmp_path_factory, snrs=(0.5, 2.0, 3.0),
                wigner_replicas=4, wigner_n=300)


@pytest.fixture(scope="module")
def aging(tmp_path_factory, run_quick_experiment):
    return run_quick_experiment("aging", tmp_path_factory, pspin_replicas=24, sgd_replicas=2)


def test_registered():
    assert {"spiked-recovery", "aging"} <= set(names())


def test_theory_curves():
    np.testing.assert_allclose(dx.wigner_equilibrium_overlap([0.5, 1.0, 2.0], 0.0),
                               [0.0, 0.0, 0.75])
    np.testing.assert_allclose(dx.wigner_equilibrium_overlap(2.0, 0.5), 0.75 * 0.75)
    assert dx.wigner_equilibrium_overlap(2.0, 2.5) == 0.0
    # matrix channel with noise Delta2 is a spiked Wigner matrix with lambda = Delta2^-1/2
    np.testing.assert_allclose(dx.matrix_channel_overlap(0.25, 0.0), 0.75)
    np.testing.assert_allclose(dx.matrix_channel_overlap(0.25, 1.0), 0.75**2)
    assert dx.matrix_channel_overlap(1.5, 0.0) == 0.0


def test_wigner_gradient_flow_reaches_bbp_overlap(recovery):
    """N = 300, 4 instances per SNR.  m^2 of the top eigenvector fluctuates by
    O(N^-1/2) ~ 0.06 per instance and is biased low by O(1/N); tolerance 0.06 on the mean.
    Below the BBP point m^2 = O(1/N) (measured 0.005)."""
    s = recovery.summary
    for lam in (2.0, 3.0):
        assert abs(s[f"wigner_gf_m2_snr{lam:g}"] - (1 - 1 / lam**2)) < 0.06
    assert s["wigner_gf_m2_snr0.5"] < 0.05
    # the recorded trajectories start from a random point: m^2(0) = O(1/N)
    m2 = recovery.data["wigner_m2"]                    # (G, R, 2 dynamics, n_records)
    assert np.all(m2[:, :, :, 0] < 0.05)


def test_wigner_langevin_reaches_finite_temperature_overlap(recovery):
    """Langevin at T = 0.5 equilibrates to (1 - T/lambda)(1 - 1/lambda^2) (0.5625 and
    0.741), below the gradient-flow value: thermal fluctuations off the top eigenvector."""
    s, T = recovery.summary, recovery.data["wigner_temperature"]
    for lam in (2.0, 3.0):
        theory = dx.wigner_equilibrium_overlap(lam, T)
        assert abs(s[f"wigner_langevin_m2_snr{lam:g}"] - theory) < 0.07
        assert s[f"wigner_langevin_m2_snr{lam:g}"] < s[f"wigner_gf_m2_snr{lam:g}"] - 0.1
    assert s["wigner_langevin_m2_snr0.5"] < 0.05


def test_matrix_tensor_channels(recovery):
    """N = 64, Delta2 = 0.5, Delta3 = 1.  Matrix channel alone: gradient flow reaches
    |m| ~ sqrt(1 - Delta2) = 0.71 (finite N: measured 0.79; tolerance 0.15).  Tensor alone
    from a random start: no replica recovers (the drift is O(m^2) at the equator).  Mixed:
    the replicas that recover go beyond the matrix channel's overlap (the tensor adds
    signal), the others are caught by spurious minima."""
    s, d = recovery.summary, recovery.data
    assert abs(s["mt_gf_mean_abs_m_matrix_d2=0.5"] - np.sqrt(0.5)) < 0.15
    assert s["mt_gf_recovered_fraction_tensor_d3=1"] == 0.0
    assert s["mt_gf_mean_abs_m_tensor_d3=1"] < 0.3
    configs = d["mt_configs"]
    mixed = configs.index("mixed Δ2=0.5, Δ3=1")
    matrix = configs.index("matrix Δ2=0.5")
    final_mixed = d["mt_m"][mixed, 0, :, -1]
    assert 0 < s["mt_gf_recovered_fraction_mixed_d2=0.5_d3=1"] < 1
    assert final_mixed.max() > np.abs(d["mt_m"][matrix, 0, :, -1]).mean()
    # Langevin at T = 1 (Bayes posterior) on the matrix channel: |m| ~ 1 - Delta2 = 0.5
    # with thermal fluctuations of O(N^-1/2) per replica
    assert abs(s["mt_langevin_mean_abs_m_matrix_d2=0.5"] - 0.5) < 0.15


def test_p_spin_quench_ages(aging):
    """Quench to T = 0.3 < T_d = 0.612: the energy falls below the paramagnetic value at
    T_d, -1/(2 T_d) = -0.82, but stays above the ground state (-1.17, N -> inf; -1.25 leaves
    room for N = 48); older systems decorrelate more slowly, and t/t_w collapses the
    correlation better than t (time-translation invariance fails)."""
    s, d = aging.summary, aging.data
    assert -1.25 < s["pspin_final_energy"] < -1 / (2 * dx.P_SPIN_3_DYNAMICAL_TEMPERATURE)
    corr = d["pspin_C"]                                 # (n_w, n_lag)
    assert np.all(corr[:, 0] > 0.9)                     # C(t_w, t_w + dt) ~ 1
    assert corr[-1, -1] > corr[0, -1] + 0.2
    assert s["pspin_C_spread_t_over_tw"] < 0.7 * s["pspin_C_spread_t"]


def test_sgd_under_vs_over_parametrized(aging):
    """Width 3 (235 parameters for 1500 images) cannot fit the digits; width 64 (4810)
    fits them.  Both ages on long lags (MSD at fixed lag falls with t_w); the over-
    parametrized net slows down as a whole as its loss vanishes (its one-step
    displacement, the SGD noise, falls with t_w), the under-parametrized one keeps a
    finite loss and a stationary one-step motion."""
    s, d = aging.summary, aging.data
    assert s["sgd_diverged"] == 0.0
    assert s["sgd_w3_parameters_per_sample"] < 1 < s["sgd_w64_parameters_per_sample"]
    assert s["sgd_w64_final_train_accuracy"] > 0.98
    assert s["sgd_w3_final_train_accuracy"] < 0.9
    assert s["sgd_w64_final_train_loss"] < 0.1 * s["sgd_w3_final_train_loss"]
    msd = d["sgd_msd"]                                  # (G, n_w, n_lag)
    # grows with the lag: by decades overall, monotonically over the longer lags (on
    # short lags the under-parametrized net rattles in a basin and may dip slightly)
    assert np.all(msd[:, :, -1] > 100 * msd[:, :, 0])
    assert np.all(np.diff(msd[:, :, msd.shape[-1] // 2:], axis=-1) > 0)
    assert np.all(msd[:, -1, -1] < 0.5 * msd[:, 0, -1])  # aging on long lags
    short = msd[:, :, :3].mean(-1)                      # the first three lags
    assert short[1, -1] < 0.5 * short[1, 0]             # over: the noise dies out (0.25)
    assert short[0, -1] > short[0, 0]                   # under: it does not (x4)
