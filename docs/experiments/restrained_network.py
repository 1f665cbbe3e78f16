"""Restrained windows on the real network: the marginal S(x) of x + y at the quick size, with the
both-sides test (docs/validation.md section 15).

Needs a finished quick run (its dataset and AdamW checkpoint):

    snakemake --profile profiles/local results/train/adamw_add/model.pt
    PYTHONPATH=workflow python docs/experiments/restrained_network.py --out results/restrained_add

Walkers "from above" start at Nanda's init and are relaxed down into their windows; walkers
"from below" start from the trained AdamW network (ln L ~ -12, test accuracy 1) and are relaxed
up into the windows named by --below. Writes OUT.csv (one row per walker: the window table),
OUT.json (the marginal from the walkers from above, its standard error, the time halves, the
both-sides z per window) and prints a summary. Everything is measured, nothing fitted.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd
import torch

from grokglass.data.arithmetic import load_split
from grokglass.nets.registry import build_system
from grokglass.nets.specs import TransformerModel
from grokglass.wlmd import mean_force
from grokglass.wlmd.restrained import RestrainedSampler
from grokglass.wlmd.restrained_map import integrate
from grokglass.wlmd.restraints import RestraintSettings, RestraintWindows


def trained_params(path: str, layout) -> torch.Tensor:
    state = torch.load(path, map_location="cpu", weights_only=False)["model"]
    return layout.flatten({name: state[name] for name in layout.shapes})


def halves(sampler: RestrainedSampler) -> tuple[list, list]:
    """Window estimates from the first and from the second half of every trajectory (after the
    first half's own transient cut): the map-level time-halves test."""
    xi, norms = sampler.trajectories()
    n = xi.shape[0] // 2
    parts = []
    for part in (slice(0, n), slice(n, None)):
        per_walker = [
            mean_force.estimate_window(
                xi[part, k],
                sampler.windows.centres[k // sampler.walkers_per_window],
                sampler.windows.stiffness[k // sampler.walkers_per_window],
                kT=sampler.settings.kT,
                norms=norms[part, k],
                index=k // sampler.walkers_per_window,
                halves_z_max=np.inf,
            )
            for k in range(xi.shape[1])
        ]
        w = sampler.walkers_per_window
        parts.append([mean_force.combine(per_walker[i * w : (i + 1) * w]) for i in range(sampler.windows.n)])
    return parts[0], parts[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="results/data/add.h5")
    parser.add_argument("--checkpoint", default="results/train/adamw_add/model.pt")
    parser.add_argument("--fraction", type=float, default=0.5)
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--centres", type=float, nargs="+", default=[0, -0.5, -1, -1.5, -2, -3, -4, -5, -6, -7, -8, -9])
    parser.add_argument("--below", type=float, nargs="*", default=[-4, -6, -8])
    parser.add_argument("--kappa", type=float, default=1e4)
    parser.add_argument("--dt", type=float, default=1e-3)
    parser.add_argument("--friction", type=float, default=5e-3)
    parser.add_argument("--epochs", type=int, default=3000)
    parser.add_argument("--walkers-per-window", type=int, default=2)
    parser.add_argument(
        "--start",
        choices=["init", "trained"],
        default="init",
        help="where the walkers of --centres start: Nanda's init (from above) or the trained network (from below)",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="results/restrained_add")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    split = load_split(args.data, args.fraction)
    system = build_system(TransformerModel(d_model=args.d_model), split, 7.0, 10.0, "cpu")
    settings = RestraintSettings(dt=args.dt, friction=args.friction, constraint="bounds", log_every=100)
    started = time.perf_counter()
    above_windows = RestraintWindows.lattice(args.centres, stiffness=args.kappa)
    start = None
    if args.start == "trained":
        layout = RestrainedSampler(system, RestraintWindows.lattice([0.0], stiffness=1.0), settings).state.layout
        start = trained_params(args.checkpoint, layout).repeat(above_windows.n * args.walkers_per_window, 1)
    above = RestrainedSampler(
        system, above_windows, settings, seed=0, walkers_per_window=args.walkers_per_window, start=start
    )
    print(f"{args.start}: relaxed in {above.relax_steps} steps ({time.perf_counter() - started:.0f} s)", flush=True)
    below = None
    if args.below:
        below_windows = RestraintWindows.lattice(args.below, stiffness=args.kappa)
        n_below = below_windows.n * args.walkers_per_window
        start = trained_params(args.checkpoint, above.state.layout).repeat(n_below, 1)
        below = RestrainedSampler(
            system, below_windows, settings, seed=1, walkers_per_window=args.walkers_per_window, start=start
        )
        print(f"below: relaxed in {below.relax_steps} steps ({time.perf_counter() - started:.0f} s)", flush=True)
    chunk = 250
    for done in range(0, args.epochs, chunk):
        above.run(chunk, progress=False)
        if below is not None:
            below.run(chunk, progress=False)
        # the running estimate, every window counted (the tests are applied once, at the end)
        estimates = [dataclass_ok(e) for e in above.estimates(halves_z_max=np.inf)]
        drop = integrate(estimates, above_windows.shape).point_entropy[-1]
        rate = (done + chunk) * (above.state.n_walkers + (below.state.n_walkers if below else 0))
        print(
            f"epoch {done + chunk}: S(bottom) - S(top) = {drop:.0f} nats; "
            f"{rate / (time.perf_counter() - started):.1f} walker-epochs/s",
            flush=True,
        )

    estimates = above.estimates()
    result = integrate(estimates, above_windows.shape, walkers=above.state.n_walkers, epochs=above.epochs)
    first, second = halves(above)
    summary = {
        "args": vars(args),
        "walker_epochs": above.epochs * (above.state.n_walkers + (below.state.n_walkers if below else 0)),
        "seconds": time.perf_counter() - started,
        "points": result.points[:, 0].tolist(),
        "entropy": result.point_entropy.tolist(),
        "stderr": result.point_stderr.tolist(),
        "flagged": result.flagged,
        "halves": [],
        "both_sides": [],
    }
    for part, name in ((first, "first"), (second, "second")):
        kept = integrate([dataclass_ok(e) for e in part], above_windows.shape)
        summary["halves"].append(
            {
                "half": name,
                "points": kept.points[:, 0].tolist(),
                "entropy": kept.point_entropy.tolist(),
                "stderr": kept.point_stderr.tolist(),
            }
        )
    rows = [dict(e.row(), side="above") for e in above.walker_estimates()]
    if below is not None:
        below_estimates = below.estimates()
        rows += [dict(e.row(), side="below") for e in below.walker_estimates()]
        for b in below_estimates:
            a = estimates[int(np.argmin(np.abs(above_windows.centres[:, 0] - b.centre[0])))]
            z = mean_force.both_sides(a, b)
            summary["both_sides"].append(
                {
                    "centre": float(b.centre[0]),
                    "above_force": float(a.force[0]),
                    "above_se": float(a.force_se[0]),
                    "below_force": float(b.force[0]),
                    "below_se": float(b.force_se[0]),
                    "z": float(z[0]),
                    "above_norm": a.norm_mean,
                    "below_norm": b.norm_mean,
                    "above_mean_x": float(a.mean[0]),
                    "below_mean_x": float(b.mean[0]),
                }
            )
    pd.DataFrame(rows).to_csv(f"{args.out}.csv", index=False)
    with open(f"{args.out}.json", "w") as fh:
        json.dump(summary, fh, indent=1)
    print(json.dumps({k: summary[k] for k in ("walker_epochs", "seconds", "flagged", "both_sides")}, indent=1))
    print("S:", np.round(summary["entropy"], 0).tolist(), "+-", np.round(summary["stderr"], 0).tolist())


def dataclass_ok(estimate):
    """A halves estimate counts whatever its own flags (the halves are what is being compared)."""
    estimate.flags = []
    return estimate


if __name__ == "__main__":
    main()
