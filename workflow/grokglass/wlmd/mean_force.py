"""From restrained windows' trajectories to the entropy and its standard error.

A walker held by W_k(xi) = g_k . (xi - c_k) + 1/2 (xi - c_k)^T K_k (xi - c_k) (diagonal K_k)
samples xi with the density exp(S(xi) - W_k(xi)/kT). Since the integral of the gradient of
a density vanishes, the window's mean restraint force is the mean entropy gradient:

    <grad S>_k = (g_k + K_k (mu_k - c_k)) / kT        (mu_k: the window's mean position)

and it is assigned to mu_k, not extrapolated back to c_k (with stiff windows c_k lies many
widths from mu_k, and an extrapolation amplifies errors in the covariance). This module turns
each window's time series into that mean force with a standard error and equilibrium tests
(estimate_window), and integrates the forces: the trapezoid rule along the window means in
1-D (integrate_1d), least squares over the edges of a lattice of windows in 2-D, the discrete
Poisson equation, with the residual reported as a test of the field (integrate_2d).

Standard errors come from the statistical inefficiency g (the integrated autocorrelation time,
Chodera et al., JCTC 3, 26 (2007)) after the transient that maximises the number of effectively
independent samples has been cut (Chodera, JCTC 12, 1799 (2016)), and from block averages; the
larger of the two is used. pymbar.timeseries computes the same (tests compare them); this
module needs only numpy, so it runs wherever the sampler does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# a window whose two time halves (or hidden variable, or two sides) differ by more than this
# many standard errors of the difference is flagged
HALVES_Z_MAX = 3.0
BOTH_SIDES_Z_MAX = 2.0  # both sides must agree within 2 standard errors (the test)
N_BLOCKS = 8  # blocks of the block-average standard error
N_TRANSIENT_CANDIDATES = 40  # start times tried when cutting the transient


# ----- time series ---------------------------------------------------------------------------
def statistical_inefficiency(series: np.ndarray, min_lag: int = 3) -> float:
    """g = 1 + 2 sum_t (1 - t/T) C(t), summed until C first drops to zero or below (after
    min_lag lags); g >= 1. A constant series gives 1."""
    a = np.asarray(series, dtype=np.float64)
    n = a.size
    if n < 2:
        return 1.0
    a = a - a.mean()
    variance = float(a @ a) / n
    if variance <= 0:
        return 1.0
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(a, size)
    correlation = np.fft.irfft(spectrum * np.conj(spectrum), size)[:n] / (variance * np.arange(n, 0, -1))
    g = 1.0
    for t in range(1, n - 1):
        if correlation[t] <= 0 and t > min_lag:
            break
        g += 2.0 * correlation[t] * (1.0 - t / n)
    return max(g, 1.0)


def detect_equilibration(series: np.ndarray, candidates: int = N_TRANSIENT_CANDIDATES) -> tuple[int, float, float]:
    """(t0, g, n_eff): the start that maximises the effectively independent samples
    n_eff = (T - t0) / g(series[t0:]); starts tried up to half the series."""
    a = np.asarray(series, dtype=np.float64)
    n = a.size
    best = (0, 1.0, 0.0)
    for t0 in np.unique(np.linspace(0, n // 2, candidates).astype(int)):
        g = statistical_inefficiency(a[t0:])
        n_eff = (n - t0) / g
        if n_eff > best[2]:
            best = (int(t0), g, n_eff)
    return best


def block_standard_error(series: np.ndarray, n_blocks: int = N_BLOCKS) -> float:
    """Standard error of the mean from the scatter of n_blocks contiguous block means."""
    a = np.asarray(series, dtype=np.float64)
    size = a.size // n_blocks
    if size < 2:
        return float("nan")
    means = a[: size * n_blocks].reshape(n_blocks, size).mean(axis=1)
    return float(means.std(ddof=1) / math.sqrt(n_blocks))


def mean_and_error(series: np.ndarray) -> tuple[float, float, float]:
    """(mean, standard error, g) of a stationary series: the larger of the error from g and
    the block-average error."""
    a = np.asarray(series, dtype=np.float64)
    g = statistical_inefficiency(a)
    from_g = math.sqrt(max(a.var(ddof=1), 0.0) * g / a.size) if a.size > 1 else float("nan")
    blocks = block_standard_error(a)
    return float(a.mean()), float(np.nanmax([from_g, blocks])), g


def _z(a: float, se_a: float, b: float, se_b: float) -> float:
    spread = math.hypot(se_a, se_b)
    return (a - b) / spread if spread > 0 else (0.0 if a == b else math.inf)


# ----- one window ----------------------------------------------------------------------------
@dataclass
class WindowEstimate:
    """One window's measurement (units: xi, and nats per unit of xi for forces).

    force = (tilt + stiffness (mean - centre)) / kT is the entropy gradient at `mean`;
    `flags` names each failed test ("time halves differ in x", "weight norm drifts", ...)."""

    index: int
    centre: np.ndarray
    stiffness: np.ndarray
    tilt: np.ndarray
    mean: np.ndarray
    covariance: np.ndarray
    force: np.ndarray
    force_se: np.ndarray
    transient: int  # samples cut from the start
    inefficiency: np.ndarray  # g per axis
    samples: int  # samples kept
    halves_z: np.ndarray  # (first half - second half) of the force, in standard errors
    norm_mean: float = float("nan")
    norm_z: float = float("nan")  # the weight norm's halves, in standard errors
    kinetic_ratio: float = float("nan")  # K/N over kT/2
    flags: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.flags

    def row(self, axes: tuple[str, ...] = ("x", "y")) -> dict:
        """A flat table row (pandas-friendly), one column per axis and quantity."""
        out = {"window": self.index}
        for a, name in enumerate(axes[: len(self.centre)]):
            out.update(
                {
                    f"centre_{name}": float(self.centre[a]),
                    f"stiffness_{name}": float(self.stiffness[a]),
                    f"tilt_{name}": float(self.tilt[a]),
                    f"mean_{name}": float(self.mean[a]),
                    f"std_{name}": float(math.sqrt(max(self.covariance[a, a], 0.0))),
                    f"force_{name}": float(self.force[a]),
                    f"force_se_{name}": float(self.force_se[a]),
                    f"g_{name}": float(self.inefficiency[a]),
                    f"halves_z_{name}": float(self.halves_z[a]),
                }
            )
        out.update(
            transient=self.transient,
            samples=self.samples,
            norm_mean=self.norm_mean,
            norm_z=self.norm_z,
            kinetic_ratio=self.kinetic_ratio,
            flags="; ".join(self.flags),
        )
        return out


def estimate_window(
    trajectory: np.ndarray,
    centre,
    stiffness,
    tilt=None,
    kT: float = 1.0,
    norms: np.ndarray | None = None,
    kinetic_ratio: float = float("nan"),
    index: int = 0,
    halves_z_max: float = HALVES_Z_MAX,
) -> WindowEstimate:
    """The mean force of one window from its (T, d) trajectory of xi (one walker, or several
    walkers' series concatenated along time is NOT allowed: pass one series per walker).

    The transient is cut on the slowest axis; the time-halves test compares the mean force of
    the two halves of what is kept; `norms` (T,), the weight norm, must be stationary too."""
    xi = np.asarray(trajectory, dtype=np.float64)
    if xi.ndim == 1:
        xi = xi[:, None]
    d = xi.shape[1]
    centre, stiffness = (
        np.broadcast_to(np.asarray(centre, float), (d,)),
        np.broadcast_to(np.asarray(stiffness, float), (d,)),
    )
    tilt = np.zeros(d) if tilt is None else np.broadcast_to(np.asarray(tilt, float), (d,))
    if xi.shape[0] < 4 * N_BLOCKS:
        raise ValueError(f"window {index}: {xi.shape[0]} samples are too few (need {4 * N_BLOCKS})")
    t0 = max(detect_equilibration(xi[:, a])[0] for a in range(d))
    kept = xi[t0:]
    stats = [mean_and_error(kept[:, a]) for a in range(d)]
    mean = np.array([s[0] for s in stats])
    mean_se = np.array([s[1] for s in stats])
    half = kept.shape[0] // 2
    halves = [[mean_and_error(part[:, a]) for a in range(d)] for part in (kept[:half], kept[half:])]
    # the force is linear in the mean: its halves differ by as many standard errors as the means
    halves_z = np.array([_z(*halves[0][a][:2], *halves[1][a][:2]) for a in range(d)])
    estimate = WindowEstimate(
        index=index,
        centre=centre.copy(),
        stiffness=stiffness.copy(),
        tilt=tilt.copy(),
        mean=mean,
        covariance=np.atleast_2d(np.cov(kept.T)) if kept.shape[0] > 1 else np.zeros((d, d)),
        force=(tilt + stiffness * (mean - centre)) / kT,
        force_se=stiffness * mean_se / kT,
        transient=int(t0),
        inefficiency=np.array([s[2] for s in stats]),
        samples=int(kept.shape[0]),
        halves_z=halves_z,
        kinetic_ratio=float(kinetic_ratio),
    )
    axes = "xy"
    for a in range(d):
        if not abs(halves_z[a]) <= halves_z_max:
            estimate.flags.append(f"time halves differ in {axes[a]} ({halves_z[a]:+.1f} SE)")
    if norms is not None:
        kept_norms = np.asarray(norms, dtype=np.float64)[t0:]
        first, second = mean_and_error(kept_norms[:half]), mean_and_error(kept_norms[half:])
        estimate.norm_mean = float(kept_norms.mean())
        estimate.norm_z = _z(first[0], first[1], second[0], second[1])
        if not abs(estimate.norm_z) <= halves_z_max:
            estimate.flags.append(f"weight norm drifts ({estimate.norm_z:+.1f} SE)")
    return estimate


def both_sides(above: WindowEstimate, below: WindowEstimate, z_max: float = BOTH_SIDES_Z_MAX) -> np.ndarray:
    """The both-sides test of one window: walkers from above and from below must measure the
    same force within z_max standard errors of the difference; returns z per axis and flags
    both estimates where it fails."""
    z = np.array(
        [_z(above.force[a], above.force_se[a], below.force[a], below.force_se[a]) for a in range(len(above.force))]
    )
    for a, value in enumerate(z):
        if not abs(value) <= z_max:
            message = f"both sides differ in {'xy'[a]} ({value:+.1f} SE)"
            above.flags.append(message)
            below.flags.append(message)
    return z


def combine(estimates: list[WindowEstimate]) -> WindowEstimate:
    """Several walkers' estimates of one window as one: inverse-variance weighted force and
    mean, flags pooled (replicas that disagree beyond their errors are flagged too)."""
    if len(estimates) == 1:
        return estimates[0]
    weights = np.array([1.0 / np.maximum(e.force_se, 1e-300) ** 2 for e in estimates])
    total = weights.sum(axis=0)
    force = (weights * np.array([e.force for e in estimates])).sum(axis=0) / total
    mean = (weights * np.array([e.mean for e in estimates])).sum(axis=0) / total
    first = estimates[0]
    out = WindowEstimate(
        index=first.index,
        centre=first.centre,
        stiffness=first.stiffness,
        tilt=first.tilt,
        mean=mean,
        covariance=np.mean([e.covariance for e in estimates], axis=0),
        force=force,
        force_se=1.0 / np.sqrt(total),
        transient=max(e.transient for e in estimates),
        inefficiency=np.max([e.inefficiency for e in estimates], axis=0),
        samples=sum(e.samples for e in estimates),
        halves_z=np.max(np.abs([e.halves_z for e in estimates]), axis=0),
        norm_mean=float(np.mean([e.norm_mean for e in estimates])),
        norm_z=float(np.max(np.abs([e.norm_z for e in estimates]))),
        kinetic_ratio=float(np.mean([e.kinetic_ratio for e in estimates])),
        flags=sorted({flag for e in estimates for flag in e.flags}),
    )
    chi2 = sum(float((((e.force - force) / np.maximum(e.force_se, 1e-300)) ** 2).sum()) for e in estimates)
    dof = (len(estimates) - 1) * len(force)
    if dof and chi2 / dof > 4.0:  # replicas scattered twice as far as their errors say
        out.flags.append(f"replicas disagree (chi2/dof {chi2 / dof:.1f})")
    return out


# ----- integration ---------------------------------------------------------------------------
def integrate_1d(
    means: np.ndarray, forces: np.ndarray, force_se: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The trapezoid rule along the window means: (points sorted, S, standard error of S), S = 0
    at the highest point (the gauge), errors propagated as independent window errors."""
    order = np.argsort(means)[::-1]  # from the top down: the gauge sits where walkers start
    points, f, se = (
        np.asarray(means, float)[order],
        np.asarray(forces, float)[order],
        np.asarray(force_se, float)[order],
    )
    steps = np.diff(points)  # negative: going down
    # S_j = sum_{i<j} (f_i + f_{i+1}) / 2 * step_i: linear in the forces
    weights = np.zeros((len(points), len(points)))
    for j in range(1, len(points)):
        weights[j] = weights[j - 1]
        weights[j, j - 1] += 0.5 * steps[j - 1]
        weights[j, j] += 0.5 * steps[j - 1]
    entropy = weights @ f
    return points, entropy, np.sqrt((weights**2) @ (se**2))


def lattice_edges(shape: tuple[int, int]) -> list[tuple[int, int]]:
    """Neighbouring pairs of a (n_x, n_y) lattice of windows numbered x-major (k = i n_y + j)."""
    n_x, n_y = shape
    edges = []
    for i in range(n_x):
        for j in range(n_y):
            k = i * n_y + j
            if i + 1 < n_x:
                edges.append((k, k + n_y))
            if j + 1 < n_y:
                edges.append((k, k + 1))
    return edges


@dataclass
class Integrated2D:
    entropy: np.ndarray  # (K,) at the window means, NaN where a window was left out
    stderr: np.ndarray
    chi2_per_dof: float  # the residual: about 1 for a conservative field measured within its errors
    residual_z: np.ndarray  # per edge: (S_b - S_a - dS_edge) / its standard error
    edges: list[tuple[int, int]]


def integrate_2d(
    means: np.ndarray, forces: np.ndarray, force_se: np.ndarray, edges: list[tuple[int, int]], keep=None, gauge: int = 0
) -> Integrated2D:
    """Weighted least squares of S over the windows: each edge (a, b) measures
    S_b - S_a = (f_a + f_b) / 2 . (mu_b - mu_a), with the variance of the two windows' force
    errors; S_gauge = 0. Windows not in `keep` (default all) and their edges are left out;
    windows cut off from the gauge by them are NaN."""
    means, forces, force_se = (np.asarray(a, float) for a in (means, forces, force_se))
    n = len(means)
    keep = np.ones(n, bool) if keep is None else np.asarray(keep, bool)
    used = [(a, b) for a, b in edges if keep[a] and keep[b]]
    reached = _connected(n, used, gauge) if keep[gauge] else set()
    used = [(a, b) for a, b in used if a in reached]
    unknowns = sorted(reached - {gauge})
    column = {k: i for i, k in enumerate(unknowns)}
    rows, targets, sigmas = [], [], []
    for a, b in used:
        step = means[b] - means[a]
        rows.append((a, b))
        targets.append(float(0.5 * (forces[a] + forces[b]) @ step))
        sigmas.append(float(math.sqrt(0.25 * ((step**2) * (force_se[a] ** 2 + force_se[b] ** 2)).sum())))
    design = np.zeros((len(rows), len(unknowns)))
    for r, (a, b) in enumerate(rows):
        if b in column:
            design[r, column[b]] += 1.0
        if a in column:
            design[r, column[a]] -= 1.0
    sigma = np.maximum(np.array(sigmas), 1e-12)
    weighted = design / sigma[:, None]
    normal = weighted.T @ weighted
    covariance = np.linalg.pinv(normal)
    solution = covariance @ (weighted.T @ (np.array(targets) / sigma))
    entropy = np.full(n, np.nan)
    stderr = np.full(n, np.nan)
    if keep[gauge]:
        entropy[gauge], stderr[gauge] = 0.0, 0.0
    for k, i in column.items():
        entropy[k], stderr[k] = solution[i], math.sqrt(max(covariance[i, i], 0.0))
    residual = (design @ solution - np.array(targets)) / sigma
    dof = len(rows) - len(unknowns)
    chi2 = float(residual @ residual / dof) if dof > 0 else float("nan")
    return Integrated2D(entropy, stderr, chi2, residual, rows)


def _connected(n: int, edges: list[tuple[int, int]], start: int) -> set[int]:
    neighbours: dict[int, list[int]] = {k: [] for k in range(n)}
    for a, b in edges:
        neighbours[a].append(b)
        neighbours[b].append(a)
    seen, todo = {start}, [start]
    while todo:
        for other in neighbours[todo.pop()]:
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return seen
