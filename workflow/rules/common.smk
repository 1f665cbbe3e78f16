# Config validation and the typed experiment specs; input functions are spec lookups.
import functools
import json
import re
import shlex
import sys

from grokglass import paths
from grokglass.pipeline import config as gg_config
from grokglass.pipeline import experiment as gg_experiment
from grokglass.pipeline.rerun_reasons import rerun_lines
from grokglass.pipeline.specs import as_json

try:
    # apply the scale overlay, refuse unknown keys, validate against the schema and check
    # task names/expressions; what the user gave on top of config.yaml (extra --configfile
    # files, then --config key=value pairs) must win over the overlay
    USER_OVERRIDES = gg_config.user_overrides(
        workflow.config_settings.configfiles, "config.yaml", workflow.config_settings.config
    )
    C = gg_config.resolve(config, command_line=USER_OVERRIDES)  # the schema: package data of grokglass.pipeline
    EXPERIMENT = gg_experiment.build(C)
    # every value of config.yaml that the scale replaces, one line each: an edit the scale
    # overrides is never dropped silently
    for line in gg_config.overlay_replacements(config, command_line=USER_OVERRIDES):
        print(line, file=sys.stderr)
    for line in gg_config.config_warnings(C):
        print(line, file=sys.stderr)
    # a finished result made from another spec: the keys that changed (Snakemake's own reason
    # line prints both JSON forms in full)
    for line in rerun_lines(EXPERIMENT.runs, EXPERIMENT.landscapes):
        print(line, file=sys.stderr)
    # (no default-resources at all, as under profiles/local: None)
    for line in gg_config.profile_warnings(getattr(workflow.resource_settings.default_resources, "args", None) or []):
        print(line, file=sys.stderr)
except gg_config.ConfigError as err:
    sys.exit(str(err))

DATASETS = EXPERIMENT.datasets
RUNS = EXPERIMENT.runs
LANDSCAPES = EXPERIMENT.landscapes
FIGURES = EXPERIMENT.figures
DEVICE = EXPERIMENT.device
MATMUL_PRECISION = EXPERIMENT.matmul_precision
EPOCH_CAPTURE = EXPERIMENT.epoch_capture


def one_of(names):
    return "|".join(re.escape(name) for name in names) or "(?!)"  # (none: a pattern that never matches)


# the trained networks that restrained landscapes start from: the first links of their chains
START_RUNS = sorted(
    name
    for name, run in RUNS.items()
    if any(spec.restrained and spec.restrained.start_checkpoint == run.checkpoint_path for spec in LANDSCAPES.values())
)


def names_of_kind(kind):
    return [name for name, spec in DATASETS.items() if spec.kind == kind]


wildcard_constraints:
    task=one_of(DATASETS),
    run=one_of(RUNS),
    landscape=one_of(LANDSCAPES),
    figure=one_of(FIGURES),
    seg=r"\d+",
    group=r"\d+",


def quoted_json(spec):
    """A spec's JSON form, quoted for the shell."""
    return shlex.quote(as_json(spec))


def segment_job_json(wildcards):
    """The landscape without its segment count: more epochs add segments, they do not redo them."""
    return _segment_job_json(wildcards.landscape)


@functools.cache  # thousands of segment and merge jobs share one landscape's string
def _segment_job_json(name):
    return shlex.quote(json.dumps(LANDSCAPES[name].segment_job_dict(), sort_keys=True))


def kwargs_json(figure):
    """A figure spec's keyword arguments as JSON, quoted for the shell."""
    return shlex.quote(json.dumps(figure.kwargs, sort_keys=True))


def landscape_of(wildcards):
    return LANDSCAPES[wildcards.landscape]


def segment_prev_args(wildcards, input):
    if int(wildcards.seg) == 0:
        return ""
    if "merged" not in input.keys():  # restrained windows: a group continues only its own state
        return f"--prev-state {input.state}"
    partner = f" --partner-state {input.partner_state}" if "partner_state" in input.keys() else ""
    return f"--prev-merged {input.merged} --prev-state {input.state}{partner}"


def merge_prev_args(wildcards, input):
    return f"--prev-merged {input.prev}" if int(wildcards.seg) > 0 else ""
