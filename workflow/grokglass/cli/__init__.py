"""Command line: python -m grokglass <command> ... (the Snakemake rules call these).

Commands: dataset, train, wlmd-segment, wlmd-merge, wlmd-landscape, figure, bench,
summarize, check-config, kozyrev, ising-dataset, ising-snapshots, device-check. Each subcommand module exposes add_arguments(parser) and run(args).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from grokglass.errors import ExpectedError

# command -> module implementing add_arguments/run (imported lazily: start-up stays fast)
COMMANDS = {
    "dataset": ("grokglass.cli.commands", "dataset"),
    "train": ("grokglass.cli.commands", "train"),
    "check-config": ("grokglass.cli.commands", "check_config"),
    "figure": ("grokglass.cli.commands", "figure"),
    "wlmd-segment": ("grokglass.jobs.segment", None),
    "wlmd-merge": ("grokglass.jobs.merge", None),
    "wlmd-landscape": ("grokglass.jobs.merge", "landscape_command"),
    "bench": ("grokglass.tools.bench", None),
    "summarize": ("grokglass.analysis.milestones", None),
    "kozyrev": ("grokglass.analysis.kozyrev", None),
    "ising-dataset": ("grokglass.data.ising", None),
    "ising-snapshots": ("grokglass.jobs.ising_snapshots", None),
    "device-check": ("grokglass.tools.device_check", None),
}


def _load(command: str):
    module_name, attr = COMMANDS[command]
    module = importlib.import_module(module_name)
    return getattr(module, attr) if attr else module


def build_parser(commands=None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m grokglass", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for command in commands or COMMANDS:
        handler = _load(command)
        subparser = sub.add_parser(
            command, help=(handler.__doc__ or "").strip().splitlines()[0] if handler.__doc__ else None
        )
        handler.add_arguments(subparser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command. An expected error (errors.ExpectedError: a missing, corrupt or mismatched
    file, a bad argument or config, a diverging sampler) prints one line and returns 2; others
    keep their traceback."""
    argv = sys.argv[1:] if argv is None else argv
    # build only the requested subcommand's parser so one broken import cannot break the others
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser([command] if command in COMMANDS else None)
    args = parser.parse_args(argv)
    try:
        return int(_load(args.command).run(args) or 0)
    except ExpectedError as err:
        print(f"error: {args.command}: {err}", file=sys.stderr, flush=True)
        return 2
