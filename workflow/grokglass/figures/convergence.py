"""Convergence diagnostics of one WLMD landscape, from its `convergence` group.

Panels vs epochs per walker: (a) mean |dS| between consecutive segments' merged
landscapes, (b) shift of the max-entropy curve between segments (bins),
(c) histogram flatness, (d) kinetic energy per parameter at each segment's end (mean and
max over walkers) against kT/2 (dashed, from the landscape's sampler settings): a run whose
K/N leaves kT/2 is not sampling the Langevin equilibrium (the divergence guard stops one far
off). Where the file has `visited_entropy_range`, panel (a)
also shows 1 % of it (dashed, "1% of S range"), the convergence criterion. An axis is logarithmic where that is sensible: all
plotted values positive and spanning more than a decade. Missing datasets give
an empty panel with a note.

CSV (<prefix>.csv): the convergence table as stored, one row per segment:
segment, epochs_per_walker, mean_abs_dS, maxent_shift_bins, flatness,
visited_entropy_range, kinetic_per_param, kinetic_per_param_max (only the columns present
in the file).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from grokglass.figures import style
from grokglass.figures.common import PathLike, load_landscape, new_figure, save_figure
from grokglass.figures.style import figure_style
from grokglass.io import open_input_h5
from grokglass.wlmd.settings import CONVERGENCE_COLUMNS

COLUMNS = CONVERGENCE_COLUMNS
PANELS = (
    ("mean_abs_dS", "mean |ΔS| between segments", "(a) entropy change", style.TRAIN_COLOR),
    ("maxent_shift_bins", "max-entropy curve shift (bins)", "(b) y* shift", style.TEST_COLOR),
    ("flatness", "histogram flatness", "(c) flatness", style.EXTRA_COLOR),
    ("kinetic_per_param", "kinetic energy per parameter", "(d) K/N", style.TRAIN_COLOR),
)


def _log_sensible(values: np.ndarray) -> bool:
    v = values[np.isfinite(values)]
    return len(v) >= 2 and bool(np.all(v > 0)) and v.max() / v.min() > 10.0


def _log_epochs_axis(axis) -> None:
    """A log axis of epochs labelled 1, 2, 5 x 10^k in plain numbers: within a decade or two the
    default labels every minor tick in 10^x form, and they overlap."""
    axis.axes.set_xscale("log")
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    axis.set_minor_formatter(NullFormatter())


def _half_kT(attrs: dict) -> float | None:
    try:
        return 0.5 * float(json.loads(attrs["sampler"])["kT"])
    except (KeyError, TypeError, ValueError):
        return None


def _kinetic_references(ax, x, table: pd.DataFrame, half_kT: float | None, y: np.ndarray) -> np.ndarray:
    """Panel (d): the walkers' max K/N and the equilibrium kT/2 beside the mean; returns all plotted."""
    plotted = [y]
    if "kinetic_per_param_max" in table:
        top = table["kinetic_per_param_max"].to_numpy()
        ax.plot(x, top, marker=".", ms=3, lw=0.8, color=style.TEST_COLOR, label="max over walkers")
        plotted.append(top)
    if half_kT is not None:
        ax.axhline(half_kT, ls="--", lw=1.0, color=style.ALPHA_COLOR, label="kT/2")
        plotted.append(np.array([half_kT]))
    ax.legend(loc="best", fontsize="small")
    return np.concatenate(plotted)


def windows_note(landscape_path: PathLike) -> str | None:
    """One line on a windowed landscape's windows: how many are stitched in, the exchanges
    accepted; a warning when some windows are left out (they never shared a visited bin)."""
    with open_input_h5(landscape_path, "landscape") as h5:
        if "windows" not in h5:
            return None
        attrs = h5["windows"].attrs
        offsets = np.asarray(attrs["offsets"], dtype=np.float64)
        attempts, accepted = np.asarray(attrs["exchange_attempts"]), np.asarray(attrs["exchange_accepted"])
    kept = int(np.isfinite(offsets).sum())
    note = f"{len(offsets)} windows, {kept} stitched; exchanges accepted {int(accepted.sum())} of {int(attempts.sum())}"
    if kept < len(offsets):
        note = (
            f"WARNING: windows 0..{len(offsets) - kept - 1} are not stitched to the top window and are left out. {note}"
        )
    return note


def window_table(landscape_path: PathLike) -> pd.DataFrame | None:
    """A restrained landscape's per-window table (None for a Wang-Landau one)."""
    with open_input_h5(landscape_path, "landscape") as h5:
        if "restrained/table" not in h5:
            return None
        columns = h5["restrained/table"]
        return pd.DataFrame(
            {name: (ds.asstr()[()] if ds.dtype.kind == "O" else ds[()]) for name, ds in columns.items()}
        )


def restrained_diagnostics(landscape_path: PathLike, out_prefix: PathLike, table: pd.DataFrame) -> Figure:
    """A restrained map's diagnostics: (a) the map with the gradient field measured at each
    window's mean (arrows: direction of grad S in the plotted units) and the windows that failed
    a test (red crosses); (b) the standard error of S; (c) dS/dx and (d) dS/d(accuracy) per
    window against x, one series per accuracy row, with their standard errors.
    CSV: the window table (one row per window, as landscape.h5 stores it)."""
    landscape = load_landscape(landscape_path)
    scale = float(landscape.attrs.get("y_scale", 10.0))
    x, y = table["mean_x"].to_numpy(), table["mean_y"].to_numpy() / scale
    fx, fy = table["force_x"].to_numpy(), table["force_y"].to_numpy() * scale  # per unit of accuracy
    flagged = table["flags"].astype(str).str.len().to_numpy() > 0
    span_x = float(np.ptp(landscape.x_edges)) or 1.0
    with figure_style():
        fig, axes = new_figure(1, 4, panel_width=3.6, panel_height=3.1)
        for ax, values, title, label in (
            (axes[0, 0], landscape.entropy, "(a) S and its gradient", "entropy S"),
            (axes[0, 1], landscape.stderr, "(b) standard error of S", "nats"),
        ):
            mesh = ax.pcolormesh(
                landscape.x_edges, landscape.y_edges, np.ma.masked_invalid(values.T), cmap=style.ENTROPY_CMAP
            )
            fig.colorbar(mesh, ax=ax, label=label)
            ax.set_title(title)
            ax.set_xlabel("ln(train loss)")
            ax.set_ylabel("test accuracy")
        # arrows of one length in axis units: the direction of grad S (x and accuracy scaled alike)
        dx, dy = fx / span_x, fy
        length = np.hypot(dx, dy)
        length[length == 0] = 1.0
        axes[0, 0].quiver(x, y, dx / length, dy / length, angles="xy", color="k", width=0.006, scale=12)
        axes[0, 0].plot(x[flagged], y[flagged], "x", color="red", ms=7, mew=1.8, label="failed a test")
        if flagged.any():
            axes[0, 0].legend(loc="best", fontsize="small")
        rows = np.round(table["centre_y"].to_numpy() / scale, 3)
        for ax, force, se, ylabel in (
            (axes[0, 2], fx, table["force_se_x"].to_numpy(), "dS/dx (nats)"),
            (axes[0, 3], fy, table["force_se_y"].to_numpy() * scale, "dS/d(accuracy) (nats)"),
        ):
            for row in sorted(set(rows)):
                pick = rows == row
                ax.errorbar(
                    x[pick], force[pick], yerr=se[pick], marker="o", ms=3, lw=1, capsize=2, label=f"acc {row:g}"
                )
                bad = pick & flagged
                ax.plot(x[bad], force[bad], "x", color="red", ms=7, mew=1.5)
            ax.set_xlabel("ln(train loss)")
            ax.set_ylabel(ylabel)
            ax.legend(loc="best", fontsize="small")
        axes[0, 2].set_title("(c) gradient in x")
        axes[0, 3].set_title("(d) gradient in accuracy")
        fig.suptitle(
            f"{int(flagged.sum())} of {len(table)} windows failed a test (time halves, weight norm or K/N)",
            color="firebrick" if flagged.any() else "black",
            fontsize="small",
        )
        save_figure(fig, out_prefix, table)
    return fig


def convergence(landscape_path: PathLike, out_prefix: PathLike) -> Figure:
    """Plot a landscape's convergence diagnostics against epochs per walker (a restrained
    landscape: its window diagnostics, restrained_diagnostics)."""
    table = window_table(landscape_path)
    if table is not None:
        return restrained_diagnostics(landscape_path, out_prefix, table)
    conv = load_landscape(landscape_path).convergence
    table = pd.DataFrame({c: np.asarray(conv[c], dtype=np.float64).ravel() for c in COLUMNS if c in conv})
    if "segment" in table:
        table["segment"] = table["segment"].astype(np.int64)
    if "epochs_per_walker" in table:
        x, x_name = table["epochs_per_walker"].to_numpy(), "epochs per walker"
    elif "segment" in table:
        x, x_name = table["segment"].to_numpy(np.float64), "segment"
    else:
        x, x_name = np.arange(len(table), dtype=np.float64), "segment"
    with figure_style():
        fig, axes = new_figure(1, len(PANELS), panel_width=3.4, panel_height=2.9)
        half_kT = _half_kT(load_landscape(landscape_path).attrs)
        for ax, (column, ylabel, title, color) in zip(axes[0], PANELS):
            ax.set_title(title)
            ax.set_xlabel(x_name)
            ax.set_ylabel(ylabel)
            if column not in table or not np.isfinite(table[column].to_numpy()).any():
                ax.text(0.5, 0.5, f"no {column}", transform=ax.transAxes, ha="center", va="center")
                continue
            y = table[column].to_numpy()
            label = {"mean_abs_dS": "mean |ΔS|", "kinetic_per_param": "mean over walkers"}.get(column, ylabel)
            ax.plot(x, y, marker="o", ms=3, lw=1.2, color=color, label=label)
            if column == "mean_abs_dS" and "visited_entropy_range" in table:
                reference = 0.01 * table["visited_entropy_range"].to_numpy()
                ax.plot(x, reference, ls="--", lw=1.0, color=style.ALPHA_COLOR, label="1% of S range")
                ax.legend(loc="best", fontsize="small")
                y = np.concatenate([y, reference])
            if column == "kinetic_per_param":
                y = _kinetic_references(ax, x, table, half_kT, y)
            if _log_sensible(np.asarray(x, dtype=np.float64)):
                _log_epochs_axis(ax.xaxis)
            if _log_sensible(y):
                ax.set_yscale("log")
        note = windows_note(landscape_path)
        if note:
            fig.suptitle(note, color="firebrick" if note.startswith("WARNING") else "black", fontsize="small")
        save_figure(fig, out_prefix, table)
    return fig
