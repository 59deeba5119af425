"""What a kernel family declares to the conformance table (tests/conformance/test_conformance.py).

Each ``cases_<family>.py`` module defines ``CASES: list[KernelCase]``; the table runs every
case through the same checks.  Keep every model tiny (<= 12 spins, 1-2 continuous degrees of
freedom) so the whole table stays fast on a 2-core CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from physjax.kernels import Kernel


class KernelCase(NamedTuple):
    """One kernel under test.

    name: short id for the test report.
    kernel: the kernel (static configuration only).
    make_model(dtype) -> model: a tiny model whose float leaves have ``dtype``
        (float32 or float64; called inside ``jax.enable_x64(True)`` for float64).
    init(key, kernel, model) -> state: one chain's initial state.
    hyperparameter: (set_value(model, value) -> model, values): a numeric field of the model
        (temperature, step size, learning rate...) and 2-3 values to vmap over.
    observable(model, state) -> 1-D array of statistics whose stationary mean is known.
    exact(model) -> 1-D numpy array: the exact stationary mean of ``observable``
        (enumeration for discrete kernels, Gaussian moments for continuous ones), or None
        for kernels without a stationary law to check (optimisers, T = 0 dynamics).
    n_chains, n_burn, n_steps: the size of the stationary check (independent chains; the
        chain averages give the error bar, so autocorrelation is accounted for).
    """

    name: str
    kernel: Kernel
    make_model: Callable[[Any], Any]
    init: Callable[[Any, Kernel, Any], Any]
    hyperparameter: tuple[Callable[[Any, Any], Any], tuple]
    observable: Callable[[Any, Any], Any]
    exact: Callable[[Any], Any] | None
    n_chains: int = 64
    n_burn: int = 100
    n_steps: int = 400
