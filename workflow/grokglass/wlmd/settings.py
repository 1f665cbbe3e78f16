"""The settings of a WLMD landscape: its grid and its sampler dynamics (no torch needed to read them).

Both are frozen dataclasses with a JSON form (to_dict / from_dict); they are part of a
LandscapeSpec and are stored with every WLMD output so that inputs can be checked.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, ClassVar

from grokglass.errors import check_keys

if TYPE_CHECKING:
    import torch

CONSTRAINTS = ("bounds", "shell", "none")
# chunk: each walker fills its own map, maps averaged between segments (the paper);
# every_step: a group's walkers add the MEAN of their deposits to one map every epoch;
# sum: they add the SUM (multiple-walker Wang-Landau / metadynamics: K walkers fill K times
# faster), the schedule counts all walkers' epochs, and the merge sums the groups' increments
SHARE_MODES = ("chunk", "every_step", "sum")
# paper: f(t) = F t/t_rise, F, then F t_drop/t (spec 5.9); inverse_time: additionally at most
# w n_visited / t (Belardinelli and Pereyra's 1/t Wang-Landau: the error keeps falling as
# t^-1/2 instead of saturating), t in walker-epochs of the map, n_visited its visited bins,
# w the deposit kernel's width in bins (so that the rate per bin is 1/t in MC time)
SCHEDULES = ("paper", "inverse_time")
# paper: v += dt a; v *= 1 - c_f; v += noise; theta += dt v (spec 5.5), which samples positions at
# kT (2 - c_f) / (2 (1 - c_f)), so a converged map is S scaled by that factor (0.5 % at c_f = 1e-2);
# baoab: v += dt a; theta += dt/2 v; v = (1 - c_f) v + noise; theta += dt/2 v (Leimkuhler and
# Matthews 2013, the two half kicks of consecutive epochs merged), which samples them at kT
INTEGRATORS = ("paper", "baoab")
# a walker outside the grid: its visit counts in the nearest edge bin ("edge", the pipeline's
# long-standing behaviour), or counts nowhere and deposits nothing ("drop", the Python API's default)
OUTSIDE_MODES = ("edge", "drop")

# the columns of a landscape's convergence table (wlmd.merge writes it, figures.convergence draws it)
CONVERGENCE_COLUMNS = (
    "segment",
    "epochs_per_walker",
    "mean_abs_dS",
    "maxent_shift_bins",
    "flatness",
    "visited_entropy_range",
    "kinetic_per_param",
    "kinetic_per_param_max",
)

# the sampling protocols on offer: name -> (SamplerSettings overrides, what it is); the device
# check measures each, so a protocol added here is measured with no other change
PROTOCOLS = {
    "paper": ({"share": "chunk"}, "each walker fills its own map; maps averaged between segments"),
    "group_shared": ({"share": "every_step"}, "the walkers of a group deposit into one map every epoch"),
    "sum": ({"share": "sum"}, "all walkers add their deposits to one map; schedule in walker-epochs"),
    "sum_1/t": ({"share": "sum", "schedule": "inverse_time"}, "sum, with the 1/t Wang-Landau bound on f"),
}


@dataclass(frozen=True)
class GridSpec:
    """A regular grid of equal-width bins over a box, plus the entropy bias."""

    lows: tuple[float, ...]
    highs: tuple[float, ...]
    bin_width: float = 0.02
    bias_strength: float = 3000.0  # B of S_bias(x) = B (x - L0)^2 for x > L0
    bias_start: float = 0.0  # L0
    gaussian_sigma_bins: float = 15.0
    gaussian_cutoff_sigmas: float = 4.0
    # an optional lower wall, S_bias = B (L1 - x)^2 for x < L1 (the paper has none: its x = ln L
    # is bounded below in practice; a system whose entropy falls without end needs one)
    bias_low: float | None = None  # L1
    # hard walls in x at bias_low (or the grid's low end) and bias_start, both rounded to bin
    # edges (wall_positions), instead of the bias: a walker's step past one is undone and its
    # velocity reversed (wlmd.sampler), and each deposit is mirrored at the walls (wlmd.grid),
    # so the map stays flat up to them; the bias is then 0 (windows use them: wlmd.windows)
    hard_walls: bool = False

    OMITTED_AT_DEFAULT: ClassVar[tuple[str, ...]] = ("bias_low", "hard_walls")  # see SamplerSettings

    def __post_init__(self):
        if self.bias_low is not None and not self.bias_low < self.bias_start:
            raise ValueError(f"bias_low {self.bias_low} must lie below bias_start {self.bias_start}")
        if len(self.lows) != len(self.highs) or len(self.lows) not in (1, 2):
            raise ValueError(f"grid needs 1 or 2 axes with a low and a high each, got {self.lows}, {self.highs}")
        if self.bin_width <= 0:
            raise ValueError(f"bin_width must be > 0, got {self.bin_width}")
        for lo, hi in zip(self.lows, self.highs):
            if not hi > lo:
                raise ValueError(f"grid axis [{lo}, {hi}] is empty")

    @property
    def ndim(self) -> int:
        return len(self.lows)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(round((hi - lo) / self.bin_width)) for lo, hi in zip(self.lows, self.highs))

    def edges(self, axis: int) -> torch.Tensor:
        import torch  # only here: the settings themselves are read without torch (config, DAG)

        n = self.shape[axis]
        return self.lows[axis] + self.bin_width * torch.arange(n + 1, dtype=torch.float64)

    def centres(self, axis: int) -> torch.Tensor:
        edges = self.edges(axis)
        return 0.5 * (edges[1:] + edges[:-1])

    def wall_edges(self) -> tuple[int, int]:
        """The x bin edges (indices) of the walls: bias_low (or the low end) and bias_start."""
        lo, width, n_bins = self.lows[0], self.bin_width, self.shape[0]
        low = 0 if self.bias_low is None else int(round((self.bias_low - lo) / width))
        high = int(round((self.bias_start - lo) / width))
        return min(max(low, 0), n_bins - 1), min(max(high, low + 1), n_bins)

    def wall_positions(self) -> tuple[float, float]:
        """The x of the walls (wall_edges): where hard walls stand."""
        low, high = self.wall_edges()
        return self.lows[0] + low * self.bin_width, self.lows[0] + high * self.bin_width

    def patch_radius(self) -> int:
        return int(math.ceil(self.gaussian_cutoff_sigmas * self.gaussian_sigma_bins))

    def to_dict(self) -> dict:
        return _without_defaults(self)

    @classmethod
    def from_dict(cls, data: dict) -> GridSpec:
        data = dict(data)
        data["lows"], data["highs"] = tuple(data["lows"]), tuple(data["highs"])
        return cls(**data)


@dataclass(frozen=True)
class SamplerSettings:
    """WLMD dynamics settings. Defaults are spec 5.13 ([R-C] numbers, [D] bounds)."""

    dt: float = 2e-5
    friction: float = 1e-4  # c_f, per epoch
    kT: float = 1.0
    wl_factor: float = 20.0  # F
    t_rise: float = 3e5
    t_drop: float = 2e6
    constraint: str = "bounds"  # "bounds" | "shell" | "none"
    bound_scale: float = 2.0  # b_k = bound_scale * sigma_init,k
    shell_norm: float = 30.0
    share: str = "chunk"  # one of SHARE_MODES
    log_every: int = 1000
    schedule: str = "paper"  # one of SCHEDULES
    integrator: str = "paper"  # one of INTEGRATORS
    outside: str = "edge"  # one of OUTSIDE_MODES
    # divergence guard (checked at log points and at the end of every run): the kinetic energy
    # per parameter may reach this multiple of kT/2, a walker may stay outside the grid this
    # many consecutive epochs; beyond either the job stops (a dt too large, usually)
    max_kinetic_ratio: float = 100.0
    max_epochs_outside: int = 2000

    # added after landscapes were first sampled: left out of to_dict() while they hold their
    # defaults, so existing segment jobs keep their parameters (and their results)
    OMITTED_AT_DEFAULT: ClassVar[tuple[str, ...]] = (
        "schedule",
        "max_kinetic_ratio",
        "max_epochs_outside",
        "integrator",
        "outside",
    )

    def __post_init__(self):
        if self.constraint not in CONSTRAINTS:
            raise ValueError(f"constraint must be one of {CONSTRAINTS}, got {self.constraint!r}")
        if self.share not in SHARE_MODES:
            raise ValueError(f"share must be one of {SHARE_MODES}, got {self.share!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.integrator not in INTEGRATORS:
            raise ValueError(f"integrator must be one of {INTEGRATORS}, got {self.integrator!r}")
        if self.outside not in OUTSIDE_MODES:
            raise ValueError(f"outside must be one of {OUTSIDE_MODES}, got {self.outside!r}")
        if not 0.0 <= self.friction <= 1.0:
            raise ValueError(f"friction c_f must lie in [0, 1], got {self.friction}")
        if self.dt <= 0 or self.kT < 0:
            raise ValueError(f"need dt > 0 and kT >= 0, got dt={self.dt}, kT={self.kT}")
        if self.t_rise <= 0 or self.t_drop < self.t_rise:
            raise ValueError(f"need 0 < t_rise <= t_drop, got {self.t_rise}, {self.t_drop}")
        if self.log_every < 1:
            raise ValueError(f"log_every must be >= 1, got {self.log_every}")
        if self.shell_norm <= 0 or self.bound_scale <= 0:
            raise ValueError("shell_norm and bound_scale must be > 0")
        if not self.max_kinetic_ratio > 1 or self.max_epochs_outside < 1:
            raise ValueError(
                f"need max_kinetic_ratio > 1 and max_epochs_outside >= 1, got "
                f"{self.max_kinetic_ratio}, {self.max_epochs_outside}"
            )

    @property
    def noise_std(self) -> float:
        """sigma_L = sqrt(c_f (2 - c_f) kT): keeps the stationary velocity variance at kT."""
        return math.sqrt(self.friction * (2.0 - self.friction) * self.kT)

    def to_dict(self) -> dict:
        return _without_defaults(self)

    @classmethod
    def from_dict(cls, data: dict) -> SamplerSettings:
        return _from_known_keys(cls, data, "sampler settings")


def _from_known_keys(cls, data: dict, what: str):
    check_keys(cls, data, what)  # a SpecError (a ValueError) naming the unknown keys
    return cls(**data)


def _without_defaults(settings) -> dict:
    """asdict(settings) without the OMITTED_AT_DEFAULT fields that hold their defaults: fields
    added after landscapes were first sampled leave those landscapes' job parameters as they were."""
    data = asdict(settings)
    defaults = {f.name: f.default for f in fields(settings)}
    for name in settings.OMITTED_AT_DEFAULT:
        if data[name] == defaults[name]:
            del data[name]
    return data


WALL_KINDS = ("hard", "soft")


@dataclass(frozen=True)
class WindowSettings:
    """n windows over the grid's x range, neighbours sharing `overlap` of a window's width."""

    n: int = 4
    overlap: float = 0.5
    walkers_per_window: int = 2
    exchange_every: int = 100  # epochs between exchange attempts
    wall_bins: int = 10  # bins of wall on each side of a window's grid
    # "hard": a walker that steps past its window's edge in x is put back (wlmd.sampler, x_walls);
    # "soft": only the grid's bias walls B (x - hi)^2 hold it (measured in validation.md section 12)
    walls: str = "hard"
    # bins next to an inner wall left out of the stitch: there the deposits' Gaussians run
    # into the wall and the map is distorted (None: 1.5 Gaussian widths)
    trim_bins: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> WindowSettings:
        return _from_known_keys(cls, data, "window settings")

    def __post_init__(self):
        if self.n < 1 or self.walkers_per_window < 1 or self.exchange_every < 1 or self.wall_bins < 1:
            raise ValueError(f"windows need n, walkers_per_window, exchange_every, wall_bins >= 1: {self}")
        if self.walls not in WALL_KINDS:
            raise ValueError(f"window walls must be one of {', '.join(WALL_KINDS)}, got {self.walls!r}")
        if self.n > 1 and not 0.0 < self.overlap < 1.0:
            raise ValueError(f"windows need an overlap in (0, 1) of their width, got {self.overlap}")


def sampled_bins(grid: GridSpec) -> tuple[int, int]:
    """The [first, last) x bins between the grid's walls (bias_low, bias_start): where walkers go."""
    return grid.wall_edges()


def window_ranges(grid: GridSpec, windows: WindowSettings) -> list[tuple[int, int]]:
    """Each window's [first, last) bin on the grid's x axis.

    The windows cut the sampled range between the grid's walls (sampled_bins); the first
    window reaches down to the grid's low end and the last up to its high end, so that the
    landscape's own walls stay in the end windows. Neighbours must share at least 2 bins
    beyond the `trim` bins each drops next to its inner walls for the stitch (windows.py), or
    their maps could never be stitched."""
    start, end = sampled_bins(grid)
    width = (end - start) / (windows.n - (windows.n - 1) * windows.overlap)
    step = width * (1.0 - windows.overlap)
    ranges = []
    for w in range(windows.n):
        first = 0 if w == 0 else start + int(round(w * step))
        last = grid.shape[0] if w == windows.n - 1 else start + int(round(w * step + width))
        ranges.append((first, last))
    trim = window_trim_bins(grid, windows)
    needed = 2 * trim + 2
    for (_, last), (first, _) in zip(ranges, ranges[1:]):
        if last - first < needed:
            shown = f"{ranges[:3]} ... ({len(ranges)} windows)" if len(ranges) > 4 else f"{ranges}"
            raise ValueError(
                f"windows {shown} overlap by {last - first} bins, fewer than the {needed} a stitch needs "
                f"(2 + the {trim} bins each window drops beside an inner wall): raise the overlap, lower n, "
                "or use finer bins"
            )
    return ranges


def window_trim_bins(grid: GridSpec, windows: WindowSettings) -> int:
    """Bins next to a window's inner wall left out of the stitch: there the deposits' Gaussians
    run into the wall (default 1.5 sigma)."""
    return windows.trim_bins if windows.trim_bins is not None else int(round(1.5 * grid.gaussian_sigma_bins))


def window_centre(grid: GridSpec, ranges: list[tuple[int, int]], window: int) -> tuple[float, float]:
    """(centre, half-width) in x of window `window`'s part of the sampled range."""
    start, end = sampled_bins(grid)
    first, last = max(ranges[window][0], start), min(ranges[window][1], end)
    return grid.lows[0] + 0.5 * (first + last) * grid.bin_width, 0.5 * (last - first) * grid.bin_width


def exchange_partner(segment: int, window: int, n_windows: int) -> int | None:
    """The window that `window` tries exchanges with at the start of `segment` (> 0), or None.

    Neighbouring pairs alternate, (0, 1), (2, 3), ... at odd segments and (1, 2), (3, 4), ... at
    even ones (as in REWL), so that each window is in at most one pair: the two jobs of a pair
    then decide the same exchanges from the same inputs, and no job waits for a third.
    """
    if segment < 1:
        return None
    first = (segment - 1) % 2  # the lower window of the first pair
    partner = window + 1 if (window - first) % 2 == 0 else window - 1
    return partner if first <= min(window, partner) and max(window, partner) < n_windows else None
