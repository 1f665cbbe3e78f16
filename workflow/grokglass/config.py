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


def resolve(raw: dict, schema: str | Path | None = None) -> dict:
    """Apply the selected scale overlay, validate against the schema, check semantics."""
    if not isinstance(raw, dict):
        raise ConfigError("config error: the config must be a mapping")
    scale = raw.get("scale", "paper")
    scales = raw.get("scales", {}) or {}
    if scale not in scales and scale != "paper":
        raise ConfigError(f"config error at scale: {scale!r} is not one of scales ({', '.join(scales) or 'none'})")
    config = deep_merge(raw, scales.get(scale) or {})
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
    """What a JSON schema cannot say: expressions parse safely, names refer to defined tasks."""
    for name, expression in config["tasks"].items():
        try:
            parse_expression(name, expression)
        except TaskError as err:
            raise ConfigError(f"config error at tasks.{name}: {err}") from None
    tasks = config["tasks"]
    references = {"fixed_norm.task": config["fixed_norm"]["task"], "wand.task": config["wand"]["task"],
                  "wlmd.shell.task": config["wlmd"]["shell"]["task"]}
    references.update({f"sweeps.{s}.task": sweep["task"] for s, sweep in config["sweeps"].items()})
    references.update({f"baseline.lr_by_task.{t}": t for t in config["baseline"].get("lr_by_task", {})})
    references.update({f"wlmd.grokking.epochs_by_task.{t}": t
                       for t in config["wlmd"]["grokking"].get("epochs_by_task", {})})
    references.update({f"kozyrev.tasks.{i}": t for i, t in enumerate(config.get("kozyrev", {}).get("tasks", []))})
    for key, task in references.items():
        if task not in tasks:
            raise ConfigError(f"config error at {key}: {task!r} is not a task (known: {', '.join(tasks)})")
    if config["wlmd"]["walkers_per_job"] > config["wlmd"]["walkers"]:
        raise ConfigError("config error at wlmd.walkers_per_job: larger than wlmd.walkers")


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
    for task in config["tasks"]:
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
    for task in config["tasks"]:
        epochs = grok.get("epochs_by_task", {}).get(task, grok["epochs"])
        out[f"grok_{task}"] = _landscape(config, f"grok_{task}", task, "bounds", epochs, _model(config))
    shell = w["shell"]
    for width in shell["widths"]:
        out[f"shell_w{width}"] = _landscape(config, f"shell_w{width}", shell["task"], "shell",
                                            shell["epochs"], _model(config, d_model=width))
    return out


def dataset_fractions(config: dict) -> list[float]:
    """Every fraction a run or landscape uses; each dataset file holds all their splits."""
    fractions = {float(f) for f in config["fractions"]}
    fractions |= {r["fraction"] for r in runs(config).values()}
    fractions |= {l["fraction"] for l in landscapes(config).values()}
    return sorted(fractions)


def figure_inputs(config: dict) -> dict[str, dict[str, Any]]:
    """Per figure: the run names / landscape names / tasks that feed its panels."""
    tasks = list(config["tasks"])
    shell_widths = config["wlmd"]["shell"]["widths"]
    wand_task = config["wand"]["task"]
    figures = {
        "fig1": {"landscapes": [f"grok_{t}" for t in tasks], "runs": [baseline_run_name(t) for t in tasks],
                 "titles": [f"({chr(97 + i)}) {config['tasks'][t]} mod {config['p']}" for i, t in enumerate(tasks)]},
        "fig2": {"landscapes": [f"shell_w{w}" for w in shell_widths],
                 "runs": [f"fixednorm_w{w}" for w in config["fixed_norm"]["widths"]],
                 "titles": [f"({chr(97 + i)}) width {w}, |θ| = {config['wlmd']['sampler']['shell_norm']:g}"
                            for i, w in enumerate(shell_widths)]},
        "fig3": {"runs": [f"wand_{wand_task}", baseline_run_name(wand_task)]},
        "fig4": {"tasks": tasks, "titles": [f"({chr(97 + i)}) {config['tasks'][t]} mod {config['p']}"
                                            for i, t in enumerate(tasks)]},
        "fig5": {"runs": [baseline_run_name(t) for t in tasks],
                 "titles": [f"({chr(97 + i)}) {config['tasks'][t]}" for i, t in enumerate(tasks)]},
        "fig6": {"runs": [f"fixednorm_w{w}" for w in config["fixed_norm"]["widths"]],
                 "titles": [f"({chr(97 + i)}) width {w}" for i, w in enumerate(config["fixed_norm"]["widths"])]},
    }
    for sweep_name, sweep in config["sweeps"].items():
        labels = [fraction_label(f) for f in config["fractions"]]
        figures[sweep_name] = {"adamw": [f"{sweep_name}_adamw_{l}" for l in labels],
                               "hybrid": [f"{sweep_name}_hybrid_{l}" for l in labels],
                               "fractions": [float(f) for f in config["fractions"]],
                               "xmax_first": sweep["horizon_first"], "xmax_rest": sweep["horizon_rest"]}
    return figures
