"""config.yaml -> validated settings: loading, the scale overlay, the schema, semantic checks.

grokglass.pipeline.experiment expands the result into the typed specs of the DAG. Errors are
raised as ConfigError with one line naming the offending key. Nothing here imports
torch or h5py (the Snakefile imports this module for every dry run and lint).

Long because loading, the scale overlays, the unknown-key checks, the schema and the semantic
checks are one pass over one dict, each step's one-line message naming the key.
"""

from __future__ import annotations

import copy
import difflib
import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from grokglass.data.expressions import TaskError, Undefined, is_prime, parse_expression
from grokglass.data.specs import IsingDataset
from grokglass.errors import InputError, one_line

DEFAULT_SCHEMA = Path(__file__).resolve().parent / "config.schema.yaml"  # package data


class ConfigError(InputError):
    """A config that cannot run; the message starts 'config error at <key>'."""


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


def read_yaml(path: str | Path) -> Any:
    """A YAML file's contents; a missing or malformed file is a ConfigError naming it."""
    try:
        with open(path) as fh:
            return yaml.safe_load(fh)
    except OSError as err:
        raise ConfigError(f"config error: cannot read {path}: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"config error: {path} is not valid YAML: {one_line(err)}") from None


def load(path: str | Path, scale: str | None = None, schema: str | Path | None = None) -> dict:
    """config.yaml (at `scale`, default: the file's) resolved and validated."""
    raw = read_yaml(path)
    if scale is not None and isinstance(raw, dict):
        raw["scale"] = scale
    return resolve(raw, schema)


def user_overrides(configfiles: list, base: str | Path, command_line: dict | None) -> dict:
    """What the user gave on top of the base config.yaml: the values of every extra --configfile
    (in order) that differ from config.yaml's, then the --config key=value pairs. These win
    over the scale overlay (see resolve). A value equal to config.yaml's is not an override:
    a full copy of config.yaml with one line changed overrides that line only."""
    base_values = read_yaml(base) if Path(base).is_file() else {}
    overrides: dict = {}
    for path in configfiles:
        if Path(path).resolve() == Path(base).resolve():
            continue
        contents = read_yaml(path)
        if not isinstance(contents, dict):
            raise ConfigError(f"config error: {path} must hold a mapping of config keys")
        overrides = deep_merge(overrides, _differences(contents, base_values or {}))
    return deep_merge(overrides, dict(command_line or {}))


def _differences(values: dict, base: dict) -> dict:
    """The entries of `values` that `base` lacks or holds otherwise (mappings compared key by key)."""
    out = {}
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            inner = _differences(value, base[key])
            if inner:
                out[key] = inner
        elif key not in base or base[key] != value:
            out[key] = value
    return out


def resolve(raw: dict, schema: str | Path | None = None, command_line: dict | None = None) -> dict:
    """Apply the selected scale overlay, refuse unknown keys, validate against the schema,
    check semantics.

    Precedence, lowest first: config.yaml, the selected `scales` entry, then `command_line`:
    what the user gave on top (user_overrides: extra --configfile files, then --config
    key=value). Snakemake has already merged those into `raw`, where the overlay would hide
    them, so they are applied again after it: `--config device=cuda` wins over the quick
    scale's `device: cpu`.
    """
    if not isinstance(raw, dict):
        raise ConfigError("config error: the config must be a mapping")
    schema = load_schema(schema or DEFAULT_SCHEMA)
    scale = raw.get("scale", "paper")
    scales = raw.get("scales", {}) or {}
    if not isinstance(scales, dict):
        raise ConfigError("config error at scales: must be a mapping of scale name -> overlay")
    if scale not in scales and scale != "paper":
        raise ConfigError(f"config error at scale: {scale!r} is not one of scales ({', '.join(scales) or 'none'})")
    for name, overlay in scales.items():  # every overlay, not only the selected one, so a typo shows at once
        if overlay is not None:
            check_unknown_keys(_own_keys(overlay), schema, where=f"scales.{name}", partial=True)
            if isinstance(overlay, dict) and not overlay.get("own_experiments"):
                check_overlay_keeps_experiments(_own_keys(overlay), raw, where=f"scales.{name}")
    user = {k: v for k, v in (command_line or {}).items() if k not in ("scale", "scales")}
    # config.yaml (with what the user gave on top) must be valid before an overlay can hide a
    # value: p: 4 under the quick scale's p: 31 is refused, not masked
    base = deep_merge(raw, user)
    check_unknown_keys(base, schema)
    validate_schema(base, schema)
    check_semantics(base)
    config = raw
    for overlay in scale_chain(scales, scale):
        config = deep_merge(config, _within(overlay, raw))
    config = deep_merge(config, user)
    check_unknown_keys(config, schema)
    validate_schema(config, schema)
    check_semantics(config)
    return config


# ----- what an overlay may change ------------------------------------------------------------
# Keys that list the experiments (which datasets, runs, landscapes and figure panels exist). A
# scale overlay changes sizes (p, widths of the model, steps, walkers, epochs, replicate counts),
# never these, so that an edit to config.yaml's lists takes effect at every scale.
EXPERIMENT_KEYS = (
    "fractions",
    "fixed_norm.task",
    "fixed_norm.widths",
    "wand.task",
    "wlmd.shell.task",
    "wlmd.shell.widths",
    "kozyrev.tasks",
    "kozyrev.fractions",
    "ising.task",
    "ising.sweeps",
)
# Mappings of named experiments: an overlay may change an entry's settings (a size, a rate), but
# not add, remove or re-point one. (tasks: an Ising task's generator sizes, never an expression)
NAMED_EXPERIMENTS = {"tasks": "kind", "sweeps": "task", "kozyrev.optimizers": "optimizer"}


def check_overlay_keeps_experiments(overlay: dict, base: dict, where: str) -> None:
    """Refuse an overlay that would change config.yaml's list of experiments (see EXPERIMENT_KEYS)."""
    why = "a scale changes sizes, not the list of experiments: edit it at the top of config.yaml"
    for key in EXPERIMENT_KEYS:
        if _has_path(overlay, key):
            raise ConfigError(f"config error at {where}.{key}: {why}")
    for key, identity in NAMED_EXPERIMENTS.items():
        entries, base_entries = _get_path(overlay, key), _get_path(base, key)
        if not isinstance(entries, dict):
            if key in _flat_keys(overlay):
                raise ConfigError(f"config error at {where}.{key}: {why}")
            continue
        for name, entry in entries.items():
            if not isinstance(entry, dict) or identity in entry:
                raise ConfigError(f"config error at {where}.{key}.{name}: {why}")
            if isinstance(base_entries, dict) and name in base_entries and not isinstance(base_entries[name], dict):
                raise ConfigError(f"config error at {where}.{key}.{name}: {why}")


# Parts of config.yaml a user may delete whole; an overlay's sizes for a part that config.yaml
# lacks are left out (they would make a half section), as are those of a deleted named entry.
OPTIONAL_SECTIONS = ("ising", "kozyrev")


def _within(overlay: dict, base: dict) -> dict:
    """The overlay without its settings for optional sections and named entries base lacks."""
    overlay = {k: v for k, v in overlay.items() if k not in OPTIONAL_SECTIONS or k in base}
    for key in NAMED_EXPERIMENTS:
        entries, base_entries = _get_path(overlay, key), _get_path(base, key)
        if isinstance(entries, dict) and isinstance(base_entries, dict):
            kept = {name: entry for name, entry in entries.items() if name in base_entries}
            overlay = deep_merge(overlay, _nested(key, None))
            overlay = deep_merge(overlay, _nested(key, kept)) if kept else overlay
    return overlay


def _nested(dotted: str, value: Any) -> dict:
    for part in reversed(dotted.split(".")):
        value = {part: value}
    return value


def _get_path(mapping: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(mapping, dict) or part not in mapping:
            return None
        mapping = mapping[part]
    return mapping


def _has_path(mapping: dict, dotted: str) -> bool:
    head, _, rest = dotted.rpartition(".")
    parent = _get_path(mapping, head) if head else mapping
    return isinstance(parent, dict) and rest in parent


def _flat_keys(mapping: Any, prefix: str = "") -> set[str]:
    """Every dotted key of a nested mapping, inner ones included."""
    if not isinstance(mapping, dict):
        return set()
    keys = set()
    for key, value in mapping.items():
        here = f"{prefix}.{key}" if prefix else str(key)
        keys |= {here} | _flat_keys(value, here)
    return keys


def overlay_replacements(raw: dict, scale: str | None = None, command_line: dict | None = None) -> list[str]:
    """One line per value of config.yaml that the selected scale replaces with another:
    `scale quick: p = 31 (config.yaml: 67)`. The Snakefile prints them at start, so an edit that
    a scale overrides is never lost silently. Keys given in `command_line` (user_overrides) win
    over the scale and are left out."""
    scale = scale or raw.get("scale", "paper")
    merged: dict = {}
    for overlay in scale_chain(raw.get("scales", {}) or {}, scale):
        merged = deep_merge(merged, overlay)
    given = _flat_keys(command_line or {})
    return [
        f"scale {scale}: {key} = {_show(new)} (config.yaml: {_show(old)})"
        for key, new, old in _replaced(merged, raw, "")
        if key not in given
    ]


def _replaced(overlay: dict, base: dict, prefix: str):
    for key, value in overlay.items():
        here = f"{prefix}.{key}" if prefix else str(key)
        if key not in base:
            continue  # a key config.yaml does not set: nothing of the user's is replaced
        if isinstance(value, dict) and isinstance(base[key], dict):
            yield from _replaced(value, base[key], here)
        elif value != base[key]:
            yield here, value, base[key]


def _show(value: Any) -> str:
    return "(removed)" if value is None else json.dumps(value)


def scale_chain(scales: dict, scale: str) -> list[dict]:
    """The overlays that make `scale`, first applied first: a scale with `extends: other` is
    other's overlays, then its own keys."""
    chain, seen = [], []
    while scale in scales:
        if scale in seen:
            raise ConfigError(f"config error at scales: {' -> '.join(seen + [scale])} extends itself")
        seen.append(scale)
        overlay = scales[scale] or {}
        if not isinstance(overlay, dict):
            raise ConfigError(f"config error at scales.{scale}: must be a mapping of config keys")
        chain.insert(0, _own_keys(overlay))
        parent = overlay.get("extends")
        if parent is None:
            break
        if parent not in scales:
            raise ConfigError(
                f"config error at scales.{scale}.extends: {parent!r} is not one of scales ({', '.join(scales)})"
            )
        scale = parent
    return chain


def _own_keys(overlay: dict) -> dict:
    """An overlay without its `extends` and `own_experiments` (a documented experiment's scale
    that sets its own lists of experiments, e.g. docs/experiments/ising-delay.yaml)."""
    return {key: value for key, value in overlay.items() if key not in ("extends", "own_experiments")}


def load_schema(schema: str | Path | dict) -> dict:
    return schema if isinstance(schema, dict) else read_yaml(schema)


# ----- unknown keys -------------------------------------------------------------------------
def check_unknown_keys(value: Any, schema: dict, where: str = "", partial: bool = False) -> None:
    """Refuse a key that the schema does not list, naming it and the closest known key.

    A mapping whose schema lists properties is closed; additionalProperties (a schema) marks
    a mapping of user-chosen names (tasks, sweeps, scales). partial: an overlay, where a null
    value (which removes a key) is allowed.
    """
    _walk(value, schema, schema, where, partial)


def _walk(value: Any, node: dict, root: dict, where: str, partial: bool) -> None:
    if not isinstance(value, dict):
        return
    node = _object_branch(node, value, root)
    properties, extra = _known_properties(node, root)
    for key, item in value.items():
        here = f"{where}.{key}" if where else str(key)
        if key in properties:
            sub = properties[key]
        elif isinstance(extra, dict):
            sub = extra
        elif properties:
            raise ConfigError(f"config error at {here}: unknown key {key!r}{_closest(key, properties)}")
        else:
            continue  # a free-form mapping
        if not (partial and item is None):
            _walk(item, sub, root, here, partial)


def _closest(key: str, known) -> str:
    match = difflib.get_close_matches(str(key), [str(k) for k in known], n=1, cutoff=0.6)
    if match:
        return f" (did you mean {match[0]!r}?)"
    return f" (known: {', '.join(sorted(str(k) for k in known))})"


def _deref(node: dict, root: dict) -> dict:
    while "$ref" in node:
        target = root
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _object_branch(node: dict, value: dict, root: dict) -> dict:
    """Of a oneOf/anyOf, the branch that describes a mapping."""
    node = _deref(node, root)
    for choice in ("oneOf", "anyOf"):
        for branch in node.get(choice, []):
            branch = _deref(branch, root)
            if branch.get("type") == "object" or "properties" in branch:
                return branch
    return node


def _known_properties(node: dict, root: dict) -> tuple[dict, Any]:
    """(listed properties, additionalProperties) of a schema node, allOf parts merged."""
    node = _deref(node, root)
    properties = dict(node.get("properties", {}))
    extra = node.get("additionalProperties")
    for part in node.get("allOf", []):
        more, more_extra = _known_properties(part, root)
        properties.update(more)
        extra = extra if extra is not None else more_extra
    return properties, extra


def validate_schema(config: dict, schema: str | Path | dict) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_schema(schema))
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        error = jsonschema.exceptions.best_match(errors)
        while error.validator in ("oneOf", "anyOf") and error.context:
            # one branch fits the value's type (a task: an expression string, or a mapping): its
            # own complaint names the key and the bound, not "not valid under any of the schemas"
            fitting = [e for e in error.context if e.validator != "type"] or list(error.context)
            error = jsonschema.exceptions.best_match(fitting)
        where = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        raise ConfigError(f"config error at {where}: {error.message}")


def check_semantics(config: dict) -> None:
    """What a JSON schema cannot say: p is prime, expressions parse safely, names refer to tasks
    of the right kind."""
    if not is_prime(config["p"]):
        raise ConfigError(
            f"config error at p: {config['p']} is not prime (the tasks are arithmetic in the field Z_p; "
            "division needs an inverse of every nonzero y)"
        )
    p = config["p"]
    if p < MIN_P:
        raise ConfigError(
            f"config error at p: {p} is too small for a train/test split ({p * p} examples; use p >= {MIN_P})"
        )
    estimate = p * p * DATASET_BYTES_PER_PAIR
    if estimate > MAX_DATASET_BYTES and not config.get("allow_large", False):
        raise ConfigError(
            f"config error at p: {p} makes {p * p:,} examples per task, ~{estimate / 2**30:.0f} GiB to build each "
            f"dataset (over {MAX_DATASET_BYTES / 2**30:.0f} GiB); set allow_large: true to run it anyway"
        )
    for name, expression in expression_tasks(config).items():
        try:
            function = parse_expression(name, expression, p)
        except TaskError as err:
            raise ConfigError(f"config error at tasks.{name}: {err}") from None
        if not any(_defined(function, x, y) for x, y in _probe_pairs(p)):
            raise ConfigError(
                f"config error at tasks.{name}: {expression!r} is defined at no pair (x, y) mod {p} "
                "(a divisor that is always 0 mod p?)"
            )
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
        {
            f"wlmd.grokking.{key}.{t}": t
            for key in ("epochs_by_task", "windows_by_task")
            for t in config["wlmd"]["grokking"].get(key, {})
        }
    )
    references.update({f"kozyrev.tasks.{i}": t for i, t in enumerate(config.get("kozyrev", {}).get("tasks", []))})
    for key, task in references.items():
        if task not in tasks:
            raise ConfigError(f"config error at {key}: {task!r} is not an expression task (known: {', '.join(tasks)})")
    if config["wlmd"]["walkers_per_job"] > config["wlmd"]["walkers"]:
        raise ConfigError("config error at wlmd.walkers_per_job: larger than wlmd.walkers")
    _check_ising_semantics(config)


MIN_P = 5  # 25 examples: the smallest split sweep that leaves every fraction a train and a test set
DATASET_BYTES_PER_PAIR = 100  # the dataset job's peak memory per (x, y) pair, measured ~80 at p = 10,007
MAX_DATASET_BYTES = 4 * 2**30
PROBE_PAIRS = 2000  # pairs evaluated per task at check time (all of them when p^2 is fewer)


def _probe_pairs(p: int) -> list[tuple[int, int]]:
    """Every pair for small p, else a fixed sample (the check must stay fast at any p)."""
    if p * p <= PROBE_PAIRS:
        return [(x, y) for x in range(p) for y in range(p)]
    rng = np.random.default_rng(0)
    return [tuple(int(v) for v in pair) for pair in rng.integers(0, p, size=(PROBE_PAIRS, 2))]


def _defined(function, x: int, y: int) -> bool:
    try:
        function(x, y)
    except (Undefined, ZeroDivisionError):
        return False
    return True


def config_warnings(config: dict) -> list[str]:
    """What is allowed but most likely a mistake, one line each (the Snakefile and check-config
    print them): the same task under two names (the same values at every probed pair)."""
    p, tables = config["p"], {}
    for name, expression in expression_tasks(config).items():
        function = parse_expression(name, expression, p)
        values = []
        for x, y in _probe_pairs(p):
            try:
                values.append(function(x, y) % p)
            except (Undefined, ZeroDivisionError):
                values.append(None)
        tables.setdefault(tuple(values), []).append(name)
    return [
        f"config warning at tasks: {' and '.join(names)} are the same task (equal at every pair): "
        "each runs its own dataset, run and landscape"
        for names in tables.values()
        if len(names) > 1
    ]


PLACEHOLDER_PARTITIONS = ("cpu", "gpu")  # what profiles/slurm/profile.yaml ships with


def profile_warnings(default_resources: list[str]) -> list[str]:
    """A warning when the Slurm profile still holds the shipped placeholders: its partitions
    `cpu`/`gpu` rarely exist on a site, and without an account many sites refuse the jobs.
    `default_resources`: Snakemake's default-resources as `key=value` strings."""
    values = dict(arg.split("=", 1) for arg in default_resources if "=" in arg)
    partition = values.get("slurm_partition", "").strip("'\"")
    if partition not in PLACEHOLDER_PARTITIONS:
        return []
    account = "" if "slurm_account" in values else " and no slurm_account"
    return [
        f"profile warning: the Slurm profile still has the placeholder partition {partition!r}{account}: edit "
        "default-resources.slurm_partition, set-resources.<rule>.slurm_partition (train, ising_snapshots, "
        "wlmd_segment) and slurm_account (or pass --slurm-no-account) in profiles/slurm/profile.yaml for your site"
    ]


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
        _check_ising_classes(name, task)
        samples = task.get("samples_per_temperature", IsingDataset.samples_per_temperature)
        chains = task.get("chains_per_temperature", IsingDataset.chains_per_temperature)
        if samples % chains:
            raise ConfigError(
                f"config error at tasks.{name}.samples_per_temperature: {samples} is not a "
                f"multiple of chains_per_temperature={chains}"
            )


def _check_ising_classes(name: str, task: dict) -> None:
    """Every energy class must be reachable: an L x L lattice has energies per spin
    -2 + 4k / L^2 only (a spin flip changes E by a multiple of 4), so a small lattice leaves some
    equal-width classes (less their label margin) empty, and the dataset job would fail."""
    L = task.get("L", IsingDataset.L)
    n_classes = task.get("n_classes", IsingDataset.n_classes)
    low, high = task.get("label_range", IsingDataset.label_range)
    margin = task.get("label_margin", IsingDataset.label_margin)
    levels = -2.0 + 4.0 * np.arange(L * L + 1) / (L * L)
    width = (high - low) / n_classes
    for c in range(n_classes):
        a = low + c * width + (margin if c > 0 else 0.0)
        b = low + (c + 1) * width - (margin if c < n_classes - 1 else 0.0)
        if not np.any((levels >= a) & (levels < b if c < n_classes - 1 else levels <= b)):
            raise ConfigError(
                f"config error at tasks.{name}.L: a {L} x {L} lattice has no energy per spin in class {c} "
                f"[{a:g}, {b:g}) (its levels are -2 + 4k/{L * L}): use a larger L, fewer classes or a smaller margin"
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
