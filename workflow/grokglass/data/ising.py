"""The 2-D Ising model: batched Metropolis sampling and the energy-class dataset (spec 10).

Sampling: an L x L square lattice with periodic boundaries, E = -J sum_<ij> s_i s_j
with J = 1 and h = 0, s = +-1. Many independent chains (one temperature each) run
at once as one (chains, L, L) tensor; a sweep is two checkerboard half-sweeps, each
proposing a flip of every spin of one colour (those spins do not interact, so all
of them can be updated in parallel exactly as a sequential Metropolis sweep over
that colour would). All randomness comes from one torch.Generator seeded with
`seed` on the chosen device, so a run is reproducible on a given device.

The dataset (generate_ising_dataset, CLI ``ising-dataset``) classifies
configurations into n_classes equal-width energy-per-spin intervals; it is written
in the layout of tasks.write_dataset so tasks.load_split reads it unchanged.
Every choice the sources leave open is marked [D] in spec 10.2 and listed in the
file attribute ``defaults_note``.

Long because it is one generator, each part used only by the next: the lattice, the
checkerboard Metropolis sweep, the chains, the energy labels, the dataset file and its command.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch

from grokglass.data.arithmetic import split_permutation
from grokglass.data.specs import IsingDataset, temperature_grid
from grokglass.io import atomic_path, describe_device, provenance, set_attrs, torch_settings

T_CRITICAL = 2.0 / math.log(1.0 + math.sqrt(2.0))  # Onsager, ~2.269

# [D] defaults of spec 10.2: the ones of the dataset spec (grokglass.data.specs.IsingDataset)
DEFAULT_L = IsingDataset.L
DEFAULT_TEMPERATURES = IsingDataset.temperatures
DEFAULT_EQUILIBRATION_SWEEPS = IsingDataset.equilibration_sweeps
DEFAULT_SAMPLE_EVERY = IsingDataset.sample_every
DEFAULT_SAMPLES_PER_TEMPERATURE = IsingDataset.samples_per_temperature
DEFAULT_CHAINS_PER_TEMPERATURE = IsingDataset.chains_per_temperature
DEFAULT_POOL_SIZE = IsingDataset.pool_size
DEFAULT_LABEL_RANGE = IsingDataset.label_range
DEFAULT_LABEL_MARGIN = IsingDataset.label_margin

DEFAULTS_NOTE = (
    "[D] choices (spec 10.2): square L x L lattice, periodic boundaries, J=1, h=0; "
    "checkerboard Metropolis, one sweep = both colours; chains start from random spins "
    "(initial_state), equilibrate for equilibration_sweeps sweeps, then give one sample every "
    "sample_every sweeps; samples_per_temperature samples per temperature from "
    "chains_per_temperature independent chains; temperatures a uniform grid over [1, 5] by default; "
    "T = inf samples are independent uniformly random spins (Metropolis at beta = 0 would flip "
    "every proposed spin deterministically); labels = n_classes equal-width intervals of the energy "
    "per spin over label_range, left-closed ([lo, lo+w) -> 0, ...), values above the range go to the "
    "last class and below it to class 0 (label_mode 'fixed'; the alternative over the observed range "
    "is not used); label_margin 0 keeps every configuration (a margin m > 0 drops those whose "
    "energy per spin lies within m of an inner class boundary, before balancing); classes balanced "
    "by subsampling pool_size / n_classes per class with a generator "
    "seeded by seed; inputs are the spins as +-1 float32 flattened row-major to L*L; the split "
    "permutation is tasks.split_permutation(pool_size, split_seed) (random, so a train prefix is "
    "balanced only on average unless stratified_splits)."
)


# ----------------------------------------------------------------------------- lattice


def _check_lattice(L: int) -> None:
    if L < 2 or L % 2:
        raise ValueError(f"checkerboard updates need an even lattice size L >= 2, got L={L}")


def checkerboard_masks(L: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean (L, L) masks of the two sublattices ((i + j) even, odd)."""
    _check_lattice(L)
    i = torch.arange(L, device=device)
    even = ((i[:, None] + i[None, :]) % 2) == 0
    return even, ~even


def random_spins(n_chains: int, L: int, generator: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
    """(n_chains, L, L) float32 spins, each +1 or -1 with probability 1/2."""
    bits = torch.randint(0, 2, (n_chains, L, L), generator=generator, device=device)
    return (2 * bits - 1).to(torch.float32)


def neighbour_sum(spins: torch.Tensor) -> torch.Tensor:
    """Sum of the 4 nearest neighbours of every site (periodic), same shape as (B, L, L) spins."""
    padded = torch.nn.functional.pad(spins.unsqueeze(-3), (1, 1, 1, 1), mode="circular").squeeze(-3)
    return padded[..., :-2, 1:-1] + padded[..., 2:, 1:-1] + padded[..., 1:-1, :-2] + padded[..., 1:-1, 2:]


def energy(spins: torch.Tensor) -> torch.Tensor:
    """Total energy E = -sum over bonds s_i s_j (J = 1), float64, shape spins.shape[:-2].

    Each bond counted once (right and down neighbours). Exact: an integer in float64.
    """
    s = spins.double()
    bonds = s * torch.roll(s, -1, -1) + s * torch.roll(s, -1, -2)
    return -bonds.sum(dim=(-1, -2))


def energy_per_spin(spins: torch.Tensor) -> torch.Tensor:
    """e = E / N in float64; -2 for a fully aligned lattice."""
    return energy(spins) / (spins.shape[-1] * spins.shape[-2])


def magnetization_per_spin(spins: torch.Tensor) -> torch.Tensor:
    """m = sum s_i / N in float64 (signed)."""
    return spins.double().mean(dim=(-1, -2))


def to_sublattices(spins: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split (..., L, L) spins into the even ((i + j) even) and odd sublattices, each (..., L, L/2).

    Row i of the even sublattice holds the sites j = 2k + (i % 2), the odd one j = 2k + 1 - (i % 2).
    """
    even = torch.empty(*spins.shape[:-1], spins.shape[-1] // 2, dtype=spins.dtype, device=spins.device)
    odd = torch.empty_like(even)
    even[..., 0::2, :] = spins[..., 0::2, 0::2]
    even[..., 1::2, :] = spins[..., 1::2, 1::2]
    odd[..., 0::2, :] = spins[..., 0::2, 1::2]
    odd[..., 1::2, :] = spins[..., 1::2, 0::2]
    return even, odd


def from_sublattices(even: torch.Tensor, odd: torch.Tensor) -> torch.Tensor:
    """The inverse of to_sublattices: (..., L, L) spins."""
    spins = torch.empty(*even.shape[:-1], 2 * even.shape[-1], dtype=even.dtype, device=even.device)
    spins[..., 0::2, 0::2] = even[..., 0::2, :]
    spins[..., 1::2, 1::2] = even[..., 1::2, :]
    spins[..., 0::2, 1::2] = odd[..., 0::2, :]
    spins[..., 1::2, 0::2] = odd[..., 1::2, :]
    return spins


def _sublattice_neighbour_sum(other: torch.Tensor, of_even: bool) -> torch.Tensor:
    """Neighbour sums of one sublattice's sites, from the other sublattice (..., L, L/2).

    Vertical neighbours sit at the same column index k in rows i +- 1; horizontal ones
    at k and at k - 1 (even sites in even rows, odd sites in odd rows) or k + 1.
    """
    padded = torch.nn.functional.pad(other.unsqueeze(-3), (1, 1, 1, 1), mode="circular").squeeze(-3)
    centre = padded[..., 1:-1, 1:-1]
    vertical = padded[..., :-2, 1:-1] + padded[..., 2:, 1:-1]
    left, right = padded[..., 1:-1, :-2], padded[..., 1:-1, 2:]
    even_row = (torch.arange(other.shape[-2], device=other.device) % 2 == 0).view(-1, 1)
    side = torch.where(even_row, left, right) if of_even else torch.where(even_row, right, left)
    return centre + vertical + side


def _metropolis_update(spins: torch.Tensor, field: torch.Tensor, beta: torch.Tensor, u: torch.Tensor) -> None:
    """Flip each spin with probability min(1, exp(-beta dE)), dE = 2 s h (in place)."""
    accept = u < torch.exp(-beta * (2.0 * spins * field))
    spins.mul_(torch.where(accept, -1.0, 1.0).to(spins.dtype))


class CheckerboardIsing:
    """B independent L x L periodic Ising lattices (J = 1, h = 0) kept as two sublattices.

    A sweep updates all even sites, then all odd sites (a site's neighbours are all of
    the other colour, so this is an exact Metropolis sweep); each half draws one
    uniform number per site of its colour from `generator`, even half first.
    """

    def __init__(self, spins: torch.Tensor, beta: torch.Tensor | Sequence[float] | float):
        _check_lattice(spins.shape[-1])
        if spins.ndim != 3 or spins.shape[-1] != spins.shape[-2]:
            raise ValueError(f"spins must be (B, L, L), got {tuple(spins.shape)}")
        self.L = int(spins.shape[-1])
        self.even, self.odd = to_sublattices(spins.to(torch.float32))
        beta = torch.as_tensor(beta, dtype=torch.float32, device=spins.device)
        self.beta = beta.expand(spins.shape[0]).reshape(-1, 1, 1).clone()

    def sweep(self, generator: torch.Generator, n: int = 1) -> None:
        for _ in range(int(n)):
            u = torch.rand(self.even.shape, generator=generator, device=self.even.device)
            _metropolis_update(self.even, _sublattice_neighbour_sum(self.odd, True), self.beta, u)
            u = torch.rand(self.odd.shape, generator=generator, device=self.odd.device)
            _metropolis_update(self.odd, _sublattice_neighbour_sum(self.even, False), self.beta, u)

    def spins(self) -> torch.Tensor:
        return from_sublattices(self.even, self.odd)

    def energy_per_spin(self) -> torch.Tensor:
        """e = E / N (float64, (B,)); every bond has exactly one even end."""
        bonds = self.even.double() * _sublattice_neighbour_sum(self.odd, True).double()
        return -bonds.sum(dim=(-1, -2)) / (self.L * self.L)

    def magnetization_per_spin(self) -> torch.Tensor:
        return (self.even.double().sum(dim=(-1, -2)) + self.odd.double().sum(dim=(-1, -2))) / (self.L * self.L)


def metropolis_sweep(
    spins: torch.Tensor,
    beta: torch.Tensor | float,
    generator: torch.Generator,
    masks: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Reference checkerboard sweep on the full (B, L, L) lattice, in place; returns `spins`.

    Slower than CheckerboardIsing (every step runs over all sites) but written
    directly from the definition; it draws the same random numbers in the same
    order, so both give bit-identical chains (tested). beta: (B,), (B, 1, 1) or a float.
    """
    if masks is None:
        masks = checkerboard_masks(spins.shape[-1], spins.device)
    beta = torch.as_tensor(beta, dtype=spins.dtype, device=spins.device)
    if beta.ndim == 1:
        beta = beta.view(-1, 1, 1)
    half = (*spins.shape[:-1], spins.shape[-1] // 2)
    for colour, mask in enumerate(masks):
        u_half = torch.rand(half, generator=generator, device=spins.device, dtype=spins.dtype)
        ones = torch.ones_like(u_half)  # placeholders for the other colour (masked out below)
        u = from_sublattices(u_half, ones) if colour == 0 else from_sublattices(ones, u_half)
        field = neighbour_sum(spins)
        accept = (u < torch.exp(-beta * (2.0 * spins * field))) & mask
        spins.mul_(torch.where(accept, -1.0, 1.0).to(spins.dtype))
    return spins


def binder_cumulant(m: torch.Tensor | np.ndarray, dim: int = 0) -> np.ndarray:
    """U4 = 1 - <m^4> / (3 <m^2>^2) over samples along `dim` (float64)."""
    m = torch.as_tensor(m).double()
    m2 = (m**2).mean(dim=dim)
    m4 = (m**4).mean(dim=dim)
    return (1.0 - m4 / (3.0 * m2**2)).cpu().numpy()


# ----------------------------------------------------------------------------- sampling


@dataclass
class IsingSamples:
    """Samples of many chains. Arrays are indexed [sample, chain] (chain-major within a sample)."""

    L: int
    temperatures: np.ndarray  # (n_chains,) temperature of each chain
    energy: np.ndarray  # (n_samples, n_chains) energy per spin, float64
    magnetization: np.ndarray  # (n_samples, n_chains) magnetisation per spin, float64
    spins: np.ndarray | None  # (n_samples, n_chains, L, L) int8, or None when not kept
    sweeps: np.ndarray  # (n_samples,) sweep count at each sample

    def flat(self) -> dict[str, np.ndarray]:
        """Samples as flat arrays (sample-major), with the temperature of each."""
        n_samples, n_chains = self.energy.shape
        out = {
            "energy": self.energy.reshape(-1),
            "magnetization": self.magnetization.reshape(-1),
            "temperature": np.tile(self.temperatures, n_samples),
        }
        if self.spins is not None:
            out["spins"] = self.spins.reshape(n_samples * n_chains, self.L, self.L)
        return out


def run_chains(
    L: int,
    temperatures: Sequence[float],
    chains_per_temperature: int = 1,
    equilibration_sweeps: int = DEFAULT_EQUILIBRATION_SWEEPS,
    n_samples: int = 1,
    sample_every: int = DEFAULT_SAMPLE_EVERY,
    seed: int = 0,
    device: torch.device | str = "cpu",
    initial_state: str = "random",
    keep_spins: bool = True,
    log: Callable[[str], None] | None = None,
) -> IsingSamples:
    """Run chains_per_temperature independent chains at each finite temperature at once.

    Each chain: `equilibration_sweeps` sweeps from `initial_state` ('random' or 'up'),
    then `n_samples` samples, one every `sample_every` sweeps (the first one
    `sample_every` sweeps after equilibration).
    """
    _check_lattice(L)
    temps = np.repeat(np.asarray(temperatures, dtype=np.float64), int(chains_per_temperature))
    if len(temps) == 0:
        raise ValueError("no temperatures given")
    if not np.all(np.isfinite(temps)) or np.any(temps <= 0):
        raise ValueError(
            f"temperatures must be finite and > 0 (T = inf is drawn directly), got {sorted(set(temperatures))}"
        )
    if equilibration_sweeps < 0 or n_samples < 0 or sample_every < 1:
        raise ValueError("need equilibration_sweeps >= 0, n_samples >= 0, sample_every >= 1")
    device = torch.device(device)
    generator = torch.Generator(device=device).manual_seed(int(seed))
    n_chains = len(temps)
    if initial_state == "random":
        spins = random_spins(n_chains, L, generator, device)
    elif initial_state == "up":
        spins = torch.ones(n_chains, L, L, dtype=torch.float32, device=device)
    else:
        raise ValueError(f"initial_state must be 'random' or 'up', got {initial_state!r}")
    lattice = CheckerboardIsing(spins, torch.as_tensor(1.0 / temps, dtype=torch.float32, device=device))
    started = time.perf_counter()
    lattice.sweep(generator, int(equilibration_sweeps))
    energies, mags, kept = [], [], []
    for _ in range(int(n_samples)):
        lattice.sweep(generator, int(sample_every))
        energies.append(lattice.energy_per_spin())
        mags.append(lattice.magnetization_per_spin())
        if keep_spins:
            kept.append(lattice.spins().to(torch.int8))
    if log is not None:
        total = equilibration_sweeps + n_samples * sample_every
        log(f"ising: {n_chains} chains of {L}x{L}, {total} sweeps in {time.perf_counter() - started:.1f}s")
    empty = np.zeros((0, n_chains))
    return IsingSamples(
        L=L,
        temperatures=temps,
        energy=torch.stack(energies).cpu().numpy() if energies else empty,
        magnetization=torch.stack(mags).cpu().numpy() if mags else empty,
        spins=(torch.stack(kept).cpu().numpy() if kept else np.zeros((0, n_chains, L, L), np.int8))
        if keep_spins
        else None,
        sweeps=equilibration_sweeps + sample_every * np.arange(1, n_samples + 1),
    )


def infinite_temperature_samples(
    n: int, L: int, seed: int, device: torch.device | str = "cpu"
) -> dict[str, np.ndarray]:
    """n independent uniformly random configurations (T = inf)."""
    generator = torch.Generator(device=torch.device(device)).manual_seed(int(seed))
    spins = random_spins(n, L, generator, device)
    return {
        "spins": spins.to(torch.int8).cpu().numpy(),
        "energy": energy_per_spin(spins).cpu().numpy(),
        "magnetization": magnetization_per_spin(spins).cpu().numpy(),
        "temperature": np.full(n, np.inf),
    }


# ----------------------------------------------------------------------------- labels


def label_boundaries(n_classes: int = 4, label_range: tuple[float, float] = DEFAULT_LABEL_RANGE) -> np.ndarray:
    """The n_classes - 1 inner boundaries of equal-width intervals over label_range."""
    lo, hi = (float(v) for v in label_range)
    if n_classes < 2 or not hi > lo:
        raise ValueError(f"need n_classes >= 2 and label_range lo < hi, got {n_classes}, {label_range}")
    return lo + (hi - lo) * np.arange(1, n_classes) / n_classes


def energy_labels(
    e: np.ndarray, n_classes: int = 4, label_range: tuple[float, float] = DEFAULT_LABEL_RANGE
) -> np.ndarray:
    """Class of each energy per spin: interval index, left-closed; beyond the range -> end classes.

    With the defaults: e < -1.5 -> 0, [-1.5, -1) -> 1, [-1, -0.5) -> 2, e >= -0.5 (also e > 0) -> 3.
    """
    return np.searchsorted(label_boundaries(n_classes, label_range), np.asarray(e, np.float64), side="right").astype(
        np.int64
    )


def _check_margin(margin: float, n_classes: int, label_range: tuple[float, float]) -> None:
    half_width = (float(label_range[1]) - float(label_range[0])) / n_classes / 2
    if not 0 <= margin < half_width:
        raise ValueError(f"label_margin must be >= 0 and below half a class width ({half_width:g}), got {margin:g}")


def outside_margin(
    e: np.ndarray, margin: float, n_classes: int = 4, label_range: tuple[float, float] = DEFAULT_LABEL_RANGE
) -> np.ndarray:
    """Mask of the energies per spin at least `margin` away from every inner class boundary.

    Issue 16: the classifier's errors sit within a spin flip or two of a boundary, where a
    label hangs on one bond; a margin removes those configurations so that every label is
    robust to a few flips. One flip changes e by at most 8 / N (N = L * L spins).
    """
    _check_margin(margin, n_classes, label_range)
    e = np.asarray(e, np.float64)
    if margin == 0:
        return np.ones(e.shape, dtype=bool)
    distance = np.abs(e[..., None] - label_boundaries(n_classes, label_range)).min(axis=-1)
    return distance >= margin


def balance_classes(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Indices of `per_class` randomly chosen examples of every class (class-major order).

    Raises ValueError naming each class with too few examples and how many it has.
    """
    labels = np.asarray(labels)
    n_classes = int(labels.max()) + 1 if len(labels) else 0
    return _balance(labels, per_class, seed, n_classes)


def _balance(labels: np.ndarray, per_class: int, seed: int, n_classes: int) -> np.ndarray:
    counts = np.bincount(labels, minlength=n_classes)
    short = [f"class {c} has {counts[c]}" for c in range(n_classes) if counts[c] < per_class]
    if short:
        raise ValueError(
            f"too few samples to balance {per_class} per class: {', '.join(short)} "
            f"(counts {counts.tolist()}); sample more (samples_per_temperature) or "
            f"use more temperatures where that class's energies occur"
        )
    rng = np.random.default_rng(int(seed))
    picks = [np.sort(rng.choice(np.flatnonzero(labels == c), size=per_class, replace=False)) for c in range(n_classes)]
    return np.concatenate(picks)


def stratified_permutation(labels: np.ndarray, split_seed: int) -> np.ndarray:
    """tasks.split_permutation reordered so that every prefix is as class-balanced as possible.

    Within each class the order of split_permutation is kept; the classes are then
    interleaved (rank 0 of every class, rank 1 of every class, ...).
    """
    labels = np.asarray(labels)
    permutation = split_permutation(len(labels), split_seed)
    perm_labels = labels[permutation]
    rank = np.zeros(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        where = np.flatnonzero(perm_labels == c)
        rank[where] = np.arange(len(where))
    order = np.lexsort((perm_labels, rank))  # by rank, then class
    return permutation[order]


# ----------------------------------------------------------------------------- dataset


def generate_ising_dataset(
    path: str | Path,
    L: int = DEFAULT_L,
    temperatures: Sequence[float] = DEFAULT_TEMPERATURES,
    equilibration_sweeps: int = DEFAULT_EQUILIBRATION_SWEEPS,
    sample_every: int = DEFAULT_SAMPLE_EVERY,
    samples_per_temperature: int = DEFAULT_SAMPLES_PER_TEMPERATURE,
    include_infinite_temperature: bool = True,
    n_classes: int = 4,
    label_range: tuple[float, float] = DEFAULT_LABEL_RANGE,
    label_margin: float = DEFAULT_LABEL_MARGIN,
    pool_size: int = DEFAULT_POOL_SIZE,
    split_seed: int = 0,
    seed: int = 0,
    device: torch.device | str = "cpu",
    chains_per_temperature: int = DEFAULT_CHAINS_PER_TEMPERATURE,
    initial_state: str = "random",
    stratified_splits: bool = False,
    log: Callable[[str], None] = print,
) -> dict:
    """Sample Ising configurations, label them by energy class, balance, and write the dataset.

    samples_per_temperature must be a multiple of chains_per_temperature (each chain
    gives samples_per_temperature / chains_per_temperature samples). With
    include_infinite_temperature, samples_per_temperature random configurations are
    added. With label_margin > 0, configurations within label_margin (energy per spin)
    of an inner class boundary are dropped before balancing. Returns a summary dict
    (class counts before balancing, after the margin, sizes).
    """
    _check_margin(label_margin, n_classes, label_range)
    if pool_size % n_classes:
        raise ValueError(f"pool_size={pool_size} is not a multiple of n_classes={n_classes}")
    if samples_per_temperature % chains_per_temperature:
        raise ValueError(
            f"samples_per_temperature={samples_per_temperature} is not a multiple of "
            f"chains_per_temperature={chains_per_temperature}"
        )
    temperatures = [float(t) for t in temperatures]
    if str(device) == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    samples = run_chains(
        L,
        temperatures,
        chains_per_temperature,
        equilibration_sweeps,
        samples_per_temperature // chains_per_temperature,
        sample_every,
        seed=seed,
        device=device,
        initial_state=initial_state,
        log=log,
    )
    parts = [samples.flat()]
    if include_infinite_temperature:
        # a seed of its own, derived from `seed`, so adding T = inf does not change the chains
        parts.append(infinite_temperature_samples(samples_per_temperature, L, seed + 1_000_003, device))
    every = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    n_sampled = len(every["energy"])
    every = _drop_near_boundaries(every, label_margin, n_classes, label_range, log)
    labels_all = energy_labels(every["energy"], n_classes, label_range)
    counts = np.bincount(labels_all, minlength=n_classes)
    log(f"ising: {len(labels_all)} samples, per class {counts.tolist()}")
    chosen = _balance(labels_all, pool_size // n_classes, seed, n_classes)
    inputs = every["spins"][chosen].reshape(len(chosen), L * L).astype(np.float32)
    labels = labels_all[chosen]
    permutation = (
        stratified_permutation(labels, split_seed) if stratified_splits else split_permutation(len(labels), split_seed)
    )
    boundaries = label_boundaries(n_classes, label_range)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset("inputs", data=inputs, compression="gzip", shuffle=True)
        h5.create_dataset("labels", data=labels)
        h5.create_dataset("permutation", data=permutation)
        h5.create_dataset("energy", data=every["energy"][chosen])
        h5.create_dataset("magnetization", data=every["magnetization"][chosen])
        h5.create_dataset("temperature", data=every["temperature"][chosen])
        set_attrs(
            h5,
            provenance(
                describe_device(device),
                task="ising",
                kind="ising",
                L=int(L),
                N=int(L * L),
                n_classes=int(n_classes),
                p=0,
                temperatures=temperatures,
                include_infinite_temperature=bool(include_infinite_temperature),
                equilibration_sweeps=int(equilibration_sweeps),
                sample_every=int(sample_every),
                samples_per_temperature=int(samples_per_temperature),
                chains_per_temperature=int(chains_per_temperature),
                initial_state=initial_state,
                label_mode="fixed",
                label_range=[float(v) for v in label_range],
                label_margin=float(label_margin),
                label_boundaries=boundaries.tolist(),
                class_counts_before_balancing=counts.tolist(),
                pool_size=int(pool_size),
                split_seed=int(split_seed),
                seed=int(seed),
                stratified_splits=bool(stratified_splits),
                J=1.0,
                h=0.0,
                boundary="periodic",
                defaults_note=DEFAULTS_NOTE,
            ),
        )
    log(f"ising: wrote {path}: {len(labels)} examples ({pool_size // n_classes} per class)")
    return {
        "class_counts": counts.tolist(),
        "n_examples": len(labels),
        "n_samples": n_sampled,
        "n_within_margin": n_sampled - len(labels_all),
    }


def _drop_near_boundaries(
    every: dict[str, np.ndarray], margin: float, n_classes: int, label_range: tuple[float, float], log
) -> dict[str, np.ndarray]:
    if margin == 0:
        return every
    keep = outside_margin(every["energy"], margin, n_classes, label_range)
    log(f"ising: label_margin {margin:g} drops {int((~keep).sum())} of {len(keep)} samples near class boundaries")
    return {key: value[keep] for key, value in every.items()}


# ----------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output HDF5 path")
    parser.add_argument(
        "--spec-json",
        default=None,
        help="the dataset spec (grokglass.data.specs.IsingDataset) as JSON, what the workflow "
        "passes; it replaces all the options below but --device and --threads",
    )
    parser.add_argument("--L", type=int, default=DEFAULT_L, help="lattice size (even)")
    parser.add_argument(
        "--temperatures", type=float, nargs="+", default=None, help="temperatures (default: 41 evenly spaced in [1, 5])"
    )
    parser.add_argument("--t-min", type=float, default=None, help="with --n-temperatures: grid start")
    parser.add_argument("--t-max", type=float, default=None, help="with --n-temperatures: grid end")
    parser.add_argument("--n-temperatures", type=int, default=None, help="uniform grid size")
    parser.add_argument("--equilibration-sweeps", type=int, default=DEFAULT_EQUILIBRATION_SWEEPS)
    parser.add_argument("--sample-every", type=int, default=DEFAULT_SAMPLE_EVERY)
    parser.add_argument("--samples-per-temperature", type=int, default=DEFAULT_SAMPLES_PER_TEMPERATURE)
    parser.add_argument("--chains-per-temperature", type=int, default=DEFAULT_CHAINS_PER_TEMPERATURE)
    parser.add_argument(
        "--no-infinite-temperature", action="store_true", help="leave out the T = inf random configurations"
    )
    parser.add_argument("--n-classes", type=int, default=4)
    parser.add_argument("--label-range", type=float, nargs=2, default=list(DEFAULT_LABEL_RANGE))
    parser.add_argument(
        "--label-margin",
        type=float,
        default=DEFAULT_LABEL_MARGIN,
        help="drop configurations whose energy per spin lies within this of an inner class boundary",
    )
    parser.add_argument("--pool-size", type=int, default=DEFAULT_POOL_SIZE)
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--initial-state", choices=("random", "up"), default="random")
    parser.add_argument(
        "--stratified-splits",
        action="store_true",
        help="interleave classes in the split permutation (balanced train prefix)",
    )
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def temperatures_from_args(args) -> list[float]:
    if args.temperatures is not None:
        return list(args.temperatures)
    if args.n_temperatures is not None or args.t_min is not None or args.t_max is not None:
        lo = 1.0 if args.t_min is None else args.t_min
        hi = 5.0 if args.t_max is None else args.t_max
        n = 41 if args.n_temperatures is None else args.n_temperatures
        return temperature_grid(lo, hi, n)
    return list(DEFAULT_TEMPERATURES)


def run(args) -> int:
    with torch_settings(threads=args.threads):
        return _run(args)


def _run(args) -> int:
    import sys

    from grokglass.io import pick_device

    device = pick_device(args.device, log=lambda s: print(s, flush=True))
    kwargs = dict(
        L=args.L,
        temperatures=temperatures_from_args(args),
        equilibration_sweeps=args.equilibration_sweeps,
        sample_every=args.sample_every,
        samples_per_temperature=args.samples_per_temperature,
        include_infinite_temperature=not args.no_infinite_temperature,
        n_classes=args.n_classes,
        label_range=tuple(args.label_range),
        label_margin=args.label_margin,
        pool_size=args.pool_size,
        chains_per_temperature=args.chains_per_temperature,
        initial_state=args.initial_state,
        stratified_splits=args.stratified_splits,
        seed=args.seed,
    )
    try:
        kwargs["split_seed"] = args.split_seed
        if args.spec_json is not None:
            from grokglass.io import parse_json_arg

            kwargs = IsingDataset.from_dict(parse_json_arg(args.spec_json, "--spec-json")).generator_kwargs()
        generate_ising_dataset(args.out, device=device, log=lambda s: print(s, flush=True), **kwargs)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
