import copy

import pytest
import yaml

from grokglass import config as C


@pytest.fixture(scope="module")
def raw(repo_root="."):
    import os
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "config.yaml")) as fh:
        return yaml.safe_load(fh)


def test_paper_scale_expands_to_the_papers_runs_and_landscapes(raw):
    config = C.resolve(copy.deepcopy(raw))
    runs = C.runs(config)
    assert runs["adamw_add"]["lr"] == 3e-3 and runs["adamw_square"]["lr"] == 5e-3
    assert runs["adamw_cubic"]["lr"] == 1e-2 and runs["adamw_cubic"]["weight_decay"] == 1.0
    assert [runs[f"fixednorm_w{w}"]["model"]["d_model"] for w in (32, 64, 128)] == [32, 64, 128]
    assert runs["fixednorm_w32"]["norm"] == 30.0 and runs["fixednorm_w32"]["lr"] == 1e-3
    assert runs["wand_add"]["wand"]["kT"] == 0.5 and runs["wand_add"]["steps"] == 10000
    assert runs["fig8_hybrid_f0.5"]["wand"]["kT"] == 0.7 and runs["fig8_hybrid_f0.5"]["task"] == "square"
    assert runs["fig7_adamw_f0.5"]["steps"] == 1000 and runs["fig7_adamw_f0.6"]["steps"] == 500
    assert len(runs) == 3 + 3 + 1 + 2 * 2 * 4 + 7 * 5 * 3  # figures + Kozyrev analysis
    assert runs["koz_add_sgld_f0.35_s4"]["optimizer"] == "sgld"
    assert runs["koz_add_wand_f0.3_s0"]["wand"]["kT"] == 0.5 and runs["koz_add_wand_f0.3_s0"]["steps"] == 100000
    lands = C.landscapes(config)
    assert {k: v["segments"] for k, v in lands.items()} == {
        "grok_add": 600, "grok_square": 800, "grok_cubic": 200,
        "shell_w32": 600, "shell_w64": 600, "shell_w128": 600}
    assert lands["shell_w64"]["sampler"]["constraint"] == "shell"
    assert lands["grok_add"]["sampler"]["constraint"] == "bounds"


def test_adding_a_task_and_a_fraction_adds_runs_landscapes_and_panels(raw):
    changed = copy.deepcopy(raw)
    changed["tasks"]["sub"] = "x - y"
    changed["fractions"].append(0.3)
    config = C.resolve(changed)
    runs, figures = C.runs(config), C.figure_inputs(config)
    assert "adamw_sub" in runs and "grok_sub" in C.landscapes(config)
    assert "fig7_hybrid_f0.3" in runs and "fig8_adamw_f0.3" in runs
    assert "sub" in figures["fig4"]["tasks"] and "grok_sub" in figures["fig1"]["landscapes"]
    assert 0.3 in figures["fig7"]["fractions"] and 0.3 in C.dataset_fractions(config)


@pytest.mark.parametrize("mutate,message", [
    (lambda c: c.update(p="sixty-seven"), "config error at p: 'sixty-seven' is not of type 'integer'"),
    (lambda c: c["fractions"].append(1.2), "config error at fractions.4: 1.2 is greater than or equal to the maximum of 1"),
    (lambda c: c["baseline"].update(fraction=0), "config error at baseline.fraction: 0 is less than or equal to the minimum of 0"),
    (lambda c: c["tasks"].update(evil="__import__('os').system('x')"), "config error at tasks.evil: task 'evil'"),
    (lambda c: c["tasks"].update(bad="x +* y"), "config error at tasks.bad: task 'bad': cannot parse"),
    (lambda c: c["wand"].update(task="mul"), "config error at wand.task: 'mul' is not a task"),
    (lambda c: c["sweeps"]["fig7"].update(task="nope"), "config error at sweeps.fig7.task: 'nope' is not a task"),
    (lambda c: c["training"].update(steps=2.5), "config error at training.steps: 2.5 is not of type 'integer'"),
    (lambda c: c["wlmd"]["sampler"].update(share="always"), "config error at wlmd.sampler.share"),
    (lambda c: c.update(scale="huge"), "config error at scale: 'huge' is not one of scales"),
])
def test_config_errors_name_the_key(raw, mutate, message):
    bad = copy.deepcopy(raw)
    mutate(bad)
    with pytest.raises(C.ConfigError) as err:
        C.resolve(bad)
    text = str(err.value)
    assert text.startswith(message) and "\n" not in text


def test_quick_scale_overlay(raw):
    config = C.resolve({**copy.deepcopy(raw), "scale": "quick"})
    assert config["p"] < 67 and config["training"]["steps"] < 10000
    assert all(l["segments"] >= 2 for l in C.landscapes(config).values())
