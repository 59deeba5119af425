"""Boltzmann-machine data sets (``physjax.datasets``) against exact enumeration, and
the public API of the Boltzmann/RBM modules: every exported name is exercised by a test,
and every stochastic function takes its key first (docs/ARCHITECTURE.md)."""

from __future__ import annotations

import inspect
import re
import typing
from pathlib import Path

import jax
import numpy as np
import pytest

import physjax.spins as ps
from physjax import datasets
from physjax.spins import ais, boltzmann, rbm, rbm_training

MODULES = (boltzmann, rbm, rbm_training, ais)
TESTS = Path(__file__).parent
TEST_FILES = ("test_boltzmann.py", "test_rbm.py", "test_rbm_training.py", "test_ais.py",
              "test_boltzmann_data_and_api.py", "test_rbm_kernels.py")


def test_ising_configurations_have_the_exact_4x4_energy():
    """4096 independent 4 x 4 configurations at T = 2.5 (reference engine; the multi-spin
    engine is checked against Kaufman's 8 x 8 energies in the ``rbm-ising`` experiment
    test): the mean energy per spin is within 4.5 standard errors of the exact enumeration
    (physjax.spins.enumerate_ising), and the energies recorded by the sampler are those of
    the returned spins."""
    T = 2.5
    data = datasets.ising_configurations(jax.random.key(0), 4, [T], 4096, burn_in=200,
                                         engine="reference")
    assert isinstance(data, datasets.IsingConfigurations) and data.spins.shape == (1, 4096, 16)
    e = np.asarray(data.energy[0], np.float64)
    exact = ps.enumerate_ising((4, 4), [T])
    want = float(np.asarray(exact.energy_per_spin)[0])
    assert abs(e.mean() - want) < 4.5 * e.std(ddof=1) / np.sqrt(e.size)
    e2, m2 = datasets.ising_observables(data.spins[0], 4)
    np.testing.assert_allclose(e2, e, atol=1e-6)
    np.testing.assert_allclose(m2, np.abs(data.magnetization[0]), atol=1e-6)
    assert set(np.unique(np.asarray(data.spins))) == {-1.0, 1.0}


def test_binarized_digits_and_split():
    X, y = datasets.binarized_digits()
    assert X.shape == (1797, 64) and y.shape == (1797,)
    assert set(np.unique(np.asarray(X))) == {0.0, 1.0}
    from sklearn.datasets import load_digits
    np.testing.assert_array_equal(X, load_digits().data >= 8)
    S, _ = datasets.binarized_digits(units="spin")
    np.testing.assert_array_equal(S, 2 * np.asarray(X) - 1)
    assert typing.get_args(ps.Units) == ("binary", "spin")       # what units= accepts
    with pytest.raises(ValueError, match="units must be one of"):
        datasets.binarized_digits(units="gaussian")
    train, test = datasets.split_data(jax.random.key(0), X, 0.25)
    assert train.shape == (1348, 64) and test.shape == (449, 64)
    with pytest.raises(ValueError, match="test_fraction must lie in"):
        datasets.split_data(jax.random.key(0), X, 1.5)
    with pytest.raises(ValueError, match="L must be even"):
        datasets.ising_configurations(jax.random.key(0), 5, [2.0], 4)
    with pytest.raises(ValueError, match="temperatures must be > 0"):
        datasets.ising_configurations(jax.random.key(0), 4, [-2.0], 4)
    with pytest.raises(ValueError, match="configurations has 15 columns"):
        datasets.ising_observables(np.ones((2, 15)), 4)


def _exported():
    return sorted({name for m in MODULES for name in m.__all__})


def test_boltzmann_names_are_exported_from_physjax_spins():
    for name in _exported():
        assert name in ps.__all__, name
        assert getattr(ps, name) is getattr(next(m for m in MODULES if name in m.__all__),
                                            name)


def test_every_exported_name_is_exercised_by_a_test():
    text = "\n".join((TESTS / f).read_text() for f in TEST_FILES)
    text += (TESTS.parent / "test_boltzmann_experiments.py").read_text()
    missing = [n for n in _exported() if not re.search(rf"\b{re.escape(n)}\b", text)]
    assert not missing, f"not used in any test: {missing}"


def test_key_is_the_first_argument_of_every_stochastic_function():
    for name in _exported():
        obj = getattr(ps, name)
        if not callable(obj) or inspect.isclass(obj):
            continue
        params = list(inspect.signature(obj).parameters)
        if "key" in params:
            assert params[0] == "key", f"{name}: key must come first"
