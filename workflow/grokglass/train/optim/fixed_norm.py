"""AdamW with the global weight norm held fixed (paper 4.2, Omnigrok's landscape runs)."""

from __future__ import annotations

import torch

from grokglass.metrics import weight_norm


@torch.no_grad()
def rescale_to_norm(params, norm: float) -> None:
    """Multiply every tensor by norm / ||theta|| (global L2 norm over all tensors)."""
    params = list(params)
    scale = norm / weight_norm(params)
    for p in params:
        p.mul_(scale.to(p.dtype))


class FixedNormAdamW(torch.optim.AdamW):
    """torch.optim.AdamW followed, after every step, by a rescale onto the norm shell."""

    def __init__(self, params, norm: float = 30.0, **adamw_kwargs):
        if norm <= 0:
            raise ValueError(f"norm must be > 0, got {norm}")
        super().__init__(params, **adamw_kwargs)
        self.norm = float(norm)

    def all_params(self):
        return [p for group in self.param_groups for p in group["params"]]

    def step(self, closure=None):
        loss = super().step(closure)
        rescale_to_norm(self.all_params(), self.norm)
        return loss
