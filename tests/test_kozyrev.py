import numpy as np
import pandas as pd

from grokglass.analysis.kozyrev import analyze, bootstrap_slope, linear_fit, size_laws, square_law


def _runs(t_mem, t_grok, n_train, optimizer="adamw"):
    return pd.DataFrame(
        {"t_mem": t_mem, "t_grok": t_grok, "t_test95": t_grok, "n_train": n_train, "optimizer": optimizer}
    )


def test_square_law_recovers_a_known_exponent_with_a_covering_interval():
    rng = np.random.default_rng(0)
    t_mem = np.exp(rng.uniform(3, 6, 60))
    t_grok = 3.0 * t_mem**2 * np.exp(rng.normal(0, 0.1, 60))
    fit = square_law(_runs(t_mem, t_grok, np.full(60, 1000)))
    assert abs(fit["slope"] - 2.0) < 0.05 and fit["ci_low"] < 2.0 < fit["ci_high"]
    assert fit["censored"] == 0 and fit["r2"] > 0.98


def test_censored_runs_are_dropped_and_counted():
    table = _runs([50, 60, 70, 80], [2500, None, 4900, 6400], [10, 20, 30, 40])
    assert square_law(table)["censored"] == 1 and square_law(table)["n"] == 3


def test_size_law_prefers_the_true_model():
    rng = np.random.default_rng(1)
    n = np.linspace(1000, 4000, 40)
    exponential = np.exp(9.0 - 1.5e-3 * n + rng.normal(0, 0.05, 40))
    exp_fit = size_laws(_runs(np.ones(40), exponential, n), "t_grok")
    assert exp_fit["preferred"] == "exponential" and exp_fit["prediction_holds"]
    assert abs(exp_fit["exponential"]["slope"] + 1.5e-3) < 1e-4
    n_wide = np.geomspace(100, 100_000, 40)
    pow_fit = size_laws(
        _runs(np.ones(40), np.exp(20.0 - 2.0 * np.log(n_wide) + rng.normal(0, 0.05, 40)), n_wide), "t_grok"
    )
    assert pow_fit["preferred"] == "power" and not pow_fit["prediction_holds"]
    assert abs(pow_fit["power"]["slope"] + 2.0) < 0.05


def test_linear_fit_and_bootstrap_on_exact_data():
    x = np.arange(10.0)
    fit = linear_fit(x, 1 + 3 * x)
    assert abs(fit["slope"] - 3) < 1e-12 and abs(fit["r2"] - 1) < 1e-12
    lo, hi = bootstrap_slope(x, 1 + 3 * x, n_boot=200)
    assert abs(lo - 3) < 1e-9 and abs(hi - 3) < 1e-9


def test_analyze_groups_by_optimizer():
    table = pd.concat(
        [
            _runs([50, 60, 70], [2500, 3600, 4900], [10, 20, 30], "adamw"),
            _runs([40, 50, 60], [1600, 2500, 3600], [10, 20, 30], "sgld"),
        ]
    )
    fits = analyze(table)
    assert set(fits) == {"all", "optimizer=adamw", "optimizer=sgld"}
    assert abs(fits["optimizer=sgld"]["square_law"]["slope"] - 2.0) < 1e-9


def test_kozyrev_figure_renders_both_panels_and_the_fits(tmp_path):
    from grokglass.figures import kozyrev
    from grokglass.figures.common import data_axes
    from grokglass.io import write_table

    paths = []
    for i, (n_train, t_mem) in enumerate([(500, 40), (600, 50), (700, 60), (800, 70)]):
        steps = np.arange(0, 8000)
        t_grok = 2 * t_mem**2
        train = (steps >= t_mem).astype(float)
        test = (steps >= t_grok).astype(float) * (i != 3)  # the last run never groks: censored
        path = tmp_path / f"r{i}" / "metrics.h5"
        write_table(
            path,
            {
                "step": steps,
                "train_acc": train,
                "test_acc": test,
                "weight_norm": np.ones_like(train),
                "ln_train_loss": -train,
            },
            {"run": f'{{"name": "r{i}", "optimizer": "adamw", "fraction": 0.5, "seed": {i}}}', "n_train": n_train},
        )
        paths.append(str(path))
    fig = kozyrev(paths, tmp_path / "koz")
    left, right = data_axes(fig)
    assert left.get_xscale() == "log" and left.get_yscale() == "log"
    labels = [line.get_label() for line in left.get_lines()]
    assert any(label.startswith("fit: slope 2.00") for label in labels)
    assert "censored" in left.get_title()
    assert right.get_xlabel() == "training-set size n_train"
    for ext in ("pdf", "png", "csv"):
        assert (tmp_path / f"koz.{ext}").stat().st_size > 0


def test_kozyrev_figure_when_no_run_groks(tmp_path):
    """All runs censored (e.g. a sweep of settings too slow to grok): the figure still renders,
    the censored runs appear as lower bounds, and the fits say why they are missing."""
    from grokglass.figures import kozyrev
    from grokglass.figures.common import data_axes
    from grokglass.io import write_table

    paths = []
    for i, memorises in enumerate([True, True, False]):
        steps = np.arange(0, 500)
        train = (steps >= 40 + i).astype(float) if memorises else np.zeros(500)
        path = tmp_path / f"r{i}" / "metrics.h5"
        write_table(
            path,
            {
                "step": steps,
                "train_acc": train,
                "test_acc": np.zeros(500),
                "weight_norm": np.ones(500),
                "ln_train_loss": -train,
            },
            {"run": f'{{"name": "r{i}", "optimizer": "sgld", "fraction": 0.5, "seed": {i}}}', "n_train": 100},
        )
        paths.append(str(path))
    fig = kozyrev(paths, tmp_path / "koz")
    left, _ = data_axes(fig)
    assert left.get_yscale() == "log" and "(3 censored)" in left.get_title()
    offsets = left.collections[-1].get_offsets()
    assert offsets.shape == (2, 2) and (offsets[:, 1] == 499).all()  # two lower bounds at the last step
    # and with nothing memorised at all there is nothing to place on log axes
    fig = kozyrev(paths[2:], tmp_path / "koz_none")
    left, _ = data_axes(fig)
    assert left.get_xscale() == "linear" and "no run reached" in left.texts[0].get_text()
