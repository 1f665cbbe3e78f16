"""Atomic file output and provenance.

Every result is written to a temporary file beside its destination and renamed
into place, so a job killed part-way never leaves a half-written output that a
later run would mistake for a finished one.
"""

from __future__ import annotations

import contextlib
import datetime
import glob
import importlib.metadata
import json
import os
import platform
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

if TYPE_CHECKING:  # torch is imported where it is used: merges and figures start ~2.5 s sooner without it
    import torch

import grokglass
from grokglass.errors import InputError, one_line


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the destination's folder; rename it onto `path` on success.

    The temporary files of an earlier write of the same output that was killed (SIGKILL
    leaves no chance to clean up) are removed first: Snakemake never runs two jobs that
    write one output at once, so any such file is debris.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are meant to be shared
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete `.{name}.*.tmp` beside `path` (what atomic_path leaves when killed); returns them."""
    stale = sorted(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return stale


def open_input_h5(path: str | os.PathLike, what: str) -> h5py.File:
    """An input HDF5 file opened for reading; a missing or unreadable one is an InputError
    naming the file and what it should have been (e.g. "merged landscape")."""
    if not Path(path).is_file():
        raise InputError(f"{path}: {what} not found")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise InputError(f"{path}: the {what} is not a readable HDF5 file ({one_line(err)})") from None


def read_attr_json(h5: h5py.File, key: str, path, what: str) -> Any:
    """A JSON attribute of an input file; missing or malformed is an InputError."""
    if key not in h5.attrs:
        raise InputError(f"{path}: the {what} has no {key!r} attribute (not written by grokglass?)")
    try:
        return get_attr_json(h5, key)
    except (ValueError, TypeError) as err:
        raise InputError(f"{path}: the {what}'s {key!r} attribute is not valid JSON ({one_line(err)})") from None


def load_torch_input(path: str | os.PathLike, what: str) -> Any:
    """torch.load with weights_only=True (a file can never run code); a missing, truncated or
    foreign file is an InputError naming it."""
    import torch

    if not Path(path).is_file():
        raise InputError(f"{path}: {what} not found")
    try:
        # a checkpoint's provenance holds torch.__version__, a str subclass: safe to allow
        with warnings.catch_warnings(), torch.serialization.safe_globals([torch.torch_version.TorchVersion]):
            warnings.simplefilter("ignore")  # a foreign file's pickle-protocol warning would add lines
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle, zip and torch's own errors all mean "not such a file"
        raise InputError(f"{path}: not a {what} written by grokglass ({type(err).__name__})") from None


def provenance(device: str | torch.device | None = None, **extra: Any) -> dict[str, Any]:
    """The facts that identify how a result was made. A job that never imported torch (a merge, a
    figure) records the installed torch's version, and no matmul precision: it did no matmuls."""
    torch = sys.modules.get("torch")
    info = {
        "grokglass_version": grokglass.__version__,
        "torch_version": torch.__version__ if torch is not None else _installed_version("torch"),
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "host": platform.node(),
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": describe_device(device),
    }
    if torch is not None:
        info["float32_matmul_precision"] = torch.get_float32_matmul_precision()
    info.update(extra)
    return info


def _installed_version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def describe_device(device: str | torch.device | None) -> str:
    if device is None:
        return "cpu"
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return device.type


def set_attrs(h5obj: h5py.Group | h5py.Dataset, attrs: dict[str, Any]) -> None:
    """Store attributes; nested or non-scalar values are stored as JSON strings."""
    for key, value in attrs.items():
        if isinstance(value, (dict, list, tuple)) or value is None:
            h5obj.attrs[key] = json.dumps(value, sort_keys=True, default=str)
        elif isinstance(value, str):
            h5obj.attrs[key] = str(value)  # str subclasses (torch.__version__) confuse h5py
        else:
            h5obj.attrs[key] = value


def get_attr_json(h5obj: h5py.Group | h5py.Dataset, key: str) -> Any:
    value = h5obj.attrs[key]
    if isinstance(value, bytes):
        value = value.decode()
    return json.loads(value)


def write_json(path: str | os.PathLike, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def torch_save(obj: Any, path: str | os.PathLike) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def pick_device(requested: str = "auto", log=print) -> torch.device:
    """Resolve 'auto'/'cuda'/'cpu'; fall back to CPU with a log line when CUDA is absent."""
    import torch

    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
        if requested == "cpu":
            log("device: CUDA not available, running on CPU")
    elif requested.startswith("cuda") and not torch.cuda.is_available():
        log(f"device: {requested} requested but CUDA is not available; falling back to CPU")
        requested = "cpu"
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise InputError(f"device {requested!r} is not one of auto, cpu, cuda (or cuda:N)") from None
    log(f"device: {describe_device(device)}")
    return device


MATMUL_PRECISIONS = {"fp32": "highest", "tf32": "high"}  # -> torch.set_float32_matmul_precision


def add_matmul_precision_argument(parser) -> None:
    """`--matmul-precision` of the jobs that run networks (train, wlmd-segment, ising-snapshots)."""
    parser.add_argument(
        "--matmul-precision",
        choices=list(MATMUL_PRECISIONS),
        default="fp32",
        help="float32 matmuls on CUDA (default fp32)",
    )


@contextlib.contextmanager
def torch_settings(
    threads: int | None = None, matmul_precision: str | None = None, device: str | torch.device = "auto", log=print
) -> Iterator[None]:
    """The one place grokglass changes torch's global settings, each restored on leaving the block:
    `threads` CPU threads (None: torch's choice), and fp32 or tf32 float32 matmuls for work on
    `device` (as requested: auto, cpu, cuda[:n]). TF32 applies only on CUDA; on the CPU every
    job keeps exact fp32 matmuls. Jobs wrap their whole run in it; the sampler runs a lone CPU
    walker single-threaded in it (grokglass.wlmd.sampler)."""
    import torch

    if matmul_precision is not None and matmul_precision not in MATMUL_PRECISIONS:
        raise ValueError(f"matmul precision must be one of {', '.join(MATMUL_PRECISIONS)}, got {matmul_precision!r}")
    threads_before, precision_before = torch.get_num_threads(), torch.get_float32_matmul_precision()
    try:
        if threads:
            torch.set_num_threads(threads)
        if matmul_precision is not None:
            requested = str(device)
            on_cuda = requested.startswith("cuda") or (requested == "auto" and torch.cuda.is_available())
            use = matmul_precision if on_cuda and torch.cuda.is_available() else "fp32"
            torch.set_float32_matmul_precision(MATMUL_PRECISIONS[use])
            if use != "fp32":
                log(f"matmul precision: {use} (torch.set_float32_matmul_precision({MATMUL_PRECISIONS[use]!r}))")
        yield
    finally:
        torch.set_num_threads(threads_before)
        torch.set_float32_matmul_precision(precision_before)


def write_table(path: str | os.PathLike, columns: dict[str, np.ndarray], attrs: dict[str, Any]) -> None:
    """A table as one 1-D HDF5 dataset per column, with attributes on the root."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        for name, values in columns.items():
            h5.create_dataset(name, data=np.asarray(values))
        set_attrs(h5, attrs)


def read_table(path: str | os.PathLike):
    """Read a write_table file back as a pandas DataFrame (attributes in df.attrs)."""
    import pandas as pd

    with open_input_h5(path, "metrics table") as h5:
        columns = {name: h5[name][()] for name in h5 if isinstance(h5[name], h5py.Dataset) and h5[name].ndim == 1}
        attrs = {key: (value.decode() if isinstance(value, bytes) else value) for key, value in h5.attrs.items()}
    frame = pd.DataFrame(columns)
    frame.attrs.update(attrs)
    return frame


def read_metrics(path: str | os.PathLike):
    """A training run's per-step metrics (see grokglass.train.loop.METRIC_COLUMNS), sorted by step."""
    return read_table(path).sort_values("step", ignore_index=True)


def parse_json_arg(text: str, what: str) -> dict:
    """A command-line argument holding a JSON object (e.g. --spec-json); anything else is one
    InputError naming the argument."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"{what} is not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise InputError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value
