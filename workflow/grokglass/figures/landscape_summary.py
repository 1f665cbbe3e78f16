"""Derived numbers of each landscape against its AdamW run (spec 5.12 (i)-(iii), 8 #6-7).

Definitions. x columns are the landscape's ln L_train bins; y*(x) is the
max-entropy curve (the centre of the highest-entropy visited bin of the column
with accuracy in [0, 1], as drawn in Figures 1-2); A(x) is the mean smoothed
test accuracy of the AdamW run over the logged steps whose ln L_train falls in
column x. Memorisation is the first logged step with train_acc >= 0.99; the
*region* is every column at or below the column holding ln L_train at that step.
If the run never memorises, the region is every column the trajectory visits.

One CSV row per landscape, columns:

- name: the label given for the landscape.
- landscape, metrics: the input paths.
- memorised: whether the AdamW run reached train_acc >= 0.99.
- mem_step, x_mem: the memorisation step and ln L_train there (NaN if never).
- n_columns: region columns where both y*(x) and A(x) exist (those (i)-(ii) use).
- region_x_lo, region_x_hi: the x range (bin edges) those columns span.
- advantage_mean, advantage_max: mean and max over those columns of the
  high-entropy advantage Δ(x) = y*(x) − A(x) (accuracy units).
- advantage_max_x: the column centre where Δ is largest.
- barrier_max_depth: entropy-barrier test. In each of those columns take S(y)
  over the bins from A(x)'s bin to y*(x)'s bin (inclusive, unvisited bins
  skipped; the endpoints are the first and last visited bins of that range);
  the depth is max(0, min(endpoint S) − min(interior S)), i.e. how far an
  interior minimum dips below the lower endpoint, 0 with no interior bins.
  Reported: the largest depth over the columns (entropy units, k_B = 1).
- barrier_x: the column centre of the deepest barrier (NaN when depth is 0).
- barrier_gap_columns: columns whose A-to-y* range contains unvisited bins
  (a gap may hide a barrier the landscape never sampled).
- continuity_max_jump: largest |y*(x_{i+1}) − y*(x_i)| over adjacent region
  columns that both have y* (accuracy units); a first-order transition shows
  as a jump.
- continuity_x: the bin edge between the two columns of the largest jump.
- continuity_pairs: number of adjacent column pairs compared.
- noise_mean_abs_dS: the last finite convergence/mean_abs_dS of the landscape
  (segment-to-segment noise scale to compare barrier depths with; NaN if absent).
- epochs_per_walker, walkers: from the landscape's attributes (NaN if absent).
- advantage_spread: the standard error of advantage_mean over the landscape's distinct
  walker maps (walker_entropy, on the landscape's visited bins): each map's own y*(x)
  gives its own mean advantage over the same columns; NaN with fewer than 2 distinct maps
  (walkers sharing one map: share sum, or one window).
- path_barrier_depth: the barrier test along the AdamW path: S at (x, A(x)) over the
  region columns in order of x, as barrier_depth does along one column (NaN: < 3 columns).
- advantage_verdict: "advantage" when advantage_mean > 2 advantage_spread (or > 0 when no
  spread is known: "advantage (no spread)"), "none" when not, "unknown" without columns.
- barrier_verdict: "none" when both barrier depths are within 2 noise levels
  (noise_mean_abs_dS), "barrier" when either is deeper, "unknown" without a noise level or
  columns. (A gap column may still hide a barrier: see barrier_gap_columns.)
- continuity_verdict: "continuous" when continuity_max_jump <= JUMP_LIMIT accuracy, "jump"
  when larger, "unknown" without pairs.
- maxent_shift_bins, relative_abs_dS: the last merge's convergence numbers (spec 5.11): the
  median over columns of how far y*(x) moved, in bins, and mean_abs_dS over the visited
  entropy range.
- x_target, target: how deep the map should reach (docs/validation.md §14): ln L_train at the run's
  first logged step with test_acc >= 0.9 (target "test 0.9"); for a run that memorises but
  never generalises, x_mem - 2 ("memorisation - 2"); NaN ("none") for a run that does
  neither.
- covered_x_lo, covered_x_hi: the bin edges of the lowest and highest visited columns.
- coverage_verdict: "covered" when covered_x_lo <= x_target, "short" when not, "unknown"
  without a target or a visited bin.
- converged: the spec 5.11 criterion on them, "yes" when the max-entropy curve moved by at
  most 1 bin (median) and relative_abs_dS < 1 %, "no" when not, "unknown" without a
  second merge to compare. A verdict on a landscape that is not converged is provisional.

For a landscape measured with restrained windows (method "restrained") the errors come from
the map itself: its `restrained/bootstrap` redraws of the windows' forces, each integrated
again, give each derived number a standard error (the spread over the draws):

- method: "wang_landau" or "restrained".
- advantage_se, barrier_se, continuity_se: the standard errors of advantage_mean,
  max(barrier_max_depth, path_barrier_depth) and continuity_max_jump over the draws;
  ystar_band_max: the widest band of y*(x) (its standard error per column) in the region.
  The verdicts then read: "advantage" when advantage_mean > 2 advantage_se; "barrier" when
  the deepest barrier > 2 barrier_se (and > 0); "jump" when continuity_max_jump exceeds both
  JUMP_LIMIT and 2 continuity_se.
- stderr_max, stderr_relative: the largest standard error of S on the map, and its share of
  the map's range; flagged_windows: windows that failed a test (time halves, weight norm,
  kinetic energy). converged: "yes" when stderr_relative <= STDERR_LIMIT and no window is
  flagged (this replaces the Wang-Landau criterion above for these maps).

Long because the three claims, their criteria, their errors and the coverage test are one
table whose columns are defined above, next to the code that fills them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from grokglass.figures.common import (
    Landscape,
    PathLike,
    bin_index,
    bootstrap_maps,
    check_lengths,
    column_means,
    load_landscape,
    load_metrics,
    write_csv,
)
from grokglass.io import open_input_h5
from grokglass.wlmd.landscape import ACCURACY_WINDOW, convergence_verdict, max_entropy_curve, restrained_convergence

MEMORISATION_ACC = 0.99
TARGET_TEST_ACC = 0.9  # a map reaches down to where its run generalises ...
TARGET_BELOW_MEMORISATION = 2.0  # ... or, if it never does, this far below memorisation
SUMMARY_COLUMNS = (
    "name",
    "landscape",
    "metrics",
    "memorised",
    "mem_step",
    "x_mem",
    "n_columns",
    "region_x_lo",
    "region_x_hi",
    "advantage_mean",
    "advantage_max",
    "advantage_max_x",
    "barrier_max_depth",
    "barrier_x",
    "barrier_gap_columns",
    "continuity_max_jump",
    "continuity_x",
    "continuity_pairs",
    "noise_mean_abs_dS",
    "epochs_per_walker",
    "walkers",
    "advantage_spread",
    "path_barrier_depth",
    "advantage_verdict",
    "barrier_verdict",
    "continuity_verdict",
    "maxent_shift_bins",
    "relative_abs_dS",
    "converged",
    "x_target",
    "target",
    "covered_x_lo",
    "covered_x_hi",
    "coverage_verdict",
    "method",
    "advantage_se",
    "barrier_se",
    "continuity_se",
    "ystar_band_max",
    "stderr_max",
    "stderr_relative",
    "flagged_windows",
)
NOISE_LEVELS = 2.0  # a barrier or an advantage counts when it exceeds this many noise levels
JUMP_LIMIT = 0.25  # accuracy: a larger step of y*(x) between neighbouring columns is a jump


def memorisation(metrics: pd.DataFrame, threshold: float = MEMORISATION_ACC) -> tuple[float, float]:
    """(step, ln L_train) of the first logged step with train_acc >= threshold; NaNs if never."""
    hit = np.flatnonzero(metrics["train_acc"].to_numpy(float) >= threshold)
    if not len(hit):
        return float("nan"), float("nan")
    row = metrics.iloc[hit[0]]
    return float(row["step"]), float(row["ln_train_loss"])


def coverage(landscape: Landscape, metrics: pd.DataFrame, x_mem: float) -> dict:
    """The depth target of the map and how far its visited columns reach (module docstring)."""
    hit = np.flatnonzero(metrics["test_acc"].to_numpy(float) >= TARGET_TEST_ACC)
    if len(hit):
        x_target, target = float(metrics["ln_train_loss"].iloc[hit[0]]), f"test {TARGET_TEST_ACC:g}"
    elif np.isfinite(x_mem):
        x_target, target = x_mem - TARGET_BELOW_MEMORISATION, f"memorisation - {TARGET_BELOW_MEMORISATION:g}"
    else:
        x_target, target = float("nan"), "none"
    columns = np.flatnonzero(landscape.visited.any(axis=1))
    lo = float(landscape.x_edges[columns[0]]) if len(columns) else float("nan")
    hi = float(landscape.x_edges[columns[-1] + 1]) if len(columns) else float("nan")
    verdict = (
        "unknown" if not (np.isfinite(x_target) and np.isfinite(lo)) else ("covered" if lo <= x_target else "short")
    )
    return {"x_target": x_target, "target": target, "covered_x_lo": lo, "covered_x_hi": hi, "coverage_verdict": verdict}


def barrier_depth(column: np.ndarray, j_a: int, j_b: int) -> tuple[float, bool]:
    """Depth of the deepest interior minimum of S between bins j_a and j_b, and whether
    the range has unvisited (NaN) bins. The reference is the lower visited endpoint."""
    lo, hi = sorted((int(j_a), int(j_b)))
    segment = column[lo : hi + 1]
    finite = np.isfinite(segment)
    has_gap = bool((~finite).any())
    values = segment[finite]
    if len(values) < 3:
        return 0.0, has_gap
    reference = min(values[0], values[-1])
    return float(max(0.0, reference - values[1:-1].min())), has_gap


def advantage_spread(walker_maps, entropy: np.ndarray, y_centres, columns, adamw) -> float:
    """Standard error of the mean advantage over the distinct walker maps (module docstring)."""
    if walker_maps is None or not len(columns):
        return float("nan")
    visited = np.isfinite(entropy)
    distinct = [
        m for k, m in enumerate(walker_maps) if not any(np.array_equal(m, o, equal_nan=True) for o in walker_maps[:k])
    ]
    means = []
    for walker_map in distinct:
        ystar = max_entropy_curve(np.where(visited, walker_map, np.nan), y_centres, ACCURACY_WINDOW)
        delta = ystar[columns] - adamw[columns]
        if np.isfinite(delta).any():
            means.append(float(np.nanmean(delta)))
    if len(means) < 2:
        return float("nan")
    return float(np.std(means, ddof=1) / np.sqrt(len(means)))


def path_barrier_depth(entropy: np.ndarray, y_edges, columns, adamw) -> float:
    """barrier_depth along S(x, A(x)) over the region columns (module docstring)."""
    if len(columns) < 3:
        return float("nan")
    n_y = entropy.shape[1]
    bins = np.clip(np.searchsorted(y_edges, adamw[columns], side="right") - 1, 0, n_y - 1)
    depth, _ = barrier_depth(entropy[columns, bins], 0, len(columns) - 1)
    return depth


def verdicts(row: dict) -> dict:
    """The three claims' verdicts from a summary row (module docstring)."""
    noise, spread = row["noise_mean_abs_dS"], row["advantage_spread"]
    if row["n_columns"] == 0:
        advantage = barrier = "unknown"
    else:
        if row.get("method") == "restrained":
            advantage = "advantage" if row["advantage_mean"] > NOISE_LEVELS * row["advantage_se"] else "none"
        elif np.isfinite(spread):
            advantage = "advantage" if row["advantage_mean"] > NOISE_LEVELS * spread else "none"
        else:
            advantage = "advantage (no spread)" if row["advantage_mean"] > 0 else "none"
        depths = [d for d in (row["barrier_max_depth"], row["path_barrier_depth"]) if np.isfinite(d)]
        if row.get("method") == "restrained" and depths:
            deepest = max(depths)
            barrier = "barrier" if deepest > 0 and deepest > NOISE_LEVELS * row["barrier_se"] else "none"
        elif not np.isfinite(noise) or not depths:
            barrier = "unknown"
        else:
            barrier = "barrier" if max(depths) > NOISE_LEVELS * noise else "none"
    if row["continuity_pairs"] == 0:
        continuity = "unknown"
    else:
        jump = row["continuity_max_jump"] > JUMP_LIMIT
        if row.get("method") == "restrained":
            jump = jump and row["continuity_max_jump"] > NOISE_LEVELS * row["continuity_se"]
        continuity = "jump" if jump else "continuous"
    return {"advantage_verdict": advantage, "barrier_verdict": barrier, "continuity_verdict": continuity}


def summarise(
    landscape: Landscape, metrics: pd.DataFrame, threshold: float = MEMORISATION_ACC, walker_maps=None, draws=None
) -> dict:
    """The derived quantities (see the module docstring) of one landscape and AdamW run;
    walker_maps: its (K, n_x, n_y) walker_entropy, for advantage_spread (None: NaN); draws:
    a restrained map's bootstrap maps (B, n_x, n_y) (bootstrap_maps; None: not restrained)."""
    xe, ye, entropy = landscape.x_edges, landscape.y_edges, landscape.entropy
    xc, yc = landscape.x_centres, landscape.y_centres
    n_x = len(xc)
    ystar = max_entropy_curve(entropy, yc, ACCURACY_WINDOW)
    jstar = bin_index(ystar, ye)
    ln_loss = metrics["ln_train_loss"].to_numpy(float)
    adamw, counts = column_means(ln_loss, metrics["test_acc_smooth"].to_numpy(float), xe)

    mem_step, x_mem = memorisation(metrics, threshold)
    columns = np.arange(n_x)
    if np.isfinite(x_mem):
        if x_mem >= xe[-1]:
            region = np.ones(n_x, dtype=bool)
        elif x_mem < xe[0]:
            region = np.zeros(n_x, dtype=bool)
        else:
            region = columns <= bin_index([x_mem], xe)[0]
    else:
        region = counts > 0

    out = {"memorised": bool(np.isfinite(x_mem)), "mem_step": mem_step, "x_mem": x_mem}
    nan = float("nan")

    # (i) high-entropy advantage
    both = region & np.isfinite(ystar) & (counts > 0)
    idx = np.flatnonzero(both)
    out["n_columns"] = int(len(idx))
    if len(idx):
        delta = ystar[idx] - adamw[idx]
        best = int(np.argmax(delta))
        out.update(
            region_x_lo=float(xe[idx[0]]),
            region_x_hi=float(xe[idx[-1] + 1]),
            advantage_mean=float(delta.mean()),
            advantage_max=float(delta[best]),
            advantage_max_x=float(xc[idx[best]]),
        )
    else:
        out.update(region_x_lo=nan, region_x_hi=nan, advantage_mean=nan, advantage_max=nan, advantage_max_x=nan)

    # (ii) barrier between the AdamW accuracy and y* in each column
    depth_max, depth_x, gaps = (0.0 if len(idx) else nan), nan, 0
    n_y = len(yc)
    for i in idx:
        j_a = int(np.clip(np.searchsorted(ye, adamw[i], side="right") - 1, 0, n_y - 1))
        depth, has_gap = barrier_depth(entropy[i], j_a, int(jstar[i]))
        gaps += has_gap
        if depth > depth_max:
            depth_max, depth_x = depth, float(xc[i])
    out.update(barrier_max_depth=depth_max, barrier_x=depth_x, barrier_gap_columns=int(gaps))

    # (iii) continuity of y* over the low-loss region
    defined = region & np.isfinite(ystar)
    pairs = np.flatnonzero(defined[:-1] & defined[1:])
    if len(pairs):
        jumps = np.abs(ystar[pairs + 1] - ystar[pairs])
        k = int(np.argmax(jumps))
        out.update(
            continuity_max_jump=float(jumps[k]), continuity_x=float(xe[pairs[k] + 1]), continuity_pairs=int(len(pairs))
        )
    else:
        out.update(continuity_max_jump=nan, continuity_x=nan, continuity_pairs=0)

    noise = np.asarray(landscape.convergence.get("mean_abs_dS", []), dtype=np.float64).ravel()
    noise = noise[np.isfinite(noise)]
    out["noise_mean_abs_dS"] = float(noise[-1]) if len(noise) else nan
    out.update(convergence_verdict(landscape.convergence))
    out.update(coverage(landscape, metrics, x_mem))
    out["advantage_spread"] = advantage_spread(walker_maps, entropy, yc, idx, adamw)
    out["path_barrier_depth"] = path_barrier_depth(entropy, ye, idx, adamw)
    out.update(restrained_errors(landscape, idx, region, adamw, draws))
    out.update(verdicts(out))
    if out["method"] == "restrained":
        out["converged"] = restrained_convergence(out)
    for key in ("epochs_per_walker", "walkers"):
        value = landscape.attrs.get(key, nan)
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            out[key] = nan
    return out


def restrained_errors(landscape: Landscape, idx, region, adamw, draws) -> dict:
    """The standard errors of the claims' numbers over a restrained map's bootstrap draws, and
    the map's own error figures (module docstring); NaN for a Wang-Landau map."""
    nan = float("nan")
    out = dict.fromkeys(("advantage_se", "barrier_se", "continuity_se", "ystar_band_max"), nan)
    out.update(stderr_max=nan, stderr_relative=nan, flagged_windows=nan, method="wang_landau")
    if draws is None:
        return out
    out["method"] = "restrained"
    stderr = landscape.stderr
    if stderr is not None and np.isfinite(stderr).any():
        span = float(np.nanmax(landscape.entropy) - np.nanmin(landscape.entropy))
        out["stderr_max"] = float(np.nanmax(stderr))
        out["stderr_relative"] = out["stderr_max"] / span if span > 0 else nan
    out["flagged_windows"] = float(len(landscape.attrs.get("restrained_flagged", [])))
    if not len(draws):
        return out
    yc, ye = landscape.y_centres, landscape.y_edges
    advantages, barriers, jumps = [], [], []
    curves = np.array([max_entropy_curve(d, yc, ACCURACY_WINDOW) for d in draws])  # y* of every draw, once
    defined = np.asarray(region) & np.all(np.isfinite(curves), 0)
    pairs = np.flatnonzero(defined[:-1] & defined[1:])
    for draw, ystar in zip(draws, curves):
        if len(idx):
            advantages.append(float(np.mean(ystar[idx] - adamw[idx])))
            jstar = bin_index(ystar, ye)
            n_y = len(yc)
            depths = [
                barrier_depth(
                    draw[i], int(np.clip(np.searchsorted(ye, adamw[i], side="right") - 1, 0, n_y - 1)), int(jstar[i])
                )[0]
                for i in idx
            ]
            path = path_barrier_depth(draw, ye, idx, adamw)
            barriers.append(max([max(depths)] + ([path] if np.isfinite(path) else [])))
        if len(pairs):
            jumps.append(float(np.max(np.abs(ystar[pairs + 1] - ystar[pairs]))))
    spread = lambda values: float(np.std(values, ddof=1)) if len(values) > 1 else nan  # noqa: E731
    band = np.nanstd(curves, axis=0, ddof=1)[np.asarray(region)]
    out.update(
        advantage_se=spread(advantages),
        barrier_se=spread(barriers),
        continuity_se=spread(jumps),
        ystar_band_max=float(np.nanmax(band)) if np.isfinite(band).any() else nan,
    )
    return out


def landscape_summary(
    landscape_paths: Sequence[PathLike], metrics_paths: Sequence[PathLike], names: Sequence[str], out_csv: PathLike
) -> pd.DataFrame:
    """Write one row of derived quantities per landscape to `out_csv`; return the table."""
    check_lengths(landscape_paths=landscape_paths, metrics_paths=metrics_paths, names=names)
    rows = []
    for lpath, mpath, name in zip(landscape_paths, metrics_paths, names):
        metrics = load_metrics(mpath, ("step", "ln_train_loss", "test_acc", "test_acc_smooth", "train_acc"))
        row = {"name": name, "landscape": str(lpath), "metrics": str(mpath)}
        landscape = load_landscape(lpath)
        row.update(summarise(landscape, metrics, walker_maps=_walker_maps(lpath), draws=bootstrap_maps(landscape)))
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    write_csv(table, out_csv)
    return table


def _walker_maps(path: PathLike) -> np.ndarray | None:
    with open_input_h5(path, "landscape") as h5:
        return h5["walker_entropy"][()] if "walker_entropy" in h5 else None
