"""One run of the issue-16 delay search on the Ising classifier (docs/validation.md 7.4).

A thin driver over the package: grokglass.data.ising.generate_ising_dataset (the spec 10.2 dataset
with the given lattice size, samples per temperature, pool size and label margin; cached under
--out) and grokglass.train.loop.run_training (the AdamW run of a DenseModel, as the workflow's `train`
rule runs it). It prints t_train99, t_test80, t_test90, the best test accuracy and its epoch, and
appends them to <out>/results.jsonl. One CPU thread, as in the search:

    python docs/experiments/ising_search.py --tag L8_2k --L 8 --label-margin 0.125 \
        --samples-per-temperature 800 --pool-size 5000 --fraction 0.4 --steps 3000
"""

import argparse
import json
import time
from pathlib import Path

import torch

from grokglass.analysis.milestones import delays
from grokglass.data import ising
from grokglass.io import read_metrics
from grokglass.nets.specs import DenseModel
from grokglass.pipeline.specs import RunSpec
from grokglass.train.loop import run_training


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", required=True, help="run name (metrics in <out>/<tag>.h5)")
    parser.add_argument("--out", default="results/ising_search")
    parser.add_argument("--L", type=int, default=16)
    parser.add_argument("--label-margin", type=float, default=0.0)
    parser.add_argument("--samples-per-temperature", type=int, default=400)
    parser.add_argument("--pool-size", type=int, default=5000)
    parser.add_argument("--fraction", type=float, default=0.2, help="train share of the pool")
    parser.add_argument("--hidden", default="128,128,64")
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--init-scale", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--inverse-temperature", type=float, default=1.0)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def dataset(args: argparse.Namespace, out: Path) -> Path:
    path = out / f"data_L{args.L}_m{args.label_margin}_s{args.samples_per_temperature}_p{args.pool_size}.h5"
    if not path.exists():
        ising.generate_ising_dataset(
            path,
            L=args.L,
            samples_per_temperature=args.samples_per_temperature,
            pool_size=args.pool_size,
            label_margin=args.label_margin,
            log=lambda s: None,
        )
    return path


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = DenseModel(
        hidden=tuple(int(h) for h in args.hidden.split(",")),
        dropout=args.dropout,
        inverse_temperature=args.inverse_temperature,
        init_scale=args.init_scale,
    )
    run = RunSpec(
        name=args.tag,
        task="ising",
        fraction=args.fraction,
        optimizer="adamw",
        lr=args.lr,
        weight_decay=args.weight_decay,
        model=model,
        steps=args.steps,
        seed=args.seed,
        log_every=max(1, args.steps // 10),
        slope=7.0,
    )
    started = time.perf_counter()
    metrics = out / f"{args.tag}.h5"
    run_training(run.to_dict(), dataset(args, out), metrics, device="cpu", log=lambda s: print(s, flush=True))
    result = {"tag": args.tag, **vars(args), **delays(read_metrics(metrics))}
    result["seconds"] = round(time.perf_counter() - started)
    print("RESULT", json.dumps(result), flush=True)
    with open(out / "results.jsonl", "a") as log:
        log.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
