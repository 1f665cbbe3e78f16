"""The pipeline's jobs for a landscape measured with restrained windows (LandscapeSpec.restrained).

The lattice (RestrainedLandscape: x centres from the grid's top down to its bottom, times the
test accuracies) is cut into groups of `windows_per_job` windows, one job each per segment, as
Wang-Landau walkers are. Unlike Wang-Landau, windows share nothing while they run: segment s of
a group continues only its own state (the walkers, and the series of xi recorded so far), and
the merge of segment s measures every window's mean force on all its samples so far and
integrates the forces into S (grokglass.wlmd.restrained_map).

Segment file (`out_entropy`, HDF5), k = walkers of the group, T = epochs so far, d = 2:
    xi          (T, k, d) float64   (x, y) after every epoch since the start
    norms       (T, k)    float64   |theta|
    kinetic_ratio (k,)    float64   K/N over kT/2, mean over the log points (1 at equilibrium)
    walker_ids, window_ids (k,) int64
    final_x, final_y (k,)  float64
    attrs: provenance (device, seed, spec, segment, group, epochs_start, epochs_end, relax_steps)

merged.h5 and landscape.h5 keep the Wang-Landau layout (grokglass.jobs.merge; `mean_entropy` is
NaN outside the windows' hull), plus
    stderr      (n_x, n_y)   the standard error of S (NaN outside the hull)
    restrained/ points (M, 2) where S was integrated (window means; y in accuracy units in
                landscape.h5), point_entropy, point_stderr (M,), bootstrap (B, M): S at the points
                for B redraws of the forces; table/<column> (one row per window: centre, mean,
                force and its error per axis, statistical inefficiency, time halves, weight norm,
                flags); attrs chi2_per_dof, flagged (window indices), walker_epochs
"""

from __future__ import annotations

import time
from pathlib import Path

import h5py
import numpy as np
import torch

from grokglass.errors import InputError, one_line
from grokglass.io import atomic_path, load_torch_input, open_input_h5, read_attr_json, set_attrs
from grokglass.jobs.args import load_segment_state, segment_attrs
from grokglass.pipeline.specs import LandscapeSpec, RestrainedLandscape
from grokglass.wlmd import mean_force
from grokglass.wlmd.restrained import RestrainedSampler
from grokglass.wlmd.restrained_map import integrate
from grokglass.wlmd.restraints import RestraintSettings, RestraintWindows
from grokglass.wlmd.sampler import ParamLayout

LOG_LINES = 5  # progress lines per segment in the job's log


# ----- the lattice -----------------------------------------------------------------------------
def lattice(spec: LandscapeSpec) -> RestraintWindows:
    """All windows of the landscape, numbered x-major (window k = i_x n_y + j_y)."""
    r = spec.restrained
    y = [spec.y_scale * a for a in r.accuracies] or None
    stiffness = (r.stiffness_x, r.stiffness_y) if y else (r.stiffness_x,)
    return RestraintWindows.lattice(r.x_centres(spec.grid), y, stiffness=stiffness)


def group_windows(spec: LandscapeSpec, group: int) -> list[int]:
    """The windows of one group (its walkers are walker_ids // walkers_per_window)."""
    per_window = spec.restrained.walkers_per_window
    return sorted({w // per_window for w in spec.group_walker_ids(group)})


def _subset(windows: RestraintWindows, indices: list[int]) -> RestraintWindows:
    return RestraintWindows(
        windows.centres[indices], windows.stiffness[indices], windows.tilt[indices], shape=(len(indices),)
    )


def restraint_settings(spec: LandscapeSpec) -> RestraintSettings:
    """The dynamics: the landscape's temperature and constraint (box or shell), the method's steps."""
    r, sampler = spec.restrained, spec.sampler
    return RestraintSettings(
        dt=r.dt,
        friction=r.friction,
        kT=sampler.kT,
        constraint=sampler.constraint,
        bound_scale=sampler.bound_scale,
        shell_norm=sampler.shell_norm,
        step_safety=r.step_safety,
        relax_steps=r.relax_steps,
        relax_widths=r.relax_widths,
        max_kinetic_ratio=sampler.max_kinetic_ratio,
        log_every=spec.restrained.LOG_EVERY,
    )


def trained_parameters(path, layout) -> torch.Tensor:
    """A training run's model.pt as one flat parameter row (the walkers' start "from below")."""
    blob = load_torch_input(path, "trained network")
    state = blob.get("model") if isinstance(blob, dict) else None
    missing = sorted(set(layout.shapes) - set(state or {}))
    if missing:
        raise InputError(f"{path}: not a checkpoint of this network (missing {missing[:3]})")
    try:
        return layout.flatten({name: state[name] for name in layout.shapes})
    except (RuntimeError, ValueError) as err:
        raise InputError(f"{path}: its parameters do not fit this network: {one_line(err)}") from None


# ----- one segment of one group ------------------------------------------------------------------
def run_segment(spec: LandscapeSpec, segment, group, prev_state, out_state, out_entropy, device, log, system):
    """Segment `segment` of group `group`: fresh walkers relaxed into their windows (segment 0),
    or the group's previous state continued; then epochs_per_segment epochs."""
    if segment == 0 and prev_state is not None:
        raise InputError("segment 0 starts fresh: give no previous state")
    if segment > 0 and prev_state is None:
        raise InputError(f"segment {segment} continues segment {segment - 1}: give the group's previous state")
    indices = group_windows(spec, group)
    windows = _subset(lattice(spec), indices)
    r, walker_ids = spec.restrained, spec.group_walker_ids(group)
    common = dict(
        seed=spec.seed, device=device, walkers_per_window=r.walkers_per_window, first_id=walker_ids[0], log=log
    )
    started = time.perf_counter()
    if segment == 0:
        start = None
        if r.start_checkpoint:
            layout = ParamLayout(system.param_shapes())
            start = trained_parameters(r.start_checkpoint, layout).repeat(len(walker_ids), 1)
        sampler = RestrainedSampler(system, windows, restraint_settings(spec), start=start, **common)
        log(
            f"restrained {spec.name}: group {group}, windows {indices[0]}..{indices[-1]}, relaxed from the "
            f"{'trained network' if start is not None else 'init'} in {sampler.relax_steps} Newton steps "
            f"({time.perf_counter() - started:.1f} s)"
        )
    else:
        blob = load_segment_state(prev_state, spec, segment, group, "restrained")
        try:
            sampler = RestrainedSampler(system, windows, restraint_settings(spec), resume=blob["restrained"], **common)
        except (KeyError, ValueError) as err:
            raise InputError(f"{prev_state}: the walker state cannot be continued: {one_line(err)}") from None
    epochs, chunk = spec.epochs_per_segment, _chunk(spec.epochs_per_segment)
    started = time.perf_counter()
    for done in range(0, epochs, chunk):
        sampler.run(min(chunk, epochs - done), progress=False)
        xi = sampler.trajectories()[0][-1]
        log(
            f"restrained {spec.name}: segment {segment} group {group}: epoch {sampler.epochs}, x "
            f"[{xi[:, 0].min():.3f}, {xi[:, 0].max():.3f}], {sampler.state.n_walkers * (done + chunk) / (time.perf_counter() - started):.1f} walker-epochs/s"
        )
    attrs = segment_attrs(spec, segment, group, device, relax_steps=sampler.relax_steps)
    blob = {"restrained": sampler.state_dict(), "spec": spec.to_dict(), "segment": segment, "group": group}
    with atomic_path(out_entropy) as tmp_entropy, atomic_path(out_state) as tmp_state:
        _write_series(tmp_entropy, sampler, walker_ids, attrs)
        torch.save(blob, tmp_state)


def _chunk(epochs: int) -> int:
    """Epochs between log lines: about LOG_LINES per segment, on the sampler's log points."""
    every = RestrainedLandscape.LOG_EVERY
    return max(every, (epochs // LOG_LINES) // every * every)


def _write_series(path, sampler: RestrainedSampler, walker_ids: list[int], attrs: dict) -> None:
    xi, norms = sampler.trajectories()
    kinetic = np.mean([ratio for _, ratio in sampler.kinetic], axis=0)
    with h5py.File(path, "w") as h5:
        h5.create_dataset("xi", data=xi.astype(np.float64))
        h5.create_dataset("norms", data=norms.astype(np.float64))
        h5.create_dataset("kinetic_ratio", data=np.asarray(kinetic, dtype=np.float64))
        h5.create_dataset("walker_ids", data=np.asarray(walker_ids, dtype=np.int64))
        per_window = sampler.walkers_per_window
        h5.create_dataset("window_ids", data=np.asarray(walker_ids, dtype=np.int64) // per_window)
        h5.create_dataset("final_x", data=xi[-1, :, 0].astype(np.float64))
        h5.create_dataset("final_y", data=xi[-1, :, -1].astype(np.float64))
        set_attrs(h5, attrs)


# ----- the merge ---------------------------------------------------------------------------------
def read_groups(paths: list, spec: LandscapeSpec, segment: int) -> list[dict]:
    """Each group file of `segment`, checked against the landscape."""
    groups = []
    for path in paths:
        what = "restrained segment file"
        with open_input_h5(path, what) as h5:
            spec.check_input(path, what, read_attr_json(h5, "spec", path, what))
            if int(h5.attrs["segment"]) != segment:
                raise InputError(f"{path}: segment file of segment {int(h5.attrs['segment'])}, expected {segment}")
            missing = [name for name in ("xi", "norms", "kinetic_ratio", "walker_ids") if name not in h5]
            if missing:
                raise InputError(f"{path}: the {what} lacks {missing}")
            groups.append(
                {
                    "path": str(path),
                    "xi": h5["xi"][()],
                    "norms": h5["norms"][()],
                    "kinetic_ratio": h5["kinetic_ratio"][()],
                    "kinetic": h5["kinetic_ratio"][()] * 0.5 * spec.sampler.kT,  # K/N, as Wang-Landau files
                    "walker_ids": h5["walker_ids"][()],
                    "device": h5.attrs.get("device", "unknown"),
                }
            )
    found = sorted(int(w) for g in groups for w in g["walker_ids"])
    if found != list(range(spec.walkers)):
        raise InputError(f"the segment files hold walkers {found[:4]}..., the landscape needs 0..{spec.walkers - 1}")
    return groups


def walker_estimates(spec: LandscapeSpec, groups: list[dict]) -> dict[int, mean_force.WindowEstimate]:
    """One estimate per walker id, on all its samples so far."""
    windows, kT = lattice(spec), spec.sampler.kT
    out = {}
    for g in groups:
        for k, walker in enumerate(g["walker_ids"]):
            w = int(walker) // spec.restrained.walkers_per_window
            out[int(walker)] = mean_force.estimate_window(
                g["xi"][:, k],
                windows.centres[w],
                windows.stiffness[w],
                windows.tilt[w],
                kT,
                g["norms"][:, k],
                float(g["kinetic_ratio"][k]),
                index=w,
            )
    return out


def measure(spec: LandscapeSpec, groups: list[dict], bootstrap: int | None = None):
    """(the map: RestrainedResult, the replicas' maps (R, n_x, n_y)) from the groups' series.
    Replica r integrates walker r of every window alone: with 2+ walkers per window, two
    independent maps of the same landscape."""
    r, windows = spec.restrained, lattice(spec)
    per_walker = walker_estimates(spec, groups)
    n = r.walkers_per_window
    estimates = [mean_force.combine([per_walker[w * n + i] for i in range(n)]) for w in range(windows.n)]
    draws = r.bootstrap if bootstrap is None else bootstrap
    settings = dict(grid=spec.grid, exclude_flagged=r.exclude_flagged, seed=spec.seed)
    epochs = int(groups[0]["xi"].shape[0])
    result = integrate(estimates, windows.shape, epochs=epochs, walkers=spec.walkers, bootstrap_draws=draws, **settings)
    replicas = [result.entropy]
    if n > 1:
        replicas = [
            integrate([per_walker[w * n + i] for w in range(windows.n)], windows.shape, **settings).entropy
            for i in range(n)
        ]
    return result, np.stack(replicas)


def sample_histogram(spec: LandscapeSpec, groups: list[dict], last: int | None = None) -> np.ndarray:
    """Samples per bin of the landscape's grid (all epochs, or the `last` ones)."""
    grid = spec.grid
    xi = np.concatenate([g["xi"][-last if last else 0 :] for g in groups], axis=1).reshape(-1, grid.ndim)
    edges = [grid.edges(a).numpy() for a in range(grid.ndim)]
    counts, _ = np.histogramdd(xi, bins=edges)
    return counts


def write_restrained(h5: h5py.File, result, y_scale: float | None = None) -> None:
    """The `restrained/` group (module docstring); y_scale: points' y in accuracy units."""
    group = h5.create_group("restrained")
    points = np.array(result.points, dtype=np.float64)
    if y_scale and points.shape[1] > 1:
        points[:, 1] /= y_scale
    group.create_dataset("points", data=points)
    group.create_dataset("point_entropy", data=np.asarray(result.point_entropy, dtype=np.float64))
    group.create_dataset("point_stderr", data=np.asarray(result.point_stderr, dtype=np.float64))
    group.create_dataset("bootstrap", data=np.asarray(result.bootstrap, dtype=np.float64))
    table = group.create_group("table")
    for column in result.windows[0]:
        values = [row[column] for row in result.windows]
        data = np.array(values, dtype=h5py.string_dtype()) if isinstance(values[0], str) else np.asarray(values)
        table.create_dataset(column, data=data)
    group.attrs["chi2_per_dof"] = float(result.residual)
    group.attrs["flagged"] = np.asarray(result.flagged, dtype=np.int64)
    group.attrs["walker_epochs"] = int(result.walker_epochs)


def copy_restrained(source: str | Path, target: h5py.File, y_scale: float) -> None:
    """landscape.h5's `restrained/` from merged.h5's, with the points' y in accuracy units."""
    with open_input_h5(source, "merged landscape") as merged:
        merged.copy(merged["restrained"], target, "restrained")
        target.create_dataset("stderr", data=merged["stderr"][()])
    points = target["restrained/points"]
    if points.shape[1] > 1:
        values = points[()]
        values[:, 1] /= y_scale
        points[...] = values
