"""`python -m grokglass device-check --out DIR`: the GPU path measured in one prepared command.

GPU time comes rarely and in short slots, so everything worth knowing about a device is
measured by this one command, most valuable section first, each stopped or skipped so
that the whole stays within `--budget-s`. It writes DIR/device-check.json (every number)
and DIR/device-check.md (the same as tables). Sections:

1. machine: device name and memory, torch and CUDA versions;
2. wlmd_throughput: walker-epochs/s of the paper-size sampler (p = 67, d_model = 128,
   split 0.5, the default grid) for K walkers, per matmul precision, eager and with the
   whole epoch captured (sampler.CAPTURES: torch.compile, and CUDA graphs on CUDA), the
   noise drawn per walker or per group, with TFLOP/s (bench.wlmd_epoch_flops) and peak
   memory per walker;
3. restrained: walker-epochs/s of K restrained walkers (wlmd.restrained, BAOAB) at the largest
   K (256 at the paper size), with their relaxation into the windows and K/N;
4. compiled_agreement: each capture against eager from the same start (fp32);
5. host_syncs: whether an epoch synchronises with the host (CUDA: sync debug mode "error"),
   eager and captured;
6. precision_agreement: TF32 against fp32 from the same start, as statistics of x, y and
   the kinetic energy (a precision switch is trusted only if these agree);
7. profile: torch.profiler's top kernels of one epoch;
8. adamw: full-batch AdamW steps/s on the paper model and the time for 10,000 steps;
9. segment_cli: one real `python -m grokglass wlmd-segment` call at the paper's settings;
10. protocols: walker-epochs/s of every sampling protocol the sampler offers
   (wlmd.settings.PROTOCOLS; a protocol added there joins this section by itself), and of
   windows with replica exchange (the shares of time spent exchanging and stitching).

With --device cpu every section runs at tiny sizes in well under a minute (CI runs it, so
the command cannot rot). Nothing here needs snakemake, jsonschema or the network.

Long because it is one script of independent sections, each a check run once on a lent
GPU; one file is what the device machine runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from grokglass.data.arithmetic import Task, make_split, write_dataset
from grokglass.errors import first_line
from grokglass.io import atomic_path, describe_device, pick_device, torch_settings
from grokglass.nets.specs import TransformerModel
from grokglass.nets.systems import TransformerSystem
from grokglass.nets.transformer import Transformer, TransformerConfig
from grokglass.pipeline.specs import LandscapeSpec, as_json
from grokglass.tools.bench import wlmd_epoch_flops
from grokglass.train import loop as train
from grokglass.wlmd.grid import EntropyGrid
from grokglass.wlmd.sampler import CAPTURES, init_walkers, run_epochs
from grokglass.wlmd.settings import PROTOCOLS, GridSpec, SamplerSettings
from grokglass.wlmd.windows import WindowedSampler, WindowSettings

# the config's paper grid (wlmd.grid in config.yaml), the sampler's defaults are its settings
PAPER_GRID = GridSpec(lows=(-20.0, -1.0), highs=(5.0, 11.0))


@dataclass(frozen=True)
class Sizes:
    """How big each section's work is: the paper's sizes on a GPU, tiny ones on the CPU."""

    p: int
    d_model: int
    walkers: tuple[int, ...]
    captured_walkers: tuple[int, ...]  # throughput points also run with the epoch captured
    epochs: int  # timed epochs per throughput point (fewer if the budget says so)
    warmup: int
    agreement_epochs: int
    profile_walkers: int
    adamw_steps: int
    segment_walkers: int
    segment_epochs: int
    fraction: float = 0.5


PAPER_SIZES = Sizes(67, TransformerModel.d_model, (1, 8, 64, 256), (64,), 200, 20, 2000, 64, 500, 8, 20_000)
TINY_SIZES = Sizes(11, 16, (1, 4), (4,), 20, 3, 40, 4, 20, 2, 40)
COMPILED_AGREEMENT_EPOCHS = {"cuda": 500, "cpu": 30}
# a capture is timed only with this much budget left: compiling the epoch takes tens of seconds
MIN_SECONDS_TO_COMPILE = {"cuda": 120.0, "cpu": 5.0}


@dataclass
class Check:
    device: torch.device
    sizes: Sizes
    budget_s: float
    started: float = field(default_factory=time.perf_counter)
    results: dict = field(default_factory=dict)

    def remaining(self) -> float:
        return self.budget_s - (time.perf_counter() - self.started)

    def epochs_that_fit(self, walkers: int, wanted: int, budget_share: float) -> int:
        """At most `wanted` epochs of `walkers` walkers in `budget_share` of the budget left, at the
        fp32 rate the throughput section measured (`wanted` if it measured none for them)."""
        rows = self.results.get("wlmd_throughput", {}).get("rows", [])
        rates = [r["walker_epochs_per_s"] for r in rows if r["walkers"] == walkers and r["precision"] == "fp32"]
        if not rates:
            return wanted
        return max(1, min(wanted, int(budget_share * max(self.remaining(), 0.0) * rates[0] / walkers)))

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"


SECTIONS: list[tuple[str, str, Callable[[Check], dict]]] = []


def section(name: str, title: str):
    def register(function):
        SECTIONS.append((name, title, function))
        return function

    return register


# ----- helpers ---------------------------------------------------------------------------
def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_precision(precision: str):
    """fp32 (exact float32 matmuls) or tf32 (TensorFloat-32 on CUDA) for the block."""
    return torch_settings(matmul_precision=precision, device="cuda" if torch.cuda.is_available() else "cpu")


def precisions(check: Check) -> list[str]:
    return ["fp32", "tf32"] if check.cuda else ["fp32"]


def build_sampler(check: Check, walkers: int, **settings):
    """The paper-size (or tiny) system, grid, settings and fresh walkers."""
    s = check.sizes
    split = make_split(Task("add", "x + y", s.p), s.fraction, 0)
    system = TransformerSystem(TransformerConfig(p=s.p, d_model=s.d_model), split, device=check.device)
    grid = EntropyGrid(PAPER_GRID, walkers, check.device)
    sampler = SamplerSettings(log_every=10**9, **settings)
    state = init_walkers(system, list(range(walkers)), 0, sampler, check.device)
    return system, grid, sampler, state


def timed_rate(check: Check, walkers: int, budget_share: float, capture: str = "eager", **options) -> dict:
    """Walker-epochs/s of `walkers` walkers, the timed epochs cut to `budget_share` of the budget left.

    options: sampler settings, and noise_draw for run_epochs.
    """
    noise_draw = options.pop("noise_draw", "auto")
    system, grid, sampler, state = build_sampler(check, walkers, **options)
    if check.cuda:
        torch.cuda.reset_peak_memory_stats(check.device)

    def advance(epochs: int) -> dict:
        result = run_epochs(system, grid, state, sampler, epochs, capture=capture, noise_draw=noise_draw)
        synchronise(check.device)
        return result

    extra = {}
    if capture != "eager":  # compile outside the timing (one epoch), and say whether it fell back to eager
        started = time.perf_counter()
        result = advance(1)
        extra["compile_s"] = round(time.perf_counter() - started, 2)
        if result["capture_error"]:
            extra["fallback"] = result["capture_error"]
    started = time.perf_counter()
    advance(check.sizes.warmup)
    per_epoch = (time.perf_counter() - started) / check.sizes.warmup
    left = budget_share * max(check.remaining(), 0.0)
    epochs = max(1, min(check.sizes.epochs, int(left / max(per_epoch, 1e-9))))
    started = time.perf_counter()
    advance(epochs)
    elapsed = time.perf_counter() - started
    rate = walkers * epochs / elapsed
    flops = wlmd_epoch_flops(system.cfg, system.n_examples)
    row = {"walkers": walkers, "epochs": epochs, "seconds": round(elapsed, 4), "walker_epochs_per_s": rate}
    row["tflops"] = rate * flops / 1e12
    if check.cuda:
        row["peak_mib_per_walker"] = torch.cuda.max_memory_allocated(check.device) / 2**20 / walkers
    return {**row, **extra}


def captures(check: Check) -> list[str]:
    """The captures worth timing here: CUDA graphs only exist on CUDA."""
    return [c for c in CAPTURES if c != "eager" and (check.cuda or c != "graphs")]


# ----- sections ------------------------------------------------------------------------------
@section("machine", "Machine")
def machine(check: Check) -> dict:
    info = {
        "device": describe_device(check.device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": sys.version.split()[0],
        "cpu_threads": torch.get_num_threads(),
    }
    if check.cuda:
        props = torch.cuda.get_device_properties(check.device)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1))
    return {"rows": [info]}


@section("wlmd_throughput", "WLMD walker-epochs/s")
def wlmd_throughput(check: Check) -> dict:
    rows = []
    points = [(k, p, "eager", "auto") for k in check.sizes.walkers for p in precisions(check)]
    points += [
        (k, p, c, "auto") for k in check.sizes.captured_walkers for c in captures(check) for p in precisions(check)
    ]
    points.append((check.sizes.captured_walkers[0], "fp32", "eager", "group" if not check.cuda else "walker"))
    for i, (walkers, precision, capture, noise) in enumerate(points):
        if capture != "eager" and check.remaining() < MIN_SECONDS_TO_COMPILE[check.device.type]:
            rows.append({"precision": precision, "capture": capture, "walkers": walkers, "skipped": "budget"})
            continue
        with matmul_precision(precision):
            # every point gets an equal part of what is left for this section (a third of the budget)
            share = 0.33 / (len(points) - i)
            rate = timed_rate(check, walkers, share, capture=capture, noise_draw=noise)
            rows.append({"precision": precision, "capture": capture, "noise": _noise_name(check, noise), **rate})
    notes = [
        "capture: eager runs op by op; compiled is torch.compile of the whole epoch (one graph, static "
        "shapes); graphs is the same replayed as CUDA graphs (mode reduce-overhead). compile_s is the "
        "first epoch, outside the timing; fallback says why a capture ran eager",
        "noise: one normal draw per walker per epoch (K kernels), or one per group (one kernel)",
    ]
    return {"rows": rows, "notes": notes}


@section("restrained", "Restrained windows: walker-epochs/s at the largest K (BAOAB, fp32)")
def restrained(check: Check) -> dict:
    """K restrained walkers (K = 256 at the paper size) batched in one state, each in its own
    window of x near the init's loss (so the relaxation is short), kappa = 1e4: what a
    restrained landscape's group job would run. Also the K/N reached, and the windows' table
    (mean force and its error) of the timed epochs, as a check the numbers are physical."""
    from grokglass.wlmd.restrained import RestrainedSampler
    from grokglass.wlmd.restraints import RestraintSettings, RestraintWindows

    s = check.sizes
    walkers = max(s.walkers)
    split = make_split(Task("add", "x + y", s.p), s.fraction, 0)
    system = TransformerSystem(TransformerConfig(p=s.p, d_model=s.d_model), split, device=check.device)
    start_x = float(
        system.observables(_batched({k: v.to(check.device) for k, v in system.init_params(0).items()}))[0][0]
    )
    centres = np.linspace(start_x - 0.5, start_x - 0.05, walkers)
    settings = RestraintSettings(dt=1e-3, friction=5e-3, constraint="bounds", relax_steps=200, log_every=10**9)
    started = time.perf_counter()
    sampler = RestrainedSampler(system, RestraintWindows.lattice(centres, stiffness=1e4), settings, device=check.device)
    relax_s = time.perf_counter() - started
    sampler.run(s.warmup, progress=False)
    synchronise(check.device)
    started = time.perf_counter()
    sampler.run(s.warmup, progress=False)
    synchronise(check.device)
    per_epoch = (time.perf_counter() - started) / s.warmup
    epochs = max(1, min(s.epochs, int(0.5 * max(check.remaining(), 0.0) / max(per_epoch, 1e-9))))
    started = time.perf_counter()
    sampler.run(epochs, progress=False)
    synchronise(check.device)
    elapsed = time.perf_counter() - started
    kinetic = sampler.kinetic[-1][1]
    row = {
        "walkers": walkers,
        "epochs": epochs,
        "seconds": round(elapsed, 4),
        "walker_epochs_per_s": walkers * epochs / elapsed,
        "relax_steps": sampler.relax_steps,
        "relax_s": round(relax_s, 2),
        "kinetic_over_kT_half": float(np.mean(kinetic)),
    }
    if check.cuda:
        row["peak_mib_per_walker"] = torch.cuda.max_memory_allocated(check.device) / 2**20 / walkers
    return {"rows": [row], "notes": ["one forward and one vjp per epoch, as a Wang-Landau epoch, without deposits"]}


def _batched(params: dict) -> dict:
    return {name: tensor[None] for name, tensor in params.items()}


def _noise_name(check: Check, noise_draw: str) -> str:
    if noise_draw == "auto":
        return "group" if check.cuda else "walker"
    return noise_draw


@section("compiled_agreement", "Captured epochs against eager (fp32, same start)")
def compiled_agreement(check: Check) -> dict:
    walkers = check.sizes.captured_walkers[0]
    epochs = check.epochs_that_fit(walkers, COMPILED_AGREEMENT_EPOCHS[check.device.type], 0.1)
    rows, notes = [], []
    with matmul_precision("fp32"):
        eager = _final_state(check, walkers, epochs, "eager")
        for capture in captures(check):
            captured = _final_state(check, walkers, epochs, capture)
            row = {"capture": capture, "walkers": walkers, "epochs": epochs}
            for name in ("x", "y", "params"):
                a, b = eager[name].double(), captured[name].double()
                row[f"max_rel_diff_{name}"] = float((a - b).abs().max() / a.abs().max().clamp_min(1e-30))
            rows.append(row)
            if captured["capture_error"]:
                notes.append(f"{capture} failed to compile, both runs were eager: {captured['capture_error']}")
    return {"rows": rows, "notes": notes}


def _final_state(check: Check, walkers: int, epochs: int, capture: str) -> dict:
    system, grid, sampler, state = build_sampler(check, walkers)
    result = run_epochs(system, grid, state, sampler, epochs, capture=capture)
    return {**result, "params": state.params}


@section("host_syncs", "Host synchronisations inside an epoch")
def host_syncs(check: Check) -> dict:
    if not check.cuda:
        return {"rows": [], "notes": ["CUDA only (torch.cuda.set_sync_debug_mode)"]}
    rows = []
    for capture in ["eager", *captures(check)]:
        system, grid, sampler, state = build_sampler(check, 2)
        run_epochs(system, grid, state, sampler, 2, capture=capture)  # caches, index tensors, compiling
        synchronise(check.device)
        torch.cuda.set_sync_debug_mode("error")
        try:
            run_epochs(system, grid, state, sampler, 5, capture=capture)
            verdict = "none in 5 epochs"
        except RuntimeError as err:
            verdict = f"found: {first_line(err)}"
        finally:
            torch.cuda.set_sync_debug_mode("default")
        rows.append({"capture": capture, "host_syncs": verdict})
    return {"rows": rows}


def trajectory_statistics(check: Check, precision: str, walkers: int, epochs: int) -> dict:
    with matmul_precision(precision):
        system, grid, sampler, state = build_sampler(check, walkers)
        run_epochs(system, grid, state, sampler, epochs)
        x, y = system.observables(state.layout.views(state.params))
        kinetic = 0.5 * state.velocity.double().pow(2).sum(dim=1) / state.layout.numel
        records = {"x": x.double(), "y": y.double(), "kinetic_per_param": kinetic}
    row = {"precision": precision, "walkers": walkers, "epochs": epochs}
    for name, values in records.items():
        row[f"{name}_mean"] = float(values.mean())
        row[f"{name}_std"] = float(values.std()) if walkers > 1 else 0.0
    return row


@section("precision_agreement", "TF32 against fp32 (same start, statistics over the walkers)")
def precision_agreement(check: Check) -> dict:
    walkers = check.sizes.walkers[1] if len(check.sizes.walkers) > 1 else 1
    epochs = check.epochs_that_fit(walkers, check.sizes.agreement_epochs, 0.25 / len(precisions(check)))
    rows = [trajectory_statistics(check, p, walkers, epochs) for p in precisions(check)]
    notes = [] if check.cuda else ["TF32 exists on CUDA only: fp32 alone, as the reference"]
    return {"rows": rows, "notes": notes}


@section("profile", "Profile of one epoch (top 10 by self time)")
def profile(check: Check) -> dict:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    system, grid, sampler, state = build_sampler(check, check.sizes.profile_walkers)
    run_epochs(system, grid, state, sampler, 2)
    synchronise(check.device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if check.cuda else [])
    with torch_profile(activities=activities) as prof:
        run_epochs(system, grid, state, sampler, 1)
        synchronise(check.device)
    sort_by = "self_cuda_time_total" if check.cuda else "self_cpu_time_total"
    table = prof.key_averages().table(sort_by=sort_by, row_limit=10)
    return {"rows": [], "text": table, "notes": [f"{check.sizes.profile_walkers} walkers, sorted by {sort_by}"]}


@section("adamw", "AdamW on the paper model (full batch)")
def adamw(check: Check) -> dict:
    s = check.sizes
    split = make_split(Task("add", "x + y", s.p), s.fraction, 0).to(check.device)
    model = Transformer(TransformerConfig(p=s.p, d_model=s.d_model), seed=0).to(check.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1.0, betas=(0.9, 0.98))
    quiet = dict(log_loss_closure=False, log_every=10**9, log=lambda line: None)
    train.train_model(model, optimizer, split, 5, **quiet)
    synchronise(check.device)
    started = time.perf_counter()
    train.train_model(model, optimizer, split, s.adamw_steps, **quiet)
    synchronise(check.device)
    rate = s.adamw_steps / (time.perf_counter() - started)
    return {"rows": [{"steps": s.adamw_steps, "steps_per_s": rate, "seconds_for_10000_steps": 10_000 / rate}]}


@section("segment_cli", "One real wlmd-segment call (the paper's sampler settings)")
def segment_cli(check: Check) -> dict:
    s = check.sizes
    # half of what is left, less the subprocess's start-up (imports, dataset, system)
    epochs = check.epochs_that_fit(s.segment_walkers, s.segment_epochs, 0.4)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "add.h5"
        write_dataset(data, Task("add", "x + y", s.p), split_seed=0)
        spec = LandscapeSpec(
            name="device_check",
            task="add",
            fraction=s.fraction,
            model=TransformerModel(d_model=s.d_model),
            walkers=s.segment_walkers,
            walkers_per_job=s.segment_walkers,
            epochs_per_segment=epochs,
            seed=0,
            sampler=SamplerSettings(log_every=max(1, epochs // 10)),
            grid=PAPER_GRID,
            segments=1,
            data=str(data),
        )
        command = [sys.executable, "-m", "grokglass", "wlmd-segment", "--spec-json", as_json(spec), "--segment", "0"]
        command += ["--group", "0", "--out-state", f"{tmp}/g.pt", "--out-entropy", f"{tmp}/g.h5"]
        command += ["--device", str(check.device)]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [_package_root(), os.environ.get("PYTHONPATH")])),
        }
        timeout = max(check.remaining() * 0.8, 10.0)
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
            lines = (result.stdout + result.stderr).strip().splitlines()
            row = {"walkers": s.segment_walkers, "epochs": epochs, "returncode": result.returncode}
        except subprocess.TimeoutExpired as err:
            lines = (err.stdout or b"").decode(errors="replace").strip().splitlines()
            row = {"walkers": s.segment_walkers, "epochs": epochs, "returncode": f"timeout {timeout:.0f} s"}
    done = [line for line in lines if " done in " in line]
    if done:
        row["rate"] = done[-1].split("(")[1].split(")")[0]
    return {"rows": [row], "text": "\n".join(lines[-8:])}


@section("protocols", "Sampling protocols (walker-epochs/s at the middle walker count)")
def protocols(check: Check) -> dict:
    walkers = check.sizes.walkers[len(check.sizes.walkers) // 2]
    rows = []
    for i, (name, (settings, description)) in enumerate(PROTOCOLS.items()):
        share = 0.5 / (len(PROTOCOLS) - i)
        rows.append({"protocol": name, "about": description, **timed_rate(check, walkers, share, **settings)})
    rows.append(windows_rate(check, walkers))
    return {"rows": rows}


# windows for the protocols section: two over the sampled part of this grid (x below 0)
WINDOWS_GRID = GridSpec(lows=(-6.0, -1.0), highs=(5.0, 11.0), bin_width=0.1, gaussian_sigma_bins=3.0)


def windows_rate(check: Check, walkers: int) -> dict:
    """Walker-epochs/s of two windows of walkers/2 walkers (at least 1) with exchange attempts
    every 10 epochs, and the shares of the time spent exchanging and stitching; steering the
    fresh walkers into their windows is timed apart (it is done once per landscape)."""
    s = check.sizes
    per_window = max(1, walkers // 2)
    split = make_split(Task("add", "x + y", s.p), s.fraction, 0)
    system = TransformerSystem(TransformerConfig(p=s.p, d_model=s.d_model), split, device=check.device)
    sampler = SamplerSettings(log_every=10**9, share="sum")
    windows = WindowSettings(n=2, overlap=0.5, walkers_per_window=per_window, exchange_every=10)
    windowed = WindowedSampler(system, WINDOWS_GRID, sampler, windows, seed=0, device=check.device)
    windowed.advance(s.warmup)
    epochs = check.epochs_that_fit(walkers, s.epochs, 0.5)
    before = dict(windowed.seconds)
    windowed.advance(max(10, epochs))
    unmet = []
    windowed.result(warn=unmet.append)  # timed; windows that have not met yet are left out, not an error
    spent = {key: windowed.seconds[key] - before[key] for key in ("epochs", "exchange", "stitch")}
    total = sum(spent.values())
    return {
        "protocol": "windows",
        "about": "2 windows, deposits summed in each, exchanges every 10 epochs, stitched",
        "walkers": 2 * per_window,
        "epochs": max(10, epochs),
        "walker_epochs_per_s": 2 * per_window * max(10, epochs) / total,
        "exchange_share": spent["exchange"] / total,
        "stitch_share": spent["stitch"] / total,
        "steer_s": round(windowed.seconds["steer"], 2),
        "exchanges": windowed.exchanges,
        "stitched": "all windows" if not unmet else f"not yet: {unmet[0]}",
    }


def _package_root() -> str:
    return str(Path(__file__).resolve().parents[1])


# ----- running and reporting -----------------------------------------------------------------
# a section is started only with this much of the budget left (seconds, per device kind)
MIN_SECONDS_TO_START = {"cuda": 20.0, "cpu": 1.0}


def run_check(device: str = "auto", budget_s: float = 420.0, log: Callable[[str], None] = print) -> dict:
    device = pick_device(device, log=log)
    check = Check(device, PAPER_SIZES if device.type == "cuda" else TINY_SIZES, budget_s)
    report = {"budget_s": budget_s, "sizes": asdict(check.sizes), "sections": {}}
    for name, title, function in SECTIONS:
        if check.remaining() < MIN_SECONDS_TO_START[device.type]:
            report["sections"][name] = {"title": title, "skipped": "budget spent"}
            log(f"device-check: {name} skipped (budget spent)")
            continue
        started = time.perf_counter()
        try:
            result = function(check)
        except Exception as err:  # a failing section is reported, the others still run
            result = {"rows": [], "error": f"{type(err).__name__}: {err}"}
        result.update(title=title, seconds=round(time.perf_counter() - started, 2))
        report["sections"][name] = check.results[name] = result
        log(
            f"device-check: {name} done in {result['seconds']} s"
            + (f" ({result['error']})" if "error" in result else "")
        )
    report["seconds"] = round(time.perf_counter() - check.started, 2)
    return report


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def to_markdown(report: dict) -> str:
    lines = [f"# device-check ({report['seconds']} s of a {report['budget_s']:g} s budget)", ""]
    for name, result in report["sections"].items():
        lines += [f"## {result['title']} (`{name}`)", ""]
        if "skipped" in result:
            lines += [f"skipped: {result['skipped']}", ""]
            continue
        if "error" in result:
            lines += [f"**error**: {result['error']}", ""]
        rows = result.get("rows", [])
        if rows:
            columns = list(dict.fromkeys(key for row in rows for key in row))
            lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
            lines += ["| " + " | ".join(_format(row.get(c, "")) for c in columns) + " |" for row in rows]
            lines.append("")
        if result.get("text"):
            lines += ["```", result["text"], "```", ""]
        lines += [f"- {note}" for note in result.get("notes", [])]
        lines += [f"- {result['seconds']} s", ""]
    return "\n".join(lines)


def write_report(report: dict, out: str | Path) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "device-check.json") as tmp:
        tmp.write_text(json.dumps(report, indent=1, default=str))
    with atomic_path(out / "device-check.md") as tmp:
        tmp.write_text(to_markdown(report))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `python -m grokglass device-check`."""
    parser.add_argument("--out", required=True, help="folder for device-check.md and device-check.json")
    parser.add_argument("--budget-s", type=float, default=420.0, help="wall-clock budget in seconds (default 420)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:n] (cpu: tiny sizes)")


def run(args: argparse.Namespace) -> int:
    report = run_check(args.device, args.budget_s, log=lambda line: print(line, flush=True))
    write_report(report, args.out)
    print(f"device-check: wrote {args.out}/device-check.md and device-check.json", flush=True)
    return 1 if any("error" in r for r in report["sections"].values()) else 0
