# Config validation, the expanded runs/landscapes/figures, and input functions.
import json
import re
import shlex
import sys

from grokglass import config as gg_config

try:
    # apply the scale overlay, validate against the schema and check task names/expressions;
    # config_settings.config holds only the --config key=value pairs (overwrite_config would
    # also hold every --configfile), which must win over the overlay
    C = gg_config.resolve(config, workflow.source_path("../schemas/config.schema.yaml"),
                          command_line=workflow.config_settings.config)
except gg_config.ConfigError as err:
    sys.exit(str(err))

RUNS = gg_config.runs(C)
LANDSCAPES = gg_config.landscapes(C)
FIGURES = gg_config.figure_inputs(C)
EXPRESSION_TASKS = gg_config.expression_tasks(C)
ISING_TASKS = gg_config.ising_tasks(C)
ISING_PCA_RUN = gg_config.ising_pca_run(C)
DEVICE = C.get("device", "auto")


def one_of(names):
    return "|".join(re.escape(name) for name in names)


wildcard_constraints:
    task=one_of(C["tasks"]),
    run=one_of(RUNS),
    landscape=one_of(LANDSCAPES),
    figure=one_of(FIGURES),
    seg=r"\d+",
    group=r"\d+",


def as_json(obj):
    """A JSON argument, quoted for the shell."""
    return shlex.quote(json.dumps(obj, sort_keys=True))


def task_fractions(wildcards):
    """Every train fraction used with this task (one split group per fraction in its dataset)."""
    return " ".join(str(f) for f in gg_config.dataset_fractions(C, wildcards.task))


def ising_task_json(wildcards):
    return as_json(ISING_TASKS[wildcards.task])


def run_json(wildcards):
    return as_json(RUNS[wildcards.run])


def run_data(wildcards):
    return f"results/data/{RUNS[wildcards.run]['task']}.h5"


def landscape_spec(name):
    spec = dict(LANDSCAPES[name])
    spec["data"] = f"results/data/{spec['task']}.h5"
    return spec


def landscape_json(wildcards):
    return as_json(landscape_spec(wildcards.landscape))


def segment_inputs(wildcards):
    """Segment s needs the dataset, and for s > 0 the previous merge and this group's state."""
    spec = LANDSCAPES[wildcards.landscape]
    seg = int(wildcards.seg)
    if seg >= spec["segments"]:
        raise ValueError(f"landscape {wildcards.landscape} has {spec['segments']} segments, not {seg + 1}")
    inputs = {"data": f"results/data/{spec['task']}.h5"}
    if seg > 0:
        prev = f"results/wlmd/{wildcards.landscape}/seg{seg - 1}"
        inputs["merged"] = f"{prev}/merged.h5"
        inputs["state"] = f"{prev}/group{wildcards.group}.pt"
    return inputs


def segment_prev_args(wildcards, input):
    if int(wildcards.seg) == 0:
        return ""
    return f"--prev-merged {input.merged} --prev-state {input.state}"


def merge_inputs(wildcards):
    spec = LANDSCAPES[wildcards.landscape]
    seg = int(wildcards.seg)
    inputs = {"groups": expand("results/wlmd/{landscape}/seg{seg}/group{group}.h5",
                               landscape=wildcards.landscape, seg=seg, group=range(spec["groups"]))}
    if seg > 0:
        inputs["prev"] = f"results/wlmd/{wildcards.landscape}/seg{seg - 1}/merged.h5"
    return inputs


def merge_prev_args(wildcards, input):
    return f"--prev-merged {input.prev}" if int(wildcards.seg) > 0 else ""


def final_merged(wildcards):
    spec = LANDSCAPES[wildcards.landscape]
    return f"results/wlmd/{wildcards.landscape}/seg{spec['segments'] - 1}/merged.h5"


def metrics(run):
    return f"results/train/{run}/metrics.h5"


def landscape_file(name):
    return f"results/wlmd/{name}/landscape.h5"


FIGURE_FORMATS = ["pdf", "png"]


def figure_args(name):
    """Keyword arguments of grokglass.figures.<function> for figure `name` (paths included)."""
    spec = FIGURES[name]
    function = spec["function"]
    prefix = f"results/figures/{name}"
    if function in ("fig1", "fig2"):  # also the Ising classifier's landscape (drawn by fig1)
        return {"landscape_paths": [landscape_file(l) for l in spec["landscapes"]],
                "metrics_paths": [metrics(r) for r in spec["runs"]],
                "titles": spec["titles"], "out_prefix": prefix}
    if function == "fig3":
        wand, adamw = spec["runs"]
        return {"wand_metrics": metrics(wand), "adamw_metrics": metrics(adamw), "out_prefix": prefix}
    if function == "fig4":
        return {"dataset_paths": [f"results/data/{t}.h5" for t in spec["tasks"]],
                "titles": spec["titles"], "fraction": C["baseline"]["fraction"], "out_prefix": prefix}
    if function in ("fig5", "fig6", "ising_training"):
        return {"metrics_paths": [metrics(r) for r in spec["runs"]], "titles": spec["titles"],
                "out_prefix": prefix}
    if function == "ising_pca":
        return {"snapshot_path": ISING_SNAPSHOTS, "out_prefix": prefix}
    # split sweeps (fig7, fig8 and any other entry of `sweeps:`)
    return {"adamw_paths": [metrics(r) for r in spec["adamw"]],
            "hybrid_paths": [metrics(r) for r in spec["hybrid"]],
            "fractions": spec["fractions"], "xmax_first": spec["xmax_first"],
            "xmax_rest": spec["xmax_rest"], "out_prefix": prefix}


def figure_function(name):
    return FIGURES[name]["function"]


def figure_input_files(wildcards):
    args = figure_args(wildcards.figure)
    files = []
    for key, value in args.items():
        if key.endswith(("_paths", "_path", "_metrics")):
            files += value if isinstance(value, list) else [value]
    return files


def figure_args_json(wildcards):
    return as_json(figure_args(wildcards.figure))


# landscapes in landscape_summary.csv, each with the run whose trajectory it is compared with
SUMMARY_FIGURES = [name for name in ("fig1", "fig2", "ising_landscape") if name in FIGURES]
SUMMARY_LANDSCAPES = [l for f in SUMMARY_FIGURES for l in FIGURES[f]["landscapes"]]
SUMMARY_RUNS = [r for f in SUMMARY_FIGURES for r in FIGURES[f]["runs"]]


def summary_args_json(wildcards, output):
    return as_json({"landscape_paths": [landscape_file(l) for l in SUMMARY_LANDSCAPES],
                    "metrics_paths": [metrics(r) for r in SUMMARY_RUNS], "names": SUMMARY_LANDSCAPES,
                    "out_csv": output[0]})


def summary_input_files(wildcards):
    return [landscape_file(l) for l in SUMMARY_LANDSCAPES] + [metrics(r) for r in SUMMARY_RUNS]


def figure_outputs(name):
    return expand("results/figures/{name}.{ext}", name=name, ext=FIGURE_FORMATS)


KOZYREV_RUNS = gg_config.kozyrev_runs(C)
ISING_SNAPSHOTS = "results/ising/pca/snapshots.h5"


def kozyrev_metrics(wildcards):
    return [metrics(r) for r in KOZYREV_RUNS]


def all_outputs():
    outputs = []
    if KOZYREV_RUNS:
        outputs += ["results/figures/kozyrev.png", "results/kozyrev/fits.json"]
    for name in FIGURES:
        outputs += figure_outputs(name)
    outputs.append("results/figures/landscape_summary.csv")
    outputs += expand("results/figures/convergence_{landscape}.png", landscape=LANDSCAPES)
    return outputs
