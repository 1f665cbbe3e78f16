"""Convergence diagnostics of one WLMD landscape, from its `convergence` group.

Panels vs epochs per walker: (a) mean |dS| between consecutive segments' merged
landscapes, (b) shift of the max-entropy curve between segments (bins),
(c) histogram flatness. Where the file has `visited_entropy_range`, panel (a)
also shows 1 % of it (dashed, "1% of S range"), the convergence criterion. An axis is logarithmic where that is sensible: all
plotted values positive and spanning more than a decade. Missing datasets give
an empty panel with a note.

CSV (<prefix>.csv): the convergence table as stored, one row per segment:
segment, epochs_per_walker, mean_abs_dS, maxent_shift_bins, flatness,
visited_entropy_range (only the columns present in the file).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from grokglass.figures import style
from grokglass.figures.common import PathLike, load_landscape, new_figure, save_figure
from grokglass.figures.style import figure_style

COLUMNS = ("segment", "epochs_per_walker", "mean_abs_dS", "maxent_shift_bins", "flatness", "visited_entropy_range")
PANELS = (
    ("mean_abs_dS", "mean |ΔS| between segments", "(a) entropy change", style.TRAIN_COLOR),
    ("maxent_shift_bins", "max-entropy curve shift (bins)", "(b) y* shift", style.TEST_COLOR),
    ("flatness", "histogram flatness", "(c) flatness", style.EXTRA_COLOR),
)


def _log_sensible(values: np.ndarray) -> bool:
    v = values[np.isfinite(values)]
    return len(v) >= 2 and bool(np.all(v > 0)) and v.max() / v.min() > 10.0


def convergence(landscape_path: PathLike, out_prefix: PathLike) -> Figure:
    """Plot a landscape's convergence diagnostics against epochs per walker."""
    conv = load_landscape(landscape_path).convergence
    table = pd.DataFrame({c: np.asarray(conv[c], dtype=np.float64).ravel() for c in COLUMNS if c in conv})
    if "segment" in table:
        table["segment"] = table["segment"].astype(np.int64)
    if "epochs_per_walker" in table:
        x, x_name = table["epochs_per_walker"].to_numpy(), "epochs per walker"
    elif "segment" in table:
        x, x_name = table["segment"].to_numpy(np.float64), "segment"
    else:
        x, x_name = np.arange(len(table), dtype=np.float64), "segment"
    with figure_style():
        fig, axes = new_figure(1, len(PANELS), panel_width=3.4, panel_height=2.9)
        for ax, (column, ylabel, title, color) in zip(axes[0], PANELS):
            ax.set_title(title)
            ax.set_xlabel(x_name)
            ax.set_ylabel(ylabel)
            if column not in table or not np.isfinite(table[column].to_numpy()).any():
                ax.text(0.5, 0.5, f"no {column}", transform=ax.transAxes, ha="center", va="center")
                continue
            y = table[column].to_numpy()
            label = "mean |ΔS|" if column == "mean_abs_dS" else ylabel
            ax.plot(x, y, marker="o", ms=3, lw=1.2, color=color, label=label)
            if column == "mean_abs_dS" and "visited_entropy_range" in table:
                reference = 0.01 * table["visited_entropy_range"].to_numpy()
                ax.plot(x, reference, ls="--", lw=1.0, color=style.ALPHA_COLOR, label="1% of S range")
                ax.legend(loc="best", fontsize="small")
                y = np.concatenate([y, reference])
            if _log_sensible(np.asarray(x, dtype=np.float64)):
                ax.set_xscale("log")
            if _log_sensible(y):
                ax.set_yscale("log")
        save_figure(fig, out_prefix, table)
    return fig
