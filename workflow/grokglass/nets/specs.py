"""The networks as typed specs: what a run or landscape says of its model (built by
grokglass.nets.registry). The JSON form carries a `kind`; nothing here imports torch."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from grokglass.errors import SpecError, check_keys


@dataclass(frozen=True)
class TransformerModel:
    """Nanda's one-layer transformer (grokglass.nets.transformer); d_mlp defaults to 4 d_model."""

    kind: ClassVar[str] = "transformer"
    d_model: int = 128
    n_heads: int = 4
    d_mlp: int | None = None

    def to_dict(self) -> dict:
        return {"kind": self.kind, **dataclasses.asdict(self)}


@dataclass(frozen=True)
class DenseModel:
    """The dense classifier of the Ising task (grokglass.nets.dense); widths of the hidden layers."""

    kind: ClassVar[str] = "mlp"
    hidden: tuple[int, ...] = (128, 128, 64)
    dropout: float = 0.0
    inverse_temperature: float = 1.0
    init_scale: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))

    def to_dict(self) -> dict:
        return {"kind": self.kind, **dataclasses.asdict(self), "hidden": list(self.hidden)}


ModelSpec = TransformerModel | DenseModel
MODEL_SPECS: dict[str, type] = {cls.kind: cls for cls in (TransformerModel, DenseModel)}


def model_from_dict(data: dict | ModelSpec) -> ModelSpec:
    """A model spec from its JSON form; `kind` defaults to the transformer."""
    if isinstance(data, (TransformerModel, DenseModel)):
        return data
    data = dict(data)
    kind = data.pop("kind", "transformer")
    if kind not in MODEL_SPECS:
        raise SpecError(f"unknown model kind {kind!r} (known: {', '.join(MODEL_SPECS)})")
    check_keys(MODEL_SPECS[kind], data, f"model of kind {kind!r}")
    return MODEL_SPECS[kind](**data)
