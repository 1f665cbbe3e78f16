"""The one-layer transformer of Nanda et al. (no LayerNorm, ReLU MLP, 4 heads).

Written functionally: :func:`transformer_logits` takes a dict of tensors that
may carry any number of leading batch dimensions (one per walker in WLMD), so
the same code serves the ordinary ``nn.Module`` and K stacked walkers.

Exact shortcut (spec 2.4, taken further): inputs are 3 tokens and only the last
position's output is read. With one layer and no LayerNorm, the residual stream
at position t before attention depends only on (token, t). So the key, value
and query vectors are computed once per vocabulary entry and position (a table
of 3 x (p+1) rows) and gathered per example; only the attention mix, W_O, the
MLP and the unembedding run per example, and only at the last position.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from grokglass.nets.specs import TransformerModel

N_CTX = 3  # [x, y, =]


@dataclass(frozen=True)
class TransformerConfig:
    p: int
    d_model: int = TransformerModel.d_model  # the defaults are the model spec's
    n_heads: int = TransformerModel.n_heads
    d_mlp: int | None = None  # default 4 * d_model

    @property
    def vocab(self) -> int:
        return self.p + 1  # numbers 0..p-1 and '='; '=' is also an (always wrong) output class

    @property
    def mlp_width(self) -> int:
        return self.d_mlp if self.d_mlp is not None else 4 * self.d_model

    @property
    def d_head(self) -> int:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        return self.d_model // self.n_heads

    def shapes(self) -> dict[str, tuple[int, ...]]:
        d, v, h, e, m = self.d_model, self.vocab, self.n_heads, self.d_head, self.mlp_width
        return {
            "W_E": (d, v),
            "W_pos": (N_CTX, d),
            "W_Q": (h, e, d),
            "W_K": (h, e, d),
            "W_V": (h, e, d),
            "W_O": (d, h * e),
            "W_in": (m, d),
            "b_in": (m,),
            "W_out": (d, m),
            "b_out": (d,),
            "W_U": (d, v),
        }

    def init_std(self) -> dict[str, float]:
        """Nanda's init: N(0, 1/d_model) for weights, W_U N(0, 1/(p+1)), biases 0."""
        std = {name: 1.0 / math.sqrt(self.d_model) for name in self.shapes()}
        std["W_U"] = 1.0 / math.sqrt(self.vocab)
        std["b_in"] = std["b_out"] = 0.0
        return std

    def n_params(self) -> int:
        return sum(math.prod(s) for s in self.shapes().values())

    def to_dict(self) -> dict:
        return asdict(self)


def init_params(
    cfg: TransformerConfig, generator: torch.Generator, dtype: torch.dtype = torch.float32
) -> dict[str, torch.Tensor]:
    """Draw one network's parameters (on CPU) from `generator`."""
    params = {}
    for name, shape in cfg.shapes().items():
        std = cfg.init_std()[name]
        params[name] = torch.randn(shape, generator=generator, dtype=dtype) * std
    return params


def transformer_logits(params: dict[str, torch.Tensor], tokens: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Logits at the last position, shape (*batch, n_examples, vocab).

    params: tensors of the shapes in TransformerConfig.shapes(), each with the
    same leading batch dims (possibly none). tokens: (n_examples, 3) int64.
    """
    W_E, W_pos = params["W_E"], params["W_pos"]
    d_model = W_E.shape[-2]
    d_head = d_model // n_heads
    batch = W_E.shape[:-2]
    # residual stream before attention, per (position, token): (*b, 3, V, d)
    embed_table = W_E.transpose(-1, -2).unsqueeze(-3) + W_pos.unsqueeze(-2)
    # keys and values of every (position, token) in one matmul: (*b, 3, V, 2, H, e). Heads
    # are tiny (e = d/H), so plain matmuls and broadcast products beat einsum's batched bmm.
    # (the positions are folded into rows: a broadcast matmul would run as one mm for a lone
    # walker but as a bmm for several, and round differently; spec 5.10 wants them bit-equal)
    w_kv = torch.cat([params["W_K"], params["W_V"]], dim=-3).reshape(*batch, 2 * d_model, d_model)
    rows = embed_table.flatten(-3, -2) @ w_kv.transpose(-1, -2)  # (*b, 3 V, 2 d)
    key_value = rows.unflatten(-2, (N_CTX, -1)).unflatten(-1, (2, n_heads, d_head))
    w_q = params["W_Q"].reshape(*batch, d_model, d_model)
    query_table = (embed_table[..., -1, :, :] @ w_q.transpose(-1, -2)).unflatten(-1, (n_heads, d_head))

    # (*b, n, 3, 2, H, e): each example's keys and values at its 3 positions
    gathered = torch.stack([key_value[..., t, :, :, :, :].index_select(-4, tokens[:, t]) for t in range(N_CTX)], dim=-4)
    keys, values = gathered.unbind(-3)  # (*b, n, 3, H, e) each; unbind: no zero-filled gradient
    last = tokens[:, -1]
    query = query_table.index_select(-3, last)  # (*b, n, H, e)
    # the last position attends to all positions, so the causal mask removes nothing here
    scores = (query.unsqueeze(-3) * keys).sum(-1) / math.sqrt(d_head)  # (*b, n, 3, H)
    weights = scores.softmax(dim=-2)
    mixed = (weights.unsqueeze(-1) * values).sum(-3).flatten(-2)  # (*b, n, H e)
    resid = embed_table[..., -1, :, :].index_select(-2, last)  # (*b, n, d)
    resid = resid + mixed @ params["W_O"].transpose(-1, -2)
    hidden = torch.relu(resid @ params["W_in"].transpose(-1, -2) + params["b_in"].unsqueeze(-2))
    resid = resid + hidden @ params["W_out"].transpose(-1, -2) + params["b_out"].unsqueeze(-2)
    return resid @ params["W_U"]


class Transformer(nn.Module):
    """nn.Module wrapper around :func:`transformer_logits` for ordinary training."""

    def __init__(self, cfg: TransformerConfig, seed: int = 0):
        super().__init__()
        self.cfg = cfg
        generator = torch.Generator().manual_seed(int(seed))
        for name, tensor in init_params(cfg, generator).items():
            self.register_parameter(name, nn.Parameter(tensor))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return transformer_logits(dict(self.named_parameters()), tokens, self.cfg.n_heads)


def reference_logits(params: dict[str, torch.Tensor], tokens: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Plain full-sequence forward with a causal mask (no table shortcut), one network.

    Kept as an independent check of transformer_logits; not used in training.
    """
    resid = params["W_E"][:, tokens].permute(1, 2, 0) + params["W_pos"]  # (n, 3, d)
    q = torch.einsum("hed,ntd->nhte", params["W_Q"], resid)
    k = torch.einsum("hed,ntd->nhte", params["W_K"], resid)
    v = torch.einsum("hed,ntd->nhte", params["W_V"], resid)
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    mask = torch.triu(torch.ones(N_CTX, N_CTX, dtype=torch.bool), diagonal=1)
    weights = scores.masked_fill(mask, float("-inf")).softmax(-1)
    z = (weights @ v).permute(0, 2, 1, 3).flatten(-2)  # (n, 3, H*e)
    resid = resid + z @ params["W_O"].T
    hidden = torch.relu(resid @ params["W_in"].T + params["b_in"])
    resid = resid + hidden @ params["W_out"].T + params["b_out"]
    return resid[:, -1] @ params["W_U"]
