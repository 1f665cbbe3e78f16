# grokglass: reproduce "Is Grokking a Computational Glass Relaxation?" (arXiv 2505.11411).
#
#   dataset -> train (AdamW, fixed-norm AdamW, WanD, hybrid)
#           -> wlmd_segment (per landscape x segment x walker group) -> wlmd_merge (per segment)
#           -> wlmd_landscape -> figures -> all
#   train (kozyrev runs) -> kozyrev (grokking-time laws) -> all
#
# The logic lives in the grokglass package (workflow/grokglass); rules only wire files.


import os
import sys

from snakemake.utils import min_version

min_version("9.20")

# At paper scale a landscape is a chain of hundreds of segment -> merge jobs; Snakemake
# resolves the DAG recursively along that chain.
sys.setrecursionlimit(max(sys.getrecursionlimit(), 100_000))

# The grokglass package sits in workflow/: importable here, and in every job's shell through
# the PYTHONPATH set below (local, conda or Slurm), even where it was not pip-installed.
# (Snakemake formats the prefix like a shell command, hence the doubled braces.)
PACKAGE_DIR = os.path.join(workflow.basedir, "workflow")
sys.path.insert(0, PACKAGE_DIR)
shell.prefix(f"set -euo pipefail; export PYTHONPATH={PACKAGE_DIR}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; ")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/wlmd.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/analysis.smk"


onsuccess:
    from grokglass.pipeline.run_summary import run_summary

    print(run_summary(), file=sys.stderr)


rule all:
    default_target: True
    input:
        EXPERIMENT.outputs(),
