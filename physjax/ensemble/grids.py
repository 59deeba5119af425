"""Parameter grids for :func:`physjax.ensemble.sweep`: Cartesian products and their checks.

A grid is a pytree whose leaves share a leading axis ``G`` (one slice per grid point);
:func:`product_grid` builds one from named 1-D value lists and :func:`unflatten_grid` gives
a result its product axes back.  :func:`check_grid` is the validation the sweep runs on
every grid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import numpy as np

from physjax._array_types import ArrayLike, PyTree, Real, Scalar, Size
from physjax._checks import check_finite, check_positive_int, is_concrete

__all__ = ["ProductGrid", "check_grid", "product_grid", "unflatten_grid"]


class ProductGrid(NamedTuple):
    """A Cartesian product grid, flattened to one leading axis.

    ``points[name]`` has shape ``(prod(shape),)`` and enumerates the product in C order
    (the first axis varies slowest), so ``x.reshape(shape + x.shape[1:])`` restores the
    axes; :func:`unflatten_grid` does this for a whole result tree.
    """

    points: dict[str, np.ndarray]
    shape: tuple[int, ...]


def product_grid(**axes: Real[ArrayLike, " _g"] | Sequence[Scalar]) -> ProductGrid:
    """Cartesian product of named 1-D value lists, flattened to a grid for
    :func:`~physjax.ensemble.sweep`.

    ``product_grid(temperature=[1., 2.], field=[0., .1, .2])`` has ``shape == (2, 3)`` and
    ``points['temperature'] == [1, 1, 1, 2, 2, 2]``, ``points['field'] == [0, .1, .2] * 2``.
    """
    if not axes:
        raise ValueError("axes: product_grid needs at least one named axis, e.g. "
                         "product_grid(temperature=[1.0, 2.0])")
    values = {}
    for name, v in axes.items():
        a = np.asarray(v)
        if a.ndim != 1 or a.size == 0:
            raise ValueError(f"{name} must be a non-empty 1-D list of values, "
                             f"got shape {a.shape}")
        check_finite(a, name)
        values[name] = a
    mesh = np.meshgrid(*values.values(), indexing="ij")
    shape = tuple(a.size for a in values.values())
    return ProductGrid({n: m.reshape(-1) for n, m in zip(values, mesh, strict=True)}, shape)


def unflatten_grid(tree: PyTree, shape: Sequence[Size]) -> PyTree:
    """Reshape the leading grid axis ``G`` of every leaf into ``shape`` (``prod(shape) == G``).

    ``unflatten_grid(result.values, pg.shape)`` turns ``(G, R, ...)`` into
    ``(*pg.shape, R, ...)``; ``unflatten_grid(result.grid, pg.shape)`` gives the axes back.
    """
    shape = tuple(check_positive_int(s, "shape entries") for s in shape)
    size = math.prod(shape)

    def reshape(x):
        if np.ndim(x) == 0 or np.shape(x)[0] != size:
            raise ValueError(f"shape {shape} has {size} grid points but a leaf has leading "
                             f"axis {np.shape(x)[:1]}")
        return x.reshape(shape + tuple(np.shape(x)[1:]))

    return jax.tree.map(reshape, tree)


def check_grid(grid: ProductGrid | PyTree) -> tuple[PyTree, int]:
    """Return the grid as a pytree of numpy arrays (JAX-canonical dtypes) and its size G.

    A :class:`ProductGrid` stands for its ``points``.  Leaves must be concrete (not traced),
    finite and share a non-empty leading axis; ``ValueError``/``TypeError`` otherwise.
    """
    if isinstance(grid, ProductGrid):
        grid = grid.points
    leaves, treedef = jax.tree_util.tree_flatten_with_path(grid)
    if not leaves:
        raise ValueError("grid must be a pytree with at least one array leaf, e.g. "
                         "{'temperature': jnp.linspace(1, 3, 8)}")
    out, sizes = [], {}
    for path, leaf in leaves:
        name = "grid" + jax.tree_util.keystr(path)
        if not is_concrete(leaf):
            raise TypeError(f"{name} is a traced value; sweep runs outside jit/vmap and needs "
                            "concrete grid values")
        a = np.asarray(leaf)
        check_finite(a, name)
        if a.ndim == 0:
            raise ValueError(f"{name} must have a leading grid axis, got a scalar; "
                             "wrap single values as [value]")
        sizes[name] = a.shape[0]
        out.append(a.astype(jax.dtypes.canonicalize_dtype(a.dtype), copy=False))
    if len(set(sizes.values())) != 1:
        raise ValueError(f"grid leaves must share the leading grid axis, got sizes {sizes}")
    size = next(iter(sizes.values()))
    if size == 0:
        raise ValueError("grid must have at least one point, got leading axis 0")
    return jax.tree_util.tree_unflatten(treedef, out), size
