"""The map of restrained windows: window estimates integrated into S on a grid, with standard
errors, a parametric bootstrap, and the plot (library code; grokglass.wlmd.restrained samples).

Umbrella integration: Kastner and Thiel, J. Chem. Phys. 123, 144104 (2005); in 2-D, Kastner,
J. Chem. Phys. 131, 034109 (2009). The 1-D map is the trapezoid rule along the window means; the
2-D map the weighted least squares of mean_force.integrate_2d. The bootstrap redraws every
window's force from N(force, force_se) and integrates again: its spread is the map's error as
seen by any derived number (the max-entropy curve, a barrier depth).
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass, field

import numpy as np

from grokglass.wlmd import mean_force
from grokglass.wlmd.settings import GridSpec

AXES = ("x", "y")


def progress_bar(total: int, wanted: bool | None, description: str):
    """A tqdm bar on a terminal (wanted None: only if stderr is one), or None."""
    if wanted is False or (wanted is None and not sys.stderr.isatty()):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="epoch", desc=description, leave=False)


# ----- the result ----------------------------------------------------------------------------
@dataclass
class RestrainedResult:
    """S from restrained windows: on the grid's bins (NaN outside the windows' span), with its
    standard error, the axes, the points it was integrated at, and one table row per window."""

    entropy: np.ndarray
    stderr: np.ndarray
    x_edges: np.ndarray
    y_edges: np.ndarray | None
    points: np.ndarray  # (M, d) window means used (passing every test)
    point_entropy: np.ndarray
    point_stderr: np.ndarray
    windows: list[dict]
    residual: float = float("nan")  # 2-D: chi^2 per degree of freedom of the least squares
    walker_epochs: int = 0
    flagged: list[int] = field(default_factory=list)
    bootstrap: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (draws, M) S at `points`

    def table(self):
        """The per-window table as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.windows)

    def plot(self, ax=None, y_scale: float = 10.0):
        """The map as Figure 1 draws it (plot_map), in 1-D with its standard-error band and the
        integrated points. Returns the axes."""
        ax = plot_map(self.entropy, self.x_edges, self.y_edges, ax=ax, y_scale=y_scale, band=self.stderr)
        if self.y_edges is None and len(self.points):
            ax.plot(self.points[:, 0], self.point_entropy - np.nanmin(self.entropy), "o", ms=3, color="C3")
        return ax


def plot_map(entropy, x_edges, y_edges=None, ax=None, y_scale: float = 10.0, band=None):
    """A landscape as Figure 1 draws it: min-shifted S with ln L across and test accuracy (y /
    y_scale) up, jet colours, the max-entropy curve y*(x) in magenta; on a 1-D grid, S(x) with an
    optional standard-error band. Returns the axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.6))
    shifted = entropy - np.nanmin(entropy)
    x_centres = 0.5 * (x_edges[1:] + x_edges[:-1])
    if y_edges is None:
        ax.plot(x_centres, shifted, color="k")
        if band is not None:
            ax.fill_between(x_centres, shifted - band, shifted + band, color="0.7")
        ax.set_xlabel("x = ln(train loss)")
        ax.set_ylabel("S - min S (nats)")
        return ax
    mesh = ax.pcolormesh(x_edges, y_edges / y_scale, shifted.T, cmap="jet", shading="flat")
    ax.figure.colorbar(mesh, ax=ax, label="S - min S (nats)")
    y_centres = 0.5 * (y_edges[1:] + y_edges[:-1]) / y_scale
    columns = ~np.all(np.isnan(shifted), axis=1)
    if columns.any():
        best = np.nanargmax(np.where(np.isnan(shifted), -np.inf, shifted)[columns], axis=1)
        ax.plot(x_centres[columns], y_centres[best], color="magenta", lw=1.5, label="max-entropy curve")
    ax.set_xlabel("ln(train loss)")
    ax.set_ylabel("test accuracy")
    return ax


def integrate(
    estimates,
    shape,
    grid: GridSpec | None = None,
    epochs: int = 0,
    walkers: int = 0,
    exclude_flagged: bool = True,
    bootstrap_draws: int = 0,
    seed: int = 0,
) -> RestrainedResult:
    """Integrate window estimates (one per window, lattice `shape`) onto `grid`. Windows that
    failed a test are left out unless exclude_flagged is False (they are listed in `flagged`
    either way). bootstrap_draws > 0 also fills `bootstrap` (bootstrap_points)."""
    means = np.array([e.mean for e in estimates])
    forces = np.array([e.force for e in estimates])
    errors = np.array([e.force_se for e in estimates])
    keep = np.array([e.ok or not exclude_flagged for e in estimates])
    d = means.shape[1]
    if keep.sum() < 2:
        warnings.warn(
            f"only {int(keep.sum())} of {len(estimates)} windows passed their tests: no map (see the table's "
            "flags; run longer, or check the windows are reachable)",
            stacklevel=2,
        )
        keep = np.zeros_like(keep)
        points, values, stderr, residual = means[:0], np.zeros(0), np.zeros(0), float("nan")
    else:
        points, values, stderr, residual = _integrate_points(means, forces, errors, keep, shape)
    grid = grid or _span_grid(points if len(points) else means)
    if grid.ndim != d:
        raise ValueError(f"the grid has {grid.ndim} axes but the windows restrain {d}")
    entropy, entropy_se = onto_grid(grid, points, values, stderr)
    draws = np.zeros((0, len(points)))
    if bootstrap_draws and len(points):
        draws = bootstrap_points(means, forces, errors, keep, shape, bootstrap_draws, seed)
    return RestrainedResult(
        entropy=entropy,
        stderr=entropy_se,
        x_edges=grid.edges(0).numpy(),
        y_edges=grid.edges(1).numpy() if d == 2 else None,
        points=points,
        point_entropy=values,
        point_stderr=stderr,
        windows=[e.row(AXES) for e in estimates],
        residual=residual,
        walker_epochs=int(epochs) * int(walkers),
        flagged=[e.index for e in estimates if not e.ok],
        bootstrap=draws,
    )


def _integrate_points(means, forces, errors, keep, shape):
    """(points (M, d), S, its standard error, chi^2/dof) from the kept windows."""
    if means.shape[1] == 1:
        points, values, stderr = mean_force.integrate_1d(means[keep, 0], forces[keep, 0], errors[keep, 0])
        return points[:, None], values, stderr, float("nan")
    gauge = int(np.flatnonzero(keep)[0])
    solved = mean_force.integrate_2d(means, forces, errors, mean_force.lattice_edges(shape), keep, gauge)
    used = np.isfinite(solved.entropy)
    return means[used], solved.entropy[used], solved.stderr[used], solved.chi2_per_dof


def bootstrap_points(means, forces, errors, keep, shape, draws: int, seed: int = 0) -> np.ndarray:
    """(draws, M): S at the integrated points (in integrate's order) with every window's force
    redrawn from N(force, force_se), independently per window and axis: the map's error as any
    number derived from it sees it (a parametric bootstrap)."""
    generator = np.random.default_rng(seed)
    out = []
    for _ in range(draws):
        redrawn = forces + errors * generator.standard_normal(forces.shape)
        out.append(_integrate_points(means, redrawn, errors, keep, shape)[1])
    return np.array(out)


def _span_grid(points: np.ndarray) -> GridSpec:
    lows, highs = points.min(axis=0), points.max(axis=0)
    width = float(max((highs - lows).max(), 1e-6) / 100)
    return GridSpec(lows=tuple(float(v) for v in lows), highs=tuple(float(v) + width for v in highs), bin_width=width)


def onto_grid(grid: GridSpec, points, values, stderr=None) -> tuple[np.ndarray, np.ndarray]:
    """S and its standard error on the grid's bins (interpolate)."""
    stderr = np.zeros(len(values)) if stderr is None else stderr
    centres = [grid.centres(a).numpy() for a in range(grid.ndim)]
    return interpolate(points, values, *centres), interpolate(points, stderr, *centres)


def interpolate(points, values, x_centres, y_centres=None) -> np.ndarray:
    """Linear interpolation of values at the integrated points to bin centres: (n_x,) or
    (n_x, n_y), NaN outside the points' span (their convex hull in 2-D)."""
    points, values = np.asarray(points, float), np.asarray(values, float)
    shape = (len(x_centres),) if y_centres is None else (len(x_centres), len(y_centres))
    if len(points) < 2:
        return np.full(shape, np.nan)
    if y_centres is None:
        order = np.argsort(points[:, 0])
        xs = points[order, 0]
        inside = (x_centres >= xs[0]) & (x_centres <= xs[-1])
        return np.where(inside, np.interp(x_centres, xs, values[order]), np.nan)
    from scipy.interpolate import LinearNDInterpolator

    mesh = np.stack(np.meshgrid(x_centres, y_centres, indexing="ij"), axis=-1)
    return LinearNDInterpolator(points, values)(mesh)
