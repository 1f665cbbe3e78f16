"""The dense classifier of the Ising task (spec 10.3) and its PCA layer analysis (spec 10.4).

The network is written functionally, like model.transformer_logits:
:func:`dense_logits` takes a dict of tensors ``W0, b0, W1, b1, ...`` that may carry
any leading walker dims (WLMD), and :class:`DenseClassifier` is the nn.Module
wrapper used for ordinary training. Importing this module registers the model
kind ``"mlp"`` in ``grokglass.train.MODEL_BUILDERS``; a run's model dict is

    {"kind": "mlp", "hidden": [128, 128, 64], "dropout": 0.0,
     "inverse_temperature": 1.0, "init_scale": 1.0}

and in_features / n_classes come from the data split.

Dropout is applied only while the module is in training mode *and* autograd is
recording, i.e. in the training loop's closure; the metric forwards of
grokglass.train run under torch.no_grad() and therefore see the deterministic
network (test accuracy is never measured with dropout on). The logged train
accuracy/loss of a step are those of the closure's forward, with dropout.

Layer analysis (:func:`layer_analysis`, :func:`train_with_snapshots`), the [D]
operationalisation of spec 10.4:
- each weight matrix W (out x in): singular values of W (not centred), the number
  of components holding `variance_fraction` (0.9) of sum s^2, and the counts of
  "active" weights |w| > rel_threshold * max|w| (0.05) and |w| > abs_threshold (1e-3);
- each hidden layer's post-ReLU activations on the test inputs: centred PCA (SVD),
  the explained-variance ratios, the components for 90 %, and every example's
  coordinates on the top 2 components (signs fixed so the largest loading is > 0).

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
from pathlib import Path
from typing import Callable, Sequence

import h5py
import numpy as np
import torch
from torch import nn

from grokglass import metrics as M
from grokglass import train as _train
from grokglass.io import atomic_path, pick_device, provenance, set_attrs, write_table
from grokglass.tasks import Split, load_split

DEFAULT_HIDDEN = (128, 128, 64)
REL_THRESHOLD = 0.05
ABS_THRESHOLD = 1e-3
VARIANCE_FRACTION = 0.9


# ----------------------------------------------------------------------------- functional network


def dense_shapes(in_features: int, hidden: Sequence[int] = DEFAULT_HIDDEN,
                 n_classes: int = 4) -> dict[str, tuple[int, ...]]:
    """Parameter shapes, in layer order: W0 (h0, in), b0 (h0,), ..., W{n} (classes, h_last), b{n}."""
    widths = [int(in_features), *(int(h) for h in hidden), int(n_classes)]
    if any(w < 1 for w in widths):
        raise ValueError(f"layer widths must be >= 1, got {widths}")
    shapes = {}
    for layer, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        shapes[f"W{layer}"] = (fan_out, fan_in)
        shapes[f"b{layer}"] = (fan_out,)
    return shapes


def n_layers(params_or_shapes: dict) -> int:
    return sum(1 for name in params_or_shapes if name.startswith("W"))


def dense_init_std(shapes: dict[str, tuple[int, ...]], init_scale: float = 1.0) -> dict[str, float]:
    """Std of PyTorch's default nn.Linear init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), times init_scale.

    Weight and bias of a layer share the bound, so a bias's std is its layer's weight std.
    """
    std = {}
    for name, shape in shapes.items():
        layer = name[1:]
        fan_in = shapes[f"W{layer}"][1]
        std[name] = float(init_scale) / math.sqrt(fan_in) / math.sqrt(3.0)
    return std


def dense_init_params(shapes: dict[str, tuple[int, ...]], generator: torch.Generator,
                      init_scale: float = 1.0, dtype: torch.dtype = torch.float32
                      ) -> dict[str, torch.Tensor]:
    """PyTorch-default-like init drawn from `generator` (CPU): W0, b0, W1, b1, ... in that order.

    init_scale multiplies every parameter (the Omnigrok large-init option, spec 10.3).
    """
    params = {}
    for name, shape in shapes.items():
        fan_in = shapes[f"W{name[1:]}"][1]
        bound = float(init_scale) / math.sqrt(fan_in)
        params[name] = (2.0 * torch.rand(shape, generator=generator, dtype=dtype) - 1.0) * bound
    return params


def dense_hidden(params: dict[str, torch.Tensor], inputs: torch.Tensor, dropout: float = 0.0,
                 training: bool = False) -> list[torch.Tensor]:
    """Post-ReLU activations of every hidden layer (after dropout when training), (*walkers, n, h)."""
    h = inputs
    out = []
    for layer in range(n_layers(params) - 1):
        h = torch.relu(h @ params[f"W{layer}"].transpose(-1, -2) + params[f"b{layer}"].unsqueeze(-2))
        if dropout > 0 and training:
            h = torch.nn.functional.dropout(h, p=dropout, training=True)
        out.append(h)
    return out


def dense_logits(params: dict[str, torch.Tensor], inputs: torch.Tensor,
                 inverse_temperature: float = 1.0, dropout: float = 0.0,
                 training: bool = False) -> torch.Tensor:
    """beta_s * z, shape (*walkers, n_examples, n_classes); z the last layer's output.

    params may carry leading walker dims (each tensor the same ones); inputs are
    (n_examples, in_features) and shared by every walker.
    """
    last = n_layers(params) - 1
    hidden = dense_hidden(params, inputs, dropout, training)
    h = hidden[-1] if hidden else inputs
    z = h @ params[f"W{last}"].transpose(-1, -2) + params[f"b{last}"].unsqueeze(-2)
    return inverse_temperature * z


class DenseClassifier(nn.Module):
    """MLP in -> hidden... -> n_classes with ReLU; forward returns inverse_temperature * z.

    The cross-entropy on these logits is that of softmax(beta_s z) (spec 10.3).
    """

    def __init__(self, in_features: int, hidden: Sequence[int] = DEFAULT_HIDDEN, n_classes: int = 4,
                 dropout: float = 0.0, inverse_temperature: float = 1.0, seed: int = 0,
                 init_scale: float = 1.0):
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        if not inverse_temperature > 0:
            raise ValueError(f"inverse_temperature must be > 0, got {inverse_temperature}")
        self.in_features, self.n_classes = int(in_features), int(n_classes)
        self.hidden = tuple(int(h) for h in hidden)
        self.dropout, self.inverse_temperature = float(dropout), float(inverse_temperature)
        self.init_scale = float(init_scale)
        shapes = dense_shapes(in_features, hidden, n_classes)
        generator = torch.Generator().manual_seed(int(seed))
        for name, tensor in dense_init_params(shapes, generator, init_scale).items():
            self.register_parameter(name, nn.Parameter(tensor))

    def params(self) -> dict[str, torch.Tensor]:
        return dict(self.named_parameters())

    def _dropout_on(self) -> bool:
        return self.training and self.dropout > 0 and torch.is_grad_enabled()

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return dense_logits(self.params(), inputs, self.inverse_temperature, self.dropout,
                            self._dropout_on())

    def hidden_activations(self, inputs: torch.Tensor) -> list[torch.Tensor]:
        """Post-ReLU activations of each hidden layer, without dropout."""
        return dense_hidden(self.params(), inputs)

    def weights(self) -> list[torch.Tensor]:
        return [getattr(self, f"W{layer}") for layer in range(n_layers(self.params()))]

    def extra_repr(self) -> str:
        return (f"in={self.in_features}, hidden={list(self.hidden)}, classes={self.n_classes}, "
                f"dropout={self.dropout}, inverse_temperature={self.inverse_temperature}, "
                f"init_scale={self.init_scale}")


def split_classes(split: Split) -> int:
    if split.n_classes is not None:
        return int(split.n_classes)
    labels = torch.cat([split.train_labels, split.test_labels])
    return int(labels.max()) + 1


def build_dense(run: dict, split: Split) -> DenseClassifier:
    """Model builder of kind 'mlp' (grokglass.train.MODEL_BUILDERS)."""
    m = run.get("model", {})
    return DenseClassifier(int(split.train_inputs.shape[1]), hidden=m.get("hidden", DEFAULT_HIDDEN),
                           n_classes=split_classes(split), dropout=float(m.get("dropout", 0.0)),
                           inverse_temperature=float(m.get("inverse_temperature", 1.0)),
                           seed=int(run.get("seed", 0)), init_scale=float(m.get("init_scale", 1.0)))


# ----------------------------------------------------------------------------- layer analysis


def components_for_variance(singular_values: torch.Tensor | np.ndarray,
                            fraction: float = VARIANCE_FRACTION) -> int:
    """Smallest k whose top-k singular values hold `fraction` of sum s^2 (0 for a zero matrix)."""
    s2 = np.asarray(torch.as_tensor(singular_values).double().cpu()) ** 2
    total = s2.sum()
    if total <= 0:
        return 0
    cumulative = np.cumsum(np.sort(s2)[::-1]) / total
    return int(np.searchsorted(cumulative, fraction - 1e-12) + 1)


def weight_statistics(weight: torch.Tensor, rel_threshold: float = REL_THRESHOLD,
                      abs_threshold: float = ABS_THRESHOLD,
                      variance_fraction: float = VARIANCE_FRACTION) -> dict:
    """Singular values, components for `variance_fraction`, and active-weight counts of one matrix."""
    w = weight.detach().double()
    s = torch.linalg.svdvals(w)
    a = w.abs()
    return {"singular_values": s.cpu().numpy(),
            "n_components": components_for_variance(s, variance_fraction),
            "active_relative": int((a > rel_threshold * a.max()).sum()),
            "active_absolute": int((a > abs_threshold).sum()),
            "size": int(w.numel())}


def activation_pca(activations: torch.Tensor, n_components: int = 2,
                   variance_fraction: float = VARIANCE_FRACTION) -> dict:
    """Centred PCA of (n, features) activations: coords (n, n_components), ratios, components for 90 %.

    Signs are fixed so that each component's largest-magnitude loading is positive.
    """
    x = activations.detach().double()
    x = x - x.mean(dim=0, keepdim=True)
    u, s, vh = torch.linalg.svd(x, full_matrices=False)
    index = vh.abs().argmax(dim=1)
    signs = torch.sign(vh[torch.arange(len(vh)), index])
    signs[signs == 0] = 1.0
    vh = vh * signs[:, None]
    coords = x @ vh[:n_components].T
    if coords.shape[1] < n_components:  # fewer features than components: pad with zeros
        coords = torch.cat([coords, coords.new_zeros(len(coords), n_components - coords.shape[1])], 1)
    s2 = s ** 2
    ratio = (s2 / s2.sum()) if s2.sum() > 0 else torch.zeros_like(s2)
    return {"coords": coords.cpu().numpy(), "explained_variance_ratio": ratio.cpu().numpy(),
            "n_components": components_for_variance(s, variance_fraction)}


def layer_analysis(model: DenseClassifier, inputs: torch.Tensor, rel_threshold: float = REL_THRESHOLD,
                   abs_threshold: float = ABS_THRESHOLD,
                   variance_fraction: float = VARIANCE_FRACTION) -> dict:
    """Weight statistics of every layer and activation PCA of every hidden layer on `inputs`."""
    with torch.no_grad():
        weights = [weight_statistics(w, rel_threshold, abs_threshold, variance_fraction)
                   for w in model.weights()]
        acts = [activation_pca(h, 2, variance_fraction) for h in model.hidden_activations(inputs)]
    return {"weights": weights, "activations": acts}


def log_spaced_steps(steps: int, n: int = 30) -> list[int]:
    """0, then about n log-spaced integer steps from 1 to `steps` (inclusive, deduplicated)."""
    if steps < 1:
        return [0]
    grid = np.unique(np.round(np.logspace(0, math.log10(steps), max(int(n), 2))).astype(int))
    return sorted({0, *(int(s) for s in grid if 1 <= s <= steps), int(steps)})


def update_pca(updates: torch.Tensor, variance_fraction: float = VARIANCE_FRACTION) -> dict:
    """Uncentred PCA of weight-update vectors (rows of `updates`, one per epoch).

    explained_variance_ratio[k] = s_k^2 / sum s^2: the share of the summed squared
    update norms along the k-th principal direction (spec 10.4 (iii)).
    """
    s = torch.linalg.svdvals(updates.detach().double())
    s2 = s ** 2
    ratio = s2 / s2.sum() if s2.sum() > 0 else torch.zeros_like(s2)
    return {"explained_variance_ratio": ratio.cpu().numpy(),
            "n_components": components_for_variance(s, variance_fraction)}


def _flat_params(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone()


def train_with_snapshots(run: dict, data_path: str | Path, out_path: str | Path,
                         snapshot_steps: Sequence[int] | None = None, n_snapshots: int = 30,
                         metrics_path: str | Path | None = None, device: str = "auto",
                         max_points: int | None = None, update_window: int = 20,
                         rel_threshold: float = REL_THRESHOLD, abs_threshold: float = ABS_THRESHOLD,
                         variance_fraction: float = VARIANCE_FRACTION,
                         log: Callable[[str], None] = print) -> dict[str, np.ndarray]:
    """Train an 'mlp' run with grokglass.train and store the layer analysis at snapshot steps.

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
    device = pick_device(device, log)
    torch.manual_seed(int(run.get("seed", 0)))
    split = load_split(data_path, run["fraction"]).to(device)
    model = _train.build_model(run, split).to(device)
    if not isinstance(model, DenseClassifier):
        raise ValueError(f"train_with_snapshots needs model kind 'mlp', got {type(model).__name__}")
    optimizer = _train.build_optimizer(run, list(model.parameters()))
    total = int(run["steps"])
    steps = log_spaced_steps(total, n_snapshots) if snapshot_steps is None else \
        sorted({0, total, *(int(s) for s in snapshot_steps if 0 <= int(s) <= total)})
    window = max(int(update_window), 0)
    windows = {s: list(range(max(0, s - window), s + 1)) for s in steps[1:]} if window else {}
    boundaries = sorted(set(steps).union(*windows.values()))
    snapshot_set = set(steps)
    n_params = sum(p.numel() for p in model.parameters())
    attrs = provenance(device, run=run, seed=run.get("seed", 0), n_params=n_params,
                       init_norm=float(M.weight_norm(model.parameters())))
    log(f"run {run.get('name', '?')}: mlp {model.extra_repr()}, {n_params:,} parameters, "
        f"{len(split.train_labels)} train / {len(split.test_labels)} test, snapshots at {len(steps)} steps")
    points = split.test_inputs if max_points is None else split.test_inputs[:max_points]
    point_labels = split.test_labels if max_points is None else split.test_labels[:max_points]
    log_loss = run["optimizer"] in _train.LOG_LOSS_OPTIMIZERS

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
                snap["updates"] = update_pca(torch.stack([flats[b] - flats[a] for a, b in zip(w, w[1:])]),
                                             variance_fraction)
                later = [windows[s][0] for s in windows if s > step]
                flats = {t: v for t, v in flats.items() if later and t >= min(later)}
            snapshots.append(snap)
        if index + 1 == len(boundaries):
            break
        columns = _train.train_model(model, optimizer, split, boundaries[index + 1] - step,
                                     log_loss_closure=log_loss, slope=run.get("slope", M.DEFAULT_SLOPE),
                                     log_every=run.get("log_every", 100), log=log)
        columns["step"] = columns["step"] + step
        last_chunk = index + 2 == len(boundaries)
        chunks.append(columns if last_chunk else {k: v[:-1] for k, v in columns.items()})
    if chunks:
        metrics = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    else:  # steps == 0: one row of the initial state
        metrics = _train.train_model(model, optimizer, split, 0, log_loss, log=log)

    _write_snapshots(out_path, steps, snapshots, point_labels.cpu().numpy(), metrics, window,
                     dict(attrs, rel_threshold=rel_threshold, abs_threshold=abs_threshold,
                          variance_fraction=variance_fraction, data=str(data_path), update_window=window,
                          hidden=list(model.hidden), n_classes=model.n_classes))
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
            group.create_dataset("coords", data=np.stack([p["coords"] for p in pcas]).astype(np.float32),
                                 compression="gzip")
            group.create_dataset("explained_variance_ratio",
                                 data=np.stack([p["explained_variance_ratio"] for p in pcas]))
            group.create_dataset("n_components",
                                 data=np.asarray([p["n_components"] for p in pcas], dtype=np.int64))
        h5.create_dataset("activations/labels", data=np.asarray(labels, dtype=np.int64))
        if window:
            ratio = np.full((len(snapshots), window), np.nan)
            n_comp = np.full(len(snapshots), -1, dtype=np.int64)
            for i, snap in enumerate(snapshots):
                if "updates" in snap:
                    r = snap["updates"]["explained_variance_ratio"]
                    ratio[i, :len(r)] = r
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
    parser.add_argument("--run-json", required=True,
                        help="the run as JSON (model kind mlp); an optional 'pca' entry holds "
                             "n_snapshots, update_window, max_points")
    parser.add_argument("--out", required=True, help="output snapshot HDF5")
    parser.add_argument("--metrics", default=None, help="also write the run's metrics table here")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def run(args) -> int:
    """Train one Ising run and record its layer analysis at log-spaced snapshots."""
    import json

    if args.threads:
        torch.set_num_threads(args.threads)
    spec = json.loads(args.run_json)
    pca = spec.get("pca", {})
    train_with_snapshots(spec, args.data, args.out, n_snapshots=int(pca.get("n_snapshots", 30)),
                         metrics_path=args.metrics, device=args.device,
                         max_points=pca.get("max_points"), update_window=int(pca.get("update_window", 20)),
                         log=lambda line: print(line, flush=True))
    return 0


_train.MODEL_BUILDERS["mlp"] = build_dense
