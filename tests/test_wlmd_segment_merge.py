"""WLMD segments and merges at tiny scale: files, reproducibility, atomicity, checks."""

import argparse
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from grokglass.data.arithmetic import Task, write_dataset
from grokglass.errors import SpecError
from grokglass.jobs import merge as merge_module
from grokglass.jobs import segment as segment_module
from grokglass.jobs.merge import MergeError, merge_segment
from grokglass.jobs.segment import run_segment
from grokglass.pipeline.specs import LandscapeSpec
from grokglass.wlmd.landscape import max_entropy_curve

pytestmark = pytest.mark.usefixtures("one_thread")


def quiet(line):
    pass


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "add7.h5"
    write_dataset(path, Task("add", "x + y", 7), split_seed=0)
    return path


def make_spec(dataset, **overrides) -> dict:
    spec = {
        "name": "tiny",
        "task": "add",
        "data": str(dataset),
        "fraction": 0.5,
        "model": {"d_model": 8, "n_heads": 4},
        "walkers": 3,
        "walkers_per_job": 2,
        "segments": 2,
        "epochs_per_segment": 30,
        "seed": 11,
        "sampler": {
            "dt": 1e-3,
            "friction": 0.01,
            "kT": 1.0,
            "wl_factor": 2.0,
            "t_rise": 10,
            "t_drop": 40,
            "constraint": "bounds",
            "bound_scale": 2.0,
            "shell_norm": 30.0,
            "share": "chunk",
            "log_every": 10,
        },
        "slope": 7.0,
        "y_scale": 10.0,
        "grid": {
            "x": [-3.0, 2.0],
            "y": [-0.6, 10.6],
            "bin_width": 0.2,
            "bias_strength": 3000.0,
            "bias_start": 0.6,
            "gaussian_sigma_bins": 1.0,
            "gaussian_cutoff_sigmas": 3.0,
        },
    }
    spec.update(overrides)
    return spec


def read_h5(path) -> dict:
    with h5py.File(path, "r") as h5:
        out = {}
        h5.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        return out


def assert_same_datasets(a, b):
    da, db = read_h5(a), read_h5(b)
    assert da.keys() == db.keys()
    for key in da:
        assert np.array_equal(da[key], db[key], equal_nan=True), key


def seg_paths(root, segment, group):
    return root / f"seg{segment}" / f"group{group}.state", root / f"seg{segment}" / f"group{group}.h5"


def run_landscape(spec, root, log=quiet) -> list:
    """All segments and merges of a landscape, the way the workflow chains them."""
    merged = None
    rows = []
    groups = -(-spec["walkers"] // spec["walkers_per_job"])
    for segment in range(spec["segments"]):
        entropies = []
        for group in range(groups):
            state, entropy = seg_paths(root, segment, group)
            prev_state = seg_paths(root, segment - 1, group)[0] if segment else None
            partner = LandscapeSpec.from_dict(spec).exchange_partner(segment, group)
            partner_state = seg_paths(root, segment - 1, partner)[0] if partner is not None else None
            run_segment(
                spec,
                segment,
                group,
                merged,
                prev_state,
                state,
                entropy,
                device="cpu",
                log=log,
                prev_partner_state=partner_state,
            )
            entropies.append(entropy)
        out = root / f"seg{segment}" / "merged.h5"
        landscape = root / "landscape.h5" if segment == spec["segments"] - 1 else None
        rows.append(merge_segment(spec, segment, entropies, merged, out, landscape, log=log))
        merged = out
    return rows


def test_groups_partition_the_walkers(dataset):
    spec = make_spec(dataset, walkers=5, walkers_per_job=2)
    assert [LandscapeSpec.from_dict(spec).group_walker_ids(g) for g in range(3)] == [[0, 1], [2, 3], [4]]
    with pytest.raises(ValueError, match="group 3 out of range"):
        LandscapeSpec.from_dict(spec).group_walker_ids(3)


def test_segment_is_bit_identical_on_rerun(dataset, tmp_path):
    spec = make_spec(dataset)
    for name in ("a", "b"):
        run_segment(
            spec, 0, 0, None, None, tmp_path / name / "s.state", tmp_path / name / "e.h5", device="cpu", log=quiet
        )
    assert_same_datasets(tmp_path / "a" / "e.h5", tmp_path / "b" / "e.h5")
    a = torch.load(tmp_path / "a" / "s.state", weights_only=True)
    b = torch.load(tmp_path / "b" / "s.state", weights_only=True)
    for key in ("params", "velocity"):
        assert torch.equal(a["walkers"][key], b["walkers"][key])
    assert all(torch.equal(x, y) for x, y in zip(a["walkers"]["generator_states"], b["walkers"]["generator_states"]))
    assert a["walkers"]["epoch"] == 30 and a["segment"] == 0
    assert a["spec"] == LandscapeSpec.from_dict(spec).to_dict()
    with h5py.File(tmp_path / "a" / "e.h5", "r") as h5:
        assert h5["learned_entropy"].shape == (2, 25, 56)
        assert h5["histogram"][()].sum() == 2 * 30
        assert list(h5["walker_ids"][()]) == [0, 1]
        assert (h5.attrs["epochs_start"], h5.attrs["epochs_end"]) == (0, 30)
        assert json.loads(h5.attrs["spec"]) == LandscapeSpec.from_dict(spec).to_dict()
        assert h5.attrs["device"] == "cpu"


def test_interrupted_segment_leaves_no_output(dataset, tmp_path, monkeypatch):
    real_run_epochs = segment_module.run_epochs

    def run_then_die(*args, **kwargs):
        real_run_epochs(*args, **kwargs)
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(segment_module, "run_epochs", run_then_die)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(KeyboardInterrupt):
        run_segment(make_spec(dataset), 0, 0, None, None, out / "s.state", out / "e.h5", device="cpu", log=quiet)
    assert list(out.iterdir()) == []  # neither output nor a temporary file


def test_log_callback_failure_leaves_no_output(dataset, tmp_path):
    def log(line):
        if line.startswith("epoch 20"):
            raise RuntimeError("log sink died")

    with pytest.raises(RuntimeError, match="log sink died"):
        run_segment(
            make_spec(dataset), 0, 1, None, None, tmp_path / "s.state", tmp_path / "e.h5", device="cpu", log=log
        )
    assert not (tmp_path / "s.state").exists() and not (tmp_path / "e.h5").exists()


def test_walker_is_independent_of_its_group(dataset, tmp_path):
    """Walker 1 simulated in the group {0, 1} equals walker 1 simulated alone (bit-identical on CPU)."""
    together = make_spec(dataset, walkers=2, walkers_per_job=2)
    alone = make_spec(dataset, walkers=2, walkers_per_job=1)
    run_segment(together, 0, 0, None, None, tmp_path / "t.state", tmp_path / "t.h5", device="cpu", log=quiet)
    run_segment(alone, 0, 1, None, None, tmp_path / "a.state", tmp_path / "a.h5", device="cpu", log=quiet)
    t, a = read_h5(tmp_path / "t.h5"), read_h5(tmp_path / "a.h5")
    assert list(a["walker_ids"]) == [1]
    for key in ("learned_entropy", "histogram", "final_x", "final_y"):
        assert np.array_equal(t[key][1], a[key][0]), key
    ts = torch.load(tmp_path / "t.state", weights_only=True)["walkers"]
    as_ = torch.load(tmp_path / "a.state", weights_only=True)["walkers"]
    assert torch.equal(ts["params"][1], as_["params"][0])
    assert torch.equal(ts["velocity"][1], as_["velocity"][0])


def test_two_segments_end_to_end(dataset, tmp_path):
    spec = make_spec(dataset)
    rows = run_landscape(spec, tmp_path)
    assert np.isnan(rows[0]["mean_abs_dS"]) and np.isfinite(rows[1]["mean_abs_dS"])

    merged = read_h5(tmp_path / "seg1" / "merged.h5")
    first = read_h5(tmp_path / "seg0" / "merged.h5")
    assert merged["walker_entropy"].shape == (3, 25, 56)
    assert np.allclose(merged["mean_entropy"], merged["walker_entropy"].mean(0))
    assert merged["histogram"].sum() == 3 * 30
    assert np.array_equal(merged["cumulative_histogram"], first["histogram"] + merged["histogram"])
    assert list(merged["convergence/segment"]) == [0, 1]
    assert list(merged["convergence/epochs_per_walker"]) == [30, 60]
    # K/N at each segment's end, mean and max over the walkers: near kT/2 = 0.5 in a sane run
    kinetic, kinetic_max = merged["convergence/kinetic_per_param"], merged["convergence/kinetic_per_param_max"]
    assert np.all((kinetic > 0.3) & (kinetic <= kinetic_max) & (kinetic_max < 0.8))
    groups = [read_h5(tmp_path / "seg1" / f"group{g}.h5")["final_kinetic_per_param"] for g in (0, 1)]
    assert np.isclose(kinetic_max[1], np.concatenate(groups).max())
    assert np.isclose(kinetic[1], np.concatenate(groups).mean())

    with h5py.File(tmp_path / "landscape.h5", "r") as h5:
        for name in (
            "entropy",
            "histogram",
            "x_edges",
            "y_edges",
            "walker_entropy",
            "max_entropy_y",
            "convergence/mean_abs_dS",
            "convergence/maxent_shift_bins",
            "convergence/flatness",
        ):
            assert name in h5, name
        entropy = h5["entropy"][()]
        histogram = h5["histogram"][()]
        assert entropy.shape == (25, 56) and entropy.dtype == np.float64
        assert h5["x_edges"].shape == (26,) and h5["y_edges"].shape == (57,)
        assert np.isclose(h5["y_edges"][0], -0.06) and np.isclose(h5["y_edges"][-1], 1.06)  # accuracy units
        assert np.isclose(h5["x_edges"][0], -3.0)
        assert h5.attrs["epochs_per_walker"] == 60
        assert h5.attrs["walkers"] == 3 and h5.attrs["segments"] == 2 and h5.attrs["seed"] == 11
        assert h5.attrs["y_scale"] == 10.0
        assert json.loads(h5.attrs["sampler"])["dt"] == 1e-3
        assert json.loads(h5.attrs["grid"])["bin_width"] == 0.2
        assert h5.attrs["torch_version"] == torch.__version__
        assert "grokglass_version" in h5.attrs and h5.attrs["sampling_device"] == "cpu"

    visited = (histogram > 0) | (merged["mean_entropy"] > 1e-4)
    assert visited.any() and (~visited).any()
    assert np.nanmin(entropy) == 0.0
    assert np.isnan(entropy[~visited]).all() and np.isfinite(entropy[visited]).all()
    assert np.allclose(entropy[visited], merged["mean_entropy"][visited] - merged["mean_entropy"][visited].min())


def test_segment_refuses_a_wrong_previous_state(dataset, tmp_path):
    spec = make_spec(dataset, walkers=2, walkers_per_job=1)
    run_segment(spec, 0, 0, None, None, tmp_path / "s0.state", tmp_path / "e0.h5", device="cpu", log=quiet)
    run_segment(spec, 0, 1, None, None, tmp_path / "s1.state", tmp_path / "e1.h5", device="cpu", log=quiet)
    merge_segment(spec, 0, [tmp_path / "e0.h5", tmp_path / "e1.h5"], None, tmp_path / "m0.h5", log=quiet)
    with pytest.raises(ValueError, match="segment 0 group 1, expected segment 0 group 0"):
        run_segment(
            spec,
            1,
            0,
            tmp_path / "m0.h5",
            tmp_path / "s1.state",
            tmp_path / "x.state",
            tmp_path / "x.h5",
            device="cpu",
            log=quiet,
        )
    changed = make_spec(dataset, walkers=2, walkers_per_job=1, seed=12)
    with pytest.raises(
        ValueError,
        match=r"m0\.h5: this merged landscape was made with other settings of landscape 'tiny' \(seed: file 11, spec 12\)",
    ):
        run_segment(
            changed,
            1,
            0,
            tmp_path / "m0.h5",
            tmp_path / "s0.state",
            tmp_path / "x.state",
            tmp_path / "x.h5",
            device="cpu",
            log=quiet,
        )
    assert not (tmp_path / "x.h5").exists()


def test_merge_refuses_mismatched_inputs(dataset, tmp_path):
    spec = make_spec(dataset, walkers=2, walkers_per_job=1)
    for group in (0, 1):
        run_segment(
            spec, 0, group, None, None, tmp_path / f"s{group}.state", tmp_path / f"e{group}.h5", device="cpu", log=quiet
        )
    good = [tmp_path / "e0.h5", tmp_path / "e1.h5"]

    def made_with(name: str, section: str, key: str, value) -> Path:
        """A copy of group 1's file as if sampled with another grid or sampler setting."""
        bad = tmp_path / name
        shutil.copy(good[1], bad)
        with h5py.File(bad, "r+") as h5:
            stored = json.loads(h5.attrs["spec"])
            stored[section][key] = value
            h5.attrs["spec"] = json.dumps(stored)
        return bad

    bad_grid = made_with("bad_grid.h5", "grid", "bin_width", 0.1)
    with pytest.raises(
        MergeError,
        match=r"bad_grid\.h5: this group entropy file was made with other settings .*grid\.bin_width: file 0\.1",
    ):
        merge_segment(spec, 0, [good[0], bad_grid], None, tmp_path / "m.h5", log=quiet)
    bad_sampler = made_with("bad_sampler.h5", "sampler", "dt", 2e-3)
    with pytest.raises(MergeError, match=r"bad_sampler\.h5: .*sampler\.dt: file 0\.002"):
        merge_segment(spec, 0, [good[0], bad_sampler], None, tmp_path / "m.h5", log=quiet)

    with pytest.raises(MergeError, match=r"walker 0 also appears"):
        merge_segment(spec, 0, [good[0], good[0]], None, tmp_path / "m.h5", log=quiet)
    with pytest.raises(MergeError, match=r"missing \[1\]"):
        merge_segment(spec, 0, [good[0]], None, tmp_path / "m.h5", log=quiet)
    with pytest.raises(MergeError, match="segment 0, merging segment 1"):
        merge_segment(spec, 1, good, tmp_path / "none.h5", tmp_path / "m.h5", log=quiet)
    assert not (tmp_path / "m.h5").exists()
    merge_segment(spec, 0, good, None, tmp_path / "m.h5", log=quiet)  # the good inputs merge


def test_cli_entry_points(dataset, tmp_path, capsys):
    spec = make_spec(dataset, walkers=2, walkers_per_job=2, segments=1)
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec))
    parser = argparse.ArgumentParser()
    segment_module.add_arguments(parser)
    args = parser.parse_args(
        [
            "--spec-file",
            str(spec_file),
            "--segment",
            "0",
            "--group",
            "0",
            "--out-state",
            str(tmp_path / "s.state"),
            "--out-entropy",
            str(tmp_path / "e.h5"),
            "--device",
            "cpu",
        ]
    )
    assert segment_module.run(args) == 0
    assert "epoch 30" in capsys.readouterr().out
    parser = argparse.ArgumentParser()
    merge_module.add_arguments(parser)
    args = parser.parse_args(
        [
            "--spec-json",
            json.dumps(spec),
            "--segment",
            "0",
            "--inputs",
            str(tmp_path / "e.h5"),
            "--out",
            str(tmp_path / "m.h5"),
            "--landscape",
            str(tmp_path / "l.h5"),
        ]
    )
    assert merge_module.run(args) == 0
    assert (tmp_path / "l.h5").exists()
    # the separate wlmd-landscape command writes the same landscape from merged.h5
    parser = argparse.ArgumentParser()
    merge_module.landscape_command.add_arguments(parser)
    args = parser.parse_args(
        ["--spec-json", json.dumps(spec), "--merged", str(tmp_path / "m.h5"), "--out", str(tmp_path / "l2.h5")]
    )
    assert merge_module.landscape_command.run(args) == 0
    assert_same_datasets(tmp_path / "l.h5", tmp_path / "l2.h5")


def test_max_entropy_curve():
    entropy = np.array([[0.0, 2.0, 1.0], [np.nan, np.nan, np.nan], [3.0, np.nan, 0.5]])
    curve = max_entropy_curve(entropy, np.array([0.1, 0.2, 0.3]))
    assert np.allclose(curve[[0, 2]], [0.2, 0.1]) and np.isnan(curve[1])


def test_a_segment_job_needs_no_segment_count(dataset, tmp_path):
    """The rules give segment and merge jobs the spec without `segments` (more epochs add segments)."""
    full = LandscapeSpec.from_dict(make_spec(dataset))
    job = LandscapeSpec.from_dict(full.segment_job_dict())
    assert job.segments is None and job.identity() == full.identity()
    run_segment(job, 0, 0, None, None, tmp_path / "a.pt", tmp_path / "a.h5", device="cpu", log=quiet)
    run_segment(full, 0, 0, None, None, tmp_path / "b.pt", tmp_path / "b.h5", device="cpu", log=quiet)
    assert_same_datasets(tmp_path / "a.h5", tmp_path / "b.h5")
    with pytest.raises(ValueError, match="does not know the segment count"):
        _ = job.final_merged_path


def windowed_spec(dataset, **overrides):
    """Two windows of two walkers that overlap on 80 % of their width, around the x of random
    networks (the entropy's maximum, where fresh walkers stay), so that their walkers meet
    and try exchanges at once."""
    spec = make_spec(
        dataset,
        walkers=4,
        walkers_per_job=2,
        segments=4,
        epochs_per_segment=40,
        windows={"n": 2, "overlap": 0.8, "walkers_per_window": 2, "exchange_every": 40, "wall_bins": 3},
    )
    spec["sampler"].update(share="sum", dt=5e-3, wl_factor=5.0)
    spec["grid"].update(x=[-3.0, 2.0], bias_start=2.0)
    spec.update(overrides)
    return spec


def test_windowed_landscape_exchanges_and_stitches(dataset, tmp_path):
    from grokglass.wlmd.windows import embed_windows, stitch_maps

    spec = windowed_spec(dataset)
    lines = []
    run_landscape(spec, tmp_path, log=lines.append)
    assert any("walkers steered to" in line for line in lines)
    # segments 1 and 3 try exchanges between windows 0 and 1: both jobs decide the same swaps
    for segment in (1, 3):
        sides = [h5py.File(seg_paths(tmp_path, segment, g)[1], "r").attrs for g in (0, 1)]
        assert [a["exchange_partner"] for a in sides] == [1, 0]
        assert sides[0]["exchange_attempts"] == sides[1]["exchange_attempts"]
        assert sides[0]["exchange_accepted"] == sides[1]["exchange_accepted"]
    attempts = sum(int(h5py.File(seg_paths(tmp_path, s, 0)[1], "r").attrs["exchange_attempts"]) for s in (1, 3))
    assert attempts > 0
    for segment in (0, 2):  # no pair at even segments with two windows
        assert h5py.File(seg_paths(tmp_path, segment, 1)[1], "r").attrs["exchange_partner"] == -1

    with h5py.File(tmp_path / "landscape.h5", "r") as h5:
        windows = h5["windows"]
        assert windows.attrs["exchange_attempts"].tolist() == [attempts]
        ranges = [tuple(r) for r in windows.attrs["x_bins"].tolist()]
        maps = [windows[f"entropy_{w}"][()] for w in (0, 1)]
        visits = [windows[f"histogram_{w}"][()] for w in (0, 1)]
        offsets = windows.attrs["offsets"].tolist()
        entropy, histogram = h5["entropy"][()], h5["histogram"][()]
    assert ranges == [(0, 21), (4, 25)] and maps[0].shape == (21 + 2 * 3, 56)
    # the landscape is the stitch of the windows' maps with the stored offsets, min-shifted
    full, _, trusted = embed_windows((25, 56), ranges, maps, visits, 3, 2)
    stitched, again = stitch_maps(full, trusted)
    assert np.allclose(again, offsets) and offsets[0] == 0.0
    visited = np.sum(trusted, axis=0) > 0
    assert np.array_equal(np.isfinite(entropy), visited) and np.array_equal(histogram > 0, visited)
    assert np.allclose(entropy[visited], stitched[visited] - stitched[visited].min())


def test_bad_window_setups_are_clear_errors(dataset):
    with pytest.raises(SpecError, match="walkers = 4 and walkers_per_job = 2"):
        LandscapeSpec.from_dict(windowed_spec(dataset, walkers_per_job=1))
    sampler = dict(windowed_spec(dataset)["sampler"], share="chunk")
    with pytest.raises(SpecError, match="needs share sum"):
        LandscapeSpec.from_dict(windowed_spec(dataset, sampler=sampler))
    narrow = windowed_spec(dataset)
    narrow["windows"] = dict(narrow["windows"], n=2, overlap=0.01)
    with pytest.raises(SpecError, match="fewer than the .* a stitch needs"):
        LandscapeSpec.from_dict(narrow)
