"""The figures of the experiment, as FigureSpecs: which runs and landscapes each draws and the
keyword arguments of its function in grokglass.figures (tests/test_config.py binds them to the
functions' signatures, so a mismatch fails there rather than in a job).
"""

from __future__ import annotations

from grokglass import paths
from grokglass.data.specs import IsingDataset
from grokglass.pipeline.config import expression_tasks
from grokglass.pipeline.landscapes import (
    grokking_landscape_name,
    paper_landscape_name,
    shell_landscape_name,
)
from grokglass.pipeline.runs import (
    ISING_SWEEP_KEYS,
    baseline_run_name,
    fixed_norm_run_name,
    ising_landscape_name,
    ising_run,
    ising_sweep_runs,
    kozyrev_runs,
    sweep_run_name,
    wand_run_name,
)
from grokglass.pipeline.specs import (
    FigureSpec,
    LandscapeSpec,
    RunSpec,
    SnapshotSpec,
)

PAPER_FIGURES = ("fig1", "fig2", "fig3", "fig4", "fig5", "fig6", "fig7", "fig8")
# figures whose landscapes go into landscape_summary.csv, each compared with its runs
SUMMARY_FIGURES = ("fig1", "fig2", "ising_landscape")


def kozyrev_spec(config: dict) -> FigureSpec | None:
    runs = kozyrev_runs(config)
    if not runs:
        return None
    metrics = [run.metrics_path for run in runs]
    return FigureSpec(
        name=paths.KOZYREV_FIGURE,
        function="kozyrev",
        inputs=metrics,
        kwargs={"metrics_paths": metrics, "out_prefix": paths.FIGURE_PREFIX.format(figure=paths.KOZYREV_FIGURE)},
    )


# ----- figures -----------------------------------------------------------------------------------
def _letter(i: int) -> str:
    return f"({chr(97 + i)})"


def _landscape_figure(name: str, function: str, landscapes: list[LandscapeSpec], runs: list[RunSpec], titles):
    landscape_paths = [spec.landscape_path for spec in landscapes]
    metrics_paths = [run.metrics_path for run in runs]
    return FigureSpec(
        name=name,
        function=function,
        inputs=landscape_paths + metrics_paths,
        kwargs={
            "landscape_paths": landscape_paths,
            "metrics_paths": metrics_paths,
            "titles": list(titles),
            "out_prefix": paths.FIGURE_PREFIX.format(figure=name),
        },
    )


def _curves_figure(name: str, function: str, runs: list[RunSpec], titles) -> FigureSpec:
    metrics_paths = [run.metrics_path for run in runs]
    return FigureSpec(
        name=name,
        function=function,
        inputs=metrics_paths,
        kwargs={
            "metrics_paths": metrics_paths,
            "titles": list(titles),
            "out_prefix": paths.FIGURE_PREFIX.format(figure=name),
        },
    )


def figure_specs(config: dict, runs: dict, landscapes: dict, snapshots: SnapshotSpec | None) -> dict:
    """Figures 1-8 (and any extra split sweep), then the Ising figures."""
    expressions = expression_tasks(config)
    tasks = list(expressions)
    p = config["p"]
    shell_widths = config["wlmd"]["shell"]["widths"]
    norm_widths = config["fixed_norm"]["widths"]
    shell_norm = config["wlmd"]["sampler"]["shell_norm"]
    baselines = [runs[baseline_run_name(t)] for t in tasks]
    fixed = [runs[fixed_norm_run_name(w)] for w in norm_widths]
    wand_task = config["wand"]["task"]
    figures = [
        _landscape_figure(
            "fig1",
            "fig1",
            [landscapes[grokking_landscape_name(t)] for t in tasks],
            baselines,
            [f"{_letter(i)} {expressions[t]} mod {p}" for i, t in enumerate(tasks)],
        ),
        _landscape_figure(
            "fig2",
            "fig2",
            [landscapes[shell_landscape_name(w)] for w in shell_widths],
            fixed,
            [f"{_letter(i)} width {w}, |θ| = {shell_norm:g}" for i, w in enumerate(shell_widths)],
        ),
        fig3_spec(runs[wand_run_name(config)], runs[baseline_run_name(wand_task)]),
        fig4_spec(config, tasks, [f"{_letter(i)} {expressions[t]} mod {p}" for i, t in enumerate(tasks)]),
        _curves_figure("fig5", "fig5", baselines, [f"{_letter(i)} {expressions[t]}" for i, t in enumerate(tasks)]),
        _curves_figure("fig6", "fig6", fixed, [f"{_letter(i)} width {w}" for i, w in enumerate(norm_widths)]),
    ]
    figures += [sweep_figure(config, name, runs) for name in config["sweeps"]]
    figures += ising_figures(config, runs, landscapes, snapshots)
    crosscheck = config["wlmd"].get("crosscheck")
    if crosscheck:
        task = crosscheck["task"]
        figures.append(
            crosscheck_spec(landscapes[grokking_landscape_name(task)], landscapes[paper_landscape_name(task)])
        )
    return {figure.name: figure for figure in figures}


def crosscheck_figure_name(task: str) -> str:
    return f"crosscheck_{task}"


def crosscheck_spec(fast: LandscapeSpec, paper: LandscapeSpec) -> FigureSpec:
    """The windowed map against the paper protocol's, with each one's last merge but one (the
    segment-to-segment noise over the bins both cover; none for a one-segment landscape)."""
    previous = [
        paths.MERGED.format(landscape=spec.name, seg=spec.segments - 2) if spec.segments >= 2 else None
        for spec in (fast, paper)
    ]
    name = crosscheck_figure_name(fast.task)
    return FigureSpec(
        name=name,
        function="crosscheck",
        inputs=[fast.landscape_path, paper.landscape_path, *[path for path in previous if path]],
        kwargs={
            "fast_path": fast.landscape_path,
            "paper_path": paper.landscape_path,
            "fast_previous": previous[0],
            "paper_previous": previous[1],
            "out_prefix": paths.FIGURE_PREFIX.format(figure=name),
        },
    )


def fig3_spec(wand: RunSpec, adamw: RunSpec) -> FigureSpec:
    return FigureSpec(
        name="fig3",
        function="fig3",
        inputs=[wand.metrics_path, adamw.metrics_path],
        kwargs={
            "wand_metrics": wand.metrics_path,
            "adamw_metrics": adamw.metrics_path,
            "out_prefix": paths.FIGURE_PREFIX.format(figure="fig3"),
        },
    )


def fig4_spec(config: dict, tasks: list[str], titles: list[str]) -> FigureSpec:
    dataset_paths = [paths.DATASET.format(task=t) for t in tasks]
    return FigureSpec(
        name="fig4",
        function="fig4",
        inputs=dataset_paths,
        kwargs={
            "dataset_paths": dataset_paths,
            "titles": titles,
            "fraction": config["baseline"]["fraction"],
            "out_prefix": paths.FIGURE_PREFIX.format(figure="fig4"),
        },
    )


def sweep_figure(config: dict, name: str, runs: dict) -> FigureSpec:
    """A split sweep's figure: Fig 8 for `fig8`, the Fig 7 layout for every other sweep."""
    sweep = config["sweeps"][name]
    fractions = [float(f) for f in config["fractions"]]
    adamw = [runs[sweep_run_name(name, "adamw", f)].metrics_path for f in fractions]
    hybrid = [runs[sweep_run_name(name, "hybrid", f)].metrics_path for f in fractions]
    return FigureSpec(
        name=name,
        function=name if name in PAPER_FIGURES else "fig7",
        inputs=adamw + hybrid,
        kwargs={
            "adamw_paths": adamw,
            "hybrid_paths": hybrid,
            "fractions": fractions,
            "xmax_first": sweep["horizon_first"],
            "xmax_rest": sweep["horizon_rest"],
            "out_prefix": paths.FIGURE_PREFIX.format(figure=name),
        },
    )


def ising_figures(config: dict, runs: dict, landscapes: dict, snapshots: SnapshotSpec | None) -> list[FigureSpec]:
    section = config.get("ising")
    if not section:
        return []
    figures = [
        _curves_figure(
            f"ising_{key}",
            "ising_training",
            sweep,
            [f"{_letter(i)} {ISING_SWEEP_KEYS[key][2]} = {value:g}" for i, value in enumerate(section["sweeps"][key])],
        )
        for key, sweep in ising_sweep_runs(config).items()
    ]
    figures.append(
        FigureSpec(
            name="ising_pca",
            function="ising_pca",
            inputs=[snapshots.snapshots_path],
            kwargs={
                "snapshot_path": snapshots.snapshots_path,
                "out_prefix": paths.FIGURE_PREFIX.format(figure="ising_pca"),
            },
        )
    )
    name = ising_landscape_name(config)
    if name in landscapes:
        task = config["tasks"][section["task"]]
        L = task.get("L", IsingDataset.L)
        figures.append(
            _landscape_figure(
                "ising_landscape",
                "fig1",
                [landscapes[name]],
                [ising_run(config)],
                [f"dense classifier, Ising {L}×{L} energy classes"],
            )
        )
    return figures


def summary_spec(figures: dict[str, FigureSpec], landscapes: dict, runs: dict) -> FigureSpec:
    """landscape_summary.csv: every landscape of Figures 1, 2 and the Ising landscape, with its runs."""
    shown = [figures[name].kwargs for name in SUMMARY_FIGURES if name in figures]
    landscape_paths = [path for kwargs in shown for path in kwargs["landscape_paths"]]
    metrics_paths = [path for kwargs in shown for path in kwargs["metrics_paths"]]
    by_path = {spec.landscape_path: name for name, spec in landscapes.items()}
    return FigureSpec(
        name="landscape_summary",
        function="landscape_summary",
        inputs=landscape_paths + metrics_paths,
        kwargs={
            "landscape_paths": landscape_paths,
            "metrics_paths": metrics_paths,
            "names": [by_path[path] for path in landscape_paths],
            "out_csv": paths.LANDSCAPE_SUMMARY,
        },
    )


def convergence_spec(landscape: LandscapeSpec) -> FigureSpec:
    name = paths.CONVERGENCE_FIGURE.format(landscape=landscape.name)
    return FigureSpec(
        name=name,
        function="convergence",
        inputs=[landscape.landscape_path],
        kwargs={"landscape_path": landscape.landscape_path, "out_prefix": paths.FIGURE_PREFIX.format(figure=name)},
    )
