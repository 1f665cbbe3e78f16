"""Milestones of training runs: when memorisation and generalisation happen.

t_mem = first logged step with train accuracy >= 0.99, t_grok = first step with
test accuracy >= 0.99 (also >= 0.5 and >= 0.95). A run that never reaches a
threshold is censored: its milestone is None and `censored_at` is the last step.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from grokglass.io import read_metrics

TEST_LEVELS = (0.8, 0.9, 0.99)  # test accuracies whose first epoch `delays` reports


def first_step(steps: np.ndarray, values: np.ndarray, threshold: float) -> int | None:
    hits = np.flatnonzero(values >= threshold)
    return int(steps[hits[0]]) if hits.size else None


def milestones(frame: pd.DataFrame) -> dict:
    steps = frame["step"].to_numpy()
    train, test = frame["train_acc"].to_numpy(), frame["test_acc"].to_numpy()
    return {
        "t_mem": first_step(steps, train, 0.99),
        "t_test50": first_step(steps, test, 0.5),
        "t_test95": first_step(steps, test, 0.95),
        "t_grok": first_step(steps, test, 0.99),
        "final_test_acc": float(test[-1]),
        "max_test_acc": float(test.max()),
        "final_weight_norm": float(frame["weight_norm"].iloc[-1]),
        "final_ln_train_loss": float(frame["ln_train_loss"].iloc[-1]),
        "censored_at": int(steps[-1]),
    }


def _difference(later: int | None, earlier: int | None) -> int | None:
    return None if later is None or earlier is None else later - earlier


def delays(frame: pd.DataFrame) -> dict:
    """The grokking milestones of one run's metrics: epochs, delays and the best test accuracy.

    Beside `milestones` (the expression tasks' columns) because the Ising runs need lower test
    levels: their test accuracy rarely reaches 0.99 (docs/validation.md 7.4).
    """
    steps, test = frame["step"].to_numpy(), frame["test_acc"].to_numpy()
    t_train99 = first_step(steps, frame["train_acc"].to_numpy(), 0.99)
    t_test = {f"t_test{round(100 * v)}": first_step(steps, test, v) for v in TEST_LEVELS}
    best = int(np.argmax(test))
    return {
        "t_train99": t_train99,
        **t_test,
        **{key.replace("t_test", "delay"): _difference(t, t_train99) for key, t in t_test.items()},
        "best_test": float(test[best]),
        "best_test_step": int(steps[best]),
        "final_test": float(test[-1]),
    }


def summarize(paths: list[str | Path]) -> pd.DataFrame:
    rows = []
    for path in paths:
        frame = read_metrics(path)
        run = json.loads(frame.attrs.get("run", "{}"))
        rows.append(
            {
                "run": run.get("name", Path(path).parent.name),
                "task": run.get("task"),
                "optimizer": run.get("optimizer"),
                "fraction": run.get("fraction"),
                "d_model": run.get("model", {}).get("d_model"),
                "lr": run.get("lr"),
                "weight_decay": run.get("weight_decay"),
                "seed": run.get("seed"),
                "n_train": frame.attrs.get("n_train"),
                "device": frame.attrs.get("device"),
                **milestones(frame),
            }
        )
    return pd.DataFrame(rows)


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "never"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) >= 1 else f"{value:.3g}"
    return str(value)


def markdown_table(table: pd.DataFrame) -> str:
    columns = [
        "run",
        "task",
        "optimizer",
        "fraction",
        "d_model",
        "lr",
        "weight_decay",
        "t_mem",
        "t_test50",
        "t_grok",
        "final_test_acc",
        "final_weight_norm",
        "device",
    ]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for _, row in table.iterrows():
        lines.append("| " + " | ".join(_fmt(row[c]) for c in columns) + " |")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("metrics", nargs="+", help="metrics.h5 files of training runs")
    parser.add_argument("--csv", help="also write the table as CSV here")


def run(args: argparse.Namespace) -> int:
    table = summarize(args.metrics)
    print(markdown_table(table))
    if args.csv:
        table.to_csv(args.csv, index=False)
    return 0
