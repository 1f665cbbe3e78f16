"""Figure 6: AdamW with the weight norm fixed at 30, Table 1 rows 1-3 (widths 32/64/128, T1).

Axes as Figure 5 (log x from 1, y 0..1); CSV layout as grokglass.figures.fig5.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from grokglass.figures.common import PathLike
from grokglass.figures.fig5 import training_curves


def fig6(metrics_paths: Sequence[PathLike], titles: Sequence[str], out_prefix: PathLike) -> Figure:
    """Norm-30 AdamW train/test accuracy vs step (log x), one panel per width."""
    return training_curves(metrics_paths, titles, out_prefix, log_x=True)
