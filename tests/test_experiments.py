"""The registered experiments, run at quick size through ``run_experiment``.

Physics checks compare with exact results (Onsager, Onsager–Yang, Kaufman) using the error
bars the experiment reports; the tolerances are stated next to each check.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from physjax.experiments import get, run_experiment
from physjax.spins import (
    CRITICAL_TEMPERATURE_2D,
    exact_finite_lattice,
    onsager_energy_per_spin,
    onsager_yang_magnetization,
)

TC = CRITICAL_TEMPERATURE_2D
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# One quick ising run (tens of seconds of Monte Carlo) serves every test here: compiled with
# full optimization.
pytestmark = pytest.mark.compute_bound

_ISING_PROGRESS = []   # (done, total) reports of the quick ising run


@pytest.fixture(scope="module")
def ising(tmp_path_factory):
    out = tmp_path_factory.mktemp("ising")
    result = run_experiment("ising", size="quick", out_dir=out,
                            progress=lambda d, t: _ISING_PROGRESS.append((d, t)))
    return result, out, get("ising").params("quick")


def test_ising_reports_progress_many_times_per_size(ising):
    """Progress comes in many small steps, not once per lattice size (a run of tens of
    seconds must not go silent for most of it): at least 20 reports per size, increasing,
    ending at the total."""
    _, _, params = ising
    done = [d for d, _ in _ISING_PROGRESS]
    totals = {t for _, t in _ISING_PROGRESS}
    assert len(done) >= 20 * len(params["sizes"])
    assert len(totals) == 1 and done[-1] == totals.pop()
    assert all(b >= a for a, b in zip(done, done[1:], strict=False))


def test_ising_writes_figure_and_json(ising):
    result, out, params = ising
    assert (out / "ising.png").read_bytes()[:8] == PNG_MAGIC
    record = json.loads((out / "ising.json").read_text())
    assert record["name"] == "ising" and record["size"] == "quick"
    assert record["summary"].keys() == result.summary.keys()
    assert np.allclose(record["data"]["temperatures"], result.data["temperatures"])
    assert result.figure is not None


def test_ising_data_shapes(ising):
    result, _, params = ising
    d = result.data
    sizes = tuple(params["sizes"])
    assert tuple(d["sizes"]) == sizes
    t = np.asarray(d["temperatures"])
    # uniform grid plus a denser window of n_critical points around T_c (T_c included)
    assert np.all(np.diff(t) > 0) and np.isclose(t, TC).sum() == 1
    assert t[0] == params["t_min"] and t[-1] == params["t_max"]
    window = np.abs(t - TC) <= params["critical_window"] + 1e-9
    assert window.sum() == params["n_critical"]
    assert params["n_temperatures"] - 3 <= (~window).sum() <= params["n_temperatures"]
    for name in ("energy", "abs_magnetization", "binder", "susceptibility"):
        for key in (name, f"{name}_err"):
            a = np.asarray(d[key])
            assert a.shape == (len(sizes), t.size), key
            assert np.all(np.isfinite(a)), key
        assert np.all(np.asarray(d[f"{name}_err"]) >= 0)
    snaps = np.asarray(d["snapshots"])
    n_snap = len(params["snapshot_temperatures"])
    assert snaps.shape == (n_snap, sizes[-1], sizes[-1])
    assert set(np.unique(snaps)) <= {-1, 1}
    for v in result.summary.values():
        assert np.isscalar(v)


def test_ising_magnetization_at_lowest_temperature_is_onsager_yang(ising):
    # T = 1.5: correlation length ~ 1, so the finite-size correction of <|m|> at L = 32 is
    # exponentially small; the reported error is ~1e-4, the tolerance 0.005 is > 30 sigma
    # and still far below any wrong acceptance rule's effect (m0 changes by ~0.01 per 0.1 T).
    result, _, params = ising
    d = result.data
    m0 = onsager_yang_magnetization(params["t_min"])
    i = -1  # largest L
    assert abs(d["abs_magnetization"][i][0] - m0) < 0.005
    assert d["abs_magnetization_err"][i][0] < 0.001
    assert result.summary["onsager_yang_lowest_T"] == pytest.approx(m0)


def test_ising_energy_above_tc_is_onsager(ising):
    # T >= 3, L >= 16: |e_Kaufman(L) - e_Onsager| < 4e-4; reported errors <= 0.002, so the
    # tolerance 0.015 is > 7 sigma.
    result, _, params = ising
    d = result.data
    t = np.asarray(d["temperatures"])
    hot = t >= 3.0
    assert hot.sum() >= 3
    checked = 0
    for i, L in enumerate(d["sizes"]):
        if L < 16:
            continue
        e = np.asarray(d["energy"][i])[hot]
        assert np.all(np.asarray(d["energy_err"][i])[hot] < 0.003)
        np.testing.assert_allclose(e, onsager_energy_per_spin(t[hot]), atol=0.015)
        checked += 1
    assert checked >= 2


def test_ising_energy_matches_kaufman_within_errors(ising):
    # Every (L, T) point against the exact finite lattice; with 32 replicas the
    # z-score follows Student's t with 31 dof, P(|t| > 6) ~ 1e-6 per point.
    result, _, _ = ising
    d = result.data
    t = np.asarray(d["temperatures"])
    for i, L in enumerate(d["sizes"]):
        exact = exact_finite_lattice(int(L), t).energy_per_spin
        np.testing.assert_allclose(d["kaufman_energy"][i], exact)
        z = (np.asarray(d["energy"][i]) - exact) / np.asarray(d["energy_err"][i])
        assert np.max(np.abs(z)) < 6.0, (L, z)
    assert result.summary["max_abs_z_energy_vs_kaufman"] < 6.0


def test_ising_binder_cumulant_and_susceptibility(ising):
    result, _, params = ising
    d = result.data
    t = np.asarray(d["temperatures"])
    u = np.asarray(d["binder"])
    # ordered phase: U4 -> 2/3; disordered phase of the largest L: U4 -> 0 (error ~0.015)
    np.testing.assert_allclose(u[:, 0], 2 / 3, atol=0.01)
    assert abs(u[-1, -1]) < 0.1
    # crossing of the two largest sizes: jackknife error ~0.02, tolerance 0.1
    crossing = result.summary["binder_crossing_T"]
    assert abs(crossing - TC) < 0.1
    assert 0 < result.summary["binder_crossing_err"] < 0.05
    assert result.summary["binder_crossing_minus_Tc"] == pytest.approx(crossing - TC)
    # susceptibility peak of the largest L just above T_c (pseudo-critical point)
    peak = t[np.argmax(d["susceptibility"][-1])]
    assert TC - 0.05 <= peak <= TC + 0.3
    # ... and it grows with L (gamma/nu = 7/4)
    peaks = np.max(np.asarray(d["susceptibility"]), axis=1)
    assert np.all(np.diff(peaks) > 0)
