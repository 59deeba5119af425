"""Figures of the resistor-network experiments (:mod:`physjax.experiments.networks`)."""

from __future__ import annotations

import numpy as np

from physjax._optional import require


def _terminal_markers(sources, targets, ground):
    return {"sources": list(sources), "targets": list(targets), "ground": list(ground)}


def learning_figure(d, net, rule_labels):
    from physjax.plotting import new_figure, plot_network

    fig, axes = new_figure(2, 2, panel_size=(4.6, 4.0))
    axes = axes.ravel()
    ax = axes[0]
    for rule, c, color in zip(d["rules"], d["cost"], ("k", "tab:orange", "tab:blue"),
                              strict=True):
        ax.semilogy(np.arange(c.size), np.maximum(c, 1e-300), color=color, lw=1.2,
                    label=rule_labels[rule])
    ax.set(xlabel="step", ylabel=r"cost $C$",
           title=f"seed-000 task: {net.n_nodes} nodes, {net.n_edges} edges")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7)
    k_all = np.asarray(d["conductances"])
    vmin, vmax = float(k_all.min()), float(k_all.max())
    markers = _terminal_markers(d["sources"], d["targets"], d["ground"])
    for ax, rule, k, c in zip(axes[1:], d["rules"], k_all, d["final_cost"], strict=True):
        plot_network(ax, net, k, positions=d["positions"], log=True, vmin=vmin, vmax=vmax,
                     cmap="viridis", marked_nodes=markers, label=r"$\log_{10} k$")
        ax.set_title(f"trained by {rule_labels[rule]}: C = {c:.2g}", fontsize=9)
    axes[1].legend(fontsize=7, loc="best")
    return fig


def hessian_figure(d, stiff_threshold):
    colormaps = require("matplotlib", by="physjax.experiments.networks (figures)").colormaps

    from physjax.plotting import new_figure

    fig, axes = new_figure(2, 3, panel_size=(4.2, 3.4))
    steps = d["steps"]
    m, n_c = d["n_tracked"], d["n_constraints"]
    cost_ev, phys_ev = d["cost_hessian_eigenvalues"], d["physical_hessian_eigenvalues"]

    def step_axis(ax):
        ax.set_xscale("symlog", linthresh=max(1, int(steps[1] - steps[0])) * 5)
        ax.set_xlim(0, steps[-1])
        ax.set_xlabel("step (symlog axis)")

    ax = axes[0, 0]
    ax.semilogy(np.arange(d["cost"].size), np.maximum(d["cost"], 1e-300), "k", lw=1.2)
    ax.set(ylabel=r"cost $C$", title="double optimization (Adam)")
    step_axis(ax)
    ax2 = ax.twinx()
    ax2.step(steps, d["stiff_modes"], where="post", color="tab:red", lw=1)
    ax2.set_ylabel(r"stiff modes ($\lambda > 10^{-6}\lambda_{max}$)", color="tab:red",
                   fontsize=8)
    ax2.axhline(n_c, color="tab:red", ls=":", lw=0.8)

    ax = axes[0, 1]
    n_top = min(n_c, cost_ev.shape[1])
    colours = [colormaps["plasma"](x) for x in np.linspace(0.0, 0.8, n_top)]
    for j in range(n_top):
        ax.plot(steps, cost_ev[:, -1 - j], "o-", ms=2.5, lw=1, color=colours[j],
                label=rf"$\lambda_{{{j + 1}}}$" if j < 6 else None)
    if cost_ev.shape[1] > n_top:
        ax.plot(steps, np.abs(cost_ev[:, -1 - n_top]), "--", color="0.5", lw=1,
                label=rf"$|\lambda_{{{n_top + 1}}}|$ (not stiff)")
    ax.set_yscale("log")
    ax.set_ylim(bottom=max(np.abs(cost_ev[:, -1 - n_top:]).min(),
                           1e-3 * cost_ev[:, -n_top:].min()))
    ax.set(ylabel="eigenvalue", title=f"cost Hessian: {n_top} highest")
    step_axis(ax)
    ax.legend(fontsize=7)

    ax = axes[0, 2]
    colours = [colormaps["viridis"](x) for x in np.linspace(0.0, 0.8, m)]
    for j in range(m):
        ax.plot(steps, phys_ev[:, j], "o-", ms=2.5, lw=1, color=colours[j],
                label=rf"$\mu_{{{j + 1}}}$" if j < 6 else None)
    ax.set_yscale("log")
    ax.set(ylabel="eigenvalue", title=rf"physical Hessian $H_{{ff}}$: {m} lowest")
    step_axis(ax)
    ax.legend(fontsize=7)

    ax = axes[1, 0]
    for row, label, style in ((0, "step 0", "C1o"), (-1, f"step {steps[-1]}", "C0o")):
        ev = np.sort(np.abs(cost_ev[row]))[::-1]
        ax.semilogy(np.arange(1, ev.size + 1), np.maximum(ev, 1e-300), style, ms=2.5,
                    label=label)
    ax.axhline(stiff_threshold * np.abs(cost_ev[-1]).max(), color="k", ls=":", lw=0.8,
               label=r"$10^{-6}\lambda_{max}$")
    ax.axvline(n_c + 0.5, color="tab:red", lw=0.8, ls="--", label=f"{n_c} constraints")
    ax.set(xlabel="rank", ylabel=r"|eigenvalue|", title="cost-Hessian spectrum")
    ax.set_ylim(bottom=max(1e-22, np.abs(cost_ev[-1]).max() * 1e-18))
    ax.legend(fontsize=7)

    ax = axes[1, 1]
    for row, label, style in ((0, "step 0", "C1o"), (-1, f"step {steps[-1]}", "C0o")):
        ax.semilogy(np.arange(1, phys_ev.shape[1] + 1), phys_ev[row], style, ms=2.5,
                    label=label)
    ax.set(xlabel="index", ylabel="eigenvalue", title="physical-Hessian spectrum")
    ax.legend(fontsize=7)

    ax = axes[1, 2]
    x = np.arange(len(d["stiff_task_labels"]))
    ax.bar(x - 0.2, d["stiff_task_constraints"], 0.4, color="0.75",
           label="targets x examples")
    ax.bar(x + 0.2, d["stiff_task_modes"], 0.4, color="tab:blue", label="stiff modes")
    ax.plot(x, d["stiff_task_independent_constraints"], "r_", ms=22, mew=2,
            label="independent constraints")
    ax.set_xticks(x, d["stiff_task_labels"], fontsize=7)
    ax.set(ylabel="count", title="stiff cost-Hessian modes at a solution")
    ax.legend(fontsize=7, loc="upper left")
    return fig


def eta_figure(d):
    from physjax.plotting import new_figure

    fig, ax = new_figure(1, 1, panel_size=(5.6, 4.2))
    etas = d["etas"]
    styles = {"coupled_learning": ("tab:orange", "o", r"coupled learning vs $J^\top G_{eff} r$"),
              "ep_positive": ("tab:blue", "^", r"EP, nudge $+\eta$"),
              "ep_negative": ("tab:cyan", "v", r"EP, nudge $-\eta$"),
              "ep_centred": ("tab:purple", "s", r"EP, centred $\pm\eta$")}
    for name, (color, marker, label) in styles.items():
        e, s = d["errors"][name], d["slopes"][name]
        ax.loglog(etas, e, marker, color=color, ms=4, label=f"{label}: slope {s:.2f}")
        fit = np.polyfit(np.log(etas), np.log(e), 1)
        ax.loglog(etas, np.exp(np.polyval(fit, np.log(etas))), "-", color=color, lw=0.8)
    ax.loglog(etas, d["coupled_learning_vs_gradient"], ":", color="tab:orange", lw=1.2,
              label=r"coupled learning vs $\nabla C$ (metric $G_{eff}\neq 1$)")
    ax.set(xlabel=r"clamping / nudge $\eta$", ylabel="relative error",
           title=f"{d['side']}x{d['side']} grid, random k: local rules as $\\eta\\to 0$")
    ax.legend(fontsize=7)
    return fig
