"""The batched WLMD sampler: K walkers, Langevin dynamics under -grad S_est, Wang-Landau deposits.

One epoch (spec 5.4-5.8), for all K walkers at once:

1. forward: (x, y) = system.observables(theta);
2. bins = grid.bin_index((x, y)); (S_x, S_y) = grid.gradient(bins), held constant;
3. L_comb = sum_k (-S_x,k x_k - S_y,k y_k), back-propagated to the flat parameter buffer;
4. v += grad * dt  (grad L_comb = -grad_theta S_est: pushes away from over-visited bins);
5. v -= c_f v + sqrt(c_f (2 - c_f) kT) xi,  xi ~ N(0, 1) from each walker's own generator;
6. theta += v dt;
7. constraint: reflective box per tensor (5.7), or the norm shell (5.8), or none;
8. deposit f(t) * Gaussian at the PRE-update bin, t = global epoch (1-based).

Everything stays on the device: the parameters and velocities of all walkers
are one (K, row) float32 buffer each (row = the N parameters padded to a multiple
of ROW_ALIGN), updated in place, and the host only reads
tensors at log points. Each walker's initial state and noise stream derive
from (base_seed, walker id) alone, so a walker's trajectory does not depend on
which group or job simulates it. On CPU this holds bit for bit: rows are padded
to whole SIMD vectors (ROW_ALIGN) and a lone walker runs single-threaded (see
_group_independent_threads). On CUDA, float atomics in the deposits and kernel
choices make runs agree only statistically.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable

import numpy as np
import torch

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
    if settings.constraint == "bounds":
        bound = layout.per_element(system.bounds(settings.bound_scale), device)
        torch.minimum(state.params, bound, out=state.params)
        torch.maximum(state.params, -bound, out=state.params)
    elif settings.constraint == "shell":
        _project_onto_shell(state.params, state.velocity, settings.shell_norm)
    return state


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
def _coordinates(x: torch.Tensor, y: torch.Tensor, ndim: int) -> torch.Tensor:
    return x[:, None] if ndim == 1 else torch.stack([x, y], dim=1)


@contextlib.contextmanager
def _group_independent_threads(state: WalkerState):
    """Run a lone CPU walker single-threaded.

    A batched CPU matmul gives each walker's product to one thread, but a batch of
    one is split across threads, which changes the summation order of the gradient.
    One thread keeps a lone walker bit-identical to the same walker in a group.
    """
    threads = torch.get_num_threads()
    lone_cpu_walker = state.device.type == "cpu" and state.n_walkers == 1 and threads > 1
    if lone_cpu_walker:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if lone_cpu_walker:
            torch.set_num_threads(threads)


def run_epochs(
    system,
    grid: EntropyGrid,
    state: WalkerState,
    settings: SamplerSettings,
    n_epochs: int,
    log: Callable[[dict], None] | None = None,
    compiled: bool = False,
) -> dict:
    """Advance all walkers by `n_epochs` epochs (module docstring), updating state and grid in place.

    log(record) is called every settings.log_every global epochs with host-side
    numbers (see _log_record); it is the only place the loop waits for the device.
    compiled: run the system's forward (and so its backward) through torch.compile, static
    shapes; the update, noise and deposit stay eager. Falls back to eager if compiling fails.
    Returns the last epoch's pre-update (x, y) as device tensors.
    """
    observe = compiled_observables(system) if compiled else system.observables
    with _group_independent_threads(state):
        return _run_epochs(system, grid, state, settings, n_epochs, log, observe)


class _CompiledObservables:
    """system.observables through torch.compile, or eager again once compiling has failed."""

    def __init__(self, system):
        self.eager = system.observables
        self.compiled = torch.compile(system.observables, dynamic=False)
        self.error: str | None = None

    def __call__(self, params):
        if self.error is None:
            try:
                return self.compiled(params)
            except Exception as err:  # a backend without a compiler, an unsupported op: run eager
                self.error = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        return self.eager(params)


def compiled_observables(system) -> _CompiledObservables:
    """The system's compiled forward, compiled once per system object."""
    cached = getattr(system, "_compiled_observables", None)
    if cached is None:
        cached = _CompiledObservables(system)
        system._compiled_observables = cached
    return cached


def _run_epochs(
    system,
    grid: EntropyGrid,
    state: WalkerState,
    settings: SamplerSettings,
    n_epochs: int,
    log: Callable[[dict], None] | None,
    observe: Callable,
) -> dict:
    if grid.n_walkers != state.n_walkers:
        raise ValueError(f"grid holds {grid.n_walkers} walkers but the state {state.n_walkers}")
    device = state.device
    theta, velocity = state.params, state.velocity
    ndim = grid.spec.ndim
    dt, keep = settings.dt, 1.0 - settings.friction
    noise_std = settings.noise_std
    noise = torch.zeros_like(velocity)  # the padding columns stay 0
    n_real = state.layout.numel
    bound = (
        state.layout.per_element(system.bounds(settings.bound_scale), device)
        if settings.constraint == "bounds"
        else None
    )
    shared = settings.share == "every_step"
    # the global epoch lives on the device too, so f(t) never needs a host-to-device copy
    epoch_tensor = torch.tensor(float(state.epoch), dtype=torch.float64, device=device)
    clock = time.perf_counter()
    last_log_epoch = state.epoch
    x = y = None
    for _ in range(n_epochs):
        epoch_tensor += 1.0
        theta.requires_grad_(True)
        x, y = observe(state.layout.views(theta))
        bins = grid.bin_index(_coordinates(x.detach(), y.detach(), ndim))
        slope = grid.gradient(bins)  # dS/dx, dS/dy at each walker's bin, constants
        combined = -(slope[:, 0] * x).sum()
        if ndim == 2:
            combined = combined - (slope[:, 1] * y).sum()
        (grad,) = torch.autograd.grad(combined, theta)
        theta.requires_grad_(False)
        x, y = x.detach(), y.detach()
        with torch.no_grad():
            velocity.add_(grad, alpha=dt)
            if noise_std > 0:
                for k, generator in enumerate(state.generators):
                    noise[k, :n_real].normal_(generator=generator)
                velocity.mul_(keep).add_(noise, alpha=-noise_std)
            else:
                velocity.mul_(keep)
            theta.add_(velocity, alpha=dt)
            if bound is not None:
                _reflect(theta, velocity, bound)
            elif settings.constraint == "shell":
                _project_onto_shell(theta, velocity, settings.shell_norm)
            amount = wang_landau_factor(epoch_tensor, settings.wl_factor, settings.t_rise, settings.t_drop)
            grid.deposit(bins, amount, shared=shared)
        state.epoch += 1
        if log is not None and state.epoch % settings.log_every == 0:
            now = time.perf_counter()
            record = _log_record(state, settings, x, y, (state.epoch - last_log_epoch) / max(now - clock, 1e-9))
            clock, last_log_epoch = now, state.epoch
            log(record)
    return {"x": x, "y": y}


def _log_record(
    state: WalkerState, settings: SamplerSettings, x: torch.Tensor, y: torch.Tensor, epochs_per_s: float
) -> dict:
    """Host-side progress numbers; raises if any walker's coordinates stopped being finite."""
    finite = torch.isfinite(x) & torch.isfinite(y)
    if not bool(finite.all()):
        bad = [w for w, ok in zip(state.walker_ids, finite.tolist()) if not ok]
        raise FloatingPointError(
            f"walkers {bad} have non-finite (x, y) at epoch {state.epoch}; the step dt is probably too large"
        )
    kinetic = 0.5 * state.velocity.double().pow(2).sum(dim=1) / state.layout.numel  # K/N per walker
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
