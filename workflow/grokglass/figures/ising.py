"""Ising-task figures (spec 10.4): training curves and the PCA layer analysis.

:func:`ising_training` — one panel per run (e.g. one per beta_s, weight decay or
dropout value): train and test accuracy vs epoch on a log x axis (full batch, so
one epoch = one step), with the grokking delay tau = t_test90 - t_train99 in the
legend title when both are reached, else tau80 = t_test80 - t_train99 (docs/validation.md 7.4: the Ising
task's test accuracy rarely reaches 0.99, nor always 0.9; tau99 = t_test99 - t_train99 of
spec 10.4 is in the CSVs).
CSV: panel, title, series ('train' / 'test'), step, accuracy, t_train99, t_test80, t_test90,
t_test99 (the milestones of the panel's run, empty when never reached).
Delays CSV (<prefix>_delays.csv): one row per run: title, t_train99, t_test80, t_test90,
t_test99, delay80, delay90, delay99, best_test, best_test_step, final_test (t_test80 for runs
whose slow rise stops short of 0.9, validation 7.4).

:func:`ising_pca` — from a snapshot file of ising_model.train_with_snapshots:
(a) fraction of active weights |w| > 0.05 max|w| per layer vs step (log x),
(b) components holding 90 % of sum s^2 of each weight matrix vs step (log x),
(c) / (d) the last hidden layer's test-set activations on their top-2 principal
components, coloured by class, at memorisation (before any grokking: the last snapshot at or before
t_train99, where train accuracy first reaches 0.99) and after it (the last
snapshot), unless before_step / after_step are given.
CSV: panel, title, series, layer, step, value (panels a, b: active fraction or
component count; also active count in `count`), pc1, pc2, label (panels c, d).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from grokglass.analysis.milestones import TEST_LEVELS, delays, first_step
from grokglass.figures import style
from grokglass.figures.common import (
    PathLike,
    accuracy_panel,
    check_lengths,
    load_metrics,
    new_figure,
    panel_letter,
    save_figure,
    tag_panel,
    write_csv,
)
from grokglass.figures.style import figure_style
from grokglass.io import open_input_h5

EPOCH_LABEL = "epochs"
INT_COLUMNS = (
    "t_train99",
    *(f"{p}{round(100 * v)}" for p in ("t_test", "delay") for v in TEST_LEVELS),
)  # empty where never reached
PCA_TITLES = (
    "(a) active weights",
    "(b) components for 90% variance",
    "(c) at memorisation",
    "(d) end of training",
)  # = before / after grokking when it groks


def _delay_heading(milestones: dict) -> str | None:
    if milestones["delay90"] is not None:
        return f"τ₀.₉ = {milestones['delay90']:,}"
    if milestones["t_train99"] is None:
        return None
    best = f"test never ≥ 0.9 (best {milestones['best_test']:.3f})"
    if milestones["delay80"] is not None:  # the slow rise stops short of 0.9 (validation 7.4)
        return f"τ₀.₈ = {milestones['delay80']:,}; {best}"
    return best


def ising_training(
    metrics_paths: Sequence[PathLike],
    titles: Sequence[str],
    out_prefix: PathLike,
    ncols: int | None = None,
    xmax: float | None = None,
) -> Figure:
    """Train/test accuracy vs epoch (log x), one panel per run, in rows of `ncols` panels."""
    n = check_lengths(metrics_paths=metrics_paths, titles=titles)
    ncols = min(n, 3) if ncols is None else max(1, min(int(ncols), n))
    nrows = math.ceil(n / ncols)
    with figure_style():
        fig, axes = new_figure(nrows, ncols)
        tables, summary = [], []
        for i, (path, title) in enumerate(zip(metrics_paths, titles)):
            frame = load_metrics(path)
            ax = axes.flat[i]
            milestones = delays(frame)
            summary.append({"title": title, **milestones})
            d = accuracy_panel(ax, frame, title, log_x=True, xmax=xmax, legend=False)
            ax.set_xlabel(EPOCH_LABEL)
            ax.axhline(0.9, color="0.6", lw=0.6, ls=":")
            heading = _delay_heading(milestones)
            ax.legend(loc="best", fontsize="small", title=heading, title_fontsize="small")
            rows = pd.concat(
                [
                    pd.DataFrame({"series": s, "step": d["step"], "accuracy": d[c]})
                    for s, c in (("train", "train_acc"), ("test", "test_acc"))
                ],
                ignore_index=True,
            )
            for key in ("t_train99", "t_test80", "t_test90", "t_test99"):
                rows[key] = milestones[key]
            tables.append(tag_panel(rows, panel_letter(i), title))
        for ax in axes.flat[n:]:
            ax.remove()
        save_figure(fig, out_prefix, pd.concat(tables, ignore_index=True))
        write_csv(pd.DataFrame(summary).astype({k: "Int64" for k in INT_COLUMNS}), f"{out_prefix}_delays.csv")
    return fig


def load_snapshots(path: PathLike) -> dict:
    """The parts of a train_with_snapshots file the figure uses."""
    with open_input_h5(path, "snapshots file") as h5:
        steps = h5["steps"][()]
        n_weights = int(h5.attrs.get("n_weight_layers", len(h5["weights"])))
        n_hidden = int(h5.attrs.get("n_hidden_layers", len(h5["activations"]) - 1))
        weights = []
        for layer in range(n_weights):
            g = h5[f"weights/W{layer}"]
            weights.append(
                {
                    "active_relative": g["active_relative"][()],
                    "active_absolute": g["active_absolute"][()],
                    "n_components": g["n_components"][()],
                    "size": int(g.attrs["size"]),
                }
            )
        coords = [h5[f"activations/h{layer}/coords"][()] for layer in range(n_hidden)]
        labels = h5["activations/labels"][()]
        metrics = {k: v[()] for k, v in h5["metrics"].items()} if "metrics" in h5 else {}
        run = h5.attrs.get("run", "{}")
    return {
        "steps": steps,
        "weights": weights,
        "coords": coords,
        "labels": labels,
        "metrics": metrics,
        "run": json.loads(run) if isinstance(run, str) else {},
    }


def _default_before(snap: dict) -> int:
    steps = snap["steps"]
    m = snap["metrics"]
    t_train = None
    if "train_acc" in m and "step" in m:
        t_train = first_step(np.asarray(m["step"]), np.asarray(m["train_acc"]), 0.99)
    if t_train is None:
        return int(steps[len(steps) // 2])
    return int(steps[steps <= t_train].max())


def _snapshot_index(steps: np.ndarray, step: int) -> int:
    return int(np.argmin(np.abs(steps.astype(np.int64) - int(step))))


def ising_pca(
    snapshot_path: PathLike,
    out_prefix: PathLike,
    before_step: int | None = None,
    after_step: int | None = None,
    layer: int = -1,
    titles: Sequence[str] = PCA_TITLES,
) -> Figure:
    """Active weights and 90 %-variance components per layer vs step; activation PCA before/after."""
    snap = load_snapshots(snapshot_path)
    steps = snap["steps"]
    if not len(snap["coords"]):
        raise ValueError(f"{snapshot_path}: the network has no hidden layer to draw")
    hidden_index = range(len(snap["coords"]))[layer]
    before = _snapshot_index(steps, _default_before(snap) if before_step is None else before_step)
    after = _snapshot_index(steps, int(steps[-1]) if after_step is None else after_step)
    positive = steps >= 1
    with figure_style():
        fig, axes = new_figure(2, 2, panel_width=4.2, panel_height=3.4)
        ax_a, ax_b, ax_c, ax_d = axes.ravel()
        tables = []
        for letter, ax, title, key in (
            ("a", ax_a, titles[0], "active_relative"),
            ("b", ax_b, titles[1], "n_components"),
        ):
            rows = []
            for i, w in enumerate(snap["weights"]):
                raw = np.asarray(w[key], dtype=float)
                value = raw / w["size"] if key == "active_relative" else raw
                ax.plot(
                    steps[positive],
                    value[positive],
                    lw=1.4,
                    marker="o",
                    ms=2.5,
                    color=style.PALETTE[i % len(style.PALETTE)],
                    label=f"W{i}",
                )
                rows.append(
                    pd.DataFrame(
                        {
                            "series": key,
                            "layer": f"W{i}",
                            "step": steps,
                            "value": value,
                            "count": raw if key == "active_relative" else np.nan,
                        }
                    )
                )
            ax.set_xscale("log")
            ax.set_xlabel(EPOCH_LABEL)
            ax.set_ylabel(
                "active fraction (|w| > 0.05 max|w|)" if key == "active_relative" else "components for 90% variance"
            )
            ax.set_title(title)
            ax.legend(loc="best", fontsize="small")
            tables.append(tag_panel(pd.concat(rows, ignore_index=True), letter, title))
        labels = snap["labels"]
        classes = np.unique(labels)
        for letter, ax, title, index in (("c", ax_c, titles[2], before), ("d", ax_d, titles[3], after)):
            xy = snap["coords"][hidden_index][index]
            for c in classes:
                sel = labels == c
                ax.scatter(
                    xy[sel, 0],
                    xy[sel, 1],
                    s=4,
                    alpha=0.6,
                    linewidths=0,
                    color=style.PALETTE[int(c) % len(style.PALETTE)],
                    label=f"class {c}",
                    rasterized=True,
                )
            ax.set_xlabel("PC 1")
            ax.set_ylabel("PC 2")
            full_title = f"{title}\nlayer h{hidden_index}, epoch {int(steps[index]):,}"
            ax.set_title(full_title)
            ax.legend(loc="best", fontsize="small", markerscale=3)
            tables.append(
                tag_panel(
                    pd.DataFrame(
                        {
                            "series": "activations",
                            "layer": f"h{hidden_index}",
                            "step": int(steps[index]),
                            "pc1": xy[:, 0],
                            "pc2": xy[:, 1],
                            "label": labels,
                        }
                    ),
                    letter,
                    full_title,
                )
            )
        save_figure(fig, out_prefix, pd.concat(tables, ignore_index=True))
    return fig
