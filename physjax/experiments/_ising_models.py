"""What the experiments that learn the 2-D Ising model (``rbm-ising``, ``diffusion-ising``)
share: the summary and the energy/|m| panels comparing a learned model's samples with the
Monte Carlo data and Kaufman's exact finite-lattice energy."""

from __future__ import annotations

import numpy as np


def learned_vs_monte_carlo_summary(out: dict, model: str, label: str) -> dict:
    """Per-temperature e and |m| of the Monte Carlo data and of the ``model`` samples
    (``out[f"e_{model}"]`` ...), the largest relative errors, and how far the Monte Carlo
    energy lies from Kaufman's (in standard errors)."""
    temps = out["temperatures"]
    rel_e = out[f"e_{model}"] / out["e_mc"] - 1
    rel_m = out[f"abs_m_{model}"] / out["abs_m_mc"] - 1
    summary = {}
    for i, t in enumerate(temps):
        summary[f"T={t:g}: e MC"] = float(out["e_mc"][i])
        summary[f"T={t:g}: e {label}"] = float(out[f"e_{model}"][i])
        summary[f"T={t:g}: |m| MC"] = float(out["abs_m_mc"][i])
        summary[f"T={t:g}: |m| {label}"] = float(out[f"abs_m_{model}"][i])
    summary["max |relative error| of e"] = float(np.max(np.abs(rel_e)))
    summary["max |relative error| of |m|"] = float(np.max(np.abs(rel_m)))
    summary["max |e MC - Kaufman| / se"] = float(np.max(np.abs(out["e_mc"] - out["kaufman_energy"])
                                                        / out["e_mc_se"]))
    return summary


def plot_energy_and_magnetization(ax_e, ax_m, d: dict, model: str, label: str) -> None:
    """e and <|m|> against T: Monte Carlo, the model's samples, Kaufman's exact energy."""
    from physjax.spins import CRITICAL_TEMPERATURE_2D as tc

    T = d["temperatures"]
    for ax, key, ylabel in ((ax_e, "e", "energy per spin e"),
                            (ax_m, "abs_m", r"$\langle|m|\rangle$")):
        ax.errorbar(T, d[f"{key}_mc"], d[f"{key}_mc_se"], fmt="ko", ms=4, label="Monte Carlo")
        ax.errorbar(T, d[f"{key}_{model}"], d[f"{key}_{model}_se"], fmt="s", ms=4,
                    mfc="none", color="C3", label=f"{label} samples")
        ax.axvline(tc, color="0.6", lw=0.8, ls=":")
        ax.set(xlabel="T", ylabel=ylabel)
    ax_e.plot(T, d["kaufman_energy"], "k--", lw=0.8, label=f"Kaufman, L = {d['L']}")
    ax_e.legend(fontsize=7)
    ax_m.legend(fontsize=7)
