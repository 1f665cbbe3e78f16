"""The pipeline's networks as systems the WLMD sampler can explore (the interface:
grokglass.wlmd.systems.System): the paper's one-layer transformer on an arithmetic split, and the
Ising task's dense classifier. Both give x = ln CE_train and y = y_scale * smoothed A_test, the
same numbers training logs.

Train and test examples are padded to a multiple of the sampler's ROW_ALIGN by repeating the
first example, and the padding is dropped before the means: every walker's elementwise work then
fills whole SIMD vectors on CPU, so a walker computes bit-identical (x, y) and gradients whatever
the number of walkers beside it (grokglass.wlmd.sampler.ROW_ALIGN).
"""

from __future__ import annotations

import torch

from grokglass.data.arithmetic import Split
from grokglass.metrics import DEFAULT_SLOPE, margins, per_example_cross_entropy64
from grokglass.nets import dense
from grokglass.nets.transformer import TransformerConfig, init_params, transformer_logits
from grokglass.wlmd.sampler import padded_size


class TransformerSystem:
    """The one-layer transformer on one task split: x = ln CE_train, y = y_scale * A_test.

    Train and test examples go through the network in one forward (the
    per-token tables of model.transformer_logits are then built once per epoch).
    Each set is padded to a multiple of sampler.ROW_ALIGN examples by repeating
    its first example; the padding is dropped before the means. This keeps every
    walker's elementwise work in whole SIMD vectors on CPU, so a walker computes
    bit-identical (x, y) and gradients whatever the number of walkers beside it
    (see sampler.ROW_ALIGN). It costs < 3 % extra examples at p = 67.
    """

    def __init__(
        self,
        cfg: TransformerConfig,
        split: Split,
        slope: float = DEFAULT_SLOPE,
        y_scale: float = 10.0,
        device: torch.device | str = "cpu",
    ):
        if split.p != cfg.p:
            raise ValueError(f"model p={cfg.p} does not match the split's p={split.p}")
        self.cfg = cfg
        self.slope = float(slope)
        self.y_scale = float(y_scale)
        self.device = torch.device(device)
        split = split.to(self.device)
        self.n_train, self.n_test = len(split.train_labels), len(split.test_labels)
        train_inputs, train_labels = _pad_examples(split.train_inputs, split.train_labels)
        test_inputs, test_labels = _pad_examples(split.test_inputs, split.test_labels)
        self.n_train_padded = len(train_labels)
        self.tokens = torch.cat([train_inputs, test_inputs])
        self.train_labels = train_labels
        self.test_labels = test_labels

    @property
    def n_examples(self) -> int:
        """Examples per forward, padding included (what the compute is spent on)."""
        return len(self.tokens)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return self.cfg.shapes()

    def init_params(self, seed: int) -> dict[str, torch.Tensor]:
        """Nanda's init (spec 2.1) from a CPU generator seeded with `seed`."""
        return init_params(self.cfg, torch.Generator().manual_seed(int(seed)))

    def bounds(self, scale: float) -> dict[str, float]:
        """b_k = scale * init std of tensor k (spec 5.7 default, scale = 2).

        The biases start at 0, so they take the std of the weight they add to:
        b_in like W_in and b_out like W_out, i.e. 1/sqrt(d_model).
        """
        std = dict(self.cfg.init_std())
        std["b_in"] = std["W_in"]
        std["b_out"] = std["W_out"]
        return {name: scale * s for name, s in std.items()}

    def observables(self, params: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(ln CE_train, y_scale * smoothed A_test), the same numbers as metrics.log_cross_entropy64
        and metrics.smoothed_accuracy on the unpadded sets."""
        logits = transformer_logits(params, self.tokens, self.cfg.n_heads)
        train = logits[..., : self.n_train_padded, :]
        test = logits[..., self.n_train_padded :, :]
        log_probs = train.double().log_softmax(dim=-1)
        index = self.train_labels.expand(*log_probs.shape[:-1]).unsqueeze(-1)
        nll = -log_probs.gather(-1, index).squeeze(-1)
        x = nll[..., : self.n_train].mean(dim=-1).log()
        soft = torch.sigmoid(self.slope * margins(test, self.test_labels))
        return x, self.y_scale * soft[..., : self.n_test].mean(dim=-1).double()


def _pad_examples(inputs: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Repeat the first example up to a multiple of ROW_ALIGN examples (see TransformerSystem)."""
    extra = padded_size(len(labels)) - len(labels)
    return (torch.cat([inputs, inputs[:1].expand(extra, -1)]), torch.cat([labels, labels[:1].expand(extra)]))


class DenseSystem:
    """The Ising task's dense classifier (grokglass.nets.dense) on one split:
    x = ln CE_train (float64), y = y_scale * smoothed A_test, both of the logits
    beta_s * z (the network's output times inverse_temperature), as in training.

    Walkers are batched through matmuls on the stacked parameters (W: (K, out, in)).
    No dropout (the sampler explores the deterministic network). Train and test
    sets are padded to a multiple of sampler.ROW_ALIGN examples as in
    TransformerSystem; the padding is dropped before the means.
    """

    def __init__(
        self,
        hidden,
        n_classes: int,
        in_features: int,
        split: Split,
        inverse_temperature: float = 1.0,
        slope: float = DEFAULT_SLOPE,
        y_scale: float = 10.0,
        device: torch.device | str = "cpu",
        init_scale: float = 1.0,
    ):
        self._net, self._nll = dense, per_example_cross_entropy64
        if split.train_inputs.shape[-1] != in_features:
            raise ValueError(
                f"in_features={in_features} does not match the split's {split.train_inputs.shape[-1]} input features"
            )
        self.hidden = tuple(int(h) for h in hidden)
        self.n_classes, self.in_features = int(n_classes), int(in_features)
        self.inverse_temperature = float(inverse_temperature)
        self.init_scale = float(init_scale)
        self.slope, self.y_scale = float(slope), float(y_scale)
        self.device = torch.device(device)
        self.shapes = dense.dense_shapes(self.in_features, self.hidden, self.n_classes)
        split = split.to(self.device)
        self.n_train, self.n_test = len(split.train_labels), len(split.test_labels)
        train_inputs, train_labels = _pad_examples(split.train_inputs.float(), split.train_labels)
        test_inputs, test_labels = _pad_examples(split.test_inputs.float(), split.test_labels)
        self.n_train_padded = len(train_labels)
        self.inputs = torch.cat([train_inputs, test_inputs])
        self.train_labels, self.test_labels = train_labels, test_labels

    @property
    def n_examples(self) -> int:
        return len(self.inputs)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return dict(self.shapes)

    def init_params(self, seed: int) -> dict[str, torch.Tensor]:
        """PyTorch-default-like init (times init_scale) from a CPU generator seeded with `seed`."""
        generator = torch.Generator().manual_seed(int(seed))
        return self._net.dense_init_params(self.shapes, generator, self.init_scale)

    def bounds(self, scale: float) -> dict[str, float]:
        """b_k = scale * init std of tensor k; a bias takes the std of its layer's weight."""
        std = self._net.dense_init_std(self.shapes, self.init_scale)
        return {name: scale * s for name, s in std.items()}

    def observables(self, params: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self._net.dense_logits(params, self.inputs, self.inverse_temperature)
        train = logits[..., : self.n_train_padded, :]
        test = logits[..., self.n_train_padded :, :]
        nll = self._nll(train, self.train_labels)
        x = nll[..., : self.n_train].mean(dim=-1).log()
        soft = torch.sigmoid(self.slope * margins(test, self.test_labels))
        return x, self.y_scale * soft[..., : self.n_test].mean(dim=-1).double()
