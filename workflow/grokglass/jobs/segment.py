"""One WLMD segment of one walker group: the unit of work of the pipeline (spec 5.10).

A landscape is sampled in `segments` sequential segments of `epochs_per_segment`
epochs. Within a segment the walkers are split into groups of `walkers_per_job`
(group g holds walker ids [g*wpj, min((g+1)*wpj, walkers))), one job each. Each
segment of each group:

1. starts fresh (segment 0) or loads the previous merged landscape S_bar into
   every walker's grid (S = S_bias + S_bar) and the group's saved walker state;
2. runs the epochs (global epoch counter t = segment*epochs_per_segment + 1, ...);
3. writes the walker state (torch) and the learned entropies S - S_bias with
   this segment's visit histograms (HDF5), both atomically.

With windows (LandscapeSpec.windows), group g is window g: it samples on the window's grid
(windows.window_grid), fresh walkers are first steered to the window's centre, a later
segment starts from the window's own merged map, and first tries replica exchanges with
its partner window (LandscapeSpec.exchange_partner; --partner-state); the entropy file then
also carries attrs exchange_partner (-1: none), exchange_attempts, exchange_accepted.

The landscape is a grokglass.pipeline.specs.LandscapeSpec (its JSON form on the command line).

Entropy file (`out_entropy`, HDF5), k = walkers in the group, axis order x then y:
    learned_entropy (k, n_x, n_y) float64   S - S_bias per walker at the segment's end
    histogram       (k, n_x, n_y) float64   this segment's visits (one per epoch)
    walker_ids      (k,) int64
    final_x, final_y (k,) float64           the last epoch's coordinates (diagnostic)
    final_kinetic_per_param (k,) float64    K/N at the segment's end (kT/2 at equilibrium)
    attrs: provenance (io.provenance: device, seed, spec json, segment, group,
           epochs_start, epochs_end), grid (GridSpec json), sampler (SamplerSettings json)

State file (`out_state`, torch.save): {"walkers": WalkerState.to_dict(), "spec" (LandscapeSpec.to_dict()),
"segment", "group"}.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import torch

from grokglass.data.arithmetic import load_split
from grokglass.errors import DivergenceError, InputError, one_line
from grokglass.io import (
    add_matmul_precision_argument,
    atomic_path,
    open_input_h5,
    pick_device,
    read_attr_json,
    set_attrs,
    torch_settings,
)
from grokglass.jobs import restrained as restrained_jobs
from grokglass.jobs.args import add_spec_arguments, load_segment_state, load_spec, segment_attrs
from grokglass.nets.registry import build_system as build_system_of
from grokglass.pipeline.specs import LandscapeSpec
from grokglass.wlmd.grid import EntropyGrid
from grokglass.wlmd.sampler import CAPTURES, WalkerState, format_record, init_walkers, run_epochs
from grokglass.wlmd.windows import exchange_decisions, steer_into_window, walker_coordinates, window_grid


def build_system(spec: LandscapeSpec, device: torch.device):
    """The sampled network on its split (grokglass.nets.registry)."""
    split = load_split(spec.data, spec.fraction)
    return build_system_of(spec.model, split, spec.slope, spec.y_scale, device)


def read_merged_entropy(path: str | Path, spec: LandscapeSpec, segment: int, window: int | None = None) -> torch.Tensor:
    """S_bar of the previous segment's merged file, after checking it belongs to this landscape
    (with windows: the map of `window`, on the window's own grid)."""
    what = "merged landscape"
    with open_input_h5(path, what) as h5:
        spec.check_input(path, what, read_attr_json(h5, "spec", path, what))
        if int(h5.attrs["segment"]) != segment - 1:
            raise InputError(
                f"{path}: merged landscape is of segment {int(h5.attrs['segment'])}, "
                f"segment {segment} needs segment {segment - 1}"
            )
        name = "mean_entropy" if window is None else f"windows/entropy_{window}"
        if name not in h5:
            raise InputError(f"{path}: the merged landscape lacks {name}")
        return torch.from_numpy(h5[name][()])


def grid_of(spec: LandscapeSpec, group: int):
    """The grid group `group` samples on: the landscape's, or with windows its window's."""
    if spec.windows is None:
        return spec.grid
    first, last = spec.window_bins(group)
    return window_grid(spec.grid, first, last, spec.windows.wall_bins, spec.windows.walls == "hard")


def _steer_into_window(system, state: WalkerState, spec: LandscapeSpec, group: int, log) -> None:
    """Fresh walkers of a window descend (projected Newton steps on x) to its centre first."""
    started = time.perf_counter()
    ranges = [spec.window_bins(w) for w in range(spec.windows.n)]
    centre, steps = steer_into_window(system, state, spec.grid, ranges, group, spec.sampler)
    first, last = ranges[group]
    log(
        f"wlmd {spec.name}: window {group} (x bins {first}..{last - 1}): walkers steered to x = {centre:.3f} "
        f"in {steps} steps ({time.perf_counter() - started:.1f} s)"
    )


def _exchange_with_partner(
    system, spec: LandscapeSpec, segment: int, group: int, state, grid, prev_merged, partner_state_path, device, log
):
    """Replica exchange with the neighbouring window before this segment (settings.exchange_partner).

    Both jobs of the pair load both windows' states and maps and draw from one generator
    seeded by (seed, segment, lower window), so they take the same decisions; each applies
    its own side. Returns {"partner", "attempts", "accepted"} (partner -1: no exchange)."""
    partner = spec.exchange_partner(segment, group)
    if partner is None:
        return {"partner": -1, "attempts": 0, "accepted": 0}
    if partner_state_path is None:
        raise InputError(f"segment {segment} of window {group} exchanges with window {partner}: give --partner-state")
    other = _load_state(partner_state_path, spec, segment, partner, spec.group_walker_ids(partner), state.epoch, device)
    other_grid = EntropyGrid(grid_of(spec, partner), other.n_walkers, device)
    other_grid.load_learned(read_merged_entropy(prev_merged, spec, segment, partner))
    ndim = spec.grid.ndim
    low, high = sorted([(group, state, grid), (partner, other, other_grid)], key=lambda item: item[0])
    generator = np.random.default_rng([spec.seed, segment, low[0]])
    attempts, accepted = exchange_decisions(
        low[2], high[2], walker_coordinates(system, low[1], ndim), walker_coordinates(system, high[1], ndim), generator
    )
    for i, j in accepted:  # this job's side of each swap: its row takes the partner's configuration
        mine, theirs = (i, j) if group == low[0] else (j, i)
        for buffer in ("params", "velocity"):
            getattr(state, buffer)[mine].copy_(getattr(other, buffer)[theirs])
    log(
        f"wlmd {spec.name}: segment {segment}: window {group} <-> {partner}: "
        f"{len(accepted)} of {attempts} exchanges accepted"
    )
    return {"partner": partner, "attempts": attempts, "accepted": len(accepted)}


# ----- the segment ------------------------------------------------------------------------------
def run_segment(
    spec: LandscapeSpec | dict,
    segment: int,
    group: int,
    prev_merged: str | Path | None,
    prev_state: str | Path | None,
    out_state: str | Path,
    out_entropy: str | Path,
    device: str | torch.device = "auto",
    log: Callable[[str], None] = print,
    capture: str = "eager",
    prev_partner_state: str | Path | None = None,
) -> None:
    """Run one segment of one group and write out_state and out_entropy (module docstring).

    capture: how the epoch runs (sampler.CAPTURES); it changes speed, not the trajectory
    beyond float32 rounding. prev_partner_state: with windows, the previous state of the
    window this one exchanges with before `segment` (LandscapeSpec.exchange_partner)."""
    spec = LandscapeSpec.from_dict(spec)
    spec.check_segment(segment)
    if spec.restrained is not None:  # windows that share nothing: a group continues its own state
        if prev_merged is not None:
            raise InputError("a restrained landscape's segment needs no merged landscape: give only --prev-state")
        device = pick_device(str(device), log=log)
        system = build_system(spec, device)
        restrained_jobs.run_segment(spec, segment, group, prev_state, out_state, out_entropy, device, log, system)
        return
    if segment == 0 and (prev_merged is not None or prev_state is not None):
        raise InputError("segment 0 starts fresh: give neither a previous merged file nor a previous state")
    if segment > 0 and (prev_merged is None or prev_state is None):
        raise InputError(
            f"segment {segment} continues segment {segment - 1}: it needs both the "
            "previous merged landscape and the group's previous walker state"
        )
    device = pick_device(str(device), log=log)
    settings = spec.sampler
    walker_ids = spec.group_walker_ids(group)
    epochs = spec.epochs_per_segment
    epochs_start = segment * epochs
    system = build_system(spec, device)
    grid = EntropyGrid(grid_of(spec, group), len(walker_ids), device)
    window = None if spec.windows is None else group
    exchange = {"partner": -1, "attempts": 0, "accepted": 0}

    if segment == 0:
        state = init_walkers(system, walker_ids, spec.seed, settings, device)
        if window is not None:
            _steer_into_window(system, state, spec, group, log)
    else:
        grid.load_learned(read_merged_entropy(prev_merged, spec, segment, window))
        state = _load_state(prev_state, spec, segment, group, walker_ids, epochs_start, device)
        if window is not None:
            exchange = _exchange_with_partner(
                system, spec, segment, group, state, grid, prev_merged, prev_partner_state, device, log
            )

    name = spec.name
    log(
        f"wlmd {name}: segment {segment} group {group}, walkers {walker_ids[0]}..{walker_ids[-1]}, "
        f"epochs {epochs_start + 1}..{epochs_start + epochs}, {state.layout.numel} parameters each"
    )
    started = time.perf_counter()
    result = run_epochs(
        system,
        grid,
        state,
        settings,
        epochs,
        log=lambda record: log(format_record(record)),
        capture=capture,
        # with share "sum", every group's walkers fill the merged map (a window's: its own)
        map_walkers=spec.walkers if window is None else len(walker_ids),
    )
    elapsed = time.perf_counter() - started
    if result["capture_error"]:
        log(f"wlmd {name}: the {capture} epoch did not compile ({result['capture_error']}); it ran eager")
    final_x, final_y = result["x"].cpu(), result["y"].cpu()
    log(
        f"wlmd {name}: segment {segment} group {group} done in {elapsed:.1f} s "
        f"({epochs * len(walker_ids) / max(elapsed, 1e-9):.1f} walker-epochs/s); final x "
        f"[{final_x.min():.4f}, {final_x.max():.4f}], y [{final_y.min():.4f}, {final_y.max():.4f}]"
    )

    attrs = segment_attrs(
        spec,
        segment,
        group,
        device,
        epoch_capture=result["capture"],
        **({} if window is None else {f"exchange_{key}": value for key, value in exchange.items()}),
    )
    attrs.update(grid=grid.spec.to_dict(), sampler=settings.to_dict())
    state_blob = {"walkers": state.to_dict(), "spec": spec.to_dict(), "segment": segment, "group": group}
    # write both to temporary files first and rename at the very end, so an interrupted
    # segment leaves neither output behind
    with atomic_path(out_entropy) as tmp_entropy, atomic_path(out_state) as tmp_state:
        _write_entropy(tmp_entropy, grid, walker_ids, result, attrs)
        torch.save(state_blob, tmp_state)


def _load_state(
    path, spec: LandscapeSpec, segment: int, group: int, walker_ids: list[int], epochs_start: int, device: torch.device
) -> WalkerState:
    what = "walker state"
    blob = load_segment_state(path, spec, segment, group, "walkers")
    try:
        state = WalkerState.from_dict(blob["walkers"], device)
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"{path}: {what} cannot be restored: {one_line(err)}") from None
    if state.walker_ids != walker_ids:
        raise InputError(f"{path}: state holds walkers {state.walker_ids}, group {group} is {walker_ids}")
    if state.epoch != epochs_start:
        raise InputError(
            f"{path}: state is at epoch {state.epoch}, segment {segment} starts after epoch {epochs_start}"
        )
    return state


def _write_entropy(path, grid: EntropyGrid, walker_ids: list[int], result: dict, attrs: dict) -> None:
    with h5py.File(path, "w") as h5:
        h5.create_dataset("learned_entropy", data=grid.learned().cpu().numpy())
        h5.create_dataset("histogram", data=grid.histogram.cpu().numpy())
        h5.create_dataset("walker_ids", data=np.asarray(walker_ids, dtype=np.int64))
        h5.create_dataset("final_x", data=result["x"].double().cpu().numpy())
        h5.create_dataset("final_y", data=result["y"].double().cpu().numpy())
        h5.create_dataset("final_kinetic_per_param", data=result["kinetic_per_param"].cpu().numpy())
        set_attrs(h5, attrs)


# ----- CLI -----------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `python -m grokglass wlmd-segment`."""
    add_spec_arguments(parser)
    parser.add_argument("--group", type=int, required=True, help="walker group index (0-based)")
    parser.add_argument("--prev-merged", help="merged.h5 of the previous segment (segments > 0)")
    parser.add_argument("--prev-state", help="this group's state of the previous segment (segments > 0)")
    parser.add_argument(
        "--partner-state", help="with windows: the previous state of the window this one exchanges with"
    )
    parser.add_argument("--out-state", required=True, help="where to write the walker state (torch)")
    parser.add_argument("--out-entropy", required=True, help="where to write entropies/histograms (HDF5)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:n] (default auto)")
    add_matmul_precision_argument(parser)
    parser.add_argument(
        "--capture",
        choices=CAPTURES,
        default="eager",
        help="run each epoch op by op (eager, default), compiled whole by torch.compile, or as CUDA graphs",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's choice); results do not depend on it",
    )


def run(args: argparse.Namespace) -> int:
    with torch_settings(args.threads, args.matmul_precision, args.device, log=lambda line: print(line, flush=True)):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec_json, args.spec_file)
    try:
        run_segment(
            spec,
            args.segment,
            args.group,
            args.prev_merged,
            args.prev_state,
            args.out_state,
            args.out_entropy,
            device=args.device,
            log=lambda line: print(line, flush=True),
            capture=args.capture,
            prev_partner_state=args.partner_state,
        )
    except DivergenceError as err:  # the library names its settings; the user edits config.yaml
        raise DivergenceError(f"{err} [config.yaml: wlmd.sampler.dt, wlmd.grid]") from None
    return 0
