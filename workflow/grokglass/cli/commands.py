"""The small CLI commands: dataset, train, check-config, figure."""

from __future__ import annotations

import argparse
import sys
from types import SimpleNamespace


def _log(message: str) -> None:
    print(message, flush=True)


def _run_spec(args):
    from grokglass.errors import SpecError
    from grokglass.io import parse_json_arg
    from grokglass.pipeline.specs import RunSpec

    try:
        return RunSpec.from_dict(parse_json_arg(args.run_json, "--run-json"))
    except (SpecError, TypeError) as err:
        raise SystemExit(f"error: --run-json: {err}") from None


def _dataset_add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, help="task name")
    parser.add_argument("--expression", required=True, help="expression in x and y, e.g. 'x**2 + y'")
    parser.add_argument("--p", type=int, required=True, help="modulus")
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="output HDF5 path")


def _dataset_run(args) -> int:
    from grokglass.data.arithmetic import Task, TaskError, write_dataset
    from grokglass.data.expressions import is_prime

    if not is_prime(args.p):
        print(f"error: --p {args.p} is not prime (the tasks are arithmetic in the field Z_p)", file=sys.stderr)
        return 2
    try:
        write_dataset(args.out, Task(args.task, args.expression, args.p), args.split_seed)
    except (TaskError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    _log(f"wrote {args.out}: task {args.task} = {args.expression} mod {args.p}")
    return 0


def _train_add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="dataset HDF5 (python -m grokglass dataset)")
    parser.add_argument("--run-json", required=True, help="the run spec as JSON (grokglass.pipeline.specs.RunSpec)")
    parser.add_argument("--metrics", required=True, help="output metrics HDF5")
    parser.add_argument("--checkpoint", default=None, help="output final checkpoint (.pt)")
    parser.add_argument("--device", default="auto")
    from grokglass.io import add_matmul_precision_argument  # (h5py, numpy: only commands that train)

    add_matmul_precision_argument(parser)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def _train_run(args) -> int:
    from grokglass.io import torch_settings
    from grokglass.train.loop import TrainingDiverged, run_training

    run = _run_spec(args)
    try:
        with torch_settings(args.threads, args.matmul_precision, args.device, log=_log):
            run_training(run, args.data, args.metrics, args.checkpoint, device=args.device, log=_log)
    except TrainingDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    return 0


def _check_add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", default="config.yaml")
    parser.add_argument("--scale", default=None)


def _check_run(args) -> int:
    from grokglass.pipeline.config import ConfigError, config_warnings, overlay_replacements, read_yaml
    from grokglass.pipeline.experiment import load_experiment

    try:
        experiment = load_experiment(args.config, scale=args.scale)
        raw = read_yaml(args.config)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    for line in [*overlay_replacements(raw, args.scale), *config_warnings(experiment.config)]:
        _log(line)
    _log(
        f"{args.config} (scale {experiment.config.get('scale', 'paper')}): {len(experiment.runs)} runs, "
        f"{len(experiment.landscapes)} landscapes, {len(experiment.figures)} figures, "
        f"tasks {', '.join(experiment.datasets)}"
    )
    total = 0
    for landscape in experiment.landscapes.values():
        epochs = landscape.segments * landscape.epochs_per_segment
        total += landscape.walkers * epochs
        windows = f", {landscape.windows.n} windows" if landscape.windows else ""
        if landscape.restrained is not None:
            r = landscape.restrained
            windows = f", restrained: {r.x_windows} x {max(1, len(r.accuracies))} windows"
        _log(
            f"  landscape {landscape.name}: {landscape.walkers} walkers x {epochs:,} epochs = "
            f"{landscape.walkers * epochs:,} walker-epochs ({landscape.segments} segment{'s' if landscape.segments != 1 else ''}{windows})"
        )
    _log(f"  WLMD in all: {total:,} walker-epochs")
    return 0


def _figure_add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="figure function in grokglass.figures (fig1 ... fig8, ...)")
    parser.add_argument("--args-json", required=True, help="keyword arguments of the figure function")


def _figure_run(args) -> int:
    from grokglass.figures import figure_function

    try:
        function = figure_function(args.name)
    except KeyError:
        raise SystemExit(f"error: no figure named {args.name!r} in grokglass.figures") from None
    from grokglass.io import parse_json_arg

    function(**parse_json_arg(args.args_json, "--args-json"))
    _log(f"figure {args.name} written")
    return 0


dataset = SimpleNamespace(
    __doc__="Write a task's dataset: its examples in their frozen random order.",
    add_arguments=_dataset_add_arguments,
    run=_dataset_run,
)
train = SimpleNamespace(
    __doc__="Train one run (metrics table + checkpoint).", add_arguments=_train_add_arguments, run=_train_run
)
check_config = SimpleNamespace(
    __doc__="Validate a config file and list what it expands to.", add_arguments=_check_add_arguments, run=_check_run
)
figure = SimpleNamespace(
    __doc__="Render one figure from its inputs.", add_arguments=_figure_add_arguments, run=_figure_run
)
