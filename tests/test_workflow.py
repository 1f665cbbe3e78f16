"""The Snakemake workflow itself: lint, dry runs at both scales, config errors, and a real
end-to-end run of `snakemake --profile profiles/local all` in a fresh copy of the repository."""

import csv
import io
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_PATH = pathlib.Path(REPO)
COPY_ITEMS = ["Snakefile", "config.yaml", "workflow", "profiles", "envs"]


def snakemake(*args, cwd=REPO, timeout=900):
    cmd = [sys.executable, "-m", "snakemake", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def job_counts(output: str) -> dict[str, int]:
    """Parse the 'Job stats' table of a dry run."""
    table = output.split("Job stats:")[1]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}
    counts.pop("total", None)
    return counts


def copy_repo(dest):
    for item in COPY_ITEMS:
        src = os.path.join(REPO, item)
        if os.path.isdir(src):
            shutil.copytree(src, dest / item, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(src, dest / item)
    return dest


def test_lint_is_clean():
    result = snakemake("--lint")
    assert result.returncode == 0, result.stdout + result.stderr


# paper scale (config.yaml as shipped): per-rule job counts, also listed in the README
# train: 23 paper runs + 105 Kozyrev runs + 14 Ising runs (base, then 4 + 4 + 3 + 2 sweep values
# that differ from it); figures: Fig 1-8 and the Ising sweeps (4), PCA and landscape
PAPER_COUNTS = {
    "dataset": 3,
    "ising_dataset": 1,
    "train": 23 + 105 + 14,
    "ising_snapshots": 1,
    "wlmd_segment": 6800 + 40,
    "wlmd_merge": 3400 + 20,
    "wlmd_landscape": 6 + 1,
    "figure": 8 + 6,
    "convergence": 6 + 1,
    "landscape_summary": 1,
    "kozyrev": 1,
    "all": 1,
}


def test_paper_scale_dry_run_through_the_slurm_profile():
    result = snakemake("all", "--profile", "profiles/slurm", "-n", "--forceall", "--quiet", "rules", timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(result.stdout + result.stderr) == PAPER_COUNTS
    # the shipped profile's placeholders are named at start, with the keys to edit
    assert "profile warning: the Slurm profile still has the placeholder partition 'cpu'" in result.stderr


@pytest.mark.parametrize("profile", [(), ("--profile", "profiles/slurm")], ids=["local", "slurm"])
def test_paper_scale_restrained_maps_dry_run(profile):
    """The one-line switch (wlmd.method: restrained) at the paper scale: each of the six Figure 1-2
    landscapes is 60 windows of 2 walkers in 5 jobs of one 100,000-epoch segment, then one merge."""
    overlay = ("--configfile", "docs/experiments/restrained-paper.yaml")
    result = snakemake("all", *profile, "-n", "--forceall", "--quiet", "rules", *overlay, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout + result.stderr)
    assert counts["wlmd_segment"] == 6 * 5 + PAPER_COUNTS["wlmd_segment"] - 6800  # + the Ising landscape's
    assert counts["wlmd_merge"] == 6 + PAPER_COUNTS["wlmd_merge"] - 3400
    assert counts["wlmd_landscape"] == PAPER_COUNTS["wlmd_landscape"]


def test_adding_a_task_and_a_fraction_at_the_top_of_config_yaml_adds_jobs_at_the_quick_scale(tmp_path):
    """The README's edit (one line in `tasks`, one number in `fractions`) made to config.yaml itself
    takes effect under profiles/local: the quick overlay changes sizes, not the list of experiments."""
    work = copy_repo(tmp_path)
    args = ("all", "--profile", "profiles/local", "-n", "--forceall", "--quiet", "rules")
    base = snakemake(*args, cwd=work)
    assert base.returncode == 0, base.stderr[-3000:]
    before = job_counts(base.stdout + base.stderr)
    raw = yaml.safe_load((work / "config.yaml").read_text())
    raw["tasks"]["sub"] = "x - y"
    raw["fractions"].append(0.3)
    (work / "config.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    result = snakemake(*args, cwd=work)
    assert result.returncode == 0, result.stderr[-3000:]
    after = job_counts(result.stdout + result.stderr)
    segments, groups = restrained_quick_jobs(raw)
    assert after["dataset"] == before["dataset"] + 1
    # adamw_sub (its landscape's start, at the segments' priority), AdamW and hybrid runs at 0.3 for both sweeps
    assert after["train_start"] == before["train_start"] + 1 and after["train"] == before["train"] + 2 * 2
    assert after["wlmd_landscape"] == before["wlmd_landscape"] + 1
    assert after["wlmd_segment"] == before["wlmd_segment"] + segments * groups
    assert after["figure"] == before["figure"]  # same figures, more panels


def restrained_quick_jobs(raw) -> tuple[int, int]:
    """(segments, groups) of a new task's restrained landscape at the quick scale (the family's lattice)."""
    quick = raw["scales"]["quick"]["wlmd"]
    lattice = quick["restrained"]
    windows = lattice["x_windows"] * len(lattice["accuracies"])
    return -(-lattice["epochs"] // quick["epochs_per_segment"]), -(-windows // lattice["windows_per_job"])


def test_a_value_the_scale_replaces_is_named_at_start_and_a_bad_one_refused_first(tmp_path):
    work = copy_repo(tmp_path)
    raw = yaml.safe_load((work / "config.yaml").read_text())
    raw["p"] = 97
    (work / "config.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    result = snakemake("all", "--profile", "profiles/local", "-n", "--quiet", "rules", cwd=work)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "scale quick: p = 31 (config.yaml: 97)" in result.stderr
    for key, value, message in [
        ("p", 4, "config error at p: 4 is not prime"),
        ("training", {**raw["training"], "steps": -5}, "config error at training.steps: -5 is less than the minimum"),
    ]:
        (work / "config.yaml").write_text(yaml.safe_dump({**raw, key: value}, sort_keys=False))
        result = snakemake("all", "--profile", "profiles/local", "-n", cwd=work)
        assert result.returncode != 0 and message in result.stderr, result.stderr[-3000:]


def test_command_line_config_wins_over_the_scale_overlay():
    """`--config device=cuda` must reach the jobs although the quick overlay says device: cpu."""
    args = ("-n", "--forceall", "--profile", "profiles/local", "results/train/adamw_add/metrics.h5")
    quick = snakemake(*args)
    cuda = snakemake(*args, "--config", "device=cuda")
    assert quick.returncode == 0 and cuda.returncode == 0, cuda.stderr[-3000:]
    assert "--device cpu" in quick.stdout and "--device cuda" in cuda.stdout
    tf32 = snakemake(*args, "--config", "matmul_precision=tf32")
    assert "--matmul-precision fp32" in quick.stdout and "--matmul-precision tf32" in tf32.stdout
    segment = ("-n", "--forceall", "--profile", "profiles/local", "results/wlmd/grok_add/seg0/merged.h5")
    compiled = snakemake(*segment, "--config", "epoch_capture=compiled")
    assert compiled.returncode == 0 and "--capture compiled" in compiled.stdout, compiled.stderr[-3000:]


@pytest.mark.parametrize(
    "override,message",
    [
        ({"split_seed": "abc"}, "config error at split_seed: 'abc' is not of type 'integer'"),
        ({"fractions": [0.5, 1.5]}, "config error at fractions.1: 1.5 is greater than or equal to the maximum of 1"),
        ({"tasks": {"evil": "__import__('os').getcwd()"}}, "config error at tasks.evil: task 'evil'"),
        ({"wand": {"task": "nosuch"}}, "config error at wand.task: 'nosuch' is not an expression task"),
        ({"wand": {"task": "ising"}}, "config error at wand.task: 'ising' is not an expression task"),
        ({"tasks": {"ising": {"kind": "ising", "L": 7}}}, "config error at tasks.ising"),
        ({"ising": {"task": "add"}}, "config error at ising.task: 'add' is not a task of kind ising"),
    ],
)
def test_config_errors_stop_the_run_with_one_clear_line(tmp_path, override, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(override))
    result = snakemake("all", "-n", "--configfile", str(path))
    assert result.returncode != 0
    assert message in result.stderr


@pytest.fixture(scope="module")
def finished_quick_run(tmp_path_factory):
    """A fresh copy of the repository after `snakemake --profile profiles/local all`."""
    work = copy_repo(tmp_path_factory.mktemp("quick"))
    result = snakemake("--profile", "profiles/local", "all", cwd=work, timeout=2400)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    return work


@pytest.mark.e2e
def test_quick_scale_end_to_end(finished_quick_run):
    work = finished_quick_run
    figures = work / "results" / "figures"
    quick_wlmd = yaml.safe_load((REPO_PATH / "config.yaml").read_text())["scales"]["quick"]["wlmd"]
    pngs = []
    for n in range(1, 9):
        for ext in ("pdf", "png"):
            path = figures / f"fig{n}.{ext}"
            assert path.stat().st_size > 1000, path
        pngs.append((figures / f"fig{n}.png").read_bytes())
    assert len(set(pngs)) == 8  # distinct figures
    assert (figures / "landscape_summary.csv").stat().st_size > 0
    assert (figures / "kozyrev.png").stat().st_size > 1000
    assert (work / "results" / "kozyrev" / "fits.json").exists()
    for name in ("ising_inverse_temperature", "ising_weight_decay", "ising_dropout", "ising_pca", "ising_landscape"):
        assert (figures / f"{name}.png").stat().st_size > 1000, name
        assert (figures / f"{name}.csv").stat().st_size > 0, name
    summary = (figures / "landscape_summary.csv").read_text()
    assert "dense_ising" in summary
    rows = {row["name"]: row for row in csv.DictReader(io.StringIO(summary))}
    add = rows["grok_add"]  # the claims of a restrained map carry bootstrap errors
    assert add["method"] == "restrained" and float(add["stderr_max"]) > 0
    assert all(add[key] != "" and np.isfinite(float(add[key])) for key in ("advantage_se", "barrier_se"))
    widths = yaml.safe_load((REPO_PATH / "config.yaml").read_text())["wlmd"]["shell"]["widths"]
    figure_maps = ("grok_add", "grok_square", "grok_cubic", *(f"shell_w{w}" for w in widths))
    assert all(rows[name]["method"] == "restrained" for name in figure_maps)  # Figures 1-2
    assert rows["dense_ising"]["method"] == "wang_landau" and rows["dense_ising"]["advantage_se"] == ""
    for landscape in (*figure_maps, "dense_ising"):
        with h5py.File(work / "results" / "wlmd" / landscape / "landscape.h5") as h5:
            entropy = h5["entropy"][()]
            assert {"entropy", "histogram", "x_edges", "y_edges", "walker_entropy"} <= set(h5.keys())
            assert np.nanmin(entropy) == 0.0 and np.isnan(entropy).any()
            assert "torch_version" in h5.attrs
            if landscape in figure_maps:  # restrained windows: the lattice's table, SE map and bootstrap
                lattice = json.loads(h5.attrs["spec"])["restrained"]
                table = h5["restrained/table"]
                assert len(table["window"]) == lattice["x_windows"] * len(lattice["accuracies"])
                assert set(table) >= {"force_x", "force_se_y", "flags"} and "windows" not in h5
                stderr = h5["stderr"][()]  # defined exactly where the map is, and positive off the gauge
                assert np.array_equal(np.isfinite(stderr), np.isfinite(entropy)) and np.nanmax(stderr) > 0
                assert h5["restrained/bootstrap"].shape == (200, len(h5["restrained/points"]))
            if landscape == "grok_add":  # Fig 1a: two segments, from 0 down past the 0.9-accuracy loss
                restrained = quick_wlmd["restrained"]
                assert lattice["x_windows"] == restrained["x_windows"]
                assert h5.attrs["epochs_per_walker"] == restrained["epochs"] and h5.attrs["segments"] == 2
                x_covered = h5["x_edges"][()][:-1][np.isfinite(entropy).any(axis=1)]
                assert x_covered.min() < -9 and x_covered.max() > 0
        assert (figures / f"convergence_{landscape}.png").exists()
    report = snakemake("--profile", "profiles/local", "--report", "results/report.html", cwd=work)
    assert report.returncode == 0, report.stderr[-3000:]
    assert (work / "results" / "report.html").stat().st_size > 10_000


def planned_jobs(output: str) -> set[tuple[str, str]]:
    """(rule, wildcards) of every job in a dry run's output (wildcards '' for a rule without any)."""
    jobs = set()
    for block in re.split(r"^(?:local)?rule ", output, flags=re.M)[1:]:
        rule = block.split(":", 1)[0].strip()
        wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.M)
        jobs.add((rule, wildcards.group(1).strip() if wildcards else ""))
    return jobs


def dry_run_after_editing(work, edit) -> set[tuple[str, str]]:
    """The jobs a dry run plans after `edit(raw_config)` is saved to config.yaml (restored after)."""
    path = work / "config.yaml"
    original = path.read_text()
    raw = yaml.safe_load(original)
    edit(raw)
    try:
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        result = snakemake("--profile", "profiles/local", "all", "-n", cwd=work)
    finally:
        path.write_text(original)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return planned_jobs(result.stdout)


@pytest.mark.e2e
def test_a_finished_run_has_nothing_left_to_do(finished_quick_run):
    result = snakemake("--profile", "profiles/local", "all", "-n", cwd=finished_quick_run)
    assert result.returncode == 0 and "Nothing to be done" in result.stdout + result.stderr, result.stdout[-3000:]


@pytest.mark.e2e
def test_a_changed_spec_names_its_changed_keys_in_one_line(finished_quick_run):
    """Snakemake's own reason prints both JSON forms of a changed spec; ours names the keys."""
    path = finished_quick_run / "config.yaml"
    original = path.read_text()
    raw = yaml.safe_load(original)
    raw["scales"]["quick"]["wlmd"]["restrained"]["friction"] = 0.01
    raw["scales"]["quick"]["training"]["steps"] = 900
    try:
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        result = snakemake("--profile", "profiles/local", "all", "-n", cwd=finished_quick_run)
    finally:
        path.write_text(original)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("rerun: ")]
    assert (
        "rerun: landscape grok_add changed since results/wlmd/grok_add/landscape.h5 was made: "
        "restrained.friction 0.005 -> 0.01" in lines
    )
    assert any(line.startswith("rerun: run adamw_add ") and "steps 800 -> 900" in line for line in lines)
    assert all(len(line) < 400 for line in lines)


@pytest.mark.e2e
def test_adding_a_fraction_reruns_only_the_new_sweep_runs_and_their_figures(finished_quick_run):
    jobs = dry_run_after_editing(finished_quick_run, lambda raw: raw["fractions"].append(0.9))
    new_runs = {("train", f"run={sweep}_{opt}_f0.9") for sweep in ("fig7", "fig8") for opt in ("adamw", "hybrid")}
    assert jobs == new_runs | {("figure", "figure=fig7"), ("figure", "figure=fig8"), ("all", "")}


@pytest.mark.e2e
def test_adding_a_task_reruns_only_that_tasks_jobs_and_the_figures_that_show_it(finished_quick_run):
    jobs = dry_run_after_editing(finished_quick_run, lambda raw: raw["tasks"].update(sub="x - y"))
    landscape = "landscape=grok_sub"
    n_segments, n_groups = restrained_quick_jobs(yaml.safe_load((REPO_PATH / "config.yaml").read_text()))
    segments = {
        ("wlmd_segment", f"{landscape}, seg={s}, group={g}") for s in range(n_segments) for g in range(n_groups)
    }
    merges = {("wlmd_merge", f"{landscape}, seg={s}") for s in range(n_segments)}
    figures = {("figure", f"figure={name}") for name in ("fig1", "fig4", "fig5")}
    assert (
        jobs
        == {
            ("dataset", "task=sub"),
            ("train_start", "run=adamw_sub"),
            ("wlmd_landscape", landscape),
            ("convergence", landscape),
            ("landscape_summary", ""),
            ("all", ""),
        }
        | segments
        | merges
        | figures
    )


@pytest.mark.e2e
def test_changing_one_sweeps_setting_reruns_only_its_runs_and_figure(finished_quick_run):
    jobs = dry_run_after_editing(finished_quick_run, lambda raw: raw["sweeps"]["fig8"]["hybrid"].update(kT=0.9))
    fractions = yaml.safe_load((REPO_PATH / "config.yaml").read_text())["fractions"]
    runs = {("train", f"run=fig8_hybrid_f{f:g}") for f in fractions}
    assert jobs == runs | {("figure", "figure=fig8"), ("all", "")}


@pytest.mark.e2e
def test_more_epochs_for_one_landscape_add_segments_to_it_and_redo_nothing(finished_quick_run):
    def longer_cubic(raw):  # 300 -> 600 epochs per window: a second segment of 300 (one group of 12)
        raw["scales"]["quick"]["wlmd"]["grokking"]["restrained_by_task"]["cubic"]["epochs"] = 600

    jobs = dry_run_after_editing(finished_quick_run, longer_cubic)
    landscape = "landscape=grok_cubic"
    assert jobs == {
        ("wlmd_segment", f"{landscape}, seg=1, group=0"),
        ("wlmd_merge", f"{landscape}, seg=1"),
        ("wlmd_landscape", landscape),
        ("convergence", landscape),
        ("figure", "figure=fig1"),
        ("landscape_summary", ""),
        ("all", ""),
    }


@pytest.mark.e2e
def test_changing_one_landscapes_sampler_reruns_only_that_landscape(finished_quick_run):
    def ising_sampler(raw):
        raw["scales"]["quick"]["ising"]["landscape"]["sampler"] = {"kT": 0.5}

    jobs = dry_run_after_editing(finished_quick_run, ising_sampler)
    landscape = "landscape=dense_ising"
    segments = {("wlmd_segment", f"{landscape}, seg={s}, group=0") for s in range(2)}  # no windows: one group
    merges = {("wlmd_merge", f"{landscape}, seg={s}") for s in range(2)}
    assert jobs == segments | merges | {
        ("wlmd_landscape", landscape),
        ("convergence", landscape),
        ("figure", "figure=ising_landscape"),
        ("landscape_summary", ""),
        ("all", ""),
    }


def test_profile_install_makes_profile_slurm_resolve_by_name(tmp_path):
    """`snakemake --profile slurm` (the documented command) works after profiles/install.sh."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    subprocess.run(["bash", os.path.join(REPO, "profiles", "install.sh")], check=True, env=env, capture_output=True)
    assert (tmp_path / "config" / "snakemake" / "slurm" / "profile.yaml").exists()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "results/data/add.h5",
            "--profile",
            "slurm",
            "-n",
            "--forceall",
            "--quiet",
            "rules",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(result.stdout + result.stderr) == {"dataset": 1}
