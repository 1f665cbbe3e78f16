"""Figure 2: entropy landscapes of T1 on the weight-norm-30 shell for widths 32/64/128.

The same panels as Figure 1 (see grokglass.figures.fig1 for the CSV layout);
the overlays are the norm-30 AdamW runs of Table 1 rows 1-3.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from grokglass.figures.common import PathLike
from grokglass.figures.fig1 import fig1


def fig2(
    landscape_paths: Sequence[PathLike],
    metrics_paths: Sequence[PathLike | None],
    titles: Sequence[str],
    out_prefix: PathLike,
    overlay_label: str = "AdamW",
) -> Figure:
    """Norm-30 shell landscapes (one per width) with their max-entropy curve and AdamW run."""
    return fig1(landscape_paths, metrics_paths, titles, out_prefix, overlay_label=overlay_label)
