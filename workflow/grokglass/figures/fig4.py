"""Figure 4: the tasks as p x p images (spec 1.4).

Top row: pixel (x, y) coloured by z = f(x, y) mod p, x (first operand) on the
x axis and y (second operand) on the y axis, "Blues" colour map. Bottom row
(when `fraction` is given): the same image with the test pixels of that split
masked white, i.e. what a model sees at that training fraction.

CSV (<prefix>.csv), one row per pixel per task: panel (the task's column
letter), title, x, y, z, is_test (at `fraction`; False everywhere when
fraction is None).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from grokglass.data.arithmetic import split_indices
from grokglass.figures import style
from grokglass.figures.common import (
    PathLike,
    check_lengths,
    fraction_label,
    new_figure,
    panel_letter,
    save_figure,
    tag_panel,
)
from grokglass.figures.style import figure_style
from grokglass.io import open_input_h5


def load_image(path: PathLike, fraction: float | None) -> tuple[np.ndarray, np.ndarray]:
    """z[x, y] and the test mask[x, y] (all False when fraction is None)."""
    with open_input_h5(path, "dataset") as h5:
        inputs = h5["inputs"][()]
        labels = h5["labels"][()]
        p = int(h5.attrs["p"])
        test = np.zeros(0, dtype=np.int64)
        if fraction is not None:
            test = split_indices(h5["permutation"][()], fraction)[1]
    z = np.full((p, p), -1, dtype=np.int64)
    z[inputs[:, 0], inputs[:, 1]] = labels
    mask = np.zeros((p, p), dtype=bool)
    mask[inputs[test, 0], inputs[test, 1]] = True
    return z, mask


def light_blues() -> ListedColormap:
    """ "Blues" without its near-white end, so that z = 0 stays distinguishable from the
    white masked (test) pixels: light blue for small z to dark blue for large z."""
    base = colormaps[style.DATASET_CMAP]
    cmap = ListedColormap(base(np.linspace(0.15, 1.0, 256)), name=f"{style.DATASET_CMAP}_light")
    return cmap.with_extremes(bad="white")


def fig4(
    dataset_paths: Sequence[PathLike], titles: Sequence[str], out_prefix: PathLike, fraction: float | None = 0.5
) -> Figure:
    """One image per task; a second row with the test pixels at `fraction` masked white."""
    n = check_lengths(dataset_paths=dataset_paths, titles=titles)
    nrows = 1 if fraction is None else 2
    cmap = light_blues()
    with figure_style():
        fig, axes = new_figure(nrows, n, panel_width=3.4, panel_height=3.2)
        tables = []
        for col, (path, title) in enumerate(zip(dataset_paths, titles)):
            z, mask = load_image(path, fraction)
            p = z.shape[0]
            extent = (-0.5, p - 0.5, -0.5, p - 0.5)
            images = [np.ma.masked_less(z, 0)]
            row_titles = [title]
            if fraction is not None:
                images.append(np.ma.masked_where(mask | (z < 0), z))
                row_titles.append(f"{title}, train {fraction_label(fraction)}")
            for row, (image, row_title) in enumerate(zip(images, row_titles)):
                ax = axes[row, col]
                im = ax.imshow(
                    image.T, origin="lower", cmap=cmap, vmin=0, vmax=p - 1, extent=extent, interpolation="nearest"
                )
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
                ax.yaxis.set_major_locator(MaxNLocator(integer=True))
                ax.set_xlabel("x")
                ax.set_ylabel("y")
                ax.set_title(row_title)
            xs, ys = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
            tables.append(
                tag_panel(
                    pd.DataFrame({"x": xs.ravel(), "y": ys.ravel(), "z": z.ravel(), "is_test": mask.ravel()}),
                    panel_letter(col),
                    title,
                )
            )
        # one colour bar for all panels (every task has the same p), right of the grid: one per
        # column sat between the columns and covered the next column's titles
        fig.colorbar(im, ax=axes.ravel().tolist(), label="z", shrink=0.6, aspect=40)
        save_figure(fig, out_prefix, pd.concat(tables, ignore_index=True))
    return fig
