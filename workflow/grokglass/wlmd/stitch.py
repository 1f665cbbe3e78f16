"""Stitching windows' maps into one landscape (numpy only: the merge jobs run without torch).

Each window learns S up to its own constant. Neighbours are shifted onto each other by the
histogram-weighted mean difference over the bins both visited, trusting no bin next to an inner
wall (there the deposits' Gaussians run into the wall); see wlmd.windows for the sampling.
"""

from __future__ import annotations

import math

import numpy as np


def stitch_maps(maps: list[np.ndarray], visits: list[np.ndarray], warn=None) -> tuple[np.ndarray, list[float]]:
    """Windows' maps on the full grid (NaN outside each window) -> one map and the offsets.

    Window w + 1 is shifted by the histogram-weighted mean of (S_w - S_w+1) over the bins both
    visited (weights min(h_w, h_w+1)); the shifted maps are then averaged with weights h_w.
    Two neighbours that share no visited bin cannot be stitched: a ValueError, or with `warn`
    (a callable) a warning through it, and the map keeps only the windows stitched to the top
    one (the landscape's own high end, where walkers go first); the others' offsets are NaN.
    """
    offsets, shifted, joined = [0.0], [maps[0]], [True]  # joined[w]: stitched to window w - 1
    for w in range(1, len(maps)):
        both = (visits[w - 1] > 0) & (visits[w] > 0)
        if not both.any():
            message = f"windows {w - 1} and {w} share no visited bin: they cannot be stitched"
            if warn is None:
                raise ValueError(message)
            warn(f"{message} yet, so the landscape leaves out windows 0..{w - 1} (more epochs or a wider overlap)")
            offsets.append(0.0)
            shifted.append(maps[w])
            joined.append(False)
            continue
        weight = np.minimum(visits[w - 1], visits[w])[both]
        offset = float(np.sum(weight * (shifted[w - 1][both] - maps[w][both])) / np.sum(weight))
        offsets.append(offset)
        shifted.append(maps[w] + offset)
        joined.append(True)
    # a break restarts the offsets at 0, so the kept chain's offsets are relative to its first window
    first_kept = max(w for w in range(len(maps)) if w == 0 or not joined[w])
    offsets = [o if w >= first_kept else math.nan for w, o in enumerate(offsets)]
    kept = range(first_kept, len(maps))
    weights = np.stack([np.where(visits[w] > 0, visits[w], 0.0) for w in kept])
    values = np.stack([np.where(visits[w] > 0, shifted[w], 0.0) for w in kept])
    total = weights.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        stitched = np.where(total > 0, (weights * values).sum(0) / total, np.nan)
    return stitched, offsets


def embed_windows(
    shape: tuple[int, ...], ranges, window_maps, window_visits, wall_bins: int, trim: int
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Each window's map and visits (arrays on its own grid, walls included) placed on the full
    grid: (maps, NaN outside the window; visits; visits trusted for stitching, i.e. without the
    `trim` bins next to an inner wall, where the deposits' Gaussians run into the wall)."""
    maps, visits, trusted = [], [], []
    for (first, last), window_map, window_visit in zip(ranges, window_maps, window_visits):
        inner = slice(wall_bins, wall_bins + (last - first))
        full_map, full_visits = np.full(shape, np.nan), np.zeros(shape)
        full_map[first:last] = np.asarray(window_map)[inner]
        full_visits[first:last] = np.asarray(window_visit)[inner]
        kept = full_visits.copy()
        kept[first : first + (trim if first > 0 else 0)] = 0.0  # the grid's own ends have no neighbour
        kept[last - (trim if last < shape[0] else 0) : last] = 0.0
        maps.append(full_map)
        visits.append(full_visits)
        trusted.append(kept)
    return maps, visits, trusted
