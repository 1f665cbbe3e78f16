"""The dense classifier of the Ising task (spec 10.3), written functionally like model.transformer_logits.

:func:`dense_logits` takes a dict of tensors ``W0, b0, W1, b1, ...`` that may carry
any leading walker dims (WLMD), and :class:`DenseClassifier` is the nn.Module
wrapper used for ordinary training; grokglass.nets.registry builds both from a
specs.DenseModel, with in_features and n_classes from the data split.

Dropout is applied only while the module is in training mode *and* autograd is
recording, i.e. in the training loop's closure; the metric forwards of
grokglass.train.loop run under torch.no_grad() and therefore see the deterministic
network (test accuracy is never measured with dropout on). The logged train
accuracy/loss of a step are those of the closure's forward, with dropout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from grokglass.data.arithmetic import Split
from grokglass.nets.specs import DenseModel

DEFAULT_HIDDEN = DenseModel.hidden


def dense_shapes(
    in_features: int, hidden: Sequence[int] = DEFAULT_HIDDEN, n_classes: int = 4
) -> dict[str, tuple[int, ...]]:
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
    for name in shapes:
        layer = name[1:]
        fan_in = shapes[f"W{layer}"][1]
        std[name] = float(init_scale) / math.sqrt(fan_in) / math.sqrt(3.0)
    return std


def dense_init_params(
    shapes: dict[str, tuple[int, ...]],
    generator: torch.Generator,
    init_scale: float = 1.0,
    dtype: torch.dtype = torch.float32,
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


def dense_hidden(
    params: dict[str, torch.Tensor], inputs: torch.Tensor, dropout: float = 0.0, training: bool = False
) -> list[torch.Tensor]:
    """Post-ReLU activations of every hidden layer (after dropout when training), (*walkers, n, h)."""
    h = inputs
    out = []
    for layer in range(n_layers(params) - 1):
        h = torch.relu(h @ params[f"W{layer}"].transpose(-1, -2) + params[f"b{layer}"].unsqueeze(-2))
        if dropout > 0 and training:
            h = torch.nn.functional.dropout(h, p=dropout, training=True)
        out.append(h)
    return out


def dense_logits(
    params: dict[str, torch.Tensor],
    inputs: torch.Tensor,
    inverse_temperature: float = 1.0,
    dropout: float = 0.0,
    training: bool = False,
) -> torch.Tensor:
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

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int] = DEFAULT_HIDDEN,
        n_classes: int = 4,
        dropout: float = 0.0,
        inverse_temperature: float = 1.0,
        seed: int = 0,
        init_scale: float = 1.0,
    ):
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
        return dense_logits(self.params(), inputs, self.inverse_temperature, self.dropout, self._dropout_on())

    def hidden_activations(self, inputs: torch.Tensor) -> list[torch.Tensor]:
        """Post-ReLU activations of each hidden layer, without dropout."""
        return dense_hidden(self.params(), inputs)

    def weights(self) -> list[torch.Tensor]:
        return [getattr(self, f"W{layer}") for layer in range(n_layers(self.params()))]

    def extra_repr(self) -> str:
        return (
            f"in={self.in_features}, hidden={list(self.hidden)}, classes={self.n_classes}, "
            f"dropout={self.dropout}, inverse_temperature={self.inverse_temperature}, "
            f"init_scale={self.init_scale}"
        )


def split_classes(split: Split) -> int:
    if split.n_classes is not None:
        return int(split.n_classes)
    labels = torch.cat([split.train_labels, split.test_labels])
    return int(labels.max()) + 1
