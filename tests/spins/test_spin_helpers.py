"""Public spin helpers not exercised elsewhere: neighbour sums, replica overlaps, correlated
patterns, the temperature-ladder check and the low-level multi-spin loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physjax.spins as ps


def test_neighbour_sum_is_the_periodic_four_neighbour_sum():
    s = np.where(np.random.default_rng(0).random((6, 5)) < 0.5, -1, 1).astype(np.int8)
    expected = sum(np.roll(s, shift, axis) for shift in (1, -1) for axis in (0, 1))
    np.testing.assert_array_equal(ps.neighbour_sum(jnp.asarray(s)), expected)
    s3 = np.where(np.random.default_rng(1).random((3, 4, 5)) < 0.5, -1, 1).astype(np.int8)
    expected3 = sum(np.roll(s3, shift, axis) for shift in (1, -1) for axis in (0, 1, 2))
    np.testing.assert_array_equal(ps.neighbour_sum(jnp.asarray(s3)), expected3)


def test_replica_overlaps_match_their_definition():
    s = np.where(np.random.default_rng(2).random((4, 50)) < 0.5, -1, 1).astype(np.float32)
    q = np.asarray(ps.overlap_matrix(jnp.asarray(s)))
    np.testing.assert_allclose(q, s @ s.T / 50, atol=1e-6)
    np.testing.assert_allclose(np.diag(q), 1.0)
    np.testing.assert_allclose(ps.replica_overlap(jnp.asarray(s[0]), jnp.asarray(s[3])),
                               s[0] @ s[3] / 50, atol=1e-6)


def test_correlated_patterns_have_pair_correlation_c_squared():
    """<xi^mu_i xi^nu_i> = c^2 for mu != nu; with 20 000 sites the standard error of the
    site average is ~ sqrt(1 - c^4) / sqrt(20000) < 0.008."""
    c = 0.6
    xi = np.asarray(ps.correlated_patterns(jax.random.key(0), 3, 20_000, correlation=c),
                    np.float64)
    assert set(np.unique(xi)) == {-1.0, 1.0}
    corr = xi @ xi.T / xi.shape[1]
    off = corr[~np.eye(3, dtype=bool)]
    np.testing.assert_allclose(off, c**2, atol=0.04)


def test_temperature_ladder_check():
    np.testing.assert_array_equal(ps.check_temperature_ladder([1.0, 2.0, 3.0]), [1.0, 2.0, 3.0])
    for bad in ([2.0, 1.0], [1.0, 1.0], [], [0.0, 1.0], [1.0, np.nan]):
        with pytest.raises(ValueError, match="temperatures"):
            ps.check_temperature_ladder(bad)


def test_multispin_loop_at_zero_field_low_temperature_keeps_order():
    """From the all-up state at T = 1 (m ~ 0.9993 for the infinite lattice), a 16x16 lattice
    stays ordered; the unpacked spins and the recorded magnetization agree."""
    model = ps.IsingLattice((16, 16))
    temps = jnp.full((3,), 1.0)
    state = ps.init_multispin(jax.random.key(0), model, temps, start="up")
    np.testing.assert_array_equal(ps.multispin_spins(model, state)[:3], 1)
    state = ps.multispin_sweep(jax.random.key(1), model, state)
    state, trace = ps.run_multispin(jax.random.key(2), model, state, 200, record_every=10)
    spins = np.asarray(ps.multispin_spins(model, state))[:3].astype(np.float64)
    m_final = spins.reshape(3, -1).mean(1)
    np.testing.assert_allclose(np.asarray(trace.magnetization)[-1, :3], m_final, atol=1e-6)
    assert np.all(np.asarray(trace.magnetization)[:, :3] > 0.95)
