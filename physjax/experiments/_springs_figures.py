"""Figures of the spring-network experiments (:mod:`physjax.experiments.springs`)."""

from __future__ import annotations

import numpy as np


def allostery_figure(net, d):
    from physjax.plotting import new_figure, plot_spring_network

    fig, ax = new_figure(1, 4, panel_size=(3.4, 3.2))
    pairs = np.stack([d["site_a"], d["site_b"]])
    for i, name in enumerate(("allostery", "cooperative")):
        plot_spring_network(ax[i], net, d[name]["stiffnesses"], pairs=pairs, log=True,
                            cmap="magma_r", colorbar=True, label="k")
        ax[i].set_title(f"{name}: B/A = {d[name]['strain_b_given_a']:.3f}")
        n = len(d[name]["projection"])
        ax[2].semilogy(np.arange(1, n + 1), d[name]["projection"], "o-", ms=3, label=name)
    ax[2].set(xlabel="mode j (ascending frequency)", ylabel=r"$(e_j\cdot u_A)^2/|u_A|^2$",
              title="response to binding A")
    ax[2].legend()
    names = d["names"]
    x = np.arange(len(names))
    ax[3].bar(x - 0.2, [d[n]["e_b"] for n in names], 0.4, label="bind B alone")
    ax[3].bar(x + 0.2, [d[n]["e_b_after_a"] for n in names], 0.4, label="bind B after A")
    ax[3].set_xticks(x, [n.replace(", ", "\n") for n in names], fontsize=7)
    ax[3].set_yscale("log")
    ax[3].set(ylabel="energy", title="binding energies")
    ax[3].legend()
    return fig


def thermal_figure(d):
    from physjax.plotting import new_figure

    fig, ax = new_figure(1, 3, panel_size=(3.8, 3.2))
    t = d["temperatures"]
    band = d["sigma"] + d["sigma_rest"]
    ax[0].semilogx(t, np.full_like(t, d["mean_strain_b"]), "C0",
                   label=r"$\langle\epsilon_B\rangle$")
    ax[0].fill_between(t, d["mean_strain_b"] - band, d["mean_strain_b"] + band, color="C0",
                       alpha=0.25, label=r"$\pm(\sigma+\sigma^0)$")
    ax[0].plot(t, d["sigma_rest"], "C1--", label=r"$\sigma^0$ (no input)")
    ax[0].axvline(d["t_star"], color="k", lw=0.8, ls=":")
    ax[0].set(xlabel="T", ylabel=r"strain at B", title=f"T* = {d['t_star']:.3g}")
    ax[0].legend(fontsize=7)
    ax[1].loglog(d["ratios"], d["t_star_vs_ratio"], "o-")
    ax[1].set(xlabel=r"response $\Delta$", ylabel="T*", title="allostery: T* vs response")
    lam = d["lambdas"]
    x = np.where(lam > 0, lam, np.min(lam[lam > 0]) / 3 if np.any(lam > 0) else 1e-5)
    ax[2].semilogx(x, d["t_star_vs_lambda"] / d["t_star_vs_lambda"][0], "o-", label="T*/T*(0)")
    ax[2].semilogx(x, d["cost_vs_lambda"] / max(d["cost_vs_lambda"][0], 1e-300), "s--",
                   label="cost/cost(0)")
    ax[2].set_yscale("log")
    ax[2].set(xlabel=r"energy regularization $\lambda$ (0 drawn at left)",
              title="cooperative binding")
    ax[2].legend(fontsize=7)
    return fig


def localized_figure(net, d):
    from physjax.plotting import new_figure, plot_spring_network

    fig, ax = new_figure(1, 4, panel_size=(3.3, 3.2))
    pairs = np.stack([d["site_a"], d["site_b"]])
    masks = d["boundary_masks"]
    for i, m in enumerate((1, min(3, len(masks)))):
        plot_spring_network(ax[i], net, highlight=masks[m - 1], pairs=pairs, linewidth=0.8)
        ax[i].set_title(f"boundary edges, $N_m$ = {m}")
    plot_spring_network(ax[2], net, d["frequency"], cmap="Reds", colorbar=True,
                        label=r"$f_e$", pairs=pairs)
    ax[2].set_title("weighted boundary frequency")
    nm = np.arange(1, len(d["boundary_counts"]) + 1)
    ax[3].plot(nm, d["boundary_counts"], "o-", label="boundary edges")
    ax[3].plot(nm, d["boundary_counts"][-1] * np.sqrt(nm / nm[-1]), "k--",
               label=r"$\propto\sqrt{N_m}$")
    ax[3].set(xlabel=r"$N_m$ (modes localized)", ylabel="count", xticks=nm)
    ax[3].legend(fontsize=7)
    return fig
