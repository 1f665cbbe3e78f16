"""Figures and landscape summaries on small synthetic inputs (fast)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import QuadMesh
from matplotlib.image import AxesImage

from grokglass.data.arithmetic import Task, write_dataset
from grokglass.figures import figure_function
from grokglass.figures.common import bin_index, column_means, data_axes, load_landscape, panel_letter
from grokglass.figures.landscape_summary import SUMMARY_COLUMNS, barrier_depth, landscape_summary
from grokglass.io import set_attrs, write_table
from grokglass.wlmd.landscape import max_entropy_curve

# ----------------------------------------------------------------------------- synthetic inputs


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def write_metrics(
    path,
    steps=400,
    t_mem=40.0,
    t_grok=200.0,
    alpha=False,
    optimizer="adamw",
    ln_loss=None,
    test_smooth=None,
    train_acc=None,
):
    step = np.arange(steps)
    columns = {
        "step": step,
        "train_acc": sigmoid((step - t_mem) / 5.0) if train_acc is None else train_acc,
        "test_acc": sigmoid((step - t_grok) / 20.0),
        "weight_norm": 40.0 + 0.3 * step,
    }
    columns["train_acc_smooth"] = 0.98 * columns["train_acc"]
    columns["test_acc_smooth"] = (
        (0.02 + 0.95 * columns["test_acc"])
        if test_smooth is None
        else np.broadcast_to(test_smooth, step.shape).astype(float)
    )
    if ln_loss is None:
        ln_loss = 1.4 - 12.0 * np.log1p(step) / np.log1p(steps)
    columns["ln_train_loss"] = ln_loss
    columns["train_loss"] = np.exp(ln_loss)
    columns["test_loss"] = np.exp(1.5 - 2 * columns["test_acc"])
    if alpha:
        columns["alpha"] = 1.0 - (2.0 * step / steps - 1.0) ** 2
    run = {"task": "add", "fraction": 0.5, "optimizer": optimizer, "lr": 3e-3, "weight_decay": 1.0, "steps": steps}
    write_table(path, columns, {"run": json.dumps(run)})
    return path


def write_landscape(path, entropy, x_edges, y_edges, convergence=None):
    entropy = np.asarray(entropy, dtype=np.float64)
    with h5py.File(path, "w") as h5:
        h5.create_dataset("entropy", data=entropy)
        h5.create_dataset("histogram", data=np.where(np.isfinite(entropy), 5.0, 0.0))
        h5.create_dataset("x_edges", data=np.asarray(x_edges, dtype=np.float64))
        h5.create_dataset("y_edges", data=np.asarray(y_edges, dtype=np.float64))
        h5.create_dataset("walker_entropy", data=np.stack([entropy, entropy]))
        group = h5.create_group("convergence")
        conv = convergence or {
            "segment": np.arange(5),
            "epochs_per_walker": 1000.0 * np.arange(1, 6),
            "mean_abs_dS": np.array([np.nan, 3.0, 0.8, 0.2, 0.05]),
            "maxent_shift_bins": np.array([np.nan, 9.0, 4.0, 2.0, 1.0]),
            "flatness": np.array([0.1, 0.3, 0.5, 0.7, 0.8]),
            "visited_entropy_range": np.array([20.0, 25.0, 28.0, 29.0, 30.0]),
            "kinetic_per_param": np.array([0.49, 0.51, 0.50, 0.52, 0.50]),
            "kinetic_per_param_max": np.array([0.55, 0.56, 0.54, 0.58, 0.55]),
        }
        for key, value in conv.items():
            group.create_dataset(key, data=value)
        set_attrs(
            h5,
            {
                "epochs_per_walker": 5000,
                "walkers": 2,
                "segments": 5,
                "sampler": {"dt": 2e-5, "kT": 1.0},
                "grid": {"bin_width": 0.02},
                "seed": 0,
            },
        )
    return path


def smooth_landscape(x_lo=-10.0):
    """A visited blob over x in [x_lo, 0.5], accuracy in [0, 0.9]; S peaks near y = 0.2 - 0.07 x."""
    x_edges = np.arange(-12.0, 2.0001, 0.25)
    y_edges = np.linspace(0.0, 1.0, 51)
    xc, yc = 0.5 * (x_edges[1:] + x_edges[:-1]), 0.5 * (y_edges[1:] + y_edges[:-1])
    X, Y = np.meshgrid(xc, yc, indexing="ij")
    entropy = -30.0 * (Y - np.clip(0.2 - 0.07 * X, 0, 0.9)) ** 2 + 0.5 * X
    entropy[(x_lo > X) | (X > 0.5) | (Y > 0.9)] = np.nan
    entropy -= np.nanmin(entropy)
    return entropy, x_edges, y_edges


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    landscapes, adamw = [], []
    for i, x_lo in enumerate((-9.0, -10.0, -6.0)):
        landscapes.append(write_landscape(root / f"land{i}.h5", *smooth_landscape(x_lo)))
        adamw.append(write_metrics(root / f"adamw{i}.h5", t_grok=150.0 + 50 * i))
    wand = write_metrics(root / "wand.h5", t_mem=150.0, t_grok=160.0, optimizer="wand")
    fractions = [0.5, 0.6, 0.7, 0.8]
    sweep_adamw = [write_metrics(root / f"sa{f}.h5", steps=600, t_grok=300 - 200 * (f - 0.5)) for f in fractions]
    sweep_hybrid = [
        write_metrics(root / f"sh{f}.h5", steps=600, t_mem=100, t_grok=150, alpha=True, optimizer="hybrid")
        for f in fractions
    ]
    datasets = []
    for name, expr in (("add", "x + y"), ("square", "x**2 + y")):
        path = root / f"{name}.h5"
        write_dataset(path, Task(name, expr, 11), split_seed=0)
        datasets.append(path)
    return dict(
        landscapes=landscapes,
        adamw=adamw,
        wand=wand,
        fractions=fractions,
        sweep_adamw=sweep_adamw,
        sweep_hybrid=sweep_hybrid,
        datasets=datasets,
    )


def assert_outputs(prefix):
    for ext in ("pdf", "png", "csv"):
        path = prefix.parent / f"{prefix.name}.{ext}"
        assert path.exists() and path.stat().st_size > 0, path
    assert (prefix.parent / f"{prefix.name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(prefix.parent.glob("*.tmp")), "atomic writes left temporaries behind"
    return pd.read_csv(prefix.parent / f"{prefix.name}.csv")


def labels_of(ax):
    return [line.get_label() for line in ax.get_lines()]


# ----------------------------------------------------------------------------- helpers


def test_panel_letters_and_bins():
    assert [panel_letter(i) for i in (0, 1, 25, 26)] == ["a", "b", "z", "aa"]
    edges = np.array([0.0, 1.0, 2.0])
    assert bin_index([-0.5, 0.0, 0.5, 1.0, 2.0, 2.5, np.nan, -np.inf], edges).tolist() == [-1, 0, 0, 1, 1, -1, -1, -1]
    means, counts = column_means([0.1, 0.2, 1.5, 5.0], [1.0, 3.0, 4.0, 9.0], edges)
    assert means.tolist() == [2.0, 4.0] and counts.tolist() == [2, 1]


def test_max_entropy_curve():
    entropy = np.array([[0.0, 2.0, 1.0], [np.nan, np.nan, np.nan], [3.0, np.nan, 0.0]])
    y = np.array([0.1, 0.5, 0.9])
    out = max_entropy_curve(entropy, y)
    assert out[0] == 0.5 and np.isnan(out[1]) and out[2] == 0.1
    assert max_entropy_curve(entropy, y, y_window=(0.3, 1.0))[2] == 0.9


# ----------------------------------------------------------------------------- figures


@pytest.mark.parametrize("name", ["fig1", "fig2"])
def test_landscape_figures(inputs, tmp_path, name):
    prefix = tmp_path / name
    titles = ["(a) x+y", "(b) x²+y", "(c) x³+xy²+y"]
    fig = figure_function(name)(inputs["landscapes"], inputs["adamw"], titles, prefix)
    axes = data_axes(fig)
    assert len(axes) == 3
    assert len(fig.axes) == 6  # one colour bar per panel
    for ax, title, path in zip(axes, titles, inputs["landscapes"]):
        # the budget of each map under its title (attributes and convergence rows of write_landscape)
        assert ax.get_title() == f"{title}\nWang-Landau: 2×5,000 epochs; converged"
        assert ax.get_xlabel() == "ln(train loss)" and ax.get_ylabel() == "test accuracy"
        assert any(isinstance(c, QuadMesh) for c in ax.collections)
        assert {"AdamW", "max entropy"} <= set(labels_of(ax))
        land = load_landscape(path)
        cols = np.flatnonzero(land.visited.any(axis=1))
        lo, hi = ax.get_xlim()
        assert lo <= land.x_edges[cols[0]] and hi >= land.x_edges[cols[-1] + 1]
        assert ax.get_ylim() == (0.0, 1.0)
    assert {c._colorbar.ax.get_ylabel() for c in fig.axes if hasattr(c, "_colorbar")} == {"entropy S"}
    table = assert_outputs(prefix)
    assert set(table["panel"]) == {"a", "b", "c"}
    assert set(table["series"]) == {"entropy", "max entropy", "AdamW"}
    land = load_landscape(inputs["landscapes"][0])
    rows = table[(table.panel == "a") & (table.series == "entropy")]
    assert len(rows) == int(land.visited.sum())  # the whole visited blob lies in the window


def test_fig1_without_overlay(inputs, tmp_path):
    fig = figure_function("fig1")(inputs["landscapes"][:1], [None], ["only"], tmp_path / "f")
    (ax,) = data_axes(fig)
    assert "AdamW" not in labels_of(ax) and "max entropy" in labels_of(ax)


def test_fig3(inputs, tmp_path):
    prefix = tmp_path / "fig3"
    fig = figure_function("fig3")(inputs["wand"], inputs["adamw"][0], prefix)
    axes = data_axes(fig)
    assert len(axes) == 4
    assert all(ax.get_xscale() == "linear" for ax in axes)
    assert [ax.get_xlabel() for ax in axes] == ["optimisation steps"] * 2 + ["weight norm", "optimisation steps"]
    assert [ax.get_ylabel() for ax in axes] == ["accuracy", "weight norm", "test accuracy", "accuracy"]
    assert set(labels_of(axes[0])) >= {"train", "test"} and set(labels_of(axes[3])) >= {"train", "test"}
    table = assert_outputs(prefix)
    assert set(table["panel"]) == set("abcd")
    assert table[table.panel == "b"]["weight_norm"].max() == pytest.approx(40 + 0.3 * 399)


def test_fig4(inputs, tmp_path):
    prefix = tmp_path / "fig4"
    fig = figure_function("fig4")(inputs["datasets"], ["(a) x+y", "(b) x²+y"], prefix, fraction=0.5)
    axes = data_axes(fig)
    assert len(axes) == 4
    top, bottom = axes[0].get_images()[0], axes[2].get_images()[0]
    assert isinstance(top, AxesImage)
    assert top.get_cmap().name.startswith("Blues")
    image = np.ma.asarray(top.get_array())  # rows = y (second operand), columns = x
    assert image.shape == (11, 11) and image[3, 2] == (2 + 3) % 11
    n_test = 121 - int(np.floor(0.5 * 121))
    assert int(np.ma.getmaskarray(bottom.get_array()).sum()) == n_test
    assert axes[0].get_xlabel() == "x" and axes[0].get_ylabel() == "y"
    table = assert_outputs(prefix)
    assert len(table) == 2 * 121 and int(table[table.panel == "a"]["is_test"].sum()) == n_test
    fig1row = figure_function("fig4")(inputs["datasets"][:1], ["x+y"], tmp_path / "one", fraction=None)
    assert len(data_axes(fig1row)) == 1


@pytest.mark.parametrize("name", ["fig5", "fig6"])
def test_training_curves(inputs, tmp_path, name):
    prefix = tmp_path / name
    titles = ["(a) one", "(b) two", "(c) three"]
    fig = figure_function(name)(inputs["adamw"], titles, prefix)
    axes = data_axes(fig)
    assert len(axes) == 3
    for ax, title in zip(axes, titles):
        assert ax.get_xscale() == "log" and ax.get_xlim() == (1.0, 399.0)
        assert ax.get_ylim()[0] <= 0.0 and ax.get_ylim()[1] >= 1.0
        assert ax.get_title() == title
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "test"]
    table = assert_outputs(prefix)
    assert table["step"].min() == 1 and len(table) == 3 * 399


@pytest.mark.parametrize("name,n,xmax", [("fig7", 4, (1000, 500)), ("fig8", 3, (3000, 3000))])
def test_split_sweeps(inputs, tmp_path, name, n, xmax):
    prefix = tmp_path / name
    fig = figure_function(name)(inputs["sweep_adamw"][:n], inputs["sweep_hybrid"][:n], inputs["fractions"][:n], prefix)
    axes = data_axes(fig)
    assert len(axes) == 2 * n
    assert all(ax.get_xscale() == "linear" for ax in axes)
    assert axes[0].get_title() == "(a) AdamW, 50%"
    assert axes[n].get_title() == f"({'abcdefgh'[n]}) hybrid, 50%"
    assert axes[1].get_title() == "(b) AdamW, 60%"
    assert axes[0].get_xlim() == (0.0, xmax[0]) and axes[n + 1].get_xlim() == (0.0, xmax[1])
    assert "α(t)" in labels_of(axes[n]) and "α(t)" not in labels_of(axes[0])
    table = assert_outputs(prefix)
    assert set(table["optimizer"]) == {"AdamW", "hybrid"}
    assert table[table.optimizer == "AdamW"]["alpha"].isna().all()
    assert table[table.optimizer == "hybrid"]["alpha"].notna().all()


def test_convergence(inputs, tmp_path):
    prefix = tmp_path / "conv"
    fig = figure_function("convergence")(inputs["landscapes"][0], prefix)
    axes = data_axes(fig)
    assert len(axes) == 4
    assert axes[0].get_yscale() == "log" and axes[2].get_yscale() == "linear"
    assert axes[0].get_xlabel() == "epochs per walker"
    table = assert_outputs(prefix)
    assert list(table.columns) == [
        "segment",
        "epochs_per_walker",
        "mean_abs_dS",
        "maxent_shift_bins",
        "flatness",
        "visited_entropy_range",
        "kinetic_per_param",
        "kinetic_per_param_max",
    ]
    assert "1% of S range" in labels_of(axes[0])
    assert {"mean over walkers", "max over walkers", "kT/2"} <= set(labels_of(axes[3]))
    (reference,) = [line for line in axes[3].get_lines() if line.get_label() == "kT/2"]
    assert set(reference.get_ydata()) == {0.5}


# ----------------------------------------------------------------------------- landscape summary

X_EDGES = np.arange(-10.0, 0.0001, 0.5)  # 20 columns; x_mem = -2.0 is the left edge of column 16
Y_EDGES = np.linspace(0.0, 1.0, 21)  # 20 bins of 0.05
XC, YC = 0.5 * (X_EDGES[1:] + X_EDGES[:-1]), 0.5 * (Y_EDGES[1:] + Y_EDGES[:-1])


def summary_metrics(path, memorises=True):
    step = np.arange(200)
    ln_loss = -0.05 * step  # 10 steps per column, 0 down to -9.95
    train_acc = np.where(step >= 40, 1.0, 0.5) if memorises else np.full(200, 0.5)
    return write_metrics(path, steps=200, ln_loss=ln_loss, test_smooth=0.12, train_acc=train_acc)


def increasing_entropy():
    """S grows with y up to bin 15 (centre 0.775); bins above are unvisited."""
    entropy = np.tile(0.1 * np.arange(20.0), (20, 1)) + 2.0
    entropy[:, 16:] = np.nan
    return entropy


def test_barrier_depth():
    column = np.array([1.0, 3.0, 0.5, np.nan, 2.0, 4.0])
    assert barrier_depth(column, 0, 5) == (0.5, True)
    assert barrier_depth(np.array([1.0, 2.0, 3.0]), 2, 0) == (0.0, False)


def test_summary_known_answers(tmp_path):
    metrics = summary_metrics(tmp_path / "m.h5")
    never = summary_metrics(tmp_path / "never.h5", memorises=False)

    plain = increasing_entropy()
    dip = increasing_entropy()
    dip[5, 6:10] = dip[5, 2] - 2.0  # a 2.0-deep dip between A = 0.12 (bin 2) and y* (bin 15)
    dip[18, 6:10] = dip[18, 2] - 5.0  # deeper, but above x_mem: must be ignored
    target = np.where(np.arange(20) < 8, YC[4], YC[16])  # y* jumps by 0.6 at x = -6.0
    target[17:] = YC[0]  # an even larger jump at x = -1.5, outside the region
    jump = -((YC[None, :] - target[:, None]) ** 2)
    jump -= jump.min()

    paths = [
        write_landscape(tmp_path / f"{n}.h5", e, X_EDGES, Y_EDGES)
        for n, e in (("plain", plain), ("dip", dip), ("jump", jump))
    ]
    out = tmp_path / "summary" / "landscapes.csv"
    table = landscape_summary(paths + [paths[0]], [metrics] * 3 + [never], ["plain", "dip", "jump", "never"], out)
    assert out.exists() and not list(out.parent.glob("*.tmp"))
    written = pd.read_csv(out).set_index("name")
    assert list(written.reset_index().columns) == list(SUMMARY_COLUMNS)
    assert list(table["name"]) == ["plain", "dip", "jump", "never"]

    plain_row, dip_row, jump_row, never_row = (written.loc[n] for n in ("plain", "dip", "jump", "never"))
    assert bool(plain_row.memorised) and plain_row.mem_step == 40
    assert plain_row.x_mem == pytest.approx(-2.0)
    assert plain_row.n_columns == 17  # columns 0..16
    assert plain_row.region_x_lo == -10.0 and plain_row.region_x_hi == pytest.approx(-1.5)
    assert plain_row.advantage_mean == pytest.approx(YC[15] - 0.12)
    assert plain_row.advantage_max == pytest.approx(YC[15] - 0.12)
    assert plain_row.barrier_max_depth == 0.0 and np.isnan(plain_row.barrier_x)
    assert plain_row.continuity_max_jump == pytest.approx(0.0)
    assert plain_row.noise_mean_abs_dS == pytest.approx(0.05)
    assert plain_row.epochs_per_walker == 5000 and plain_row.walkers == 2

    assert dip_row.barrier_max_depth == pytest.approx(2.0)
    assert dip_row.barrier_x == pytest.approx(XC[5])
    assert dip_row.advantage_mean == pytest.approx(plain_row.advantage_mean)

    assert jump_row.continuity_max_jump == pytest.approx(0.6)
    assert jump_row.continuity_x == pytest.approx(-6.0)
    assert jump_row.barrier_max_depth == 0.0  # S(y) is unimodal in every column
    assert jump_row.advantage_max == pytest.approx(YC[16] - 0.12)

    assert not bool(never_row.memorised) and np.isnan(never_row.x_mem)
    assert never_row.n_columns == 20  # every column the trajectory visits
    assert never_row.continuity_pairs == 19

    # the verdicts: both walkers share one map here, so the advantage has no spread
    assert np.isnan(plain_row.advantage_spread) and plain_row.advantage_verdict == "advantage (no spread)"
    assert plain_row.path_barrier_depth == 0.0 and plain_row.barrier_verdict == "none"
    assert plain_row.continuity_verdict == "continuous"
    assert dip_row.barrier_verdict == "barrier"  # 2.0 deep against 2 x 0.05 of noise
    assert dip_row.path_barrier_depth == 0.0  # the AdamW path (bin 2) passes beside the dip
    assert jump_row.continuity_verdict == "jump"  # 0.6 > JUMP_LIMIT
    # spec 5.11 on the last merge: y* moved 1 bin, mean |dS| 0.05 of a 30-nat range
    assert plain_row.maxent_shift_bins == 1.0 and plain_row.relative_abs_dS == pytest.approx(0.05 / 30)
    assert plain_row.converged == "yes"
    # depth targets: this run memorises at x = -2 and never generalises, so x_mem - 2
    assert plain_row.x_target == pytest.approx(-4.0) and plain_row.target == "memorisation - 2"
    assert plain_row.covered_x_lo == -10.0 and plain_row.covered_x_hi == pytest.approx(0.0)
    assert plain_row.coverage_verdict == "covered"
    assert never_row.target == "none" and never_row.coverage_verdict == "unknown"


def test_summary_coverage_reaches_where_the_run_generalises(tmp_path):
    """A run whose test accuracy reaches 0.9 at step 144 (ln L = -7.2) against a map visited
    only down to x = -5: short of its target; a map reaching -10 covers it."""
    step = np.arange(200)
    metrics = write_metrics(
        tmp_path / "m.h5", steps=200, t_grok=100.0, ln_loss=-0.05 * step, train_acc=np.where(step >= 40, 1.0, 0.5)
    )
    shallow = increasing_entropy()
    shallow[:10] = np.nan  # columns below x = -5 unvisited
    paths = [
        write_landscape(tmp_path / f"{n}.h5", e, X_EDGES, Y_EDGES)
        for n, e in (("deep", increasing_entropy()), ("shallow", shallow))
    ]
    table = landscape_summary(paths, [metrics] * 2, ["deep", "shallow"], tmp_path / "s.csv").set_index("name")
    assert table.loc["deep", "x_target"] == pytest.approx(-7.2) and table.loc["deep", "target"] == "test 0.9"
    assert table.loc["deep", "coverage_verdict"] == "covered"
    assert table.loc["shallow", "covered_x_lo"] == pytest.approx(-5.0)
    assert table.loc["shallow", "coverage_verdict"] == "short"


@pytest.mark.parametrize(
    "shift,dS,span,verdict",
    [(1.0, 0.29, 30.0, "yes"), (1.5, 0.05, 30.0, "no"), (0.0, 0.3, 30.0, "no"), (np.nan, 0.05, 30.0, "unknown")],
)
def test_convergence_verdict_is_spec_5_11(shift, dS, span, verdict):
    from grokglass.wlmd.landscape import convergence_verdict

    row = convergence_verdict(
        {"maxent_shift_bins": [9.0, shift], "mean_abs_dS": [3.0, dS], "visited_entropy_range": [20.0, span]}
    )
    assert row["converged"] == verdict
    assert convergence_verdict({})["converged"] == "unknown"  # a landscape of one merge


def test_advantage_spread_is_the_standard_error_over_distinct_walker_maps():
    from grokglass.figures.landscape_summary import advantage_spread, path_barrier_depth

    entropy = np.zeros((3, 20))
    first, second = np.zeros((3, 20)), np.zeros((3, 20))
    first[:, 10], second[:, 12] = 1.0, 1.0  # y* = YC[10] = 0.525 and YC[12] = 0.625
    adamw, columns = np.full(3, 0.1), np.arange(3)
    spread = advantage_spread(np.stack([first, second, second]), entropy, YC, columns, adamw)
    assert spread == pytest.approx(np.std([0.425, 0.525], ddof=1) / np.sqrt(2))
    assert np.isnan(advantage_spread(np.stack([first, first]), entropy, YC, columns, adamw))
    path = np.zeros((3, 20))
    path[:, 2] = [3.0, 1.0, 2.0]  # along the AdamW bin (0.1 -> bin 2) S dips by 1 in the middle
    assert path_barrier_depth(path, Y_EDGES, columns, adamw) == pytest.approx(1.0)


def test_package_exports_functions():
    import grokglass.figures as figures

    for name in figures.NAMES:
        assert callable(getattr(figures, name)) and figures.figure_function(name) is getattr(figures, name)
    with pytest.raises(KeyError):
        figures.figure_function("fig9")


def write_merged(path, entropy, histogram):
    with h5py.File(path, "w") as h5:
        h5.create_dataset("mean_entropy", data=np.nan_to_num(entropy, nan=0.0))
        h5.create_dataset("cumulative_histogram", data=histogram)
    return path


def test_crosscheck_compares_two_maps_on_their_shared_bins(tmp_path):
    """Two maps of one known S on offset grids (the windows' deep one, the paper's shallow one):
    a constant offset is no difference; a tilt is one, and its size is the mean |tilt| left after
    centring; the noise comes from each map's last merge but one."""
    from grokglass.figures.crosscheck import compare, crosscheck

    def truth(x_edges, y_edges, visited_x):
        xc, yc = 0.5 * (x_edges[1:] + x_edges[:-1]), 0.5 * (y_edges[1:] + y_edges[:-1])
        X, Y = np.meshgrid(xc, yc, indexing="ij")
        S = 40.0 * X - 25.0 * (Y - 0.3) ** 2
        return np.where((visited_x[0] <= X) & (visited_x[1] >= X) & (Y < 0.8), S, np.nan), X

    y_edges = np.linspace(0.0, 1.0, 11)
    fast_x, paper_x = np.arange(-6.0, 0.6001, 0.2), np.arange(-3.0, 2.0001, 0.2)
    fast, _ = truth(fast_x, y_edges, (-6.0, 0.4))
    paper, X = truth(paper_x, y_edges, (-1.9, 1.5))
    fast_path = write_landscape(tmp_path / "fast.h5", fast - np.nanmin(fast), fast_x, y_edges)
    paper_path = write_landscape(tmp_path / "paper.h5", paper + 123.0, paper_x, y_edges)
    # the previous merges: each map 0.5 nats off in a checkerboard (its noise) and one bin less deep
    previous = {}
    for name, S, edges in (("fast", fast, fast_x), ("paper", paper, paper_x)):
        xc = 0.5 * (edges[1:] + edges[:-1])
        wobble = 0.5 * (-1.0) ** np.add.outer(np.arange(len(xc)), np.arange(10))
        seen = np.isfinite(S) & (xc[:, None] > -1.8)
        previous[name] = write_merged(tmp_path / f"{name}_prev.h5", np.where(seen, S + wobble, np.nan), seen * 1.0)

    figure = crosscheck(fast_path, paper_path, tmp_path / "cc", previous["fast"], previous["paper"])
    table = assert_outputs(tmp_path / "cc")
    numbers = pd.read_csv(tmp_path / "cc_summary.csv").iloc[0]
    # shared: x from -1.7 (the previous merges' reach) to 0.3 (the fast map's top), y < 0.8
    assert numbers["x_lo"] == pytest.approx(-1.7) and numbers["x_hi"] == pytest.approx(0.3)
    assert numbers["n_common_bins"] == 11 * 8 == len(table)
    assert numbers["mean_abs_difference"] == pytest.approx(0.0, abs=1e-9)
    assert numbers["noise_fast"] == pytest.approx(0.5, abs=0.01) and numbers["noise_paper"] == pytest.approx(
        0.5, abs=0.01
    )
    assert numbers["noise_level"] == pytest.approx(np.hypot(numbers["noise_fast"], numbers["noise_paper"]))
    assert numbers["verdict"] == "agree"
    assert any(isinstance(c, QuadMesh) for c in figure.axes[2].collections)

    # a tilt of 3 nats per unit ln L in the paper's map: what is left after centring
    tilted = load_landscape(paper_path)
    tilted.entropy = tilted.entropy + 3.0 * X
    got, _ = compare(load_landscape(fast_path), tilted)
    xs = np.round(np.arange(-1.9, 0.3001, 0.2), 6)  # without the previous merges: from -1.9
    expected = np.abs(3.0 * (xs - xs.mean())).mean()
    assert got["mean_abs_difference"] == pytest.approx(expected)
    assert got["verdict"] == "unknown" and np.isnan(got["noise_level"])  # no previous merges, no noise

    shifted = load_landscape(paper_path)
    shifted.x_edges = shifted.x_edges + 0.05
    with pytest.raises(ValueError, match="offset by 0.25 of a bin"):
        compare(load_landscape(fast_path), shifted)


def test_the_end_of_a_run_says_where_the_figures_are_and_the_verdicts(tmp_path):
    from grokglass.pipeline.run_summary import run_summary

    assert "results/figures/ (fig1" in run_summary(tmp_path)  # no summary yet: no table, no error
    (tmp_path / "results" / "figures").mkdir(parents=True)
    (tmp_path / "results" / "figures" / "landscape_summary.csv").write_text(
        "name,advantage_verdict,barrier_verdict,continuity_verdict,converged\ngrok_add,advantage,none,jump,no\n"
    )
    lines = run_summary(tmp_path).splitlines()
    assert lines[-2].split() == ["name", "advantage_verdict", "barrier_verdict", "continuity_verdict", "converged"]
    assert lines[-1].split() == ["grok_add", "advantage", "none", "jump", "no"]
