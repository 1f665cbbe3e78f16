"""`python -m grokglass bench convergence`: how fast each sampling protocol learns a known entropy.

The system is the ball (wlmd.systems.BallSystem): N parameters, x = ln |theta|^2, exact
S(x) = (N/2) x inside the unit ball, so the entropy is extensive like a network's: the
depth Wang-Landau must deposit grows with N. The 1-D grid spans [x_low, 0] with walls at
both ends (bias_low and bias_start); the error is measured over the inner window
[x_low + margin, -margin] as the RMS of (S_est - S_exact) after removing their mean
difference (an entropy is known up to a constant).

Each protocol (wlmd.settings.PROTOCOLS) runs with the same walkers, F, schedule and seed;
the error is read at log-spaced budgets of walker-epochs (all walkers' epochs together,
the cost on any hardware). --compare runs all protocols in one invocation and prints, for
each, the walker-epochs it needed to reach --target and the ratio to the paper protocol
("not reached" within the budget is reported as such, never extrapolated).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from grokglass.errors import DivergenceError
from grokglass.io import torch_settings
from grokglass.wlmd.grid import EntropyGrid
from grokglass.wlmd.sampler import init_walkers, run_epochs
from grokglass.wlmd.settings import PROTOCOLS, GridSpec, SamplerSettings
from grokglass.wlmd.systems import BallSystem
from grokglass.wlmd.windows import WindowedSampler, WindowSettings


@dataclass(frozen=True)
class BallProblem:
    """The known-answer problem: the ball of n_params dimensions on a walled 1-D grid."""

    n_params: int = 100
    x_low: float = -2.0
    bin_width: float = 0.02
    gaussian_sigma_bins: float = 5.0
    margin: float = 0.1  # bins this close to a wall are left out of the error

    @property
    def wall_margin(self) -> float:
        """How far the grid reaches beyond each wall: the wall B m^2 must rise above the
        entropy's depth (N/2 nats per unit of x over the 2 units), or walkers overrun it.
        (A stiffer B instead makes the walls' force too steep for dt = 3e-3 at large N.)"""
        return max(0.3, math.sqrt(1.2 * self.n_params / 3000.0))

    def grid(self) -> GridSpec:
        return GridSpec(
            lows=(self.x_low - self.wall_margin,),
            highs=(self.wall_margin,),
            bin_width=self.bin_width,
            bias_strength=3000.0,
            bias_start=0.0,
            bias_low=self.x_low,
            gaussian_sigma_bins=self.gaussian_sigma_bins,
            gaussian_cutoff_sigmas=3.0,
        )

    def rms_error(self, learned: torch.Tensor) -> float:
        """RMS of S_est - S over the inner window, the constant offset removed; learned: (n_x,)."""
        spec = self.grid()
        centres = spec.centres(0)
        inside = (centres >= self.x_low + self.margin) & (centres <= -self.margin)
        exact = 0.5 * self.n_params * centres
        difference = (learned.double().cpu() - exact)[inside]
        if not bool(torch.isfinite(difference).all()):
            # restrained windows give no value outside their span: it must cover the window
            raise ValueError("the estimate does not cover the inner window")
        return float((difference - difference.mean()).pow(2).mean().sqrt())

    def slope_ratio(self, learned: torch.Tensor) -> float:
        """The least-squares slope of S_est over the inner window, over the exact N/2."""
        centres = self.grid().centres(0)
        inside = (centres >= self.x_low + self.margin) & (centres <= -self.margin)
        values = learned.double().cpu()[inside].numpy()
        if not np.isfinite(values).all():
            raise ValueError("the estimate does not cover the inner window")
        return float(np.polyfit(centres[inside].numpy(), values, 1)[0] / (0.5 * self.n_params))


def sampler_settings(
    protocol: str, wl_factor: float, dt: float, t_drop: float, integrator: str = "paper"
) -> SamplerSettings:
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r} (known: {', '.join(PROTOCOLS)})")
    overrides, _ = PROTOCOLS[protocol]
    base = dict(
        dt=dt,
        friction=0.05,
        kT=1.0,
        wl_factor=wl_factor,
        t_rise=1.0,
        t_drop=t_drop,
        constraint="none",
        integrator=integrator,
    )
    return SamplerSettings(**{**base, "log_every": 10**12, **overrides})


def budgets(total: int, walkers: int, points: int = 12) -> list[int]:
    """Log-spaced checkpoints in walker-epochs, each a whole number of epochs."""
    epochs = np.unique(np.geomspace(max(total / walkers / 200, 1), total / walkers, points).astype(np.int64))
    return [int(e) * walkers for e in epochs]


# windows: 4 windows sharing 60 % of their width, the walkers split evenly, deposits summed
# in each window with the 1/t bound, exchange attempts every 100 epochs (wlmd.windows)
WINDOWS = {"n": 4, "overlap": 0.6, "exchange_every": 100}
# restrained: one walker per window (--walkers windows), centres evenly over the inner window,
# kappa = 5N (each mean within ~0.1 of its centre), BAOAB; no deposits, no schedule
BENCH_PROTOCOLS = (*PROTOCOLS, "windows", "restrained")
RESTRAINED_STIFFNESS_PER_PARAMETER = 5.0


def run_protocol(
    problem: BallProblem,
    protocol: str,
    walkers: int,
    budget: int,
    wl_factor: float,
    dt: float,
    t_drop: float,
    seed=0,
    integrator: str = "paper",
) -> dict:
    """The error curve of one protocol: [(walker_epochs, rms)], and the run's wall time. A run
    that diverges (the sampler's guard) ends its curve there and says so."""
    system = BallSystem(problem.n_params)
    timings = None
    if protocol == "windows":
        advance, learned, timings = _windowed(problem, system, walkers, wl_factor, dt, t_drop, seed, integrator)
    elif protocol == "restrained":
        advance, learned = _restrained(problem, system, walkers, seed)
    else:
        advance, learned = _single_map(problem, system, protocol, walkers, wl_factor, dt, t_drop, seed, integrator)
    curve, done, started, diverged = [], 0, time.perf_counter(), None
    for checkpoint in budgets(budget, walkers):
        try:
            advance(checkpoint // walkers - done)
        except DivergenceError as err:
            diverged = str(err)
            break
        done = checkpoint // walkers
        try:
            curve.append((checkpoint, problem.rms_error(learned())))
        except ValueError:  # windows that have not met yet cannot be stitched: no estimate
            curve.append((checkpoint, math.nan))
    result = {"protocol": protocol, "curve": curve, "seconds": time.perf_counter() - started, "diverged": diverged}
    try:  # the final estimate's slope over the exact one: an integrator's temperature shows here
        result["slope_ratio"] = problem.slope_ratio(learned())
    except ValueError:
        result["slope_ratio"] = math.nan
    if timings is not None:  # where a windowed run's time goes: steering, epochs, exchanges, stitching
        result["seconds_by_part"] = dict(timings)
    return result


def _single_map(problem, system, protocol, walkers, wl_factor, dt, t_drop, seed, integrator="paper"):
    settings = sampler_settings(protocol, wl_factor, dt, t_drop, integrator)
    state = init_walkers(system, list(range(walkers)), seed, settings)
    grid = EntropyGrid(problem.grid(), walkers)
    return (lambda epochs: run_epochs(system, grid, state, settings, epochs)), (lambda: grid.learned().mean(dim=0))


def _windowed(problem, system, walkers, wl_factor, dt, t_drop, seed, integrator="paper"):
    if walkers % WINDOWS["n"]:
        raise ValueError(f"windows: --walkers must be a multiple of {WINDOWS['n']} (the windows)")
    settings = sampler_settings("sum_1/t", wl_factor, dt, t_drop, integrator)
    # each window's walls must rise above its own depth, (N/2) x its width in x (cf. wall_margin)
    width = -problem.x_low / (WINDOWS["n"] - (WINDOWS["n"] - 1) * WINDOWS["overlap"])
    depth = 0.5 * problem.n_params * width
    wall_bins = max(10, math.ceil(math.sqrt(1.2 * depth / 3000.0) / problem.bin_width))
    windows = WindowSettings(walkers_per_window=walkers // WINDOWS["n"], wall_bins=wall_bins, **WINDOWS)
    sampler = WindowedSampler(system, problem.grid(), settings, windows, seed)
    learned = lambda: torch.from_numpy(np.nan_to_num(sampler.result().entropy, nan=0.0))  # noqa: E731
    return sampler.advance, learned, sampler.seconds


def _restrained(problem, system, walkers, seed):
    from grokglass.wlmd.restrained import RestrainedSampler
    from grokglass.wlmd.restraints import RestraintSettings, RestraintWindows

    # the centres reach past the inner window, so that the window means (above their centres by
    # S'/kappa = 0.1 here) and the span integrated over them cover it
    centres = np.linspace(problem.x_low + problem.margin - 0.2, -problem.margin, walkers)
    windows = RestraintWindows.lattice(centres, stiffness=RESTRAINED_STIFFNESS_PER_PARAMETER * problem.n_params)
    sampler = RestrainedSampler(system, windows, RestraintSettings(dt=1.0, friction=0.05, log_every=10**9), seed)
    learned = lambda: torch.from_numpy(sampler.result(problem.grid()).entropy)  # noqa: E731
    return (lambda epochs: sampler.run(epochs, progress=False)), learned


def walker_epochs_to_reach(curve: list[tuple[int, float]], target: float) -> int | None:
    """The first checkpoint from which the error stays at or below the target, else None."""
    for i, (spent, _) in enumerate(curve):
        if all(rms <= target for _, rms in curve[i:]):
            return spent
    return None


def walker_epochs_to_first_reach(curve: list[tuple[int, float]], target: float) -> int | None:
    """The first checkpoint at which the error is at or below the target, else None."""
    return next((spent for spent, rms in curve if rms <= target), None)


def compare(results: list[dict], target: float) -> list[dict]:
    """Per protocol: walker-epochs to reach the target and stay (and to first reach it), the
    paper protocol's multiple of each, and walker-epochs/s of the whole run."""
    rows = []
    for r in results:
        stay = None if r["diverged"] else walker_epochs_to_reach(r["curve"], target)
        rows.append(
            {
                "protocol": r["protocol"],
                "walker_epochs_to_target": stay,
                "walker_epochs_to_first_reach": walker_epochs_to_first_reach(r["curve"], target),
                "walker_epochs_per_s": r["curve"][-1][0] / r["seconds"] if r["curve"] else None,
            }
        )
    paper = next((row for row in rows if row["protocol"] == "paper"), {})
    for row in rows:
        for key, ratio in (
            ("walker_epochs_to_target", "paper_over_this"),
            ("walker_epochs_to_first_reach", "paper_over_this_first"),
        ):
            row[ratio] = paper[key] / row[key] if paper.get(key) and row[key] else None
    return rows


def format_report(problem: BallProblem, args, results: list[dict], rows: list[dict] | None) -> str:
    lines = [
        f"bench convergence: ball N = {problem.n_params}, x in [{problem.x_low}, 0], {args.walkers} walkers, "
        f"F = {args.wl_factor}, t_drop = {args.t_drop:g}, dt = {args.dt}, budget {args.budget:,} walker-epochs"
    ]
    for r in results:
        slope = r.get("slope_ratio", math.nan)
        lines.append(f"  {r['protocol']} ({r['seconds']:.1f} s; final slope / (N/2) = {slope:.4f}):")
        lines += [f"    {spent:>12,} walker-epochs   RMS error {rms:8.3f} nats" for spent, rms in r["curve"]]
        if "seconds_by_part" in r:
            parts = r["seconds_by_part"]
            lines.append("    seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in parts.items()))
        if r["diverged"]:
            lines.append(f"    diverged: {r['diverged']}")
    if rows:
        lines.append(f"  to reach RMS {args.target} nats (and stay there):")
        for row in rows:
            spent, ratio = row["walker_epochs_to_target"], row["paper_over_this"]
            first, first_ratio = row["walker_epochs_to_first_reach"], row["paper_over_this_first"]
            reach = f"{spent:,} walker-epochs" if spent else "not reached within the budget"
            line = f"    {row['protocol']:<12} {reach}" + (f"  ({ratio:.1f}x fewer than paper)" if ratio else "")
            if first and first != spent:
                line += f"; first at {first:,}" + (f" ({first_ratio:.1f}x)" if first_ratio else "")
            rate = row["walker_epochs_per_s"]
            lines.append(line + (f"; {rate:,.0f} walker-epochs/s" if rate else ""))
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("bench convergence")
    group.add_argument("--system", choices=["ball"], default="ball", help="the known-answer system (default ball)")
    group.add_argument("--n-params", type=int, default=100, help="N, the ball's dimension (default 100)")
    group.add_argument("--protocol", default="paper", help=f"one of {', '.join(BENCH_PROTOCOLS)} (default paper)")
    group.add_argument("--budget", type=int, default=200_000, help="walker-epochs in all (default 200,000)")
    group.add_argument("--compare", action="store_true", help="run every protocol side by side")
    group.add_argument("--target", type=float, default=1.0, help="RMS error for --compare (nats, default 1)")
    group.add_argument("--wl-factor", type=float, default=0.2, help="F, the deposit per walker-epoch (default 0.2)")
    group.add_argument("--t-drop", type=float, default=1e12, help="t_drop of the schedule (default: never)")
    group.add_argument("--x-low", type=float, default=-2.0, help="the lower wall (default -2)")
    group.add_argument(
        "--integrator",
        choices=["paper", "baoab"],
        default="paper",
        help="the Wang-Landau protocols' integrator (default paper)",
    )
    group.add_argument("--json", help="also write the curves and the comparison here")
    group.add_argument("--figure", help="also draw the curves: PREFIX.png/.pdf/.csv (figures.protocols)")


def run(args: argparse.Namespace) -> int:
    with torch_settings(threads=args.threads or 1):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    problem = BallProblem(n_params=args.n_params, x_low=args.x_low)
    protocols = list(BENCH_PROTOCOLS) if args.compare else [args.protocol]
    results = []
    for protocol in protocols:
        results.append(
            run_protocol(
                problem,
                protocol,
                args.walkers,
                args.budget,
                args.wl_factor,
                args.dt,
                args.t_drop,
                integrator=args.integrator,
            )
        )
        curve = ", ".join(f"{spent:,}: {rms:.3g}" for spent, rms in results[-1]["curve"])
        print(f"bench convergence: {protocol} done in {results[-1]['seconds']:.1f} s ({curve})", flush=True)
    rows = compare(results, args.target) if args.compare else None
    print(format_report(problem, args, results, rows), flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"problem": asdict(problem), "args": vars(args), "results": results, "compare": rows}, fh)
    if args.figure:
        from grokglass.figures.protocols import protocol_curves

        title = f"ball N = {problem.n_params}, {args.walkers} walkers (S spans {0.5 * problem.n_params * -problem.x_low:.0f} nats)"
        protocol_curves(results, args.target, title, args.figure)
    return 0
