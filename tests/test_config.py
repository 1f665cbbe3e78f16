import copy
import glob
import os
import re
import subprocess
import sys

import pytest
import yaml

from grokglass import paths
from grokglass.data.specs import IsingDataset
from grokglass.errors import SpecError
from grokglass.nets.specs import DenseModel
from grokglass.pipeline import config as C
from grokglass.pipeline import experiment as E
from grokglass.pipeline import landscapes as L
from grokglass.pipeline import runs as R

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def raw():
    with open(os.path.join(ROOT, "config.yaml")) as fh:
        return yaml.safe_load(fh)


def build(raw, **kwargs):
    return E.build(C.resolve(copy.deepcopy(raw), **kwargs))


def test_paper_scale_expands_to_the_papers_runs_and_landscapes(raw):
    runs = build(raw).runs
    assert runs["adamw_add"].lr == 3e-3 and runs["adamw_square"].lr == 5e-3
    assert runs["adamw_cubic"].lr == 1e-2 and runs["adamw_cubic"].weight_decay == 1.0
    assert [runs[f"fixednorm_w{w}"].model.d_model for w in (32, 64, 128)] == [32, 64, 128]
    assert runs["fixednorm_w32"].norm == 30.0 and runs["fixednorm_w32"].lr == 1e-3
    assert runs["wand_add"].wand.kT == 0.5 and runs["wand_add"].steps == 10000
    assert runs["fig8_hybrid_f0.5"].wand.kT == 0.7 and runs["fig8_hybrid_f0.5"].task == "square"
    assert runs["fig7_adamw_f0.5"].steps == 1000 and runs["fig7_adamw_f0.6"].steps == 500
    assert len(runs) == 3 + 3 + 1 + 2 * 2 * 4 + 7 * 5 * 3 + 14  # figures + Kozyrev + Ising
    assert runs["koz_add_sgld_f0.35_s4"].optimizer == "sgld"
    assert runs["koz_add_wand_f0.3_s0"].wand.kT == 0.5 and runs["koz_add_wand_f0.3_s0"].steps == 100000
    lands = build(raw).landscapes
    assert {k: v.segments for k, v in lands.items()} == {
        "grok_add": 600,
        "grok_square": 800,
        "grok_cubic": 200,
        "shell_w32": 600,
        "shell_w64": 600,
        "shell_w128": 600,
        "dense_ising": 20,
    }
    assert lands["shell_w64"].sampler.constraint == "shell"
    assert lands["grok_add"].sampler.constraint == "bounds"


def test_adding_a_task_and_a_fraction_adds_runs_landscapes_and_panels(raw):
    changed = copy.deepcopy(raw)
    changed["tasks"]["sub"] = "x - y"
    changed["fractions"].append(0.3)
    before, after = build(raw), build(changed)
    runs, figures = after.runs, after.figures
    assert "adamw_sub" in runs and "grok_sub" in after.landscapes
    assert "fig7_hybrid_f0.3" in runs and "fig8_adamw_f0.3" in runs
    assert "results/data/sub.h5" in figures["fig4"].kwargs["dataset_paths"]
    assert "results/wlmd/grok_sub/landscape.h5" in figures["fig1"].kwargs["landscape_paths"]
    assert 0.3 in figures["fig7"].kwargs["fractions"]
    # datasets hold every fraction's split: a new fraction changes none of them, a new task adds one
    assert set(after.datasets) == set(before.datasets) | {"sub"}
    assert {k: v for k, v in after.datasets.items() if k != "sub"} == before.datasets
    assert after.datasets["sub"].expression == "x - y" and after.datasets["sub"].p == 67


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda c: c.update(p="sixty-seven"), "config error at p: 'sixty-seven' is not of type 'integer'"),
        (
            lambda c: c["fractions"].append(1.2),
            "config error at fractions.4: 1.2 is greater than or equal to the maximum of 1",
        ),
        (
            lambda c: c["baseline"].update(fraction=0),
            "config error at baseline.fraction: 0 is less than or equal to the minimum of 0",
        ),
        (lambda c: c["tasks"].update(evil="__import__('os').system('x')"), "config error at tasks.evil: task 'evil'"),
        (lambda c: c["tasks"].update(bad="x +* y"), "config error at tasks.bad: task 'bad': cannot parse"),
        (lambda c: c["wand"].update(task="mul"), "config error at wand.task: 'mul' is not an expression task"),
        (
            lambda c: c["sweeps"]["fig7"].update(task="nope"),
            "config error at sweeps.fig7.task: 'nope' is not an expression task",
        ),
        (lambda c: c["training"].update(steps=2.5), "config error at training.steps: 2.5 is not of type 'integer'"),
        (lambda c: c["wlmd"]["sampler"].update(share="always"), "config error at wlmd.sampler.share"),
        (lambda c: c.update(scale="huge"), "config error at scale: 'huge' is not one of scales"),
        (lambda c: c.update(p=4), "config error at p: 4 is not prime"),
    ],
)
def test_config_errors_name_the_key(raw, mutate, message):
    bad = copy.deepcopy(raw)
    mutate(bad)
    with pytest.raises(C.ConfigError) as err:
        C.resolve(bad)
    text = str(err.value)
    assert text.startswith(message) and "\n" not in text


def test_modular_division_runs_at_a_prime_p(raw):
    changed = copy.deepcopy(raw)
    changed["tasks"]["div"] = "x / y"
    experiment = E.build(C.resolve(changed))
    assert experiment.datasets["div"].expression == "x / y" and "adamw_div" in experiment.runs


def test_quick_scale_overlay(raw):
    config = C.resolve({**copy.deepcopy(raw), "scale": "quick"})
    assert config["p"] < 67 and config["training"]["steps"] < 10000
    landscapes = E.build(config).landscapes.values()  # Wang-Landau's convergence rows compare segments
    assert all(spec.segments >= 2 for spec in landscapes if spec.method == "wang_landau")
    assert E.load_experiment(os.path.join(ROOT, "config.yaml"), "quick").config == config


def test_building_the_experiment_imports_neither_torch_nor_h5py():
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([os.path.join(ROOT, "workflow"), os.environ.get("PYTHONPATH", "")]),
    }
    # with torch and h5py blocked (an import of either raises), the whole DAG of both scales builds
    code = (
        "import sys; sys.modules.update(torch=None, h5py=None); from grokglass.pipeline import experiment as E; "
        f"print(*(len(E.load_experiment({os.path.join(ROOT, 'config.yaml')!r}, s).runs) for s in ('paper', 'quick')))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["142", "58"]


def test_figure_merge_and_landscape_jobs_start_without_torch():
    """~2.5 s of torch import per job, 40-odd such jobs in the quick run (docs/performance.md)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([os.path.join(ROOT, "workflow"), os.environ.get("PYTHONPATH", "")]),
    }
    code = "import sys, grokglass.figures, grokglass.jobs.merge; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr[-2000:]


# ----- the Ising task kind (spec 10) ---------------------------------------------------------
def test_ising_task_kind_is_kept_apart_from_the_expression_tasks(raw):
    config = C.resolve(copy.deepcopy(raw))
    experiment = E.build(config)
    assert list(C.expression_tasks(config)) == ["add", "square", "cubic"]
    assert list(C.ising_tasks(config)) == ["ising"]
    assert "adamw_ising" not in experiment.runs and "grok_ising" not in experiment.landscapes
    assert experiment.figures["fig4"].kwargs["dataset_paths"] == [
        "results/data/add.h5",
        "results/data/square.h5",
        "results/data/cubic.h5",
    ]
    ising = experiment.datasets["ising"]
    assert ising == IsingDataset.from_config("ising", config["tasks"]["ising"], 0)
    assert ising.temperatures[:3] == (1.0, 1.1, 1.2) and len(ising.temperatures) == 41
    assert ising.L == 8 and ising.pool_size == 5000 and ising.label_margin == 0.125
    assert {r.fraction for r in R.ising_runs(config).values()} == {0.4}


def test_ising_sweeps_expand_to_one_run_per_value_sharing_the_base_run(raw):
    config = C.resolve(copy.deepcopy(raw))
    runs = R.ising_runs(config)
    base = R.ising_run(config)
    assert base.name == "ising_beta1_wd1_drop0_init10"
    assert len(runs) == 1 + 4 + 4 + 3 + 2  # the base value of each sweep is the base run
    sweeps = R.ising_sweep_runs(config)
    assert sweeps["inverse_temperature"][2] == base
    beta = sweeps["inverse_temperature"][0]
    assert beta.model.inverse_temperature == 0.25 and beta.weight_decay == 1.0
    assert beta.name == "ising_beta0.25_wd1_drop0_init10" and runs[beta.name] == beta
    wd = sweeps["weight_decay"][0]
    assert wd.weight_decay == 0.0 and wd.model.inverse_temperature == 1.0 and wd.model.init_scale == 10.0
    assert sweeps["dropout"][1].model.dropout == 0.04
    assert all(r.task == "ising" and r.model.kind == "mlp" and r.fraction == 0.4 for r in runs.values())
    figures = E.build(config).figures
    assert figures["ising_dropout"].kwargs["metrics_paths"] == [r.metrics_path for r in sweeps["dropout"]]
    assert figures["ising_dropout"].kwargs["titles"][1] == "(b) dropout = 0.04"
    assert figures["ising_pca"].function == "ising_pca"
    assert figures["ising_pca"].inputs == (paths.ISING_SNAPSHOTS,)
    assert E.build(config).snapshots.run == base
    assert figures["ising_landscape"].kwargs["landscape_paths"] == ["results/wlmd/dense_ising/landscape.h5"]
    assert figures["fig7"].function == "fig7" and figures["fig1"].function == "fig1"


def test_ising_landscape_uses_the_base_network_without_dropout(raw):
    changed = copy.deepcopy(raw)
    changed["ising"]["model"]["dropout"] = 0.1
    changed["ising"]["landscape"]["grid"] = {"x": [-12.0, 2.0]}
    config = C.resolve(changed)
    land = E.build(config).landscapes["dense_ising"]
    assert land == L.ising_landscape(config)
    assert land.model == DenseModel(hidden=(128, 128, 64), dropout=0.0, inverse_temperature=1.0, init_scale=10.0)
    assert land.grid.lows == (-12.0, -1.0) and land.grid.highs == (2.0, 11.0)  # y: wlmd.grid.y
    assert land.fraction == 0.4 and land.task == "ising"
    assert R.ising_run(config).model.dropout == 0.1  # the runs keep it


def test_pca_settings_change_only_the_layer_analysis_run(raw):
    changed = copy.deepcopy(raw)
    changed["ising"]["pca"]["settings"] = {"init_scale": 3.0, "weight_decay": 0.1}
    config = C.resolve(changed)
    pca = R.ising_snapshot_spec(config)
    assert pca.run.model.init_scale == 3.0 and pca.run.weight_decay == 0.1
    assert (pca.n_snapshots, pca.update_window, pca.max_points) == (30, 20, 2000)
    assert R.ising_run(config).model.init_scale == 10.0
    assert E.build(config).snapshots == pca


def test_without_an_ising_section_nothing_of_it_is_expanded(raw):
    changed = copy.deepcopy(raw)
    del changed["ising"]
    del changed["tasks"]["ising"]
    config = C.resolve(changed)
    experiment = E.build(config)
    assert R.ising_runs(config) == {} and L.ising_landscape(config) is None
    assert experiment.snapshots is None and "ising" not in experiment.datasets
    assert not any(
        name.startswith(("ising", "dense")) for name in [*experiment.figures, *experiment.runs, *experiment.landscapes]
    )


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda c: c["tasks"]["ising"].update(L=7), "config error at tasks.ising"),
        (
            lambda c: c["tasks"]["ising"].update(pool_size=4999),
            "config error at tasks.ising.pool_size: 4999 is not a multiple",
        ),
        (
            lambda c: c["tasks"]["ising"].update(samples_per_temperature=401),
            "config error at tasks.ising.samples_per_temperature: 401 is not a multiple",
        ),
        (lambda c: c["ising"].update(task="add"), "config error at ising.task: 'add' is not a task of kind ising"),
        (
            lambda c: c["fixed_norm"].update(task="ising"),
            "config error at fixed_norm.task: 'ising' is not an expression task",
        ),
        (lambda c: c["ising"]["sweeps"].update(momentum=[0.9]), "config error at ising.sweeps"),
        (lambda c: c["ising"]["model"].update(dropout=1.0), "config error at ising.model.dropout"),
    ],
)
def test_ising_config_errors_name_the_key(raw, mutate, message):
    changed = copy.deepcopy(raw)
    mutate(changed)
    with pytest.raises(C.ConfigError) as info:
        C.resolve(changed)
    assert message in str(info.value)


def test_command_line_values_are_applied_after_the_scale_overlay(raw):
    changed = copy.deepcopy(raw)
    changed["scale"] = "quick"
    config = C.resolve(changed, command_line={"scale": "quick", "device": "cuda", "training": {"steps": 7}})
    assert config["device"] == "cuda" and config["training"]["steps"] == 7
    assert config["p"] == 31  # the rest of the overlay still applies
    assert E.build(config).runs["adamw_add"].steps == 7
    with pytest.raises(C.ConfigError, match="config error at device"):
        C.resolve(copy.deepcopy(raw), command_line={"device": "tpu"})


def wang_landau_quick(raw) -> dict:
    """The quick scale with Figures 1-2 back on Wang-Landau (x + y on the windows it keeps configured)."""
    config = copy.deepcopy(raw)
    config["scales"]["quick"]["wlmd"]["grokking"]["method"] = "wang_landau"
    config["scales"]["quick"]["wlmd"]["shell"]["method"] = "wang_landau"
    return {**config, "scale": "quick"}


def test_windows_split_the_walkers_into_one_job_per_window(raw):
    quick = build(wang_landau_quick(raw))
    spec = quick.landscapes["grok_add"]  # windows_by_task: 4 windows of walkers_per_window = 1
    assert spec.windows.n == 4 and spec.windows.walkers_per_window == spec.walkers_per_job == 1 and spec.walkers == 4
    assert spec.sampler.share == "sum" and spec.groups == 4
    assert spec.segment_inputs(1, 0)["partner_state"] == spec.state_path(0, 1)  # pairs (0, 1), (2, 3) at 1
    job = type(spec).from_dict(spec.segment_job_dict())  # a segment job's spec: any segment
    assert "partner_state" not in job.segment_inputs(2, 0)  # (1, 2) at segment 2: window 0 rests
    assert job.segment_inputs(2, 1)["partner_state"] == spec.state_path(1, 2)
    assert job.segment_inputs(3, 3)["partner_state"] == spec.state_path(2, 2)
    for other in ("grok_square", "shell_w32"):  # the other tasks and the shells have none
        assert quick.landscapes[other].windows is None and "windows" not in quick.landscapes[other].to_dict()
    paper = build(raw)
    assert all(spec.windows is None for spec in paper.landscapes.values())  # the paper protocol stays
    even = copy.deepcopy(raw)
    even["wlmd"]["grokking"]["windows"] = {"n": 2}  # without walkers_per_window: the 8 walkers split
    assert build(even).landscapes["grok_add"].windows.walkers_per_window == 4


@pytest.mark.parametrize(
    "windows,message",
    [
        ({"n": 3}, "landscape 'grok_add': 8 walkers do not split evenly into 3 windows"),
        ({"n": 2, "overlap": 1.5}, "config error at wlmd.grokking.windows.overlap"),
        ({"n": 8, "overlap": 0.001}, "overlap by 0 bins, fewer than the 46 a stitch needs"),
        ({"n": 2, "size": 3}, "config error at wlmd.grokking.windows"),
    ],
)
def test_bad_window_setups_are_one_line_errors(raw, windows, message):
    bad = copy.deepcopy(raw)
    bad["wlmd"]["grokking"]["windows"] = windows
    with pytest.raises((C.ConfigError, SpecError)) as err:
        E.build(C.resolve(bad))
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "overlay,where",
    [
        ({"fractions": [0.5]}, "scales.mine.fractions"),
        ({"fixed_norm": {"widths": [32]}}, "scales.mine.fixed_norm.widths"),
        ({"wlmd": {"shell": {"widths": [32]}}}, "scales.mine.wlmd.shell.widths"),
        ({"kozyrev": {"fractions": [0.5]}}, "scales.mine.kozyrev.fractions"),
        ({"kozyrev": {"optimizers": {"wand": None}}}, "scales.mine.kozyrev.optimizers.wand"),
        ({"kozyrev": {"optimizers": {"new": {"optimizer": "adamw", "lr": 1.0}}}}, "scales.mine.kozyrev.optimizers.new"),
        ({"ising": {"sweeps": {"dropout": [0.0]}}}, "scales.mine.ising.sweeps"),
        ({"tasks": {"sub": "x - y"}}, "scales.mine.tasks.sub"),
        ({"tasks": {"add": "x - y"}}, "scales.mine.tasks.add"),
        ({"sweeps": {"fig7": {"task": "square"}}}, "scales.mine.sweeps.fig7"),
    ],
)
def test_a_scale_may_not_change_the_list_of_experiments(raw, overlay, where):
    edited = copy.deepcopy(raw)
    edited["scales"]["mine"] = overlay
    with pytest.raises(C.ConfigError, match=f"config error at {re.escape(where)}: a scale changes sizes"):
        C.resolve(edited)


def test_sizes_a_scale_may_change_and_every_replaced_value_is_named(raw):
    edited = copy.deepcopy(raw)
    edited["p"] = 97
    edited["scales"]["mine"] = {"p": 31, "tasks": {"ising": {"L": 6}}, "kozyrev": {"seeds": 2}}
    config = C.resolve({**edited, "scale": "mine"})
    assert config["p"] == 31 and config["tasks"]["ising"]["L"] == 6 and config["fractions"] == raw["fractions"]
    assert len([r for r in R.kozyrev_runs(config) if r.fraction == 0.5 and r.optimizer == "adamw"]) == 2
    lines = C.overlay_replacements({**edited, "scale": "mine"})
    assert "scale mine: p = 31 (config.yaml: 97)" in lines
    assert f"scale mine: tasks.ising.L = 6 (config.yaml: {raw['tasks']['ising']['L']})" in lines
    assert not any(line.startswith("scale mine: p ") for line in C.overlay_replacements(edited, "mine", {"p": 5}))


def test_config_yaml_is_checked_before_the_overlay_can_hide_a_value(raw):
    for key, value, message in [("p", 4, "config error at p: 4 is not prime"), ("split_seed", -1, "split_seed")]:
        edited = {**copy.deepcopy(raw), key: value, "scale": "quick"}
        with pytest.raises(C.ConfigError, match=message):
            C.resolve(edited)


def test_a_scale_extends_another_and_a_bad_chain_is_named(raw):
    """`extends: quick` applies the quick overlay first, then the scale's own keys."""
    edited = copy.deepcopy(raw)
    edited["scales"]["mine"] = {"extends": "quick", "training": {"steps": 77}}
    mine, quick = C.resolve({**edited, "scale": "mine"}), C.resolve({**edited, "scale": "quick"})
    assert mine["training"]["steps"] == 77 and mine["p"] == quick["p"] == 31
    assert mine["wlmd"] == quick["wlmd"] and "extends" not in mine
    edited["scales"]["loop"] = {"extends": "loop"}
    with pytest.raises(C.ConfigError, match="loop -> loop extends itself"):
        C.resolve({**edited, "scale": "loop"})
    edited["scales"]["orphan"] = {"extends": "nowhere"}
    with pytest.raises(C.ConfigError, match="scales.orphan.extends: 'nowhere' is not one of scales"):
        C.resolve({**edited, "scale": "orphan"})


def test_reduced_scale_maps_reach_their_targets_and_cross_check_the_paper_protocol(raw):
    """The reduced scale's windows and grids (issue 15) and its paper-protocol twin of grok_add."""
    reduced = build({**copy.deepcopy(raw), "scale": "reduced"})
    lows = {name: spec.grid.lows[0] for name, spec in reduced.landscapes.items()}
    lattices = {
        name: (spec.restrained.x_windows, len(spec.restrained.accuracies), spec.epochs)
        for name, spec in reduced.landscapes.items()
        if spec.method == "restrained"
    }
    assert lattices == {  # Figures 1-2: restrained windows, x + y's lattice the densest
        "grok_add": (12, 3, 2000),
        "grok_square": (8, 3, 1000),
        "grok_cubic": (8, 3, 1000),
        "shell_w32": (8, 2, 1000),
        "shell_w64": (8, 2, 1000),
        "shell_w128": (8, 2, 1000),
    }
    assert reduced.landscapes["grok_square"].restrained.accuracies == (0.05, 0.15, 0.3)  # restrained_by_task
    assert lows["grok_add"] == -9.6 and lows["grok_square"] == lows["grok_cubic"] == -4.4
    assert all(lows[f"shell_w{w}"] == -2.6 for w in (32, 64, 128))
    assert all(spec.windows.walls == "hard" for spec in reduced.landscapes.values() if spec.windows)
    paper = reduced.landscapes["paper_add"]
    assert paper.windows is None and not paper.grid.hard_walls and paper.sampler.share == "chunk"
    assert (paper.grid.lows[0], paper.grid.highs[0]) == (-3.0, 2.0)  # the quick scale's wlmd.grid
    figure = reduced.figures["crosscheck_add"]
    assert figure.kwargs["paper_previous"] == paths.MERGED.format(landscape="paper_add", seg=paper.segments - 2)
    assert set(figure.outputs) <= set(reduced.outputs())
    assert "paper_add" not in build({**copy.deepcopy(raw), "scale": "quick"}).landscapes
    bad = copy.deepcopy(raw)
    bad["wlmd"]["crosscheck"] = {"task": "add", "epochs": 10}  # the paper scale: grok_add has no windows
    with pytest.raises(C.ConfigError, match="grokking landscape of 'add' has no windows"):
        build(bad)
    bad["wlmd"]["crosscheck"] = {"task": "nope", "epochs": 10}
    with pytest.raises(C.ConfigError, match="wlmd.crosscheck: task 'nope' is not an expression task"):
        build(bad)


@pytest.mark.parametrize(
    "path", sorted(glob.glob(os.path.join(ROOT, "docs", "experiments", "*.yaml"))), ids=os.path.basename
)
def test_documented_experiment_overlays_build(raw, path):
    """Each docs/experiments file, merged over config.yaml as `--configfile` does, builds at each
    of its scales (a stale key there would only fail when someone reruns the experiment)."""
    with open(path) as fh:
        extra = yaml.safe_load(fh)
    merged = C.deep_merge(copy.deepcopy(raw), extra)
    # a file of top-level keys runs at the quick scale (profiles/local); they win over its overlay
    top = {key: value for key, value in extra.items() if key != "scales"}
    for scale in extra.get("scales", {"quick": None}):
        config = C.resolve({**merged, "scale": scale}, command_line=top)
        assert E.build(config).runs
        if "kozyrev" in top:
            assert config["kozyrev"]["max_steps"] == top["kozyrev"]["max_steps"]


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda c: c["tasks"].update(z="x / 0"), "config error at tasks.z: 'x / 0' is defined at no pair"),
        (lambda c: c.update(p=3), "config error at p: 3 is too small for a train/test split"),
        (lambda c: c.update(p=10007), "set allow_large: true to run it anyway"),
        (lambda c: c["tasks"]["ising"].update(L=2), "config error at tasks.ising.L: a 2 x 2 lattice has no energy"),
        (lambda c: c["tasks"]["ising"].update(L=1), "config error at tasks.ising.L: 1 is less than the minimum of 2"),
    ],
)
def test_what_would_fail_an_hour_in_is_refused_before_any_job(raw, mutate, message):
    changed = copy.deepcopy(raw)
    mutate(changed)
    with pytest.raises(C.ConfigError, match=re.escape(message)):
        C.resolve(changed)


def test_a_large_p_runs_when_allowed_and_a_task_twice_is_a_warning(raw):
    changed = copy.deepcopy(raw)
    changed.update(p=10007, allow_large=True)
    changed["tasks"]["dda"] = "y + x"
    config = C.resolve(changed)
    assert config["p"] == 10007
    assert C.config_warnings(config) == [  # (at this p: 2,000 pairs probed)
        "config warning at tasks: add and dda are the same task (equal at every pair): "
        "each runs its own dataset, run and landscape"
    ]
    assert C.config_warnings(C.resolve(copy.deepcopy(raw))) == []


def test_the_slurm_profiles_placeholders_are_named_and_a_sites_values_are_not():
    (line,) = C.profile_warnings(["tmpdir=system_tmpdir", "slurm_partition=cpu", "runtime=30"])
    assert "placeholder partition 'cpu' and no slurm_account" in line and "profiles/slurm/profile.yaml" in line
    assert C.profile_warnings(["slurm_partition=main"]) == []
    assert "no slurm_account" not in C.profile_warnings(["slurm_partition='gpu'", "slurm_account=lab"])[0]


@pytest.mark.parametrize("scale", ["paper", "quick", "reduced"])
def test_every_figure_spec_binds_to_its_figure_functions_signature(raw, scale):
    """The experiment assembles each figure's keyword arguments by name; a name that its function
    in grokglass.figures does not take (or a required one it leaves out) fails here, not in a job."""
    import inspect

    from grokglass.figures import figure_function

    experiment = build({**copy.deepcopy(raw), "scale": scale})
    specs = [*experiment.figures.values(), *experiment.convergence.values(), experiment.summary]
    specs += [experiment.kozyrev] if experiment.kozyrev else []
    for spec in specs:
        signature = inspect.signature(figure_function(spec.function))
        try:
            signature.bind(**spec.kwargs)
        except TypeError as err:
            pytest.fail(f"figure {spec.name} ({spec.function}): {err}")
