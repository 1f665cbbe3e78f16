"""Kozyrev's two predictions about grokking times ("How to explain grokking", spec 9).

Prediction 1 (square law): memorisation is drift (path ~ t), grokking is diffusion on
the zero-risk manifold (path ~ sqrt t), so t_grok ~ t_mem^2: the slope of log t_grok
against log t_mem is 2.
Prediction 2 (Eyring): every added training example removes a fixed fraction of the
zero-risk volume, so ln t_grok (and ln of the delay tau = t_grok - t_mem) falls
linearly in n_train (exponential law); the alternative is a power law, linear in
ln n_train. The two are compared by R^2 and AIC.

Censored runs (never reaching the threshold) are dropped from the fits and counted.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from grokglass.analysis.milestones import summarize
from grokglass.io import atomic_path, write_json


def linear_fit(x: np.ndarray, y: np.ndarray) -> dict:
    """Ordinary least squares y = a + b x with R^2 and the Gaussian AIC (k = 3: a, b, sigma)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = len(x)
    if n < 3 or np.ptp(x) == 0:
        return {"n": n, "slope": math.nan, "intercept": math.nan, "r2": math.nan, "aic": math.nan}
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (intercept + slope * x)
    rss = float((residual**2).sum())
    tss = float(((y - y.mean()) ** 2).sum())
    aic = n * math.log(max(rss, 1e-300) / n) + 2 * 3
    return {
        "n": n,
        "slope": float(slope),
        "intercept": float(intercept),
        "r2": 1.0 - rss / tss if tss > 0 else math.nan,
        "aic": aic,
    }


def bootstrap_slope(
    x: np.ndarray, y: np.ndarray, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the OLS slope, resampling runs with replacement."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    slopes = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(x), len(x))
        if np.ptp(x[idx]) > 0:
            slopes.append(np.polyfit(x[idx], y[idx], 1)[0])
    lo, hi = np.quantile(slopes, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def square_law(table: pd.DataFrame, grok_column: str = "t_grok") -> dict:
    """Prediction 1: slope of log t_grok vs log t_mem (predicted 2), with a bootstrap CI."""
    ok = table.dropna(subset=["t_mem", grok_column])
    ok = ok[(ok["t_mem"] > 0) & (ok[grok_column] > 0)]
    x, y = np.log(ok["t_mem"].astype(float)), np.log(ok[grok_column].astype(float))
    fit = linear_fit(x, y)
    fit["ci_low"], fit["ci_high"] = bootstrap_slope(x, y)
    fit["predicted_slope"] = 2.0
    fit["median_log_ratio"] = float(np.median(y / x)) if len(x) else math.nan
    fit["censored"] = int(len(table) - len(ok))
    return fit


def size_laws(table: pd.DataFrame, column: str) -> dict:
    """Prediction 2: ln(column) vs n_train (exponential) against ln(column) vs ln n_train (power)."""
    ok = table.dropna(subset=[column])
    ok = ok[ok[column] > 0]
    n = ok["n_train"].astype(float).to_numpy()
    y = np.log(ok[column].astype(float).to_numpy())
    exponential, power = linear_fit(n, y), linear_fit(np.log(n), y)
    preferred = "exponential" if exponential["aic"] < power["aic"] else "power"
    if math.isnan(exponential["aic"]) or math.isnan(power["aic"]):
        preferred = "undetermined"
    return {
        "exponential": exponential,
        "power": power,
        "preferred": preferred,
        "delta_aic_power_minus_exponential": power["aic"] - exponential["aic"],
        "censored": int(len(table) - len(ok)),
        "prediction_holds": preferred == "exponential" and exponential["slope"] < 0,
    }


def analyze(table: pd.DataFrame) -> dict:
    """All fits, per optimizer and pooled."""
    table = table.copy()
    table["tau"] = table["t_grok"] - table["t_mem"]
    groups = {"all": table, **{f"optimizer={k}": g for k, g in table.groupby("optimizer")}}
    fits = {}
    for name, group in groups.items():
        fits[name] = {
            "runs": int(len(group)),
            "square_law": square_law(group),
            "square_law_test95": square_law(group, "t_test95"),
            "size_law_t_grok": size_laws(group, "t_grok"),
            "size_law_tau": size_laws(group, "tau"),
        }
    return fits


def run_table(metrics_paths: list[str | Path]) -> pd.DataFrame:
    table = summarize(metrics_paths)
    table["tau"] = table["t_grok"] - table["t_mem"]
    return table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("metrics", nargs="+", help="metrics.h5 files of the Kozyrev runs")
    parser.add_argument("--table", required=True, help="output CSV: one row per run with t_mem, t_grok, ...")
    parser.add_argument("--fits", required=True, help="output JSON with the fits")


def run(args: argparse.Namespace) -> int:
    table = run_table(args.metrics)
    with atomic_path(args.table) as tmp:
        table.to_csv(tmp, index=False)
    fits = analyze(table)
    write_json(args.fits, fits)
    pooled = fits["all"]
    print(
        f"square law: slope {pooled['square_law']['slope']:.3f} "
        f"[{pooled['square_law']['ci_low']:.3f}, {pooled['square_law']['ci_high']:.3f}] (predicted 2), "
        f"{pooled['square_law']['n']} runs, {pooled['square_law']['censored']} censored"
    )
    print(
        f"size law (t_grok): preferred {pooled['size_law_t_grok']['preferred']}, "
        f"dAIC(power - exp) {pooled['size_law_t_grok']['delta_aic_power_minus_exponential']:.2f}"
    )
    print(json.dumps(pooled, indent=1, default=str)[:2000])
    return 0
