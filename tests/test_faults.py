"""Fault injection: bad inputs and diverging runs are refused with one clear line, and nothing
is written in place of a real result (issue 13). Each case failed silently (or with a raw
traceback) before the checks existed."""

import copy
import json
import os
import re
import subprocess
import sys

import h5py
import pytest
import yaml
from test_wlmd_segment_merge import make_spec, quiet

from grokglass.data.arithmetic import Task, write_dataset
from grokglass.data.expressions import TaskError, parse_expression
from grokglass.errors import DivergenceError, InputError
from grokglass.io import atomic_path
from grokglass.jobs.merge import MergeError, merge_segment, write_landscape
from grokglass.jobs.segment import run_segment
from grokglass.pipeline import config as C

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    paths = {}
    for name, expression in (("add", "x + y"), ("square", "x**2 + y**2")):
        paths[name] = folder / f"{name}7.h5"
        write_dataset(paths[name], Task(name, expression, 7), split_seed=0)
    return paths


@pytest.fixture(scope="module")
def two_landscapes(datasets, tmp_path_factory):
    """Segment 0 (one group of 2 walkers) merged, for an 'add' and a 'square' landscape."""
    folder = tmp_path_factory.mktemp("landscapes")
    out = {}
    for name in ("add", "square"):
        spec = make_spec(datasets[name], name=f"grok_{name}", task=name, walkers=2, walkers_per_job=2)
        files = {k: folder / f"{name}_{k}" for k in ("state.pt", "group0.h5", "merged.h5")}
        run_segment(spec, 0, 0, None, None, files["state.pt"], files["group0.h5"], device="cpu", log=quiet)
        merge_segment(spec, 0, [files["group0.h5"]], None, files["merged.h5"], log=quiet)
        out[name] = (spec, files)
    return out


def segment_1(spec, merged, state, tmp_path):
    run_segment(spec, 1, 0, merged, state, tmp_path / "s.pt", tmp_path / "e.h5", device="cpu", log=quiet)


# ----- 1. another landscape's files ------------------------------------------------------------
def test_a_segment_refuses_another_landscapes_merged_file(two_landscapes, tmp_path):
    (add, add_files), (_, square_files) = two_landscapes["add"], two_landscapes["square"]
    with pytest.raises(
        InputError,
        match=r"merged\.h5: this merged landscape belongs to landscape 'grok_square', not 'grok_add' \(data: ",
    ):
        segment_1(add, square_files["merged.h5"], add_files["state.pt"], tmp_path)
    with pytest.raises(InputError, match=r"state\.pt: this walker state belongs to landscape 'grok_square'"):
        segment_1(add, add_files["merged.h5"], square_files["state.pt"], tmp_path)
    assert not list(tmp_path.iterdir())  # nothing written


def test_a_box_landscape_refuses_a_shell_landscapes_file(two_landscapes, tmp_path):
    add, files = two_landscapes["add"]
    shell = copy.deepcopy(add)
    shell["sampler"].update(constraint="shell")
    with pytest.raises(
        InputError,
        match=r"other settings of landscape 'grok_add' \(sampler\.constraint: file \"bounds\", spec \"shell\"\)",
    ):
        segment_1(shell, files["merged.h5"], files["state.pt"], tmp_path)


def test_merge_and_landscape_refuse_mixed_inputs(two_landscapes, tmp_path):
    (add, _), (_, square_files) = two_landscapes["add"], two_landscapes["square"]
    with pytest.raises(MergeError, match=r"group0\.h5: this group entropy file belongs to landscape 'grok_square'"):
        merge_segment(add, 0, [square_files["group0.h5"]], None, tmp_path / "m.h5", log=quiet)
    with pytest.raises(MergeError, match=r"this merged landscape belongs to landscape 'grok_square'"):
        write_landscape(add, square_files["merged.h5"], tmp_path / "landscape.h5", log=quiet)
    assert not list(tmp_path.iterdir())


# ----- 2. a diverging sampler -------------------------------------------------------------------
@pytest.mark.parametrize("dt", [10.0, 1e30])
def test_a_diverging_sampler_stops_before_writing(datasets, tmp_path, dt):
    spec = make_spec(datasets["add"], walkers=2, walkers_per_job=2)
    spec["sampler"]["dt"] = dt
    with pytest.raises(
        DivergenceError, match=r"walker \d at epoch \d+: kinetic energy per parameter .* x kT/2 .*dt = .* too large"
    ):
        run_segment(spec, 0, 0, None, None, tmp_path / "s.pt", tmp_path / "e.h5", device="cpu", log=quiet)
    assert not list(tmp_path.iterdir())


def test_a_diverging_sampler_behind_hard_walls_stops_before_writing(tmp_path):
    """The quick x + y landscape (four windows with hard walls) at dt = 10, a typo for 1e-3: the walls
    put the walkers back and cap their speed, so their kinetic energy stays near kT/2; the
    put-back and jump counts stop the job instead, with the step named."""
    from grokglass.pipeline import experiment as E

    with open(os.path.join(ROOT, "config.yaml")) as fh:
        raw = yaml.safe_load(fh)
    raw["scales"]["quick"]["wlmd"]["grokking"]["method"] = "wang_landau"  # x + y on its WL windows
    quick = E.build(C.resolve({**raw, "scale": "quick"}))
    spec = json.loads(json.dumps(quick.landscapes["grok_add"].segment_job_dict()))
    assert spec["windows"]["walls"] == "hard"
    spec["data"] = str(tmp_path / "add31.h5")
    write_dataset(spec["data"], Task("add", "x + y", raw["scales"]["quick"]["p"]), split_seed=0)
    spec["sampler"]["dt"] = 10.0
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(
        DivergenceError,
        match=r"walker \d at epoch \d+: put back at a hard wall in \d+ and moved x by over 10 bins in \d+ of the "
        r"last \d+ epochs; the step dt = 10 is most likely too large",
    ):
        run_segment(spec, 0, 3, None, None, out / "s.pt", out / "e.h5", device="cpu", log=quiet)
    assert not list(out.iterdir())


def test_walkers_pinned_outside_the_grid_stop_the_job(datasets, tmp_path):
    """A grid that misses where the walkers are (x = ln CE ~ 0.7 at init, grid x in [-6, -2])."""
    spec = make_spec(datasets["add"], walkers=2, walkers_per_job=2)
    spec["grid"] = {**spec["grid"], "x": [-6.0, -2.0], "bias_start": -2.5}
    spec["sampler"]["max_epochs_outside"] = 20
    with pytest.raises(DivergenceError, match=r"outside the grid \(x -6\.\.-2\) for \d+ consecutive epochs"):
        run_segment(spec, 0, 0, None, None, tmp_path / "s.pt", tmp_path / "e.h5", device="cpu", log=quiet)
    assert not list(tmp_path.iterdir())


# ----- 3. config that would be ignored ----------------------------------------------------------
@pytest.fixture(scope="module")
def raw():
    with open(os.path.join(ROOT, "config.yaml")) as fh:
        return yaml.safe_load(fh)


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda c: c.update(wlmdd={}), "config error at wlmdd: unknown key 'wlmdd' (did you mean 'wlmd'?)"),
        (
            lambda c: c["wlmd"]["sampler"].update(dtt=1),
            "config error at wlmd.sampler.dtt: unknown key 'dtt' (did you mean 'dt'?)",
        ),
        (lambda c: c["wlmd"]["grid"].update(bin=1), "config error at wlmd.grid.bin: unknown key 'bin'"),
        (
            lambda c: c["scales"]["quick"]["wlmd"].update(walkrs=2),
            "config error at scales.quick.wlmd.walkrs: unknown key",
        ),
        (
            lambda c: c["ising"]["landscape"].setdefault("sampler", {}).update(kt=1),
            "config error at ising.landscape.sampler.kt",
        ),
        (lambda c: c.update(p=4), "config error at p: 4 is not prime"),
    ],
)
def test_config_typos_and_a_composite_p_are_refused(raw, mutate, message):
    bad = copy.deepcopy(raw)
    mutate(bad)
    with pytest.raises(C.ConfigError) as err:
        C.resolve(bad)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_a_value_in_an_extra_configfile_wins_over_the_scale_overlay(raw, tmp_path):
    extra = tmp_path / "more.yaml"
    extra.write_text("wlmd: {walkers: 6}\n")
    merged = C.deep_merge({**copy.deepcopy(raw), "scale": "quick"}, {"wlmd": {"walkers": 6}})  # as Snakemake merges
    overrides = C.user_overrides([os.path.join(ROOT, "config.yaml"), extra], os.path.join(ROOT, "config.yaml"), {})
    assert C.resolve(merged, command_line=overrides)["wlmd"]["walkers"] == 6
    assert C.resolve(merged)["wlmd"]["walkers"] == raw["scales"]["quick"]["wlmd"]["walkers"]  # without: the overlay


@pytest.mark.parametrize(
    "setting,message",
    [
        ("wlmdd=1", "config error at wlmdd: unknown key 'wlmdd' (did you mean 'wlmd'?)"),
        ("device=5", "config error at device: 5 is not of type 'string'"),  # a value of the wrong type
        ("wlmd=3", "config error at wlmd: 3 is not of type 'object'"),
    ],
)
def test_a_bad_command_line_value_is_one_line(setting, message):
    result = subprocess.run(
        ["snakemake", "-n", "--profile", "profiles/local", "--config", setting],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert message in result.stdout + result.stderr and "Traceback" not in result.stdout + result.stderr


# ----- 4. corrupt inputs and bad arguments: one line, no traceback -------------------------------
def cli(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": os.path.join(ROOT, "workflow")}
    return subprocess.run(
        [sys.executable, "-m", "grokglass", *args], capture_output=True, text=True, env=env, timeout=300, cwd=cwd
    )


def assert_one_line_error(result, *needles):
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def segment_args(spec, merged, state, tmp_path):
    return [
        "wlmd-segment", "--spec-json", json.dumps(spec), "--segment", "1", "--group", "0",
        "--prev-merged", str(merged), "--prev-state", str(state),
        "--out-state", str(tmp_path / "s.pt"), "--out-entropy", str(tmp_path / "e.h5"), "--device", "cpu",
    ]  # fmt: skip


def test_a_truncated_merged_file_is_named(two_landscapes, tmp_path):
    spec, files = two_landscapes["add"]
    truncated = tmp_path / "merged.h5"
    truncated.write_bytes(files["merged.h5"].read_bytes()[:1000])
    result = cli(*segment_args(spec, truncated, files["state.pt"], tmp_path))
    assert_one_line_error(result, str(truncated), "merged landscape is not a readable HDF5 file")


def test_a_garbage_state_file_is_named_and_never_unpickled_unsafely(two_landscapes, tmp_path):
    spec, files = two_landscapes["add"]
    garbage = tmp_path / "group0.pt"
    garbage.write_bytes(b"\x80\x04not a torch file at all" * 10)
    result = cli(*segment_args(spec, files["merged.h5"], garbage, tmp_path / "x"))
    assert_one_line_error(result, str(garbage), "not a walker state written by grokglass")
    assert "weights_only=False" not in result.stderr


def test_missing_inputs_and_bad_json_are_one_line(two_landscapes, tmp_path):
    spec, files = two_landscapes["add"]
    result = cli(*segment_args(spec, tmp_path / "nowhere.h5", files["state.pt"], tmp_path))
    assert_one_line_error(result, "nowhere.h5: merged landscape not found")
    result = cli("wlmd-segment", "--spec-json", "{not json", "--segment", "0", "--group", "0",
                 "--out-state", "s", "--out-entropy", "e")  # fmt: skip
    assert_one_line_error(result, "--spec-json is not valid JSON")
    result = cli(
        *segment_args(
            {**spec, "sampler": {**spec["sampler"], "dtt": 1}}, files["merged.h5"], files["state.pt"], tmp_path
        )
    )
    assert_one_line_error(result, "sampler settings: unknown keys ['dtt']")
    assert not (tmp_path / "e.h5").exists()


RUN_JSON = json.dumps(
    {"name": "x", "task": "add", "fraction": 0.5, "optimizer": "adamw", "steps": 2, "seed": 0, "log_every": 1,
     "slope": 7.0, "lr": 0.01, "weight_decay": 1.0, "model": {"kind": "transformer", "d_model": 8, "n_heads": 1}}
)  # fmt: skip


def truncated_dataset(datasets, folder):
    path = folder / "truncated.h5"
    path.write_bytes(datasets["add"].read_bytes()[:1000])
    return str(path)


# every command of `python -m grokglass --help` with a bad input: one line, exit 2, no traceback
# (wlmd-segment: the tests above)
BAD_INPUTS = {
    "dataset": lambda d, t: (["dataset", "--task", "t", "--expression", "x + y", "--p", "4", "--out", str(t / "d.h5")], "not prime"),
    "train": lambda d, t: (["train", "--data", truncated_dataset(d, t), "--run-json", RUN_JSON, "--metrics", str(t / "m.h5"),
                            "--checkpoint", str(t / "m.pt"), "--device", "cpu"], "dataset is not a readable HDF5 file"),
    "check-config": lambda d, t: (["check-config", str(t / "nowhere.yaml")], "cannot read"),
    "figure": lambda d, t: (["figure", "fig4", "--args-json", json.dumps({"dataset_paths": [str(t / "no.h5")], "titles": ["a"],
                             "fraction": 0.5, "out_prefix": str(t / "f")})], "no.h5: dataset not found"),
    "wlmd-merge": lambda d, t: (["wlmd-merge", "--spec-json", json.dumps(make_spec(d["add"])), "--segment", "0",
                                 "--inputs", str(t / "no.h5"), "--out", str(t / "m.h5")], "no.h5"),
    "wlmd-landscape": lambda d, t: (["wlmd-landscape", "--spec-json", json.dumps(make_spec(d["add"])),
                                     "--merged", str(t / "no.h5"), "--out", str(t / "l.h5")], "no.h5"),
    "bench": lambda d, t: (["bench", "wlmd", "--walkers", "0"], "--walkers and --epochs must be >= 1"),
    "summarize": lambda d, t: (["summarize", str(t / "no.h5")], "no.h5: metrics table not found"),
    "kozyrev": lambda d, t: (["kozyrev", "--table", str(t / "t.csv"), "--fits", str(t / "f.json"), str(t / "no.h5")], "not found"),
    "ising-dataset": lambda d, t: (["ising-dataset", "--out", str(t / "i.h5"), "--L", "1"], "even lattice size"),
    "ising-snapshots": lambda d, t: (["ising-snapshots", "--data", str(t / "no.h5"), "--spec-json", "{}", "--out", str(t / "o.h5")],
                                     "--spec-json is not a snapshot spec"),
    "device-check": lambda d, t: (["device-check", "--device", "nosuch", "--out", str(t / "o")], "is not one of auto, cpu, cuda"),
}  # fmt: skip


def test_every_command_is_covered_by_a_bad_input():
    result = cli("--help")
    commands = set(re.search(r"\{([a-z,-]+)\}", result.stdout).group(1).split(","))
    assert commands == {*BAD_INPUTS, "wlmd-segment"}


@pytest.mark.parametrize("command", sorted(BAD_INPUTS))
def test_every_command_gives_one_line_for_a_bad_input(command, datasets, tmp_path):
    args, needle = BAD_INPUTS[command](datasets, tmp_path)
    result = cli(*args)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], result.stderr[-2000:]


def test_an_unexpected_error_keeps_its_traceback(tmp_path):
    result = cli("device-check", "--device", "cpu", "--out", "/proc/no/such/place", "--budget-s", "0.1")
    assert result.returncode != 0 and "Traceback" in result.stderr


# ----- 5. costly expressions ----------------------------------------------------------------------
@pytest.mark.parametrize("expression", ["((x**64)**64)**64", "(x**64)**64 * (y**64)**64"])
def test_costly_expressions_are_refused_before_any_job(expression):
    with pytest.raises(TaskError, match="too"):
        parse_expression("t", expression, 67)


# ----- 6. debris of a killed write -------------------------------------------------------------
def test_a_killed_writes_temporary_is_removed_by_the_next_write(tmp_path):
    out = tmp_path / "merged.h5"
    debris = tmp_path / ".merged.h5.abc123.tmp"  # what atomic_path leaves when SIGKILLed
    debris.touch()
    other = tmp_path / ".other.h5.abc123.tmp"
    other.touch()
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as h5:
        h5["x"] = 1
    assert out.exists() and not debris.exists()
    assert other.exists()  # another output's temporary is left alone


def test_a_walker_pressed_on_a_hard_wall_is_not_a_divergence():
    """Measured at the reduced scale: a shell walker that its entropy presses on its window's top
    wall is put back in 499 of 500 epochs, with small steps. Only leaping steps mean a dt too large."""
    from grokglass.wlmd.sampler import _walls_hide_a_divergence

    assert not _walls_hide_a_divergence(put_backs=499, jumps=0, epochs=500)  # pressed on the wall
    assert _walls_hide_a_divergence(put_backs=499, jumps=120, epochs=500)  # put back, and leaping
    assert _walls_hide_a_divergence(put_backs=0, jumps=480, epochs=500)  # leaping without walls' help
    assert not _walls_hide_a_divergence(put_backs=300, jumps=300, epochs=500)  # neither in most epochs
