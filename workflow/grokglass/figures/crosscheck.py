"""Cross-check of a fast (windowed) landscape against the paper's protocol on the same task.

Both maps estimate the same S(ln L_train, A_test) up to an additive constant, so on the bins
both cover they should agree within their noise. The comparison region is the bins visited in
both final maps and in both maps' last merge but one (bins a map reached only in its last
segment have no noise estimate). There each map is centred on its mean, and

- mean_abs_difference: mean |S_fast - S_paper| (centred maps);
- noise_fast, noise_paper: mean |S_last - S_previous| of each map over the region (the
  segment-to-segment change, spec 5.11's mean |dS| restricted to the region);
- noise_level: sqrt(noise_fast^2 + noise_paper^2), the scale of the difference of two maps
  that each still move by their noise;
- verdict: "agree" when mean_abs_difference <= noise_level, "disagree" when above, "unknown"
  without a common region or a noise estimate (a one-segment landscape).

Panels: (a) the fast map, (b) the paper protocol's map, both with the region outlined, (c) the
difference on the region (diverging colours around 0).

CSV (<prefix>.csv): one row per region bin: ln_train_loss, test_accuracy, S_fast, S_paper,
difference. <prefix>_summary.csv: one row with the numbers above, the region's x range and
bin count, and each map's walker-epochs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from grokglass.figures.common import (
    X_LABEL,
    Y_LABEL,
    Landscape,
    PathLike,
    load_landscape,
    new_figure,
    output_paths,
    save_figure,
    write_csv,
)
from grokglass.figures.style import ENTROPY_CMAP, figure_style
from grokglass.io import open_input_h5
from grokglass.wlmd.landscape import visited_mask

DIFFERENCE_CMAP = "RdBu_r"


def _shared_bins(fast_edges: np.ndarray, paper_edges: np.ndarray, axis: str) -> tuple[slice, slice]:
    """(fast, paper) index slices of the bins both grids hold; ValueError unless the two grids
    have equal bins on a common lattice."""
    width = np.diff(fast_edges)
    if not (np.allclose(width, width[0]) and np.allclose(np.diff(paper_edges), width[0])):
        raise ValueError(f"the two landscapes' {axis} bins differ: they cannot be compared bin by bin")
    shift = (paper_edges[0] - fast_edges[0]) / width[0]
    k = int(round(shift))
    if abs(shift - k) > 1e-6:
        raise ValueError(f"the two landscapes' {axis} bins are offset by {shift - k:.3g} of a bin")
    lo, hi = max(0, k), min(len(fast_edges) - 1, k + len(paper_edges) - 1)
    hi = max(hi, lo)
    return slice(lo, hi), slice(lo - k, hi - k)


def _previous_map(path: PathLike | None, shape: tuple[int, int]) -> np.ndarray | None:
    """A merged.h5's map (NaN where unvisited), or None without one."""
    if path is None:
        return None
    with open_input_h5(path, "merged landscape") as h5:
        entropy = np.asarray(h5["mean_entropy"][()], dtype=np.float64)
        visited = visited_mask(entropy, h5["cumulative_histogram"][()])
    if entropy.shape != shape:
        raise ValueError(f"{path}: map shape {entropy.shape} is not its landscape's {shape}")
    return np.where(visited, entropy, np.nan)


def _centred(values: np.ndarray) -> np.ndarray:
    return values - values.mean()


def _walker_epochs(landscape: Landscape) -> int:
    attrs = landscape.attrs
    return int(attrs.get("walkers", 0)) * int(attrs.get("epochs_per_walker", 0))


def compare(fast: Landscape, paper: Landscape, fast_previous=None, paper_previous=None) -> tuple[dict, pd.DataFrame]:
    """The cross-check's numbers (module docstring) and its per-bin table."""
    fx, px = _shared_bins(fast.x_edges, paper.x_edges, "x")
    fy, py = _shared_bins(fast.y_edges, paper.y_edges, "y")
    s_fast, s_paper = fast.entropy[fx, fy], paper.entropy[px, py]
    region = np.isfinite(s_fast) & np.isfinite(s_paper)
    previous = []
    for prev, (sx, sy) in ((fast_previous, (fx, fy)), (paper_previous, (px, py))):
        previous.append(None if prev is None else prev[sx, sy])
        if prev is not None:
            region &= np.isfinite(prev[sx, sy])
    x_centres = 0.5 * (fast.x_edges[fx.start : fx.stop] + fast.x_edges[fx.start + 1 : fx.stop + 1])
    y_centres = 0.5 * (fast.y_edges[fy.start : fy.stop] + fast.y_edges[fy.start + 1 : fy.stop + 1])
    numbers = {
        "n_common_bins": int(region.sum()),
        "x_lo": np.nan,
        "x_hi": np.nan,
        "mean_abs_difference": np.nan,
        "noise_fast": np.nan,
        "noise_paper": np.nan,
        "noise_level": np.nan,
        "relative_difference": np.nan,
        "verdict": "unknown",
        "fast_walker_epochs": _walker_epochs(fast),
        "paper_walker_epochs": _walker_epochs(paper),
    }
    ii, jj = np.nonzero(region)
    table = pd.DataFrame(columns=["ln_train_loss", "test_accuracy", "S_fast", "S_paper", "difference"])
    if not region.any():
        return numbers, table
    a, b = _centred(s_fast[region]), _centred(s_paper[region])
    difference = a - b
    numbers.update(
        x_lo=float(x_centres[ii].min()),
        x_hi=float(x_centres[ii].max()),
        mean_abs_difference=float(np.abs(difference).mean()),
        relative_difference=float(np.abs(difference).mean() / max(np.ptp(b), 1e-12)),
    )
    noises = [
        np.nan if prev is None else float(np.abs(current - _centred(prev[region])).mean())
        for current, prev in ((a, previous[0]), (b, previous[1]))
    ]
    numbers.update(noise_fast=noises[0], noise_paper=noises[1])
    if all(np.isfinite(noises)):
        numbers["noise_level"] = float(np.hypot(*noises))
        numbers["verdict"] = "agree" if numbers["mean_abs_difference"] <= numbers["noise_level"] else "disagree"
    table = pd.DataFrame(
        {
            "ln_train_loss": x_centres[ii],
            "test_accuracy": y_centres[jj],
            "S_fast": a,
            "S_paper": b,
            "difference": difference,
        }
    )
    return numbers, table


def _map_panel(ax, landscape: Landscape, title: str, outline: tuple[float, float] | None) -> None:
    visited = np.flatnonzero(landscape.visited.any(axis=1))
    mesh = ax.pcolormesh(
        landscape.x_edges,
        landscape.y_edges,
        np.ma.masked_invalid(landscape.entropy.T),
        cmap=ENTROPY_CMAP,
        rasterized=True,
    )
    ax.figure.colorbar(mesh, ax=ax, label="entropy S")
    if len(visited):
        ax.set_xlim(landscape.x_edges[visited[0]], landscape.x_edges[visited[-1] + 1])
    if outline is not None:  # the compared region's x range
        width = landscape.x_edges[1] - landscape.x_edges[0]
        for x in (outline[0] - width / 2, outline[1] + width / 2):
            ax.axvline(x, color="white", lw=1.2, ls="--")
    ax.set(xlabel=X_LABEL, ylabel=Y_LABEL, title=title, ylim=(0.0, 1.0))


def _difference_panel(ax, fast: Landscape, table: pd.DataFrame, numbers: dict) -> None:
    """The centred difference on the region's bins, drawn on the fast map's grid."""
    ax.set(xlabel=X_LABEL, ylabel=Y_LABEL, ylim=(0.0, 1.0))
    if table.empty:
        ax.set_title("(c) difference: no bins in common")
        return
    i = np.searchsorted(fast.x_edges, table["ln_train_loss"]) - 1
    j = np.searchsorted(fast.y_edges, table["test_accuracy"]) - 1
    difference = np.full(fast.entropy.shape, np.nan)
    difference[i, j] = table["difference"]
    limit = float(np.abs(table["difference"]).max()) or 1.0
    mesh = ax.pcolormesh(
        fast.x_edges,
        fast.y_edges,
        np.ma.masked_invalid(difference.T),
        cmap=DIFFERENCE_CMAP,
        vmin=-limit,
        vmax=limit,
        rasterized=True,
    )
    ax.figure.colorbar(mesh, ax=ax, label="S_fast − S_paper (centred)")
    width = fast.x_edges[1] - fast.x_edges[0]
    ax.set_xlim(numbers["x_lo"] - width, numbers["x_hi"] + width)
    ax.set_title(
        f"(c) difference: mean |ΔS| {numbers['mean_abs_difference']:.3g}\n"
        f"noise {numbers['noise_level']:.3g}: {numbers['verdict']}"
    )


def crosscheck(
    fast_path: PathLike,
    paper_path: PathLike,
    out_prefix: PathLike,
    fast_previous: PathLike | None = None,
    paper_previous: PathLike | None = None,
) -> Figure:
    fast, paper = load_landscape(fast_path), load_landscape(paper_path)
    numbers, table = compare(
        fast,
        paper,
        _previous_map(fast_previous, fast.entropy.shape),
        _previous_map(paper_previous, paper.entropy.shape),
    )
    outline = None if table.empty else (numbers["x_lo"], numbers["x_hi"])
    with figure_style():
        fig, axes = new_figure(1, 3)
        axes = axes[0]
        _map_panel(axes[0], fast, f"(a) windows: {numbers['fast_walker_epochs']:,} walker-epochs", outline)
        _map_panel(axes[1], paper, f"(b) paper's protocol: {numbers['paper_walker_epochs']:,} walker-epochs", outline)
        _difference_panel(axes[2], fast, table, numbers)
        save_figure(fig, out_prefix, table)
    csv = output_paths(out_prefix)["csv"]
    write_csv(
        pd.DataFrame([{**numbers, "fast": fast.path, "paper": paper.path}]), csv.with_name(f"{csv.stem}_summary.csv")
    )
    return fig
