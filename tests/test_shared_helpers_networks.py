"""Shared helpers factored out of the networks, dynamics and curvature modules."""

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import pytest

from physjax.dynamics._tree import _freeze_diverged
from physjax.networks._weights import check_edge_weights

WORDS = {"not_finite": "{name}: {count} bad", "not_positive": "{name}: {edges} min {minimum:g}"}


def test_check_edge_weights_passes_good_weights_and_names_the_argument():
    k = check_edge_weights(np.ones((2, 3)), 3, "w", **WORDS)
    assert k.shape == (2, 3)
    with pytest.raises(ValueError, match=r"w must have shape \(\.\.\., n_edges=4\)"):
        check_edge_weights(np.ones(3), 4, "w", **WORDS)
    with pytest.raises(ValueError, match="w: 2 bad"):
        check_edge_weights(np.array([1.0, np.nan, np.inf]), 3, "w", **WORDS)
    with pytest.raises(ValueError, match=r"w: \[1\] min -2"):
        check_edge_weights(np.array([[1.0, -2.0, 1.0], [1.0, 0.5, 1.0]]), 3, "w", **WORDS)


class _State(NamedTuple):
    x: jnp.ndarray
    step: jnp.ndarray
    diverged_at: jnp.ndarray


def _state(x, step, diverged_at):
    return _State(jnp.asarray(x), jnp.asarray(step, jnp.int32), jnp.asarray(diverged_at, jnp.int32))


def test_freeze_diverged_keeps_the_old_state_from_the_first_bad_step_on():
    old, new = _state(1.0, 3, -1), _state(2.0, 4, -1)
    out, accepted = _freeze_diverged(old, new, jnp.array(True))
    assert bool(accepted) and float(out.x) == 2.0 and int(out.diverged_at) == -1
    out, accepted = _freeze_diverged(old, new, jnp.array(False))
    assert not bool(accepted) and float(out.x) == 1.0 and int(out.diverged_at) == 4
    frozen = _state(1.0, 3, 2)
    out, accepted = _freeze_diverged(frozen, new, jnp.array(True))
    assert not bool(accepted) and float(out.x) == 1.0 and int(out.diverged_at) == 2
