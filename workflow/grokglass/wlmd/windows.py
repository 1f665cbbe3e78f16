"""Windows in x with replica exchange, and stitching (replica-exchange Wang-Landau, REWL:
Vogel, Li, Wuest and Landau, PRL 110, 210603 (2013)), for any system.

The x range of a grid is cut into `n` overlapping windows. Each window has its own grid
(the window plus a margin of wall on each side: the grid's bias, S_bias = B (x - hi)^2
above and B (lo - x)^2 below, keeps its walkers inside) and its own walkers, which add
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
later), so the cost in walker-epochs is what this module measures.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from grokglass.wlmd.grid import EntropyGrid
from grokglass.wlmd.sampler import WalkerState, init_walkers, run_epochs
from grokglass.wlmd.settings import GridSpec, SamplerSettings


@dataclass(frozen=True)
class WindowSettings:
    """n windows over the grid's x range, neighbours sharing `overlap` of a window's width."""

    n: int = 4
    overlap: float = 0.5
    walkers_per_window: int = 2
    exchange_every: int = 100  # epochs between exchange attempts
    wall_bins: int = 10  # bins of wall on each side of a window's grid
    # bins next to an inner wall left out of the stitch: there the deposits' Gaussians run
    # into the wall and the map is distorted (None: 1.5 Gaussian widths)
    trim_bins: int | None = None

    def __post_init__(self):
        if self.n < 1 or self.walkers_per_window < 1 or self.exchange_every < 1 or self.wall_bins < 1:
            raise ValueError(f"windows need n, walkers_per_window, exchange_every, wall_bins >= 1: {self}")
        if self.n > 1 and not 0.0 < self.overlap < 1.0:
            raise ValueError(f"windows need an overlap in (0, 1) of their width, got {self.overlap}")


def window_ranges(grid: GridSpec, windows: WindowSettings) -> list[tuple[int, int]]:
    """Each window's [first, last) bin on the grid's x axis; neighbours overlap by >= 2 bins."""
    n_bins = grid.shape[0]
    width = n_bins / (windows.n - (windows.n - 1) * windows.overlap)
    step = width * (1.0 - windows.overlap)
    ranges = []
    for w in range(windows.n):
        first = int(round(w * step))
        last = n_bins if w == windows.n - 1 else int(round(w * step + width))
        ranges.append((first, last))
    for (_, last), (first, _) in zip(ranges, ranges[1:]):
        if last - first < 2:
            raise ValueError(f"windows {ranges} overlap by fewer than 2 bins: raise the overlap or lower n")
    return ranges


def window_grid(grid: GridSpec, first: int, last: int, wall_bins: int) -> GridSpec:
    """The grid of one window: bins [first, last) of x plus walls of wall_bins on both sides."""
    lo, hi = grid.lows[0] + first * grid.bin_width, grid.lows[0] + last * grid.bin_width
    pad = wall_bins * grid.bin_width
    return dataclasses.replace(
        grid,
        lows=(lo - pad, *grid.lows[1:]),
        highs=(hi + pad, *grid.highs[1:]),
        bias_start=hi,
        bias_low=lo,
    )


def exchange_acceptance(s_a_i: float, s_a_j: float, s_b_j: float, s_b_i: float) -> float:
    """min(1, exp[S_a(x_i) - S_a(x_j) + S_b(x_j) - S_b(x_i)]): swap i (window a) and j (window b)."""
    return math.exp(min(0.0, s_a_i - s_a_j + s_b_j - s_b_i))


def steer_into(system, state: WalkerState, target: float, tolerance: float, max_steps: int = 200) -> None:
    """Move each walker's x to within `tolerance` of `target` by Newton steps on x alone,
    d theta = -(x - target) grad x / |grad x|^2 (a walker must start inside its window: the
    wall outside is far too steep to fall down). Raises if a walker does not get there."""
    for _ in range(max_steps):
        params = state.params.detach().requires_grad_(True)
        x, _ = system.observables(state.layout.views(params))
        off = x.detach() - target
        if bool((off.abs() <= tolerance).all()):
            return
        (grad,) = torch.autograd.grad(x.sum(), params)
        with torch.no_grad():
            step = -(off.clamp(-1.0, 1.0))[:, None] * grad.double() / grad.double().pow(2).sum(1, keepdim=True)
            state.params.add_(step.float())
    raise RuntimeError(f"walkers could not be steered to x = {target:.3f} in {max_steps} steps")


@dataclass
class SampleResult:
    """What sample() learned: S (learned part, NaN where unvisited) and visits on the full grid."""

    entropy: np.ndarray
    histogram: np.ndarray
    offsets: list[float]  # the stitching constant of each window (0 for the first)
    exchanges: dict  # attempts and acceptances per neighbouring pair
    window_bins: list[tuple[int, int]]


def sample(
    system,
    grid: GridSpec,
    sampler: SamplerSettings,
    walkers: int = 4,
    epochs: int = 10_000,
    windows: WindowSettings | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> SampleResult:
    """Learn the entropy of any system (wlmd/systems.py interface) on `grid`.

    Without windows: `walkers` walkers on one grid with the sampler's share mode. With
    windows: windows.walkers_per_window walkers per window, their deposits summed into the
    window's map, exchanges every windows.exchange_every epochs, maps stitched at the end.
    `epochs` is per walker; the cost is epochs x all walkers.
    """
    if windows is None:
        state = init_walkers(system, list(range(walkers)), seed, sampler, device)
        one = EntropyGrid(grid, walkers, device)
        run_epochs(system, one, state, sampler, epochs)
        learned = one.learned()
        entropy = (learned[0] if sampler.share in ("sum", "every_step") else learned.mean(0)).cpu().numpy()
        histogram = one.histogram.sum(0).cpu().numpy()
        entropy = np.where((histogram > 0) | (entropy > 1e-4), entropy, np.nan)
        return SampleResult(entropy, histogram, [0.0], {}, [(0, grid.shape[0])])
    return _sample_windows(system, grid, dataclasses.replace(sampler, share="sum"), epochs, windows, seed, device)


class WindowedSampler:
    """The windows' grids and walkers; advance(epochs) runs them with exchanges, result() stitches."""

    def __init__(self, system, grid: GridSpec, sampler: SamplerSettings, windows: WindowSettings, seed=0, device="cpu"):
        if grid.ndim != 1:
            raise ValueError("windows cut a 1-D grid in x (2-D windows are not built yet)")
        self.system, self.grid, self.windows = system, grid, windows
        self.sampler = dataclasses.replace(sampler, share="sum")
        self.ranges = window_ranges(grid, windows)
        self.grids, self.states = [], []
        for w, (first, last) in enumerate(self.ranges):
            ids = list(range(w * windows.walkers_per_window, (w + 1) * windows.walkers_per_window))
            state = init_walkers(system, ids, seed, self.sampler, device)
            centre = grid.lows[0] + 0.5 * (first + last) * grid.bin_width
            steer_into(system, state, centre, 0.25 * (last - first) * grid.bin_width)
            self.grids.append(EntropyGrid(window_grid(grid, first, last, windows.wall_bins), len(ids), device))
            self.states.append(state)
        self.exchanges = {f"{w}-{w + 1}": {"attempts": 0, "accepted": 0} for w in range(len(self.ranges) - 1)}
        self._random = np.random.default_rng(seed)
        self.epochs = 0

    @property
    def n_walkers(self) -> int:
        return sum(state.n_walkers for state in self.states)

    def advance(self, epochs: int) -> None:
        """`epochs` more epochs for every walker, exchanges every windows.exchange_every."""
        target = self.epochs + epochs
        while self.epochs < target:
            chunk = min(self.windows.exchange_every - self.epochs % self.windows.exchange_every, target - self.epochs)
            for grid, state in zip(self.grids, self.states):
                run_epochs(self.system, grid, state, self.sampler, chunk, map_walkers=state.n_walkers)
            self.epochs += chunk
            if self.epochs % self.windows.exchange_every == 0:
                for w, key in enumerate(self.exchanges):
                    pair = (self.grids[w], self.grids[w + 1], self.states[w], self.states[w + 1])
                    _exchange(self.system, *pair, self.exchanges[key], self._random)

    def result(self) -> SampleResult:
        windows = self.windows
        trim = windows.trim_bins if windows.trim_bins is not None else int(round(1.5 * self.grid.gaussian_sigma_bins))
        return _stitch(self.grid, self.ranges, self.grids, windows.wall_bins, trim, self.exchanges)


def _sample_windows(system, grid, sampler, epochs, windows, seed, device) -> SampleResult:
    windowed = WindowedSampler(system, grid, sampler, windows, seed, device)
    windowed.advance(epochs)
    return windowed.result()


def _current_x(system, state: WalkerState) -> torch.Tensor:
    with torch.no_grad():
        x, _ = system.observables(state.layout.views(state.params))
    return x.double()


def _entropy_at(grid: EntropyGrid, x: torch.Tensor) -> float:
    """The window's map S_est (bias included) at x, a (1,) tensor (1-D grids)."""
    return float(grid.entropy[0][grid.bin_index(x[:, None])[0, 0]])


def _in_both_windows(grid_a: EntropyGrid, grid_b: EntropyGrid, x: torch.Tensor) -> list[int]:
    """Walkers whose x lies inside both windows proper (between the walls of each): the overlap."""
    lo = max(grid_a.spec.bias_low, grid_b.spec.bias_low)
    hi = min(grid_a.spec.bias_start, grid_b.spec.bias_start)
    return [k for k, value in enumerate(x.tolist()) if lo <= value <= hi]


def _exchange(system, grid_a, grid_b, state_a, state_b, stats: dict, generator) -> None:
    """One round: walkers of a and b inside both windows are paired at random and try to swap."""
    x_a, x_b = _current_x(system, state_a), _current_x(system, state_b)
    inside_a = _in_both_windows(grid_a, grid_b, x_a)
    inside_b = _in_both_windows(grid_a, grid_b, x_b)
    generator.shuffle(inside_a)
    generator.shuffle(inside_b)
    for i, j in zip(inside_a, inside_b):
        xi, xj = x_a[i : i + 1], x_b[j : j + 1]
        s_a_i, s_a_j = _entropy_at(grid_a, xi), _entropy_at(grid_a, xj)
        s_b_j, s_b_i = _entropy_at(grid_b, xj), _entropy_at(grid_b, xi)
        stats["attempts"] += 1
        if generator.random() < exchange_acceptance(s_a_i, s_a_j, s_b_j, s_b_i):
            stats["accepted"] += 1
            for buffer in ("params", "velocity"):
                a, b = getattr(state_a, buffer), getattr(state_b, buffer)
                row = a[i].clone()
                a[i].copy_(b[j])
                b[j].copy_(row)


def stitch_maps(maps: list[np.ndarray], visits: list[np.ndarray]) -> tuple[np.ndarray, list[float]]:
    """Windows' maps on the full grid (NaN outside each window) -> one map and the offsets.

    Window w + 1 is shifted by the histogram-weighted mean of (S_w - S_w+1) over the bins both
    visited (weights min(h_w, h_w+1)); the shifted maps are then averaged with weights h_w.
    """
    offsets, shifted = [0.0], [maps[0]]
    for w in range(1, len(maps)):
        both = (visits[w - 1] > 0) & (visits[w] > 0)
        if not both.any():
            raise ValueError(f"windows {w - 1} and {w} share no visited bin: they cannot be stitched")
        weight = np.minimum(visits[w - 1], visits[w])[both]
        offset = float(np.sum(weight * (shifted[w - 1][both] - maps[w][both])) / np.sum(weight))
        offsets.append(offset)
        shifted.append(maps[w] + offset)
    weights = np.stack([np.where(v > 0, v, 0.0) for v in visits])
    values = np.stack([np.where(v > 0, s, 0.0) for s, v in zip(shifted, visits)])
    total = weights.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        stitched = np.where(total > 0, (weights * values).sum(0) / total, np.nan)
    return stitched, offsets


def _stitch(grid: GridSpec, ranges, grids: list[EntropyGrid], wall_bins: int, trim: int, exchanges) -> SampleResult:
    shape = grid.shape
    maps, visits = [], []
    for (first, last), window in zip(ranges, grids):
        inner = slice(wall_bins, wall_bins + (last - first))
        full_map = np.full(shape, np.nan)
        full_visits = np.zeros(shape)
        full_map[first:last] = window.learned()[0].cpu().numpy()[inner]
        full_visits[first:last] = window.histogram.sum(0).cpu().numpy()[inner]
        # trust a window only away from its inner walls (the grid's own ends have no neighbour)
        keep_from = first + (trim if first > 0 else 0)
        keep_to = last - (trim if last < shape[0] else 0)
        full_visits[first:keep_from] = 0.0
        full_visits[keep_to:last] = 0.0
        maps.append(full_map)
        visits.append(full_visits)
    entropy, offsets = stitch_maps(maps, visits)
    return SampleResult(entropy, np.sum(visits, axis=0), offsets, exchanges, ranges)
