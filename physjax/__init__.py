"""physjax: a JAX toolkit for the statistical physics of learning systems.

Importing physjax changes no global JAX setting and imports neither matplotlib nor the
experiments (they load lazily through ``physjax.experiments`` and ``physjax.plotting``).
The subpackages load on first use (``physjax.spins``, ``import physjax.networks as pn``,
``from physjax import graphs``), so a program pays only for those it uses; none of them
imports matplotlib, scikit-learn, networkx or mpmath (the extras, see ``physjax._optional``).
"""

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

__all__ = ["__version__", "curvature", "datasets", "diffusion", "dynamics", "ensemble", "graphs",
           "networks", "spins"]

_SUBPACKAGES = frozenset(__all__) - {"__version__"}

if TYPE_CHECKING:  # for type checkers and IDEs; at run time they load in __getattr__
    from physjax import (  # noqa: F401
        curvature,
        datasets,
        diffusion,
        dynamics,
        ensemble,
        graphs,
        networks,
        spins,
    )


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")  # also sets the attribute
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBPACKAGES)
