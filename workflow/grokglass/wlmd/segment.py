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

Landscape spec (a dict, usually one entry of the config's `landscapes`):

    name, data (dataset HDF5 from tasks.write_dataset), fraction,
    model {d_model, n_heads[, d_mlp]}, walkers, walkers_per_job, segments,
    epochs_per_segment, seed,
    sampler {dt, friction, kT, wl_factor, t_rise, t_drop, constraint, bound_scale,
             shell_norm, share[, log_every], slope, y_scale},
    grid {x: [lo, hi], y: [lo, hi] (grid units: y_scale * accuracy), bin_width,
          bias_strength, bias_start, gaussian_sigma_bins, gaussian_cutoff_sigmas}

Entropy file (`out_entropy`, HDF5), k = walkers in the group, axis order x then y:
    learned_entropy (k, n_x, n_y) float64   S - S_bias per walker at the segment's end
    histogram       (k, n_x, n_y) float64   this segment's visits (one per epoch)
    walker_ids      (k,) int64
    final_x, final_y (k,) float64           the last epoch's coordinates (diagnostic)
    attrs: provenance (io.provenance: device, seed, spec json, segment, group,
           epochs_start, epochs_end), grid (GridSpec json), sampler (SamplerSettings json)

State file (`out_state`, torch.save): {"walkers": WalkerState.to_dict(), "spec", "segment", "group"}.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import torch

from grokglass.io import atomic_path, get_attr_json, pick_device, provenance, set_attrs
from grokglass.metrics import DEFAULT_SLOPE
from grokglass.model import TransformerConfig
from grokglass.tasks import load_split
from grokglass.wlmd.grid import EntropyGrid, GridSpec
from grokglass.wlmd.sampler import SamplerSettings, WalkerState, format_record, init_walkers, run_epochs
from grokglass.wlmd.systems import DenseSystem, TransformerSystem

# sampler keys of the landscape spec that belong to the system, not to SamplerSettings
SYSTEM_KEYS = ("slope", "y_scale")
# spec keys that must not change between the segments of one landscape
IDENTITY_KEYS = ("data", "fraction", "model", "walkers", "walkers_per_job", "epochs_per_segment",
                 "seed", "sampler", "grid")
REQUIRED_KEYS = ("data", "fraction", "model", "walkers", "walkers_per_job", "segments",
                 "epochs_per_segment", "seed", "sampler", "grid")


# ----- reading the landscape spec ------------------------------------------------------------
def plain_spec(spec: dict) -> dict:
    """The spec as plain JSON types (paths -> str), as it is stored and compared in the outputs."""
    return json.loads(json.dumps(spec, default=str))


def check_spec(spec: dict) -> None:
    missing = [key for key in REQUIRED_KEYS if key not in spec]
    if missing:
        raise ValueError(f"landscape spec {spec.get('name', '?')!r} lacks keys {missing}")
    for key in ("walkers", "walkers_per_job", "segments", "epochs_per_segment"):
        if int(spec[key]) < 1:
            raise ValueError(f"landscape spec: {key} must be >= 1, got {spec[key]}")


def grid_spec(spec: dict) -> GridSpec:
    """The 2-D GridSpec of a landscape (x = ln L_train, y = y_scale * A_test)."""
    grid = spec["grid"]
    defaults = GridSpec(lows=(0.0, 0.0), highs=(1.0, 1.0))
    return GridSpec(lows=(float(grid["x"][0]), float(grid["y"][0])),
                    highs=(float(grid["x"][1]), float(grid["y"][1])),
                    bin_width=float(grid.get("bin_width", defaults.bin_width)),
                    bias_strength=float(grid.get("bias_strength", defaults.bias_strength)),
                    bias_start=float(grid.get("bias_start", defaults.bias_start)),
                    gaussian_sigma_bins=float(grid.get("gaussian_sigma_bins", defaults.gaussian_sigma_bins)),
                    gaussian_cutoff_sigmas=float(grid.get("gaussian_cutoff_sigmas",
                                                          defaults.gaussian_cutoff_sigmas)))


def sampler_settings(spec: dict) -> SamplerSettings:
    return SamplerSettings.from_dict({key: value for key, value in spec["sampler"].items()
                                      if key not in SYSTEM_KEYS})


def y_scale(spec: dict) -> float:
    return float(spec["sampler"].get("y_scale", 10.0))


def n_groups(spec: dict) -> int:
    return math.ceil(int(spec["walkers"]) / int(spec["walkers_per_job"]))


def group_walker_ids(spec: dict, group: int) -> list[int]:
    if not 0 <= group < n_groups(spec):
        raise ValueError(f"group {group} out of range: the landscape has {n_groups(spec)} groups "
                         f"({spec['walkers']} walkers, {spec['walkers_per_job']} per job)")
    per_job = int(spec["walkers_per_job"])
    return list(range(group * per_job, min((group + 1) * per_job, int(spec["walkers"]))))


def build_system(spec: dict, device: torch.device) -> TransformerSystem | DenseSystem:
    """The sampled network on its split: the transformer, or model.kind 'mlp' (the Ising classifier)."""
    model = dict(spec["model"])
    split = load_split(spec["data"], float(spec["fraction"]))
    slope = float(spec["sampler"].get("slope", DEFAULT_SLOPE))
    kind = model.pop("kind", "transformer")
    if kind == "mlp":
        from grokglass.ising_model import split_classes

        if "dropout" in model and float(model["dropout"]) != 0.0:
            raise ValueError("WLMD samples the deterministic network: model.dropout must be 0 or absent")
        return DenseSystem(model["hidden"], split_classes(split), int(split.train_inputs.shape[-1]), split,
                           inverse_temperature=float(model.get("inverse_temperature", 1.0)),
                           slope=slope, y_scale=y_scale(spec), device=device,
                           init_scale=float(model.get("init_scale", 1.0)))
    if kind != "transformer":
        raise ValueError(f"WLMD supports model kinds 'transformer' and 'mlp', got {kind!r}")
    arch = model.pop("arch", "nanda")
    if arch not in ("nanda", "original"):
        raise ValueError(f"WLMD supports only the Nanda layout, got model.arch={arch!r}")
    cfg = TransformerConfig(p=split.p, d_model=int(model.get("d_model", 128)),
                            n_heads=int(model.get("n_heads", 4)), d_mlp=model.get("d_mlp"))
    return TransformerSystem(cfg, split, slope=slope, y_scale=y_scale(spec), device=device)


def spec_difference(a: dict, b: dict, keys=IDENTITY_KEYS) -> str | None:
    """The first identity key whose value differs between two specs (None if none)."""
    for key in keys:
        if json.dumps(a.get(key), sort_keys=True) != json.dumps(b.get(key), sort_keys=True):
            return key
    return None


def load_spec(spec_json: str | None, spec_file: str | None) -> dict:
    """The landscape spec from a JSON string or a JSON/YAML file."""
    if (spec_json is None) == (spec_file is None):
        raise ValueError("give exactly one of --spec-json and --spec-file")
    if spec_json is not None:
        return json.loads(spec_json)
    path = Path(spec_file)
    if path.suffix in (".yaml", ".yml"):
        import yaml

        return yaml.safe_load(path.read_text())
    return json.loads(path.read_text())


def read_merged_entropy(path: str | Path, spec: dict, segment: int) -> torch.Tensor:
    """S_bar of the previous segment's merged file, after checking it belongs to this landscape."""
    with h5py.File(path, "r") as h5:
        file_grid = get_attr_json(h5, "grid")
        expected = grid_spec(spec).to_dict()
        if json.dumps(file_grid, sort_keys=True) != json.dumps(expected, sort_keys=True):
            raise ValueError(f"{path}: merged landscape has grid {file_grid}, the spec asks for {expected}")
        if int(h5.attrs["segment"]) != segment - 1:
            raise ValueError(f"{path}: merged landscape is of segment {int(h5.attrs['segment'])}, "
                             f"segment {segment} needs segment {segment - 1}")
        return torch.from_numpy(h5["mean_entropy"][()])


# ----- the segment ------------------------------------------------------------------------------
def run_segment(spec: dict, segment: int, group: int, prev_merged: str | Path | None,
                prev_state: str | Path | None, out_state: str | Path, out_entropy: str | Path,
                device: str | torch.device = "auto", log: Callable[[str], None] = print) -> None:
    """Run one segment of one group and write out_state and out_entropy (module docstring)."""
    spec = plain_spec(spec)
    check_spec(spec)
    if not 0 <= segment < int(spec["segments"]):
        raise ValueError(f"segment {segment} out of range: the landscape has {spec['segments']} segments")
    if segment == 0 and (prev_merged is not None or prev_state is not None):
        raise ValueError("segment 0 starts fresh: give neither a previous merged file nor a previous state")
    if segment > 0 and (prev_merged is None or prev_state is None):
        raise ValueError(f"segment {segment} continues segment {segment - 1}: it needs both the "
                         "previous merged landscape and the group's previous walker state")
    device = pick_device(str(device), log=log)
    settings = sampler_settings(spec)
    walker_ids = group_walker_ids(spec, group)
    epochs = int(spec["epochs_per_segment"])
    epochs_start = segment * epochs
    system = build_system(spec, device)
    grid = EntropyGrid(grid_spec(spec), len(walker_ids), device)

    if segment == 0:
        state = init_walkers(system, walker_ids, int(spec["seed"]), settings, device)
    else:
        grid.load_learned(read_merged_entropy(prev_merged, spec, segment))
        state = _load_state(prev_state, spec, segment, group, walker_ids, epochs_start, device)

    name = spec.get("name", "?")
    log(f"wlmd {name}: segment {segment} group {group}, walkers {walker_ids[0]}..{walker_ids[-1]}, "
        f"epochs {epochs_start + 1}..{epochs_start + epochs}, {state.layout.numel} parameters each")
    started = time.perf_counter()
    result = run_epochs(system, grid, state, settings, epochs, log=lambda record: log(format_record(record)))
    elapsed = time.perf_counter() - started
    final_x, final_y = result["x"].cpu(), result["y"].cpu()
    log(f"wlmd {name}: segment {segment} group {group} done in {elapsed:.1f} s "
        f"({epochs * len(walker_ids) / max(elapsed, 1e-9):.1f} walker-epochs/s); final x "
        f"[{final_x.min():.4f}, {final_x.max():.4f}], y [{final_y.min():.4f}, {final_y.max():.4f}]")

    attrs = provenance(device=device, seed=int(spec["seed"]), spec=spec, segment=segment, group=group,
                       epochs_start=epochs_start, epochs_end=epochs_start + epochs)
    attrs.update(grid=grid.spec.to_dict(), sampler=settings.to_dict())
    state_blob = {"walkers": state.to_dict(), "spec": spec, "segment": segment, "group": group}
    # write both to temporary files first and rename at the very end, so an interrupted
    # segment leaves neither output behind
    with atomic_path(out_entropy) as tmp_entropy, atomic_path(out_state) as tmp_state:
        _write_entropy(tmp_entropy, grid, walker_ids, result, attrs)
        torch.save(state_blob, tmp_state)


def _load_state(path, spec: dict, segment: int, group: int, walker_ids: list[int], epochs_start: int,
                device: torch.device) -> WalkerState:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    difference = spec_difference(blob["spec"], spec)
    if difference is not None:
        raise ValueError(f"{path}: walker state was made with a different landscape spec "
                         f"(key {difference!r}: {blob['spec'].get(difference)!r} vs {spec.get(difference)!r})")
    if blob["group"] != group or blob["segment"] != segment - 1:
        raise ValueError(f"{path}: state of segment {blob['segment']} group {blob['group']}, expected "
                         f"segment {segment - 1} group {group}")
    state = WalkerState.from_dict(blob["walkers"], device)
    if state.walker_ids != walker_ids:
        raise ValueError(f"{path}: state holds walkers {state.walker_ids}, group {group} is {walker_ids}")
    if state.epoch != epochs_start:
        raise ValueError(f"{path}: state is at epoch {state.epoch}, segment {segment} starts after "
                         f"epoch {epochs_start}")
    return state


def _write_entropy(path, grid: EntropyGrid, walker_ids: list[int], result: dict, attrs: dict) -> None:
    with h5py.File(path, "w") as h5:
        h5.create_dataset("learned_entropy", data=grid.learned().cpu().numpy())
        h5.create_dataset("histogram", data=grid.histogram.cpu().numpy())
        h5.create_dataset("walker_ids", data=np.asarray(walker_ids, dtype=np.int64))
        h5.create_dataset("final_x", data=result["x"].double().cpu().numpy())
        h5.create_dataset("final_y", data=result["y"].double().cpu().numpy())
        set_attrs(h5, attrs)


# ----- CLI -----------------------------------------------------------------------------------
def add_spec_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--spec-json", help="the landscape spec as a JSON string")
    source.add_argument("--spec-file", help="the landscape spec as a JSON (or YAML) file")
    parser.add_argument("--segment", type=int, required=True, help="segment index (0-based)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `python -m grokglass wlmd-segment`."""
    add_spec_arguments(parser)
    parser.add_argument("--group", type=int, required=True, help="walker group index (0-based)")
    parser.add_argument("--prev-merged", help="merged.h5 of the previous segment (segments > 0)")
    parser.add_argument("--prev-state", help="this group's state of the previous segment (segments > 0)")
    parser.add_argument("--out-state", required=True, help="where to write the walker state (torch)")
    parser.add_argument("--out-entropy", required=True, help="where to write entropies/histograms (HDF5)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:n] (default auto)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice); results do not depend on it")


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = load_spec(args.spec_json, args.spec_file)
    run_segment(spec, args.segment, args.group, args.prev_merged, args.prev_state,
                args.out_state, args.out_entropy, device=args.device, log=lambda line: print(line, flush=True))
    return 0
