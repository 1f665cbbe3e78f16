"""The entropy grid shared by WLMD (2-D) and the WanD optimizer (1-D).

Holds one entropy array per walker, shape (K, n_x) or (K, n_x, n_y), indexed in
axis order (x = ln L_train first, y = 10 * smoothed test accuracy second). All
operations are batched over walkers and stay on the tensor's device, so a
sampler never has to synchronise with the host to read a gradient or deposit.
"""

from __future__ import annotations

import math

import torch

from grokglass.wlmd.landscape import VISITED_ENTROPY
from grokglass.wlmd.settings import GridSpec

__all__ = ["EntropyGrid", "GridSpec", "wang_landau_factor"]


def wang_landau_factor(
    epoch: torch.Tensor | float, factor: float, t_rise: float, t_drop: float
) -> torch.Tensor | float:
    """f(t): linear rise to F over t_rise, plateau until t_drop, then F t_drop / t.

    The paper's Eq. 3, F min(t/t_WL, t_WL/t), is the case t_rise = t_drop = t_WL.
    `epoch` is the global epoch counter across segments (1-based).
    """
    if t_rise <= 0 or t_drop < t_rise:
        raise ValueError(f"need 0 < t_rise <= t_drop, got t_rise={t_rise}, t_drop={t_drop}")
    if isinstance(epoch, torch.Tensor):
        t = epoch.double()
        return factor * torch.where(t < t_rise, t / t_rise, torch.where(t < t_drop, torch.ones_like(t), t_drop / t))
    if epoch < t_rise:
        return factor * epoch / t_rise
    return factor if epoch < t_drop else factor * t_drop / epoch


class EntropyGrid:
    """K walkers' entropy estimates S_k on one GridSpec (float64), with visit histograms."""

    def __init__(self, spec: GridSpec, n_walkers: int, device: torch.device | str = "cpu"):
        self.spec = spec
        self.n_walkers = n_walkers
        self.device = torch.device(device)
        self.bias = self._bias_array().to(self.device)
        self.entropy = self.bias.expand(n_walkers, *spec.shape).clone()  # S = S_bias + learned part
        self.histogram = torch.zeros(n_walkers, *spec.shape, dtype=torch.float64, device=self.device)
        self._strides = torch.tensor(_strides(spec.shape), device=self.device)
        # Small constant tensors, built once per device: creating them per call from Python
        # lists copies host -> device, and that copy synchronises the CUDA stream every epoch.
        self._constant_cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._constants(self.device)  # filled now: a compiled epoch must not see the cache change
        self._box = torch.tensor([spec.lows, spec.highs], dtype=torch.float64, device=self.device)
        self._patch_offsets, self._patch_values = self._gaussian_patch()
        # with hard walls, each deposit also goes to its mirror images at both walls (x bins)
        self._mirror_edges = None
        if spec.hard_walls:
            low, high = spec.wall_edges()
            self._mirror_edges = torch.tensor([2 * low - 1, 2 * high - 1], device=self.device)
        # the deposit's effective width in bins: a unit deposit adds 1 / kernel_bins at its centre
        self.kernel_bins = float(1.0 / self._patch_values.max())

    # ----- construction -------------------------------------------------------------
    def _bias_array(self) -> torch.Tensor:
        x = self.spec.centres(0)
        if self.spec.hard_walls:  # the walls hold the walkers, not a bias
            return torch.zeros(self.spec.shape, dtype=torch.float64)
        bias_x = torch.where(
            x > self.spec.bias_start, self.spec.bias_strength * (x - self.spec.bias_start) ** 2, torch.zeros_like(x)
        )
        if self.spec.bias_low is not None:
            low = self.spec.bias_low
            bias_x = bias_x + torch.where(x < low, self.spec.bias_strength * (low - x) ** 2, torch.zeros_like(x))
        if self.spec.ndim == 1:
            return bias_x
        return bias_x[:, None].expand(*self.spec.shape).clone()

    def _gaussian_patch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Integer bin offsets within the cutoff and the normalised Gaussian weights there."""
        r = self.spec.patch_radius()
        axis = torch.arange(-r, r + 1, device=self.device)
        grids = torch.meshgrid(*([axis] * self.spec.ndim), indexing="ij")
        offsets = torch.stack([g.reshape(-1) for g in grids], dim=1)  # (P, ndim)
        sq = (offsets.double() ** 2).sum(1)
        values = torch.exp(-0.5 * sq / self.spec.gaussian_sigma_bins**2)
        return offsets, values / values.sum()

    def _constants(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(lows, shape) as tensors on `device`, cached (keyed by e.g. 'cuda:0')."""
        key = str(device)
        if key not in self._constant_cache:
            self._constant_cache[key] = (
                torch.tensor(self.spec.lows, dtype=torch.float64, device=device),
                torch.tensor(self.spec.shape, device=device),
            )
        return self._constant_cache[key]

    # ----- state ----------------------------------------------------------------------
    def load_learned(self, learned: torch.Tensor) -> None:
        """Set S = S_bias + learned, `learned` broadcastable to (K, *shape) (e.g. a merged map)."""
        self.entropy = (
            (self.bias + learned.to(self.device, torch.float64)).expand(self.n_walkers, *self.spec.shape).clone()
        )

    def learned(self) -> torch.Tensor:
        """S - S_bias per walker: what the sampler has deposited."""
        return self.entropy - self.bias

    # ----- per-epoch operations ---------------------------------------------------------
    def bin_index(self, coords: torch.Tensor) -> torch.Tensor:
        """Bin of each walker's coordinates (K, ndim) -> (K, ndim) long, clamped one bin inside
        the edges so that central differences always have two neighbours."""
        lows, shape = self._constants(coords.device)
        idx = torch.floor((coords.double() - lows) / self.spec.bin_width).long()
        return torch.minimum(torch.clamp(idx, min=1), shape - 2)

    def outside(self, coords: torch.Tensor) -> torch.Tensor:
        """Whether each walker's coordinates (K, ndim) lie outside the grid's box: (K,) bool.
        (bin_index clamps such walkers into the edge bins.)"""
        coords = coords.double()
        return ((coords < self._box[0]) | (coords > self._box[1])).any(dim=1)

    def visited_bins(self) -> torch.Tensor:
        """How many bins are visited (0-d, on the device): any walker's histogram or learned
        entropy there (the merge's definition, so a loaded map counts as visited)."""
        learned = (self.entropy - self.bias).amax(dim=0) > VISITED_ENTROPY
        return (learned | (self.histogram.sum(dim=0) > 0)).sum()

    def gradient(self, bins: torch.Tensor) -> torch.Tensor:
        """Central-difference dS/d(coordinate) at each walker's bin: (K, ndim) float64."""
        flat = self.entropy.reshape(self.n_walkers, -1)
        centre = (bins * self._strides).sum(1)
        grads = []
        for axis in range(self.spec.ndim):
            step = self._strides[axis]
            plus = flat.gather(1, (centre + step)[:, None])
            minus = flat.gather(1, (centre - step)[:, None])
            grads.append((plus - minus)[:, 0] / (2 * self.spec.bin_width))
        return torch.stack(grads, dim=1)

    def deposit(
        self,
        bins: torch.Tensor,
        amount: torch.Tensor | float,
        share: str = "chunk",
        counted: torch.Tensor | None = None,
    ) -> None:
        """Add amount * Gaussian around each walker's bin; patch cells off the grid are dropped.

        With hard walls the Gaussian is also added around the bin's mirror images at both walls
        in x (b -> 2 w - 1 - b for a wall at bin edge w): what a Gaussian loses beyond a wall
        comes back inside, so a flat histogram builds a map that stays flat up to the wall (the
        reflecting boundary of metadynamics), and beyond it the map mirrors the inside, so the
        slope at the edge bins is ~0 rather than a cliff.

        share (settings.SHARE_MODES): "chunk" adds each walker's deposit to its own map;
        "every_step" adds the mean of the K deposits to every walker's copy and "sum" their
        sum (one shared S either way). counted: (K,) bool, the walkers whose visit counts (None: all);
        the others deposit nothing and add no visit (a walker outside the grid, outside="drop").
        """
        _, shape = self._constants(bins.device)
        cells = bins[:, None, :] + self._patch_offsets[None]  # (K, P, ndim)
        if self._mirror_edges is not None:
            # every walker gets all three patches, masked where a mirror does not reach
            # (_mirror_reaches): a branch on the walkers' positions would sync the device and
            # break a captured epoch (hard walls, these patches included, cost ~4 % of a quick
            # epoch: docs/performance.md)
            cells = torch.cat([cells, self._mirrored(bins, 0), self._mirrored(bins, 1)], dim=1)
        inside = ((cells >= 0) & (cells < shape)).all(-1)
        flat_index = (cells.clamp(min=0) * self._strides).sum(-1).clamp(max=math.prod(self.spec.shape) - 1)
        amount = torch.as_tensor(amount, dtype=torch.float64, device=bins.device).expand(self.n_walkers)
        visits = torch.ones(self.n_walkers, 1, dtype=self.histogram.dtype, device=bins.device)
        if counted is not None:
            amount, visits = amount * counted, visits * counted[:, None]
        weights = self._patch_values if self._mirror_edges is None else self._patch_values.repeat(3)
        if self._mirror_edges is not None:  # a mirror image counts only where it reaches inside
            inside = inside & self._mirror_reaches(bins)
        values = weights[None] * amount[:, None] * inside
        flat = self.entropy.view(self.n_walkers, -1)
        if share in ("every_step", "sum"):
            total = torch.zeros_like(flat[0]).index_add_(0, flat_index.reshape(-1), values.reshape(-1))
            flat += total / self.n_walkers if share == "every_step" else total
        else:
            flat.scatter_add_(1, flat_index, values)
        hist = self.histogram.view(self.n_walkers, -1)
        hist.scatter_add_(
            1,
            (bins * self._strides).sum(1, keepdim=True),
            visits,
        )

    def _mirror_reaches(self, bins: torch.Tensor) -> torch.Tensor:
        """(K, 3P) bool: the direct patch always; a wall's mirror image only for a walker within the
        patch radius of that wall (farther, it would only add noise beyond the wall)."""
        radius, patch = self.spec.patch_radius(), self._patch_values.shape[0]
        low, high = (self._mirror_edges + 1) // 2  # the wall edges
        near_low = (bins[:, 0] - low <= radius)[:, None].expand(-1, patch)
        near_high = (high - 1 - bins[:, 0] <= radius)[:, None].expand(-1, patch)
        return torch.cat([torch.ones_like(near_low), near_low, near_high], dim=1)

    def _mirrored(self, bins: torch.Tensor, wall: int) -> torch.Tensor:
        """The patch cells around each bin's mirror image in x at wall 0 (low) or 1, (K, P, ndim)."""
        mirror = bins.clone()
        mirror[:, 0] = self._mirror_edges[wall] - bins[:, 0]
        return mirror[:, None, :] + self._patch_offsets[None]


def _strides(shape: tuple[int, ...]) -> list[int]:
    strides, acc = [], 1
    for n in reversed(shape):
        strides.append(acc)
        acc *= n
    return list(reversed(strides))
