"""Windows in x with replica exchange, and stitching (replica-exchange Wang-Landau, REWL:
Vogel, Li, Wuest and Landau, PRL 110, 210603 (2013)), for any system.

The x range of a grid is cut into `n` overlapping windows. Each window has its own grid
(the window plus a margin of wall on each side) and its own walkers, kept inside by hard
walls (walls "hard", the default: a step past the window's edge is undone and the velocity
reversed, wlmd.sampler) or only by the grid's bias, S_bias = B (x - hi)^2 above and
B (lo - x)^2 below (walls "soft"), and which add
their deposits to the window's one map (share "sum"). Every `exchange_every` epochs,
walkers of neighbouring windows that both sit in the overlap try to swap configurations,
accepted with

    min(1, exp[S_a(x_i) - S_a(x_j) + S_b(x_j) - S_b(x_i)])

(walker i in window a, j in window b; each window samples exp(-S_est(x)), so this keeps
both windows' distributions: detailed balance). At the end the windows' maps are stitched
by one constant offset per neighbouring pair, the histogram-weighted mean difference over
the bins both visited in their overlap, and averaged where they overlap (weights: visits).

Each window only fills its own part of the entropy's depth, so the work per window falls
with the number of windows; the windows run one after another here (a batched form is for
later), so the cost in walker-epochs is what this module measures. In the pipeline each
window is a job of its own (wlmd.segment), exchanging at segment starts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from grokglass.errors import ExpectedError
from grokglass.wlmd.grid import EntropyGrid
from grokglass.wlmd.landscape import visited_mask
from grokglass.wlmd.sampler import WalkerState, box_bound, constrain_walkers, init_walkers, run_epochs
from grokglass.wlmd.settings import (
    GridSpec,
    SamplerSettings,
    WindowSettings,
    exchange_partner,
    window_centre,
    window_ranges,
    window_trim_bins,
)
from grokglass.wlmd.stitch import embed_windows, stitch_maps

__all__ = [
    "WindowSettings",
    "exchange_partner",
    "window_ranges",
    "sample",
    "WindowedSampler",
    "stitch_maps",
]


def window_grid(grid: GridSpec, first: int, last: int, wall_bins: int, hard_walls: bool = False) -> GridSpec:
    """The grid of one window: bins [first, last) of x plus walls of wall_bins on both sides
    (hard_walls: the window's edges are hard walls, GridSpec.hard_walls)."""
    lo, hi = grid.lows[0] + first * grid.bin_width, grid.lows[0] + last * grid.bin_width
    pad = wall_bins * grid.bin_width
    return dataclasses.replace(
        grid,
        lows=(lo - pad, *grid.lows[1:]),
        highs=(hi + pad, *grid.highs[1:]),
        # the end windows keep the landscape's own walls
        bias_start=min(hi, grid.bias_start),
        bias_low=lo if grid.bias_low is None else max(lo, grid.bias_low),
        hard_walls=hard_walls,
    )


def exchange_acceptance(s_a_i: float, s_a_j: float, s_b_j: float, s_b_i: float) -> float:
    """min(1, exp[S_a(x_i) - S_a(x_j) + S_b(x_j) - S_b(x_i)]): swap i (window a) and j (window b)."""
    return math.exp(min(0.0, s_a_i - s_a_j + s_b_j - s_b_i))


class SteeringError(ExpectedError):
    """Walkers that could not be brought into their window: a window out of the system's reach."""


def steer_into(
    system,
    state: WalkerState,
    target: float,
    tolerance: float,
    settings: SamplerSettings | None = None,
    max_steps: int = 3000,
) -> int:
    """Move each walker's x to within `tolerance` of `target`; returns the steps taken.

    A walker must start inside its window: the wall outside is far too steep to fall down.
    Each step is a Newton step on x alone, d theta = -(x - target) grad x / |grad x|^2 with
    |x - target| capped at 1 and |d theta| at STEER_TRUST |theta| (a trust region), followed
    by the sampler's constraint (box clamp or shell projection), so a network descends by
    projected gradient steps and stays where the sampler may go (measured in
    docs/validation.md, sections 10 and 12). Walkers already there stay.
    """
    # the box is computed once, not at each of up to max_steps steps
    bound = box_bound(system, state, settings) if settings is not None and settings.constraint == "bounds" else None
    for step in range(max_steps):
        params = state.params.detach().requires_grad_(True)
        x, _ = system.observables(state.layout.views(params))
        off = x.detach() - target
        away = off.abs() > tolerance
        if not bool(away.any()):
            return step
        (grad,) = torch.autograd.grad(x.sum(), params)
        with torch.no_grad():
            grad = grad.double()
            if settings is not None and settings.constraint == "shell":  # move along the shell
                unit = state.params.double() / state.params.double().norm(dim=1, keepdim=True)
                grad = grad - (grad * unit).sum(1, keepdim=True) * unit
            size = grad.pow(2).sum(1, keepdim=True).clamp_min(1e-30)
            move = torch.where(away, off.clamp(-1.0, 1.0), torch.zeros_like(off))
            step_vector = -move[:, None] * grad / size
            # trust region: near a random init x is flat, the Newton step is many times |theta|
            # and the walker bounces around its start (~800 steps measured, ~200 with the cap)
            radius = STEER_TRUST * state.params.double().norm(dim=1, keepdim=True)
            length = step_vector.norm(dim=1, keepdim=True)
            scale = torch.where(radius > 0, (radius / length.clamp_min(1e-30)).clamp(max=1.0), torch.ones_like(length))
            state.params.add_((step_vector * scale).float())
            if settings is not None:
                constrain_walkers(system, state, settings, bound)
    worst = float(off.abs().max())
    raise SteeringError(
        f"walkers could not be steered to x = {target:.3f} (+- {tolerance:.3f}) in {max_steps} steps "
        f"(still {worst:.3f} away): the window is out of reach of the system under its constraint; "
        "narrow the grid's x range or use fewer windows"
    )


# fresh walkers of a window start within this share of its half-width from its centre
STEER_TOLERANCE = 0.25
# a steering step moves a walker by at most this share of its |theta| (validation.md section 12)
STEER_TRUST = 0.05


def steer_into_window(system, state, grid: GridSpec, ranges, window: int, settings) -> tuple[float, int]:
    """steer_into the centre of window `window`'s sampled part; returns (centre, steps)."""
    centre, half_width = window_centre(grid, ranges, window)
    return centre, steer_into(system, state, centre, STEER_TOLERANCE * half_width, settings)


@dataclass
class SampleResult:
    """What sample() learned: S (learned part, NaN where unvisited) and visits on the full grid,
    with the grid's axes (as wlmd.restrained.RestrainedResult has them) and a plot()."""

    entropy: np.ndarray
    histogram: np.ndarray
    offsets: list[float]  # each window's stitching constant (0 for the lowest stitched, NaN: left out)
    exchanges: dict  # attempts and acceptances per neighbouring pair
    window_bins: list[tuple[int, int]]
    x_edges: np.ndarray | None = None
    y_edges: np.ndarray | None = None  # None on a 1-D grid

    def plot(self, ax=None, y_scale: float = 10.0):
        """The map as Figure 1 draws it (min-shifted S; ln L across, test accuracy up, y / y_scale;
        the max-entropy curve), or S(x) on a 1-D grid. Returns the axes."""
        from grokglass.wlmd.restrained_map import plot_map

        return plot_map(self.entropy, self.x_edges, self.y_edges, ax=ax, y_scale=y_scale)


def _axes(grid: GridSpec) -> dict:
    return {"x_edges": grid.edges(0).numpy(), "y_edges": grid.edges(1).numpy() if grid.ndim == 2 else None}


# a chunk of epochs between progress-bar updates (and outside-the-grid counts) of sample()
PROGRESS_CHUNK = 100


def sample(
    system,
    grid: GridSpec,
    sampler: SamplerSettings,
    walkers: int = 4,
    epochs: int = 10_000,
    windows: WindowSettings | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool | None = None,
    outside: str = "drop",
) -> SampleResult:
    """Learn the entropy of any system (wlmd/systems.py interface) on `grid`.

    Without windows: `walkers` walkers on one grid with the sampler's share mode. With
    windows: windows.walkers_per_window walkers per window, their deposits summed into the
    window's map, exchanges every windows.exchange_every epochs, maps stitched at the end.
    `epochs` is per walker; the cost is epochs x all walkers. progress: a bar (None: on a terminal).
    Walkers that leave the grid deposit nothing and their visits count nowhere (outside="drop");
    outside="edge" counts them in the grid's edge bins instead (the pipeline's behaviour,
    SamplerSettings.outside). sample() warns with the share of epochs they spent outside.
    """
    sampler = dataclasses.replace(sampler, outside=outside)  # (validated by SamplerSettings)
    if not (isinstance(walkers, int) and walkers >= 1):
        raise ValueError(f"walkers must be a whole number >= 1, got {walkers!r}")
    if not (isinstance(epochs, int) and epochs >= 1):
        raise ValueError(f"epochs must be a whole number >= 1, got {epochs!r}")
    if windows is None:
        state = init_walkers(system, list(range(walkers)), seed, sampler, device)
        one = EntropyGrid(grid, walkers, device)
        off_grid = _run_with_progress(system, one, state, sampler, epochs, progress)
        _warn_outside(off_grid, epochs, grid, sampler.outside)
        learned = one.learned()
        entropy = (learned[0] if sampler.share in ("sum", "every_step") else learned.mean(0)).cpu().numpy()
        histogram = one.histogram.sum(0).cpu().numpy()
        entropy = np.where(visited_mask(entropy, histogram), entropy, np.nan)
        return SampleResult(entropy, histogram, [0.0], {}, [(0, grid.shape[0])], **_axes(grid))
    result = _sample_windows(system, grid, dataclasses.replace(sampler, share="sum"), epochs, windows, seed, device)
    return dataclasses.replace(result, **_axes(grid))


def _run_with_progress(system, grid, state, sampler, epochs: int, progress) -> np.ndarray:
    """run_epochs in chunks, a progress bar on a terminal; returns each walker's epochs outside the grid."""
    from grokglass.wlmd.restrained_map import progress_bar

    bar = progress_bar(epochs, progress, "Wang-Landau")
    outside = np.zeros(state.n_walkers, dtype=np.int64)
    done = 0
    while done < epochs:
        chunk = min(PROGRESS_CHUNK, epochs - done)
        outside += run_epochs(system, grid, state, sampler, chunk)["epochs_outside"].cpu().numpy()
        done += chunk
        if bar is not None:
            bar.update(chunk)
    if bar is not None:
        bar.close()
    return outside


def _warn_outside(outside: np.ndarray, epochs: int, grid: GridSpec, mode: str) -> None:
    """A warning when walkers spent epochs outside the grid, saying where those visits went."""
    share = float(outside.sum()) / (epochs * len(outside))
    if share > 0:
        bounds = ", ".join(f"[{lo:g}, {hi:g}]" for lo, hi in zip(grid.lows, grid.highs))
        went = (
            "they deposited nothing and count nowhere"
            if mode == "drop"
            else "those visits and deposits went to its edge bins, so the edge bins are not the entropy there"
        )
        warnings.warn(
            f"walkers spent {share:.1%} of their epochs outside the grid {bounds}; {went}: widen the grid",
            stacklevel=3,
        )


class WindowedSampler:
    """The windows' grids and walkers; advance(epochs) runs them with exchanges, result() stitches."""

    def __init__(self, system, grid: GridSpec, sampler: SamplerSettings, windows: WindowSettings, seed=0, device="cpu"):
        self.system, self.grid, self.windows = system, grid, windows
        self.sampler = dataclasses.replace(sampler, share="sum")
        self.ranges = window_ranges(grid, windows)
        self.grids, self.states = [], []
        # seconds spent steering, in epochs, exchanging and stitching (the costs of windows)
        self.seconds = {"steer": 0.0, "epochs": 0.0, "exchange": 0.0, "stitch": 0.0}
        for w, (first, last) in enumerate(self.ranges):
            ids = list(range(w * windows.walkers_per_window, (w + 1) * windows.walkers_per_window))
            state = init_walkers(system, ids, seed, self.sampler, device)
            with self._timed("steer"):
                steer_into_window(system, state, grid, self.ranges, w, self.sampler)
            spec = window_grid(grid, first, last, windows.wall_bins, windows.walls == "hard")
            self.grids.append(EntropyGrid(spec, len(ids), device))
            self.states.append(state)
        self.exchanges = {f"{w}-{w + 1}": {"attempts": 0, "accepted": 0} for w in range(len(self.ranges) - 1)}
        self._random = np.random.default_rng(seed)
        self.epochs = 0

    @contextlib.contextmanager
    def _timed(self, what: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            if self.states and self.states[0].device.type == "cuda":
                torch.cuda.synchronize(self.states[0].device)
            self.seconds[what] += time.perf_counter() - started

    def advance(self, epochs: int) -> None:
        """`epochs` more epochs for every walker, exchanges every windows.exchange_every."""
        target = self.epochs + epochs
        while self.epochs < target:
            chunk = min(self.windows.exchange_every - self.epochs % self.windows.exchange_every, target - self.epochs)
            with self._timed("epochs"):
                for grid, state in zip(self.grids, self.states):
                    run_epochs(self.system, grid, state, self.sampler, chunk, map_walkers=state.n_walkers)
            self.epochs += chunk
            if self.epochs % self.windows.exchange_every == 0:
                with self._timed("exchange"):
                    for w, key in enumerate(self.exchanges):
                        pair = (self.grids[w], self.grids[w + 1], self.states[w], self.states[w + 1])
                        _exchange(self.system, *pair, self.exchanges[key], self._random)

    def result(self, warn=None) -> SampleResult:
        """The stitched result; windows that never met raise ValueError, or with `warn` (a
        callable) are reported through it and left out (stitch_maps)."""
        with self._timed("stitch"):
            return _stitch(self.grid, self.ranges, self.grids, self.windows, self.exchanges, warn)


def _sample_windows(system, grid, sampler, epochs, windows, seed, device) -> SampleResult:
    windowed = WindowedSampler(system, grid, sampler, windows, seed, device)
    windowed.advance(epochs)
    return windowed.result()


def walker_coordinates(system, state: WalkerState, ndim: int) -> torch.Tensor:
    """(k, ndim) float64 grid coordinates of the walkers: x, or (x, y) on a 2-D grid."""
    with torch.no_grad():
        x, y = system.observables(state.layout.views(state.params))
    return (torch.stack([x, y], dim=1) if ndim == 2 else x[:, None]).double()


def map_values(grid: EntropyGrid, coords: torch.Tensor) -> list[float]:
    """The window's map S_est (bias included) at each walker's coordinates (k, ndim)."""
    index = grid.bin_index(coords.to(grid.device))
    return grid.entropy[0][tuple(index.T)].tolist()


def _in_both_windows(grid_a: EntropyGrid, grid_b: EntropyGrid, coords: torch.Tensor) -> list[int]:
    """Walkers whose x lies inside both windows proper (between the walls of each): the overlap."""
    lo = max(grid_a.spec.bias_low, grid_b.spec.bias_low)
    hi = min(grid_a.spec.bias_start, grid_b.spec.bias_start)
    return [k for k, value in enumerate(coords[:, 0].tolist()) if lo <= value <= hi]


def exchange_decisions(
    grid_a: EntropyGrid, grid_b: EntropyGrid, coords_a: torch.Tensor, coords_b: torch.Tensor, generator
) -> tuple[int, list[tuple[int, int]]]:
    """One round between neighbouring windows a and b: the walkers of each inside both windows
    are paired at random and each pair swaps with exchange_acceptance. Returns (attempts, the
    accepted (i in a, j in b) pairs); the same inputs and generator state give the same answer."""
    inside_a = _in_both_windows(grid_a, grid_b, coords_a)
    inside_b = _in_both_windows(grid_a, grid_b, coords_b)
    generator.shuffle(inside_a)
    generator.shuffle(inside_b)
    pairs = list(zip(inside_a, inside_b))
    if not pairs:
        return 0, []
    a_rows, b_rows = [i for i, _ in pairs], [j for _, j in pairs]
    s_a_i, s_a_j = map_values(grid_a, coords_a[a_rows]), map_values(grid_a, coords_b[b_rows])
    s_b_j, s_b_i = map_values(grid_b, coords_b[b_rows]), map_values(grid_b, coords_a[a_rows])
    accepted = [
        pair
        for pair, values in zip(pairs, zip(s_a_i, s_a_j, s_b_j, s_b_i))
        if generator.random() < exchange_acceptance(*values)
    ]
    return len(pairs), accepted


def swap_rows(state_a: WalkerState, i: int, state_b: WalkerState, j: int) -> None:
    """Exchange the configurations (parameters and velocities) of walker i of a and j of b."""
    for buffer in ("params", "velocity"):
        a, b = getattr(state_a, buffer), getattr(state_b, buffer)
        row = a[i].clone()
        a[i].copy_(b[j])
        b[j].copy_(row)


def _exchange(system, grid_a, grid_b, state_a, state_b, stats: dict, generator) -> None:
    ndim = grid_a.spec.ndim
    coords_a, coords_b = walker_coordinates(system, state_a, ndim), walker_coordinates(system, state_b, ndim)
    attempts, accepted = exchange_decisions(grid_a, grid_b, coords_a, coords_b, generator)
    stats["attempts"] += attempts
    stats["accepted"] += len(accepted)
    for i, j in accepted:
        swap_rows(state_a, i, state_b, j)


def _stitch(grid: GridSpec, ranges, grids: list[EntropyGrid], windows: WindowSettings, exchanges, warn=None):
    maps, visits, trusted = embed_windows(
        grid.shape,
        ranges,
        [window.learned()[0].cpu().numpy() for window in grids],
        [window.histogram.sum(0).cpu().numpy() for window in grids],
        windows.wall_bins,
        window_trim_bins(grid, windows),
    )
    entropy, offsets = stitch_maps(maps, trusted, warn)
    return SampleResult(entropy, np.sum(trusted, axis=0), offsets, exchanges, ranges)
