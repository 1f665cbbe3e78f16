import numpy as np
import pytest
import torch

from grokglass.data.arithmetic import Task, write_dataset
from grokglass.io import read_metrics
from grokglass.train.loop import METRIC_COLUMNS, TrainingDiverged, run_training


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "add.h5"
    write_dataset(path, Task("add", "x + y", 7), split_seed=0)
    return path


def _run(optimizer, **extra):
    run = {
        "name": f"test_{optimizer}",
        "task": "add",
        "fraction": 0.5,
        "optimizer": optimizer,
        "model": {"d_model": 8, "n_heads": 4},
        "steps": 30,
        "seed": 0,
        "log_every": 10,
        "lr": 3e-3,
        "weight_decay": 1.0,
    }
    run.update(extra)
    return run


@pytest.mark.parametrize(
    "optimizer,extra",
    [
        ("adamw", {}),
        ("adamw_fixed_norm", {"norm": 5.0, "weight_decay": 0.0}),
        ("wand", {"wand": {"kT": 0.5, "friction": 0.5, "bias_start": -8.0}}),
        ("hybrid", {"horizon": 30}),
        ("sgld", {"temperature": 1e-6, "lr": 0.1}),
    ],
)
def test_every_optimizer_writes_metrics_and_checkpoint(tmp_path, data, optimizer, extra):
    metrics_path, ckpt = tmp_path / "m.h5", tmp_path / "model.pt"
    lines = []
    run_training(_run(optimizer, **extra), data, metrics_path, ckpt, device="cpu", log=lines.append)
    frame = read_metrics(metrics_path)
    assert list(frame["step"]) == list(range(31))
    assert set(METRIC_COLUMNS) <= set(frame.columns)
    assert np.isfinite(frame[list(METRIC_COLUMNS)].to_numpy()).all()
    assert np.allclose(frame["ln_train_loss"], np.log(frame["train_loss"]))
    assert "torch_version" in frame.attrs and optimizer in frame.attrs["run"]
    assert any("steps/s" in line for line in lines)
    state = torch.load(ckpt, weights_only=False)
    assert state["run"]["optimizer"] == optimizer and state["step"] == 30
    if optimizer == "adamw_fixed_norm":
        assert np.allclose(frame["weight_norm"], 5.0, atol=1e-4)
    if optimizer == "hybrid":
        assert frame["alpha"].iloc[15] == 1.0 and frame["alpha"].iloc[0] == 0.0


def test_same_seed_gives_bit_identical_metrics(tmp_path, data):
    for name in ("a", "b"):
        run_training(_run("wand", wand={"kT": 0.5}), data, tmp_path / f"{name}.h5", device="cpu", log=lambda s: None)
    a, b = read_metrics(tmp_path / "a.h5"), read_metrics(tmp_path / "b.h5")
    cols = list(METRIC_COLUMNS)
    assert np.array_equal(a[cols].to_numpy(), b[cols].to_numpy())


def test_divergence_stops_with_a_clear_message_and_keeps_partial_metrics(tmp_path, data):
    metrics_path = tmp_path / "m.h5"
    with pytest.raises(TrainingDiverged, match=r"diverged: non-finite metrics at step \d+"):
        run_training(
            _run("sgld", lr=1e8, temperature=0.0, steps=200), data, metrics_path, device="cpu", log=lambda s: None
        )
    assert not metrics_path.exists()
    partial = read_metrics(tmp_path / "m.diverged.h5")
    assert len(partial) >= 1


def test_unknown_optimizer_is_refused(tmp_path, data):
    with pytest.raises(ValueError, match="unknown optimizer 'adam'"):
        run_training(_run("adam"), data, tmp_path / "m.h5", device="cpu")


def test_rows_measure_the_parameters_before_each_update(tmp_path, data):
    """Row 0 is the initial network: its weight norm and test metrics match a fresh model."""
    from grokglass.metrics import weight_norm
    from grokglass.nets.transformer import Transformer, TransformerConfig

    run_training(_run("adamw", lr=0.1), data, tmp_path / "m.h5", device="cpu", log=lambda s: None)
    frame = read_metrics(tmp_path / "m.h5")
    fresh = Transformer(TransformerConfig(p=7, d_model=8), seed=0)
    assert abs(frame["weight_norm"][0] - float(weight_norm(fresh.parameters()))) < 1e-6


def test_early_stop_at_test_accuracy(tmp_path, data):
    run = _run("adamw", lr=0.05, steps=400, log_every=5, stop_at_test_acc=0.0)
    lines = []
    run_training(run, data, tmp_path / "m.h5", device="cpu", log=lines.append)
    frame = read_metrics(tmp_path / "m.h5")
    assert len(frame) == 6 and frame["step"].iloc[-1] == 5  # first progress line after step 0
    assert any("stopping early at step 5" in line for line in lines)


def test_torch_settings_apply_tf32_on_cuda_only_refuse_bad_precisions_and_restore_everything():
    import torch

    from grokglass.io import torch_settings

    threads, precision = torch.get_num_threads(), torch.get_float32_matmul_precision()
    with torch_settings(threads=1, matmul_precision="tf32", device="cpu", log=lambda line: None):
        assert torch.get_float32_matmul_precision() == "highest"  # the CPU keeps exact fp32 matmuls
        assert torch.get_num_threads() == 1
    assert (torch.get_num_threads(), torch.get_float32_matmul_precision()) == (threads, precision)
    with pytest.raises(ValueError, match="must be one of fp32, tf32"), torch_settings(matmul_precision="bf16"):
        pass
    torch.set_float32_matmul_precision("high")  # restored to what it was, whatever that was
    with torch_settings(matmul_precision="fp32", device="cpu"):
        assert torch.get_float32_matmul_precision() == "highest"
    assert torch.get_float32_matmul_precision() == "high"
    torch.set_float32_matmul_precision(precision)
