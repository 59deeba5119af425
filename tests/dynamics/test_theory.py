"""Closed forms of the spiked models against published results."""

import numpy as np

from physjax.dynamics import matrix_channel_overlap, wigner_equilibrium_overlap


def test_bbp_transition_of_the_spiked_wigner_overlap():
    """At T = 0 the top eigenvector of a spiked Wigner matrix has squared overlap
    1 - 1/lambda^2 above the BBP threshold lambda = 1 and 0 below (Baik, Ben Arous and
    Péché 2005; Benaych-Georges and Nadakuditi 2011)."""
    lam = np.array([0.5, 0.99, 1.0, 1.5, 2.0, 4.0])
    np.testing.assert_allclose(wigner_equilibrium_overlap(lam, 0.0),
                               [0, 0, 0, 1 - 1 / 2.25, 0.75, 1 - 1 / 16], atol=1e-15)


def test_temperature_lowers_the_overlap_and_melts_it_at_t_equal_lambda():
    m2 = wigner_equilibrium_overlap(2.0, np.array([0.0, 0.5, 1.0, 1.99, 2.0, 3.0]))
    assert np.all(np.diff(m2) <= 0) and m2[0] == 0.75
    assert m2[-2] == 0 and m2[-1] == 0 and m2[-3] > 0


def test_matrix_channel_at_t_1_is_the_bayes_optimal_overlap():
    """At T = 1 (the Bayes posterior) the matrix channel alone reaches the Bayes-optimal
    overlap |m| = 1 - Delta_2 of spiked Wigner estimation for Delta_2 < 1 (Lesieur,
    Krzakala and Zdeborová 2017), and 0 above; at T = 0 it is the BBP value."""
    d2 = np.array([0.1, 0.25, 0.5, 0.9, 1.2])
    np.testing.assert_allclose(np.sqrt(matrix_channel_overlap(d2, 1.0)),
                               [0.9, 0.75, 0.5, 0.1, 0.0], atol=1e-12)
    np.testing.assert_allclose(matrix_channel_overlap(d2, 0.0),
                               np.where(d2 < 1, 1 - d2, 0.0), atol=1e-12)
