"""The training runs of the experiment, as RunSpecs built from the validated config: the AdamW
baselines, the fixed-norm runs of Fig 2, WanD, the split-fraction sweeps, Kozyrev's runs, and the
Ising classifier's sweeps and snapshot run. Each run's name is made here, and only here.
"""

from __future__ import annotations

import dataclasses

from grokglass.nets.specs import DenseModel, TransformerModel
from grokglass.pipeline.config import expression_tasks
from grokglass.pipeline.specs import (
    RunSpec,
    SnapshotSpec,
    WandSettings,
)

# sweepable settings of the Ising run -> (where they live: model or run, label in run names,
# symbol in panel titles)
ISING_SWEEP_KEYS = {
    "inverse_temperature": ("model", "beta", "β_s"),
    "dropout": ("model", "drop", "dropout"),
    "init_scale": ("model", "init", "init ×"),
    "weight_decay": ("run", "wd", "weight decay"),
    "lr": ("run", "lr", "lr"),
}


# ----- runs --------------------------------------------------------------------------------------
def fraction_tag(fraction: float) -> str:
    """A split fraction as it appears in run names ("f0.3"; figures write figures.common.fraction_label, "30%")."""
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


def all_runs(config: dict) -> list[RunSpec]:
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
    return f"{sweep}_{optimizer}_{fraction_tag(fraction)}"


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
                    name = f"koz_{task}_{label}_{fraction_tag(fraction)}_s{seed}"
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
