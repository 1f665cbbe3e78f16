"""The training loop: any optimizer of the paper on any registered model (grokglass.nets.registry).

A run is a grokglass.pipeline.specs.RunSpec (built from config.yaml by grokglass.pipeline.experiment;
its JSON form is what `python -m grokglass train --run-json` takes).
Metrics are recorded at every step on the device (no host sync) and checked
for divergence at each progress line. Row t holds the state before update t,
so a run of T steps has T + 1 rows (step 0 = initialisation).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from grokglass import metrics as M
from grokglass.data.arithmetic import Split, load_split
from grokglass.io import pick_device, provenance, torch_save, write_table
from grokglass.nets.registry import build_module
from grokglass.pipeline.specs import OPTIMIZERS, RunSpec
from grokglass.train.optim import SGLD, FixedNormAdamW, WanD, WanDAdamWHybrid, rescale_to_norm

METRIC_COLUMNS = (
    "step",
    "train_loss",
    "test_loss",
    "ln_train_loss",
    "train_acc",
    "test_acc",
    "train_acc_smooth",
    "test_acc_smooth",
    "weight_norm",
)
# optimizers whose closure returns ln L_train (they need its gradient) instead of L_train
LOG_LOSS_OPTIMIZERS = ("wand", "hybrid")


class TrainingDiverged(RuntimeError):
    pass


def wand_kwargs(run: RunSpec) -> dict:
    """Keyword arguments of the WanD optimizer (paper 6.3) for a WanD or hybrid run."""
    w = run.wand_settings
    return dict(
        kT=w.kT,
        friction=w.friction,
        bias_start=w.bias_start,
        bias_strength=w.bias_strength,
        wl_factor=w.wl_factor,
        t_rise=w.t_wl,
        t_drop=w.t_wl,
        bin_width=w.bin_width,
        gaussian_sigma_bins=w.gaussian_sigma_bins,
        seed=run.seed,
    )


def build_optimizer(run: RunSpec, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    name, lr, wd, betas = run.optimizer, run.lr, run.weight_decay, run.betas
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd, betas=betas, eps=1e-8)
    if name == "adamw_fixed_norm":
        return FixedNormAdamW(params, norm=run.norm, lr=lr, weight_decay=wd, betas=betas, eps=1e-8)
    if name == "wand":
        return WanD(params, lr=lr, **wand_kwargs(run))
    if name == "hybrid":
        return WanDAdamWHybrid(
            params,
            horizon=run.horizon or run.steps,
            lr=lr,
            weight_decay=wd,
            betas=betas,
            alpha_form=run.alpha_form,
            **wand_kwargs(run),
        )
    if name == "sgld":
        return SGLD(params, lr=lr, temperature=run.temperature, weight_decay=wd, seed=run.seed)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def _uses_dropout(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in model.modules())


def _record(model: torch.nn.Module, train_logits: torch.Tensor, split: Split, slope: float, step: int) -> torch.Tensor:
    """One metrics row for the current parameters (no host sync)."""
    with torch.no_grad():
        if _uses_dropout(model):  # measure the network, not one dropout sample of it
            model.eval()
            train_logits = model(split.train_inputs)
            test_logits = model(split.test_inputs)
            model.train()
        else:
            train_logits = train_logits.detach()
            test_logits = model(split.test_inputs)
        train_loss = M.cross_entropy64(train_logits, split.train_labels)
        return torch.stack(
            [
                torch.tensor(float(step), dtype=torch.float64, device=train_logits.device),
                train_loss,
                M.cross_entropy64(test_logits, split.test_labels),
                train_loss.log(),
                M.accuracy(train_logits, split.train_labels).double(),
                M.accuracy(test_logits, split.test_labels).double(),
                M.smoothed_accuracy(train_logits, split.train_labels, slope).double(),
                M.smoothed_accuracy(test_logits, split.test_labels, slope).double(),
                M.weight_norm(model.parameters()).to(train_logits.device),
            ]
        )


def train_model(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    split: Split,
    steps: int,
    log_loss_closure: bool,
    slope: float = M.DEFAULT_SLOPE,
    log_every: int = 100,
    log: Callable[[str], None] = print,
    stop_at_test_acc: float | None = None,
) -> dict[str, np.ndarray]:
    """Full-batch training for `steps` updates; returns the per-step metric columns.

    Row t is measured on the parameters before update t (in the closure, so the
    training forward is shared). With stop_at_test_acc, training stops at the first
    progress line whose test accuracy reaches it (the rows up to there are kept).
    """
    device = split.train_inputs.device
    rows = torch.zeros(steps + 1, len(METRIC_COLUMNS), dtype=torch.float64, device=device)
    extra = {"alpha": np.zeros(steps + 1)} if isinstance(optimizer, WanDAdamWHybrid) else {}
    model.train()
    current = {"step": 0}

    def closure():
        optimizer.zero_grad(set_to_none=True)
        logits = model(split.train_inputs)
        loss = M.cross_entropy64(logits, split.train_labels)
        objective = loss.log() if log_loss_closure else loss
        objective.backward()
        rows[current["step"]] = _record(model, logits, split, slope, current["step"])
        return objective

    started, last_time, last_step = time.perf_counter(), time.perf_counter(), 0
    for step in range(steps + 1):
        current["step"] = step
        if step < steps:
            optimizer.step(closure)
            if extra:
                extra["alpha"][step] = optimizer.last_alpha
        else:
            with torch.no_grad():
                rows[step] = _record(model, model(split.train_inputs), split, slope, step)
        if step % log_every == 0 or step == steps:
            now = time.perf_counter()
            rate = (step - last_step) / max(now - last_time, 1e-9)
            last_time, last_step = now, step
            r = rows[step].tolist()
            log(
                f"step {step:>7d}/{steps}  train_loss {r[1]:.3e}  test_loss {r[2]:.3e}  "
                f"train_acc {r[4]:.3f}  test_acc {r[5]:.3f}  |theta| {r[8]:.2f}  {rate:.1f} steps/s"
            )
            if not all(math.isfinite(v) for v in r):
                columns = _columns(rows[: step + 1], extra, step + 1)
                raise TrainingDiverged(f"non-finite metrics at step {step} ({dict(zip(METRIC_COLUMNS, r))})", columns)
            if stop_at_test_acc is not None and r[5] >= stop_at_test_acc and 0 < step < steps:
                log(f"stopping early at step {step}: test accuracy {r[5]:.3f} >= {stop_at_test_acc}")
                steps = step
                break
    log(f"done: {steps} steps in {time.perf_counter() - started:.1f}s")
    return _columns(rows[: steps + 1], extra, steps + 1)


def _columns(rows: torch.Tensor, extra: dict, n: int) -> dict[str, np.ndarray]:
    table = rows.cpu().numpy()
    columns = {name: table[:, i] for i, name in enumerate(METRIC_COLUMNS)}
    columns["step"] = columns["step"].astype(np.int64)
    columns.update({k: v[:n] for k, v in extra.items()})
    return columns


def run_training(
    run: RunSpec | dict,
    data_path: str | Path,
    metrics_path: str | Path,
    checkpoint_path: str | Path | None = None,
    device: str = "auto",
    log: Callable[[str], None] = print,
) -> dict[str, np.ndarray]:
    """Train one configured run and write its metrics table and final checkpoint atomically."""
    run = RunSpec.from_dict(run)
    device = pick_device(device, log)
    torch.manual_seed(run.seed)
    split = load_split(data_path, run.fraction).to(device)
    model = build_module(run.model, split, run.seed).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    if run.optimizer == "adamw_fixed_norm":
        rescale_to_norm(model.parameters(), run.norm)  # step 0 already lies on the shell
    init_norm = float(M.weight_norm(model.parameters()))
    log(
        f"run {run.name}: {run.optimizer} on {run.task} (fraction {run.fraction}, "
        f"{len(split.train_labels)} train / {len(split.test_labels)} test), model {run.model}, "
        f"{n_params:,} parameters, init norm {init_norm:.2f}"
    )
    optimizer = build_optimizer(run, list(model.parameters()))
    attrs = provenance(
        device,
        run=run.to_dict(),
        seed=run.seed,
        n_params=n_params,
        init_norm=init_norm,
        n_train=len(split.train_labels),
        n_test=len(split.test_labels),
    )
    try:
        columns = train_model(
            model,
            optimizer,
            split,
            run.steps,
            log_loss_closure=run.optimizer in LOG_LOSS_OPTIMIZERS,
            slope=run.slope,
            log_every=run.log_every,
            log=log,
            stop_at_test_acc=run.stop_at_test_acc,
        )
    except TrainingDiverged as err:
        partial = Path(metrics_path).with_suffix(".diverged.h5")
        write_table(partial, err.args[1], attrs)
        raise TrainingDiverged(f"run {run.name} diverged: {err.args[0]}; metrics so far kept in {partial}") from None
    write_table(metrics_path, columns, attrs)
    if checkpoint_path is not None:
        torch_save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "run": run.to_dict(),
                "step": run.steps,
                "provenance": attrs,
            },
            checkpoint_path,
        )
    return columns
