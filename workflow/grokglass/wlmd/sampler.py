"""The batched WLMD sampler: K walkers, Langevin dynamics under -grad S_est, Wang-Landau deposits.

One epoch (spec 5.4-5.8), for all K walkers at once:

1. forward: (x, y) = system.observables(theta);
2. bins = grid.bin_index((x, y)); (S_x, S_y) = grid.gradient(bins), held constant;
3. L_comb = sum_k (-S_x,k x_k - S_y,k y_k), back-propagated to the flat parameter buffer;
4. v += grad * dt  (grad L_comb = -grad_theta S_est: pushes away from over-visited bins);
5. v -= c_f v + sqrt(c_f (2 - c_f) kT) xi,  xi ~ N(0, 1) from each walker's own generator
   (or one draw for the whole group on CUDA, see NOISE_DRAWS);
6. theta += v dt (integrator "paper", the default; integrator "baoab" moves theta by dt/2 v
   before step 5 and by dt/2 v after it, which samples positions at kT instead of
   kT (2 - c_f) / (2 (1 - c_f)): settings.INTEGRATORS);
7. constraint: reflective box per tensor (5.7), or the norm shell (5.8), or none;
8. deposit f(t) * Gaussian at the PRE-update bin, t = global epoch (1-based).

On a grid with hard walls in x (GridSpec.hard_walls, the windows' default), a walker whose
x at step 1 lies outside the walls is put back where it was one epoch before: its velocity
reversed, the force of that previous position acting, its speed capped at equipartition's
after the update, and that previous bin receiving the deposit again (a rejected move counts
the old state, as in Wang-Landau Monte Carlo); docs/validation.md section 13.

Everything stays on the device: the parameters and velocities of all walkers
are one (K, row) float32 buffer each (row = the N parameters padded to a multiple
of ROW_ALIGN), updated in place, and the host only reads
tensors at log points. Each walker's initial state and noise stream derive
from (base_seed, walker id) alone, so a walker's trajectory does not depend on
which group or job simulates it. On CPU this holds bit for bit: rows are padded
to whole SIMD vectors (ROW_ALIGN) and a lone walker runs single-threaded (see
_group_independent_threads). On CUDA, float atomics in the deposits and kernel
choices make runs agree only statistically, and by default the group's noise is one draw.

The epoch's tensor work is one function (_EpochStep.step) that runs op by op or is
captured whole by torch.compile (CAPTURES), with the same trajectory to float32 rounding.

Long because the walkers' state, the epoch step, its loop and the divergence guard share one
rule (_EpochStep: fixed addresses, in-place updates, the host reads only at log points);
together, a reader checks the rule in one place.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable

import numpy as np
import torch

from grokglass.errors import DivergenceError, first_line
from grokglass.io import torch_settings
from grokglass.wlmd.grid import EntropyGrid, wang_landau_factor
from grokglass.wlmd.settings import CONSTRAINTS, SHARE_MODES, SamplerSettings  # noqa: F401 (re-exported)

# purposes of the per-walker seeds derived from (base_seed, walker id)
_SEED_INIT, _SEED_VELOCITY, _SEED_NOISE = 0, 1, 2


def walker_seed(base_seed: int, walker_id: int, purpose: int) -> int:
    """A 63-bit seed that depends only on (base_seed, walker id, purpose)."""
    state = np.random.SeedSequence([int(base_seed), int(walker_id), int(purpose)]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31 | int(state[1]) >> 1) & ((1 << 63) - 1)


# Each walker's row of the flat buffers is padded to a multiple of this many elements.
# On CPU, PyTorch's elementwise kernels run SIMD code over whole vectors and scalar code
# over the tail of a tensor; the two can round differently (FMA in `add_(x, alpha=...)`,
# vectorised exp). With rows of whole vectors the tail never falls inside a walker's
# row, so a walker's arithmetic is identical whatever the number of walkers beside it.
ROW_ALIGN = 64


def padded_size(n: int, align: int = ROW_ALIGN) -> int:
    return -(-n // align) * align


class ParamLayout:
    """Where each named tensor lives inside a walker's flat parameter vector.

    `numel` counts the real parameters; `row` is the padded row length (a multiple of
    ROW_ALIGN). The padding entries have no force and no noise and stay exactly 0.
    """

    def __init__(self, shapes: dict[str, tuple[int, ...]]):
        self.shapes = {name: tuple(int(s) for s in shape) for name, shape in shapes.items()}
        self.offsets: dict[str, tuple[int, int]] = {}
        start = 0
        for name, shape in self.shapes.items():
            n = math.prod(shape)
            self.offsets[name] = (start, start + n)
            start += n
        self.numel = start
        self.row = padded_size(start)

    def views(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named views (K, *shape) into a (K, row) buffer: no copies, gradients reach `flat`."""
        k = flat.shape[0]
        return {name: flat[:, a:b].view(k, *self.shapes[name]) for name, (a, b) in self.offsets.items()}

    def flatten(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """One walker's named tensors -> (row,) in layout order, zero padded."""
        missing = set(self.shapes) - set(params)
        if missing:
            raise ValueError(f"parameters missing: {sorted(missing)}")
        flat = torch.cat([params[name].reshape(-1).float() for name in self.shapes])
        return torch.nn.functional.pad(flat, (0, self.row - self.numel))

    def per_element(self, values: dict[str, float], device, dtype=torch.float32, padding: float = 1.0) -> torch.Tensor:
        """A per-tensor scalar (e.g. a bound) expanded to the (row,) flat layout."""
        parts = [
            torch.full((math.prod(shape),), float(values[name]), dtype=dtype) for name, shape in self.shapes.items()
        ]
        parts.append(torch.full((self.row - self.numel,), padding, dtype=dtype))
        return torch.cat(parts).to(device)


class WalkerState:
    """K walkers: flat parameters and velocities (K, row) float32, one noise generator each.

    Row k holds walker k's parameters in ParamLayout order (the first layout.numel
    entries; the rest is zero padding).

    `epoch` is the global epoch counter (epochs done so far, identical for all
    walkers); `walker_ids` are the global ids, which fix each walker's seeds.
    """

    def __init__(
        self,
        layout: ParamLayout,
        params: torch.Tensor,
        velocity: torch.Tensor,
        generators: list[torch.Generator],
        epoch: int,
        walker_ids: list[int],
        base_seed: int,
    ):
        if params.shape != velocity.shape or params.shape != (len(walker_ids), layout.row):
            raise ValueError(
                f"params {tuple(params.shape)} / velocity {tuple(velocity.shape)} do not "
                f"match {len(walker_ids)} walkers x {layout.row} (padded) parameters"
            )
        if len(generators) != len(walker_ids):
            raise ValueError(f"{len(generators)} generators for {len(walker_ids)} walkers")
        self.layout = layout
        self.params = params
        self.velocity = velocity
        self.generators = generators
        self.epoch = int(epoch)
        self.walker_ids = [int(w) for w in walker_ids]
        self.base_seed = int(base_seed)

    @property
    def n_walkers(self) -> int:
        return len(self.walker_ids)

    @property
    def device(self) -> torch.device:
        return self.params.device

    def named_params(self) -> dict[str, torch.Tensor]:
        return self.layout.views(self.params)

    def to_dict(self) -> dict:
        """Everything needed to continue, on CPU, for torch.save."""
        return {
            "format": "grokglass.wlmd.WalkerState/1",
            "param_shapes": {name: list(shape) for name, shape in self.layout.shapes.items()},
            "params": self.params.detach().cpu().clone(),
            "velocity": self.velocity.detach().cpu().clone(),
            "generator_device": self.device.type,
            "generator_states": [g.get_state() for g in self.generators],
            "epoch": self.epoch,
            "walker_ids": list(self.walker_ids),
            "base_seed": self.base_seed,
        }

    @classmethod
    def from_dict(cls, data: dict, device: torch.device | str = "cpu") -> WalkerState:
        device = torch.device(device)
        if data.get("format") != "grokglass.wlmd.WalkerState/1":
            raise ValueError(f"not a saved WalkerState (format {data.get('format')!r})")
        if data["generator_device"] != device.type:
            # CPU and CUDA generators have different state formats and streams; continuing
            # on another device type would silently break the walker's reproducibility.
            raise ValueError(
                f"walker state was saved with {data['generator_device']} generators and "
                f"cannot continue on {device.type}; run every segment of a landscape "
                "on the same device type"
            )
        layout = ParamLayout({name: tuple(shape) for name, shape in data["param_shapes"].items()})
        generators = []
        for state in data["generator_states"]:
            generator = torch.Generator(device=device)
            generator.set_state(state)
            generators.append(generator)
        return cls(
            layout,
            data["params"].to(device),
            data["velocity"].to(device),
            generators,
            data["epoch"],
            data["walker_ids"],
            data["base_seed"],
        )


def init_walkers(
    system, walker_ids: list[int], base_seed: int, settings: SamplerSettings, device: torch.device | str = "cpu"
) -> WalkerState:
    """Fresh walkers: system init, moved onto the constraint, velocities N(0, kT).

    Parameters and initial velocities are drawn on the CPU (so they do not depend
    on the device); the noise generator of each walker lives on the device.
    """
    device = torch.device(device)
    layout = ParamLayout(system.param_shapes())
    params, velocity, generators = [], [], []
    for walker in walker_ids:
        params.append(layout.flatten(system.init_params(walker_seed(base_seed, walker, _SEED_INIT))).float())
        velocity_generator = torch.Generator().manual_seed(walker_seed(base_seed, walker, _SEED_VELOCITY))
        draw = torch.randn(layout.numel, generator=velocity_generator) * math.sqrt(settings.kT)
        velocity.append(torch.nn.functional.pad(draw, (0, layout.row - layout.numel)))
        generators.append(torch.Generator(device=device).manual_seed(walker_seed(base_seed, walker, _SEED_NOISE)))
    state = WalkerState(
        layout,
        torch.stack(params).to(device),
        torch.stack(velocity).to(device),
        generators,
        epoch=0,
        walker_ids=list(walker_ids),
        base_seed=base_seed,
    )
    constrain_walkers(system, state, settings)
    return state


def constrain_walkers(system, state: WalkerState, settings: SamplerSettings, bound: torch.Tensor | None = None) -> None:
    """Move every walker onto the sampler's constraint, in place: clamped into the box
    (bounds) or projected onto the shell |theta| = shell_norm (shell); "none" leaves them.
    `bound`: the per-element box (box_bound), for a caller that constrains many times."""
    if settings.constraint == "bounds":
        bound = box_bound(system, state, settings) if bound is None else bound
        torch.minimum(state.params, bound, out=state.params)
        torch.maximum(state.params, -bound, out=state.params)
    elif settings.constraint == "shell":
        _project_onto_shell(state.params, state.velocity, settings.shell_norm)


def box_bound(system, state: WalkerState, settings: SamplerSettings) -> torch.Tensor:
    """The box |theta| <= b of the "bounds" constraint, per element of a walker's row."""
    return state.layout.per_element(system.bounds(settings.bound_scale), state.device)


# ----- constraints -----------------------------------------------------------------------
def _reflect(theta: torch.Tensor, velocity: torch.Tensor, bound: torch.Tensor) -> None:
    """Reflective box |theta| <= b per element (spec 5.7), in place.

    theta > b with v > 0 -> theta = 2b - theta, v = -v (and mirrored below -b).
    Elements outside but already moving back in are left alone, as in [R-C]. A
    final clamp guards the (pathological) step longer than the box.
    """
    outward = (theta.abs() > bound) & (theta * velocity > 0)
    wall = torch.copysign(bound, theta)
    theta.copy_(torch.where(outward, 2 * wall - theta, theta))
    velocity.copy_(torch.where(outward, -velocity, velocity))
    torch.minimum(theta, bound, out=theta)
    torch.maximum(theta, -bound, out=theta)


def _project_onto_shell(theta: torch.Tensor, velocity: torch.Tensor, norm: float) -> None:
    """theta <- norm * theta/|theta| per walker; remove the radial velocity (spec 5.8 [D]).

    The norm is computed in float64 so the shell holds to ~1e-6 relative in float32.
    """
    length = theta.double().norm(dim=1, keepdim=True)
    theta.copy_((theta.double() * (norm / length)).float())
    unit = theta.double() / norm
    radial = (velocity.double() * unit).sum(dim=1, keepdim=True)
    velocity.copy_((velocity.double() - radial * unit).float())


# ----- the epoch loop ----------------------------------------------------------------------
@contextlib.contextmanager
def _group_independent_threads(state: WalkerState):
    """Run a lone CPU walker single-threaded.

    A batched CPU matmul gives each walker's product to one thread, but a batch of
    one is split across threads, which changes the summation order of the gradient.
    One thread keeps a lone walker bit-identical to the same walker in a group.
    """
    lone_cpu_walker = state.device.type == "cpu" and state.n_walkers == 1 and torch.get_num_threads() > 1
    with torch_settings(threads=1 if lone_cpu_walker else None):
        yield


# How an epoch's tensor work runs: op by op, or captured whole by torch.compile (static
# shapes, one graph), or captured and replayed as a CUDA graph (torch.compile's
# "reduce-overhead" mode; on CPU the same as "compiled").
CAPTURES = ("eager", "compiled", "graphs")
# Where the Langevin noise comes from: each walker's own generator (K draws per epoch), or one
# draw per group from the group's first generator (one kernel). "auto": per walker on CPU,
# where it keeps each walker's trajectory independent of its group bit for bit, and per
# group on CUDA, where runs agree only statistically anyway (float atomics in the deposits).
NOISE_DRAWS = ("auto", "walker", "group")
VISITED_REFRESH = 50  # epochs between recounts of the visited bins (schedule inverse_time)


def run_epochs(
    system,
    grid: EntropyGrid,
    state: WalkerState,
    settings: SamplerSettings,
    n_epochs: int,
    log: Callable[[dict], None] | None = None,
    capture: str = "eager",
    noise_draw: str = "auto",
    map_walkers: int | None = None,
) -> dict:
    """Advance all walkers by `n_epochs` epochs (module docstring), updating state and grid in place.

    log(record) is called every settings.log_every global epochs with host-side
    numbers (see _log_record); it is the only place the loop waits for the device.
    capture: one of CAPTURES. A capture that fails to compile falls back to eager before any
    epoch has run; the returned "capture" says what ran and "capture_error" why it fell back.
    noise_draw: one of NOISE_DRAWS.
    map_walkers: with share "sum", how many walkers (in all groups) fill the shared map, so
    that the schedule runs in its walker-epochs, t = epoch x map_walkers (default: this group).
    On a grid with hard walls (module docstring) every walker must start between them.
    Returns the last epoch's pre-update (x, y), each walker's final kinetic energy per parameter
    and its epochs outside the grid (their visits clamped into the edge bins) as device tensors,
    and the capture used.
    """
    if capture not in CAPTURES:
        raise ValueError(f"capture must be one of {', '.join(CAPTURES)}, got {capture!r}")
    if grid.n_walkers != state.n_walkers:
        raise ValueError(f"grid holds {grid.n_walkers} walkers but the state {state.n_walkers}")
    draw_noise = _noise_drawer(state, settings, noise_draw)
    schedule_scale = (map_walkers or state.n_walkers) if settings.share == "sum" else 1
    epoch = _EpochStep(system, grid, state.layout, settings, capture, schedule_scale)
    if epoch.x_walls is not None:
        epoch.start_walls(state)
    with _group_independent_threads(state):
        x, y, epochs_outside = _run_epochs(epoch, draw_noise, state, settings, n_epochs, log)
        if epoch.x_walls is not None:
            epoch.finish_walls(state)
    return {
        "x": x,
        "y": y,
        "kinetic_per_param": kinetic_per_parameter(state),
        "capture": epoch.capture,
        "capture_error": epoch.error,
        "epochs_outside": epochs_outside,
    }


def _noise_drawer(state: WalkerState, settings: SamplerSettings, noise_draw: str) -> Callable[[], torch.Tensor]:
    """A function that fills and returns the (K, row) noise buffer; the padding columns stay 0."""
    if noise_draw not in NOISE_DRAWS:
        raise ValueError(f"noise_draw must be one of {', '.join(NOISE_DRAWS)}, got {noise_draw!r}")
    if noise_draw == "auto":
        noise_draw = "walker" if state.device.type == "cpu" else "group"
    noise = torch.zeros_like(state.velocity)
    real = noise[:, : state.layout.numel]
    if settings.noise_std == 0:
        return lambda: noise
    if noise_draw == "group":
        block = torch.empty_like(real)  # contiguous: the draw is the stream read as one (K, N) block

        def draw_group() -> torch.Tensor:
            real.copy_(block.normal_(generator=state.generators[0]))
            return noise

        return draw_group

    def draw_per_walker() -> torch.Tensor:
        for row, generator in zip(real, state.generators):
            row.normal_(generator=generator)
        return noise

    return draw_per_walker


class _EpochStep:
    """Steps 1-8 of one epoch for all walkers, as one function of tensors:
    step(theta, velocity, noise, epoch) -> pre-update (x, y), updating theta, velocity, the
    grid and the epoch counter (a 0-d device tensor) in place.

    The rule every line of `step` keeps: each tensor it touches (theta, velocity, the noise, the
    grid's maps, the epoch counter, the guard's counters) lives at a fixed address and is updated
    in place (add_, mul_, copy_, index_put_); nothing is rebound or allocated anew for the next
    epoch, and nothing is read back to the host. A CUDA graph replays the captured kernels on the
    captured addresses, so a tensor rebound inside `step` would silently stop being updated.

    The gradient comes from torch.func.vjp with the bin slopes as cotangents: the same
    numbers as back-propagating L_comb (bit for bit on CPU), and, unlike autograd.grad on a
    tensor that requires grad, traceable by torch.compile as one graph.
    """

    def __init__(
        self,
        system,
        grid: EntropyGrid,
        layout: ParamLayout,
        settings: SamplerSettings,
        capture: str,
        schedule_scale: int = 1,
    ):
        self.system, self.grid, self.layout, self.settings = system, grid, layout, settings
        self.x_walls = grid.spec.wall_positions() if grid.spec.hard_walls else None
        # with hard walls: each walker's previous position, bin and x (start_walls)
        self.previous: tuple[torch.Tensor, ...] | None = None
        # |v| at K = N kT / 2, the put-back walkers' cap (hard walls only)
        self._thermal_speed = None if self.x_walls is None else math.sqrt(layout.numel * settings.kT)
        self.schedule_scale = float(schedule_scale)  # walker-epochs of the map per epoch
        # the 1/t bound's visited-bin count, refreshed every VISITED_REFRESH epochs: counting
        # all bins of a 2-D grid every epoch would cost more than the rest of a small epoch
        self.visited = grid.visited_bins().double() if settings.schedule == "inverse_time" else None
        device = grid.device
        self.bound = (
            layout.per_element(system.bounds(settings.bound_scale), device) if settings.constraint == "bounds" else None
        )
        self.capture, self.error = capture, None
        self._compiled = None if capture == "eager" else _compile(self.step, capture)

    def __call__(self, theta, velocity, noise, epoch, outside) -> tuple[torch.Tensor, torch.Tensor]:
        if self._compiled is None:
            return self.step(theta, velocity, noise, epoch, outside)
        compiled, self._compiled = self._compiled, None
        try:  # the first call compiles; fullgraph=True fails before any tensor is touched
            x, y = compiled(theta, velocity, noise, epoch, outside)
        except Exception as err:  # a backend without a compiler, an unsupported op: run eager
            self.capture, self.error = "eager", f"{type(err).__name__}: {first_line(err)}"
            return self.step(theta, velocity, noise, epoch, outside)
        self._compiled = compiled
        return x, y

    def _forward(self, theta: torch.Tensor):
        """(the grid's coordinates, to differentiate), y as an auxiliary output."""
        x, y = self.system.observables(self.layout.views(theta))
        return ((x,) if self.grid.spec.ndim == 1 else (x, y)), y

    def step(self, theta, velocity, noise, epoch, outside) -> tuple[torch.Tensor, torch.Tensor]:
        """`outside` (GUARD_ROWS, K), the guard's counters per walker: consecutive epochs outside the
        grid; with hard walls, put-backs and steps that moved x by over JUMP_BINS bins since the last
        check (check_health)."""
        grid, settings = self.grid, self.settings
        epoch += 1.0
        coordinates, pullback, y = torch.func.vjp(self._forward, theta, has_aux=True)
        x = coordinates[0]
        stacked = torch.stack(coordinates, dim=1)
        off_grid = grid.outside(stacked)
        outside[0].add_(1).mul_(off_grid)
        outside[3].add_(off_grid)
        bins = grid.bin_index(stacked)
        slope = grid.gradient(bins)  # dS/dx, dS/dy at each walker's bin, constants
        # grad L_comb with L_comb = sum_k -(S_x x_k + S_y y_k): the cotangents are -slope
        (grad,) = pullback(tuple(-slope[:, axis] for axis in range(grid.spec.ndim)))
        escaped = None
        if self.previous is not None:
            # a step that moved x by over JUMP_BINS bins, or past a wall, is one the walls hide from the
            # kinetic guard (a put-back walker's speed is capped): counted for check_health
            outside[2].add_((x - self.previous[2][:, 0]).abs() > JUMP_BINS * grid.spec.bin_width)
            x, y, bins, grad, escaped = self._hard_walls(theta, velocity, x, y, bins, grad)
            outside[1].add_(escaped)
        velocity.add_(grad, alpha=settings.dt)
        drift = settings.dt / 2 if settings.integrator == "baoab" else 0.0  # BAOAB's first half drift
        if drift:
            theta.add_(velocity, alpha=drift)
        velocity.mul_(1.0 - settings.friction)
        if settings.noise_std > 0:
            velocity.add_(noise, alpha=-settings.noise_std)
        if escaped is not None:
            self._cap_speed(velocity, escaped)
        theta.add_(velocity, alpha=settings.dt - drift)
        if self.bound is not None:
            _reflect(theta, velocity, self.bound)
        elif settings.constraint == "shell":
            _project_onto_shell(theta, velocity, settings.shell_norm)
        counted = ~off_grid if settings.outside == "drop" else None  # (static: a captured epoch stays fixed)
        grid.deposit(bins, self.deposit_amount(epoch), share=settings.share, counted=counted)
        return x, y

    def start_walls(self, state: WalkerState) -> None:
        """The hard walls' memory of the start; raise ValueError if a walker starts outside."""
        with torch.no_grad():
            x, y = self.system.observables(self.layout.views(state.params))
            out = self._past_walls(x).tolist()
            if any(out):
                where = ", ".join(
                    f"walker {w} at x = {v:.4g}" for w, v, o in zip(state.walker_ids, x.tolist(), out) if o
                )
                lo, hi = self.x_walls
                raise ValueError(f"walkers start outside their hard walls x in [{lo:.4g}, {hi:.4g}]: {where}")
            coords = torch.stack([x, y], dim=1) if self.grid.spec.ndim == 2 else x[:, None]
            bins = self.grid.bin_index(coords)
        # the start's force is unknown: a walker put back in the first epoch gets none
        force = torch.zeros_like(state.params)
        self.previous = (state.params.clone(), bins, torch.stack([x, y], dim=1), force)

    def finish_walls(self, state: WalkerState) -> None:
        """The last epoch's step is checked by no later epoch: walkers past a wall now go back, so
        that the state left behind (and saved) starts the next run inside its walls."""
        with torch.no_grad():
            x, _ = self.system.observables(self.layout.views(state.params))
            rows = self._past_walls(x)[:, None]
            state.params.copy_(torch.where(rows, self.previous[0], state.params))
            state.velocity.copy_(torch.where(rows, -state.velocity, state.velocity))

    def _past_walls(self, x: torch.Tensor) -> torch.Tensor:
        """(K,) bool: the walkers whose x lies outside the hard walls."""
        lo, hi = self.x_walls
        return (x < lo) | (x > hi)

    def _hard_walls(self, theta, velocity, x, y, bins, grad):
        """Walkers past a wall spend this epoch where they were before: previous position, bin
        and force, their velocity reversed (and capped after this epoch's update, _cap_speed).
        Then remember this epoch's positions and forces. Returns (x, y, bins, grad, escaped)."""
        previous_theta, previous_bins, previous_xy, previous_grad = self.previous
        escaped = self._past_walls(x)
        rows = escaped[:, None]
        theta.copy_(torch.where(rows, previous_theta, theta))
        velocity.copy_(torch.where(rows, -velocity, velocity))
        # the force where the walker is: without it a walker by a wall that every step from its
        # place crosses (a random step raises the loss) would never feel the map and stay glued
        grad = torch.where(rows, previous_grad, grad)
        bins = torch.where(rows, previous_bins, bins)
        x = torch.where(escaped, previous_xy[:, 0].to(x.dtype), x)
        y = torch.where(escaped, previous_xy[:, 1].to(y.dtype), y)
        previous_theta.copy_(theta)
        previous_bins.copy_(bins)
        previous_xy.copy_(torch.stack([x, y], dim=1).to(previous_xy.dtype))
        previous_grad.copy_(grad)
        return x, y, bins, grad, escaped

    def _cap_speed(self, velocity, escaped) -> None:
        """A put-back walker's kinetic energy is capped at equipartition's N kT / 2 after its
        update. At a wall the map's slope grows fastest (each put-back deposits there again):
        uncapped, its kicks heated the quick x + y map's top window to K/N = 31 kT/2, and capped
        only before the force, a walker on a steep pile was kicked past a wall every epoch and
        stayed there, K/N = 140 kT/2 (validation.md section 13)."""
        speed = velocity.double().norm(dim=1, keepdim=True)
        cap = (self._thermal_speed / speed.clamp_min(1e-30)).clamp(max=1.0).float()
        velocity.copy_(torch.where(escaped[:, None], velocity * cap, velocity))

    def deposit_amount(self, epoch: torch.Tensor) -> torch.Tensor:
        """f(t) of the schedule (settings.SCHEDULES), t in walker-epochs of the map."""
        settings = self.settings
        t = epoch * self.schedule_scale
        amount = wang_landau_factor(t, settings.wl_factor, settings.t_rise, settings.t_drop)
        if settings.schedule == "inverse_time":
            # 1/t Wang-Landau adds 1/t_MC per visit to ONE bin, t_MC = t / n_visited; a deposit
            # spreads `amount` over the Gaussian's kernel_bins, so the same per-bin rate is:
            amount = torch.minimum(amount, self.grid.kernel_bins * self.visited / t)
        return amount

    def refresh(self) -> None:
        """Recount the visited bins (on the device, in place: a captured graph keeps reading it)."""
        if self.visited is not None:
            self.visited.copy_(self.grid.visited_bins())


def _compile(step: Callable, capture: str) -> Callable:
    """torch.compile of an epoch step: one graph (fullgraph), static shapes.

    Every run_epochs call compiles the same code with other objects bound, which torch
    counts as recompiles; the limit is raised so that a process with many samplers (the
    device check, the tests) keeps compiling, and hitting it raises (so the caller falls
    back to eager and says so) instead of silently running eager.
    """
    config = torch._dynamo.config
    for name in ("recompile_limit", "cache_size_limit", "accumulated_recompile_limit"):
        if hasattr(config, name):
            setattr(config, name, max(getattr(config, name), 256))
    if hasattr(config, "fail_on_recompile_limit_hit"):
        config.fail_on_recompile_limit_hit = True
    mode = "reduce-overhead" if capture == "graphs" else "default"
    return torch.compile(step, fullgraph=True, dynamic=False, mode=mode)


def _run_epochs(
    epoch_step: _EpochStep,
    draw_noise: Callable[[], torch.Tensor],
    state: WalkerState,
    settings: SamplerSettings,
    n_epochs: int,
    log: Callable[[dict], None] | None,
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor]:
    theta, velocity = state.params, state.velocity
    # the global epoch lives on the device too, so f(t) never needs a host-to-device copy
    epoch_tensor = torch.tensor(float(state.epoch), dtype=torch.float64, device=state.device)
    outside = torch.zeros(GUARD_ROWS, state.n_walkers, dtype=torch.int64, device=state.device)
    last_check = state.epoch
    if epoch_step.capture == "graphs":  # replayed graphs read and write these very tensors
        walls = () if epoch_step.previous is None else epoch_step.previous
        grid = epoch_step.grid
        for tensor in (theta, velocity, epoch_tensor, outside, grid.entropy, grid.histogram, *walls):
            torch._dynamo.mark_static_address(tensor)
    clock = time.perf_counter()
    last_log_epoch = state.epoch
    x = y = None
    with torch.no_grad():
        for _ in range(n_epochs):
            x, y = epoch_step(theta, velocity, draw_noise(), epoch_tensor, outside)
            state.epoch += 1
            if state.epoch % VISITED_REFRESH == 0:
                epoch_step.refresh()
            if state.epoch % settings.log_every == 0:
                check_health(state, settings, epoch_step.grid, x, y, outside, state.epoch - last_check)
                last_check = state.epoch
                if log is not None:
                    now = time.perf_counter()
                    rate = (state.epoch - last_log_epoch) / max(now - clock, 1e-9)
                    clock, last_log_epoch = now, state.epoch
                    log(_log_record(state, settings, x, y, rate))
        if x is not None and state.epoch % settings.log_every != 0:
            check_health(state, settings, epoch_step.grid, x, y, outside, state.epoch - last_check)  # before any write
    if x is not None:  # a replayed CUDA graph overwrites its outputs on the next replay
        x, y = x.clone(), y.clone()
    return x, y, outside[3].clone()


def kinetic_per_parameter(state: WalkerState) -> torch.Tensor:
    """K/N of each walker, (K,) float64; equipartition gives kT/2."""
    return 0.5 * state.velocity.double().pow(2).sum(dim=1) / state.layout.numel


# rows of the guard's counters (step's `outside`): consecutive epochs outside the grid, put-backs
# and jumps since the last check, and epochs outside the grid in all (run_epochs returns it)
GUARD_ROWS = 4
# with hard walls, a walker that moved x by more than JUMP_BINS bins in one epoch in more than this
# share of the epochs since the last check (over at least GUARD_MIN_EPOCHS), or was put back in
# more than this share while leaping in over MIN_JUMP_SHARE of them, is diverging: the walls'
# put-back and speed cap keep its kinetic energy near kT/2, so the kinetic guard alone never
# fires. (A healthy walker pushed by a steep map near a wall moves x by more than one bin in over
# half its epochs, measured in the quick run's lowest x + y window: hence 10 bins, and 90 %; and a
# reduced-scale shell walker that its entropy presses on its window's top wall is put back in 499
# of 500 epochs without leaping: hence put-backs alone do not count.)
MAX_PUT_BACK_SHARE = 0.9
MIN_JUMP_SHARE = 0.1  # ... with leaps in more than this share (a walker pressed on a wall makes none)
JUMP_BINS = 10
GUARD_MIN_EPOCHS = 50


def _walls_hide_a_divergence(put_backs: int, jumps: int, epochs: int) -> bool:
    """A walker whose steps leap: over JUMP_BINS bins in most epochs, or put back in most epochs
    while leaping in more than MIN_JUMP_SHARE of them. A walker that an entropic force presses
    against a wall is put back in most epochs too, but its steps stay small: not a divergence."""
    return jumps > MAX_PUT_BACK_SHARE * epochs or (
        put_backs > MAX_PUT_BACK_SHARE * epochs and jumps > MIN_JUMP_SHARE * epochs
    )


def check_health(
    state: WalkerState,
    settings: SamplerSettings,
    grid: EntropyGrid,
    x: torch.Tensor,
    y: torch.Tensor,
    outside,
    epochs: int = 0,
) -> None:
    """The divergence guard: raise DivergenceError, naming the walker, the epoch and the numbers,
    if a walker's (x, y) is not finite, its kinetic energy per parameter exceeds
    max_kinetic_ratio x kT/2, or it has stayed outside the grid for max_epochs_outside epochs.
    (Reflective bounds keep theta finite however large dt is, so finiteness alone misses a
    diverging run.) Reads the device: call it only at log points."""
    finite = (torch.isfinite(x) & torch.isfinite(y)).tolist()
    kinetic = kinetic_per_parameter(state).tolist()
    counters = outside.tolist()
    outside[1:3].zero_()  # put-backs and jumps count per check
    outside, put_backs, jumps = counters[0], counters[1], counters[2]
    xs, ys = x.double().tolist(), y.double().tolist()
    half_kT = 0.5 * settings.kT
    hint = f"the step dt = {settings.dt:g} is most likely too large (lower SamplerSettings.dt)"
    for k, walker in enumerate(state.walker_ids):
        where = f"walker {walker} at epoch {state.epoch}"
        if not finite[k]:
            raise DivergenceError(f"{where}: non-finite (x, y) = ({xs[k]}, {ys[k]}); {hint}")
        if half_kT > 0 and kinetic[k] > settings.max_kinetic_ratio * half_kT:
            raise DivergenceError(
                f"{where}: kinetic energy per parameter {kinetic[k]:.4g} is {kinetic[k] / half_kT:.3g} x kT/2 = "
                f"{half_kT:g} (limit {settings.max_kinetic_ratio:g} x, max_kinetic_ratio); {hint}"
            )
        if epochs >= GUARD_MIN_EPOCHS and _walls_hide_a_divergence(put_backs[k], jumps[k], epochs):
            raise DivergenceError(
                f"{where}: put back at a hard wall in {put_backs[k]} and moved x by over {JUMP_BINS} bins in "
                f"{jumps[k]} of the last {epochs} epochs; {hint}"
            )
        if outside[k] >= settings.max_epochs_outside:
            raise DivergenceError(
                f"{where}: outside the grid (x {grid.spec.lows[0]:g}..{grid.spec.highs[0]:g}) for {outside[k]} "
                f"consecutive epochs (limit {settings.max_epochs_outside}, max_epochs_outside), now at "
                f"x = {xs[k]:.4g}, y = {ys[k]:.4g}: its visits all fall in edge bins; {hint}, or the grid "
                "(GridSpec) does not cover where the walkers go"
            )


def _log_record(
    state: WalkerState, settings: SamplerSettings, x: torch.Tensor, y: torch.Tensor, epochs_per_s: float
) -> dict:
    """Host-side progress numbers (check_health has passed)."""
    kinetic = kinetic_per_parameter(state)
    return {
        "epoch": state.epoch,
        "x_mean": float(x.mean()),
        "x_min": float(x.min()),
        "x_max": float(x.max()),
        "y_mean": float(y.mean()),
        "y_min": float(y.min()),
        "y_max": float(y.max()),
        "kinetic_per_param": float(kinetic.mean()),
        "kinetic_target": 0.5 * settings.kT,
        "wl_factor": float(
            wang_landau_factor(float(state.epoch), settings.wl_factor, settings.t_rise, settings.t_drop)
        ),
        "epochs_per_s": epochs_per_s,
        "walker_epochs_per_s": epochs_per_s * state.n_walkers,
    }


def format_record(record: dict) -> str:
    """One progress line for a log record of run_epochs."""
    return (
        f"epoch {record['epoch']}: x mean {record['x_mean']:.4f} [{record['x_min']:.4f}, "
        f"{record['x_max']:.4f}], y mean {record['y_mean']:.4f} [{record['y_min']:.4f}, "
        f"{record['y_max']:.4f}], K/N {record['kinetic_per_param']:.4f} "
        f"(kT/2 = {record['kinetic_target']:.4f}), f {record['wl_factor']:.4g}, "
        f"{record['epochs_per_s']:.1f} epochs/s ({record['walker_epochs_per_s']:.1f} walker-epochs/s)"
    )
