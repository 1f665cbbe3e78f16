"""Figure 7 (and 8): split sweeps, AdamW (top row) vs the WanD/AdamW hybrid (bottom row).

2 rows x len(fractions) columns; train and test accuracy vs step on a linear
x axis, 0..xmax_first for the first column and 0..xmax_rest for the others;
y 0..1. Titles "(a) AdamW, 50%" ... then "(e) hybrid, 50%" ... (letters run
along the top row, then the bottom row). When a hybrid run logs `alpha`, the
mixing weight alpha(t) is drawn as a dotted grey line.

CSV (<prefix>.csv): panel, title, optimizer ('AdamW' / 'hybrid'), fraction,
step, train_acc, test_acc, alpha (hybrid rows with an alpha column; else NaN).
Only rows inside the plotted x range are written.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from matplotlib.figure import Figure

from grokglass.figures.common import (
    PathLike,
    accuracy_panel,
    check_lengths,
    fraction_label,
    load_metrics,
    new_figure,
    panel_letter,
    save_figure,
    tag_panel,
)
from grokglass.figures.style import figure_style

ROW_NAMES = ("AdamW", "hybrid")


def split_sweep(
    adamw_paths: Sequence[PathLike],
    hybrid_paths: Sequence[PathLike],
    fractions: Sequence[float],
    out_prefix: PathLike,
    xmax_first: float,
    xmax_rest: float,
    row_names: Sequence[str] = ROW_NAMES,
) -> Figure:
    n = check_lengths(adamw_paths=adamw_paths, hybrid_paths=hybrid_paths, fractions=fractions)
    with figure_style():
        fig, axes = new_figure(2, n, panel_width=3.0, panel_height=2.7)
        tables = []
        for row, (paths, name) in enumerate(zip((adamw_paths, hybrid_paths), row_names)):
            for col, (path, fraction) in enumerate(zip(paths, fractions)):
                letter = panel_letter(row * n + col)
                title = f"({letter}) {name}, {fraction_label(fraction)}"
                xmax = xmax_first if col == 0 else xmax_rest
                table = accuracy_panel(
                    axes[row, col],
                    load_metrics(path),
                    title,
                    log_x=False,
                    xmax=xmax,
                    show_alpha=(row == 1),
                    legend=(col == 0),
                )
                if "alpha" not in table.columns:
                    table["alpha"] = float("nan")
                table.insert(0, "fraction", float(fraction))
                table.insert(0, "optimizer", name)
                tables.append(tag_panel(table, letter, title))
        save_figure(fig, out_prefix, pd.concat(tables, ignore_index=True))
    return fig


def fig7(
    adamw_paths: Sequence[PathLike],
    hybrid_paths: Sequence[PathLike],
    fractions: Sequence[float],
    out_prefix: PathLike,
    xmax_first: float = 1000,
    xmax_rest: float = 500,
) -> Figure:
    """T1 split sweep: AdamW (top) and hybrid (bottom), one column per fraction."""
    return split_sweep(adamw_paths, hybrid_paths, fractions, out_prefix, xmax_first, xmax_rest)
