"""The annealed WanD/AdamW hybrid of the paper's Appendix B.3 (Figures 7 and 8).

Each step the parameters move by alpha(t) dtheta_WanD + (1 - alpha(t)) dtheta_AdamW,
both computed from the same step's gradient and both optimizer states advanced
every step. The paper's formula for alpha(t) is garbled in the available text;
it only says alpha "first increases then decreases". Our choice [D]:

    alpha(t) = 1 - (2 t / T - 1)^2,   t in [0, T], 0 outside,

a parabola that is 0 at the start and the end of the plotted horizon T and 1 at
T/2: training starts and ends as AdamW (which memorises fast and settles into
the minimum it found) and explores with WanD in between. `alpha_form="sine"`
gives the alternative sin(pi t / T).

The closure returns x = ln L_train after x.backward(); the AdamW half needs
grad L = L * grad ln L, so one backward serves both halves.
"""

from __future__ import annotations

import math

import torch

from grokglass.train.optim.wand import WanD


def hybrid_alpha(step: int, horizon: int, form: str = "parabola") -> float:
    if horizon <= 0:
        raise ValueError(f"hybrid horizon must be > 0, got {horizon}")
    if not 0 <= step <= horizon:
        return 0.0
    u = step / horizon
    if form == "parabola":
        return 1.0 - (2.0 * u - 1.0) ** 2
    if form == "sine":
        return math.sin(math.pi * u)
    raise ValueError(f"unknown alpha form {form!r} (parabola or sine)")


class WanDAdamWHybrid(torch.optim.Optimizer):
    def __init__(
        self,
        params,
        horizon: int,
        lr: float = 3e-3,
        weight_decay: float = 1.0,
        betas: tuple[float, float] = (0.9, 0.98),
        eps: float = 1e-8,
        alpha_form: str = "parabola",
        **wand_kwargs,
    ):
        params = list(params)
        super().__init__(params, {})
        self.wand = WanD(params, lr=lr, **wand_kwargs)
        self.adamw = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=betas, eps=eps)
        self.horizon = int(horizon)
        self.alpha_form = alpha_form
        hybrid_alpha(0, self.horizon, alpha_form)  # validate early
        self.steps_taken = 0
        self.last_alpha = 0.0

    def step(self, closure):
        with torch.enable_grad():
            x = closure()
        params = [p for group in self.param_groups for p in group["params"]]
        with torch.no_grad():
            before = [p.detach().clone() for p in params]
            wand_steps = self.wand.displacement(x)  # uses grad ln L
            loss = x.detach().exp()
            for p in params:
                if p.grad is not None:
                    p.grad.mul_(loss.to(p.dtype))  # grad L = L grad ln L
        self.adamw.step()
        alpha = hybrid_alpha(self.steps_taken, self.horizon, self.alpha_form)
        with torch.no_grad():
            for p, p0, dw in zip(params, before, wand_steps):
                adam_step = p - p0
                p.copy_(p0 + alpha * dw + (1.0 - alpha) * adam_step)
        self.steps_taken += 1
        self.last_alpha = alpha
        return x

    def state_dict(self):
        return {
            "wand": self.wand.state_dict(),
            "adamw": self.adamw.state_dict(),
            "steps_taken": self.steps_taken,
            "horizon": self.horizon,
            "alpha_form": self.alpha_form,
        }

    def load_state_dict(self, state_dict):
        self.wand.load_state_dict(state_dict["wand"])
        self.adamw.load_state_dict(state_dict["adamw"])
        self.steps_taken = state_dict["steps_taken"]
