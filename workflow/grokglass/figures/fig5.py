"""Figure 5: AdamW training curves of Table 1 rows 4-6 (T1, T2, T3) (spec 7).

One panel per run: train and test accuracy vs optimisation step, log x from
1 to the last step (step 0 cannot be shown on a log axis), y from 0 to 1,
legend "train"/"test".

CSV (<prefix>.csv): panel, title, step, train_acc, test_acc (the plotted rows).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from matplotlib.figure import Figure

from grokglass.figures.common import (
    PathLike,
    accuracy_panel,
    check_lengths,
    load_metrics,
    new_figure,
    panel_letter,
    save_figure,
    tag_panel,
)
from grokglass.figures.style import figure_style


def training_curves(
    metrics_paths: Sequence[PathLike], titles: Sequence[str], out_prefix: PathLike, log_x: bool = True
) -> Figure:
    """A row of train/test accuracy panels, one per run."""
    n = check_lengths(metrics_paths=metrics_paths, titles=titles)
    with figure_style():
        fig, axes = new_figure(1, n)
        tables = []
        for i, (path, title) in enumerate(zip(metrics_paths, titles)):
            table = accuracy_panel(axes[0, i], load_metrics(path), title, log_x=log_x)
            tables.append(tag_panel(table, panel_letter(i), title))
        save_figure(fig, out_prefix, pd.concat(tables, ignore_index=True))
    return fig


def fig5(metrics_paths: Sequence[PathLike], titles: Sequence[str], out_prefix: PathLike) -> Figure:
    """AdamW train/test accuracy vs step (log x), one panel per task."""
    return training_curves(metrics_paths, titles, out_prefix, log_x=True)
