"""Every path of the pipeline's results, in one place.

The patterns hold Snakemake wildcards ({task}, {run}, ...): the rules use them as
they are, and the spec objects (grokglass.pipeline.specs) fill them in with `.format(...)`.
"""

DATASET = "results/data/{task}.h5"

RUN_METRICS = "results/train/{run}/metrics.h5"
RUN_CHECKPOINT = "results/train/{run}/model.pt"

SEGMENT_STATE = "results/wlmd/{landscape}/seg{seg}/group{group}.pt"
SEGMENT_ENTROPY = "results/wlmd/{landscape}/seg{seg}/group{group}.h5"
MERGED = "results/wlmd/{landscape}/seg{seg}/merged.h5"
LANDSCAPE = "results/wlmd/{landscape}/landscape.h5"

# figures are written as <prefix>.pdf, <prefix>.png and <prefix>.csv
FIGURE_PREFIX = "results/figures/{figure}"
FIGURE_FORMATS = ("pdf", "png")
CONVERGENCE_FIGURE = "convergence_{landscape}"  # a figure name, under FIGURE_PREFIX
LANDSCAPE_SUMMARY = "results/figures/landscape_summary.csv"
REPORT = "results/report.html"  # snakemake --report (the Snakefile names it only in the README)

KOZYREV_TABLE = "results/kozyrev/runs.csv"
KOZYREV_FITS = "results/kozyrev/fits.json"
KOZYREV_FIGURE = "kozyrev"

ISING_SNAPSHOTS = "results/ising/pca/snapshots.h5"
ISING_SNAPSHOT_METRICS = "results/ising/pca/metrics.h5"


def figure_file(figure: str, ext: str) -> str:
    """A figure's file; `figure` may be a pattern itself ("{figure}", CONVERGENCE_FIGURE)."""
    return f"{FIGURE_PREFIX.format(figure=figure)}.{ext}"


def figure_files(figure: str) -> list[str]:
    """The files of a figure that the workflow tracks (the CSV is written beside them)."""
    return [figure_file(figure, ext) for ext in FIGURE_FORMATS]
