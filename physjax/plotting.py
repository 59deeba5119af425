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
