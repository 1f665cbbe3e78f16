"""The model registry: a model kind -> how to build its trainable module and its WLMD system.

Training (grokglass.train.loop) and sampling (grokglass.jobs.segment) both build their
network from a model spec (grokglass.pipeline.specs) through this table, so a new kind is one
entry here and one spec class there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from grokglass.data.arithmetic import Split
from grokglass.nets.dense import DenseClassifier, split_classes
from grokglass.nets.specs import DenseModel, ModelSpec, TransformerModel
from grokglass.nets.systems import DenseSystem, TransformerSystem
from grokglass.nets.transformer import Transformer, TransformerConfig


@dataclass(frozen=True)
class ModelKind:
    build_module: Callable[..., torch.nn.Module]  # (spec, split, seed) -> module
    build_system: Callable[..., object]  # (spec, split, slope, y_scale, device) -> WLMD system


def transformer_config(model: TransformerModel, p: int) -> TransformerConfig:
    return TransformerConfig(p=p, d_model=model.d_model, n_heads=model.n_heads, d_mlp=model.d_mlp)


def _transformer_module(model: TransformerModel, split: Split, seed: int) -> torch.nn.Module:
    return Transformer(transformer_config(model, split.p), seed=seed)


def _transformer_system(model: TransformerModel, split: Split, slope: float, y_scale: float, device):
    return TransformerSystem(transformer_config(model, split.p), split, slope=slope, y_scale=y_scale, device=device)


def _dense_module(model: DenseModel, split: Split, seed: int) -> torch.nn.Module:
    return DenseClassifier(
        int(split.train_inputs.shape[1]),
        hidden=model.hidden,
        n_classes=split_classes(split),
        dropout=model.dropout,
        inverse_temperature=model.inverse_temperature,
        seed=seed,
        init_scale=model.init_scale,
    )


def _dense_system(model: DenseModel, split: Split, slope: float, y_scale: float, device):
    if model.dropout != 0.0:
        raise ValueError("WLMD samples the deterministic network: model.dropout must be 0")
    return DenseSystem(
        model.hidden,
        split_classes(split),
        int(split.train_inputs.shape[-1]),
        split,
        inverse_temperature=model.inverse_temperature,
        slope=slope,
        y_scale=y_scale,
        device=device,
        init_scale=model.init_scale,
    )


MODEL_KINDS: dict[str, ModelKind] = {
    TransformerModel.kind: ModelKind(_transformer_module, _transformer_system),
    DenseModel.kind: ModelKind(_dense_module, _dense_system),
}


def _kind(model: ModelSpec) -> ModelKind:
    try:
        return MODEL_KINDS[model.kind]
    except KeyError:
        raise ValueError(f"unknown model kind {model.kind!r} (known: {', '.join(MODEL_KINDS)})") from None


def build_module(model: ModelSpec, split: Split, seed: int = 0) -> torch.nn.Module:
    """The trainable network of a run."""
    return _kind(model).build_module(model, split, int(seed))


def build_system(model: ModelSpec, split: Split, slope: float, y_scale: float, device: torch.device | str):
    """The network as a WLMD system (batched walkers) on its split."""
    return _kind(model).build_system(model, split, float(slope), float(y_scale), device)
