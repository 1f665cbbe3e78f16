"""config.yaml -> validated settings -> the runs, landscapes and figures of the DAG.

Everything the Snakemake rules iterate over comes from here, so adding a task
or a fraction to config.yaml adds its datasets, runs, landscapes and figure
panels with no code change. Errors are raised as ConfigError with one line
naming the offending key.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import yaml

from grokglass.tasks import TaskError, parse_expression

DEFAULT_SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    pass


# ----- loading, scale overlay, validation --------------------------------------------------
def deep_merge(base: dict, overlay: dict) -> dict:
    """Overlay mappings key by key; a null (None) value in the overlay removes the key."""
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load(path: str | Path, scale: str | None = None, schema: str | Path | None = None) -> dict:
    with open(path) as fh:
        raw = yaml.safe_load(fh)
    if scale is not None:
        raw["scale"] = scale
    return resolve(raw, schema)


def resolve(raw: dict, schema: str | Path | None = None, command_line: dict | None = None) -> dict:
    """Apply the selected scale overlay, validate against the schema, check semantics.

    `command_line`: values given with `snakemake --config key=value` (they are already in
    `raw`, but the scale overlay would override them); applied again after the overlay so that
    e.g. `--config device=cuda` wins over the quick scale's `device: cpu`.
    """
    if not isinstance(raw, dict):
        raise ConfigError("config error: the config must be a mapping")
    scale = raw.get("scale", "paper")
    scales = raw.get("scales", {}) or {}
    if scale not in scales and scale != "paper":
        raise ConfigError(f"config error at scale: {scale!r} is not one of scales ({', '.join(scales) or 'none'})")
    config = deep_merge(raw, scales.get(scale) or {})
    config = deep_merge(config, {k: v for k, v in (command_line or {}).items() if k != "scale"})
    validate_schema(config, schema or DEFAULT_SCHEMA)
    check_semantics(config)
    return config


def validate_schema(config: dict, schema_path: str | Path) -> None:
    import jsonschema

    with open(schema_path) as fh:
        schema = yaml.safe_load(fh)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        error = jsonschema.exceptions.best_match(errors)
        where = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        raise ConfigError(f"config error at {where}: {error.message}")


def check_semantics(config: dict) -> None:
    """What a JSON schema cannot say: expressions parse safely, names refer to tasks of the right kind."""
    for name, expression in expression_tasks(config).items():
        try:
            parse_expression(name, expression)
        except TaskError as err:
            raise ConfigError(f"config error at tasks.{name}: {err}") from None
    tasks = expression_tasks(config)
    if not tasks:
        raise ConfigError("config error at tasks: no expression task (the paper's figures need at least one)")
    references = {"fixed_norm.task": config["fixed_norm"]["task"], "wand.task": config["wand"]["task"],
                  "wlmd.shell.task": config["wlmd"]["shell"]["task"]}
    references.update({f"sweeps.{s}.task": sweep["task"] for s, sweep in config["sweeps"].items()})
    references.update({f"baseline.lr_by_task.{t}": t for t in config["baseline"].get("lr_by_task", {})})
    references.update({f"wlmd.grokking.epochs_by_task.{t}": t
                       for t in config["wlmd"]["grokking"].get("epochs_by_task", {})})
    references.update({f"kozyrev.tasks.{i}": t for i, t in enumerate(config.get("kozyrev", {}).get("tasks", []))})
    for key, task in references.items():
        if task not in tasks:
            raise ConfigError(f"config error at {key}: {task!r} is not an expression task "
                              f"(known: {', '.join(tasks)})")
    if config["wlmd"]["walkers_per_job"] > config["wlmd"]["walkers"]:
        raise ConfigError("config error at wlmd.walkers_per_job: larger than wlmd.walkers")
    _check_ising_semantics(config)


def _check_ising_semantics(config: dict) -> None:
    section = config.get("ising")
    ising = ising_tasks(config)
    if section and section["task"] not in ising:
        raise ConfigError(f"config error at ising.task: {section['task']!r} is not a task of kind ising "
                          f"(known: {', '.join(ising) or 'none'})")
    for name, task in ising.items():
        n_classes, pool = task.get("n_classes", 4), task.get("pool_size", 5000)
        if pool % n_classes:
            raise ConfigError(f"config error at tasks.{name}.pool_size: {pool} is not a multiple of "
                              f"n_classes={n_classes}")
        samples, chains = task.get("samples_per_temperature", 400), task.get("chains_per_temperature", 20)
        if samples % chains:
            raise ConfigError(f"config error at tasks.{name}.samples_per_temperature: {samples} is not a "
                              f"multiple of chains_per_temperature={chains}")


# ----- task kinds ---------------------------------------------------------------------------
def task_kind(value: Any) -> str:
    """'expression' for a string task (x, y mod p), else the mapping's `kind` (e.g. 'ising')."""
    return "expression" if isinstance(value, str) else value["kind"]


def expression_tasks(config: dict) -> dict[str, str]:
    """The arithmetic tasks, name -> expression (the paper's tasks; Figures 1 and 4-5 use these)."""
    return {name: value for name, value in config["tasks"].items() if task_kind(value) == "expression"}


def ising_tasks(config: dict) -> dict[str, dict]:
    """The Ising tasks, name -> generator settings (spec 10.2)."""
    return {name: value for name, value in config["tasks"].items() if task_kind(value) == "ising"}


# ----- expansion into runs / landscapes / figures -------------------------------------------
def fraction_label(fraction: float) -> str:
    return f"f{float(fraction):g}"


def _model(config: dict, **overrides) -> dict:
    return {**config["model"], **overrides}


def _run(config: dict, name: str, task: str, fraction: float, optimizer: str, **settings) -> dict:
    t = config["training"]
    run = {"name": name, "task": task, "fraction": float(fraction), "optimizer": optimizer,
           "model": _model(config), "steps": t["steps"], "seed": t["seed"],
           "log_every": t["log_every"], "slope": t["slope"], "betas": [0.9, 0.98]}
    run.update(settings)
    return run


def _wand_settings(section: dict) -> dict:
    keys = ("kT", "friction", "bias_start", "bias_strength", "wl_factor", "t_wl")
    return {k: section[k] for k in keys if k in section}


def baseline_run_name(task: str) -> str:
    return f"adamw_{task}"


def runs(config: dict) -> dict[str, dict]:
    """Every training run, keyed by its name (the {run} wildcard)."""
    out = {}
    base = config["baseline"]
    for task in expression_tasks(config):
        lr = base.get("lr_by_task", {}).get(task, base["lr"])
        out[baseline_run_name(task)] = _run(config, baseline_run_name(task), task, base["fraction"], "adamw",
                                            lr=lr, weight_decay=base["weight_decay"])
    fixed = config["fixed_norm"]
    for width in fixed["widths"]:
        name = f"fixednorm_w{width}"
        run = _run(config, name, fixed["task"], fixed["fraction"], "adamw_fixed_norm", lr=fixed["lr"],
                   weight_decay=fixed["weight_decay"], norm=fixed["norm"])
        run["model"] = _model(config, d_model=width)
        out[name] = run
    wand = config["wand"]
    out[f"wand_{wand['task']}"] = _run(config, f"wand_{wand['task']}", wand["task"], wand["fraction"], "wand",
                                       lr=wand["lr"], weight_decay=0.0, wand=_wand_settings(wand))
    for sweep_name, sweep in config["sweeps"].items():
        for i, fraction in enumerate(config["fractions"]):
            horizon = sweep["horizon_first"] if i == 0 else sweep["horizon_rest"]
            label = fraction_label(fraction)
            out[f"{sweep_name}_adamw_{label}"] = _run(
                config, f"{sweep_name}_adamw_{label}", sweep["task"], fraction, "adamw",
                steps=horizon, lr=sweep["adamw"]["lr"], weight_decay=sweep["adamw"]["weight_decay"])
            hybrid = sweep["hybrid"]
            out[f"{sweep_name}_hybrid_{label}"] = _run(
                config, f"{sweep_name}_hybrid_{label}", sweep["task"], fraction, "hybrid",
                steps=horizon, horizon=horizon, lr=hybrid["lr"], weight_decay=hybrid["weight_decay"],
                wand=_wand_settings(hybrid))
    out.update(kozyrev_runs(config))
    out.update(ising_runs(config))
    return out


def kozyrev_runs(config: dict) -> dict[str, dict]:
    """The runs of the grokking-time analysis: task x optimizer x fraction x seed."""
    section = config.get("kozyrev")
    if not section:
        return {}
    out = {}
    for task in section["tasks"]:
        for label, settings in section["optimizers"].items():
            settings = dict(settings)
            optimizer = settings.pop("optimizer")
            wand = _wand_settings(settings)
            for key in wand:
                settings.pop(key)
            for fraction in section["fractions"]:
                for seed in section["seeds"]:
                    name = f"koz_{task}_{label}_{fraction_label(fraction)}_s{seed}"
                    run = _run(config, name, task, fraction, optimizer, steps=section["max_steps"],
                               seed=seed, stop_at_test_acc=section["stop_at_test_acc"], **settings)
                    if wand:
                        run["wand"] = wand
                    out[name] = run
    return out


def _landscape(config: dict, name: str, task: str, constraint: str, epochs: int, model: dict) -> dict:
    w = config["wlmd"]
    segments = max(1, math.ceil(epochs / w["epochs_per_segment"]))
    sampler = {**w["sampler"], "constraint": constraint, "slope": config["training"]["slope"]}
    return {"name": name, "task": task, "fraction": float(w["fraction"]), "model": model,
            "walkers": w["walkers"], "walkers_per_job": w["walkers_per_job"],
            "groups": math.ceil(w["walkers"] / w["walkers_per_job"]),
            "segments": segments, "epochs_per_segment": w["epochs_per_segment"],
            "epochs": segments * w["epochs_per_segment"], "seed": w["seed"],
            "sampler": sampler, "grid": dict(w["grid"])}


def landscapes(config: dict) -> dict[str, dict]:
    """Every WLMD landscape, keyed by its name (the {landscape} wildcard)."""
    w = config["wlmd"]
    out = {}
    grok = w["grokking"]
    for task in expression_tasks(config):
        epochs = grok.get("epochs_by_task", {}).get(task, grok["epochs"])
        out[f"grok_{task}"] = _landscape(config, f"grok_{task}", task, "bounds", epochs, _model(config))
    shell = w["shell"]
    for width in shell["widths"]:
        out[f"shell_w{width}"] = _landscape(config, f"shell_w{width}", shell["task"], "shell",
                                            shell["epochs"], _model(config, d_model=width))
    out.update(ising_landscapes(config))
    return out


def dataset_fractions(config: dict, task: str) -> list[float]:
    """Every fraction a run or landscape of `task` uses; the task's dataset file holds all their splits.

    Expression tasks also get every fraction of `fractions` (the split sweeps)."""
    fractions = {float(f) for f in config["fractions"]} if task in expression_tasks(config) else set()
    fractions |= {r["fraction"] for r in runs(config).values() if r["task"] == task}
    fractions |= {l["fraction"] for l in landscapes(config).values() if l["task"] == task}
    return sorted(fractions)


def figure_inputs(config: dict) -> dict[str, dict[str, Any]]:
    """Per figure: the run names / landscape names / tasks that feed its panels."""
    expressions = expression_tasks(config)
    tasks = list(expressions)
    shell_widths = config["wlmd"]["shell"]["widths"]
    wand_task = config["wand"]["task"]
    figures = {
        "fig1": {"landscapes": [f"grok_{t}" for t in tasks], "runs": [baseline_run_name(t) for t in tasks],
                 "titles": [f"({chr(97 + i)}) {expressions[t]} mod {config['p']}" for i, t in enumerate(tasks)]},
        "fig2": {"landscapes": [f"shell_w{w}" for w in shell_widths],
                 "runs": [f"fixednorm_w{w}" for w in config["fixed_norm"]["widths"]],
                 "titles": [f"({chr(97 + i)}) width {w}, |θ| = {config['wlmd']['sampler']['shell_norm']:g}"
                            for i, w in enumerate(shell_widths)]},
        "fig3": {"runs": [f"wand_{wand_task}", baseline_run_name(wand_task)]},
        "fig4": {"tasks": tasks, "titles": [f"({chr(97 + i)}) {expressions[t]} mod {config['p']}"
                                            for i, t in enumerate(tasks)]},
        "fig5": {"runs": [baseline_run_name(t) for t in tasks],
                 "titles": [f"({chr(97 + i)}) {expressions[t]}" for i, t in enumerate(tasks)]},
        "fig6": {"runs": [f"fixednorm_w{w}" for w in config["fixed_norm"]["widths"]],
                 "titles": [f"({chr(97 + i)}) width {w}" for i, w in enumerate(config["fixed_norm"]["widths"])]},
    }
    for sweep_name, sweep in config["sweeps"].items():
        labels = [fraction_label(f) for f in config["fractions"]]
        figures[sweep_name] = {"adamw": [f"{sweep_name}_adamw_{l}" for l in labels],
                               "hybrid": [f"{sweep_name}_hybrid_{l}" for l in labels],
                               "fractions": [float(f) for f in config["fractions"]],
                               "xmax_first": sweep["horizon_first"], "xmax_rest": sweep["horizon_rest"]}
    for name in figures:
        figures[name]["function"] = name if name in PAPER_FIGURES else "fig7"
    figures.update(ising_figures(config))
    return figures


# ----- the Ising task (spec 10): training sweeps, layer analysis, WLMD landscape ----------------
PAPER_FIGURES = ("fig1", "fig2", "fig3", "fig4", "fig5", "fig6", "fig7", "fig8")
# sweepable settings -> (where they live in a run dict, label in run names, symbol in panel titles)
ISING_SWEEP_KEYS = {"inverse_temperature": ("model", "beta", "β_s"), "dropout": ("model", "drop", "dropout"),
                    "init_scale": ("model", "init", "init ×"), "weight_decay": ("run", "wd", "weight decay"),
                    "lr": ("run", "lr", "lr")}


def _ising_run(config: dict, **values) -> dict:
    """The Ising run with the base settings of `ising:` and `values` (sweep keys) replaced."""
    section = config["ising"]
    settings = {"model": dict(section["model"]), "lr": section["lr"], "weight_decay": section["weight_decay"]}
    for key, value in values.items():
        where = ISING_SWEEP_KEYS[key][0]
        (settings["model"] if where == "model" else settings)[key] = value
    labels = [f"{ISING_SWEEP_KEYS[key][1]}{_setting(settings, key):g}" for key in section.get("sweeps", {})]
    name = "_".join([section["task"], *labels])  # e.g. ising_beta1_wd0.01_drop0
    return {"name": name, "task": section["task"], "fraction": float(section["fraction"]),
            "optimizer": "adamw", "model": settings["model"], "lr": settings["lr"],
            "weight_decay": settings["weight_decay"], "betas": [0.9, 0.98], "steps": section["steps"],
            "seed": section["seed"], "log_every": section["log_every"], "slope": config["training"]["slope"]}


def _setting(settings: dict, key: str) -> float:
    return float(settings["model"][key] if ISING_SWEEP_KEYS[key][0] == "model" else settings[key])


def _ising_sweep_run_specs(config: dict) -> dict[str, list[dict]]:
    """Per sweep key: the run of each of its values, in config order."""
    return {key: [_ising_run(config, **{key: value}) for value in values]
            for key, values in config["ising"].get("sweeps", {}).items()}


def ising_sweep_runs(config: dict) -> dict[str, list[str]]:
    """Per sweep key: the run names of its values, in config order."""
    if not config.get("ising"):
        return {}
    return {key: [run["name"] for run in specs] for key, specs in _ising_sweep_run_specs(config).items()}


def ising_runs(config: dict) -> dict[str, dict]:
    """The base Ising run and one run per value of every sweep (a value equal to the base's is one run)."""
    if not config.get("ising"):
        return {}
    base = _ising_run(config)
    out = {base["name"]: base}
    for specs in _ising_sweep_run_specs(config).values():
        out.update((run["name"], run) for run in specs)
    return out


def ising_base_run(config: dict) -> dict | None:
    return _ising_run(config) if config.get("ising") else None


def ising_pca_run(config: dict) -> dict | None:
    """The run whose layer analysis is recorded (the base run with `pca.settings` applied)."""
    section = config.get("ising")
    if not section:
        return None
    run = _ising_run(config, **section["pca"].get("settings", {}))
    run["pca"] = {k: section["pca"][k] for k in ("n_snapshots", "update_window", "max_points")
                  if k in section["pca"]}
    return run


def ising_landscape_name(config: dict) -> str:
    return f"dense_{config['ising']['task']}"


def ising_landscapes(config: dict) -> dict[str, dict]:
    """The WLMD landscape of the base Ising classifier (not in any paper): x = ln L_train, y = 10 A_test."""
    section = config.get("ising")
    if not section or not section.get("landscape"):
        return {}
    spec = section["landscape"]
    merged = deep_merge(config, {"wlmd": {key: spec[key] for key in ("sampler", "grid") if key in spec}})
    model = {k: v for k, v in section["model"].items() if k != "dropout"}  # WLMD runs without dropout
    name = ising_landscape_name(config)
    landscape = _landscape(merged, name, section["task"], "bounds", spec["epochs"], model)
    landscape["fraction"] = float(section["fraction"])
    return {name: landscape}


def ising_figures(config: dict) -> dict[str, dict[str, Any]]:
    section = config.get("ising")
    if not section:
        return {}
    figures = {}
    for key, names in ising_sweep_runs(config).items():
        figures[f"ising_{key}"] = {
            "function": "ising_training", "runs": names,
            "titles": [f"({chr(97 + i)}) {ISING_SWEEP_KEYS[key][2]} = {value:g}"
                       for i, value in enumerate(section["sweeps"][key])]}
    figures["ising_pca"] = {"function": "ising_pca", "run": ising_pca_run(config)["name"]}
    landscapes_ = ising_landscapes(config)
    if landscapes_:
        task = config["tasks"][section["task"]]
        figures["ising_landscape"] = {
            "function": "fig1", "landscapes": list(landscapes_), "runs": [ising_base_run(config)["name"]],
            "titles": [f"dense classifier, Ising {task.get('L', 16)}×{task.get('L', 16)} energy classes"]}
    return figures
