"""One colour-blind-safe look for every figure.

Figures are drawn inside :func:`figure_style`, a ``matplotlib.rc_context`` built
from seaborn's "ticks" style and "colorblind" palette, so making a figure never
changes global matplotlib state. Figures are created with
``matplotlib.figure.Figure`` (no pyplot), which renders with the Agg canvas
whatever backend the caller has selected.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import matplotlib
import seaborn as sns
from cycler import cycler

PALETTE = sns.color_palette("colorblind")

# Consistent roles across figures.
TRAIN_COLOR = PALETTE[0]  # blue
TEST_COLOR = PALETTE[1]  # orange
NORM_COLOR = PALETTE[2]  # green
EXTRA_COLOR = PALETTE[4]  # purple (e.g. the convergence flatness)
ALPHA_COLOR = "0.45"  # grey: the hybrid's alpha(t)
MAXENT_COLOR = "#e7298a"  # magenta: the max-entropy curve (spec 5.12)
ADAMW_COLOR = "black"  # the AdamW trajectory overlaid on a landscape
ENTROPY_CMAP = "viridis"  # perceptually uniform, colour-blind safe
DATASET_CMAP = "Blues"  # Figure 4 (spec 1.4)

PNG_DPI = 200
PANEL_WIDTH = 3.6  # inches per panel column
PANEL_HEIGHT = 3.0  # inches per panel row


def style_rc() -> dict:
    """The rcParams of the project style (seaborn ticks + colorblind palette)."""
    rc = {}
    rc.update(sns.axes_style("ticks"))
    rc.update(sns.plotting_context("paper", font_scale=1.1))
    rc.update(
        {
            "axes.prop_cycle": cycler(color=PALETTE),
            "image.cmap": ENTROPY_CMAP,
            "legend.frameon": False,
            "savefig.dpi": PNG_DPI,
            "pdf.fonttype": 42,  # embed TrueType: text stays editable/searchable
        }
    )
    return rc


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """Apply the project style for the duration of a block."""
    with matplotlib.rc_context(style_rc()):
        yield


def apply_style() -> None:
    """Apply the project style globally (for interactive use and notebooks)."""
    sns.set_theme(style="ticks", palette="colorblind", context="paper", font_scale=1.1)
    matplotlib.rcParams.update({"image.cmap": ENTROPY_CMAP, "legend.frameon": False})
