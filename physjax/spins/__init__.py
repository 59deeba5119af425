"""Spin systems: lattice Ising model, samplers, observables and exact references; Hopfield
networks and their AGS theory; Boltzmann machines and RBMs."""

# Each submodule's __all__ is its public API; the package re-exports all of them.
from physjax.spins import (  # noqa: I001  (the submodules, for their __all__)
    ais, boltzmann, dense, exact, hopfield, models, multispin, observables, overlaps, phi4,
    rbm, rbm_training, samplers, tempering, theory,
)

__all__ = [
    *ais.__all__, *boltzmann.__all__, *dense.__all__, *exact.__all__, *hopfield.__all__,
    *models.__all__, *multispin.__all__, *observables.__all__, *overlaps.__all__,
    *phi4.__all__, *rbm.__all__, *rbm_training.__all__, *samplers.__all__,
    *tempering.__all__, *theory.__all__,
]

from physjax.spins.ais import *  # noqa: E402, F403
from physjax.spins.boltzmann import *  # noqa: E402, F403
from physjax.spins.dense import *  # noqa: E402, F403
from physjax.spins.exact import *  # noqa: E402, F403
from physjax.spins.hopfield import *  # noqa: E402, F403
from physjax.spins.models import *  # noqa: E402, F403
from physjax.spins.multispin import *  # noqa: E402, F403
from physjax.spins.observables import *  # noqa: E402, F403
from physjax.spins.overlaps import *  # noqa: E402, F403
from physjax.spins.phi4 import *  # noqa: E402, F403
from physjax.spins.rbm import *  # noqa: E402, F403
from physjax.spins.rbm_training import *  # noqa: E402, F403
from physjax.spins.samplers import *  # noqa: E402, F403
from physjax.spins.tempering import *  # noqa: E402, F403
from physjax.spins.theory import *  # noqa: E402, F403
