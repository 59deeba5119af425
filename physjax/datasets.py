"""Data sets, generated or shipped with a package (no downloads), for every family.

Digits (scikit-learn's bundled 8x8 ``load_digits``: 1797 images, pixel values 0..16, 10
classes), loaded once per process and cached:

* :func:`binarized_digits`: thresholded to 0/1 (or +-1) units, for Boltzmann machines.
* :func:`digits_task`: a shuffled classification :class:`~physjax.dynamics.SupervisedTask`
  of flattened pixels / 16, for minibatch SGD.
* :func:`digits_data`: a shuffled :class:`~physjax.curvature.Dataset` of ``(1, 8, 8)``
  images / 16, for the digits CNN of the curvature tools.

Ising configurations:

* :func:`ising_configurations`: equilibrium configurations of the periodic 2-D Ising model
  from physjax's own checkerboard sampler (:func:`~physjax.spins.sample_ising`), one
  independent replica per configuration (random start, ``burn_in`` sweeps), flattened to
  rows of L*L units, as in Torlai & Melko (2016) and seed 001 (Fig. 6).
* :func:`ising_observables`: energy per spin and :math:`|m|` of flattened configurations
  (for comparing RBM samples with the training data).

Teacher-student and toy sets:

* :func:`teacher_student_task`: regression on the outputs of a random teacher MLP.
* :func:`function_approximation_target`, :func:`function_approximation_data`: the seed's
  eq. (48) on :math:`[-1, 1)`.

And :func:`split_data`: a random train/test split of the rows.

This module sits above the families (it builds their task types); no family imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache, partial
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

from physjax._array_types import Array, ArrayLike, Float, Int, Key, Real, Scalar, Shaped
from physjax._checks import check_choice, check_finite, check_positive_int, check_temperature
from physjax._optional import require
from physjax._options import IsingEngine, Units, UpdateRule
from physjax.curvature.losses import Dataset
from physjax.dynamics._common import check_activation
from physjax.dynamics.sgd import SupervisedTask
from physjax.spins.boltzmann import check_unit_data
from physjax.spins.models import IsingLattice
from physjax.spins.samplers import sample_ising

__all__ = [
    "IsingConfigurations",
    "binarized_digits",
    "digits_data",
    "digits_task",
    "function_approximation_data",
    "function_approximation_target",
    "ising_configurations",
    "ising_observables",
    "split_data",
    "teacher_student_task",
]


# ------------------------------------------------------------------------------ digits

def _digits(by: str):
    """scikit-learn's bundled digits (a ``Bunch`` with read-only ``data``, ``images`` and
    ``target``), loaded once per process; a missing scikit-learn raises an ``ImportError``
    naming ``by`` and the ``data`` extra."""
    require("sklearn.datasets", by=by)
    return _load_digits()


@lru_cache(maxsize=1)
def _load_digits():
    digits = require("sklearn.datasets", by="physjax.datasets").load_digits()
    for name in ("data", "images", "target"):
        getattr(digits, name).flags.writeable = False   # shared by every caller
    return digits


def binarized_digits(*, threshold: Scalar = 7.5, units: Units = "binary"
                     ) -> tuple[Float[Array, "m 64"], Int[Array, " m"]]:
    """scikit-learn's 8x8 digits (1797 images, pixel values 0..16) as (1797, 64) units:
    on where the pixel exceeds ``threshold`` (default: at least 8 of 16).  Returns
    (images, labels)."""
    check_finite(threshold, "threshold")
    check_choice(units, "units", Units)
    d = _digits("physjax.datasets.binarized_digits")
    x = (d.data > float(threshold)).astype(np.float64)
    x = x if units == "binary" else 2 * x - 1
    return jnp.asarray(x, dtype=float), jnp.asarray(d.target)


def digits_task(key: Key, *, n_test: int = 297, dtype: DTypeLike | None = None
                ) -> SupervisedTask:
    """scikit-learn's bundled 8x8 digits (1797 images, 10 classes) as a classification task:
    pixels / 16 flattened to 64 inputs in [0, 1], shuffled with ``key``, the last ``n_test``
    images held out; cross-entropy loss."""
    n_test = check_positive_int(n_test, "n_test")
    digits = _digits("physjax.datasets.digits_task")
    m = digits.images.shape[0]
    if n_test >= m:
        raise ValueError(f"n_test must be < {m} (the number of digit images), got {n_test}")
    dtype = jnp.result_type(float) if dtype is None else jnp.dtype(dtype)
    perm = np.asarray(jax.random.permutation(key, m))
    x = jnp.asarray(digits.data[perm] / 16.0, dtype)
    y = jnp.asarray(digits.target[perm], jnp.int32)
    k = m - n_test
    return SupervisedTask(x[:k], y[:k], x[k:], y[k:], "cross_entropy")


def digits_data(key: Key, n_test: int = 297) -> Dataset:
    r"""scikit-learn's bundled 8×8 handwritten digits, shuffled with ``key`` and split.

    Images are scaled to :math:`[0, 1]` (pixel / 16) with shape ``(m, 1, 8, 8)``
    (channels first, as ``eqx.nn.Conv2d`` expects); labels are ``int32`` in ``0..9``.
    The last ``n_test`` of the 1797 shuffled images form the test set.
    """
    n_test = check_positive_int(n_test, "n_test")
    digits = _digits("physjax.datasets.digits_data")
    m = digits.images.shape[0]
    if n_test >= m:
        raise ValueError(f"n_test must be < {m} (the number of digit images), got {n_test}")
    perm = np.asarray(jax.random.permutation(key, m))
    x = jnp.asarray(digits.images[perm] / 16.0)[:, None, :, :]
    y = jnp.asarray(digits.target[perm], dtype=jnp.int32)
    k = m - n_test
    return Dataset(x[:k], y[:k], x[k:], y[k:])


# ------------------------------------------------------------------- Ising configurations

class IsingConfigurations(NamedTuple):
    """Ising training data: ``spins`` (n_T, n_samples, L*L) in the requested units,
    ``energy`` and ``magnetization`` per spin (n_T, n_samples), ``temperatures`` (n_T,)."""

    spins: Float[Array, "n_T s n"]
    energy: Float[Array, "n_T s"]
    magnetization: Float[Array, "n_T s"]
    temperatures: Float[Array, " n_T"]


def _to_units(s, units):
    return (s + 1) / 2 if units == "binary" else s


def ising_configurations(key: Key, L: int,
                         temperatures: Scalar | Real[ArrayLike, " n_T"] | Sequence[Scalar],
                         n_samples: int, *, burn_in: int = 1000,
                         units: Units = "spin", rule: UpdateRule = "metropolis",
                         engine: IsingEngine = "auto") -> IsingConfigurations:
    """``n_samples`` independent equilibrium configurations of the L x L periodic Ising model
    (J = 1, h = 0) at each temperature: every configuration is its own replica, run for
    ``burn_in`` checkerboard sweeps from a random start by :func:`sample_ising`'s
    ``engine`` (``"auto"``: the multi-spin engine, fastest for many replicas; the
    ``"reference"`` engine compiles faster for small jobs)."""
    L = check_positive_int(L, "L", minimum=2)
    if L % 2:
        raise ValueError(f"L must be even (checkerboard updates on a periodic lattice), got {L}")
    temps = np.atleast_1d(np.asarray(check_temperature(temperatures, "temperatures"), float))
    if temps.ndim != 1:
        raise ValueError(f"temperatures must be a scalar or 1-D, got shape {temps.shape}")
    n = check_positive_int(n_samples, "n_samples")
    check_positive_int(burn_in, "burn_in")
    check_choice(units, "units", Units)
    model = IsingLattice((L, L))
    res = sample_ising(key, model, jnp.repeat(jnp.asarray(temps), n), 1, rule=rule,
                       burn_in=burn_in - 1, engine=engine)
    shape = (temps.size, n)
    spins = res.spins.reshape(*shape, L * L).astype(jnp.result_type(float))
    return IsingConfigurations(_to_units(spins, units), res.energy[:, -1].reshape(shape),
                               res.magnetization[:, -1].reshape(shape), jnp.asarray(temps))


def ising_observables(configurations: Real[ArrayLike, "s n"] | Sequence[Sequence[Scalar]],
                      L: int, *, units: Units = "spin"
                      ) -> tuple[Float[Array, " s"], Float[Array, " s"]]:
    """Energy per spin :math:`-\\frac1N\\sum_{\\langle ij\\rangle}s_is_j` (periodic L x L,
    J = 1) and :math:`|m|` of each row of ``configurations`` (n, L*L)."""
    L = check_positive_int(L, "L", minimum=2)
    check_choice(units, "units", Units)
    x = check_unit_data(configurations, units, "configurations", L * L, width_name="L*L")
    return _observables(x, L, units)


@partial(jax.jit, static_argnums=(1, 2))
def _observables(x, L, units):
    s = (2 * x - 1 if units == "binary" else x).reshape(-1, L, L)
    bonds = jnp.sum(s * jnp.roll(s, 1, 1), (1, 2)) + jnp.sum(s * jnp.roll(s, 1, 2), (1, 2))
    return -bonds / (L * L), jnp.abs(jnp.mean(s, (1, 2)))


# ------------------------------------------------------------- teacher-student and toy sets

def teacher_student_task(key: Key, *, in_size: int = 16, teacher_width: int = 8,
                         n_train: int = 256, n_test: int = 1024, depth: int = 1,
                         activation: Callable[..., Any] = jnp.tanh, noise: Scalar = 0.0,
                         dtype: DTypeLike | None = None) -> SupervisedTask:
    """Regression on the outputs of a random teacher MLP (``depth`` hidden layers of
    ``teacher_width`` units, scalar output): inputs :math:`x\\sim\\mathcal N(0, I)`,
    teacher weights :math:`\\mathcal N(0, 1/\\text{fan-in})` and zero biases (so the
    pre-activations and the output are :math:`O(1)`), targets
    :math:`y = f_{\\rm teacher}(x) + \\text{noise}\\cdot\\xi`; MSE loss.  A student of width
    :math:`\\ge` ``teacher_width`` can represent the teacher exactly."""
    in_size = check_positive_int(in_size, "in_size")
    teacher_width = check_positive_int(teacher_width, "teacher_width")
    n_train = check_positive_int(n_train, "n_train")
    n_test = check_positive_int(n_test, "n_test")
    depth = check_positive_int(depth, "depth")
    check_activation(activation)
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be finite and >= 0, got {noise}")
    dtype = jnp.result_type(float) if dtype is None else jnp.dtype(dtype)
    x, y = _teacher_data(key, jnp.asarray(noise, dtype), in_size, teacher_width,
                         n_train + n_test, depth, activation, dtype)
    return SupervisedTask(x[:n_train], y[:n_train], x[n_train:], y[n_train:], "mse")


@eqx.filter_jit
def _teacher_data(key, noise, in_size, teacher_width, m, depth, activation, dtype):
    k_w, k_x, k_n = jax.random.split(key, 3)
    sizes = [in_size] + [teacher_width] * depth + [1]
    wkeys = jax.random.split(k_w, depth + 1)
    weights = [jax.random.normal(wkeys[i], (sizes[i + 1], sizes[i]), dtype)
               / np.sqrt(sizes[i]) for i in range(depth + 1)]

    def teacher(x):
        h = x
        for w in weights[:-1]:
            h = activation(w @ h)
        return weights[-1] @ h

    x = jax.random.normal(k_x, (m, in_size), dtype)
    return x, jax.vmap(teacher)(x) + noise * jax.random.normal(k_n, (m, 1), dtype)


def function_approximation_target(x: Real[ArrayLike, "*batch"] | Sequence[Scalar]
                                  ) -> Float[Array, "*batch"]:
    r"""The seed's eq. (48): :math:`f(x) = \log(\sin(10x) + 2) + \sin(x)`."""
    x = jnp.asarray(x)
    return jnp.log(jnp.sin(10.0 * x) + 2.0) + jnp.sin(x)


def function_approximation_data(n_train: int = 50, n_test: int = 50) -> Dataset:
    r"""Train and test sets of :func:`function_approximation_target` on :math:`[-1, 1)`.

    Our reading of the seed (which states only "50 points on [-1, 1)"): the training inputs
    are the equidistant grid :math:`x_k = -1 + 2k/n_\mathrm{train}`,
    :math:`k = 0,\dots,n_\mathrm{train}-1`; the test inputs are ``n_test`` equidistant
    points offset by half a test spacing, :math:`x_k = -1 + (2k+1)/n_\mathrm{test}`, which
    for ``n_test = n_train`` are the midpoints of the training grid (an interpolation test).
    Arrays have shape ``(n, 1)`` and JAX's default float dtype.
    """
    n_train = check_positive_int(n_train, "n_train")
    n_test = check_positive_int(n_test, "n_test")
    x_train = -1.0 + 2.0 * np.arange(n_train) / n_train
    x_test = -1.0 + (2.0 * np.arange(n_test) + 1.0) / n_test
    x_train = jnp.asarray(x_train)[:, None]
    x_test = jnp.asarray(x_test)[:, None]
    return Dataset(
        x_train,
        function_approximation_target(x_train),
        x_test,
        function_approximation_target(x_test),
    )


# ------------------------------------------------------------------------------ splits

def split_data(key: Key, data: Shaped[ArrayLike, " m *rest"] | Sequence[Any],
               test_fraction: Scalar = 0.2
               ) -> tuple[Shaped[Array, " _m_train *rest"], Shaped[Array, " _m_test *rest"]]:
    """Random (train, test) split of the rows of ``data``."""
    data = jnp.asarray(check_finite(data, "data"))
    if not 0 < float(test_fraction) < 1:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    n_test = int(round(float(test_fraction) * data.shape[0]))
    if not 0 < n_test < data.shape[0]:
        raise ValueError(f"test_fraction {test_fraction} leaves an empty train or test set "
                         f"for {data.shape[0]} rows")
    return _split(key, data, n_test)


@partial(jax.jit, static_argnums=2)
def _split(key, data, n_test):
    perm = jax.random.permutation(key, data.shape[0])
    return data[perm[n_test:]], data[perm[:n_test]]
