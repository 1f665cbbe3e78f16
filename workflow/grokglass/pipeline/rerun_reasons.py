"""Why a finished result will be made again: the keys of its spec that changed, in one line.

Snakemake says "Params have changed since last execution" followed by both JSON forms of the
spec, thousands of characters. Every result file carries the spec it was made from (a run's
metrics.h5 attribute `run`, a landscape's landscape.h5 attribute `spec`), so at the start of a
run the Snakefile prints, for each finished result whose spec differs from today's, the keys
that differ and both values (grokglass.pipeline.specs.leaf_differences).
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py

from grokglass.pipeline.specs import leaf_differences, short

SHOWN = 3  # keys named per line; the rest are counted


def _stored(path: str, attribute: str) -> dict | None:
    """The spec a finished result carries, or None (absent, unreadable, or from an older layout)."""
    if not Path(path).is_file():
        return None
    try:
        with h5py.File(path, "r") as h5:
            value = h5.attrs.get(attribute)
        data = json.loads(value.decode() if isinstance(value, bytes) else value)
    except (OSError, TypeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def changed(kind: str, name: str, path: str, attribute: str, current: dict) -> str | None:
    """One line naming the keys of `current` that differ from the spec stored in `path`, or None."""
    stored = _stored(path, attribute)
    if stored is None:
        return None
    keys = sorted(set(stored) | set(current))
    keys = [k for k in keys if json.dumps(stored.get(k), sort_keys=True) != json.dumps(current.get(k), sort_keys=True)]
    if not keys:
        return None
    differences = leaf_differences(stored, current, keys)
    shown = "; ".join(f"{key} {short(a)} -> {short(b)}" for key, a, b in differences[:SHOWN])
    more = f"; and {len(differences) - SHOWN} more" if len(differences) > SHOWN else ""
    return f"rerun: {kind} {name} changed since {path} was made: {shown}{more}"


def rerun_lines(runs: dict, landscapes: dict) -> list[str]:
    """The lines for every finished run and landscape whose spec changed (module docstring)."""
    lines = [changed("run", name, run.metrics_path, "run", run.to_dict()) for name, run in runs.items()]
    lines += [
        changed("landscape", name, spec.landscape_path, "spec", spec.to_dict()) for name, spec in landscapes.items()
    ]
    return [line for line in lines if line]
