"""Optional dependencies: imported on first use, or an ``ImportError`` naming the extra.

The core of physjax needs only jax, jaxlib, equinox, optax, lineax, optimistix,
jaxtyping, numpy, scipy (a dependency of jax itself) and tqdm.  The rest is installed
through extras (``pip install 'physjax[plot]'`` etc.) and imported inside the function
that needs it with :func:`require`, so that ``import physjax`` and its subpackages never
import matplotlib, scikit-learn, networkx or mpmath.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["EXTRAS", "require"]

#: Top-level module name -> (distribution to install, physjax extra that brings it).
EXTRAS: dict[str, tuple[str, str]] = {
    "matplotlib": ("matplotlib", "plot"),
    "sklearn": ("scikit-learn", "data"),
    "mpmath": ("mpmath", "exact"),
    "networkx": ("networkx", "graphs"),
}


def require(module_name: str, extra: str | None = None, *, by: str) -> ModuleType:
    """Import and return ``module_name`` (e.g. ``"sklearn.datasets"``).

    Args:
        module_name: module to import; its top-level package decides the default extra.
        extra: the physjax extra that installs it (default: from :data:`EXTRAS`).
        by: what needs it, for the message (e.g. ``"physjax.plotting"``).

    Raises:
        ImportError: the package is missing (or fails to import), with a message
            ``"<by> needs <package>: pip install 'physjax[<extra>]'"``.
    """
    top = module_name.partition(".")[0]
    dist, default_extra = EXTRAS.get(top, (top, "all"))
    extra = extra or default_extra
    try:
        return importlib.import_module(module_name)
    except ImportError as err:
        raise ImportError(
            f"{by} needs {dist}: pip install 'physjax[{extra}]' (or 'physjax[all]'); "
            f"importing {module_name} failed: {err}"
        ) from err
