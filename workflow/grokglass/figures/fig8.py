"""Figure 8: the T2 split sweep; same layout and CSV as Figure 7 (grokglass.figures.fig7).

The paper does not state the x ranges; the default is 0..3000 steps for every
column (spec 11 #12).
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from grokglass.figures.common import PathLike
from grokglass.figures.fig7 import split_sweep


def fig8(
    adamw_paths: Sequence[PathLike],
    hybrid_paths: Sequence[PathLike],
    fractions: Sequence[float],
    out_prefix: PathLike,
    xmax_first: float = 3000,
    xmax_rest: float = 3000,
) -> Figure:
    """T2 split sweep: AdamW (top) and hybrid (bottom), one column per fraction."""
    return split_sweep(adamw_paths, hybrid_paths, fractions, out_prefix, xmax_first, xmax_rest)
