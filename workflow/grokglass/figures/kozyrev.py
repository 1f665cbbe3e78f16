"""Kozyrev's predictions tested on this pipeline's runs (spec 9.4).

(a) log t_grok vs log t_mem per optimizer with the pooled OLS fit, its bootstrap
    interval, and the predicted slope 2 for reference; runs that memorised but never
    grokked are drawn as open triangles at their last step (a lower bound on t_grok);
(b) ln t_grok and ln tau (= t_grok - t_mem) vs training-set size with the exponential
    (Eyring: linear in n_train) and power-law (linear in ln n_train) fits and their AIC.

CSV (<prefix>.csv): one row per run: panel, title, run, optimizer, fraction, seed,
n_train, t_mem, t_grok, tau, censored_at (last step of a run that never grokked), censored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, MaxNLocator, NullFormatter, ScalarFormatter

from grokglass.analysis.kozyrev import analyze, run_table
from grokglass.figures.common import PathLike, new_figure, save_figure
from grokglass.figures.style import figure_style

TITLES = ("(a) square law: t_grok vs t_mem", "(b) Eyring law: time vs n_train")


def _square_law_panel(ax, table: pd.DataFrame, fit: dict) -> None:
    for optimizer, group in table.groupby("optimizer"):
        ok = group.dropna(subset=["t_mem", "t_grok"])
        ax.scatter(ok["t_mem"], ok["t_grok"], s=18, label=optimizer, alpha=0.8)
    censored = table[table["t_mem"].notna() & table["t_grok"].isna()]
    if len(censored):
        ax.scatter(
            censored["t_mem"],
            censored["censored_at"],
            s=24,
            marker="^",
            facecolors="none",
            edgecolors="grey",
            label="censored: t_grok > last step",
        )
    ok = table.dropna(subset=["t_mem", "t_grok"])
    if len(ok) and not math.isnan(fit["slope"]):
        xs = np.geomspace(ok["t_mem"].min(), ok["t_mem"].max(), 50)
        ax.plot(
            xs,
            np.exp(fit["intercept"]) * xs ** fit["slope"],
            color="black",
            label=f"fit: slope {fit['slope']:.2f} [{fit['ci_low']:.2f}, {fit['ci_high']:.2f}]",
        )
        anchor = np.exp(np.median(np.log(ok["t_grok"]) - 2 * np.log(ok["t_mem"])))
        ax.plot(xs, anchor * xs**2, color="grey", linestyle="--", label="Kozyrev: slope 2")
    if not len(ok) and not len(censored):  # nothing memorised: no point to place on log axes
        ax.text(0.5, 0.5, "no run reached train acc 0.99", transform=ax.transAxes, ha="center")
    else:
        _log_axes(ax)
    ax.set_xlabel("t_mem (train acc ≥ 0.99)")
    ax.set_ylabel("t_grok (test acc ≥ 0.99)")
    ax.set_title(TITLES[0] + (f"  ({fit['censored']} censored)" if fit["censored"] else ""))
    ax.legend(fontsize="small")


def _log_axes(ax) -> None:
    """Log axes with plain-number labels: 1-2-5 ticks over a decade or more, else a few linear ones."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        wide = max(limits) / max(min(limits), 1e-300) >= 10
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)) if wide else MaxNLocator(4))
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_formatter(NullFormatter())


def _size_law_panel(ax, table: pd.DataFrame, fits: dict) -> None:
    for column, law, marker in (("t_grok", fits["size_law_t_grok"], "o"), ("tau", fits["size_law_tau"], "s")):
        ok = table.dropna(subset=[column])
        ok = ok[ok[column] > 0]
        ax.scatter(
            ok["n_train"], np.log(ok[column].astype(float)), s=18, marker=marker, alpha=0.7, label=f"ln {column}"
        )
        if len(ok) >= 3 and law["preferred"] != "undetermined":
            n = np.linspace(ok["n_train"].min(), ok["n_train"].max(), 50)
            e, p = law["exponential"], law["power"]
            ax.plot(n, e["intercept"] + e["slope"] * n, linestyle="-", label=f"{column}: exp fit, AIC {e['aic']:.1f}")
            ax.plot(
                n,
                p["intercept"] + p["slope"] * np.log(n),
                linestyle=":",
                label=f"{column}: power fit, AIC {p['aic']:.1f}",
            )
    ax.set_xlabel("training-set size n_train")
    ax.set_ylabel("ln(steps)")
    ax.set_title(TITLES[1])
    ax.legend(fontsize="small")


def kozyrev(metrics_paths: Sequence[PathLike], out_prefix: PathLike) -> Figure:
    """Both panels from the runs' metrics files; the fits come from grokglass.analysis.kozyrev."""
    table = run_table(metrics_paths)
    fits = analyze(table)["all"]
    with figure_style():
        fig, axes = new_figure(1, 2)
        _square_law_panel(axes[0, 0], table, fits["square_law"])
        _size_law_panel(axes[0, 1], table, fits)
        columns = ["run", "optimizer", "fraction", "seed", "n_train", "t_mem", "t_grok", "tau", "censored_at"]
        csv = table[columns].copy()
        csv.insert(0, "title", TITLES[0] + " / " + TITLES[1])
        csv.insert(0, "panel", "a,b")
        csv["censored"] = csv["t_grok"].isna()
        save_figure(fig, out_prefix, csv)
    return fig
