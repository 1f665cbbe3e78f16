"""Restrained windows: the entropy's gradient measured window by window, then integrated.

Wang-Landau fills a map with deposits until its depth is filled, so its cost grows with the
depth, and a network's entropy is extensive (S falls ~N_eff/2 nats per unit of ln L). Here
each walker k is instead held near a point c_k of xi = (x) or (x, y) by a harmonic restraint

    W_k(xi) = g_k . (xi - c_k) + 1/2 sum_a kappa_a (xi_a - c_a)^2      (optional tilt g_k)

and samples exp(S(xi) - W_k(xi) / kT). Its mean restraint force is the mean gradient of S
(grokglass.wlmd.mean_force), a local average whose cost does not depend on the depth; the
gradients are integrated into S (umbrella integration: Kastner and Thiel, J. Chem. Phys. 123,
144104 (2005); in 2-D, Kastner, J. Chem. Phys. 131, 034109 (2009)).

The dynamics is BAOAB Langevin (Leimkuhler and Matthews, Appl. Math. Res. Express 2013),
which samples positions at kT to second order in dt. The Wang-Landau sampler's scheme
(v += dt a; v *= 1 - c_f; v += noise; theta += dt v) samples positions at
kT (2 - c_f) / (2 (1 - c_f)) instead, scaling every mean force by that factor; it is offered
as scheme="paper" to measure exactly that (docs/validation.md). Per epoch and walker:

    B  v += dt/2 F          F = -grad_theta W(xi(theta)), from one forward and one vjp
    A  theta += dt/2 v
    O  v = c v + sqrt((1 - c^2) kT) noise,   c = 1 - c_f
    A  theta += dt/2 v ;  constraint (reflective box, norm shell, or none)
    B  v += dt/2 F(theta)   (the force is kept for the next epoch's first B)

Stiff restraints and sharp starts stay stable: fresh walkers are first relaxed into their
window by Newton steps on xi inside a trust region (relax_into), and each walker's step is
bounded by its restraint's stiffness in parameter space, dt_k <= step_safety /
sqrt(sum_a kappa_a |grad xi_a|^2), re-evaluated at every log point (a walker taken from a
trained network, with a large |grad ln L|, gets a small step until it has relaxed).

This module is library code: it imports nothing of the pipeline.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from grokglass.errors import DivergenceError
from grokglass.wlmd import mean_force
from grokglass.wlmd.relaxation import relax_into
from grokglass.wlmd.restrained_map import RestrainedResult, integrate, progress_bar
from grokglass.wlmd.restraints import RestraintSettings, RestraintWindows
from grokglass.wlmd.sampler import (  # the Wang-Landau sampler's constraints, shared
    WalkerState,
    _project_onto_shell,
    _reflect,
    box_bound,
    constrain_walkers,
    init_walkers,
)
from grokglass.wlmd.settings import GridSpec

STATE_FORMAT = "grokglass.wlmd.RestrainedSampler/1"


class RestrainedSampler:
    """`walkers_per_window` walkers in each window, batched as one (K, row) state.

    sampler = RestrainedSampler(system, windows, settings)
    sampler.run(3000)                 # more calls continue the same trajectories
    result = sampler.result(grid)     # S on the grid with its standard error, the window table

    `start`: None (fresh walkers from the system's init, relaxed into their windows: they come
    "from above") or a WalkerState / (K, N) tensor of parameters to start from (e.g. trained
    networks: "from below"), relaxed into their windows the same way. `exchange_every`: epochs
    between replica-exchange attempts of neighbouring windows (0: none; _exchange).
    """

    def __init__(
        self,
        system,
        windows: RestraintWindows,
        settings: RestraintSettings | None = None,
        seed: int = 0,
        device: torch.device | str = "cpu",
        walkers_per_window: int = 1,
        start=None,
        log: Callable[[str], None] | None = None,
        exchange_every: int = 0,
        first_id: int = 0,
        resume: dict | None = None,
    ):
        if walkers_per_window < 1:
            raise ValueError(f"walkers_per_window must be >= 1, got {walkers_per_window}")
        self.system, self.windows = system, windows
        self.settings = settings or RestraintSettings()
        self.walkers_per_window = int(walkers_per_window)
        if exchange_every < 0:
            raise ValueError(f"exchange_every must be >= 0 (0: no exchanges), got {exchange_every}")
        self.exchange_every = int(exchange_every)
        self.exchanges = {"attempts": 0, "accepted": 0}
        self._random = np.random.default_rng(seed)
        self.log = log or (lambda message: None)
        device = torch.device(device)
        # global walker ids fix each walker's seeds: a lattice split into groups (first_id) runs
        # the same walkers as one batch
        ids = list(range(first_id, first_id + windows.n * self.walkers_per_window))
        self.state = init_walkers(system, ids, seed, self.settings.as_sampler(), device)
        repeat = lambda a: torch.as_tensor(np.repeat(a, self.walkers_per_window, axis=0), device=device)
        self.centres, self.kappa, self.tilt = repeat(windows.centres), repeat(windows.stiffness), repeat(windows.tilt)
        self.force = None  # the force at the current positions (computed at the first epoch)
        self.step = None  # (K, 1) per-walker dt
        self.epochs = 0
        self._xi: list[torch.Tensor] = []
        self._norms: list[torch.Tensor] = []
        self.kinetic: list[tuple[int, np.ndarray]] = []  # (epoch, K/N over kT/2 per walker) at log points
        if resume is not None:
            self._restore(resume, ids, device)
            return
        if start is not None:
            self._load_start(start)
        self.bound = self._box()
        self.relax_steps = relax_into(system, self.state, self.centres, self._relax_tolerance(), self.settings)
        self.log(f"relaxed into {windows.n} windows in {self.relax_steps} Newton steps")

    # ----- saving and continuing -------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to continue (CPU tensors, for torch.save): the walkers, the series
        recorded so far, the exchange generator. Continuing from it after a run whose length is a
        multiple of settings.log_every repeats the uninterrupted trajectory exactly (the force and
        the step are functions of the positions, re-evaluated on continuing)."""
        xi, norms = self.trajectories() if self._xi else (None, None)
        return {
            "format": STATE_FORMAT,
            "walkers": self.state.to_dict(),
            "relax_steps": self.relax_steps,
            "epochs": self.epochs,
            "xi": None if xi is None else torch.from_numpy(xi),
            "norms": None if norms is None else torch.from_numpy(norms),
            "kinetic": [(epoch, torch.from_numpy(np.array(ratio))) for epoch, ratio in self.kinetic],
            "exchanges": dict(self.exchanges),
            "random": self._random.bit_generator.state,
        }

    def _box(self) -> torch.Tensor | None:
        bounded = self.settings.constraint == "bounds"
        return box_bound(self.system, self.state, self.settings.as_sampler()) if bounded else None

    def _restore(self, blob: dict, ids: list[int], device: torch.device) -> None:
        if not isinstance(blob, dict) or blob.get("format") != STATE_FORMAT:
            raise ValueError(f"not a restrained sampler state (format {STATE_FORMAT})")
        state = WalkerState.from_dict(blob["walkers"], device)
        if state.walker_ids != ids or tuple(state.params.shape) != tuple(self.state.params.shape):
            raise ValueError(f"the state holds walkers {state.walker_ids[:3]}..., these windows need {ids[:3]}...")
        self.state = state
        self.bound = self._box()
        self.relax_steps, self.epochs = int(blob["relax_steps"]), int(blob["epochs"])
        if blob["xi"] is not None:
            self._xi, self._norms = [blob["xi"]], [blob["norms"]]
        self.kinetic = [(int(epoch), np.asarray(ratio, dtype=np.float64)) for epoch, ratio in blob["kinetic"]]
        self.exchanges = dict(blob["exchanges"])
        self._random.bit_generator.state = blob["random"]

    def _load_start(self, start) -> None:
        params = start.params if isinstance(start, WalkerState) else torch.as_tensor(start, dtype=torch.float32)
        if params.shape[1] == self.state.layout.numel:
            params = torch.nn.functional.pad(params, (0, self.state.layout.row - self.state.layout.numel))
        if tuple(params.shape) != tuple(self.state.params.shape):
            raise ValueError(
                f"start holds {tuple(params.shape)} parameters, the windows need {tuple(self.state.params.shape)}"
            )
        self.state.params.copy_(params.to(self.state.device))
        constrain_walkers(self.system, self.state, self.settings.as_sampler())

    def _relax_tolerance(self) -> torch.Tensor:
        return self.settings.relax_widths * torch.sqrt(self.settings.kT / self.kappa)

    # ----- dynamics --------------------------------------------------------------------------
    def _coordinates(self, theta: torch.Tensor):
        x, y = self.system.observables(self.state.layout.views(theta))
        return (x,) if self.windows.ndim == 1 else (x, y)

    def _evaluate(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(xi (K, d) float64, force -grad W (K, row) float32) at theta."""
        coordinates, pullback = torch.func.vjp(self._coordinates, theta)
        xi = torch.stack(coordinates, dim=1)
        slope = self.tilt + self.kappa * (xi - self.centres)  # dW/dxi
        (force,) = pullback(tuple(-slope[:, a] for a in range(self.windows.ndim)))
        if self.settings.constraint == "shell":  # the restraint acts along the sphere only
            force = _tangent(force, theta)
        return xi.detach(), force.detach()

    def _safe_steps(self) -> torch.Tensor:
        """(K, 1) dt per walker: dt, or less where the restraint is stiff in parameter space."""
        theta = self.state.params
        coordinates, pullback = torch.func.vjp(self._coordinates, theta)
        stiffness = torch.zeros(theta.shape[0], dtype=torch.float64, device=theta.device)
        for a in range(self.windows.ndim):
            cotangents = tuple(torch.ones_like(c) if b == a else torch.zeros_like(c) for b, c in enumerate(coordinates))
            (grad,) = pullback(cotangents)
            stiffness += self.kappa[:, a] * grad.double().pow(2).sum(dim=1)
        limit = self.settings.step_safety / stiffness.clamp_min(1e-300).sqrt()
        return limit.clamp(max=self.settings.dt).float()[:, None]

    def run(self, epochs: int, progress: bool | None = None) -> None:
        """Advance every walker by `epochs` epochs, recording xi and |theta| after each."""
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        settings, state = self.settings, self.state
        theta, velocity = state.params, state.velocity
        real = state.layout.numel
        c = 1.0 - settings.friction
        noise_scale = math.sqrt((1.0 - c * c) * settings.kT)
        noise = torch.zeros_like(velocity)
        bar = progress_bar(epochs, progress, "restrained windows")
        with torch.no_grad():
            if self.force is None:
                self.step = self._safe_steps()
                _, self.force = self._evaluate(theta)
            xi_chunk, norm_chunk = [], []
            # on CUDA one draw for the whole group (one kernel, not K), as the Wang-Landau sampler
            # does; on the CPU one per walker, so a walker's path does not depend on its group
            per_walker = state.device.type == "cpu"
            for _ in range(epochs):
                if per_walker:
                    for row, generator in zip(noise[:, :real], state.generators):
                        row.normal_(generator=generator)
                else:
                    noise[:, :real] = torch.randn(
                        noise[:, :real].shape, generator=state.generators[0], device=state.device
                    )
                xi = self._advance(theta, velocity, noise, c, noise_scale)
                xi_chunk.append(xi)
                norm_chunk.append(theta.double().norm(dim=1))
                self.epochs += 1
                state.epoch += 1
                if self.exchange_every and self.epochs % self.exchange_every == 0:
                    self._exchange(xi)
                if self.epochs % settings.log_every == 0:
                    self._check(xi)
                    self.step = self._safe_steps()
                if bar is not None:
                    bar.update(1)
            self._check(xi)
        if bar is not None:
            bar.close()
        self._xi.append(torch.stack(xi_chunk).cpu())
        self._norms.append(torch.stack(norm_chunk).cpu())

    def _exchange(self, xi: torch.Tensor) -> None:
        """Replica exchange between neighbouring windows of a 1-D lattice (pairs (0,1), (2,3), ...
        then (1,2), ... in turn; each pair's first walkers): configurations swap with probability
        min(1, exp(-(W_a(xi_b) + W_b(xi_a) - W_a(xi_a) - W_b(xi_b)) / kT)). Each window's
        series stays its own: a slot records its window's samples, whoever they come from.
        Only neighbours whose windows overlap ever swap; stiff windows rarely do."""
        if self.windows.ndim != 1 or self.windows.n < 2:
            return
        n = self.walkers_per_window
        first = (self.epochs // self.exchange_every) % 2
        energy = lambda slot, value: float(  # noqa: E731
            (
                self.tilt[slot] * (value - self.centres[slot])
                + 0.5 * self.kappa[slot] * (value - self.centres[slot]) ** 2
            ).sum()
        )
        swapped = False
        for w in range(first, self.windows.n - 1, 2):
            a, b = w * n, (w + 1) * n
            delta = energy(a, xi[b]) + energy(b, xi[a]) - energy(a, xi[a]) - energy(b, xi[b])
            self.exchanges["attempts"] += 1
            if self._random.random() < math.exp(min(0.0, -delta / self.settings.kT)):
                self.exchanges["accepted"] += 1
                for buffer in (self.state.params, self.state.velocity):
                    buffer[[a, b]] = buffer[[b, a]]
                swapped = True
        if swapped:  # the restraint acting on a moved configuration is its new window's
            _, self.force = self._evaluate(self.state.params)
            self.step = self._safe_steps()

    def _advance(self, theta, velocity, noise, c: float, noise_scale: float) -> torch.Tensor:
        dt, force = self.step, self.force
        if self.settings.scheme == "baoab":
            velocity.add_(0.5 * dt * force)
            theta.add_(0.5 * dt * velocity)
            velocity.mul_(c).add_(noise, alpha=noise_scale)
            theta.add_(0.5 * dt * velocity)
            self._constrain(theta, velocity)
            xi, self.force = self._evaluate(theta)
            velocity.add_(0.5 * dt * self.force)
        else:  # the Wang-Landau sampler's scheme (runs hot in configuration space)
            velocity.add_(dt * force)
            velocity.mul_(c).add_(noise, alpha=noise_scale)
            theta.add_(dt * velocity)
            self._constrain(theta, velocity)
            xi, self.force = self._evaluate(theta)
        return xi

    def _constrain(self, theta, velocity) -> None:
        if self.bound is not None:
            _reflect(theta, velocity, self.bound)
        elif self.settings.constraint == "shell":
            _project_onto_shell(theta, velocity, self.settings.shell_norm)

    def _check(self, xi: torch.Tensor) -> None:
        """The divergence guard at log points: finite xi, K/N within max_kinetic_ratio kT/2."""
        kinetic = 0.5 * self.state.velocity.double().pow(2).sum(dim=1) / self.state.layout.numel
        ratio = (kinetic / (0.5 * self.settings.kT)).cpu().numpy()
        self.kinetic.append((self.epochs, ratio))
        hint = f"the step dt = {self.settings.dt:g} is most likely too large (or step_safety)"
        finite = torch.isfinite(xi).all(dim=1).cpu().numpy()
        for k in range(len(ratio)):
            window = k // self.walkers_per_window
            if not finite[k]:
                raise DivergenceError(f"walker {k} (window {window}) at epoch {self.epochs}: non-finite xi; {hint}")
            if ratio[k] > self.settings.max_kinetic_ratio:
                raise DivergenceError(
                    f"walker {k} (window {window}) at epoch {self.epochs}: kinetic energy per parameter is "
                    f"{ratio[k]:.3g} x kT/2 (limit {self.settings.max_kinetic_ratio:g}); {hint}"
                )

    # ----- what was measured -----------------------------------------------------------------
    def trajectories(self) -> tuple[np.ndarray, np.ndarray]:
        """(xi (T, K, d), |theta| (T, K)) of every epoch run so far."""
        if not self._xi:
            raise ValueError("no epochs run yet")
        return torch.cat(self._xi).numpy(), torch.cat(self._norms).numpy()

    def walker_estimates(self, halves_z_max: float = mean_force.HALVES_Z_MAX) -> list[mean_force.WindowEstimate]:
        """One estimate per walker (walker k belongs to window k // walkers_per_window)."""
        xi, norms = self.trajectories()
        kinetic = np.mean([ratio for _, ratio in self.kinetic], axis=0)
        estimates = []
        for k in range(xi.shape[1]):
            w = k // self.walkers_per_window
            estimates.append(
                mean_force.estimate_window(
                    xi[:, k],
                    self.windows.centres[w],
                    self.windows.stiffness[w],
                    self.windows.tilt[w],
                    self.settings.kT,
                    norms[:, k],
                    float(kinetic[k]),
                    index=w,
                    halves_z_max=halves_z_max,
                )
            )
        return estimates

    def estimates(self, halves_z_max: float = mean_force.HALVES_Z_MAX) -> list[mean_force.WindowEstimate]:
        """One estimate per window, its walkers combined (mean_force.combine)."""
        per_walker = self.walker_estimates(halves_z_max)
        n = self.walkers_per_window
        return [mean_force.combine(per_walker[w * n : (w + 1) * n]) for w in range(self.windows.n)]

    def result(self, grid: GridSpec | None = None, estimates=None) -> RestrainedResult:
        """S integrated from the windows' mean forces (windows that failed a test left out), on
        `grid`'s bins (default: a grid over the windows' span)."""
        estimates = estimates if estimates is not None else self.estimates()
        return integrate(estimates, self.windows.shape, grid, epochs=self.epochs, walkers=self.state.n_walkers)


def _tangent(force: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    unit = theta.double() / theta.double().norm(dim=1, keepdim=True)
    return (force.double() - (force.double() * unit).sum(dim=1, keepdim=True) * unit).to(force.dtype)


def sample_restrained(
    system,
    windows: RestraintWindows,
    epochs: int,
    settings: RestraintSettings | None = None,
    grid: GridSpec | None = None,
    walkers_per_window: int = 1,
    seed: int = 0,
    device: torch.device | str = "cpu",
    start=None,
    progress: bool | None = None,
) -> RestrainedResult:
    """Restrained windows in one call: sample `epochs` epochs per walker, test, integrate.
    The cost is epochs x windows x walkers_per_window walker-epochs, whatever the depth."""
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    sampler = RestrainedSampler(system, windows, settings, seed, device, walkers_per_window, start)
    sampler.run(epochs, progress)
    return sampler.result(grid)


__all__ = ["RestrainedSampler", "sample_restrained"]
