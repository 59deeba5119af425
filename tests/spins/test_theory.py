"""The AGS theory of the Hebbian Hopfield network (``physjax/spins/theory.py``) against the
published numbers of Amit, Gutfreund & Sompolinsky (Phys. Rev. Lett. 55, 1530 (1985);
Phys. Rev. A 35, 2293 (1987)): the T = 0 capacity alpha_c = 0.138 with overlap
m_c = 0.967, the spin-glass line T_g = 1 + sqrt(alpha), and the retrieval line T_M(alpha)
from alpha_c at T = 0 to T = 1 at alpha = 0, with T_M ~ 1 - 1.95 sqrt(alpha) near alpha = 0.
"""

from __future__ import annotations

import numpy as np
import pytest

from physjax.spins.theory import (
    AGS_ALPHA_C,
    AGS_M_C,
    ags_retrieval_line,
    ags_zero_temperature,
    retrieval_threshold,
    spin_glass_temperature,
)


def test_ags_zero_temperature_matches_published_values():
    # AGS 1987: alpha_c = 0.138, m_c = 0.967 (closed form at T = 0, solved to ~1e-12 here).
    alpha_c, m_c = ags_zero_temperature()
    assert alpha_c == pytest.approx(0.1379, abs=2e-4)
    assert m_c == pytest.approx(0.967, abs=1e-3)
    assert (AGS_ALPHA_C, AGS_M_C) == (0.138, 0.967)


def test_spin_glass_temperature_is_one_plus_sqrt_alpha():
    # AGS: T_g(alpha) = 1 + sqrt(alpha); T_g(0) = 1 is the Curie-Weiss/SK point.
    alphas = np.array([0.0, 0.01, 0.04, 0.25, 1.0])
    np.testing.assert_allclose(spin_glass_temperature(alphas), [1.0, 1.1, 1.2, 1.5, 2.0])


def test_retrieval_line_endpoints():
    # T -> 0: the line ends at the T = 0 capacity alpha_c = 0.138
    alpha_0, m_0 = ags_retrieval_line([0.0])
    assert alpha_0[0] == pytest.approx(0.1379, abs=2e-4) and m_0[0] == pytest.approx(0.967,
                                                                                     abs=1e-3)
    alpha_low, m_low = ags_retrieval_line([0.01, 0.02, 0.05])
    np.testing.assert_allclose(alpha_low, 0.138, atol=1e-3)
    np.testing.assert_allclose(m_low, 0.967, atol=3e-3)
    # alpha -> 0: the retrieval temperature tends to 1 (alpha_c(T) -> 0 as T -> 1), below
    # the spin-glass line T_g = 1 + sqrt(alpha), which meets it there
    T = np.array([0.9, 0.99, 0.999, 1.0])
    alpha_c, _ = ags_retrieval_line(T)
    assert np.all(np.diff(alpha_c) < 0) and alpha_c[2] < 1e-6 and alpha_c[3] == 0
    assert np.all(T[:3] < spin_glass_temperature(alpha_c[:3]))
    assert spin_glass_temperature(alpha_c[3]) == T[3] == 1.0


def test_ags_retrieval_line_shape_and_small_alpha_limit():
    T = np.array([0.1, 0.3, 0.5, 0.7, 0.9, 0.95, 0.99, 1.0, 1.5])
    alpha_c, m_c = ags_retrieval_line(T)
    assert np.all(np.diff(alpha_c[:7]) < 0)  # retrieval region shrinks as T grows
    assert np.all(alpha_c[7:] == 0) and np.all(np.isnan(m_c[7:]))
    assert np.all((m_c[:7] > 0) & (m_c[:7] < 1)) and np.all(np.diff(m_c[:7]) < 0)
    # near alpha = 0 the line is T_M = 1 - 1.95 sqrt(alpha) (AGS); the O(alpha) correction
    # at T = 0.99 (alpha ~ 3e-5) is far below the 2% tolerance
    assert (1 - T[6]) / np.sqrt(alpha_c[6]) == pytest.approx(1.95, rel=0.02)
    # continuity with the T = 0 closed form
    assert ags_retrieval_line([0.05])[0][0] == pytest.approx(0.1379, abs=1e-3)


def test_retrieval_threshold_interpolates_the_first_crossing():
    a = np.array([0.1, 0.12, 0.14, 0.16])
    m = np.array([1.0, 0.99, 0.947, 0.5])
    assert retrieval_threshold(a, m) == pytest.approx(0.12 + 0.02 * 0.023 / 0.043)
    assert np.isnan(retrieval_threshold(a, np.ones(4)))
    assert np.isnan(retrieval_threshold(a, np.zeros(4)))


def test_retrieval_line_at_very_low_temperature_is_the_zero_temperature_capacity():
    """Between T = 0 and T = 0.015 the AGS capacity stays at its T = 0 value (0.138,
    m = 0.967); the quadrature once returned alpha_c = 1.11 at T = 1e-3 and NaN at 3e-3."""
    alpha_c, m_c = ags_retrieval_line([1e-4, 1e-3, 3e-3, 5e-3, 1e-2])
    np.testing.assert_allclose(alpha_c, 0.138, atol=1e-3)
    np.testing.assert_allclose(m_c, 0.967, atol=2e-3)
