"""Helpers shared by the figure modules: loading, panels, saving.

Every figure writes ``<prefix>.pdf``, ``<prefix>.png`` and ``<prefix>.csv``
(the plotted numbers, one tidy table with a ``panel`` letter and the panel
``title`` on every row), each atomically via :func:`grokglass.io.atomic_path`.

Long because it is what every figure module shares (loading a landscape with its errors,
the heat-map and accuracy panels, saving); each figure module stays a page.
"""

from __future__ import annotations

import json
import os
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from grokglass.figures import style
from grokglass.io import atomic_path, open_input_h5, read_metrics
from grokglass.wlmd.landscape import ACCURACY_WINDOW, convergence_verdict, max_entropy_curve

PathLike = str | os.PathLike

ACCURACY_COLUMNS = ("step", "train_acc", "test_acc")
TRAJECTORY_COLUMNS = ("step", "ln_train_loss", "test_acc_smooth")
STEP_LABEL = "optimisation steps"
ACC_LABEL = "accuracy"
X_LABEL = "ln(train loss)"
Y_LABEL = "test accuracy"


# ----------------------------------------------------------------------------- figures and saving


def panel_letter(index: int) -> str:
    """0 -> 'a', 25 -> 'z', 26 -> 'aa', ..."""
    letters = string.ascii_lowercase
    out = ""
    index += 1
    while index > 0:
        index, rem = divmod(index - 1, 26)
        out = letters[rem] + out
    return out


def new_figure(
    nrows: int, ncols: int, panel_width: float = style.PANEL_WIDTH, panel_height: float = style.PANEL_HEIGHT
) -> tuple[Figure, np.ndarray]:
    """A pyplot-free Figure (Agg canvas) with a 2-D array of axes."""
    fig = Figure(figsize=(panel_width * ncols, panel_height * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def data_axes(fig: Figure) -> list:
    """The axes that show data (colour-bar axes excluded)."""
    return [ax for ax in fig.axes if getattr(ax, "_colorbar", None) is None and ax.get_label() != "<colorbar>"]


def output_paths(out_prefix: PathLike) -> dict[str, Path]:
    """The three files a figure writes: pdf, png and csv beside one another."""
    prefix = str(out_prefix)
    return {ext: Path(f"{prefix}.{ext}") for ext in ("pdf", "png", "csv")}


def write_csv(frame: pd.DataFrame, path: PathLike) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.8g")
    return path


def save_figure(fig: Figure, out_prefix: PathLike, table: pd.DataFrame) -> dict[str, Path]:
    """Write <prefix>.pdf, <prefix>.png (style.PNG_DPI) and <prefix>.csv atomically."""
    paths = output_paths(out_prefix)
    for fmt in ("pdf", "png"):
        with atomic_path(paths[fmt]) as tmp:
            fig.savefig(tmp, format=fmt, dpi=style.PNG_DPI)
    write_csv(table, paths["csv"])
    return paths


def tag_panel(frame: pd.DataFrame, letter: str, title: str) -> pd.DataFrame:
    frame = frame.copy()
    frame.insert(0, "title", title)
    frame.insert(0, "panel", letter)
    return frame


def check_lengths(**sequences: Sequence) -> int:
    lengths = {name: len(seq) for name, seq in sequences.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"argument lengths differ: {lengths}")
    n = next(iter(lengths.values()))
    if n == 0:
        raise ValueError(f"nothing to plot: {', '.join(lengths)} are empty")
    return n


def fraction_label(fraction: float) -> str:
    return f"{100 * float(fraction):g}%"


# ----------------------------------------------------------------------------- inputs


def load_metrics(path: PathLike, required: Sequence[str] = ACCURACY_COLUMNS) -> pd.DataFrame:
    """A run's per-step metrics, checked for the columns a panel needs."""
    frame = read_metrics(path)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise KeyError(f"{path}: metrics lack columns {missing} (have {list(frame.columns)})")
    return frame


@dataclass
class Landscape:
    """The parts of a landscape.h5 the figures use (walker_entropy is not loaded)."""

    entropy: np.ndarray  # (n_x, n_y), [i_x, j_y], min visited 0, unvisited NaN
    x_edges: np.ndarray  # (n_x + 1,) ln L_train
    y_edges: np.ndarray  # (n_y + 1,) smoothed test accuracy
    histogram: np.ndarray | None = None
    convergence: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)
    path: str = ""
    stderr: np.ndarray | None = None  # restrained maps: S's standard error per bin
    points: np.ndarray | None = None  # restrained maps: (M, 2) integration points (x, accuracy)
    bootstrap: np.ndarray | None = None  # ... and (B, M) S there for B redraws of the forces

    @property
    def x_centres(self) -> np.ndarray:
        return centres(self.x_edges)

    @property
    def y_centres(self) -> np.ndarray:
        return centres(self.y_edges)

    @property
    def visited(self) -> np.ndarray:
        return np.isfinite(self.entropy)


def load_landscape(path: PathLike) -> Landscape:
    with open_input_h5(path, "landscape") as h5:
        entropy = np.asarray(h5["entropy"][()], dtype=np.float64)
        x_edges = np.asarray(h5["x_edges"][()], dtype=np.float64)
        y_edges = np.asarray(h5["y_edges"][()], dtype=np.float64)
        histogram = h5["histogram"][()] if "histogram" in h5 else None
        conv = {}
        if "convergence" in h5:
            conv = {name: np.asarray(ds[()]) for name, ds in h5["convergence"].items() if isinstance(ds, h5py.Dataset)}
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in h5.attrs.items()}
        stderr = points = bootstrap = None
        if "restrained" in h5:
            stderr = np.asarray(h5["stderr"][()], dtype=np.float64)
            points, bootstrap = h5["restrained/points"][()], h5["restrained/bootstrap"][()]
            attrs["restrained_flagged"] = list(h5["restrained"].attrs["flagged"])
            attrs["restrained_windows"] = len(h5["restrained/table/window"])
    if entropy.shape != (len(x_edges) - 1, len(y_edges) - 1):
        raise ValueError(
            f"{path}: entropy shape {entropy.shape} does not match edges ({len(x_edges) - 1}, {len(y_edges) - 1})"
        )
    return Landscape(entropy, x_edges, y_edges, histogram, conv, attrs, str(path), stderr, points, bootstrap)


def bootstrap_maps(landscape: Landscape) -> np.ndarray | None:
    """A restrained map's bootstrap draws on its bins (B, n_x, n_y), NaN where the map is; None
    for a Wang-Landau map."""
    from grokglass.wlmd.restrained_map import interpolate

    if landscape.bootstrap is None:
        return None
    maps = [
        interpolate(landscape.points, draw, landscape.x_centres, landscape.y_centres) for draw in landscape.bootstrap
    ]
    return np.array(maps).reshape(len(maps), *landscape.entropy.shape)


def budget_line(landscape: Landscape) -> str:
    """How a map was made, what it cost and whether it converged, for its panel's title: the
    method, walkers (windows) x epochs per walker, and the verdict (Wang-Landau: spec 5.11's on
    its last merge; restrained windows: the largest standard error and the windows flagged)."""
    attrs = landscape.attrs
    try:
        walkers, epochs = int(attrs["walkers"]), int(attrs["epochs_per_walker"])
    except (KeyError, TypeError, ValueError):
        return ""
    if landscape.stderr is not None:  # restrained windows: the map's own error and tests
        flagged, n = len(attrs.get("restrained_flagged", [])), attrs.get("restrained_windows", walkers)
        largest = np.nanmax(landscape.stderr) if np.isfinite(landscape.stderr).any() else float("nan")
        verdict = "not converged" if flagged else "no window flagged"
        if not np.isfinite(largest):  # every window was held outside the grid: no map to show
            return f"restrained: {n} windows × {epochs:,} epochs\nno window held inside the grid; not converged"
        return f"restrained: {n} windows × {epochs:,} epochs\nSE ≤ {largest:,.0f} nats; {flagged} flagged, {verdict}"
    line = f"Wang-Landau: {walkers}×{epochs:,} epochs"
    try:
        windows = json.loads(attrs.get("spec", "{}")).get("windows")
    except (TypeError, ValueError):
        windows = None
    if windows:
        line += f", {windows['n']} windows"
    verdict = {"yes": "converged", "no": "not converged"}.get(convergence_verdict(landscape.convergence)["converged"])
    return line + (f"; {verdict}" if verdict else "")


# ----------------------------------------------------------------------------- landscape numbers


def centres(edges: np.ndarray) -> np.ndarray:
    edges = np.asarray(edges, dtype=np.float64)
    return 0.5 * (edges[1:] + edges[:-1])


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value (left-closed bins, last bin closed); -1 outside or non-finite."""
    values = np.asarray(values, dtype=np.float64)
    index = np.searchsorted(edges, values, side="right") - 1
    index = np.where(values == edges[-1], len(edges) - 2, index)
    ok = np.isfinite(values) & (index >= 0) & (index < len(edges) - 1)
    return np.where(ok, index, -1)


def column_means(x: np.ndarray, y: np.ndarray, x_edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of y over the points falling in each x column, and the point count (NaN if 0)."""
    index = bin_index(x, x_edges)
    y = np.asarray(y, dtype=np.float64)
    ok = (index >= 0) & np.isfinite(y)
    n = len(x_edges) - 1
    counts = np.bincount(index[ok], minlength=n).astype(np.float64)
    sums = np.bincount(index[ok], weights=y[ok], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return means, counts


def x_window(
    landscape: Landscape, trajectory_x: np.ndarray | None = None, pad_fraction: float = 0.03
) -> tuple[float, float]:
    """An x range covering the visited region and the trajectory's low-loss part.

    The low-loss part is the trajectory at or below the visited region's upper
    edge (its high-loss start, far right of any landscape, is cut off).
    """
    visited_cols = np.flatnonzero(landscape.visited.any(axis=1))
    lo = hi = None
    if len(visited_cols):
        lo, hi = landscape.x_edges[visited_cols[0]], landscape.x_edges[visited_cols[-1] + 1]
    if trajectory_x is not None:
        tx = np.asarray(trajectory_x, dtype=np.float64)
        tx = tx[np.isfinite(tx)]
        if hi is not None:
            tx = tx[tx <= hi]
        if len(tx):
            lo = tx.min() if lo is None else min(lo, tx.min())
            hi = tx.max() if hi is None else hi
    if lo is None:
        lo, hi = landscape.x_edges[0], landscape.x_edges[-1]
    if hi <= lo:
        hi = lo + 1.0
    pad = pad_fraction * (hi - lo)
    return float(lo - pad), float(hi + pad)


# ----------------------------------------------------------------------------- panels

_OUTLINE = [patheffects.withStroke(linewidth=3.0, foreground="white")]


def heatmap_panel(
    ax,
    landscape: Landscape,
    trajectory: pd.DataFrame | None,
    title: str,
    overlay_label: str = "AdamW",
    y_window: tuple[float, float] = ACCURACY_WINDOW,
) -> pd.DataFrame:
    """Entropy heat map + max-entropy curve + the raw per-step AdamW trajectory.

    Returns the plotted numbers, long format: columns series ('entropy',
    'max entropy', overlay_label), ln_train_loss, test_accuracy, entropy, step.
    """
    fig = ax.figure
    tx = ty = steps = None
    if trajectory is not None:
        keep = np.isfinite(trajectory["ln_train_loss"].to_numpy(float)) & np.isfinite(
            trajectory["test_acc_smooth"].to_numpy(float)
        )
        tx = trajectory["ln_train_loss"].to_numpy(float)[keep]
        ty = trajectory["test_acc_smooth"].to_numpy(float)[keep]
        steps = trajectory["step"].to_numpy()[keep]
    xlo, xhi = x_window(landscape, tx)

    xe, ye = landscape.x_edges, landscape.y_edges
    # crop to the plotted window so huge (2002 x 2002) grids stay cheap to draw and store
    i0 = max(int(np.searchsorted(xe, xlo, side="right")) - 1, 0)
    i1 = min(int(np.searchsorted(xe, xhi, side="left")), len(xe) - 1)
    j0 = max(int(np.searchsorted(ye, y_window[0], side="right")) - 1, 0)
    j1 = min(int(np.searchsorted(ye, y_window[1], side="left")), len(ye) - 1)
    i1, j1 = max(i1, i0 + 1), max(j1, j0 + 1)
    crop = landscape.entropy[i0:i1, j0:j1]
    finite = np.isfinite(crop)
    vmin, vmax = (np.nanmin(crop), np.nanmax(crop)) if finite.any() else (0.0, 1.0)
    if vmax <= vmin:
        vmax = vmin + 1.0
    mesh = ax.pcolormesh(
        xe[i0 : i1 + 1],
        ye[j0 : j1 + 1],
        np.ma.masked_invalid(crop.T),
        cmap=style.ENTROPY_CMAP,
        vmin=vmin,
        vmax=vmax,
        shading="flat",
        rasterized=True,
    )
    fig.colorbar(mesh, ax=ax, label="entropy S")

    xc, yc = centres(xe[i0 : i1 + 1]), centres(ye[j0 : j1 + 1])
    ystar = max_entropy_curve(crop, yc, y_window)
    band = None
    draws = bootstrap_maps(landscape)
    if draws is not None and len(draws) > 1:  # a restrained map: y*'s standard error over the redraws
        curves = np.array([max_entropy_curve(d[i0:i1, j0:j1], yc, y_window) for d in draws])
        band = np.where(np.isfinite(ystar), np.nanstd(curves, axis=0, ddof=1), np.nan)
        ax.fill_between(xc, ystar - band, ystar + band, color=style.MAXENT_COLOR, alpha=0.3, lw=0, zorder=2)
    ax.plot(xc, ystar, color=style.MAXENT_COLOR, lw=1.8, label="max entropy", path_effects=_OUTLINE, zorder=3)
    if tx is not None:
        ax.plot(tx, ty, color=style.ADAMW_COLOR, lw=1.2, label=overlay_label, path_effects=_OUTLINE, zorder=4)

    ax.set_xlim(xlo, xhi)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
    ax.set_ylim(*y_window)
    ax.set_xlabel(X_LABEL)
    ax.set_ylabel(Y_LABEL)
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")

    ii, jj = np.nonzero(finite)
    parts = [
        pd.DataFrame(
            {
                "series": "entropy",
                "ln_train_loss": xc[ii],
                "test_accuracy": yc[jj],
                "entropy": crop[ii, jj],
                "step": np.nan,
            }
        )
    ]
    has = np.isfinite(ystar)
    jstar = np.clip(bin_index(ystar, ye[j0 : j1 + 1]), 0, None)
    parts.append(
        pd.DataFrame(
            {
                "series": "max entropy",
                "ln_train_loss": xc[has],
                "test_accuracy": ystar[has],
                "entropy": crop[np.flatnonzero(has), jstar[has]],
                "step": np.nan,
            }
        )
    )
    if band is not None:  # the band's half-width, one row per column (in test-accuracy units)
        parts.append(
            pd.DataFrame(
                {"series": "max entropy SE", "ln_train_loss": xc[has], "test_accuracy": band[has], "entropy": np.nan}
            ).assign(step=np.nan)
        )
    if tx is not None:
        parts.append(
            pd.DataFrame(
                {"series": overlay_label, "ln_train_loss": tx, "test_accuracy": ty, "entropy": np.nan, "step": steps}
            )
        )
    return pd.concat(parts, ignore_index=True)


def accuracy_panel(
    ax,
    frame: pd.DataFrame,
    title: str,
    log_x: bool = False,
    xmax: float | None = None,
    show_alpha: bool = False,
    legend: bool = True,
) -> pd.DataFrame:
    """Train and test accuracy vs step. Log x runs from 1 to the last step; linear from 0.

    Returns the plotted rows (step, train_acc, test_acc and, when drawn, alpha).
    """
    d = frame
    if log_x:
        d = d[d["step"] >= 1]
    if xmax is not None:
        d = d[d["step"] <= xmax]
    ax.plot(d["step"], d["train_acc"], color=style.TRAIN_COLOR, lw=1.4, label="train")
    ax.plot(d["step"], d["test_acc"], color=style.TEST_COLOR, lw=1.4, label="test")
    cols = ["step", "train_acc", "test_acc"]
    if show_alpha and "alpha" in d.columns:
        ax.plot(d["step"], d["alpha"], color=style.ALPHA_COLOR, lw=1.0, ls=":", label="α(t)")
        cols.append("alpha")
    last = float(frame["step"].max()) if len(frame) else 1.0
    if log_x:
        ax.set_xscale("log")
        ax.set_xlim(1, max(xmax if xmax is not None else last, 10.0))
    else:
        ax.set_xlim(0, xmax if xmax is not None else max(last, 1.0))
    ax.set_ylim(-0.02, 1.02)  # 0..1 with room for lines sitting at 0 or 1
    ax.set_yticks([0.0, 0.25, 0.5, 0.75, 1.0])
    ax.set_xlabel(STEP_LABEL)
    ax.set_ylabel(ACC_LABEL)
    ax.set_title(title)
    if legend:
        ax.legend(loc="best", fontsize="small")
    return d[cols].reset_index(drop=True)
