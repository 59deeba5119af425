"""Figures of the Hopfield experiments (:mod:`physjax.experiments.hopfield`).

One function per experiment, each taking the experiment's ``data`` dictionary and returning
a Matplotlib figure; the AGS reference lines come from :mod:`physjax.spins.theory`.
"""

from __future__ import annotations

import numpy as np

from physjax._optional import require
from physjax.spins.theory import AGS_ALPHA_C, AGS_M_C, spin_glass_temperature

__all__ = ["capacity_figure", "dreaming_figure", "phase_figure", "retrieval_figure"]


def _colours(n):
    colormaps = require("matplotlib", by="physjax.experiments.hopfield (figures)").colormaps

    return [colormaps["viridis"](x) for x in np.linspace(0.0, 0.8, n)]


def retrieval_figure(d):
    from physjax.plotting import new_figure

    fig, ax = new_figure(1, 1, panel_size=(5.0, 4.0))
    colours = _colours(len(d["alphas"]))
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls=":", label="no change")
    for a, al in enumerate(d["alphas"]):
        ax.errorbar(d["initial_overlaps"], d["mean_final_overlap"][a], d["se_final_overlap"][a],
                    fmt="o-", ms=3.5, lw=1.2, capsize=1.5, color=colours[a],
                    label=rf"$\alpha$ = {al:.3g}")
    ax.axhline(AGS_M_C, color="k", lw=0.8, ls="--", label=r"AGS $m_c$ = 0.967")
    ax.set(xlabel=r"initial overlap $m_0$", ylabel=r"final overlap $m$", ylim=(-0.05, 1.05),
           title=f"T = 0 asynchronous retrieval, N = {d['n_spins']}")
    ax.legend(fontsize=7, loc="lower right")
    return fig


def capacity_figure(d):
    from physjax.plotting import new_figure

    fig, (ax_m, ax_p) = new_figure(1, 2, panel_size=(4.6, 3.6))
    colours = _colours(len(d["sizes"]))
    for i, N in enumerate(d["sizes"]):
        a = d["alphas"][i]
        ax_m.errorbar(a, d["mean_final_overlap"][i], d["se_final_overlap"][i], fmt="o-", ms=3.5,
                      capsize=1.5, color=colours[i], label=f"N = {N}")
        ax_p.plot(a, d["retrieval_probability"][i], "o-", ms=3.5, color=colours[i],
                  label=f"N = {N}")
        th = d["thresholds"][i]
        if np.isfinite(th):
            for ax in (ax_m, ax_p):
                ax.axvline(th, color=colours[i], lw=0.9, ls="--")
            ax_m.plot([th], [AGS_M_C], "x", color=colours[i], ms=8,
                      label=rf"threshold $\alpha$ = {th:.3f}")
    for ax in (ax_m, ax_p):
        ax.axvline(AGS_ALPHA_C, color="k", lw=1.0, ls=":", label=r"AGS $\alpha_c$ = 0.138")
        ax.set_xlabel(r"load $\alpha = K/N$")
    ax_m.axhline(AGS_M_C, color="0.5", lw=0.8, ls="-.", label=r"AGS $m_c$ = 0.967")
    ax_m.set(ylabel=r"mean final overlap $\langle m\rangle$", ylim=(0, 1.03),
             title="T = 0 from the stored patterns")
    ax_p.set(ylabel=rf"P($m > {d['success_overlap']:g}$)", ylim=(-0.03, 1.03),
             title="retrieval probability")
    ax_m.legend(fontsize=7, loc="lower left")
    ax_p.legend(fontsize=7, loc="lower left")
    return fig


def phase_figure(d):
    from physjax.plotting import new_figure

    colors = require("matplotlib.colors", by="physjax.experiments.hopfield (figures)")
    ListedColormap = colors.ListedColormap

    fig, axes = new_figure(1, 3, panel_size=(4.2, 3.6))
    a, t = d["alphas"], d["temperatures"]
    da, dt = (a[1] - a[0] if a.size > 1 else a[0]), (t[1] - t[0] if t.size > 1 else 0.1)
    extent = (a[0] - da / 2, a[-1] + da / 2, t[0] - dt / 2, t[-1] + dt / 2)
    cmap = ListedColormap(["#f2f2f2", "#9ecae1", "#fdae6b"])
    panels = [(d["phase"], cmap, (-0.5, 2.5), "phases (this run)"),
              (d["mean_abs_overlap"], "magma", (0, 1), r"$\langle|\bar m|\rangle$"),
              (d["mean_q_ea"], "viridis", (0, 1), r"$q_{EA}$ (split-half)")]
    a_fine = np.linspace(0, extent[1], 200)
    for ax, (z, cm, (lo, hi), title) in zip(axes, panels, strict=True):
        im = ax.imshow(np.asarray(z, float).T, origin="lower", aspect="auto", extent=extent,
                       cmap=cm, vmin=lo, vmax=hi, interpolation="nearest")
        ax.plot(d["ags_line_alpha"], d["ags_line_temperature"], "k-", lw=1.4,
                label=r"AGS $T_M(\alpha)$")
        ax.plot(a_fine, spin_glass_temperature(a_fine), "k--", lw=1.2,
                label=r"$T_g = 1+\sqrt{\alpha}$")
        ax.set(xlabel=r"$\alpha = K/N$", ylabel="T", title=title, xlim=extent[:2],
               ylim=extent[2:])
        if ax is not axes[0]:
            fig.colorbar(im, ax=ax, shrink=0.85)
    Patch = require("matplotlib.patches", by="physjax.experiments.hopfield (figures)").Patch

    handles = [Patch(color=cmap(p), label=name) for p, name in enumerate(d["phase_names"])]
    handles += axes[0].get_legend_handles_labels()[0]
    axes[0].legend(handles=handles, fontsize=7, loc="upper left")
    axes[0].set_title(f"phases, N = {d['n_spins']} (m > {d['retrieval_overlap']:g}, "
                      f"q > {d['q_threshold']:g})", fontsize=9)
    return fig


def dreaming_figure(d):
    from physjax.plotting import new_figure

    fig, (ax_m, ax_t) = new_figure(1, 2, panel_size=(4.6, 3.6))
    colours = _colours(len(d["sleep_times"]))
    for i, ti in enumerate(d["sleep_times"]):
        ax_m.errorbar(d["alphas"], d["mean_final_overlap"][i], d["se_final_overlap"][i],
                      fmt="o-", ms=3.5, capsize=1.5, color=colours[i], label=f"t = {ti:g}")
    ax_m.axhline(AGS_M_C, color="0.5", lw=0.8, ls="-.", label=r"$m_c$ = 0.967")
    ax_m.axvline(AGS_ALPHA_C, color="k", lw=0.8, ls=":", label=r"AGS $\alpha_c$")
    ax_m.set(xlabel=r"load $\alpha$", ylabel=r"mean final overlap $\langle m\rangle$",
             ylim=(0, 1.03), title=f"T = 0 from the stored patterns, N = {d['n_spins']}")
    ax_m.legend(fontsize=7, loc="lower left")
    th = np.asarray(d["thresholds"], float)
    x = np.maximum(d["sleep_times"], 0.1)
    ok = np.isfinite(th)
    ax_t.plot(x[ok], th[ok], "ko-", ms=4, label=r"threshold ($\langle m\rangle < m_c$)")
    if (~ok).any():
        ax_t.plot(x[~ok], np.full((~ok).sum(), d["alphas"][-1]), "k^", ms=7, mfc="none",
                  label="retrieves on the whole grid")
    ax_t.axhline(AGS_ALPHA_C, color="k", lw=0.8, ls=":", label="Hebb (AGS)")
    ax_t.axhline(1.0, color="0.5", lw=0.8, ls="--", label=r"$t\to\infty$: $\alpha_c = 1$")
    ax_t.set(xscale="log", xlabel="sleep time t (t = 0 drawn at 0.1)",
             ylabel=r"threshold $\alpha$", ylim=(0, 1.05), title="capacity vs sleep time")
    ax_t.legend(fontsize=7, loc="lower right")
    return fig
