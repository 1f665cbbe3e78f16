"""Throughput benchmarks: `python -m grokglass bench wlmd --walkers K [...]`.

The WLMD benchmark builds the real system (task x + y mod p, the Nanda
transformer, the spec's default grid and sampler settings), warms up, then
times run_epochs with the device synchronised before and after, and prints
walker-epochs/s and the achieved TFLOP/s.

FLOP count (multiply-add = 2 FLOPs) of one walker's forward through
model.transformer_logits, with d = d_model, V = p + 1, m = d_mlp, n = the
examples of one forward (train and test together, each padded to a multiple
of 64 by TransformerSystem: 4608 instead of 4489 at p = 67):

    tables (once per forward):  K and V tables 2 * (3 V d^2 * 2), Q table V d^2 * 2
                                = 14 V d^2
    per example (last position only):
        scores and mix          2 * (3 d * 2)         = 12 d
        W_O                     d^2 * 2
        MLP                     2 * (d m * 2)         = 4 d m
        unembed                 d V * 2
                                = 12 d + 2 d^2 + 4 d m + 2 d V
    forward = 14 V d^2 + n (12 d + 2 d^2 + 4 d m + 2 d V)

The backward pass costs about twice the forward (a gradient w.r.t. both the
input and the weight of every matmul), so one walker-epoch is ~3 x forward.
Softmaxes, the loss, the optimizer-free update and the entropy-grid work are
not counted (they are O(n V) and O(patch) and small at d = 128).
"""

from __future__ import annotations

import argparse
import time

import torch

from grokglass.data.arithmetic import Task, make_split
from grokglass.errors import InputError
from grokglass.io import pick_device, torch_settings
from grokglass.nets.specs import TransformerModel
from grokglass.nets.systems import TransformerSystem
from grokglass.nets.transformer import TransformerConfig
from grokglass.wlmd.grid import EntropyGrid, GridSpec
from grokglass.wlmd.sampler import CAPTURES, SamplerSettings, init_walkers, run_epochs


def transformer_forward_flops(cfg: TransformerConfig, n_examples: int) -> float:
    """FLOPs of one network's forward through transformer_logits (module docstring)."""
    d, v, m = cfg.d_model, cfg.vocab, cfg.mlp_width
    tables = 14 * v * d * d
    per_example = 12 * d + 2 * d * d + 4 * d * m + 2 * d * v
    return float(tables + n_examples * per_example)


def wlmd_epoch_flops(cfg: TransformerConfig, n_examples: int) -> float:
    """FLOPs of one walker-epoch: forward + backward ~ 3 x forward."""
    return 3.0 * transformer_forward_flops(cfg, n_examples)


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_wlmd(
    walkers: int,
    epochs: int = 200,
    warmup: int = 20,
    p: int = 67,
    d_model: int = TransformerModel.d_model,
    fraction: float = 0.5,
    device: str = "auto",
    tf32: bool = False,
    constraint: str = "bounds",
    log=print,
    capture: str = "eager",
) -> dict:
    """Time run_epochs for `walkers` batched walkers; returns the measured rates."""
    device = pick_device(device, log=log)
    cfg = TransformerConfig(p=p, d_model=d_model)
    system = TransformerSystem(cfg, make_split(Task("add", "x + y", p), fraction, 0), device=device)
    # the spec's default grid (cropped, [D] 5.2) and sampler: the same work per epoch as a real run
    grid = EntropyGrid(GridSpec(lows=(-30.0, -1.0), highs=(5.0, 11.0)), walkers, device)
    settings = SamplerSettings(constraint=constraint, log_every=10**9)
    state = init_walkers(system, list(range(walkers)), 0, settings, device)
    with torch_settings(matmul_precision="tf32" if tf32 else "fp32", device=device, log=log):
        run_epochs(system, grid, state, settings, max(warmup, 1), capture=capture)  # compiles here, if asked
        _synchronise(device)
        started = time.perf_counter()
        ran = run_epochs(system, grid, state, settings, epochs, capture=capture)["capture"]
        _synchronise(device)
        elapsed = time.perf_counter() - started
    n_examples = system.n_examples
    rate = walkers * epochs / elapsed
    result = {
        "device": str(device),
        "walkers": walkers,
        "epochs": epochs,
        "p": p,
        "d_model": d_model,
        "params_per_walker": state.layout.numel,
        "tf32": tf32,
        "capture": ran,
        "seconds": elapsed,
        "epochs_per_s": epochs / elapsed,
        "walker_epochs_per_s": rate,
        "gflop_per_walker_epoch": wlmd_epoch_flops(cfg, n_examples) / 1e9,
        "tflops": rate * wlmd_epoch_flops(cfg, n_examples) / 1e12,
    }
    log(
        f"bench wlmd: {walkers} walkers x {epochs} epochs on {device} (p={p}, d_model={d_model}, "
        f"{state.layout.numel} params, tf32={tf32}, {ran}): {elapsed:.2f} s, {result['epochs_per_s']:.1f} epochs/s, "
        f"{rate:.1f} walker-epochs/s, {result['gflop_per_walker_epoch']:.3f} GFLOP/walker-epoch, "
        f"{result['tflops']:.3f} TFLOP/s"
    )
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `python -m grokglass bench`."""
    parser.add_argument(
        "what", choices=["wlmd", "convergence"], help="the sampler's speed, or a protocol's convergence"
    )
    parser.add_argument("--walkers", type=int, default=8, help="batched walkers (default 8)")
    parser.add_argument("--epochs", type=int, default=200, help="timed epochs (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed warm-up epochs (default 20)")
    parser.add_argument("--p", type=int, default=67)
    parser.add_argument("--d-model", type=int, default=TransformerModel.d_model)
    parser.add_argument("--fraction", type=float, default=0.5)
    parser.add_argument("--constraint", choices=["bounds", "shell", "none"], default="bounds")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:n]")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 matmuls on CUDA")
    parser.add_argument("--capture", choices=CAPTURES, default="eager", help="how an epoch runs (default eager)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--dt", type=float, default=3e-3, help="bench convergence: the step (default 3e-3)")
    from grokglass.tools import convergence_bench

    convergence_bench.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.walkers < 1 or args.epochs < 1:
        raise InputError("bench: --walkers and --epochs must be >= 1")
    if args.what == "convergence":
        from grokglass.tools import convergence_bench

        return convergence_bench.run(args)
    with torch_settings(threads=args.threads):
        return _bench_command(args)


def _bench_command(args: argparse.Namespace) -> int:
    bench_wlmd(
        args.walkers,
        epochs=args.epochs,
        warmup=args.warmup,
        p=args.p,
        d_model=args.d_model,
        fraction=args.fraction,
        device=args.device,
        tf32=args.tf32,
        constraint=args.constraint,
        log=lambda line: print(line, flush=True),
        capture=args.capture,
    )
    return 0
