"""Training an Ising classifier with its layer analysis at log-spaced snapshots (spec 10.4).

Snapshot file of :func:`train_with_snapshots` (S snapshots, layers l = 0..n):
    steps                                   (S,) int64, 0 and log-spaced steps
    weights/W{l}/singular_values            (S, min(out, in)) float64, descending
    weights/W{l}/n_components               (S,) components for variance_fraction
    weights/W{l}/active_relative            (S,) count |w| > rel_threshold * max|w|
    weights/W{l}/active_absolute            (S,) count |w| > abs_threshold
    weights/W{l}.attrs["size"]              number of entries of W{l}
    activations/h{l}/coords                 (S, n_points, 2) float32, test-set PCA coordinates
    activations/h{l}/explained_variance_ratio (S, r) float64
    activations/h{l}/n_components           (S,)
    activations/labels                      (n_points,) class of each test point
    updates/explained_variance_ratio        (S, window) uncentred PCA of the `window` weight-update
                                            vectors (all parameters) before each snapshot; NaN where
                                            fewer updates exist (step 0: none)
    updates/n_components                    (S,) components for variance_fraction (-1 at step 0)
    metrics/<column>                        per-step metrics (train.METRIC_COLUMNS), steps 0..T
    attrs: provenance, run (JSON), thresholds, variance_fraction, data, hidden, n_classes,
           n_weight_layers, n_hidden_layers
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import nn

from grokglass import metrics as M
from grokglass.analysis.layers import ABS_THRESHOLD, REL_THRESHOLD, VARIANCE_FRACTION, layer_analysis, update_pca
from grokglass.data.arithmetic import load_split
from grokglass.errors import InputError
from grokglass.io import (
    add_matmul_precision_argument,
    atomic_path,
    pick_device,
    provenance,
    set_attrs,
    torch_settings,
    write_table,
)
from grokglass.nets.dense import DenseClassifier
from grokglass.nets.registry import build_module
from grokglass.pipeline.specs import RunSpec, SnapshotSpec
from grokglass.train import loop as _train


def log_spaced_steps(steps: int, n: int = 30) -> list[int]:
    """0, then about n log-spaced integer steps from 1 to `steps` (inclusive, deduplicated)."""
    if steps < 1:
        return [0]
    grid = np.unique(np.round(np.logspace(0, math.log10(steps), max(int(n), 2))).astype(int))
    return sorted({0, *(int(s) for s in grid if 1 <= s <= steps), int(steps)})


def _flat_params(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone()


def train_with_snapshots(
    run: RunSpec | dict,
    data_path: str | Path,
    out_path: str | Path,
    snapshot_steps: Sequence[int] | None = None,
    n_snapshots: int = 30,
    metrics_path: str | Path | None = None,
    device: str = "auto",
    max_points: int | None = None,
    update_window: int = 20,
    rel_threshold: float = REL_THRESHOLD,
    abs_threshold: float = ABS_THRESHOLD,
    variance_fraction: float = VARIANCE_FRACTION,
    log: Callable[[str], None] = print,
) -> dict[str, np.ndarray]:
    """Train an 'mlp' run with grokglass.train.loop and store the layer analysis at snapshot steps.

    Training runs as successive train.train_model chunks on one model and optimizer
    (chunks end at every snapshot step, and at every step of the `update_window`
    updates before a snapshot, whose update vectors feed the update PCA); the metric
    rows are stitched so that they equal a straight train.run_training of the same run
    (bit for bit on CPU, dropout included: the extra forwards at chunk ends run under
    no_grad and draw no random numbers). snapshot_steps default: 0 plus ~n_snapshots
    log-spaced steps up to run['steps']. max_points: run the activation PCA on the first
    max_points test examples only (default: all). update_window = 0 skips the update PCA.
    Writes `out_path` (the snapshot HDF5, layout in the module docstring) and, if given,
    `metrics_path` (a train.write_table metrics file). Returns the metric columns.
    """
    run = RunSpec.from_dict(run)
    device = pick_device(device, log)
    torch.manual_seed(run.seed)
    split = load_split(data_path, run.fraction).to(device)
    model = build_module(run.model, split, run.seed).to(device)
    if not isinstance(model, DenseClassifier):
        raise ValueError(f"train_with_snapshots needs model kind 'mlp', got {type(model).__name__}")
    optimizer = _train.build_optimizer(run, list(model.parameters()))
    total = run.steps
    steps = (
        log_spaced_steps(total, n_snapshots)
        if snapshot_steps is None
        else sorted({0, total, *(int(s) for s in snapshot_steps if 0 <= int(s) <= total)})
    )
    window = max(int(update_window), 0)
    windows = {s: list(range(max(0, s - window), s + 1)) for s in steps[1:]} if window else {}
    boundaries = sorted(set(steps).union(*windows.values()))
    snapshot_set = set(steps)
    n_params = sum(p.numel() for p in model.parameters())
    attrs = provenance(
        device, run=run.to_dict(), seed=run.seed, n_params=n_params, init_norm=float(M.weight_norm(model.parameters()))
    )
    log(
        f"run {run.name}: mlp {model.extra_repr()}, {n_params:,} parameters, "
        f"{len(split.train_labels)} train / {len(split.test_labels)} test, snapshots at {len(steps)} steps"
    )
    points = split.test_inputs if max_points is None else split.test_inputs[:max_points]
    point_labels = split.test_labels if max_points is None else split.test_labels[:max_points]
    log_loss = run.optimizer in _train.LOG_LOSS_OPTIMIZERS

    snapshots, chunks, flats = [], [], {}
    for index, step in enumerate(boundaries):
        if any(step in w for w in windows.values()):
            flats[step] = _flat_params(model)
        if step in snapshot_set:
            model.eval()
            snap = layer_analysis(model, points, rel_threshold, abs_threshold, variance_fraction)
            model.train()
            if step in windows:
                w = windows[step]
                snap["updates"] = update_pca(
                    torch.stack([flats[b] - flats[a] for a, b in zip(w, w[1:])]), variance_fraction
                )
                later = [windows[s][0] for s in windows if s > step]
                flats = {t: v for t, v in flats.items() if later and t >= min(later)}
            snapshots.append(snap)
        if index + 1 == len(boundaries):
            break
        columns = _train.train_model(
            model,
            optimizer,
            split,
            boundaries[index + 1] - step,
            log_loss_closure=log_loss,
            slope=run.slope,
            log_every=run.log_every,
            log=log,
        )
        columns["step"] = columns["step"] + step
        last_chunk = index + 2 == len(boundaries)
        chunks.append(columns if last_chunk else {k: v[:-1] for k, v in columns.items()})
    if chunks:
        metrics = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    else:  # steps == 0: one row of the initial state
        metrics = _train.train_model(model, optimizer, split, 0, log_loss, log=log)

    _write_snapshots(
        out_path,
        steps,
        snapshots,
        point_labels.cpu().numpy(),
        metrics,
        window,
        dict(
            attrs,
            rel_threshold=rel_threshold,
            abs_threshold=abs_threshold,
            variance_fraction=variance_fraction,
            data=str(data_path),
            update_window=window,
            hidden=list(model.hidden),
            n_classes=model.n_classes,
        ),
    )
    if metrics_path is not None:
        write_table(metrics_path, metrics, attrs)
    return metrics


def _write_snapshots(path, steps, snapshots, labels, metrics, window, attrs) -> None:
    n_weights = len(snapshots[0]["weights"])
    n_hidden = len(snapshots[0]["activations"])
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset("steps", data=np.asarray(steps, dtype=np.int64))
        for layer in range(n_weights):
            group = h5.create_group(f"weights/W{layer}")
            stats = [s["weights"][layer] for s in snapshots]
            group.create_dataset("singular_values", data=np.stack([s["singular_values"] for s in stats]))
            for key in ("n_components", "active_relative", "active_absolute"):
                group.create_dataset(key, data=np.asarray([s[key] for s in stats], dtype=np.int64))
            group.attrs["size"] = stats[0]["size"]
        for layer in range(n_hidden):
            group = h5.create_group(f"activations/h{layer}")
            pcas = [s["activations"][layer] for s in snapshots]
            group.create_dataset(
                "coords", data=np.stack([p["coords"] for p in pcas]).astype(np.float32), compression="gzip"
            )
            group.create_dataset(
                "explained_variance_ratio", data=np.stack([p["explained_variance_ratio"] for p in pcas])
            )
            group.create_dataset("n_components", data=np.asarray([p["n_components"] for p in pcas], dtype=np.int64))
        h5.create_dataset("activations/labels", data=np.asarray(labels, dtype=np.int64))
        if window:
            ratio = np.full((len(snapshots), window), np.nan)
            n_comp = np.full(len(snapshots), -1, dtype=np.int64)
            for i, snap in enumerate(snapshots):
                if "updates" in snap:
                    r = snap["updates"]["explained_variance_ratio"]
                    ratio[i, : len(r)] = r
                    n_comp[i] = snap["updates"]["n_components"]
            h5.create_dataset("updates/explained_variance_ratio", data=ratio)
            h5.create_dataset("updates/n_components", data=n_comp)
            h5["updates"].attrs["window"] = window
        for name, values in metrics.items():
            h5.create_dataset(f"metrics/{name}", data=np.asarray(values))
        set_attrs(h5, dict(attrs, n_weight_layers=n_weights, n_hidden_layers=n_hidden))


# ----------------------------------------------------------------------------- CLI


def add_arguments(parser) -> None:
    """Arguments of `python -m grokglass ising-snapshots`."""
    parser.add_argument("--data", required=True, help="Ising dataset HDF5 (ising-dataset)")
    parser.add_argument(
        "--spec-json",
        required=True,
        help="the snapshot spec as JSON: {run: <run JSON, model kind mlp>, n_snapshots, "
        "update_window, max_points} (grokglass.pipeline.specs.SnapshotSpec)",
    )
    parser.add_argument("--out", required=True, help="output snapshot HDF5")
    parser.add_argument("--metrics", default=None, help="also write the run's metrics table here")
    parser.add_argument("--device", default="auto")
    add_matmul_precision_argument(parser)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def run(args) -> int:
    with torch_settings(args.threads, args.matmul_precision, args.device, log=lambda line: print(line, flush=True)):
        return _run(args)


def _run(args) -> int:
    """Train one Ising run and record its layer analysis at log-spaced snapshots."""
    from grokglass.io import parse_json_arg

    try:
        spec = SnapshotSpec.from_dict(parse_json_arg(args.spec_json, "--spec-json"))
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"--spec-json is not a snapshot spec ({type(err).__name__}: {err})") from None
    train_with_snapshots(
        spec.run,
        args.data,
        args.out,
        n_snapshots=spec.n_snapshots,
        metrics_path=args.metrics,
        device=args.device,
        max_points=spec.max_points,
        update_window=spec.update_window,
        log=lambda line: print(line, flush=True),
    )
    return 0
