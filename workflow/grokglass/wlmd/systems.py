"""Systems the WLMD sampler can explore.

The sampler (grokglass.wlmd.sampler) is model-agnostic: it only needs a
*system*, an object with

- ``param_shapes() -> dict[name, shape]``: the shape of each parameter tensor
  of ONE walker (the sampler packs them into one flat buffer per walker);
- ``init_params(seed) -> dict[name, Tensor]``: one walker's initial parameters
  (CPU, float32), drawn from a generator seeded with ``seed`` only, so a walker
  starts the same whichever job or device runs it;
- ``bounds(scale) -> dict[name, float]``: the half-width b_k of the reflective
  box of each tensor (spec 5.7);
- ``observables(params) -> (x, y)``: ``params`` carry a leading walker dim K;
  x and y are (K,) float64 tensors, differentiable w.r.t. the params. x is the
  energy coordinate and y the order parameter, both already in grid units.
  A system meant for a 1-D grid may return any y (it is ignored there).

System states this interface as a typing.Protocol. The paper's networks adapt themselves to it in
grokglass.nets.systems (TransformerSystem: x = ln L_train, y = 10 A_test; DenseSystem);
ModuleSystem adapts any torch.nn.Module. The toy systems have closed-form densities of states
and exist to test the sampler (and for users to check a sampler configuration quickly).
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import torch

from grokglass.metrics import DEFAULT_SLOPE, margins


@runtime_checkable
class System(Protocol):
    """What the sampler needs of a system (module docstring)."""

    def param_shapes(self) -> dict[str, tuple[int, ...]]: ...

    def init_params(self, seed: int) -> dict[str, torch.Tensor]: ...

    def bounds(self, scale: float) -> dict[str, float]: ...

    def observables(self, params: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]: ...


class _TwoParameterToy:
    """Shared parts of the toys: one tensor 'theta' of 2 entries, uniform init in the box."""

    def __init__(self, half_width: float = 1.0, device: torch.device | str = "cpu"):
        if half_width <= 0:
            raise ValueError(f"half_width must be > 0, got {half_width}")
        self.half_width = float(half_width)
        self.device = torch.device(device)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"theta": (2,)}

    def init_params(self, seed: int) -> dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(int(seed))
        theta = (2 * torch.rand(2, generator=generator) - 1) * self.half_width
        return {"theta": theta}

    def bounds(self, scale: float) -> dict[str, float]:
        """The box |theta_i| <= b is part of the toy's definition; `scale` is ignored."""
        return {"theta": self.half_width}


class BoxSumSystem(_TwoParameterToy):
    """theta uniform in the square |theta_i| <= b, x = theta_1 + theta_2 (a 1-D system).

    The density of states of x is the triangle 2b - |x| on [-2b, 2b], so
    S(x) = ln(2b - |x|) + const. y is a constant 0 (use a 1-D grid).
    """

    def observables(self, params: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        theta = params["theta"].double()
        x = theta[..., 0] + theta[..., 1]
        return x, torch.zeros_like(x)

    def entropy(self, x: torch.Tensor) -> torch.Tensor:
        """The exact S(x) up to a constant (-inf outside [-2b, 2b])."""
        return torch.log((2 * self.half_width - x.abs()).clamp(min=0))


class RotatedSquareSystem(_TwoParameterToy):
    """theta uniform in the square |theta_i| <= b, (x, y) = (theta_1 + theta_2, theta_1 - theta_2).

    (x, y) is uniform on the diamond |x| + |y| <= 2b, so S is flat inside it.
    """

    def observables(self, params: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        theta = params["theta"].double()
        return theta[..., 0] + theta[..., 1], theta[..., 0] - theta[..., 1]

    def inside(self, x: torch.Tensor, y: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
        """Whether (x, y) lies inside the diamond, at least `margin` from its edge (in |x|+|y|)."""
        return x.abs() + y.abs() <= 2 * self.half_width - margin


class BallSystem:
    """theta in R^N, x = ln |theta|^2 (a 1-D system whose entropy is extensive).

    Uniform measure on R^N gives |theta|^2 = u the density u^(N/2 - 1) du, so in x = ln u
    the density of states is e^((N/2) x): S(x) = (N/2) x + const, a slope that grows with N
    as a network's does (spec 5: S rises ~N_eff/2 nats per unit of ln L). The unit ball
    |theta| <= radius is x <= 2 ln radius; use constraint "none" and let the grid's bias
    (bias_start = 2 ln radius) be the wall. y is a constant 0 (use a 1-D grid).
    """

    def __init__(self, n_params: int, radius: float = 1.0, device: torch.device | str = "cpu"):
        if n_params < 1 or radius <= 0:
            raise ValueError(f"need n_params >= 1 and radius > 0, got {n_params}, {radius}")
        self.n_params, self.radius = int(n_params), float(radius)
        self.device = torch.device(device)

    @property
    def x_max(self) -> float:
        """x at the ball's surface."""
        return 2.0 * math.log(self.radius)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"theta": (self.n_params,)}

    def init_params(self, seed: int) -> dict[str, torch.Tensor]:
        """A point drawn uniformly in the ball (so near its surface for large N)."""
        generator = torch.Generator().manual_seed(int(seed))
        direction = torch.randn(self.n_params, generator=generator)
        length = self.radius * float(torch.rand((), generator=generator)) ** (1.0 / self.n_params)
        return {"theta": direction / direction.norm() * length}

    def bounds(self, scale: float) -> dict[str, float]:
        return {"theta": self.radius}

    def observables(self, params: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        x = params["theta"].double().pow(2).sum(dim=-1).log()
        return x, torch.zeros_like(x)

    def entropy(self, x: torch.Tensor) -> torch.Tensor:
        """The exact S(x) = (N/2) x (constant 0), -inf outside the ball."""
        x = torch.as_tensor(x, dtype=torch.float64)
        return torch.where(x <= self.x_max, 0.5 * self.n_params * x, torch.full_like(x, -math.inf))


class Ball2DSystem(BallSystem):
    """The ball with a second coordinate: x = ln |theta|^2 and y = y_scale * u, u the share of
    |theta|^2 in the first m = N // 2 coordinates (a 2-D system, entropy extensive in both).

    Under the uniform measure, |theta|^2 and the direction are independent and u is
    Beta(m/2, (N-m)/2), so the exact joint entropy is
    S(x, y) = (N/2) x + (m/2 - 1) ln u + ((N - m)/2 - 1) ln (1 - u) + const.
    """

    def __init__(self, n_params: int, radius: float = 1.0, y_scale: float = 10.0, device="cpu"):
        if n_params < 2:
            raise ValueError(f"the 2-D ball needs n_params >= 2, got {n_params}")
        super().__init__(n_params, radius, device)
        self.m, self.y_scale = n_params // 2, float(y_scale)

    def observables(self, params: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        squares = params["theta"].double().pow(2)
        total = squares.sum(dim=-1)
        return total.log(), self.y_scale * squares[..., : self.m].sum(dim=-1) / total

    def entropy_2d(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The exact S(x, y) (constant 0), -inf outside the ball or off u in (0, 1)."""
        x, u = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64) / self.y_scale
        inside = (x <= self.x_max) & (u > 0) & (u < 1)
        value = (
            0.5 * self.n_params * x
            + (0.5 * self.m - 1) * u.clamp(1e-300, 1).log()
            + (0.5 * (self.n_params - self.m) - 1) * (1 - u).clamp(1e-300, 1).log()
        )
        return torch.where(inside, value, torch.full_like(value, -math.inf))


class ModuleSystem:
    """Any torch.nn.Module on train/test tensors: x = ln loss_train, y = y_scale * metric_test.

    The walkers' parameters are batched with torch.func: one vmap of functional_call over the
    walker dim runs every walker's copy of the module at once (buffers, e.g. batch-norm
    statistics, are shared constants; the module is used in eval mode, so dropout is off).

    loss(outputs, targets) must be differentiable and positive (default: mean cross-entropy);
    metric(outputs, targets) is the order parameter y, differentiable where a 2-D grid is used
    (default: the paper's smoothed accuracy, mean sigmoid(slope * margin), for class logits).
    Fresh walkers are the module re-initialised by each submodule's reset_parameters() under
    torch.manual_seed(seed), or `init(seed) -> {name: tensor}` when given. The box of the
    "bounds" constraint is scale x each tensor's init std; a tensor that starts constant (a
    bias at 0) takes its layer's weight's.
    """

    def __init__(
        self,
        module: torch.nn.Module,
        train_inputs: torch.Tensor,
        train_targets: torch.Tensor,
        test_inputs: torch.Tensor,
        test_targets: torch.Tensor,
        loss=None,
        metric=None,
        y_scale: float = 10.0,
        slope: float = DEFAULT_SLOPE,
        init=None,
        device: torch.device | str = "cpu",
    ):
        import copy

        self.device = torch.device(device)
        self._template = copy.deepcopy(module).cpu()
        self.module = copy.deepcopy(module).to(self.device).eval()
        self.buffers = {name: b.to(self.device) for name, b in self.module.named_buffers()}
        self.shapes = {name: tuple(p.shape) for name, p in self.module.named_parameters()}
        if not self.shapes:
            raise ValueError("the module has no parameters to sample")
        self.train_inputs, self.train_targets = train_inputs.to(self.device), train_targets.to(self.device)
        self.test_inputs, self.test_targets = test_inputs.to(self.device), test_targets.to(self.device)
        self.loss = loss or torch.nn.functional.cross_entropy
        self.metric = metric or (lambda outputs, targets: torch.sigmoid(slope * margins(outputs, targets)).mean())
        self.y_scale = float(y_scale)
        self._init = init
        self._std = None

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return dict(self.shapes)

    def init_params(self, seed: int) -> dict[str, torch.Tensor]:
        if self._init is not None:
            return {name: torch.as_tensor(t).float() for name, t in self._init(int(seed)).items()}
        import copy

        with torch.random.fork_rng(devices=[]):  # leave the caller's global generator alone
            torch.manual_seed(int(seed))
            fresh = copy.deepcopy(self._template)
            for submodule in fresh.modules():
                if hasattr(submodule, "reset_parameters"):
                    submodule.reset_parameters()
        return {name: p.detach().float().clone() for name, p in fresh.named_parameters()}

    def bounds(self, scale: float) -> dict[str, float]:
        return {name: scale * std for name, std in self._init_std().items()}

    def _init_std(self) -> dict[str, float]:
        """Each tensor's init std (a constant tensor takes its layer's weight's), computed once."""
        if self._std is None:
            std = {name: float(t.std()) if t.numel() > 1 else 0.0 for name, t in self.init_params(0).items()}
            fallback = max(std.values())
            weight_of = {name: name.rsplit(".", 1)[0] + ".weight" if "." in name else "weight" for name in std}
            self._std = {name: s if s > 0 else std.get(weight_of[name], 0.0) or fallback for name, s in std.items()}
        return self._std

    def observables(self, params: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        def one_walker(walker_params):
            state = {**walker_params, **self.buffers}
            train = torch.func.functional_call(self.module, state, (self.train_inputs,))
            test = torch.func.functional_call(self.module, state, (self.test_inputs,))
            return self.loss(train, self.train_targets), self.metric(test, self.test_targets)

        loss, metric = torch.func.vmap(one_walker)(params)
        return loss.double().log(), self.y_scale * metric.double()
