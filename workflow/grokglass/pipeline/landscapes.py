"""The entropy landscapes of the experiment, as LandscapeSpecs built from the validated config:
Fig 1's (one per task), Fig 2's (one per width on the norm shell), the Ising classifier's, and the
paper-protocol cross-check; each by Wang-Landau or by restrained windows (wlmd.method).
"""

from __future__ import annotations

import math

from grokglass import paths
from grokglass.errors import SpecError
from grokglass.nets.specs import DenseModel
from grokglass.pipeline.config import deep_merge, expression_tasks
from grokglass.pipeline.runs import baseline_run_name, fixed_norm_run_name, ising_landscape_name, transformer
from grokglass.pipeline.specs import (
    LandscapeSpec,
    RestrainedLandscape,
    grid_from_config,
)
from grokglass.wlmd.settings import SamplerSettings, WindowSettings


# ----- landscapes --------------------------------------------------------------------------------
def _landscape(
    wlmd: dict,
    config: dict,
    name: str,
    task: str,
    constraint: str,
    epochs: int,
    model,
    windows: dict | None = None,
    grid: dict | None = None,
    restrained: RestrainedLandscape | None = None,
) -> LandscapeSpec:
    """One landscape; `grid`: keys of its own over wlmd.grid (e.g. a deeper x range);
    `restrained`: measured with restrained windows (_restrained), `epochs` then per window."""
    sampler = {k: v for k, v in wlmd["sampler"].items() if k != "y_scale"}
    walkers, walkers_per_job = wlmd["walkers"], wlmd["walkers_per_job"]
    if restrained is not None:  # one job per group of windows
        windows = None
        per_window = restrained.walkers_per_window
        walkers = restrained.n_windows * per_window
        walkers_per_job = min(restrained.windows_per_job, restrained.n_windows) * per_window
    if windows:  # the walkers split evenly into windows, one job each, deposits summed
        windows = _window_settings(name, windows, walkers, wlmd["epochs_per_segment"])
        walkers, walkers_per_job = windows.n * windows.walkers_per_window, windows.walkers_per_window
        sampler["share"] = "sum"
    return LandscapeSpec(
        name=name,
        task=task,
        fraction=wlmd["fraction"],
        model=model,
        walkers=walkers,
        walkers_per_job=walkers_per_job,
        segments=max(1, math.ceil(epochs / wlmd["epochs_per_segment"])),
        epochs_per_segment=wlmd["epochs_per_segment"],
        seed=wlmd["seed"],
        sampler=SamplerSettings.from_dict({**sampler, "constraint": constraint}),
        grid=grid_from_config(deep_merge(wlmd["grid"], grid or {})),
        slope=config["training"]["slope"],
        y_scale=wlmd["sampler"].get("y_scale", LandscapeSpec.y_scale),
        windows=windows or None,
        restrained=restrained,
    )


def _method(wlmd: dict, family: dict) -> str:
    """A family's method (grokking.method, shell.method), else wlmd.method, else the paper's."""
    return family.get("method", wlmd.get("method", "wang_landau"))


def _restrained(
    name: str, wlmd: dict, family: dict, checkpoint: str, own: dict | None = None
) -> tuple[RestrainedLandscape, int]:
    """(the restrained settings, epochs per walker) of one landscape: wlmd.restrained with the
    family's `restrained` keys over it, and the landscape's `own` keys (restrained_by_task) over
    those; start "trained" begins at `checkpoint` (from below)."""
    section = deep_merge(deep_merge(wlmd.get("restrained") or {}, family.get("restrained") or {}), own or {})
    if "epochs" not in section or "x_windows" not in section:
        raise SpecError(f"landscape {name!r}: method restrained needs wlmd.restrained.epochs and x_windows")
    section = dict(section)
    epochs = section.pop("epochs")
    stiffness = section.pop("stiffness", None)
    if stiffness is not None:
        section.update(stiffness_x=stiffness[0], stiffness_y=stiffness[1])
    section["start_checkpoint"] = checkpoint if section.pop("start", "trained") == "trained" else ""
    return RestrainedLandscape(**section), epochs


def _window_settings(name: str, windows: dict, walkers: int, epochs_per_segment: int) -> WindowSettings:
    """A `windows` config section as WindowSettings: its walkers_per_window, or the walkers split
    evenly; exchanges at merges."""
    windows, n = dict(windows), windows["n"]
    if "walkers_per_window" not in windows:
        if walkers % n:
            raise SpecError(f"landscape {name!r}: {walkers} walkers do not split evenly into {n} windows")
        windows["walkers_per_window"] = walkers // n
    try:
        return WindowSettings(**windows, exchange_every=epochs_per_segment)
    except ValueError as err:
        raise SpecError(f"landscape {name!r}: windows: {err}") from None


def _task_windows(grok: dict, task: str, default: dict | None) -> dict | None:
    """A grokking landscape's windows: windows_by_task[task] (null: none), else grokking.windows,
    else wlmd.windows."""
    by_task = grok.get("windows_by_task") or {}
    return by_task[task] if task in by_task else grok.get("windows", default)


def _task_grid(grok: dict, task: str) -> dict:
    """A grokking landscape's own grid keys: grokking.grid, then grid_by_task[task] over it."""
    return deep_merge(grok.get("grid") or {}, (grok.get("grid_by_task") or {}).get(task) or {})


def grokking_landscape_name(task: str) -> str:
    return f"grok_{task}"


def shell_landscape_name(width: int) -> str:
    return f"shell_w{width}"


def all_landscapes(config: dict) -> list[LandscapeSpec]:
    w = config["wlmd"]
    grok, shell = w["grokking"], w["shell"]
    out = []
    for task in expression_tasks(config):
        name, epochs, restrained = grokking_landscape_name(task), grok.get("epochs_by_task", {}).get(task), None
        epochs = epochs or grok["epochs"]
        if (grok.get("method_by_task") or {}).get(task, _method(w, grok)) == "restrained":  # from below: its AdamW net
            checkpoint = paths.RUN_CHECKPOINT.format(run=baseline_run_name(task))
            own = (grok.get("restrained_by_task") or {}).get(task)
            restrained, epochs = _restrained(name, w, grok, checkpoint, own)
        windows = _task_windows(grok, task, w.get("windows"))
        out.append(
            _landscape(
                w,
                config,
                name,
                task,
                "bounds",
                epochs,
                transformer(config),
                windows,
                _task_grid(grok, task),
                restrained,
            )
        )
    for width in shell["widths"]:
        name, epochs, restrained = shell_landscape_name(width), shell["epochs"], None
        if _method(w, shell) == "restrained":  # from below: the fixed-norm network of that width
            restrained, epochs = _restrained(name, w, shell, _fixed_norm_checkpoint(config, width))
        model = transformer(config, d_model=width)
        windows = shell.get("windows", w.get("windows"))
        out.append(
            _landscape(w, config, name, shell["task"], "shell", epochs, model, windows, shell.get("grid"), restrained)
        )
    landscape = ising_landscape(config)
    return out + ([landscape] if landscape else []) + crosscheck_landscapes(config)


def _fixed_norm_checkpoint(config: dict, width: int) -> str:
    """The trained shell network a restrained shell landscape starts from."""
    if width not in config["fixed_norm"]["widths"]:
        raise SpecError(
            f"wlmd.shell: the restrained shell landscape of width {width} starts from the fixed-norm run of that "
            f"width, but fixed_norm.widths is {config['fixed_norm']['widths']} (add it, or use restrained.start: init)"
        )
    return paths.RUN_CHECKPOINT.format(run=fixed_norm_run_name(width))


def paper_landscape_name(task: str) -> str:
    return f"paper_{task}"


def crosscheck_landscapes(config: dict) -> list[LandscapeSpec]:
    """wlmd.crosscheck: the paper's protocol on one task (one map on wlmd.grid, no windows), to
    compare with the task's windowed grokking landscape (the crosscheck figure)."""
    w = config["wlmd"]
    section = w.get("crosscheck")
    if not section:
        return []
    task = section["task"]
    if task not in expression_tasks(config):
        raise SpecError(f"wlmd.crosscheck: task {task!r} is not an expression task of `tasks:`")
    if _method(w, w["grokking"]) == "wang_landau" and not _task_windows(w["grokking"], task, w.get("windows")):
        raise SpecError(
            f"wlmd.crosscheck: the grokking landscape of {task!r} has no windows, so it already runs the "
            "paper's protocol: nothing to compare (give it windows or method restrained, or drop the section)"
        )
    return [_landscape(w, config, paper_landscape_name(task), task, "bounds", section["epochs"], transformer(config))]


def ising_landscape(config: dict) -> LandscapeSpec | None:
    """The WLMD landscape of the base Ising classifier (not in any paper), without dropout."""
    section = config.get("ising")
    if not section or not section.get("landscape"):
        return None
    spec = section["landscape"]
    wlmd = deep_merge(config["wlmd"], {key: spec[key] for key in ("sampler", "grid") if key in spec})
    wlmd["fraction"] = section["fraction"]
    model = {k: v for k, v in section["model"].items() if k not in ("kind", "dropout")}
    return _landscape(
        wlmd, config, ising_landscape_name(config), section["task"], "bounds", spec["epochs"], DenseModel(**model)
    )
