"""The validated config expanded into every experiment of the pipeline, as typed specs.

`build(config)` turns the resolved config (grokglass.config.resolve) into an
:class:`Experiment`: the datasets, runs, landscapes and figures of the DAG, each a spec
of grokglass.specs. Adding a task or a fraction to config.yaml adds its specs here with
no code change. Like the specs, this module imports neither torch nor h5py.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from grokglass import paths
from grokglass.config import ConfigError, deep_merge, expression_tasks, ising_tasks, load
from grokglass.specs import (
    DatasetSpec,
    DenseModel,
    ExpressionDataset,
    FigureSpec,
    IsingDataset,
    LandscapeSpec,
    RestrainedLandscape,
    RunSpec,
    SnapshotSpec,
    SpecError,
    TransformerModel,
    WandSettings,
    grid_from_config,
)
from grokglass.wlmd.settings import SamplerSettings, WindowSettings

PAPER_FIGURES = ("fig1", "fig2", "fig3", "fig4", "fig5", "fig6", "fig7", "fig8")
# figures whose landscapes go into landscape_summary.csv, each compared with its runs
SUMMARY_FIGURES = ("fig1", "fig2", "ising_landscape")
# sweepable settings of the Ising run -> (where they live: model or run, label in run names,
# symbol in panel titles)
ISING_SWEEP_KEYS = {
    "inverse_temperature": ("model", "beta", "β_s"),
    "dropout": ("model", "drop", "dropout"),
    "init_scale": ("model", "init", "init ×"),
    "weight_decay": ("run", "wd", "weight decay"),
    "lr": ("run", "lr", "lr"),
}


@dataclass(frozen=True)
class Experiment:
    """Everything the DAG holds, keyed by name (the rules' wildcards)."""

    config: dict
    datasets: dict[str, DatasetSpec]
    runs: dict[str, RunSpec]
    landscapes: dict[str, LandscapeSpec]
    figures: dict[str, FigureSpec]  # the `figure` rule: Figures 1-8 and the Ising figures
    convergence: dict[str, FigureSpec]  # per landscape
    summary: FigureSpec
    kozyrev: FigureSpec | None
    snapshots: SnapshotSpec | None

    @property
    def device(self) -> str:
        return self.config.get("device", "auto")

    @property
    def matmul_precision(self) -> str:
        return self.config.get("matmul_precision", "fp32")

    @property
    def epoch_capture(self) -> str:
        """How WLMD segment jobs run an epoch (wlmd.sampler.CAPTURES)."""
        return self.config.get("epoch_capture", "eager")

    def outputs(self) -> list[str]:
        """The targets of `rule all`."""
        out = []
        if self.kozyrev is not None:
            out += [paths.figure_file(self.kozyrev.name, "png"), paths.KOZYREV_FITS]
        for figure in self.figures.values():
            out += figure.outputs
        out.append(paths.LANDSCAPE_SUMMARY)
        out += [paths.figure_file(spec.name, "png") for spec in self.convergence.values()]
        return out


def load_experiment(path: str, scale: str | None = None) -> Experiment:
    """The experiment of a config file (validated, at `scale`: default the file's own)."""
    return build(load(path, scale=scale))


def build(config: dict) -> Experiment:
    """All specs of a resolved config (grokglass.config.resolve)."""
    try:
        runs = {run.name: run for run in _all_runs(config)}
        landscapes = {spec.name: spec for spec in _all_landscapes(config)}
    except (SpecError, TypeError, ValueError) as err:
        raise ConfigError(f"config error: {err}") from None
    snapshots = ising_snapshot_spec(config)
    figures = figure_specs(config, runs, landscapes, snapshots)
    return Experiment(
        config=config,
        datasets=dataset_specs(config),
        runs=runs,
        landscapes=landscapes,
        figures=figures,
        convergence={name: convergence_spec(spec) for name, spec in landscapes.items()},
        summary=summary_spec(figures, landscapes, runs),
        kozyrev=kozyrev_spec(config),
        snapshots=snapshots,
    )


# ----- datasets ----------------------------------------------------------------------------------
def dataset_specs(config: dict) -> dict[str, DatasetSpec]:
    """One dataset per task. It depends only on what defines its examples, never on fractions."""
    out: dict[str, DatasetSpec] = {}
    for name, expression in expression_tasks(config).items():
        out[name] = ExpressionDataset(name, expression, int(config["p"]), int(config["split_seed"]))
    for name, task in ising_tasks(config).items():
        out[name] = IsingDataset.from_config(name, task, int(config["split_seed"]))
    return out


# ----- runs --------------------------------------------------------------------------------------
def fraction_label(fraction: float) -> str:
    return f"f{float(fraction):g}"


def baseline_run_name(task: str) -> str:
    return f"adamw_{task}"


def transformer(config: dict, **overrides) -> TransformerModel:
    return TransformerModel(**{**config["model"], **overrides})


def _run(config: dict, name: str, task: str, fraction: float, optimizer: str, **settings) -> RunSpec:
    training = config["training"]
    base = dict(
        model=transformer(config),
        steps=training["steps"],
        seed=training["seed"],
        log_every=training["log_every"],
        slope=training["slope"],
    )
    return RunSpec(name=name, task=task, fraction=fraction, optimizer=optimizer, **{**base, **settings})


def _all_runs(config: dict) -> list[RunSpec]:
    return [
        *baseline_runs(config),
        *fixed_norm_runs(config),
        wand_run(config),
        *sweep_runs(config),
        *kozyrev_runs(config),
        *ising_runs(config).values(),
    ]


def baseline_runs(config: dict) -> list[RunSpec]:
    """One AdamW run per expression task (Table 1 rows 4-6)."""
    base = config["baseline"]
    return [
        _run(
            config,
            baseline_run_name(task),
            task,
            base["fraction"],
            "adamw",
            lr=base.get("lr_by_task", {}).get(task, base["lr"]),
            weight_decay=base["weight_decay"],
        )
        for task in expression_tasks(config)
    ]


def fixed_norm_run_name(width: int) -> str:
    return f"fixednorm_w{width}"


def fixed_norm_runs(config: dict) -> list[RunSpec]:
    """AdamW at a fixed weight norm, one run per width (Table 1 rows 1-3)."""
    fixed = config["fixed_norm"]
    return [
        _run(
            config,
            fixed_norm_run_name(width),
            fixed["task"],
            fixed["fraction"],
            "adamw_fixed_norm",
            model=transformer(config, d_model=width),
            lr=fixed["lr"],
            weight_decay=fixed["weight_decay"],
            norm=fixed["norm"],
        )
        for width in fixed["widths"]
    ]


def wand_run_name(config: dict) -> str:
    return f"wand_{config['wand']['task']}"


def wand_run(config: dict) -> RunSpec:
    wand = config["wand"]
    return _run(
        config,
        wand_run_name(config),
        wand["task"],
        wand["fraction"],
        "wand",
        lr=wand["lr"],
        weight_decay=0.0,
        wand=WandSettings.pick(wand),
    )


def sweep_run_name(sweep: str, optimizer: str, fraction: float) -> str:
    return f"{sweep}_{optimizer}_{fraction_label(fraction)}"


def sweep_horizon(sweep: dict, index: int) -> int:
    return sweep["horizon_first"] if index == 0 else sweep["horizon_rest"]


def sweep_runs(config: dict) -> list[RunSpec]:
    """Per split sweep (Fig 7, 8) and fraction: an AdamW run and a WanD/AdamW hybrid run."""
    out = []
    for sweep_name, sweep in config["sweeps"].items():
        for i, fraction in enumerate(config["fractions"]):
            horizon = sweep_horizon(sweep, i)
            for optimizer in ("adamw", "hybrid"):
                settings = sweep[optimizer]
                hybrid = {"horizon": horizon, "wand": WandSettings.pick(settings)} if optimizer == "hybrid" else {}
                name = sweep_run_name(sweep_name, optimizer, fraction)
                out.append(
                    _run(
                        config,
                        name,
                        sweep["task"],
                        fraction,
                        optimizer,
                        steps=horizon,
                        lr=settings["lr"],
                        weight_decay=settings["weight_decay"],
                        **hybrid,
                    )
                )
    return out


def kozyrev_runs(config: dict) -> list[RunSpec]:
    """The runs of the grokking-time analysis: task x optimizer x fraction x seed."""
    section = config.get("kozyrev")
    if not section:
        return []
    out = []
    for task in section["tasks"]:
        for label, settings in section["optimizers"].items():
            wand = WandSettings.pick(settings)
            settings = {k: v for k, v in settings.items() if k not in WandSettings.KEYS}
            optimizer = settings.pop("optimizer")
            max_steps = settings.pop("max_steps", section["max_steps"])
            if optimizer in ("wand", "hybrid"):
                settings["wand"] = wand
            for fraction in section["fractions"]:
                for seed in kozyrev_seeds(section):
                    name = f"koz_{task}_{label}_{fraction_label(fraction)}_s{seed}"
                    out.append(
                        _run(
                            config,
                            name,
                            task,
                            fraction,
                            optimizer,
                            steps=max_steps,
                            seed=seed,
                            stop_at_test_acc=section["stop_at_test_acc"],
                            **settings,
                        )
                    )
    return out


def kozyrev_seeds(section: dict) -> list[int]:
    """`seeds` is a replicate count n (seeds 0..n-1, a size a scale may change) or a list of seeds."""
    seeds = section["seeds"]
    return list(range(seeds)) if isinstance(seeds, int) else list(seeds)


def kozyrev_spec(config: dict) -> FigureSpec | None:
    runs = kozyrev_runs(config)
    if not runs:
        return None
    metrics = [run.metrics_path for run in runs]
    return FigureSpec(
        name=paths.KOZYREV_FIGURE,
        function="kozyrev",
        inputs=metrics,
        kwargs={"metrics_paths": metrics, "out_prefix": paths.FIGURE_PREFIX.format(figure=paths.KOZYREV_FIGURE)},
    )


# ----- the Ising classifier (spec 10): sweeps, layer analysis, WLMD landscape ----------------------
def _ising_setting(run: RunSpec, key: str) -> float:
    where = ISING_SWEEP_KEYS[key][0]
    return float(getattr(run.model if where == "model" else run, key))


def ising_run(config: dict, **values) -> RunSpec:
    """The Ising run with the base settings of `ising:` and `values` (sweep keys) replaced."""
    section = config["ising"]
    model = dict(section["model"])
    settings = {"lr": section["lr"], "weight_decay": section["weight_decay"]}
    for key, value in values.items():
        (model if ISING_SWEEP_KEYS[key][0] == "model" else settings)[key] = value
    model.pop("kind", None)
    run = RunSpec(
        name="",
        task=section["task"],
        fraction=section["fraction"],
        optimizer="adamw",
        model=DenseModel(**model),
        steps=section["steps"],
        seed=section["seed"],
        log_every=section["log_every"],
        slope=config["training"]["slope"],
        **settings,
    )
    labels = [f"{ISING_SWEEP_KEYS[key][1]}{_ising_setting(run, key):g}" for key in section.get("sweeps", {})]
    return dataclasses.replace(run, name="_".join([section["task"], *labels]))  # e.g. ising_beta1_wd0.01_drop0


def ising_sweep_runs(config: dict) -> dict[str, list[RunSpec]]:
    """Per sweep key: the run of each of its values, in config order."""
    if not config.get("ising"):
        return {}
    return {
        key: [ising_run(config, **{key: value}) for value in values]
        for key, values in config["ising"].get("sweeps", {}).items()
    }


def ising_runs(config: dict) -> dict[str, RunSpec]:
    """The base Ising run and one run per value of every sweep (a value equal to the base's is one run)."""
    if not config.get("ising"):
        return {}
    base = ising_run(config)
    out = {base.name: base}
    for runs in ising_sweep_runs(config).values():
        out.update((run.name, run) for run in runs)
    return out


def ising_snapshot_spec(config: dict) -> SnapshotSpec | None:
    """The layer analysis of the base Ising run with `pca.settings` applied."""
    section = config.get("ising")
    if not section:
        return None
    pca = section["pca"]
    options = {k: pca[k] for k in ("n_snapshots", "update_window", "max_points") if k in pca}
    return SnapshotSpec(run=ising_run(config, **pca.get("settings", {})), **options)


def ising_landscape_name(config: dict) -> str:
    return f"dense_{config['ising']['task']}"


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


def _all_landscapes(config: dict) -> list[LandscapeSpec]:
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


# ----- figures -----------------------------------------------------------------------------------
def _letter(i: int) -> str:
    return f"({chr(97 + i)})"


def _landscape_figure(name: str, function: str, landscapes: list[LandscapeSpec], runs: list[RunSpec], titles):
    landscape_paths = [spec.landscape_path for spec in landscapes]
    metrics_paths = [run.metrics_path for run in runs]
    return FigureSpec(
        name=name,
        function=function,
        inputs=landscape_paths + metrics_paths,
        kwargs={
            "landscape_paths": landscape_paths,
            "metrics_paths": metrics_paths,
            "titles": list(titles),
            "out_prefix": paths.FIGURE_PREFIX.format(figure=name),
        },
    )


def _curves_figure(name: str, function: str, runs: list[RunSpec], titles) -> FigureSpec:
    metrics_paths = [run.metrics_path for run in runs]
    return FigureSpec(
        name=name,
        function=function,
        inputs=metrics_paths,
        kwargs={
            "metrics_paths": metrics_paths,
            "titles": list(titles),
            "out_prefix": paths.FIGURE_PREFIX.format(figure=name),
        },
    )


def figure_specs(config: dict, runs: dict, landscapes: dict, snapshots: SnapshotSpec | None) -> dict:
    """Figures 1-8 (and any extra split sweep), then the Ising figures."""
    expressions = expression_tasks(config)
    tasks = list(expressions)
    p = config["p"]
    shell_widths = config["wlmd"]["shell"]["widths"]
    norm_widths = config["fixed_norm"]["widths"]
    shell_norm = config["wlmd"]["sampler"]["shell_norm"]
    baselines = [runs[baseline_run_name(t)] for t in tasks]
    fixed = [runs[fixed_norm_run_name(w)] for w in norm_widths]
    wand_task = config["wand"]["task"]
    figures = [
        _landscape_figure(
            "fig1",
            "fig1",
            [landscapes[grokking_landscape_name(t)] for t in tasks],
            baselines,
            [f"{_letter(i)} {expressions[t]} mod {p}" for i, t in enumerate(tasks)],
        ),
        _landscape_figure(
            "fig2",
            "fig2",
            [landscapes[shell_landscape_name(w)] for w in shell_widths],
            fixed,
            [f"{_letter(i)} width {w}, |θ| = {shell_norm:g}" for i, w in enumerate(shell_widths)],
        ),
        fig3_spec(runs[wand_run_name(config)], runs[baseline_run_name(wand_task)]),
        fig4_spec(config, tasks, [f"{_letter(i)} {expressions[t]} mod {p}" for i, t in enumerate(tasks)]),
        _curves_figure("fig5", "fig5", baselines, [f"{_letter(i)} {expressions[t]}" for i, t in enumerate(tasks)]),
        _curves_figure("fig6", "fig6", fixed, [f"{_letter(i)} width {w}" for i, w in enumerate(norm_widths)]),
    ]
    figures += [sweep_figure(config, name, runs) for name in config["sweeps"]]
    figures += ising_figures(config, runs, landscapes, snapshots)
    crosscheck = config["wlmd"].get("crosscheck")
    if crosscheck:
        task = crosscheck["task"]
        figures.append(
            crosscheck_spec(landscapes[grokking_landscape_name(task)], landscapes[paper_landscape_name(task)])
        )
    return {figure.name: figure for figure in figures}


def crosscheck_figure_name(task: str) -> str:
    return f"crosscheck_{task}"


def crosscheck_spec(fast: LandscapeSpec, paper: LandscapeSpec) -> FigureSpec:
    """The windowed map against the paper protocol's, with each one's last merge but one (the
    segment-to-segment noise over the bins both cover; none for a one-segment landscape)."""
    previous = [
        paths.MERGED.format(landscape=spec.name, seg=spec.segments - 2) if spec.segments >= 2 else None
        for spec in (fast, paper)
    ]
    name = crosscheck_figure_name(fast.task)
    return FigureSpec(
        name=name,
        function="crosscheck",
        inputs=[fast.landscape_path, paper.landscape_path, *[path for path in previous if path]],
        kwargs={
            "fast_path": fast.landscape_path,
            "paper_path": paper.landscape_path,
            "fast_previous": previous[0],
            "paper_previous": previous[1],
            "out_prefix": paths.FIGURE_PREFIX.format(figure=name),
        },
    )


def fig3_spec(wand: RunSpec, adamw: RunSpec) -> FigureSpec:
    return FigureSpec(
        name="fig3",
        function="fig3",
        inputs=[wand.metrics_path, adamw.metrics_path],
        kwargs={
            "wand_metrics": wand.metrics_path,
            "adamw_metrics": adamw.metrics_path,
            "out_prefix": paths.FIGURE_PREFIX.format(figure="fig3"),
        },
    )


def fig4_spec(config: dict, tasks: list[str], titles: list[str]) -> FigureSpec:
    dataset_paths = [paths.DATASET.format(task=t) for t in tasks]
    return FigureSpec(
        name="fig4",
        function="fig4",
        inputs=dataset_paths,
        kwargs={
            "dataset_paths": dataset_paths,
            "titles": titles,
            "fraction": config["baseline"]["fraction"],
            "out_prefix": paths.FIGURE_PREFIX.format(figure="fig4"),
        },
    )


def sweep_figure(config: dict, name: str, runs: dict) -> FigureSpec:
    """A split sweep's figure: Fig 8 for `fig8`, the Fig 7 layout for every other sweep."""
    sweep = config["sweeps"][name]
    fractions = [float(f) for f in config["fractions"]]
    adamw = [runs[sweep_run_name(name, "adamw", f)].metrics_path for f in fractions]
    hybrid = [runs[sweep_run_name(name, "hybrid", f)].metrics_path for f in fractions]
    return FigureSpec(
        name=name,
        function=name if name in PAPER_FIGURES else "fig7",
        inputs=adamw + hybrid,
        kwargs={
            "adamw_paths": adamw,
            "hybrid_paths": hybrid,
            "fractions": fractions,
            "xmax_first": sweep["horizon_first"],
            "xmax_rest": sweep["horizon_rest"],
            "out_prefix": paths.FIGURE_PREFIX.format(figure=name),
        },
    )


def ising_figures(config: dict, runs: dict, landscapes: dict, snapshots: SnapshotSpec | None) -> list[FigureSpec]:
    section = config.get("ising")
    if not section:
        return []
    figures = [
        _curves_figure(
            f"ising_{key}",
            "ising_training",
            sweep,
            [f"{_letter(i)} {ISING_SWEEP_KEYS[key][2]} = {value:g}" for i, value in enumerate(section["sweeps"][key])],
        )
        for key, sweep in ising_sweep_runs(config).items()
    ]
    figures.append(
        FigureSpec(
            name="ising_pca",
            function="ising_pca",
            inputs=[snapshots.snapshots_path],
            kwargs={
                "snapshot_path": snapshots.snapshots_path,
                "out_prefix": paths.FIGURE_PREFIX.format(figure="ising_pca"),
            },
        )
    )
    name = ising_landscape_name(config)
    if name in landscapes:
        task = config["tasks"][section["task"]]
        L = task.get("L", IsingDataset.L)
        figures.append(
            _landscape_figure(
                "ising_landscape",
                "fig1",
                [landscapes[name]],
                [ising_run(config)],
                [f"dense classifier, Ising {L}×{L} energy classes"],
            )
        )
    return figures


def summary_spec(figures: dict[str, FigureSpec], landscapes: dict, runs: dict) -> FigureSpec:
    """landscape_summary.csv: every landscape of Figures 1, 2 and the Ising landscape, with its runs."""
    shown = [figures[name].kwargs for name in SUMMARY_FIGURES if name in figures]
    landscape_paths = [path for kwargs in shown for path in kwargs["landscape_paths"]]
    metrics_paths = [path for kwargs in shown for path in kwargs["metrics_paths"]]
    by_path = {spec.landscape_path: name for name, spec in landscapes.items()}
    return FigureSpec(
        name="landscape_summary",
        function="landscape_summary",
        inputs=landscape_paths + metrics_paths,
        kwargs={
            "landscape_paths": landscape_paths,
            "metrics_paths": metrics_paths,
            "names": [by_path[path] for path in landscape_paths],
            "out_csv": paths.LANDSCAPE_SUMMARY,
        },
    )


def convergence_spec(landscape: LandscapeSpec) -> FigureSpec:
    name = paths.CONVERGENCE_FIGURE.format(landscape=landscape.name)
    return FigureSpec(
        name=name,
        function="convergence",
        inputs=[landscape.landscape_path],
        kwargs={"landscape_path": landscape.landscape_path, "out_prefix": paths.FIGURE_PREFIX.format(figure=name)},
    )
