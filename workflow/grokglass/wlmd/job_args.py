"""The arguments every WLMD job takes: its landscape spec and segment (torch-free, so that the
merge and landscape jobs start without importing torch)."""

from __future__ import annotations

import argparse
from pathlib import Path

from grokglass.errors import InputError
from grokglass.specs import LandscapeSpec


def load_spec(spec_json: str | None, spec_file: str | None) -> LandscapeSpec:
    """The landscape spec from a JSON string or a JSON/YAML file."""
    if (spec_json is None) == (spec_file is None):
        raise InputError("give exactly one of --spec-json and --spec-file")
    from grokglass.cli import parse_json_arg

    if spec_json is not None:
        return LandscapeSpec.from_dict(parse_json_arg(spec_json, "--spec-json"))
    path = Path(spec_file)
    if path.suffix in (".yaml", ".yml"):
        from grokglass.config import read_yaml

        return LandscapeSpec.from_dict(read_yaml(path))
    try:
        text = path.read_text()
    except OSError as err:
        raise InputError(f"{path}: cannot read the landscape spec ({err.strerror or err})") from None
    return LandscapeSpec.from_dict(parse_json_arg(text, f"--spec-file {path}"))


def add_spec_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--spec-json", help="the landscape spec as a JSON string")
    source.add_argument("--spec-file", help="the landscape spec as a JSON (or YAML) file")
    parser.add_argument("--segment", type=int, required=True, help="segment index (0-based)")
