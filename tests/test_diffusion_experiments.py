"""The registered diffusion and phi4 experiments at quick size (issue 19): each writes its
figure and JSON, and its headline numbers are checked against the predictions of the
theory the experiment illustrates (not against stored outputs)."""

import pytest

from physjax.experiments import names


@pytest.fixture(scope="module")
def regimes(tmp_path_factory, run_quick_experiment):
    return run_quick_experiment("diffusion-regimes", tmp_path_factory)


def test_diffusion_experiments_are_registered():
    assert {"diffusion-regimes", "phi4"} <= set(names())


def test_regimes_measures_speciation_near_half_log_lambda(regimes):
    """Two-cluster data in d = 100: the clones' same-class probability crosses 3/4 within
    0.3 of t_S = (1/2) log Lambda (Biroli et al. 2024; the quick run has 5 U-turn times)."""
    s = regimes.summary
    assert abs(s["t_S_measured_d100"] - s["t_S_predicted_d100"]) < 0.3, s


def test_regimes_measures_collapse_near_the_excess_entropy_time(regimes):
    """Empirical score, three (n, d) pairs: the nearest training point's posterior weight
    crosses 1/2 within 0.3 of the excess-entropy collapse time, and t_C falls with n at
    fixed d and rises with d at fixed n (both measured and predicted)."""
    s = regimes.summary
    assert s["t_C_max_abs_deviation"] < 0.3, s
    for kind in ("predicted", "measured"):
        assert s[f"t_C_{kind}_n1000_d16"] < s[f"t_C_{kind}_n100_d16"] < s[f"t_C_{kind}_n100_d32"]
