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
from pathlib import Path

from physjax._optional import require

matplotlib = require("matplotlib", by="physjax.plotting")

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
    from physjax._files import atomic_write  # mode 0o666 & ~umask, fsync, os.replace

    atomic_write(path, lambda f: fig.savefig(f, dpi=dpi, format=fmt, **savefig_kw),
                 prefix=f".{path.stem}.", suffix=path.suffix)
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


# ------------------------------------------------------------------------------- networks


def network_layout(graph, *, seed: int = 0):
    """Node positions (n_nodes, 2) for drawing ``graph``: its own 2-D ``positions`` when it
    has them (the first two coordinates in higher dimension), else a networkx spring layout
    (deterministic for a given ``seed``)."""
    import numpy as np

    if graph.positions is not None:
        return np.asarray(graph.positions, float)[:, :2]
    from physjax.graphs import to_networkx

    nx = require("networkx", by="physjax.plotting.network_layout")

    pos = nx.spring_layout(to_networkx(graph), seed=seed)
    return np.array([pos[i] for i in range(graph.n_nodes)], float)


_NODE_STYLES = (
    {"marker": "^", "color": "tab:red"},
    {"marker": "s", "color": "tab:blue"},
    {"marker": "v", "color": "k"},
    {"marker": "D", "color": "tab:green"},
    {"marker": "P", "color": "tab:purple"},
)


def plot_network(
    ax,
    graph,
    edge_values=None,
    *,
    positions=None,
    log: bool = False,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    widths: tuple[float, float] = (0.6, 3.0),
    node_size: float = 8.0,
    node_color: str = "0.35",
    marked_nodes=None,
    marker_size: float = 60.0,
    colorbar: bool = True,
    label: str | None = None,
):
    r"""Draw ``graph`` on ``ax`` with each edge coloured (and widened) by ``edge_values``.

    Args:
        graph: a :class:`physjax.graphs.Graph`.
        edge_values: one number per edge (e.g. conductances :math:`k_e`), or None for
            plain grey edges.
        positions: node coordinates (n_nodes, 2); default :func:`network_layout`.
        log: colour and width by :math:`\log_{10}` of the (positive) values.
        widths: line widths of the smallest and largest value (linear in the colour scale).
        marked_nodes: mapping ``label -> node indices`` drawn as large markers on top
            (e.g. ``{"sources": ..., "targets": ..., "ground": ...}``); the styles cycle
            red triangles, blue squares, black triangles, ...; a value may also be a pair
            ``(nodes, style_dict)`` of scatter keyword arguments.
        colorbar, label: add a colour bar labelled ``label``.

    Returns the ``LineCollection`` of the edges.
    """
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    edges = np.asarray(graph.edges)
    pos = network_layout(graph) if positions is None else np.asarray(positions, float)
    if pos.shape != (graph.n_nodes, 2):
        raise ValueError(f"positions must have shape (n_nodes, 2) = ({graph.n_nodes}, 2), "
                         f"got {pos.shape}")
    segments = pos[edges]  # (n_edges, 2, 2)
    if edge_values is None:
        lines = LineCollection(segments, colors="0.5", linewidths=widths[0], zorder=1)
    else:
        values = np.asarray(edge_values, float)
        if values.shape != (graph.n_edges,):
            raise ValueError(f"edge_values must have shape (n_edges,) = ({graph.n_edges},), "
                             f"got {values.shape}")
        if log:
            if np.any(values <= 0):
                raise ValueError("log=True needs positive edge_values")
            values = np.log10(values)
        lo = np.min(values) if vmin is None else (np.log10(vmin) if log else vmin)
        hi = np.max(values) if vmax is None else (np.log10(vmax) if log else vmax)
        if hi <= lo:
            hi = lo + 1.0
        norm = Normalize(lo, hi)
        scaled = np.clip(norm(values), 0.0, 1.0)
        lines = LineCollection(segments, array=values, cmap=colormaps[cmap], norm=norm,
                               linewidths=widths[0] + (widths[1] - widths[0]) * scaled,
                               zorder=1)
    ax.add_collection(lines)
    ax.scatter(pos[:, 0], pos[:, 1], s=node_size, c=node_color, zorder=2, linewidths=0)
    for i, (name, nodes) in enumerate((marked_nodes or {}).items()):
        style = dict(_NODE_STYLES[i % len(_NODE_STYLES)])
        if isinstance(nodes, tuple) and len(nodes) == 2 and isinstance(nodes[1], dict):
            nodes, extra = nodes
            style.update(extra)
        idx = np.atleast_1d(np.asarray(nodes, int))
        style = {"s": marker_size, "zorder": 3, "edgecolors": "white", "linewidths": 0.8,
                 **style}
        ax.scatter(pos[idx, 0], pos[idx, 1], label=name, **style)
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.set(xticks=[], yticks=[])
    if colorbar and edge_values is not None:
        default = r"$\log_{10}$ value" if log else "value"
        ax.figure.colorbar(lines, ax=ax, label=label or default, shrink=0.8)
    return lines


__all__ += ["network_layout", "plot_network"]


# ----------------------------------------------------------------------------- spring networks


def plot_spring_network(
    ax,
    network,
    edge_values=None,
    *,
    cmap: str = "viridis",
    highlight=None,
    pairs=None,
    linewidth: float = 1.2,
    colorbar: bool = False,
    label: str = "",
    log: bool = False,
):
    r"""Draw a 2-D :class:`physjax.networks.spring.SpringNetwork` on ``ax``.

    Each spring is the segment from node a to :math:`x_a - r_{ab}` (:math:`r_{ab}` the
    minimum-image bond vector, so springs across a periodic boundary stick out of the box).
    ``edge_values`` (one per spring) colours the springs with ``cmap`` (log scale with
    ``log=True``); ``highlight`` (boolean per spring) draws those springs thick and red on
    top; ``pairs`` (an (n, 2) array of node pairs, e.g. a task's source and target) are
    marked by dashed lines and large dots.  Returns the ``LineCollection``.
    """
    import numpy as np
    from matplotlib.collections import LineCollection
    from matplotlib.colors import LogNorm

    x = np.asarray(network.positions, float)
    if x.shape[1] != 2:
        raise ValueError(f"plot_spring_network draws 2-D networks, got dimension {x.shape[1]}")
    e = np.asarray(network.graph.edges)
    r = x[e[:, 0]] - x[e[:, 1]]
    if network.box is not None:
        box = np.asarray(network.box, float)
        r -= box * np.round(r / box)
    segments = np.stack([x[e[:, 0]], x[e[:, 0]] - r], 1)
    if edge_values is None:
        lc = LineCollection(segments, linewidths=linewidth, colors="0.5")
    else:
        values = np.asarray(edge_values, float)
        norm = LogNorm(vmin=max(values.min(), 1e-12), vmax=values.max()) if log else None
        lc = LineCollection(segments, linewidths=linewidth, cmap=cmap, norm=norm)
        lc.set_array(values)
    ax.add_collection(lc)
    if highlight is not None:
        h = np.asarray(highlight, bool)
        ax.add_collection(LineCollection(segments[h], linewidths=2.5 * linewidth,
                                         colors="crimson"))
    if pairs is not None:
        colours = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")
        for (i, j), colour in zip(np.atleast_2d(np.asarray(pairs)), colours, strict=False):
            d = x[i] - x[j]
            if network.box is not None:
                d -= box * np.round(d / box)
            ends = np.stack([x[i], x[i] - d])
            ax.plot(*ends.T, "--", color=colour, lw=1.5, zorder=4)
            ax.plot(*ends.T, "o", color=colour, ms=6, zorder=5)
    if network.box is not None:
        ax.set_xlim(0, box[0])
        ax.set_ylim(0, box[1])
    else:
        ax.autoscale_view()
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if colorbar and edge_values is not None:
        ax.figure.colorbar(lc, ax=ax, label=label, shrink=0.8)
    return lc


__all__ += ["plot_spring_network"]
