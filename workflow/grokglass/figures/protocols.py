"""The sampling protocols' error curves on a known answer (`bench convergence --figure`).

One panel: the RMS error of each protocol's learned entropy against the exact one, over the
walker-epochs spent (all walkers together), log-log, with the target error as a line. A run
that diverged ends with a cross; checkpoints without an estimate (windows not stitched yet)
are left out.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from grokglass.figures import style
from grokglass.figures.common import PathLike, new_figure, save_figure
from grokglass.figures.style import figure_style

COLORS = ("black", "tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")


def protocol_curves(results: list[dict], target: float, title: str, out_prefix: PathLike) -> Figure:
    """results: bench convergence's run_protocol dicts ({"protocol", "curve": [(spent, rms)], "diverged"})."""
    rows = []
    with figure_style():
        fig, axes = new_figure(1, 1, panel_width=5.2, panel_height=3.6)
        ax = axes[0, 0]
        for color, result in zip(COLORS * 2, results):
            curve = [(spent, rms) for spent, rms in result["curve"] if math.isfinite(rms)]
            rows += [{"protocol": result["protocol"], "walker_epochs": s, "rms_error": e} for s, e in result["curve"]]
            if not curve:
                continue
            spent, rms = np.array(curve).T
            ax.plot(spent, rms, marker="o", ms=3, lw=1.3, color=color, label=result["protocol"])
            if result.get("diverged"):
                ax.plot(spent[-1:], rms[-1:], marker="x", ms=9, mew=2, color=color, ls="none")
        ax.axhline(target, ls="--", lw=1.0, color=style.ALPHA_COLOR, label=f"target {target:g} nats")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("walker-epochs (all walkers)")
        ax.set_ylabel("RMS error of S (nats)")
        ax.set_title(title, fontsize="medium")
        ax.legend(loc="best", fontsize="small")
        save_figure(fig, out_prefix, pd.DataFrame(rows))
    return fig
