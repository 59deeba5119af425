"""physjax: a JAX toolkit for the statistical physics of learning systems.

Importing physjax changes no global JAX setting and imports neither matplotlib nor the
experiments (they load lazily through ``physjax.experiments`` and ``physjax.plotting``).
"""

__version__ = "0.1.0"

from physjax import curvature, dynamics, ensemble, graphs, networks, spins

__all__ = ["__version__", "curvature", "dynamics", "ensemble", "graphs", "networks", "spins"]
