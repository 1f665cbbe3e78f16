"""The experiments of the pipeline as typed specs: a dataset, a run, a landscape, a figure.

Each spec is a frozen dataclass built once from the validated config (grokglass.pipeline.experiment)
and used alike by the Snakemake rules, the CLI and the package. A spec owns its name, its
output paths (from grokglass.paths), the inputs it needs, its defaults (here and nowhere
else) and its JSON form (`to_dict` / `from_dict`, what the rules pass to the CLI). Nothing
here imports torch or h5py, so building the DAG stays light.

Long because each spec is a frozen dataclass with its defaults, paths, inputs and JSON form,
and the landscape spec alone (segments, groups, windows, the restrained lattice) is half of it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from grokglass import paths
from grokglass.errors import InputError, SpecError, check_keys, one_line
from grokglass.nets.specs import ModelSpec, TransformerModel, model_from_dict
from grokglass.wlmd.settings import GridSpec, SamplerSettings, WindowSettings, exchange_partner, window_ranges


def as_json(spec) -> str:
    """The spec's JSON form (sorted keys: the same spec always gives the same string)."""
    return json.dumps(spec.to_dict(), sort_keys=True)


# ----- training runs ----------------------------------------------------------------------------
@dataclass(frozen=True)
class WandSettings:
    """WanD dynamics (paper 6.3) of a WanD or hybrid run; defaults are the [D] choices of spec 11 #14."""

    kT: float = 0.5
    friction: float = 0.5
    bias_start: float = -8.0
    bias_strength: float = 3000.0
    wl_factor: float = 20.0
    t_wl: float = 1000.0
    bin_width: float = 0.02
    gaussian_sigma_bins: float = 15.0

    KEYS: ClassVar[tuple[str, ...]] = (
        "kT",
        "friction",
        "bias_start",
        "bias_strength",
        "wl_factor",
        "t_wl",
        "bin_width",
        "gaussian_sigma_bins",
    )

    @classmethod
    def pick(cls, section: dict) -> WandSettings:
        """The WanD keys of a config section (others, such as lr, are the run's)."""
        return cls(**{k: section[k] for k in cls.KEYS if k in section})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


OPTIMIZERS = ("adamw", "adamw_fixed_norm", "wand", "hybrid", "sgld")


@dataclass(frozen=True)
class RunSpec:
    """One training run: a task's split, a model, an optimizer and its settings."""

    name: str
    task: str
    fraction: float
    optimizer: str
    lr: float
    steps: int
    model: ModelSpec = field(default_factory=TransformerModel)
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.98)
    seed: int = 0
    log_every: int = 100
    slope: float = 7.0  # smoothed-accuracy slope
    norm: float | None = None  # adamw_fixed_norm: the held weight norm
    wand: WandSettings | None = None  # wand, hybrid
    horizon: int | None = None  # hybrid: T of alpha(t); default: steps
    alpha_form: str = "parabola"  # hybrid
    temperature: float = 1e-6  # sgld
    stop_at_test_acc: float | None = None

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise SpecError(
                f"run {self.name!r}: unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"
            )
        if self.optimizer == "adamw_fixed_norm" and self.norm is None:
            raise SpecError(f"run {self.name!r}: adamw_fixed_norm needs a norm")
        object.__setattr__(self, "fraction", float(self.fraction))
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        object.__setattr__(self, "model", model_from_dict(self.model))
        if isinstance(self.wand, dict):
            object.__setattr__(self, "wand", WandSettings(**self.wand))

    @property
    def data_path(self) -> str:
        return paths.DATASET.format(task=self.task)

    @property
    def metrics_path(self) -> str:
        return paths.RUN_METRICS.format(run=self.name)

    @property
    def checkpoint_path(self) -> str:
        return paths.RUN_CHECKPOINT.format(run=self.name)

    @property
    def wand_settings(self) -> WandSettings:
        return self.wand or WandSettings()

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update(model=self.model.to_dict(), betas=list(self.betas))
        data["wand"] = self.wand.to_dict() if self.wand else None
        return data

    @classmethod
    def from_dict(cls, data: dict | RunSpec) -> RunSpec:
        if isinstance(data, RunSpec):
            return data
        check_keys(cls, data, f"run {data.get('name', '?')!r}")
        return cls(**data)


@dataclass(frozen=True)
class SnapshotSpec:
    """The layer analysis of one Ising run (spec 10.4): snapshots at log-spaced steps."""

    run: RunSpec
    n_snapshots: int = 30
    update_window: int = 20
    max_points: int | None = None

    @property
    def snapshots_path(self) -> str:
        return paths.ISING_SNAPSHOTS

    @property
    def metrics_path(self) -> str:
        return paths.ISING_SNAPSHOT_METRICS

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "run": self.run.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> SnapshotSpec:
        check_keys(cls, data, "snapshot spec")
        return cls(**{**data, "run": RunSpec.from_dict(data["run"])})


# ----- WLMD landscapes ----------------------------------------------------------------------------
RESTRAINED_STARTS = ("init", "trained")


@dataclass(frozen=True)
class RestrainedLandscape:
    """How a landscape is measured with restrained windows (config `wlmd.restrained`; the library
    method is grokglass.wlmd.restrained): a lattice of `x_windows` centres spaced evenly from the
    grid's top x bin down to its bottom one, times the smoothed test accuracies `accuracies`
    (empty: x only), `walkers_per_window` walkers in each, `windows_per_job` windows per job.

    The walkers start from `start_checkpoint` (a trained network's model.pt: they come "from
    below", the stationary side on the real network, docs/validation.md) or, when it is empty,
    from the init ("from above"). Windows that fail a test stay in the map unless
    `exclude_flagged` (they are listed and drawn either way); `bootstrap` redraws of the
    windows' forces give the error of every derived number (y*, barrier depths)."""

    x_windows: int
    accuracies: tuple[float, ...] = ()
    stiffness_x: float = 1.0e4
    stiffness_y: float = 1.0e3
    dt: float = 1.0e-3
    friction: float = 5.0e-3
    step_safety: float = 0.2
    relax_steps: int = 3000
    relax_widths: float = 2.0
    walkers_per_window: int = 1
    windows_per_job: int = 8
    start_checkpoint: str = ""
    exclude_flagged: bool = False
    bootstrap: int = 200

    LOG_EVERY: ClassVar[int] = 100  # segments end on a log point, so a continued run is exact

    def __post_init__(self):
        object.__setattr__(self, "accuracies", tuple(float(a) for a in self.accuracies))
        if self.x_windows < 2:
            raise SpecError(f"restrained: x_windows must be >= 2, got {self.x_windows}")
        if any(not 0.0 <= a <= 1.0 for a in self.accuracies) or len(self.accuracies) == 1:
            raise SpecError(f"restrained: accuracies must be none or >= 2 values in [0, 1], got {self.accuracies}")
        for key in ("walkers_per_window", "windows_per_job"):
            if getattr(self, key) < 1:
                raise SpecError(f"restrained: {key} must be >= 1, got {getattr(self, key)}")

    @property
    def n_windows(self) -> int:
        return self.x_windows * max(1, len(self.accuracies))

    def x_centres(self, grid: GridSpec) -> list[float]:
        top, bottom = grid.highs[0] - 0.5 * grid.bin_width, grid.lows[0] + 0.5 * grid.bin_width
        step = (top - bottom) / (self.x_windows - 1)
        return [top - i * step for i in range(self.x_windows)]

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "accuracies": list(self.accuracies)}

    @classmethod
    def from_dict(cls, data: dict | RestrainedLandscape) -> RestrainedLandscape:
        if isinstance(data, RestrainedLandscape):
            return data
        check_keys(cls, data, "restrained")
        return cls(**data)


@dataclass(frozen=True)
class LandscapeSpec:
    """One WLMD entropy landscape S(x = ln L_train, y = y_scale * A_test) (spec 5).

    Sampled in `segments` sequential segments of `epochs_per_segment` epochs; in each,
    the walkers run in groups of `walkers_per_job` (group g: walkers g*wpj .. ), one job
    each, and a merge averages their entropies. `data` defaults to the task's dataset.

    With `windows` (replica-exchange Wang-Landau, grokglass.wlmd.windows), group g is window
    g: its walkers_per_window = walkers_per_job walkers sum their deposits into the window's
    map (share "sum"), neighbouring windows try exchanges at the start of each segment
    (settings.exchange_partner), and the merge stitches the windows' maps into one.

    A segment or merge job does not depend on how many segments follow it, so the rules
    give those jobs the spec without `segments` (`segment_job_dict`): more epochs for a
    finished landscape then add segments instead of redoing them. There `segments` is None.
    """

    name: str
    task: str
    fraction: float
    model: ModelSpec
    walkers: int
    walkers_per_job: int
    epochs_per_segment: int
    seed: int
    sampler: SamplerSettings
    grid: GridSpec
    segments: int | None = None
    slope: float = 7.0  # smoothed test accuracy of the y coordinate
    y_scale: float = 10.0  # grid y = y_scale * accuracy
    data: str = ""
    windows: WindowSettings | None = None
    restrained: RestrainedLandscape | None = None

    # what must not change between the segments of one landscape (the number of segments may)
    IDENTITY_EXCLUDES: ClassVar[tuple[str, ...]] = ("name", "segments")

    def __post_init__(self):
        for key in ("walkers", "walkers_per_job", "segments", "epochs_per_segment"):
            if getattr(self, key) is not None and int(getattr(self, key)) < 1:
                raise SpecError(f"landscape {self.name!r}: {key} must be >= 1, got {getattr(self, key)}")
        if self.walkers_per_job > self.walkers:
            raise SpecError(f"landscape {self.name!r}: walkers_per_job is larger than walkers")
        object.__setattr__(self, "fraction", float(self.fraction))
        object.__setattr__(self, "model", model_from_dict(self.model))
        if not self.data:
            object.__setattr__(self, "data", paths.DATASET.format(task=self.task))
        if self.windows is not None:
            self._check_windows()
        if self.restrained is not None:
            self._check_restrained()

    @property
    def method(self) -> str:
        return "wang_landau" if self.restrained is None else "restrained"

    def _check_restrained(self) -> None:
        what = f"landscape {self.name!r}: restrained"
        try:
            restrained = RestrainedLandscape.from_dict(self.restrained)
        except (TypeError, ValueError) as err:
            raise SpecError(f"{what}: {one_line(err)}") from None
        object.__setattr__(self, "restrained", restrained)
        walkers = restrained.n_windows * restrained.walkers_per_window
        per_job = min(restrained.windows_per_job, restrained.n_windows) * restrained.walkers_per_window
        if (self.walkers, self.walkers_per_job) != (walkers, per_job):
            raise SpecError(
                f"{what}: {restrained.n_windows} windows of {restrained.walkers_per_window} walkers, "
                f"{restrained.windows_per_job} windows per job, need walkers = {walkers} and walkers_per_job = "
                f"{per_job}, got {self.walkers} and {self.walkers_per_job}"
            )
        if self.windows is not None:
            raise SpecError(f"{what}: Wang-Landau windows and restrained windows exclude each other")
        if restrained.accuracies and self.grid.ndim != 2:
            raise SpecError(f"{what}: accuracies need a grid with a y axis")
        if self.epochs_per_segment % RestrainedLandscape.LOG_EVERY:
            raise SpecError(
                f"{what}: epochs_per_segment must be a multiple of {RestrainedLandscape.LOG_EVERY}, "
                f"got {self.epochs_per_segment}"
            )

    def _check_windows(self) -> None:
        windows, what = self.windows, f"landscape {self.name!r}: windows"
        if isinstance(windows, dict):
            try:
                windows = WindowSettings.from_dict(windows)
            except (TypeError, ValueError) as err:
                raise SpecError(f"{what}: {one_line(err)}") from None
            object.__setattr__(self, "windows", windows)
        if self.walkers != windows.n * windows.walkers_per_window or self.walkers_per_job != windows.walkers_per_window:
            raise SpecError(
                f"{what}: {windows.n} windows of {windows.walkers_per_window} walkers need walkers = "
                f"{windows.n * windows.walkers_per_window} and walkers_per_job = {windows.walkers_per_window} "
                f"(one job per window), got {self.walkers} and {self.walkers_per_job}"
            )
        if self.sampler.share != "sum":
            raise SpecError(f"{what}: a window's walkers sum their deposits into its map: the sampler needs share sum")
        if self.grid.bias_low is not None:
            raise SpecError(f"{what}: each window has its own walls; the grid's bias_low must be unset")
        try:
            window_ranges(self.grid, windows)
        except ValueError as err:
            raise SpecError(f"{what}: {one_line(err)}") from None

    def window_bins(self, group: int) -> tuple[int, int]:
        """The [first, last) x bins of window `group` on the landscape's grid."""
        return window_ranges(self.grid, self.windows)[group]

    def exchange_partner(self, segment: int, group: int) -> int | None:
        """The window whose walkers window `group` tries to swap with before `segment`."""
        return exchange_partner(segment, group, self.windows.n) if self.windows else None

    @property
    def groups(self) -> int:
        return math.ceil(self.walkers / self.walkers_per_job)

    @property
    def epochs(self) -> int:
        """Epochs per walker over all segments."""
        return self._segments() * self.epochs_per_segment

    def _segments(self) -> int:
        if self.segments is None:
            raise ValueError(f"landscape {self.name!r}: this spec of one segment job does not know the segment count")
        return self.segments

    def group_walker_ids(self, group: int) -> list[int]:
        if not 0 <= group < self.groups:
            raise ValueError(
                f"group {group} out of range: the landscape has {self.groups} groups "
                f"({self.walkers} walkers, {self.walkers_per_job} per job)"
            )
        per_job = self.walkers_per_job
        return list(range(group * per_job, min((group + 1) * per_job, self.walkers)))

    def check_segment(self, segment: int) -> None:
        if segment < 0 or (self.segments is not None and segment >= self.segments):
            raise SpecError(f"segment {segment} out of range: landscape {self.name} has {self.segments} segments")

    # paths
    def state_path(self, segment: int, group: int) -> str:
        return paths.SEGMENT_STATE.format(landscape=self.name, seg=segment, group=group)

    def entropy_path(self, segment: int, group: int) -> str:
        return paths.SEGMENT_ENTROPY.format(landscape=self.name, seg=segment, group=group)

    def merged_path(self, segment: int) -> str:
        return paths.MERGED.format(landscape=self.name, seg=segment)

    @property
    def landscape_path(self) -> str:
        return paths.LANDSCAPE.format(landscape=self.name)

    @property
    def final_merged_path(self) -> str:
        return self.merged_path(self._segments() - 1)

    def segment_inputs(self, segment: int, group: int) -> dict[str, str]:
        """Segment s needs the dataset, and for s > 0 the previous merge and this group's state."""
        self.check_segment(segment)
        inputs = {"data": self.data}
        if self.restrained is not None:  # a group of windows needs only its own previous state
            if segment > 0:
                inputs["state"] = self.state_path(segment - 1, group)
            elif self.restrained.start_checkpoint:
                inputs["start"] = self.restrained.start_checkpoint
            return inputs
        if segment > 0:
            inputs.update(merged=self.merged_path(segment - 1), state=self.state_path(segment - 1, group))
            partner = self.exchange_partner(segment, group)
            if partner is not None:
                inputs["partner_state"] = self.state_path(segment - 1, partner)
        return inputs

    def merge_inputs(self, segment: int) -> dict[str, Any]:
        self.check_segment(segment)
        inputs: dict[str, Any] = {"groups": [self.entropy_path(segment, g) for g in range(self.groups)]}
        if segment > 0:
            inputs["prev"] = self.merged_path(segment - 1)
        return inputs

    # JSON forms
    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update(model=self.model.to_dict(), sampler=self.sampler.to_dict(), grid=self.grid.to_dict())
        data["grid"].update(lows=list(self.grid.lows), highs=list(self.grid.highs))
        if self.windows is None:  # added later: landscapes without windows keep their JSON form
            del data["windows"]
        else:
            data["windows"] = self.windows.to_dict()
        if self.restrained is None:  # the same for the restrained method
            del data["restrained"]
        else:
            data["restrained"] = self.restrained.to_dict()
        return data

    def segment_job_dict(self) -> dict:
        """The JSON form a segment or merge job gets: without the segment count (class docstring)."""
        return {k: v for k, v in self.to_dict().items() if k != "segments"}

    def identity(self) -> dict:
        """The JSON form without what may differ between the segments of one landscape."""
        return {k: v for k, v in self.to_dict().items() if k not in self.IDENTITY_EXCLUDES}

    def identity_difference(self, other: dict) -> str | None:
        """The first identity key whose value differs from `other` (a stored to_dict()), or None."""
        differences = self.identity_differences(other)
        return differences[0] if differences else None

    def identity_differences(self, other: dict) -> list[str]:
        """The identity keys whose values differ from `other` (a stored to_dict()), sorted."""
        mine = self.identity()
        keys = sorted(set(mine) | (set(other) - set(self.IDENTITY_EXCLUDES)))
        return [k for k in keys if json.dumps(mine.get(k), sort_keys=True) != json.dumps(other.get(k), sort_keys=True)]

    def check_input(self, path, what: str, stored: dict | None) -> None:
        """Refuse an input file (`what`, e.g. "merged landscape") made for another landscape:
        `stored` is the spec it carries (its to_dict()). One line names the file and the keys."""
        if not isinstance(stored, dict):
            raise InputError(
                f"{path}: the {what} carries no landscape spec, so it cannot be checked against {self.name!r}"
            )
        differences = leaf_differences(stored, self.identity(), self.identity_differences(stored))
        if differences:
            shown = "; ".join(f"{key}: file {short(a)}, spec {short(b)}" for key, a, b in differences[:3])
            more = f"; and {len(differences) - 3} more" if len(differences) > 3 else ""
            owner = stored.get("name", "?")
            whose = (
                f"belongs to landscape {owner!r}, not {self.name!r}"
                if owner != self.name
                else (f"was made with other settings of landscape {self.name!r}")
            )
            raise InputError(f"{path}: this {what} {whose} ({shown}{more})")

    @classmethod
    def from_dict(cls, data: dict | LandscapeSpec) -> LandscapeSpec:
        """From the JSON form; `grid` may also be written as in config.yaml (x: [lo, hi], y: [lo, hi])."""
        if isinstance(data, LandscapeSpec):
            return data
        data = dict(data)
        what = f"landscape {data.get('name', '?')!r}"
        check_keys(cls, data, what)
        try:
            data["grid"] = grid_from_config(data["grid"])
            data["sampler"] = SamplerSettings.from_dict(data["sampler"])
            return cls(**data)
        except SpecError:
            raise
        except (KeyError, TypeError, ValueError) as err:
            raise SpecError(f"{what}: {one_line(err)}") from None


def leaf_differences(found: dict, expected: dict, keys: list[str]) -> list[tuple[str, Any, Any]]:
    """(dotted key, found, expected) for each differing key, descending into mappings."""
    out = []
    for key in keys:
        a, b = found.get(key), expected.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            inner = [k for k in sorted(set(a) | set(b)) if json.dumps(a.get(k)) != json.dumps(b.get(k))]
            out += [(f"{key}.{k}", a.get(k), b.get(k)) for k in inner]
        else:
            out.append((key, a, b))
    return out


def short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def grid_from_config(grid: dict | GridSpec) -> GridSpec:
    """The 2-D GridSpec of a `wlmd.grid` section (x, y ranges) or of a GridSpec's dict."""
    if isinstance(grid, GridSpec):
        return grid
    grid = dict(grid)
    if "x" in grid or "y" in grid:
        x, y = grid.pop("x"), grid.pop("y")
        grid.update(lows=(float(x[0]), float(y[0])), highs=(float(x[1]), float(y[1])))
    try:
        return GridSpec.from_dict(grid)
    except TypeError as err:
        raise SpecError(f"grid: {err}") from None


# ----- figures ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FigureSpec:
    """One call of a function of grokglass.figures: its input files and its keyword arguments.

    `inputs` is the explicit list of files the figure reads (the DAG edges); `kwargs` holds
    everything the function is called with, paths included.
    """

    name: str
    function: str
    inputs: tuple[str, ...]
    kwargs: dict

    def __post_init__(self):
        object.__setattr__(self, "inputs", tuple(self.inputs))

    @property
    def outputs(self) -> list[str]:
        return paths.figure_files(self.name)

    def to_dict(self) -> dict:
        return {"name": self.name, "function": self.function, "inputs": list(self.inputs), "kwargs": self.kwargs}
