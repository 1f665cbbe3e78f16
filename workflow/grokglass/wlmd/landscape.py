"""The numbers read off an entropy map, defined once for the merge that stores them and the
figures and summary that show them: which bins are visited, the map shifted to minimum 0, the
max-entropy curve y*(x), the segment-to-segment figures of merit, and the convergence verdicts
(spec 5.11, 5.12; docs/method.md).

All maps are indexed entropy[i_x, j_y] (axis 0: x = ln L_train, axis 1: y), NaN where not
visited. numpy only: the merge of a Wang-Landau landscape stays free of torch.
"""

from __future__ import annotations

import numpy as np

VISITED_ENTROPY = 1e-4  # a bin counts as visited if its learned entropy exceeds this [R-plot]
ACCURACY_WINDOW = (0.0, 1.0)  # y* is taken among bins whose accuracy lies in the accuracy's range
# When a map counts as converged (docs/method.md):
MAXENT_SHIFT_LIMIT = 1.0  # spec 5.11: y*(x) may move by this many bins (median over columns) ...
RELATIVE_DS_LIMIT = 0.01  # ... and mean |dS| may reach this share of the visited S range
STDERR_LIMIT = 0.01  # restrained maps: the largest standard error may reach this share of S's range


def visited_mask(entropy: np.ndarray, histogram: np.ndarray | None = None) -> np.ndarray:
    """Bins the sampler has reached: histogram > 0 or learned entropy > VISITED_ENTROPY."""
    visited = np.asarray(entropy) > VISITED_ENTROPY
    if histogram is not None:
        visited |= np.asarray(histogram) > 0
    return visited


def shifted_entropy(entropy: np.ndarray, visited: np.ndarray) -> np.ndarray:
    """entropy - min over visited bins, NaN elsewhere (the paper's display convention)."""
    out = np.full(entropy.shape, np.nan)
    if visited.any():
        out[visited] = entropy[visited] - entropy[visited].min()
    return out


def max_entropy_index(entropy: np.ndarray) -> np.ndarray:
    """Per x column (axis 0), the y index of the largest finite entropy (ties: the lowest y);
    NaN where none is finite."""
    entropy = np.asarray(entropy, dtype=np.float64)
    finite = np.isfinite(entropy)
    index = np.where(finite, entropy, -np.inf).argmax(axis=1).astype(np.float64)
    index[~finite.any(axis=1)] = np.nan
    return index


def max_entropy_curve(
    entropy: np.ndarray, y_centres: np.ndarray, y_window: tuple[float, float] | None = None
) -> np.ndarray:
    """The equilibrium curve y*(x) = argmax_y S(x, y): the y of the highest-entropy visited bin
    of each x column (NaN if none). With `y_window`, only bins whose centre lies inside
    [lo, hi] count. Ties go to the lowest y."""
    entropy = np.asarray(entropy, dtype=np.float64)
    y_centres = np.asarray(y_centres, dtype=np.float64)
    if y_window is not None:
        inside = (y_centres >= y_window[0]) & (y_centres <= y_window[1])
        entropy = np.where(inside[None, :], entropy, np.nan)
    index = max_entropy_index(entropy)
    curve = np.full(index.shape, np.nan)
    defined = np.isfinite(index)
    curve[defined] = y_centres[index[defined].astype(np.int64)]
    return curve


def convergence_row(
    mean_entropy: np.ndarray,
    visited: np.ndarray,
    histogram: np.ndarray,
    previous_entropy: np.ndarray | None,
    previous_visited: np.ndarray | None,
) -> dict:
    """Figures of merit of this segment's landscape against the previous segment's (spec 5.11).

    mean_abs_dS: mean |S_new - S_old| over bins visited in both, each map shifted by
        its minimum over those bins; maxent_shift_bins: median over columns of
        |y*_new - y*_old| in bins; flatness: min/mean of this segment's histogram over
        the bins it visited; visited_entropy_range: max - min of S over visited bins
        (the 1 % convergence criterion compares mean_abs_dS to it).
    """
    row = {"mean_abs_dS": np.nan, "maxent_shift_bins": np.nan}
    visited_this_segment = histogram > 0
    row["flatness"] = (
        float(histogram[visited_this_segment].min() / histogram[visited_this_segment].mean())
        if visited_this_segment.any()
        else np.nan
    )
    row["visited_entropy_range"] = float(np.ptp(mean_entropy[visited])) if visited.any() else np.nan
    if previous_entropy is None:
        return row
    common = visited & previous_visited
    if common.any():
        new = mean_entropy[common] - mean_entropy[common].min()
        old = previous_entropy[common] - previous_entropy[common].min()
        row["mean_abs_dS"] = float(np.abs(new - old).mean())
    shift = np.abs(
        max_entropy_index(shifted_entropy(mean_entropy, visited))
        - max_entropy_index(shifted_entropy(previous_entropy, previous_visited))
    )
    if np.isfinite(shift).any():
        row["maxent_shift_bins"] = float(np.nanmedian(shift))
    return row


def convergence_verdict(convergence: dict) -> dict:
    """The spec 5.11 test on a Wang-Landau map's last convergence row: y* moved by at most
    MAXENT_SHIFT_LIMIT bins and mean |dS| below RELATIVE_DS_LIMIT of the visited range."""

    def last(key: str) -> float:
        values = np.asarray(convergence.get(key, []), dtype=np.float64).ravel()
        return float(values[-1]) if len(values) else float("nan")

    shift, dS, span = last("maxent_shift_bins"), last("mean_abs_dS"), last("visited_entropy_range")
    relative = dS / span if np.isfinite(dS) and np.isfinite(span) and span > 0 else float("nan")
    if not (np.isfinite(shift) and np.isfinite(relative)):
        verdict = "unknown"
    else:
        verdict = "yes" if shift <= MAXENT_SHIFT_LIMIT and relative < RELATIVE_DS_LIMIT else "no"
    return {"maxent_shift_bins": shift, "relative_abs_dS": relative, "converged": verdict}


def restrained_convergence(row: dict) -> str:
    """A restrained map's criterion, "yes", "no" or "unknown": its largest standard error at most
    STDERR_LIMIT of its range, and no window flagged by a test (row: the summary's columns)."""
    if not np.isfinite(row["stderr_relative"]):
        return "unknown"
    return "yes" if row["stderr_relative"] <= STDERR_LIMIT and row["flagged_windows"] == 0 else "no"
