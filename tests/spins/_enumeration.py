"""All states of a few units, for the exact-enumeration tests of Boltzmann machines."""

import itertools

import numpy as np


def all_states(n: int, units: str) -> np.ndarray:
    """Every configuration of ``n`` units, shape ``(2**n, n)``: values {-1, 1} for
    ``units == "spin"``, {0, 1} otherwise."""
    lo = -1.0 if units == "spin" else 0.0
    return np.array(list(itertools.product([lo, 1.0], repeat=n)))
