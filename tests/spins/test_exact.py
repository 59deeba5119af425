"""Exact Ising references: enumeration, Kaufman's finite lattice, Onsager/Yang.

Every check is against an independent computation (a brute-force loop written
here, a different exact formula, a limit known in closed form, or a published
value), never against numbers the code itself produced.
"""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physjax.spins.exact import (
    CRITICAL_TEMPERATURE_2D,
    _lattice_energy,
    enumerate_ising,
    exact_finite_lattice,
    kaufman_log_partition,
    onsager_energy_per_spin,
    onsager_specific_heat,
    onsager_yang_magnetization,
)

TC = CRITICAL_TEMPERATURE_2D


def energy_by_loops(s, J, h):
    """H = -J sum_i sum_axis s_i s_(i + e_axis) - h sum_i s_i, one site at a time."""
    e = 0.0
    for site in itertools.product(*(range(side) for side in s.shape)):
        for axis in range(s.ndim):
            nb = list(site)
            nb[axis] = (nb[axis] + 1) % s.shape[axis]
            e -= J * s[site] * s[tuple(nb)]
        e -= h * s[site]
    return e


def brute_force(shape, temperature, J, h):
    """Loop over every state; neighbours by explicit modular indexing."""
    n = math.prod(shape)
    energies, mags = [], []
    for values in itertools.product((-1, 1), repeat=n):
        energies.append(energy_by_loops(np.reshape(values, shape), J, h))
        mags.append(sum(values) / n)
    E, m = np.array(energies), np.array(mags)
    w = np.exp(-(E - E.min()) / temperature)
    Z = w.sum()
    p = w / Z
    mean_e = p @ E
    levels = np.unique(np.round(E, 10))
    return dict(
        log_partition=np.log(Z) - E.min() / temperature,
        energy_per_spin=mean_e / n,
        specific_heat=(p @ (E - mean_e) ** 2) / (n * temperature**2),
        abs_magnetization=p @ np.abs(m),
        m2=p @ m**2,
        m4=p @ m**4,
        levels=levels,
        level_probabilities=np.array([p[np.isclose(E, lv)].sum() for lv in levels]),
    )


@pytest.mark.parametrize("shape, J, h", [
    ((3, 3), 1.0, 0.2),
    ((2, 3), -0.7, 0.0),       # antiferromagnet, side 2 counts its bond twice
    ((2, 2, 2), 0.5, -0.4),    # 3D
])
@pytest.mark.parametrize("temperature", [0.8, 2.7])
def test_enumeration_matches_brute_force(shape, J, h, temperature):
    got = enumerate_ising(shape, temperature, J=J, h=h)
    ref = brute_force(shape, temperature, J, h)
    n = math.prod(shape)
    for field in ("log_partition", "energy_per_spin", "specific_heat",
                  "abs_magnetization", "m2", "m4"):
        np.testing.assert_allclose(getattr(got, field), ref[field], rtol=1e-12, atol=1e-14,
                                   err_msg=field)
    np.testing.assert_allclose(got.binder, 1 - ref["m4"] / (3 * ref["m2"] ** 2), rtol=1e-12)
    np.testing.assert_allclose(got.susceptibility,
                               n * (ref["m2"] - ref["abs_magnetization"] ** 2) / temperature,
                               rtol=1e-10)
    np.testing.assert_allclose(got.energy_levels, ref["levels"], atol=1e-12)
    np.testing.assert_allclose(got.energy_probabilities, ref["level_probabilities"],
                               rtol=1e-11, atol=1e-15)


@pytest.mark.parametrize("shape", [(3, 4), (2, 5), (2, 3, 4)])
def test_lattice_energy_matches_loops(shape):
    rng = np.random.default_rng(0)
    for _ in range(5):
        s = rng.choice([-1, 1], size=shape)
        assert _lattice_energy(s, J=0.7, h=-0.3) == pytest.approx(
            energy_by_loops(s, 0.7, -0.3), abs=1e-12)


def test_vector_temperature_matches_scalar_calls():
    temps = np.array([0.9, 2.0, 4.5])
    vec = enumerate_ising((3, 4), temps, J=1.0, h=0.1)
    assert vec.log_partition.shape == (3,)
    assert vec.energy_probabilities.shape == (3, vec.energy_levels.size)
    for i, t in enumerate(temps):
        one = enumerate_ising((3, 4), float(t), J=1.0, h=0.1)
        assert np.ndim(one.log_partition) == 0
        for field in one._fields:
            if field != "energy_levels":
                np.testing.assert_allclose(getattr(vec, field)[i], getattr(one, field),
                                           rtol=1e-13, err_msg=field)


def test_accepts_jax_float64_temperature():
    with jax.enable_x64(True):
        temps = jnp.array([1.5, 3.0], dtype=jnp.float64)
        got = enumerate_ising((3, 3), temps)
    ref = brute_force((3, 3), 1.5, 1.0, 0.0)
    assert got.log_partition.dtype == np.float64
    np.testing.assert_allclose(got.log_partition[0], ref["log_partition"], rtol=1e-13)


@pytest.mark.parametrize("temperature", [1.5, 2.269, 3.0])
@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (2, 2)])
def test_enumeration_agrees_with_kaufman(shape, temperature):
    """Two independent exact methods: 2^N state sum vs Kaufman's Pfaffian-type formula."""
    enum = enumerate_ising(shape, temperature)
    L = shape[0] if shape[0] == shape[1] else shape
    kauf = exact_finite_lattice(L, temperature)
    np.testing.assert_allclose(kauf.log_partition, enum.log_partition, rtol=1e-10)
    np.testing.assert_allclose(kauf.energy_per_spin, enum.energy_per_spin, rtol=1e-10)
    np.testing.assert_allclose(kauf.specific_heat, enum.specific_heat, rtol=1e-10)
    np.testing.assert_allclose(kaufman_log_partition(L, temperature), enum.log_partition,
                               rtol=1e-10)
    n = math.prod(shape)
    np.testing.assert_allclose(kauf.free_energy_per_spin,
                               -temperature * enum.log_partition / n, rtol=1e-10)


@pytest.mark.parametrize("L, published", [(16, -1.45306), (64, -1.42394)])
def test_kaufman_energy_at_tc_matches_published(L, published):
    e = exact_finite_lattice(L, TC).energy_per_spin
    assert abs(e - published) < 5e-6


@pytest.mark.parametrize("temperature", [2.0, 3.0])
def test_kaufman_large_lattice_approaches_onsager(temperature):
    # Away from Tc finite-size corrections decay like exp(-L/xi); at L = 256 they are << 1e-9.
    r = exact_finite_lattice(256, temperature)
    assert abs(r.energy_per_spin - onsager_energy_per_spin(temperature)) < 1e-6
    assert abs(r.specific_heat - onsager_specific_heat(temperature)) < 1e-6


def test_kaufman_vector_temperature_and_rectangle_symmetry():
    temps = np.array([1.8, 2.5])
    a = exact_finite_lattice((4, 6), temps)
    b = exact_finite_lattice((6, 4), temps)
    assert a.log_partition.shape == (2,)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-12)


def test_onsager_yang_published_values():
    assert abs(onsager_yang_magnetization(2.0) - 0.9113) < 5e-5
    # -1.745565 (often quoted truncated as -1.7455); allow one unit in the 4th decimal.
    assert abs(onsager_energy_per_spin(2.0) - (-1.7455)) < 1e-4
    assert abs(onsager_energy_per_spin(TC) + math.sqrt(2)) < 1e-12   # u(Tc) = -sqrt(2) J
    assert onsager_specific_heat(TC) == np.inf
    m = onsager_yang_magnetization(np.array([0.5, TC * (1 - 1e-9), TC, 3.0]))
    u = math.exp(-2 / 0.5)                                      # low-T series 1 - 2u^4 - 8u^6
    assert 1 - m[0] == pytest.approx(2 * u**4 + 8 * u**6, rel=1e-4)
    assert 0 < m[1] < 0.2                                        # m ~ (Tc - T)^(1/8)
    assert m[2] == 0.0 and m[3] == 0.0
    # Tc scales with J.
    assert onsager_yang_magnetization(2 * 2.0, J=2.0) == pytest.approx(
        onsager_yang_magnetization(2.0), rel=1e-13)


def test_onsager_specific_heat_is_temperature_derivative_of_energy():
    for t in (1.2, 2.0, 2.6, 4.0):
        d = 1e-5
        fd = (onsager_energy_per_spin(t + d) - onsager_energy_per_spin(t - d)) / (2 * d)
        assert onsager_specific_heat(t) == pytest.approx(fd, rel=1e-7)


def test_limits_of_temperature():
    n = 16
    # T -> inf: ln Z -> N ln 2, m is a sum of N independent signs.
    hot = enumerate_ising((4, 4), 1e9)
    assert hot.log_partition == pytest.approx(n * math.log(2), rel=1e-8)
    assert hot.m2 == pytest.approx(1 / n, rel=1e-6)
    assert hot.m4 == pytest.approx(3 / n**2 - 2 / n**3, rel=1e-6)
    assert hot.binder == pytest.approx(2 / (3 * n), rel=1e-5)
    assert kaufman_log_partition(4, 1e9) == pytest.approx(n * math.log(2), rel=1e-8)
    # T -> 0: two ground states with E = -2JN.
    cold = enumerate_ising((4, 4), 0.05)
    assert cold.log_partition == pytest.approx(math.log(2) + 2 * n / 0.05, rel=1e-12)
    assert cold.energy_per_spin == pytest.approx(-2.0, abs=1e-12)
    assert cold.abs_magnetization == pytest.approx(1.0, abs=1e-12)
    assert cold.binder == pytest.approx(2 / 3, abs=1e-12)
    assert cold.energy_levels[0] == -32.0
    assert cold.energy_probabilities[0] == pytest.approx(1.0, abs=1e-12)
    assert exact_finite_lattice(4, 0.05).energy_per_spin == pytest.approx(-2.0, abs=1e-12)


def test_energy_distribution_consistency():
    r = enumerate_ising((4, 4), np.array([1.0, TC, 5.0]), J=1.3, h=0.0)
    # h = 0 on the 4x4 torus: E = -J * B with B = 32 - 4k over the allowed bond counts.
    assert np.all(np.diff(r.energy_levels) > 0)
    np.testing.assert_allclose(r.energy_probabilities.sum(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(r.energy_probabilities @ r.energy_levels / 16,
                               r.energy_per_spin, rtol=1e-12)
    np.testing.assert_allclose(np.remainder(r.energy_levels / 1.3 + 32, 4), 0.0, atol=1e-9)
    assert r.energy_levels[0] == pytest.approx(-32 * 1.3)
    # Detailed balance between levels: P(E1)/P(E2) = g1/g2 * exp(-(E1 - E2)/T), g fixed.
    log_ratio = np.log(r.energy_probabilities[:, 1] / r.energy_probabilities[:, 0])
    gap = r.energy_levels[1] - r.energy_levels[0]
    temps = np.array([1.0, TC, 5.0])
    np.testing.assert_allclose(np.diff(log_ratio + gap / temps), 0.0, atol=1e-9)


@pytest.mark.parametrize("call, error, match", [
    (lambda: enumerate_ising((5, 5), 2.0), ValueError, "shape"),
    (lambda: enumerate_ising((16,), 2.0), ValueError, "shape"),
    (lambda: enumerate_ising((2, 2, 2, 2), 2.0), ValueError, "shape"),
    (lambda: enumerate_ising(4, 2.0), TypeError, "shape"),
    (lambda: enumerate_ising((3, 3), 0.0), ValueError, "temperature"),
    (lambda: enumerate_ising((3, 3), -1.0), ValueError, "temperature"),
    (lambda: enumerate_ising((3, 3), np.ones((2, 2))), ValueError, "temperature"),
    (lambda: enumerate_ising((3, 3), np.array([])), ValueError, "temperature"),
    (lambda: enumerate_ising((3, 3), 1j), TypeError, "temperature"),
    (lambda: enumerate_ising((3, 3), 2.0, J=float("nan")), ValueError, "J"),
    (lambda: enumerate_ising((3, 3), 2.0, h=float("inf")), ValueError, "h"),
    (lambda: enumerate_ising((3, 3), 2.0, J=[1.0, 2.0]), ValueError, "J"),
    (lambda: kaufman_log_partition(1, 2.0), ValueError, "L"),
    (lambda: kaufman_log_partition(4.0, 2.0), TypeError, "L"),
    (lambda: kaufman_log_partition((4, 4, 4), 2.0), ValueError, "L"),
    (lambda: kaufman_log_partition(4, float("nan")), ValueError, "temperature"),
    (lambda: kaufman_log_partition(4, 2.0, J=-1.0), ValueError, "J"),
    (lambda: kaufman_log_partition(4, 2.0, precision=10), ValueError, "precision"),
    (lambda: exact_finite_lattice(4, 0.0), ValueError, "temperature"),
    (lambda: onsager_energy_per_spin(-2.0), ValueError, "temperature"),
    (lambda: onsager_specific_heat(2.0, J=0.0), ValueError, "J"),
    (lambda: onsager_yang_magnetization("hot"), TypeError, "temperature"),
])
def test_bad_input_names_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()
