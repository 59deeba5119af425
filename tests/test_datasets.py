"""physjax.datasets: one cached digits loader behind every digits view, the views agree with
each other and with scikit-learn, and every stochastic function takes its key first
(docs/ARCHITECTURE.md).  The data sets' physics and bad inputs are tested with their
families (tests/spins/test_boltzmann_data_and_api.py, tests/dynamics/test_sgd.py,
tests/curvature/test_losses.py) and in tests/test_bad_input_table.py."""


import jax
import numpy as np
import pytest

from physjax import datasets
from tests.helpers import functions_taking_a_key

pytest.importorskip("sklearn")


def test_the_digits_are_loaded_once_for_every_view(monkeypatch):
    import sklearn.datasets

    calls = []
    load = sklearn.datasets.load_digits
    monkeypatch.setattr(sklearn.datasets, "load_digits",
                        lambda *a, **k: calls.append(1) or load(*a, **k))
    datasets._load_digits.cache_clear()
    try:
        X, y = datasets.binarized_digits()
        task = datasets.digits_task(jax.random.key(3))
        cnn = datasets.digits_data(jax.random.key(3))
        datasets.binarized_digits(units="spin")
        assert len(calls) == 1
    finally:
        datasets._load_digits.cache_clear()   # the next loader is the real one
    raw = load()
    np.testing.assert_array_equal(X, raw.data > 7.5)
    np.testing.assert_array_equal(y, raw.target)
    # the same key shuffles both views the same way: the same images, flat and as 1x8x8
    np.testing.assert_array_equal(task.x_train, np.asarray(cnn.x_train).reshape(-1, 64))
    np.testing.assert_array_equal(task.y_test, cnn.y_test)
    assert task.x_train.shape == (1500, 64) and cnn.x_train.shape == (1500, 1, 8, 8)


def test_the_cached_digits_cannot_be_changed_by_a_caller():
    digits = datasets._digits("test")
    for name in ("data", "images", "target"):
        with pytest.raises(ValueError, match="read-only"):
            getattr(digits, name)[0] = 0


def test_key_is_the_first_argument_of_every_stochastic_function():
    assert functions_taking_a_key(datasets) == {
        "digits_task", "digits_data", "ising_configurations", "teacher_student_task",
        "split_data"}
