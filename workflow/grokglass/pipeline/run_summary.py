"""What `snakemake ... all` prints when it has finished (the Snakefile's onsuccess handler):
where the figures and the report are, and the landscape summary's verdicts as a small table."""

from __future__ import annotations

import csv
from pathlib import Path

from grokglass import paths

VERDICTS = ("advantage_verdict", "barrier_verdict", "continuity_verdict", "converged", "coverage_verdict")


def run_summary(root: str | Path = ".") -> str:
    """The lines to print; a missing summary (a run of some targets only) is said, not an error."""
    root = Path(root)
    figures = root / Path(paths.FIGURE_PREFIX).parent
    lines = [f"grokglass: figures in {figures}/ (fig1..fig8 .png/.pdf/.csv, the Kozyrev and Ising figures)"]
    lines.append(f"  a browsable report of them: snakemake --profile profiles/local --report {paths.REPORT}")
    summary = root / paths.LANDSCAPE_SUMMARY
    if not summary.is_file():
        return "\n".join(lines)
    with open(summary, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return "\n".join(lines)
    lines.append(f"  the paper's claims per landscape ({summary}; criteria in grokglass/figures/landscape_summary.py):")
    columns = ["name", *[c for c in VERDICTS if c in rows[0]]]
    widths = [max(len(c), *(len(row.get(c, "")) for row in rows)) for c in columns]
    lines.append(("    " + "  ".join(c.ljust(w) for c, w in zip(columns, widths))).rstrip())
    lines += [("    " + "  ".join(row.get(c, "").ljust(w) for c, w in zip(columns, widths))).rstrip() for row in rows]
    return "\n".join(lines)
