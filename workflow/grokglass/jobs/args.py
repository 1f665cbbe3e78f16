"""The arguments every WLMD job takes: its landscape spec and segment (torch-free, so that the
merge and landscape jobs start without importing torch)."""

from __future__ import annotations

import argparse
from pathlib import Path

from grokglass.errors import InputError
from grokglass.pipeline.specs import LandscapeSpec


def load_spec(spec_json: str | None, spec_file: str | None) -> LandscapeSpec:
    """The landscape spec from a JSON string or a JSON/YAML file."""
    if (spec_json is None) == (spec_file is None):
        raise InputError("give exactly one of --spec-json and --spec-file")
    from grokglass.io import parse_json_arg

    if spec_json is not None:
        return LandscapeSpec.from_dict(parse_json_arg(spec_json, "--spec-json"))
    path = Path(spec_file)
    if path.suffix in (".yaml", ".yml"):
        from grokglass.pipeline.config import read_yaml

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


def load_segment_state(path, spec: LandscapeSpec, segment: int, group: int, payload: str) -> dict:
    """A group's state file of segment - 1 (torch.save of {payload, "spec", "segment", "group"}),
    checked to belong to this landscape, group and segment; one line naming the file if not."""
    from grokglass.io import load_torch_input

    what = "walker state"
    blob = load_torch_input(path, what)
    if not isinstance(blob, dict) or not {payload, "spec", "segment", "group"} <= set(blob):
        raise InputError(f"{path}: not a {what} written by grokglass (unexpected contents)")
    spec.check_input(path, what, blob["spec"])
    if blob["group"] != group or blob["segment"] != segment - 1:
        raise InputError(
            f"{path}: state of segment {blob['segment']} group {blob['group']}, expected "
            f"segment {segment - 1} group {group}"
        )
    return blob


def segment_attrs(spec: LandscapeSpec, segment: int, group: int, device, **extra) -> dict:
    """The provenance a segment file carries (io.provenance): device, seed, spec, segment, group
    and its epochs, plus `extra`."""
    from grokglass.io import provenance

    start = segment * spec.epochs_per_segment
    return provenance(
        device=device,
        seed=spec.seed,
        spec=spec.to_dict(),
        segment=segment,
        group=group,
        epochs_start=start,
        epochs_end=start + spec.epochs_per_segment,
        **extra,
    )
