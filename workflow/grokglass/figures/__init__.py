"""Paper figures and derived landscape numbers.

One module per figure; each exposes a function of the same name::

    from grokglass.figures.fig1 import fig1
    fig1(landscape_paths, metrics_paths, titles, "results/figures/fig1")

Every figure function writes ``<prefix>.pdf``, ``<prefix>.png`` and
``<prefix>.csv`` (the plotted numbers) atomically and returns the matplotlib
Figure. :func:`figure_function` looks one up by name (for the CLI). The
functions are not re-exported here, so that ``grokglass.figures.fig1`` stays
the module.
"""

from __future__ import annotations

import importlib
from typing import Callable

NAMES = ("fig1", "fig2", "fig3", "fig4", "fig5", "fig6", "fig7", "fig8",
         "landscape_summary", "convergence")


def figure_function(name: str) -> Callable:
    """The function `name` of module grokglass.figures.<name>, e.g. 'fig3'."""
    if name not in NAMES:
        raise KeyError(f"unknown figure {name!r}; known: {', '.join(NAMES)}")
    return getattr(importlib.import_module(f"grokglass.figures.{name}"), name)
