"""Known answers an entropy method could get wrong: an entropy barrier, and a glassy toy.

The paper's claims include "no entropy barrier" and "no glassy trap" on the network. A method
that is to report those must first find a barrier where there is one and notice a trap where
there is one; these two systems have closed-form entropies with exactly those features. (The
smooth known answers, BallSystem and Ball2DSystem, live in wlmd.systems.)
"""

from __future__ import annotations

import math

import numpy as np
import torch

from grokglass.wlmd.systems import Ball2DSystem


class BarrierBall2DSystem(Ball2DSystem):
    """The 2-D ball with y = y_scale f(u), f monotone but steep around u = 1/2:

        f(u) = (u + a tanh((u - 1/2) / w) + a tanh(1 / (2 w))) / (1 + 2 a tanh(1 / (2 w)))

    maps [0, 1] onto [0, 1]. The density of y is that of u divided by f'(u), so at every x

        S(x, y) = (N/2) x + (m/2 - 1) ln u + ((N - m)/2 - 1) ln(1 - u) - ln f'(u) - ln y_scale

    with u = f^-1(y / y_scale): S(y) dips by about ln(1 + a/w) around y = y_scale / 2, between
    two maxima, a barrier of known depth (barrier_depth). With m > N/2 the upper maximum is the
    higher one.
    """

    def __init__(self, n_params: int = 20, m: int = 12, a: float = 0.3, w: float = 0.02, y_scale: float = 10.0):
        super().__init__(n_params, y_scale=y_scale)
        if not 1 <= m < n_params:
            raise ValueError(f"need 1 <= m < n_params, got m = {m}")
        self.m, self.a, self.w = int(m), float(a), float(w)
        self._norm = 1.0 + 2.0 * a * math.tanh(0.5 / w)

    def f(self, u):
        tanh = torch.tanh if isinstance(u, torch.Tensor) else np.tanh
        return (u + self.a * tanh((u - 0.5) / self.w) + self.a * math.tanh(0.5 / self.w)) / self._norm

    def f_prime(self, u):
        return (1.0 + (self.a / self.w) / np.cosh((np.asarray(u) - 0.5) / self.w) ** 2) / self._norm

    def u_of(self, y) -> np.ndarray:
        """f^-1(y / y_scale) by bisection (f is increasing)."""
        target = np.asarray(y, dtype=np.float64) / self.y_scale
        lo, hi = np.zeros_like(target), np.ones_like(target)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            below = self.f(mid) < target
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        return 0.5 * (lo + hi)

    def observables(self, params: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        squares = params["theta"].double().pow(2)
        total = squares.sum(dim=-1)
        return total.log(), self.y_scale * self.f(squares[..., : self.m].sum(dim=-1) / total)

    def entropy_y(self, y) -> np.ndarray:
        """S(x, y) - (N/2) x: the y part, the same at every x (NaN outside (0, y_scale))."""
        y = np.asarray(y, dtype=np.float64)
        u = self.u_of(np.clip(y, 1e-9, self.y_scale - 1e-9))
        value = (
            (0.5 * self.m - 1) * np.log(u)
            + (0.5 * (self.n_params - self.m) - 1) * np.log1p(-u)
            - np.log(self.f_prime(u))
            - math.log(self.y_scale)
        )
        return np.where((y > 0) & (y < self.y_scale), value, np.nan)

    def entropy_2d(self, x, y) -> np.ndarray:
        return 0.5 * self.n_params * np.asarray(x, dtype=np.float64) + self.entropy_y(y)

    def barrier_depth(self) -> float:
        """How far S(y) dips between its two maxima below the lower one (exact, on a fine grid)."""
        y = np.linspace(0.01, self.y_scale - 0.01, 20001)
        s = self.entropy_y(y)
        dip = int(np.argmin(np.where((y > 0.3 * self.y_scale) & (y < 0.7 * self.y_scale), s, np.inf)))
        return float(min(s[:dip].max(), s[dip:].max()) - s[dip])


class TwoBasinSystem:
    """A glassy toy: theta = (a, b), a in R^N1, b in R^N2, in the box |theta_i| <= 1, and

        x = ln min(|a|^2 / s1, |b|^2 / s2)

    so {x <= X} is the union of two basins of different dimension: a within a small ball (N1
    free directions shrinking, b anywhere in its box) or b within one. Exactly, for
    s_i e^X <= 1 (each small ball inside the box),

        S(x) = ln[(N1/2) c1 e^(N1 x/2) + (N2/2) c2 e^(N2 x/2) - (N/2) c12 e^(N x/2)]

    with c1 = V_N1 s1^(N1/2) 2^N2, c2 = V_N2 s2^(N2/2) 2^N1, c12 = V_N1 V_N2 s1^(N1/2) s2^(N2/2)
    (V_n the unit n-ball's volume). The basins meet only where both balls are small, a
    passage whose entropy is ~N x/2: at low x a walker stays in the basin it entered. A walker
    steered down from a random init enters basin 2 (b small); basin 1 holds most of the volume
    below x_cross. Measured from above alone the slope below x_cross comes out N2/2 instead of
    ~N1/2; walkers started in basin 1 ("from below") measure the other basin, and the
    both-sides test must flag the disagreement.
    """

    def __init__(self, n1: int = 10, n2: int = 40, s1: float = math.exp(-12.0), s2: float = 1.0, device="cpu"):
        if n1 < 1 or n2 < 1 or s1 <= 0 or s2 <= 0:
            raise ValueError("need n1, n2 >= 1 and s1, s2 > 0")
        self.n1, self.n2, self.s1, self.s2 = int(n1), int(n2), float(s1), float(s2)
        self.device = torch.device(device)

    @property
    def n_params(self) -> int:
        return self.n1 + self.n2

    @property
    def x_max(self) -> float:
        """Where the closed form stops holding (a small ball reaches the box)."""
        return min(-math.log(self.s1), -math.log(self.s2))

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"a": (self.n1,), "b": (self.n2,)}

    def init_params(self, seed: int) -> dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(int(seed))
        return {
            "a": 2 * torch.rand(self.n1, generator=generator) - 1,
            "b": 2 * torch.rand(self.n2, generator=generator) - 1,
        }

    def basin_one_params(self, seed: int, x: float) -> dict[str, torch.Tensor]:
        """A point of basin 1 at x: a on the small sphere |a|^2 = s1 e^x, b uniform in its box."""
        params = self.init_params(seed)
        a = params["a"]
        params["a"] = a / a.norm() * math.sqrt(self.s1 * math.exp(x))
        return params

    def bounds(self, scale: float) -> dict[str, float]:
        """The box |theta_i| <= 1 is part of the toy; `scale` is ignored."""
        return {"a": 1.0, "b": 1.0}

    def observables(self, params: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        a = params["a"].double().pow(2).sum(dim=-1) / self.s1
        b = params["b"].double().pow(2).sum(dim=-1) / self.s2
        x = torch.minimum(a, b).log()
        return x, torch.zeros_like(x)

    def _log_terms(self, x) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=np.float64)
        log_ball = lambda n: 0.5 * n * math.log(math.pi) - math.lgamma(0.5 * n + 1)
        n = self.n_params
        one = math.log(0.5 * self.n1) + log_ball(self.n1) + 0.5 * self.n1 * math.log(self.s1) + self.n2 * math.log(2)
        two = math.log(0.5 * self.n2) + log_ball(self.n2) + 0.5 * self.n2 * math.log(self.s2) + self.n1 * math.log(2)
        both = (
            math.log(0.5 * n)
            + log_ball(self.n1)
            + log_ball(self.n2)
            + 0.5 * self.n1 * math.log(self.s1)
            + 0.5 * self.n2 * math.log(self.s2)
        )
        return one + 0.5 * self.n1 * x, two + 0.5 * self.n2 * x, both + 0.5 * n * x

    def entropy(self, x) -> np.ndarray:
        """The exact S(x) (NaN above x_max)."""
        one, two, both = self._log_terms(x)
        top = np.maximum(one, two)
        value = top + np.log(np.exp(one - top) + np.exp(two - top) - np.exp(both - top))
        return np.where(np.asarray(x) <= self.x_max, value, np.nan)

    def slope(self, x) -> np.ndarray:
        """dS/dx, exact: the basins' slopes weighted by their shares of the density."""
        one, two, both = self._log_terms(x)
        top = np.maximum(one, two)
        w1, w2, w12 = np.exp(one - top), np.exp(two - top), np.exp(both - top)
        return (0.5 * self.n1 * w1 + 0.5 * self.n2 * w2 - 0.5 * self.n_params * w12) / (w1 + w2 - w12)

    def basin_slopes(self) -> tuple[float, float]:
        return 0.5 * self.n1, 0.5 * self.n2

    def x_cross(self) -> float:
        """Where the two basins hold equal density."""
        one, two, _ = self._log_terms(0.0)
        return float(2.0 * (one - two) / (self.n2 - self.n1))
