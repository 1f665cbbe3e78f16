"""Figure 1 (and 2): entropy landscapes S(ln L_train, A_test) with overlays (spec 5.12, 7).

One heat-map panel per landscape: S over the visited bins (unvisited blank),
titled with what it cost (walkers x epochs, windows) and spec 5.11's convergence verdict,
colour bar "entropy S", the max-entropy curve y*(x) in magenta and the matching
AdamW run's raw per-step trajectory (ln L_train, smoothed test accuracy) in black.

CSV (<prefix>.csv), one row per plotted number: panel, title, series
('entropy' = one visited bin, 'max entropy' = y*(x) per column, 'AdamW' = one
logged step), ln_train_loss (bin centre or trajectory value), test_accuracy
(bin centre, y* or the trajectory's smoothed test accuracy), entropy (S of the
bin; NaN for the trajectory), step (trajectory rows only).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from matplotlib.figure import Figure

from grokglass.figures.common import (
    TRAJECTORY_COLUMNS,
    PathLike,
    budget_line,
    check_lengths,
    heatmap_panel,
    load_landscape,
    load_metrics,
    new_figure,
    panel_letter,
    save_figure,
    tag_panel,
)
from grokglass.figures.style import figure_style


def fig1(
    landscape_paths: Sequence[PathLike],
    metrics_paths: Sequence[PathLike | None],
    titles: Sequence[str],
    out_prefix: PathLike,
    overlay_label: str = "AdamW",
) -> Figure:
    """Heat maps of each landscape with the max-entropy curve and the AdamW trajectory.

    metrics_paths[i] is the AdamW run drawn on landscape i (None: no overlay).
    """
    n = check_lengths(landscape_paths=landscape_paths, metrics_paths=metrics_paths, titles=titles)
    with figure_style():
        fig, axes = new_figure(1, n, panel_width=4.4, panel_height=3.6)
        tables = []
        for i, (lpath, mpath, title) in enumerate(zip(landscape_paths, metrics_paths, titles)):
            landscape = load_landscape(lpath)
            trajectory = None if mpath is None else load_metrics(mpath, TRAJECTORY_COLUMNS)
            budget = budget_line(landscape)
            shown = f"{title}\n{budget}" if budget else title
            table = heatmap_panel(axes[0, i], landscape, trajectory, shown, overlay_label)
            tables.append(tag_panel(table, panel_letter(i), title))
        save_figure(fig, out_prefix, pd.concat(tables, ignore_index=True))
    return fig
