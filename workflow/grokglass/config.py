"""config.yaml -> validated settings: loading, the scale overlay, the schema, semantic checks.

grokglass.experiment expands the result into the typed specs of the DAG. Errors are
raised as ConfigError with one line naming the offending key. Nothing here imports
torch or h5py (the Snakefile imports this module for every dry run and lint).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from grokglass.expressions import TaskError, parse_expression
from grokglass.specs import IsingDataset

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
    """config.yaml (at `scale`, default: the file's) resolved and validated."""
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
            parse_expression(name, expression, config["p"])
        except TaskError as err:
            raise ConfigError(f"config error at tasks.{name}: {err}") from None
    tasks = expression_tasks(config)
    if not tasks:
        raise ConfigError("config error at tasks: no expression task (the paper's figures need at least one)")
    references = {
        "fixed_norm.task": config["fixed_norm"]["task"],
        "wand.task": config["wand"]["task"],
        "wlmd.shell.task": config["wlmd"]["shell"]["task"],
    }
    references.update({f"sweeps.{s}.task": sweep["task"] for s, sweep in config["sweeps"].items()})
    references.update({f"baseline.lr_by_task.{t}": t for t in config["baseline"].get("lr_by_task", {})})
    references.update(
        {f"wlmd.grokking.epochs_by_task.{t}": t for t in config["wlmd"]["grokking"].get("epochs_by_task", {})}
    )
    references.update({f"kozyrev.tasks.{i}": t for i, t in enumerate(config.get("kozyrev", {}).get("tasks", []))})
    for key, task in references.items():
        if task not in tasks:
            raise ConfigError(f"config error at {key}: {task!r} is not an expression task (known: {', '.join(tasks)})")
    if config["wlmd"]["walkers_per_job"] > config["wlmd"]["walkers"]:
        raise ConfigError("config error at wlmd.walkers_per_job: larger than wlmd.walkers")
    _check_ising_semantics(config)


def _check_ising_semantics(config: dict) -> None:
    section = config.get("ising")
    ising = ising_tasks(config)
    if section and section["task"] not in ising:
        raise ConfigError(
            f"config error at ising.task: {section['task']!r} is not a task of kind ising "
            f"(known: {', '.join(ising) or 'none'})"
        )
    for name, task in ising.items():
        n_classes = task.get("n_classes", IsingDataset.n_classes)
        pool = task.get("pool_size", IsingDataset.pool_size)
        if pool % n_classes:
            raise ConfigError(
                f"config error at tasks.{name}.pool_size: {pool} is not a multiple of n_classes={n_classes}"
            )
        samples = task.get("samples_per_temperature", IsingDataset.samples_per_temperature)
        chains = task.get("chains_per_temperature", IsingDataset.chains_per_temperature)
        if samples % chains:
            raise ConfigError(
                f"config error at tasks.{name}.samples_per_temperature: {samples} is not a "
                f"multiple of chains_per_temperature={chains}"
            )


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
