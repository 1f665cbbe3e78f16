"""WanD: Wang-Landau molecular dynamics on ln L_train used as an optimizer (paper 5, Alg. 1).

Per step, with x = ln L_train and S the 1-D entropy estimate over x:
    v <- v - S'(x) * grad(x) * dt                    (force -dS/dtheta)
    v <- v - c_f v - sqrt(c_f (2 - c_f) kT) * xi     (Langevin thermostat)
    theta <- theta + v dt
    S <- S + f(t) * Gaussian at the bin of x          (Wang-Landau deposit)
S starts as the bias B (x - L0)^2 above L0, so above L0 the force is momentum
descent on ln L; below L0 the walker diffuses over the low-loss region while
the deposits push it away from where it has been. Test data is never used.
"""

from __future__ import annotations

import math

import torch

from grokglass.wlmd.grid import EntropyGrid, GridSpec, wang_landau_factor


class WanD(torch.optim.Optimizer):
    """The closure must zero the grads, compute x = ln L_train, call x.backward(), return x."""

    def __init__(
        self,
        params,
        lr: float = 3e-3,
        kT: float = 0.5,
        friction: float = 0.5,
        bias_start: float = -8.0,
        bias_strength: float = 3000.0,
        wl_factor: float = 20.0,
        t_rise: float = 1000.0,
        t_drop: float = 1000.0,
        grid_range: tuple[float, float] = (-20.0, 20.0),
        bin_width: float = 0.02,
        gaussian_sigma_bins: float = 15.0,
        gaussian_cutoff_sigmas: float = 4.0,
        seed: int = 0,
    ):
        if lr <= 0 or kT < 0 or not 0 < friction < 2:
            raise ValueError(f"need lr > 0, kT >= 0 and 0 < friction < 2 (got {lr}, {kT}, {friction})")
        defaults = dict(lr=lr, kT=kT, friction=friction)
        super().__init__(params, defaults)
        device = self.param_groups[0]["params"][0].device
        self.spec = GridSpec(
            lows=(grid_range[0],),
            highs=(grid_range[1],),
            bin_width=bin_width,
            bias_strength=bias_strength,
            bias_start=bias_start,
            gaussian_sigma_bins=gaussian_sigma_bins,
            gaussian_cutoff_sigmas=gaussian_cutoff_sigmas,
        )
        self.grid = EntropyGrid(self.spec, n_walkers=1, device=device)
        self.schedule = dict(factor=wl_factor, t_rise=t_rise, t_drop=t_drop)
        self.generator = torch.Generator(device=device).manual_seed(int(seed))
        self.epoch = 0
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["velocity"] = math.sqrt(group["kT"]) * torch.randn(
                    p.shape, generator=self.generator, device=p.device, dtype=p.dtype
                )

    @torch.no_grad()
    def displacement(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Advance velocities and the entropy for this step; return dtheta = v dt per param.

        Uses p.grad = d(ln L)/d(theta), as left by the closure's backward.
        """
        self.epoch += 1
        bins = self.grid.bin_index(x.detach().double().reshape(1, 1))
        slope = self.grid.gradient(bins)[0, 0]  # dS/dx at the current bin
        steps = []
        for group in self.param_groups:
            dt, c_f, kT = group["lr"], group["friction"], group["kT"]
            noise_scale = math.sqrt(c_f * (2.0 - c_f) * kT)
            for p in group["params"]:
                v = self.state[p]["velocity"]
                if p.grad is not None:
                    v.add_(p.grad * (-slope * dt).to(p.dtype))
                v.mul_(1.0 - c_f).add_(
                    torch.randn(p.shape, generator=self.generator, device=p.device, dtype=p.dtype), alpha=-noise_scale
                )
                steps.append(v * dt)
        amount = wang_landau_factor(float(self.epoch), **self.schedule)
        if amount > 0:
            self.grid.deposit(bins, amount)
        return steps

    def step(self, closure):
        with torch.enable_grad():
            x = closure()
        with torch.no_grad():
            params = [p for group in self.param_groups for p in group["params"]]
            for p, dtheta in zip(params, self.displacement(x)):
                p.add_(dtheta)
        return x

    def state_dict(self):
        state = super().state_dict()
        state["wand"] = {
            "entropy": self.grid.entropy.detach().cpu().clone(),
            "histogram": self.grid.histogram.detach().cpu().clone(),
            "epoch": self.epoch,
            "generator": self.generator.get_state(),
            "grid": self.spec.to_dict(),
            "schedule": dict(self.schedule),
        }
        return state

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        wand = state_dict.pop("wand")
        if GridSpec.from_dict(wand["grid"]) != self.spec:
            raise ValueError("WanD state was saved with a different entropy grid")
        super().load_state_dict(state_dict)
        self.grid.entropy = wand["entropy"].to(self.grid.device)
        self.grid.histogram = wand["histogram"].to(self.grid.device)
        self.epoch = wand["epoch"]
        self.generator.set_state(wand["generator"])
        self.schedule = dict(wand["schedule"])
