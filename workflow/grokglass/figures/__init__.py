"""Paper figures and derived landscape numbers.

One module per figure; each defines a function of the same name, re-exported
here so that ``grokglass.figures.fig1`` *is the function* (the CLI calls
``figure_function(name)(**kwargs)``). Import a module itself with
``importlib.import_module("grokglass.figures.fig1")`` if you need it.

Every figure function writes ``<prefix>.pdf``, ``<prefix>.png`` and
``<prefix>.csv`` (the plotted numbers) atomically and returns the matplotlib
Figure; :func:`landscape_summary` writes one CSV. :func:`figure_function`
looks a function up by name.
"""

from __future__ import annotations

from collections.abc import Callable

from grokglass.figures.convergence import convergence
from grokglass.figures.crosscheck import crosscheck
from grokglass.figures.fig1 import fig1
from grokglass.figures.fig2 import fig2
from grokglass.figures.fig3 import fig3
from grokglass.figures.fig4 import fig4
from grokglass.figures.fig5 import fig5
from grokglass.figures.fig6 import fig6
from grokglass.figures.fig7 import fig7
from grokglass.figures.fig8 import fig8
from grokglass.figures.ising import ising_pca, ising_training
from grokglass.figures.kozyrev import kozyrev
from grokglass.figures.landscape_summary import landscape_summary

_BY_NAME = {
    function.__name__: function
    for function in (fig1, fig2, fig3, fig4, fig5, fig6, fig7, fig8)
    + (landscape_summary, convergence, crosscheck, kozyrev, ising_training, ising_pca)
}
NAMES = tuple(_BY_NAME)

__all__ = [*NAMES, "figure_function"]


def figure_function(name: str) -> Callable:
    """The figure function called `name`, e.g. 'fig3'."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown figure {name!r}; known: {', '.join(NAMES)}") from None
