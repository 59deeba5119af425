"""Matplotlib helpers shared by the experiments and notebooks.

Loaded lazily: ``import physjax`` does not import this module or matplotlib.

Figures are built with matplotlib's object-oriented API (``matplotlib.figure.Figure``),
not ``pyplot``, so that experiments leave no global figure state behind, work without a
display, and do not show twice in a notebook. In Jupyter, a returned figure displays when
it is the last expression of a cell (or with ``IPython.display.display(fig)``).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import matplotlib

__all__ = ["new_figure", "save_figure", "use_agg_if_headless"]


def use_agg_if_headless() -> str:
    """Select the non-interactive 'Agg' backend when there is no display; return the backend.

    Does nothing when the user chose a backend (``MPLBACKEND``), when ``pyplot`` is
    already imported, or when a display is available (``DISPLAY``/``WAYLAND_DISPLAY`` on
    Linux; always assumed on macOS and Windows).
    """
    headless = sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
    if headless and "MPLBACKEND" not in os.environ and "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    return matplotlib.get_backend()


use_agg_if_headless()


def new_figure(
    nrows: int = 1,
    ncols: int = 1,
    *,
    panel_size: tuple[float, float] = (4.0, 3.2),
    figsize: tuple[float, float] | None = None,
    squeeze: bool = True,
    **subplots_kw,
):
    """A new ``Figure`` with an ``nrows`` × ``ncols`` grid of axes, constrained layout.

    Args:
        nrows, ncols: grid of panels.
        panel_size: (width, height) in inches of one panel; sets ``figsize`` when that is
            not given.
        figsize: total (width, height) in inches.
        squeeze: as in ``plt.subplots``: a single ``Axes`` for a 1×1 grid, a 1-D array for
            one row or column.
        **subplots_kw: passed to ``Figure.subplots`` (``sharex``, ``sharey``,
            ``subplot_kw``, ``gridspec_kw``, ...).

    Returns:
        ``(fig, axes)``.
    """
    from matplotlib.figure import Figure

    if figsize is None:
        figsize = (panel_size[0] * ncols, panel_size[1] * nrows)
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=squeeze, **subplots_kw)
    return fig, axes


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 150, **savefig_kw) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix, e.g. ``.png``); return the path.

    Creates the parent folder; the file is written to a temporary name and then renamed,
    so an interrupted run never leaves a truncated image.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = savefig_kw.pop("format", None) or (path.suffix.lstrip(".") or "png")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi, format=fmt, **savefig_kw)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# ---------------------------------------------------------------------------- loss landscapes


def _plane_arrays(alphas, betas, values):
    import numpy as np

    alphas, betas, values = np.asarray(alphas), np.asarray(betas), np.asarray(values)
    if values.shape != (alphas.shape[0], betas.shape[0]):
        raise ValueError(f"values must have shape (len(alphas), len(betas)) = "
                         f"{(alphas.shape[0], betas.shape[0])}, got {values.shape}")
    return alphas, betas, values


def plot_loss_heatmap(
    ax,
    alphas,
    betas,
    values,
    *,
    mark_minimum: bool = True,
    contours: int = 12,
    cmap: str = "RdYlGn_r",
    colorbar: bool = True,
    label: str = "loss",
    log: bool = False,
):
    r"""Heatmap of a loss plane :math:`\ell(\alpha, \beta)` with the sampled minimum marked.

    ``values[j, k]`` is the loss at :math:`(\alpha_j, \beta_k)`, as returned by
    :func:`physjax.curvature.landscape.loss_plane`; :math:`\alpha` runs along the x axis.
    Green is low, red is high (as in seed 001, Fig. 12); ``contours`` black contour lines
    (0 for none); a black cross marks the smallest sampled value and a small white circle
    the origin :math:`\theta^*`.  ``log=True`` uses a logarithmic colour scale (positive
    losses such as an MSE whose range spans decades).  Returns the ``QuadMesh``.
    """
    import numpy as np
    from matplotlib.colors import LogNorm

    alphas, betas, values = _plane_arrays(alphas, betas, values)
    finite = values[np.isfinite(values)]
    norm = None
    if log:
        if finite.size == 0 or finite.min() <= 0:
            raise ValueError("log=True needs positive loss values")
        norm = LogNorm(vmin=finite.min(), vmax=finite.max())
    mesh = ax.pcolormesh(alphas, betas, values.T, cmap=cmap, shading="auto", norm=norm)
    if contours and finite.size and np.ptp(finite) > 0:
        levels = contours
        if log:
            levels = np.geomspace(finite.min(), finite.max(), contours + 2)[1:-1]
        ax.contour(alphas, betas, values.T, levels=levels, colors="k", linewidths=0.4,
                   alpha=0.5)
    ax.plot([0], [0], "o", mfc="white", mec="k", ms=4, zorder=3)
    if mark_minimum:
        j, k = np.unravel_index(np.nanargmin(np.where(np.isfinite(values), values, np.nan)),
                                values.shape)
        ax.plot([alphas[j]], [betas[k]], "kx", ms=9, mew=2, zorder=4)
    ax.set_xlabel(r"$\alpha$")
    ax.set_ylabel(r"$\beta$")
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, label=label)
    return mesh


def plot_loss_surface(
    ax,
    alphas,
    betas,
    values,
    *,
    mark_minimum: bool = True,
    cmap: str = "RdYlGn_r",
    label: str = "loss",
):
    r"""3-D surface :math:`(\alpha, \beta, \ell(\alpha, \beta))` with the sampled minimum marked.

    ``ax`` must be a 3-D axes, e.g. ``fig.add_subplot(projection="3d")``; ``values`` as in
    :func:`plot_loss_heatmap`.  Returns the surface.
    """
    import numpy as np

    if getattr(ax, "name", "") != "3d":
        raise ValueError("ax must be a 3-D axes: fig.add_subplot(..., projection='3d')")
    alphas, betas, values = _plane_arrays(alphas, betas, values)
    a, b = np.meshgrid(alphas, betas, indexing="ij")
    surf = ax.plot_surface(a, b, values, cmap=cmap, linewidth=0, antialiased=True, alpha=0.9)
    if mark_minimum:
        j, k = np.unravel_index(np.nanargmin(np.where(np.isfinite(values), values, np.nan)),
                                values.shape)
        ax.scatter([alphas[j]], [betas[k]], [values[j, k]], c="k", marker="x", s=60,
                   depthshade=False)
    ax.set_xlabel(r"$\alpha$")
    ax.set_ylabel(r"$\beta$")
    ax.set_zlabel(label)
    return surf


__all__ += ["plot_loss_heatmap", "plot_loss_surface"]
