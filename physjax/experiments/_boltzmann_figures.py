"""Figures of the Boltzmann-machine experiments (:mod:`physjax.experiments.boltzmann`)."""

from __future__ import annotations

import itertools

import numpy as np

from physjax._optional import require
from physjax.experiments._ising_models import plot_energy_and_magnetization


def ising_figure(d):
    Figure = require("matplotlib.figure", by="physjax.experiments.boltzmann (figures)").Figure

    T, n_t = d["temperatures"], len(d["temperatures"])
    fig = Figure(figsize=(max(8.0, 1.3 * n_t), 6.4), layout="constrained")
    gs = fig.add_gridspec(3, 2 * n_t)
    ax_e = fig.add_subplot(gs[0, :n_t])
    ax_m = fig.add_subplot(gs[0, n_t:])
    plot_energy_and_magnetization(ax_e, ax_m, d, "rbm", "RBM")
    for i in range(n_t):
        for row, key, name in ((1, "snapshots_mc", "MC"), (2, "snapshots_rbm", "RBM")):
            ax = fig.add_subplot(gs[row, 2 * i: 2 * i + 2])
            ax.imshow(d[key][i], cmap="gray", vmin=-1, vmax=1)
            ax.set(xticks=[], yticks=[], title=f"{name}, T = {T[i]:g}")
    return fig


def digits_figure(d):
    Figure = require("matplotlib.figure", by="physjax.experiments.boltzmann (figures)").Figure

    fig = Figure(figsize=(12, 4.2), layout="constrained")
    sub = fig.subfigures(1, 3, width_ratios=(1, 1, 1.3))
    for sf, key, title in ((sub[0], "filters", "filters (hidden-unit weights)"),
                           (sub[1], "samples", "RBM samples (E[v|h])")):
        imgs = d[key][:16]
        axes = sf.subplots(4, 4)
        for ax, img in zip(axes.ravel(), itertools.chain(imgs, itertools.repeat(None)),
                           strict=False):
            ax.set(xticks=[], yticks=[])
            if img is not None:
                lim = np.abs(img).max() if key == "filters" else 1.0
                ax.imshow(img, cmap="RdBu_r" if key == "filters" else "gray_r",
                          vmin=-lim if key == "filters" else 0, vmax=lim)
        sf.suptitle(title, fontsize=9)
    ax = sub[2].subplots()
    ax.plot(d["epochs"], d["pseudo_ll_train"], "C0-", label="train pseudo-LL")
    ax.plot(d["epochs"], d["pseudo_ll_test"], "C1-", label="test pseudo-LL")
    c = d["checkpoints"]
    ax.errorbar(c[:, 0], c[:, 2], c[:, 3], fmt="C1s", mfc="none", label="test LL (AIS)")
    ax.errorbar(c[:, 0], c[:, 1], c[:, 3], fmt="C0s", mfc="none", label="train LL (AIS)")
    if c.shape[1] > 4:
        ax.plot(c[:, 0], c[:, 4], "k+", ms=9, label="test LL (exact)")
    ax.axhline(d["sklearn_pseudo_ll_test"], color="0.5", ls="--",
               label="sklearn BernoulliRBM, test pseudo-LL")
    ax.set(xlabel="epoch", ylabel="nats per image",
           title=f"binarized digits, {d['n_hidden']} hidden units")
    ax.legend(fontsize=7)
    return fig


def hopfield_figure(d):
    Figure = require("matplotlib.figure", by="physjax.experiments.boltzmann (figures)").Figure

    fig = Figure(figsize=(12, 4.6), layout="constrained")
    sub = fig.subfigures(1, 3, width_ratios=(1, 1, 1.4))
    ax = sub[0].subplots()
    ax.plot(d["log_p_hopfield"], d["log_p_rbm"], ".", ms=2)
    lo, hi = d["log_p_hopfield"].min(), d["log_p_hopfield"].max()
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.6)
    diff = np.max(np.abs(d["log_p_rbm"] - d["log_p_hopfield"]))
    ax.set(xlabel=r"Hopfield $\log p(\sigma)$", ylabel=r"Gaussian RBM $\log p(v)$",
           title=f"all {len(d['log_p_rbm'])} states, max |diff| = {diff:.1e}")
    ax = sub[1].subplots()
    ax.plot(d["epochs"], d["pseudo_ll_hopfield_init"], "C3o-", label="Hopfield init")
    ax.plot(d["epochs"], d["pseudo_ll_random_init"], "C0s-", label="random init")
    ax.set(xlabel="epoch", ylabel="test pseudo-LL (nats per image)",
           title="digits, 10 Gaussian hidden units")
    ax.legend(fontsize=8)
    axes = sub[2].subplots(3, 10)
    for row, key, name in ((0, "digit_patterns", "patterns"),
                           (1, "weights_hopfield_init", "Hopfield init"),
                           (2, "weights_random_init", "random init")):
        for c in range(10):
            img = d[key][c]
            lim = np.abs(img).max() or 1.0
            axes[row, c].imshow(img, cmap="gray_r" if row == 0 else "RdBu_r", vmin=-lim,
                                vmax=lim)
            axes[row, c].set(xticks=[], yticks=[])
        axes[row, 0].set_ylabel(name, fontsize=7)
    sub[2].suptitle("class patterns and trained weights", fontsize=9)
    return fig
