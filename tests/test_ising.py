"""The Ising task (spec 10): sampler physics, dataset, dense classifier, layer analysis,
WLMD system and figures. Small lattices and few sweeps with fixed seeds (fast, CPU)."""

from __future__ import annotations

import argparse
import json
import math

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from grokglass.analysis import layers as layer_analysis
from grokglass.data import ising
from grokglass.data.arithmetic import load_split
from grokglass.data.specs import IsingDataset
from grokglass.figures.common import data_axes
from grokglass.io import get_attr_json, read_metrics, write_table
from grokglass.jobs import ising_snapshots
from grokglass.metrics import log_cross_entropy64, smoothed_accuracy
from grokglass.nets import dense
from grokglass.nets.registry import build_module
from grokglass.nets.systems import DenseSystem
from grokglass.pipeline.specs import RunSpec
from grokglass.train.loop import METRIC_COLUMNS, run_training

TINY = dict(
    L=8,
    temperatures=[1.5, 2.0, 2.3, 2.6, 3.0, 3.5, 4.0, 5.0],
    equilibration_sweeps=100,
    sample_every=5,
    samples_per_temperature=40,
    chains_per_temperature=8,
    pool_size=160,
    split_seed=0,
    seed=0,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Everything here is many small tensor ops: one thread is fastest, and far faster than two
    on a loaded machine (intra-op threads then wait on each other at every op)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_data(one_thread, tmp_path_factory):
    path = tmp_path_factory.mktemp("ising") / "ising.h5"
    summary = ising.generate_ising_dataset(path, **TINY, log=lambda s: None)
    return path, summary


def mlp_run(**extra):
    run = {
        "name": "ising_test",
        "task": "ising",
        "fraction": 0.5,
        "optimizer": "adamw",
        "lr": 1e-3,
        "weight_decay": 1e-2,
        "betas": [0.9, 0.999],
        "steps": 20,
        "seed": 0,
        "log_every": 10,
        "model": {"kind": "mlp", "hidden": [16, 8], "dropout": 0.0, "inverse_temperature": 1.0},
    }
    model = dict(run["model"], **extra.pop("model", {}))
    run.update(extra)
    run["model"] = model
    return run


# ----------------------------------------------------------------------------- lattice and sampler


def test_energy_of_simple_configurations():
    up = torch.ones(1, 16, 16)
    assert ising.energy_per_spin(up).item() == -2.0
    assert ising.energy_per_spin(-up).item() == -2.0
    assert ising.magnetization_per_spin(-up).item() == -1.0
    i = torch.arange(16)
    neel = (1 - 2 * ((i[:, None] + i[None, :]) % 2)).float().unsqueeze(0)  # antiferromagnet
    assert ising.energy_per_spin(neel).item() == 2.0
    assert ising.CheckerboardIsing(up, 1.0).energy_per_spin().item() == -2.0
    # a random configuration against a direct double loop over bonds (periodic)
    s = ising.random_spins(1, 6, torch.Generator().manual_seed(0))[0]
    e = -sum(s[a, b] * (s[(a + 1) % 6, b] + s[a, (b + 1) % 6]) for a in range(6) for b in range(6))
    assert ising.energy_per_spin(s).item() == pytest.approx(float(e) / 36, abs=0)


def test_sublattice_roundtrip_and_neighbour_sums():
    s = ising.random_spins(3, 8, torch.Generator().manual_seed(1))
    even, odd = ising.to_sublattices(s)
    assert torch.equal(ising.from_sublattices(even, odd), s)
    lattice = ising.CheckerboardIsing(s, 0.5)
    assert torch.allclose(lattice.energy_per_spin(), ising.energy_per_spin(s), rtol=0, atol=0)
    with pytest.raises(ValueError, match="even lattice"):
        ising.checkerboard_masks(7)


def test_sublattice_sampler_matches_full_lattice_reference_bit_for_bit():
    beta = torch.tensor([0.2, 0.44, 0.7, 1.0])
    start = ising.random_spins(4, 8, torch.Generator().manual_seed(2))
    lattice = ising.CheckerboardIsing(start.clone(), beta)
    reference = start.clone()
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    for _ in range(30):
        lattice.sweep(g1)
        ising.metropolis_sweep(reference, beta, g2)
    assert torch.equal(lattice.spins(), reference)


def test_low_temperature_orders_and_high_temperature_disorders():
    samples = ising.run_chains(
        16,
        [1.0, 5.0],
        chains_per_temperature=16,
        equilibration_sweeps=200,
        n_samples=5,
        sample_every=10,
        seed=0,
        keep_spins=False,
    )
    absm = np.abs(samples.magnetization).mean(axis=0)  # per chain
    cold, hot = absm[samples.temperatures == 1.0], absm[samples.temperatures == 5.0]
    # a random start can freeze into a rare striped state (|m| ~ 0, e ~ -1.75): use the median
    assert np.median(cold) > 0.9
    assert hot.mean() < 0.2 and np.median(hot) < 0.2
    e = samples.energy.mean(axis=0)
    assert np.all(e[samples.temperatures == 1.0] < -1.7)
    assert np.all(e[samples.temperatures == 5.0] > -0.7)
    # from an ordered start the hot chains melt and the cold ones stay ordered
    again = ising.run_chains(
        16,
        [1.0, 5.0],
        chains_per_temperature=4,
        equilibration_sweeps=200,
        n_samples=3,
        sample_every=10,
        seed=1,
        initial_state="up",
        keep_spins=False,
    )
    absm = np.abs(again.magnetization).mean(axis=0)
    assert np.all(absm[again.temperatures == 1.0] > 0.9)
    assert absm[again.temperatures == 5.0].mean() < 0.2


def test_binder_cumulants_of_two_sizes_cross_near_the_critical_temperature():
    temps = [2.0, 2.15, 2.3, 2.45]
    chains, n = 128, 100
    u4 = {}
    for L in (8, 16):
        s = ising.run_chains(
            L,
            temps,
            chains_per_temperature=chains,
            equilibration_sweeps=200,
            n_samples=n,
            sample_every=2,
            seed=0,
            keep_spins=False,
        )
        m = s.magnetization.reshape(n, len(temps), chains).transpose(0, 2, 1).reshape(-1, len(temps))
        u4[L] = ising.binder_cumulant(m, dim=0)
    assert np.all((u4[8] > 0.3) & (u4[8] < 2 / 3 + 1e-9))
    d = u4[16] - u4[8]  # > 0 in the ordered phase, < 0 in the disordered one
    assert d[0] > 0 and d[-1] < 0
    k = int(np.flatnonzero((d[:-1] > 0) & (d[1:] <= 0))[0])
    crossing = temps[k] + (temps[k + 1] - temps[k]) * d[k] / (d[k] - d[k + 1])
    assert 2.1 <= crossing <= 2.45
    assert abs(crossing - ising.T_CRITICAL) < 0.15


def test_binder_cumulant_limits():
    assert ising.binder_cumulant(np.ones(10)) == pytest.approx(2 / 3)
    gauss = np.random.default_rng(0).normal(size=200_000)
    assert ising.binder_cumulant(gauss) == pytest.approx(0.0, abs=0.02)


def test_run_chains_is_reproducible_and_validates():
    a = ising.run_chains(8, [2.0, 3.0], 2, 20, 3, 2, seed=4)
    b = ising.run_chains(8, [2.0, 3.0], 2, 20, 3, 2, seed=4)
    assert np.array_equal(a.spins, b.spins) and a.spins.shape == (3, 4, 8, 8)
    assert np.allclose(a.energy, ising.energy_per_spin(torch.from_numpy(a.spins).float()).numpy())
    with pytest.raises(ValueError, match="inf"):
        ising.run_chains(8, [math.inf], 1, 1, 1, 1)


# ----------------------------------------------------------------------------- labels and dataset


def test_label_boundaries_and_classes():
    assert ising.label_boundaries(4, (-2, 0)).tolist() == [-1.5, -1.0, -0.5]
    e = np.array([-2.0, -1.51, -1.5, -1.2, -1.0, -0.75, -0.5, -0.01, 0.0, 0.3])
    assert ising.energy_labels(e).tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 3, 3]


def test_balancing_names_the_short_class():
    labels = np.array([0] * 10 + [1] * 3 + [2] * 10 + [3] * 10)
    picked = ising.balance_classes(labels, 3, seed=0)
    assert np.bincount(labels[picked]).tolist() == [3, 3, 3, 3]
    with pytest.raises(ValueError, match="class 1 has 3"):
        ising.balance_classes(labels, 4, seed=0)


def test_dataset_layout_balance_and_split_sizes(tiny_data):
    path, summary = tiny_data
    with h5py.File(path, "r") as h5:
        inputs, labels = h5["inputs"][()], h5["labels"][()]
        assert inputs.dtype == np.float32 and inputs.shape == (160, 64)
        assert set(np.unique(inputs)) == {-1.0, 1.0}
        assert labels.dtype == np.int64 and np.bincount(labels).tolist() == [40, 40, 40, 40]
        # labels agree with the energies recomputed from the stored spins
        e = ising.energy_per_spin(torch.from_numpy(inputs).view(-1, 8, 8)).numpy()
        assert np.array_equal(e, h5["energy"][()])
        assert np.array_equal(ising.energy_labels(e), labels)
        attrs = h5.attrs
        assert attrs["kind"] == "ising" and attrs["L"] == 8 and attrs["n_classes"] == 4
        assert get_attr_json(h5, "label_boundaries") == [-1.5, -1.0, -0.5]
        assert get_attr_json(h5, "temperatures") == TINY["temperatures"]
        assert "[D]" in attrs["defaults_note"] and "torch_version" in attrs
        assert np.isinf(h5["temperature"][()]).any()  # T = inf samples were included
        assert "splits" not in h5 and len(h5["permutation"]) == 160  # splits derive from it
    split = load_split(path, 0.25)
    assert len(split.train_labels) == 40 and len(split.test_labels) == 120
    assert split.n_classes == 4 and split.p == 0 and split.train_inputs.shape == (40, 64)
    assert sum(summary["class_counts"]) == summary["n_samples"] == 8 * 40 + 40


def test_stratified_splits_balance_every_train_prefix(tmp_path):
    path = tmp_path / "strat.h5"
    ising.generate_ising_dataset(path, **TINY, stratified_splits=True, log=lambda s: None)
    split = load_split(path, 0.25)
    assert np.bincount(split.train_labels.numpy()).tolist() == [10, 10, 10, 10]


def test_label_margin_keeps_every_energy_clear_of_the_class_boundaries(tmp_path):
    e = np.array([-1.6, -1.56, -1.5, -1.47, -1.2, -1.01, -0.7, -0.46, 0.1])
    assert ising.outside_margin(e, 0.05).tolist() == [True, True, False, False, True, False, True, False, True]
    assert ising.outside_margin(e, 0.0).all()
    with pytest.raises(ValueError, match="half a class width"):
        ising.outside_margin(e, 0.25)
    path = tmp_path / "margin.h5"
    margin = 0.15  # more than one worst-case spin flip (8 / 64) of the 8 x 8 lattice
    summary = ising.generate_ising_dataset(path, **dict(TINY, pool_size=80), label_margin=margin, log=lambda s: None)
    with h5py.File(path, "r") as h5:
        e, labels = h5["energy"][()], h5["labels"][()]
        assert h5.attrs["label_margin"] == margin
    distance = np.abs(e[:, None] - ising.label_boundaries()).min(axis=1)
    assert distance.min() >= margin and np.bincount(labels).tolist() == [20, 20, 20, 20]
    assert summary["n_within_margin"] > 0 and summary["n_samples"] == 8 * 40 + 40
    # a configuration flipped at up to one site keeps its label (a flip moves e by at most 8 / N)
    spins = torch.from_numpy(h5py.File(path, "r")["inputs"][()]).view(-1, 8, 8)
    flipped = spins.clone()
    flipped[:, 3, 5] *= -1
    assert np.array_equal(ising.energy_labels(ising.energy_per_spin(flipped).numpy()), labels)


def test_dataset_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match="class 0 has 0"):  # only hot temperatures: no class 0
        ising.generate_ising_dataset(tmp_path / "x.h5", **dict(TINY, temperatures=[4.0, 5.0]), log=lambda s: None)
    with pytest.raises(ValueError, match="multiple of n_classes"):
        ising.generate_ising_dataset(tmp_path / "x.h5", **dict(TINY, pool_size=161), log=lambda s: None)
    assert not (tmp_path / "x.h5").exists()


def test_cli_writes_a_dataset(tmp_path):
    parser = argparse.ArgumentParser()
    ising.add_arguments(parser)
    out = tmp_path / "cli.h5"
    args = parser.parse_args(
        [
            "--out",
            str(out),
            "--L",
            "4",
            "--temperatures",
            "1.5",
            "2.5",
            "4.0",
            "--equilibration-sweeps",
            "20",
            "--sample-every",
            "2",
            "--samples-per-temperature",
            "40",
            "--chains-per-temperature",
            "4",
            "--pool-size",
            "40",
            "--threads",
            "1",
        ]
    )
    assert ising.run(args) == 0
    split = load_split(out, 0.5)
    assert len(split.train_labels) == 20 and split.train_inputs.shape[1] == 16


def test_cli_spec_json_from_config_gives_the_same_dataset_as_keyword_arguments(tmp_path):
    """The workflow passes the dataset spec built from config.yaml; it must mean what the keywords mean."""
    from grokglass.cli import main

    task = {
        "kind": "ising",
        "L": 4,
        "temperatures": {"min": 1.5, "max": 4.5, "n": 3},
        "equilibration_sweeps": 20,
        "sample_every": 2,
        "samples_per_temperature": 40,
        "chains_per_temperature": 4,
        "pool_size": 40,
        "seed": 3,
    }
    spec = IsingDataset.from_config("ising", task, split_seed=0)
    out = tmp_path / "json.h5"
    assert main(["ising-dataset", "--spec-json", json.dumps(spec.to_dict()), "--out", str(out), "--threads", "1"]) == 0
    ref = tmp_path / "ref.h5"
    ising.generate_ising_dataset(
        ref,
        L=4,
        temperatures=[1.5, 3.0, 4.5],
        equilibration_sweeps=20,
        sample_every=2,
        samples_per_temperature=40,
        chains_per_temperature=4,
        pool_size=40,
        seed=3,
        log=lambda s: None,
    )
    with h5py.File(out) as a, h5py.File(ref) as b:
        assert np.array_equal(a["inputs"][()], b["inputs"][()])
        assert np.array_equal(a["labels"][()], b["labels"][()])
        assert json.loads(a.attrs["temperatures"]) == [1.5, 3.0, 4.5]
    with pytest.raises(ValueError, match="unknown keys \\['lattice'\\]"):
        IsingDataset.from_config("ising", {"kind": "ising", "lattice": 4}, split_seed=0)


# ----------------------------------------------------------------------------- dense classifier


def test_mlp_is_registered_and_built_from_the_split(tiny_data):
    split = load_split(tiny_data[0], 0.5)
    run = RunSpec.from_dict(mlp_run())
    model = build_module(run.model, split, run.seed)
    assert isinstance(model, dense.DenseClassifier)
    assert [tuple(p.shape) for p in model.parameters()] == [(16, 64), (16,), (8, 16), (8,), (4, 8), (4,)]
    assert model(split.test_inputs).shape == (len(split.test_labels), 4)


def test_default_init_and_init_scale():
    a = dense.DenseClassifier(256, seed=3)
    b = dense.DenseClassifier(256, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    for layer, fan_in in enumerate((256, 128, 128, 64)):
        w = getattr(a, f"W{layer}")
        assert w.abs().max() <= 1 / math.sqrt(fan_in)
        assert w.std().item() == pytest.approx(1 / math.sqrt(3 * fan_in), rel=0.1)
    big = dense.DenseClassifier(256, seed=3, init_scale=5.0)
    assert torch.allclose(big.W1, 5.0 * a.W1)


def test_inverse_temperature_scales_the_logits():
    x = torch.randn(7, 32)
    one = dense.DenseClassifier(32, hidden=(8,), inverse_temperature=1.0, seed=1)
    two = dense.DenseClassifier(32, hidden=(8,), inverse_temperature=2.5, seed=1)
    assert torch.allclose(two(x), 2.5 * one(x))


def test_dropout_only_in_the_training_closure():
    model = dense.DenseClassifier(32, hidden=(64, 64), dropout=0.5, seed=0)
    x = torch.randn(5, 32)
    with torch.no_grad():  # the metric forwards of grokglass.train.loop
        assert torch.equal(model(x), model(x))
    assert not torch.equal(model(x), model(x))  # training forward with autograd: dropout on
    model.eval()
    assert torch.equal(model(x), model(x))


def test_dense_classifier_trains_through_run_training(tiny_data, tmp_path):
    metrics_path = tmp_path / "metrics.h5"
    run = mlp_run(steps=40, lr=3e-3, model={"dropout": 0.04, "inverse_temperature": 0.5})
    run_training(run, tiny_data[0], metrics_path, tmp_path / "model.pt", device="cpu", log=lambda s: None)
    frame = read_metrics(metrics_path)
    assert list(frame["step"]) == list(range(41))
    assert np.isfinite(frame[list(METRIC_COLUMNS)].to_numpy()).all()
    assert frame["train_loss"].iloc[-1] < frame["train_loss"].iloc[0]
    assert json.loads(frame.attrs["run"])["model"]["kind"] == "mlp"


# ----------------------------------------------------------------------------- layer analysis


def test_weight_statistics_and_components():
    w = torch.zeros(4, 6)
    w[0, 0], w[1, 1], w[2, 2] = 10.0, 0.2, 1e-4
    stats = layer_analysis.weight_statistics(w)
    assert stats["active_relative"] == 1 and stats["active_absolute"] == 2 and stats["size"] == 24
    assert stats["n_components"] == 1 and stats["singular_values"][0] == pytest.approx(10.0)
    assert layer_analysis.components_for_variance(np.ones(10), 0.9) == 9
    x = torch.randn(300, 2) @ torch.tensor([[3.0, 0, 0, 0], [0, 1.0, 0, 0]])
    pca = layer_analysis.activation_pca(x)
    assert pca["coords"].shape == (300, 2) and pca["n_components"] <= 2
    assert pca["explained_variance_ratio"][:2].sum() == pytest.approx(1.0)
    assert (
        ising_snapshots.log_spaced_steps(1000, 10)[:3] == [0, 1, 2]
        and ising_snapshots.log_spaced_steps(1000, 10)[-1] == 1000
    )


@pytest.mark.parametrize("window", [0, 3])
def test_snapshots_stitch_to_the_same_metrics_as_a_straight_run(tiny_data, tmp_path, window):
    run = mlp_run(steps=30, model={"dropout": 0.1})
    straight = run_training(run, tiny_data[0], tmp_path / "straight.h5", device="cpu", log=lambda s: None)
    stitched = ising_snapshots.train_with_snapshots(
        run,
        tiny_data[0],
        tmp_path / "snap.h5",
        snapshot_steps=[2, 10],
        metrics_path=tmp_path / "m.h5",
        device="cpu",
        update_window=window,
        log=lambda s: None,
    )
    for name in METRIC_COLUMNS:
        assert np.array_equal(straight[name], stitched[name]), name
    with h5py.File(tmp_path / "snap.h5", "r") as h5:
        assert h5["steps"][()].tolist() == [0, 2, 10, 30]
        assert h5["weights/W0/singular_values"].shape == (4, 16)
        assert h5["weights/W2/active_relative"].shape == (4,)
        assert h5["activations/h1/coords"].shape == (4, 80, 2)
        assert h5["activations/labels"].shape == (80,)
        assert h5["metrics/step"][()].tolist() == list(range(31))
        if window:
            ratio = h5["updates/explained_variance_ratio"][()]
            assert ratio.shape == (4, 3) and np.isnan(ratio[0]).all()
            assert np.isnan(ratio[1, 2]) and ratio[1, :2].sum() == pytest.approx(1.0)  # 2 updates
            assert np.allclose(ratio[2:].sum(axis=1), 1.0)
            assert h5["updates/n_components"][()].tolist()[0] == -1
        else:
            assert "updates" not in h5
    assert read_metrics(tmp_path / "m.h5")["step"].tolist() == list(range(31))


# ----------------------------------------------------------------------------- WLMD system


def test_dense_system_batched_equals_single_and_training_metrics(tiny_data):
    split = load_split(tiny_data[0], 0.5)
    system = DenseSystem([16, 8], 4, 64, split, inverse_temperature=2.0)
    assert system.param_shapes() == dense.dense_shapes(64, [16, 8], 4)
    walkers = [system.init_params(seed) for seed in range(3)]
    stacked = {k: torch.stack([w[k] for w in walkers]) for k in walkers[0]}
    x, y = system.observables(stacked)
    assert x.shape == (3,) and x.dtype == torch.float64 and y.dtype == torch.float64
    for k, params in enumerate(walkers):
        xs, ys = system.observables({n: t.unsqueeze(0) for n, t in params.items()})
        # bit for bit on CPU (examples padded to sampler.ROW_ALIGN, as in TransformerSystem)
        assert torch.equal(xs[0], x[k]) and torch.equal(ys[0], y[k])
    model = dense.DenseClassifier(64, hidden=(16, 8), inverse_temperature=2.0, seed=1)  # seed 1 = walker 1
    with torch.no_grad():
        assert torch.allclose(x[1], log_cross_entropy64(model(split.train_inputs), split.train_labels), rtol=1e-6)
        a_test = smoothed_accuracy(model(split.test_inputs), split.test_labels).double()
        assert torch.allclose(y[1], 10 * a_test, rtol=1e-5)
    bounds = system.bounds(2.0)
    assert bounds["b0"] == bounds["W0"] == pytest.approx(2.0 / math.sqrt(3 * 64))


def test_dense_system_walker_path_does_not_depend_on_its_group(tiny_data):
    from wlmd_helpers import walker_in_groups

    from grokglass.wlmd.grid import GridSpec
    from grokglass.wlmd.sampler import SamplerSettings

    system = DenseSystem([16, 8], 4, 64, load_split(tiny_data[0], 0.5))
    settings = SamplerSettings(dt=1e-3, friction=0.05, wl_factor=0.5, t_rise=5, t_drop=10)
    spec = GridSpec(lows=(-10.0, 0.0), highs=(2.0, 10.0), bin_width=0.1, bias_start=0.5)
    runs = walker_in_groups(system, spec, settings)
    for group in ([0, 1], [1, 2, 3]):
        assert all(torch.equal(a, b) for a, b in zip(runs[(1,)], runs[tuple(group)]))


def test_dense_system_is_differentiable(tiny_data):
    split = load_split(tiny_data[0], 0.5)
    system = DenseSystem([8], 4, 64, split)
    params = {k: v.unsqueeze(0).requires_grad_() for k, v in system.init_params(0).items()}
    x, y = system.observables(params)
    (x.sum() + y.sum()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in params.values())


def test_wlmd_segment_samples_the_dense_classifier_from_a_landscape_spec(tiny_data, tmp_path):
    """The pipeline's wlmd-segment/merge path with model kind 'mlp' (the Ising landscape)."""
    from grokglass.errors import SpecError
    from grokglass.jobs.merge import merge_segment, write_landscape
    from grokglass.jobs.segment import build_system, run_segment
    from grokglass.pipeline.specs import LandscapeSpec

    spec = {
        "name": "dense_test",
        "task": "ising",
        "data": str(tiny_data[0]),
        "fraction": 0.5,
        "model": {"kind": "mlp", "hidden": [16, 8], "inverse_temperature": 1.0, "init_scale": 1.0},
        "walkers": 2,
        "walkers_per_job": 2,
        "segments": 1,
        "epochs_per_segment": 30,
        "seed": 0,
        "sampler": {
            "dt": 1e-3,
            "friction": 0.05,
            "kT": 1.0,
            "wl_factor": 1.0,
            "t_rise": 5,
            "t_drop": 20,
            "bound_scale": 2.0,
            "shell_norm": 20.0,
            "share": "chunk",
            "constraint": "bounds",
        },
        "y_scale": 10.0,
        "slope": 7.0,
        "grid": {
            "x": [-6.0, 2.0],
            "y": [-0.5, 10.5],
            "bin_width": 0.1,
            "bias_strength": 3000.0,
            "bias_start": 0.0,
            "gaussian_sigma_bins": 3.0,
            "gaussian_cutoff_sigmas": 4.0,
        },
    }
    system = build_system(LandscapeSpec.from_dict(spec), torch.device("cpu"))
    assert isinstance(system, DenseSystem) and system.in_features == 64 and system.n_classes == 4
    run_segment(spec, 0, 0, None, None, tmp_path / "g0.pt", tmp_path / "g0.h5", device="cpu", log=lambda s: None)
    merge_segment(spec, 0, [tmp_path / "g0.h5"], None, tmp_path / "merged.h5", log=lambda s: None)
    write_landscape(spec, tmp_path / "merged.h5", tmp_path / "landscape.h5", log=lambda s: None)
    with h5py.File(tmp_path / "landscape.h5") as h5:
        assert h5["histogram"][()].sum() == 2 * 30  # one visit per walker-epoch
        assert np.nanmin(h5["entropy"][()]) == 0.0
    with pytest.raises(ValueError, match="model.dropout must be 0"):
        build_system(LandscapeSpec.from_dict(dict(spec, model=dict(spec["model"], dropout=0.1))), torch.device("cpu"))
    with pytest.raises(SpecError, match="unknown model kind 'cnn' \\(known: transformer, mlp\\)"):
        LandscapeSpec.from_dict(dict(spec, model={"kind": "cnn"}))


def test_ising_snapshots_cli_writes_snapshots_and_metrics(tiny_data, tmp_path):
    from grokglass.cli import main

    spec = {"run": mlp_run(steps=12), "n_snapshots": 4, "update_window": 3, "max_points": 20}
    out, metrics = tmp_path / "snap.h5", tmp_path / "metrics.h5"
    assert (
        main(
            [
                "ising-snapshots",
                "--data",
                str(tiny_data[0]),
                "--spec-json",
                json.dumps(spec),
                "--out",
                str(out),
                "--metrics",
                str(metrics),
                "--device",
                "cpu",
                "--threads",
                "1",
            ]
        )
        == 0
    )
    with h5py.File(out) as h5:
        assert h5["steps"][0] == 0 and h5["steps"][-1] == 12
        assert h5["activations/h1/coords"].shape[1] == 20
        assert h5["updates"].attrs["window"] == 3
    assert len(read_metrics(metrics)["step"]) == 13


# ----------------------------------------------------------------------------- figures


def _synthetic_metrics(path, t_mem, t_grok, steps=300):
    step = np.arange(steps + 1)
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    cols = {"step": step, "train_acc": sig((step - t_mem) / 3.0), "test_acc": sig((step - t_grok) / 8.0)}
    write_table(path, cols, {"run": json.dumps({"name": path.stem})})
    return path


def test_ising_training_figure(tmp_path):
    from grokglass.figures.ising import ising_training

    paths = [_synthetic_metrics(tmp_path / f"r{i}.h5", 20, 60 + 80 * i) for i in range(3)]
    fig = ising_training(paths, ["β=0.5", "β=1", "β=2"], tmp_path / "train", ncols=2)
    assert len(data_axes(fig)) == 3
    for ext in ("pdf", "png", "csv"):
        assert (tmp_path / f"train.{ext}").stat().st_size > 0
    table = pd.read_csv(tmp_path / "train.csv")
    assert sorted(table["panel"].unique()) == ["a", "b", "c"]
    assert set(table["series"]) == {"train", "test"}
    assert (table["t_test99"] - table["t_train99"]).groupby(table["panel"]).first().is_monotonic_increasing
    delays = pd.read_csv(tmp_path / "train_delays.csv")
    assert delays["title"].tolist() == ["β=0.5", "β=1", "β=2"]
    # sigmoid curves: train crosses 0.99 at t_mem + 3 ln 99, test 0.9 at t_grok + 8 ln 9
    assert delays["t_train99"].tolist() == [34] * 3
    assert delays["t_test90"].tolist() == [78, 158, 238] and delays["t_test80"].tolist() == [72, 152, 232]
    assert delays["delay90"].tolist() == [44, 124, 204]
    assert (delays["best_test"] > 0.99).all() and delays["best_test_step"].tolist() == [300] * 3


def test_ising_training_figure_says_when_test_never_reaches_0_9(tmp_path):
    from grokglass.figures.ising import ising_training

    path = _synthetic_metrics(tmp_path / "memorises.h5", 20, 60)
    write_table(path, {**read_metrics(path), "test_acc": np.full(301, 0.66)}, {"run": "{}"})
    ising_training([path], ["wd 0.01"], tmp_path / "flat")
    row = pd.read_csv(tmp_path / "flat_delays.csv").iloc[0]
    assert row["t_train99"] == 34 and pd.isna(row["t_test90"]) and pd.isna(row["delay90"])
    assert row["best_test"] == pytest.approx(0.66)


def test_ising_pca_figure(tmp_path):
    from grokglass.figures.ising import ising_pca

    steps = np.array([0, 1, 10, 100, 1000])
    n = 50
    labels = np.arange(n) % 4
    with h5py.File(tmp_path / "snap.h5", "w") as h5:
        h5["steps"] = steps
        for layer, size in enumerate((256 * 8, 8 * 4, 4 * 4)):
            g = h5.create_group(f"weights/W{layer}")
            g["active_relative"] = np.linspace(size, size // 3, 5).astype(int)
            g["active_absolute"] = np.full(5, size)
            g["n_components"] = np.array([4, 4, 3, 2, 2])
            g.attrs["size"] = size
        for layer in range(2):
            h5[f"activations/h{layer}/coords"] = np.random.default_rng(layer).normal(size=(5, n, 2))
        h5["activations/labels"] = labels
        h5["metrics/step"] = np.arange(1001)
        h5["metrics/train_acc"] = (np.arange(1001) >= 10).astype(float)
        h5.attrs["n_weight_layers"], h5.attrs["n_hidden_layers"] = 3, 2
    fig = ising_pca(tmp_path / "snap.h5", tmp_path / "pca")
    assert len(data_axes(fig)) == 4
    table = pd.read_csv(tmp_path / "pca.csv")
    assert sorted(table["panel"].unique()) == ["a", "b", "c", "d"]
    assert table.loc[table["panel"] == "c", "step"].iloc[0] == 10  # last snapshot at t_train99
    assert table.loc[table["panel"] == "d", "step"].iloc[0] == 1000
    assert len(table[table["panel"] == "a"]) == 3 * 5


def test_ising_pca_figure_from_a_real_snapshot_file(tiny_data, tmp_path):
    from grokglass.figures.ising import ising_pca

    ising_snapshots.train_with_snapshots(
        mlp_run(steps=10), tiny_data[0], tmp_path / "snap.h5", n_snapshots=4, device="cpu", log=lambda s: None
    )
    fig = ising_pca(tmp_path / "snap.h5", tmp_path / "pca")
    assert len(data_axes(fig)) == 4 and (tmp_path / "pca.png").exists()
