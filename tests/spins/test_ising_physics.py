"""Lattice Ising samplers against exact results.

Error bars come from independent replicas: each replica's time average is one
independent sample (burn-in discarded), so the standard error is the spread over
replicas / sqrt(R) and needs no autocorrelation model.  Tolerances are 4 sigma
(a correct sampler fails one comparison in ~16 000).  Seeds are fixed.
"""

import jax
import numpy as np
import pytest
from scipy import stats

from physjax.spins import exact
from physjax.spins.models import IsingLattice
from physjax.spins.samplers import sample_ising
from tests.helpers import replica_mean

TC = exact.CRITICAL_TEMPERATURE_2D




ENGINES_RULES = [("multispin", "metropolis"), ("multispin", "heat_bath"),
                 ("reference", "metropolis"), ("reference", "heat_bath")]


@pytest.mark.parametrize("engine,rule", ENGINES_RULES)
@pytest.mark.parametrize("temperature", [2.0, 2.269, 3.0])
def test_4x4_matches_exact_enumeration(engine, rule, temperature):
    """<E>/N and <m^2> within 4 sigma of the 2^16-state enumeration; chi^2 test of P(E).

    Checkerboard Metropolis is not ergodic from every start on a lattice this small
    (a 2x2-block pattern has dE = 0 everywhere and flips back and forth for ever), so
    the chains start ordered, which lies in the ergodic class.
    """
    ex = exact.enumerate_ising((4, 4), temperature)
    R = 128 if engine == "multispin" else 64
    n = 3000 if engine == "multispin" else 2000
    s = sample_ising(jax.random.key(int(temperature * 1000)), IsingLattice((4, 4)),
                     np.full(R, temperature), n, rule=rule, burn_in=200, start="up",
                     engine=engine)
    e, de = replica_mean(s.energy)
    m2, dm2 = replica_mean(np.asarray(s.magnetization) ** 2)
    assert abs(e - ex.energy_per_spin) < 4 * de, (e, de, ex.energy_per_spin)
    assert abs(m2 - ex.m2) < 4 * dm2, (m2, dm2, ex.m2)

    # chi^2 of the energy histogram: one sample every 10 sweeps (>> tau_int(E) ~ 2 sweeps
    # at 4x4), levels with expected count < 5 merged into their neighbour.
    E = np.round(np.asarray(s.energy)[:, ::10].ravel() * 16).astype(int)
    levels = np.round(ex.energy_levels).astype(int)
    observed = np.array([(E == lv).sum() for lv in levels], dtype=float)
    assert observed.sum() == E.size  # every sampled energy is an allowed level
    expected = ex.energy_probabilities * E.size
    obs_m, exp_m = [], []
    acc_o = acc_e = 0.0
    for o, x in zip(observed, expected, strict=True):
        acc_o += o
        acc_e += x
        if acc_e >= 5:
            obs_m.append(acc_o)
            exp_m.append(acc_e)
            acc_o = acc_e = 0.0
    obs_m[-1] += acc_o
    exp_m[-1] += acc_e
    chi2 = stats.chisquare(obs_m, exp_m)
    assert chi2.pvalue > 0.01, chi2


def test_L64_low_temperature_matches_onsager_yang():
    T = 2.0
    s = sample_ising(jax.random.key(2), IsingLattice((64, 64)), np.full(32, T), 1000,
                     burn_in=300, start="up")
    abs_m, _ = replica_mean(np.abs(s.magnetization))
    e, _ = replica_mean(s.energy)
    assert abs(abs_m - exact.onsager_yang_magnetization(T)) < 0.01  # 0.9113
    assert abs(e - exact.onsager_energy_per_spin(T)) < 0.01  # -1.7456


def _binder_curves(L, temperatures, n_rep, n_sweeps, burn_in, key):
    s = sample_ising(jax.random.key(key), IsingLattice((L, L)),
                     np.repeat(temperatures, n_rep), n_sweeps, burn_in=burn_in,
                     record_every=2)
    m = np.asarray(s.magnetization, dtype=np.float64).reshape(len(temperatures), n_rep, -1)
    m2, m4 = (m**2).mean(-1), (m**4).mean(-1)
    return 1 - m4.mean(1) / (3 * m2.mean(1) ** 2)


def _crossing(T, u_small, u_large):
    d = u_large - u_small  # > 0 below Tc, < 0 above
    i = np.nonzero((d[:-1] > 0) & (d[1:] <= 0))[0]
    assert i.size == 1, d
    i = i[0]
    return T[i] + (T[i + 1] - T[i]) * d[i] / (d[i] - d[i + 1])


@pytest.mark.slow
def test_binder_cumulants_cross_at_onsager_tc():
    """U4 of L = 16, 32, 64 cross within 1% of Tc (jackknife errors of U4 are ~0.003 at
    L=64, which moves the crossing by < 0.3%)."""
    T = np.array([2.22, 2.245, 2.27, 2.295, 2.32])
    U = {L: _binder_curves(L, T, 64, n, 1500, L)
         for L, n in [(16, 3000), (32, 4000), (64, 6000)]}
    for a, b in [(16, 32), (32, 64)]:
        tx = _crossing(T, U[a], U[b])
        assert abs(tx - TC) / TC < 0.01, (a, b, tx)


@pytest.mark.slow
@pytest.mark.parametrize("L,n_sweeps", [(32, 4000), (64, 6000)])
def test_energy_and_specific_heat_at_tc_match_kaufman(L, n_sweeps):
    ref = exact.exact_finite_lattice(L, TC)
    s = sample_ising(jax.random.key(100 + L), IsingLattice((L, L)), np.full(96, TC), n_sweeps,
                     burn_in=1500)
    e, de = replica_mean(s.energy)
    assert abs(e - ref.energy_per_spin) < 4 * de, (e, de, ref.energy_per_spin)
    # specific heat per replica N var(e)/T^2; its bias from autocorrelation,
    # -2 tau_int(E)/n ~ 1e-3 relative, is far below the 4 sigma window (~5%).
    c_rep = L * L * np.asarray(s.energy, dtype=np.float64).var(axis=1, ddof=1) / TC**2
    c, dc = c_rep.mean(), c_rep.std(ddof=1) / np.sqrt(c_rep.size)
    assert abs(c - ref.specific_heat) < 4 * dc, (c, dc, ref.specific_heat)


@pytest.mark.slow  # both rules are checked against exact 4x4 enumeration in CI
def test_heat_bath_and_metropolis_agree_at_tc():
    model = IsingLattice((32, 32))
    res = [replica_mean(sample_ising(jax.random.key(k), model, np.full(64, TC), 2000,
                                     burn_in=1000, rule=rule).energy)
           for k, rule in [(11, "metropolis"), (12, "heat_bath")]]
    (e1, d1), (e2, d2) = res
    assert abs(e1 - e2) < 4 * np.hypot(d1, d2), res


def test_three_dimensional_lattice_matches_enumeration():
    shape, T = (2, 2, 4), 4.5
    ex = exact.enumerate_ising(shape, T, h=0.1)
    for rule in ("metropolis", "heat_bath"):
        model = IsingLattice(shape, h=0.1)
        s = sample_ising(jax.random.key(5), model, np.full(128, T), 2000, burn_in=200,
                         rule=rule, start="up")
        e, de = replica_mean(s.energy)
        assert abs(e - ex.energy_per_spin) < 4 * de, (rule, e, de, ex.energy_per_spin)


def test_fluctuation_estimators_and_error_bars_on_sampled_chains():
    """Specific heat, susceptibility and Binder cumulant from the observables module on
    4x4 chains match enumeration; each chain's autocorrelation-aware error bar (tau_int
    for <e>, jackknife for C) agrees with the spread over 64 independent chains."""
    from physjax.spins import observables as ob

    T, N, R = 2.5, 16, 64
    ex = exact.enumerate_ising((4, 4), T)
    s = sample_ising(jax.random.key(21), IsingLattice((4, 4)), np.full(R, T), 8192,
                     burn_in=200, start="up")
    e = np.asarray(s.energy, np.float64)
    m = np.asarray(s.magnetization, np.float64)
    means, errs = ob.mean_and_error(e)
    # the spread of R chain means estimates the true error with relative noise 1/sqrt(2R)
    assert np.std(means, ddof=1) / np.sqrt(np.mean(np.asarray(errs) ** 2)) == pytest.approx(
        1.0, abs=4 / np.sqrt(2 * R))
    assert abs(np.mean(means) - ex.energy_per_spin) < 4 * np.std(means, ddof=1) / np.sqrt(R)
    c, dc = ob.jackknife(lambda x: ob.specific_heat(x, T, N), e)
    c, dc = np.asarray(c), np.asarray(dc)
    assert np.std(c, ddof=1) / np.sqrt(np.mean(dc**2)) == pytest.approx(1.0, abs=4 / np.sqrt(2 * R))
    # C from one chain has an O(tau/n) bias; with n = 8192 it is ~1e-3, far below 4 sigma
    assert abs(c.mean() - ex.specific_heat) < 4 * c.std(ddof=1) / np.sqrt(R)
    chi = np.asarray(ob.susceptibility(m, T, N))
    assert abs(chi.mean() - ex.susceptibility) < 4 * chi.std(ddof=1) / np.sqrt(R)
    m2, m4 = (m**2).mean(), (m**4).mean()
    assert abs(1 - m4 / (3 * m2**2) - ex.binder) < 0.0015  # replica-jackknife error 3e-4
    assert float(ob.binder_cumulant(m.ravel())) == pytest.approx(1 - m4 / (3 * m2**2), rel=1e-6)
