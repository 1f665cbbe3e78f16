"""Merge one WLMD segment: average the walkers' learned entropies into the shared landscape.

Between segments the shared landscape becomes the element-wise MEAN of every
walker's learned entropy S_k - S_bias over all groups (spec 5.10, the paper's
"average entropy of all processes"). With share "sum" (multiple walkers on one map)
it instead adds every group's increment since the previous merge (merged_entropy). The merge also sums this segment's visit
histograms, keeps a cumulative histogram and appends convergence figures of
merit (spec 5.11). After the last segment it also writes the final landscape.

All 2-D arrays are indexed entropy[i_x, j_y]: axis 0 is x = ln L_train, axis 1
is y (grid units, y_scale * A_test, in merged.h5; accuracy in landscape.h5).

merged.h5 (one per segment):
    mean_entropy          (n_x, n_y) float64  S_bar, bias removed (the next segment's start)
    histogram             (n_x, n_y)          this segment's visits, summed over walkers
    cumulative_histogram  (n_x, n_y)          all segments so far
    walker_entropy        (K, n_x, n_y)       each walker's learned entropy (sorted by walker id)
    walker_ids            (K,)
    x_edges (n_x+1,), y_edges (n_y+1,)        grid units
    convergence/          1-D datasets, one row per segment so far: segment,
                          epochs_per_walker, mean_abs_dS, maxent_shift_bins, flatness,
                          visited_entropy_range, kinetic_per_param (mean over walkers of
                          K/N at the segment's end; kT/2 at equilibrium), kinetic_per_param_max
    attrs: segment, epochs_per_walker, walkers, grid (json), sampler (json), spec (json),
           provenance
    windows/              only for a landscape with windows (stitch_windows): entropy_<w>
                          (the learned map of window w on its own grid, walls included),
                          histogram_<w> (its cumulative visits); attrs offsets (one per window,
                          0 for the lowest stitched one, NaN for windows left out), x_bins
                          ([first, last) per window), trim_bins, exchange_attempts and
                          exchange_accepted (cumulative, one per neighbouring pair). Then
                          mean_entropy is the stitched map and the histograms are the stitched
                          windows' visits away from their inner walls.

landscape.h5 (written from the last merged.h5, by merge_segment(out_landscape=...) or by
`python -m grokglass wlmd-landscape`, i.e. write_landscape / landscape_command):
    entropy         (n_x, n_y) float64  S_bar - min over visited bins (so the minimum is 0),
                                        NaN where unvisited (visited: cumulative histogram > 0
                                        or S_bar > 1e-4)
    histogram       (n_x, n_y)          cumulative visits
    walker_entropy  (K, n_x, n_y)       raw learned entropies per walker
    max_entropy_y   (n_x,)              y*(x) in accuracy units, among bins with accuracy in [0, 1]
                                        (the figures' y*; NaN for unvisited columns)
    x_edges (ln L units), y_edges (accuracy units = grid y / y_scale)
    convergence/    as in merged.h5
    windows/        as in merged.h5 (landscapes with windows)
    attrs: epochs_per_walker, walkers, segments, seed, y_scale, sampler (json), grid (json),
           spec (json), provenance (package/torch versions, sampling device)

Long because one merge job writes one file layout (above) for both methods and for windows;
the restrained windows' measuring is in grokglass.jobs.restrained, the map's numbers in
grokglass.wlmd.landscape.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from grokglass.errors import InputError, one_line
from grokglass.io import atomic_path, open_input_h5, provenance, read_attr_json, set_attrs
from grokglass.jobs.args import add_spec_arguments, load_spec
from grokglass.pipeline.specs import LandscapeSpec
from grokglass.wlmd.landscape import ACCURACY_WINDOW, convergence_row, max_entropy_curve, shifted_entropy, visited_mask
from grokglass.wlmd.settings import CONVERGENCE_COLUMNS, window_trim_bins
from grokglass.wlmd.stitch import embed_windows, stitch_maps


class MergeError(InputError):
    """Inputs that do not belong to the same landscape segment."""


# ----- the map's extent ------------------------------------------------------------------------
def covered_mask(spec: LandscapeSpec, entropy: np.ndarray, histogram: np.ndarray | None) -> np.ndarray:
    """The bins a landscape's map covers: visited_mask for Wang-Landau; for restrained windows,
    where the integrated map is defined (the windows' hull)."""
    if spec.restrained is not None:
        return np.isfinite(entropy)
    return visited_mask(entropy, histogram)


# ----- reading and checking inputs ---------------------------------------------------------------
@contextlib.contextmanager
def _open_checked(path, what: str, spec: LandscapeSpec) -> Iterator[h5py.File]:
    """An input file opened after checking that it belongs to this landscape (its spec's
    identity: data, model, grid, sampler, seed, ...); a missing dataset names the file."""
    with open_input_h5(path, what) as h5:
        try:
            spec.check_input(path, what, read_attr_json(h5, "spec", path, what))
        except InputError as err:
            raise MergeError(str(err)) from None
        try:
            yield h5
        except KeyError as err:
            raise MergeError(f"{path}: the {what} lacks {one_line(err)}") from None


def _read_group_file(path, spec: LandscapeSpec, segment: int) -> dict:
    with _open_checked(path, "group entropy file", spec) as h5:
        file_segment = int(h5.attrs["segment"])
        if file_segment != segment:
            raise MergeError(f"{path}: entropy file is of segment {file_segment}, merging segment {segment}")
        return {
            "path": str(path),
            "walker_ids": h5["walker_ids"][()].astype(np.int64),
            "learned_entropy": h5["learned_entropy"][()],
            "histogram": h5["histogram"][()],
            # absent in group files written before the divergence guard: unknown, not an error
            "kinetic": h5["final_kinetic_per_param"][()] if "final_kinetic_per_param" in h5 else np.array([np.nan]),
            "device": h5.attrs.get("device", "unknown"),
            "exchange": {key: int(h5.attrs.get(f"exchange_{key}", 0)) for key in ("partner", "attempts", "accepted")},
        }


def _check_walker_sets(groups: list[dict], walkers: int) -> None:
    owner: dict[int, str] = {}
    for group in groups:
        for walker in group["walker_ids"].tolist():
            if walker in owner:
                raise MergeError(f"{group['path']}: walker {walker} also appears in {owner[walker]}")
            owner[walker] = group["path"]
    missing = sorted(set(range(walkers)) - set(owner))
    extra = sorted(set(owner) - set(range(walkers)))
    if missing or extra:
        raise MergeError(
            f"walker sets disagree with the spec's {walkers} walkers: missing {missing}, "
            f"unexpected {extra} (inputs: {[g['path'] for g in groups]})"
        )


def _read_previous(path, spec: LandscapeSpec, segment: int) -> dict:
    with _open_checked(path, "previous merged landscape", spec) as h5:
        if int(h5.attrs["segment"]) != segment - 1:
            raise MergeError(
                f"{path}: previous merged file is of segment {int(h5.attrs['segment'])}, expected {segment - 1}"
            )
        previous = {
            "mean_entropy": h5["mean_entropy"][()],
            "cumulative_histogram": h5["cumulative_histogram"][()],
            "convergence": _read_convergence(h5),
        }
        if spec.windows is not None:
            windows = h5["windows"]
            previous["window_histograms"] = [windows[f"histogram_{w}"][()] for w in range(spec.windows.n)]
            previous["exchange_attempts"] = np.asarray(windows.attrs["exchange_attempts"], dtype=np.int64)
            previous["exchange_accepted"] = np.asarray(windows.attrs["exchange_accepted"], dtype=np.int64)
        return previous


# ----- the merge ----------------------------------------------------------------------------------
def merge_segment(
    spec: LandscapeSpec | dict,
    segment: int,
    entropy_paths: list,
    prev_merged=None,
    out_merged=None,
    out_landscape=None,
    log=print,
) -> dict:
    """Merge the groups' entropy files of `segment`; write merged.h5 (and landscape.h5).

    Returns the convergence row of this segment.
    """
    spec = LandscapeSpec.from_dict(spec)
    if out_merged is None:
        raise ValueError("out_merged is required")
    if segment > 0 and prev_merged is None:
        raise MergeError(f"segment {segment} needs the merged file of segment {segment - 1}")
    if segment == 0 and prev_merged is not None:
        raise MergeError("segment 0 has no previous merged file")
    if not entropy_paths:
        raise MergeError("no entropy files to merge")
    grid = spec.grid
    restrained = None
    if spec.restrained is not None:  # the windows' series, to be measured and integrated
        from grokglass.jobs import restrained as restrained_jobs  # torch: only restrained merges pay its import

        groups = restrained_jobs.read_groups(entropy_paths, spec, segment)
    else:
        groups = [_read_group_file(path, spec, segment) for path in entropy_paths]
        _check_walker_sets(groups, spec.walkers)

    walker_ids = np.concatenate([g["walker_ids"] for g in groups])
    order = np.argsort(walker_ids)
    previous = _read_previous(prev_merged, spec, segment) if prev_merged is not None else None
    windows = None
    if spec.restrained is not None:
        restrained, walker_entropy = restrained_jobs.measure(spec, groups)
        mean_entropy = restrained.entropy
        histogram = restrained_jobs.sample_histogram(spec, groups, last=spec.epochs_per_segment)
        cumulative = restrained_jobs.sample_histogram(spec, groups)
        walker_ids = np.arange(len(walker_entropy))
        order = walker_ids
    elif spec.windows is None:
        walker_entropy = np.concatenate([g["learned_entropy"] for g in groups])[order]
        histogram = np.sum([g["histogram"].sum(axis=0) for g in groups], axis=0)
        mean_entropy = merged_entropy(spec.sampler.share, groups, walker_entropy, previous)
        cumulative = histogram + (previous["cumulative_histogram"] if previous else 0.0)
    else:
        windows = stitch_windows(spec, groups, previous, log)
        mean_entropy, histogram, cumulative = windows["entropy"], windows["histogram"], windows["cumulative"]
        walker_entropy = windows["walker_entropy"]
    visited = covered_mask(spec, mean_entropy, cumulative)
    previous_visited = (
        covered_mask(spec, previous["mean_entropy"], previous["cumulative_histogram"]) if previous else None
    )
    epochs_per_walker = (segment + 1) * spec.epochs_per_segment
    row = convergence_row(
        mean_entropy, visited, histogram, previous["mean_entropy"] if previous else None, previous_visited
    )
    kinetic = np.concatenate([g["kinetic"] for g in groups])
    row.update(
        segment=segment,
        epochs_per_walker=epochs_per_walker,
        kinetic_per_param=float(np.mean(kinetic)),
        kinetic_per_param_max=float(np.max(kinetic)),
    )
    convergence = {
        name: np.append(previous["convergence"][name] if previous else np.array([]), row[name])
        for name in CONVERGENCE_COLUMNS
    }
    for name in ("segment", "epochs_per_walker"):
        convergence[name] = convergence[name].astype(np.int64)

    sampling_device = str(groups[0]["device"])
    attrs = {
        "segment": segment,
        "epochs_per_walker": epochs_per_walker,
        "walkers": spec.walkers,
        "grid": grid.to_dict(),
        "sampler": spec.sampler.to_dict(),
        "spec": spec.to_dict(),
    }
    attrs.update(
        provenance(
            sampling_device=sampling_device,
            inputs=[g["path"] for g in groups],
            prev_merged=str(prev_merged) if prev_merged else None,
        )
    )
    x_edges, y_edges = grid.edges(0).numpy(), grid.edges(1).numpy()

    with atomic_path(out_merged) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset("mean_entropy", data=mean_entropy)
        h5.create_dataset("histogram", data=histogram)
        h5.create_dataset("cumulative_histogram", data=cumulative)
        h5.create_dataset("walker_entropy", data=walker_entropy)
        h5.create_dataset("walker_ids", data=walker_ids[order])
        h5.create_dataset("x_edges", data=x_edges)
        h5.create_dataset("y_edges", data=y_edges)
        _write_convergence(h5, convergence)
        if windows is not None:
            _write_windows(h5, windows)
        if restrained is not None:
            h5.create_dataset("stderr", data=restrained.stderr)
            restrained_jobs.write_restrained(h5, restrained)
        set_attrs(h5, attrs)
    if restrained is not None:
        log(
            f"restrained merge {spec.name}: {len(restrained.points)} windows integrated, "
            f"{len(restrained.flagged)} flagged {restrained.flagged[:12]}, chi2/dof {restrained.residual:.3g}, "
            f"largest standard error {np.nanmax(restrained.stderr) if np.isfinite(restrained.stderr).any() else float('nan'):.4g} nats"
        )
    log(
        f"wlmd merge {spec.name}: segment {segment}, {len(walker_ids)} walkers, "
        f"{epochs_per_walker} epochs/walker, visited bins {int(visited.sum())}, "
        f"mean |dS| {row['mean_abs_dS']:.4g}, max-entropy shift {row['maxent_shift_bins']:.3g} bins, "
        f"flatness {row['flatness']:.3g}, K/N {row['kinetic_per_param']:.4g} (kT/2 = {0.5 * spec.sampler.kT:g})"
    )

    if out_landscape is not None:
        write_landscape(spec, out_merged, out_landscape, log=log)
    return row


def write_landscape(spec: LandscapeSpec | dict, merged_path, out_landscape, log=print) -> None:
    """The final landscape.h5 (module docstring) from a segment's merged.h5."""
    spec = LandscapeSpec.from_dict(spec)
    grid, settings = spec.grid, spec.sampler
    with _open_checked(merged_path, "merged landscape", spec) as h5:
        segment = int(h5.attrs["segment"])
        epochs_per_walker = int(h5.attrs["epochs_per_walker"])
        sampling_device = h5.attrs.get("sampling_device", "unknown")
        mean_entropy = h5["mean_entropy"][()]
        cumulative = h5["cumulative_histogram"][()]
        walker_entropy = h5["walker_entropy"][()]
        convergence = _read_convergence(h5)
    if spec.segments is not None and segment != spec.segments - 1:
        log(
            f"wlmd landscape {spec.name}: note: {merged_path} is segment {segment}, "
            f"the landscape has {spec.segments} segments (writing a partial landscape)"
        )
    scale = spec.y_scale
    entropy = shifted_entropy(mean_entropy, covered_mask(spec, mean_entropy, cumulative))
    y_edges = grid.edges(1).numpy() / scale
    y_centres = 0.5 * (y_edges[1:] + y_edges[:-1])
    attrs = {
        "epochs_per_walker": epochs_per_walker,
        "walkers": spec.walkers,
        "segments": segment + 1,
        "seed": spec.seed,
        "y_scale": scale,
        "sampler": settings.to_dict(),
        "grid": grid.to_dict(),
        "spec": spec.to_dict(),
        "axis_order": "entropy[i_x, j_y]: x = ln L_train, y = smoothed test accuracy",
    }
    attrs.update(provenance(device=None, sampling_device=sampling_device, merged=str(merged_path)))
    with atomic_path(out_landscape) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset("entropy", data=entropy)
        h5.create_dataset("histogram", data=cumulative)
        h5.create_dataset("walker_entropy", data=walker_entropy)
        h5.create_dataset("max_entropy_y", data=max_entropy_curve(entropy, y_centres, ACCURACY_WINDOW))
        h5.create_dataset("x_edges", data=grid.edges(0).numpy())
        h5.create_dataset("y_edges", data=y_edges)
        _write_convergence(h5, convergence)
        set_attrs(h5, attrs)
        if spec.windows is not None:  # the windows' own maps, visits and offsets, as merged
            with _open_checked(merged_path, "merged landscape", spec) as merged:
                merged.copy(merged["windows"], h5, "windows")
        if spec.restrained is not None:  # the standard error, the points, the window table
            from grokglass.jobs.restrained import copy_restrained

            copy_restrained(merged_path, h5, scale)
    log(
        f"wlmd landscape {spec.name}: {epochs_per_walker} epochs/walker, "
        f"{int(np.isfinite(entropy).sum())} visited bins -> {out_landscape}"
    )


def merged_entropy(share: str, groups: list[dict], walker_entropy: np.ndarray, previous: dict | None) -> np.ndarray:
    """The segment's shared landscape S_bar.

    Per-walker and per-group-mean maps (share chunk, every_step) are averaged over all
    walkers, the paper's mean over processes. A summed map (share sum) holds every deposit
    of its group: the groups' increments since the last merge are summed onto it, so that
    the shared map holds every walker's deposits, as if all walkers had been one group.
    """
    if share != "sum":
        return walker_entropy.mean(axis=0)
    start = previous["mean_entropy"] if previous else np.zeros(walker_entropy.shape[1:])
    return start + np.sum([g["learned_entropy"][0] - start for g in groups], axis=0)


def stitch_windows(spec: LandscapeSpec, groups: list[dict], previous: dict | None, log) -> dict:
    """The windowed merge: each window's map is its one group's (share sum: every deposit of
    its walkers); the maps are stitched into the landscape's (wlmd.windows.stitch_maps) over
    the windows' cumulative visits, trimmed by their inner walls. The full-grid histograms are
    the trusted visits, so a bin counts as visited exactly where the stitched map is defined."""
    windows, grid = spec.windows, spec.grid
    by_window = {}
    for group in groups:
        matches = [w for w in range(windows.n) if spec.group_walker_ids(w) == group["walker_ids"].tolist()]
        by_window[matches[0]] = group  # _check_walker_sets has made sure each window has its group
    ordered = [by_window[w] for w in range(windows.n)]
    ranges = [spec.window_bins(w) for w in range(windows.n)]
    maps = [g["learned_entropy"][0] for g in ordered]
    this_segment = [g["histogram"].sum(axis=0) for g in ordered]
    cumulative = [h + (previous["window_histograms"][w] if previous else 0.0) for w, h in enumerate(this_segment)]
    trim = window_trim_bins(grid, windows)
    for w, (first, last) in enumerate(ranges):
        if not this_segment[w].any():
            log(f"wlmd merge {spec.name}: warning: window {w} (x bins {first}..{last - 1}) had no visits this segment")

    def warn(message):
        log(f"wlmd merge {spec.name}: warning: {message}")

    full_maps, _, trusted = embed_windows(grid.shape, ranges, maps, cumulative, windows.wall_bins, trim)
    _, _, trusted_now = embed_windows(grid.shape, ranges, maps, this_segment, windows.wall_bins, trim)
    stitched, offsets = stitch_maps(full_maps, trusted, warn=warn)
    kept = [w for w in range(windows.n) if np.isfinite(offsets[w])]  # the windows in the landscape
    attempts = np.zeros(windows.n - 1, dtype=np.int64) + (previous["exchange_attempts"] if previous else 0)
    accepted = np.zeros(windows.n - 1, dtype=np.int64) + (previous["exchange_accepted"] if previous else 0)
    for w, group in enumerate(ordered):
        if group["exchange"]["partner"] == w + 1:  # each pair counted once, from its lower window
            attempts[w] += group["exchange"]["attempts"]
            accepted[w] += group["exchange"]["accepted"]
    # a window left out of the stitch (offset NaN) gives its walkers a NaN map here too
    per_walker = [full_maps[w] + offsets[w] for w, g in enumerate(ordered) for _ in g["walker_ids"]]
    log(
        f"wlmd merge {spec.name}: windows {ranges}, offsets {[round(o, 3) for o in offsets]}, "
        f"exchanges accepted {accepted.tolist()} of {attempts.tolist()}"
    )
    return {
        "entropy": np.nan_to_num(stitched, nan=0.0),
        "histogram": np.sum([trusted_now[w] for w in kept], axis=0),
        "cumulative": np.sum([trusted[w] for w in kept], axis=0),
        "walker_entropy": np.stack(per_walker),
        "maps": maps,
        "window_histograms": cumulative,
        "offsets": offsets,
        "bins": ranges,
        "trim_bins": trim,
        "exchange_attempts": attempts,
        "exchange_accepted": accepted,
    }


def _write_windows(h5: h5py.File, windows: dict) -> None:
    group = h5.create_group("windows")
    for w, (window_map, visits) in enumerate(zip(windows["maps"], windows["window_histograms"])):
        group.create_dataset(f"entropy_{w}", data=window_map)  # learned S on the window's grid
        group.create_dataset(f"histogram_{w}", data=visits)  # cumulative visits there
    group.attrs["offsets"] = np.asarray(windows["offsets"], dtype=np.float64)
    group.attrs["x_bins"] = np.asarray(windows["bins"], dtype=np.int64)  # [first, last) per window
    group.attrs["trim_bins"] = windows["trim_bins"]
    group.attrs["exchange_attempts"] = windows["exchange_attempts"]
    group.attrs["exchange_accepted"] = windows["exchange_accepted"]


def _read_convergence(h5: h5py.File) -> dict:
    """The convergence table; a column that an older merged file lacks reads as NaN."""
    group = h5["convergence"]
    rows = len(group["segment"])
    return {name: group[name][()] if name in group else np.full(rows, np.nan) for name in CONVERGENCE_COLUMNS}


def _write_convergence(h5: h5py.File, convergence: dict) -> None:
    group = h5.create_group("convergence")
    for name in CONVERGENCE_COLUMNS:
        group.create_dataset(name, data=convergence[name])


# ----- CLI -------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `python -m grokglass wlmd-merge`."""
    add_spec_arguments(parser)
    parser.add_argument("--inputs", nargs="+", required=True, help="the groups' entropy files of the segment")
    parser.add_argument("--prev-merged", help="merged.h5 of the previous segment (segments > 0)")
    parser.add_argument("--out", required=True, help="where to write this segment's merged.h5")
    parser.add_argument("--landscape", help="also write the final landscape.h5 here (last segment)")


class landscape_command:
    """`python -m grokglass wlmd-landscape`: write landscape.h5 from the last merged.h5."""

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--spec-json", help="the landscape spec as a JSON string")
        source.add_argument("--spec-file", help="the landscape spec as a JSON (or YAML) file")
        parser.add_argument("--merged", required=True, help="merged.h5 of the last segment")
        parser.add_argument("--out", required=True, help="where to write landscape.h5")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        spec = load_spec(args.spec_json, args.spec_file)
        write_landscape(spec, args.merged, args.out, log=lambda line: print(line, flush=True))
        return 0


def run(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec_json, args.spec_file)
    merge_segment(
        spec,
        args.segment,
        [Path(p) for p in args.inputs],
        args.prev_merged,
        args.out,
        args.landscape,
        log=lambda line: print(line, flush=True),
    )
    return 0
