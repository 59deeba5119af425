"""Figures of the dynamics experiments (:mod:`physjax.experiments.dynamics`)."""

from __future__ import annotations

import numpy as np

from physjax.dynamics.theory import matrix_channel_overlap, wigner_equilibrium_overlap


def recovery_figure(d):
    from physjax.plotting import new_figure

    fig, axes = new_figure(2, 3, panel_size=(4.2, 3.3))
    t = d["wigner_time"]
    for j, (ax, label, theory) in enumerate(zip(
            axes[0, :2], ("gradient flow", f"Langevin T = {d['wigner_temperature']:g}"),
            (d["wigner_gf_theory"], d["wigner_langevin_theory"]), strict=True)):
        for g, lam in enumerate(d["snrs"]):
            m2 = d["wigner_m2"][g, :, j]
            ax.plot(t[1:], m2.mean(0)[1:], color=f"C{g}", label=f"λ = {lam:g}")
            ax.fill_between(t[1:], m2.min(0)[1:], m2.max(0)[1:], color=f"C{g}", alpha=0.15,
                            lw=0)
            ax.axhline(theory[g], color=f"C{g}", ls="--", lw=0.9)
        ax.set(xscale="log", xlabel="t", ylabel=r"$m^2$", ylim=(-0.02, 1.0),
               title=f"spiked Wigner N = {d['wigner_n']}, {label}")
    axes[0, 0].legend(fontsize=7, title="dashed: N → ∞ theory", title_fontsize=7)
    ax = axes[0, 2]
    lam = np.linspace(0.3, max(3.2, d["snrs"].max() * 1.05), 200)
    for j, (temp, mk, lab) in enumerate(((0.0, "o", "gradient flow"),
                                         (d["wigner_temperature"], "s", "Langevin"))):
        ax.plot(lam, wigner_equilibrium_overlap(lam, temp), color=f"C{j}", lw=1)
        final = d["wigner_m2"][:, :, j, -1]
        ax.errorbar(d["snrs"], final.mean(1), final.std(1), fmt=mk, color=f"C{j}", ms=4,
                    capsize=2, label=f"{lab} (T = {temp:g})")
    ax.axvline(1.0, color="0.5", lw=0.8, ls=":")
    ax.set(xlabel="λ", ylabel=r"final $m^2$", title="final overlap vs BBP theory")
    ax.legend(fontsize=7)

    t = d["mt_time"]
    first = [c for c, d2 in enumerate(d["mt_delta2"]) if d2 in (None, d["mt_delta2"][0])]
    for j, (ax, label) in enumerate(zip(
            axes[1, :2], ("gradient flow", f"Langevin T = {d['mt_temperature']:g}"),
            strict=True)):
        for k, c in enumerate(first):
            for r, m in enumerate(d["mt_m"][c, j]):
                ax.plot(t[1:], m[1:], color=f"C{k}", lw=0.7, alpha=0.7,
                        label=d["mt_configs"][c] if r == 0 else None)
        ax.axhline(0.0, color="k", lw=0.5)
        ax.set(xscale="log", xlabel="t", ylabel="m (each replica)", ylim=(-1.0, 1.0),
               title=f"matrix–tensor p = 3, N = {d['mt_n']}, {label}")
    axes[1, 0].legend(fontsize=6.5)
    ax = axes[1, 2]
    n_c = len(d["mt_configs"])
    for j, (mk, lab) in enumerate((("o", "gradient flow"), ("s", "Langevin"))):
        for c in range(n_c):
            m = d["mt_m"][c, j, :, -1]
            ax.plot(np.full(m.size, c + 0.15 * (2 * j - 1)), m, mk, color=f"C{j}", ms=3,
                    alpha=0.6, label=lab if c == 0 else None)
        for c in range(n_c):
            if d["mt_deltap"][c] is None:
                temp = 0.0 if j == 0 else d["mt_temperature"]
                ref = np.sqrt(matrix_channel_overlap(d["mt_delta2"][c], temp))
                ax.plot([c - 0.35, c + 0.35], [ref, ref], color=f"C{j}", lw=1)
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_xticks(range(n_c), [n.replace(", ", "\n") for n in d["mt_configs"]], fontsize=6.5)
    ax.set(ylabel="final m", ylim=(-1.0, 1.0),
           title="final overlaps (bars: matrix channel theory)")
    ax.legend(fontsize=7)
    return fig


def aging_figure(d):
    from physjax.plotting import new_figure

    fig, axes = new_figure(2, 3, panel_size=(4.2, 3.3))
    ax_e, ax_c, ax_cs = axes[0]
    ax_e.plot(d["pspin_time"][1:], d["pspin_energy"][1:], "k-")
    ax_e.set(xscale="log", xlabel="t", ylabel="H / N",
             title=f"3-spin quench to T = {d['pspin_temperature']:g} (N = {d['pspin_n']})")
    for i, tw in enumerate(d["pspin_tw"]):
        c = d["pspin_C"][i]
        ax_c.errorbar(d["pspin_lags"], c, d["pspin_C_err"][i], color=f"C{i}", ms=3,
                      fmt="o-", lw=1, label=f"$t_w$ = {tw:g}")
        ax_cs.plot(d["pspin_lags"] / tw, c, "o-", color=f"C{i}", ms=3, lw=1)
    ax_c.set(xscale="log", xlabel="t", ylabel=r"$C(t_w, t_w + t)$", title="two-time correlation")
    ax_cs.set(xscale="log", xlabel=r"$t / t_w$", ylabel=r"$C(t_w, t_w + t)$",
              title="simple-aging scaling")
    ax_c.legend(fontsize=7)
    ax_l, ax_m, ax_ms = axes[1]
    styles = ("-", "--", ":", "-.")
    for g, w in enumerate(d["sgd_widths"]):
        ls = styles[g % len(styles)]
        lab = f"width {w} ({d['sgd_n_parameters'][g]} params)"
        ax_l.plot(d["sgd_steps"][1:], d["sgd_train_loss"][g, 1:], ls, color="k", label=lab)
        ax_l.plot(d["sgd_steps"][1:], d["sgd_test_loss"][g, 1:], ls, color="0.6")
        for i, tw in enumerate(d["sgd_tw"]):
            msd = d["sgd_msd"][g, i]
            ax_m.plot(d["sgd_lags"], msd, ls, color=f"C{i}",
                      label=f"$t_w$ = {tw}" if g == 0 else None)
            ax_ms.plot(d["sgd_lags"] / tw, msd, ls, color=f"C{i}")
    ax_l.set(xscale="log", yscale="log", xlabel="SGD step", ylabel="loss",
             title="digits: train (black) / test (grey) loss")
    ax_l.legend(fontsize=7)
    ax_m.set(xscale="log", yscale="log", xlabel="t (steps)", ylabel=r"$\Delta(t_w, t_w+t)$",
             title="weights' MSD per parameter")
    ax_m.legend(fontsize=7, title=" / ".join(
        f"{s} w={w}" for s, w in zip(styles, d["sgd_widths"], strict=False)),
        title_fontsize=7)
    ax_ms.set(xscale="log", yscale="log", xlabel=r"$t / t_w$",
              ylabel=r"$\Delta(t_w, t_w+t)$", title="MSD against t / t_w")
    return fig
