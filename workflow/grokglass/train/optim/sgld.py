"""Stochastic gradient Langevin dynamics (Kozyrev's model of grokking, spec 9.1).

theta <- theta - lr * (grad L + wd * theta) + N(0, 2 * temperature * lr)

At temperature 0 this is plain gradient descent; the stationary law at fixed lr
is close to Gibbs exp(-L / temperature).
"""

from __future__ import annotations

import math

import torch


class SGLD(torch.optim.Optimizer):
    def __init__(self, params, lr: float = 1e-3, temperature: float = 1e-6, weight_decay: float = 0.0, seed: int = 0):
        if lr <= 0 or temperature < 0 or weight_decay < 0:
            raise ValueError(
                f"need lr > 0, temperature >= 0, weight_decay >= 0 (got {lr}, {temperature}, {weight_decay})"
            )
        super().__init__(params, dict(lr=lr, temperature=temperature, weight_decay=weight_decay))
        device = self.param_groups[0]["params"][0].device
        self.generator = torch.Generator(device=device).manual_seed(int(seed))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, wd = group["lr"], group["weight_decay"]
            noise_scale = math.sqrt(2.0 * group["temperature"] * lr)
            for p in group["params"]:
                if p.grad is None:
                    continue
                p.add_(p.grad + wd * p, alpha=-lr)
                if noise_scale > 0:
                    p.add_(
                        torch.randn(p.shape, generator=self.generator, device=p.device, dtype=p.dtype),
                        alpha=noise_scale,
                    )
        return loss

    def state_dict(self):
        state = super().state_dict()
        state["generator"] = self.generator.get_state()
        return state

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        self.generator.set_state(state_dict.pop("generator"))
        super().load_state_dict(state_dict)
