"""The validated config expanded into every experiment of the pipeline, as typed specs.

`build(config)` turns the resolved config (grokglass.pipeline.config.resolve) into an
:class:`Experiment`: the datasets, runs, landscapes and figures of the DAG, each a spec
of grokglass.pipeline.specs, made per family in grokglass.pipeline.runs, .landscapes and
.figure_specs. Adding a task or a fraction to config.yaml adds its specs there with no code
change. Like the specs, these modules import neither torch nor h5py.
"""

from __future__ import annotations

from dataclasses import dataclass

from grokglass import paths
from grokglass.data.specs import DatasetSpec, ExpressionDataset, IsingDataset
from grokglass.errors import SpecError
from grokglass.pipeline.config import ConfigError, expression_tasks, ising_tasks, load
from grokglass.pipeline.figure_specs import convergence_spec, figure_specs, kozyrev_spec, summary_spec
from grokglass.pipeline.landscapes import all_landscapes
from grokglass.pipeline.runs import all_runs, ising_snapshot_spec
from grokglass.pipeline.specs import (
    FigureSpec,
    LandscapeSpec,
    RunSpec,
    SnapshotSpec,
)


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
    """All specs of a resolved config (grokglass.pipeline.config.resolve)."""
    try:
        runs = {run.name: run for run in all_runs(config)}
        landscapes = {spec.name: spec for spec in all_landscapes(config)}
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
