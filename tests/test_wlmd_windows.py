"""Windows in x with replica exchange, and stitching (wlmd.windows): exact on synthetic maps,
detailed balance of the exchange, and the ball's extensive entropy recovered."""

import math

import numpy as np
import pytest
import torch

from grokglass.tools.convergence_bench import BallProblem
from grokglass.wlmd.sampler import init_walkers
from grokglass.wlmd.settings import GridSpec, SamplerSettings
from grokglass.wlmd.systems import Ball2DSystem, BallSystem
from grokglass.wlmd.windows import (
    WindowSettings,
    exchange_acceptance,
    sample,
    steer_into,
    stitch_maps,
    window_grid,
    window_ranges,
)

pytestmark = pytest.mark.usefixtures("one_thread")
GRID = GridSpec(lows=(-2.3,), highs=(0.3,), bin_width=0.02, bias_start=0.0, bias_low=-2.0, gaussian_sigma_bins=5.0)


def test_windows_cover_the_grid_and_overlap():
    ranges = window_ranges(GRID, WindowSettings(n=4, overlap=0.6))
    assert ranges[0][0] == 0 and ranges[-1][1] == GRID.shape[0] == 130
    assert all(b_first < a_last for (_, a_last), (b_first, _) in zip(ranges, ranges[1:]))
    spec = window_grid(GRID, *ranges[1], wall_bins=10)
    assert (
        spec.bias_low == pytest.approx(-2.3 + 0.02 * ranges[1][0]) and spec.shape[0] == ranges[1][1] - ranges[1][0] + 20
    )
    with pytest.raises(ValueError, match="overlap in"):
        WindowSettings(n=3, overlap=0.0)
    with pytest.raises(ValueError, match="a stitch needs"):
        window_ranges(GridSpec(lows=(0.0,), highs=(0.1,), bin_width=0.02), WindowSettings(n=4, overlap=0.1))
    # 3 shared bins, but each window drops 2 beside its inner wall (1.5 sigma): too few left to stitch on
    coarse = GridSpec(lows=(-3.6, -0.6), highs=(2.0, 10.6), bin_width=0.2, gaussian_sigma_bins=1.5)
    with pytest.raises(ValueError, match="overlap by 3 bins, fewer than the 6 a stitch needs"):
        window_ranges(coarse, WindowSettings(n=4, overlap=0.5))
    assert len(window_ranges(coarse, WindowSettings(n=4, overlap=0.5, trim_bins=0))) == 4


def test_stitching_recovers_known_offsets_exactly():
    """Windows of an exact S, each shifted by an arbitrary constant: the stitch undoes the shifts."""
    x = np.linspace(-2.0, 0.0, 100)
    exact = 50.0 * x + np.sin(7 * x)
    ranges, shifts = [(0, 40), (30, 70), (60, 100)], [0.0, 13.25, -41.5]
    maps, visits = [], []
    for (first, last), shift in zip(ranges, shifts):
        window, seen = np.full(100, np.nan), np.zeros(100)
        window[first:last], seen[first:last] = exact[first:last] + shift, 1.0 + np.arange(last - first) % 3
        maps.append(window)
        visits.append(seen)
    stitched, offsets = stitch_maps(maps, visits)
    assert np.allclose(offsets, [0.0, -13.25, 41.5], atol=1e-10)
    assert np.allclose(stitched, exact, atol=1e-10)
    visits[1][30:40] = 0.0
    visits[0][30:40] = 0.0
    with pytest.raises(ValueError, match="windows 0 and 1 share no visited bin"):
        stitch_maps(maps, visits)


def test_exchange_keeps_detailed_balance():
    """Two windows sample exp(-S_a(x)) and exp(-S_b(x)) over three states. For every pair of
    joint states related by a swap, pi(s) acc(s -> s') == pi(s') acc(s' -> s)."""
    s_a, s_b = [0.3, 2.0, -1.1], [1.7, -0.4, 0.9]
    for i in range(3):
        for j in range(3):
            weight = math.exp(-s_a[i] - s_b[j])  # walker in a at state i, walker in b at state j
            swapped = math.exp(-s_a[j] - s_b[i])
            forward = exchange_acceptance(s_a[i], s_a[j], s_b[j], s_b[i])
            backward = exchange_acceptance(s_a[j], s_a[i], s_b[i], s_b[j])
            assert weight * forward == pytest.approx(swapped * backward, rel=1e-12)
            assert 0.0 < forward <= 1.0
    assert exchange_acceptance(1.0, 1.0, 2.0, 2.0) == 1.0  # flat maps: always accepted


def test_walkers_are_steered_into_their_window():
    system = BallSystem(30)
    state = init_walkers(system, [0, 1, 2], 0, SamplerSettings(constraint="none"))
    steer_into(system, state, target=-1.5, tolerance=0.01)
    x, _ = system.observables(state.layout.views(state.params))
    assert torch.all((x + 1.5).abs() <= 0.01)


def test_windowed_sampling_recovers_the_balls_entropy():
    """N = 20 (S = 10 x, 18 nats over the window), 4 windows x 1 walker, 8,000 epochs each
    (32,000 walker-epochs): measured RMS at seeds 0-2 0.53, 1.28, 0.95 nats with hard walls (the
    default; soft: 0.45, 0.80, 0.83) against ~5 for a flat guess (a map without windows or with
    wrong offsets is off by the 18 nats' slope); docs/validation.md section 13."""
    problem = BallProblem(n_params=20)
    settings = SamplerSettings(
        dt=3e-3, friction=0.05, wl_factor=0.2, t_rise=1, t_drop=1e12, constraint="none", schedule="inverse_time"
    )
    windows = WindowSettings(n=4, overlap=0.6, walkers_per_window=1)
    result = sample(BallSystem(20), problem.grid(), settings, epochs=8000, windows=windows)
    assert problem.rms_error(torch.from_numpy(np.nan_to_num(result.entropy, nan=0.0))) < 1.2
    assert np.all(np.diff(result.offsets) > 0)  # S rises with x, and so does each window's base
    assert all(stats["attempts"] > 0 for stats in result.exchanges.values())
    assert sum(stats["accepted"] for stats in result.exchanges.values()) > 0


def test_windows_that_never_met_are_left_out_with_a_warning():
    maps = [
        np.array([0.0, 1.0, np.nan, np.nan]),
        np.array([np.nan, 5.0, 6.0, np.nan]),
        np.array([np.nan] * 2 + [9.0, 10.0]),
    ]
    visits = [np.array([1.0, 1.0, 0, 0]), np.array([0, 0, 1.0, 0]), np.array([0, 0, 2.0, 1.0])]
    with pytest.raises(ValueError, match="windows 0 and 1 share no visited bin"):
        stitch_maps(maps, visits)
    warnings = []
    stitched, offsets = stitch_maps(maps, visits, warn=warnings.append)
    assert len(warnings) == 1 and "leaves out windows 0..0" in warnings[0]
    assert np.isnan(offsets[0]) and offsets[1:] == [0.0, -3.0]
    assert np.isnan(stitched[:2]).all() and np.allclose(stitched[2:], [6.0, 7.0])


def test_windows_on_a_2d_grid_recover_the_joint_entropy_of_the_ball():
    """The 2-D known answer: N = 20, x = ln |theta|^2 and y = the share u of |theta|^2 in the
    first 10 coordinates, S = 10 x + 4 ln u + 4 ln(1 - u) (Ball2DSystem). Two windows in x of
    two walkers, 6,000 epochs each (24,000 walker-epochs), exchanges and stitching in 2-D:
    measured RMS at seeds 0-2 0.89, 1.04, 0.55 nats with hard walls (soft: 0.69, 0.55, 0.58) over
    x in [-0.9, -0.1], u in [0.15, 0.85], where a flat guess is 2.42 off and S spans 9.7 nats."""
    system = Ball2DSystem(20, y_scale=1.0)
    grid = GridSpec(
        lows=(-1.3, 0.0), highs=(0.3, 1.0), bin_width=0.05, bias_start=0.0, bias_low=-1.0,
        gaussian_sigma_bins=1.5, gaussian_cutoff_sigmas=3.0,
    )  # fmt: skip
    settings = SamplerSettings(
        dt=3e-3, friction=0.05, wl_factor=0.2, t_rise=1, t_drop=1e12, constraint="none", schedule="inverse_time"
    )
    windows = WindowSettings(n=2, overlap=0.6, walkers_per_window=2)
    result = sample(system, grid, settings, epochs=6000, windows=windows)
    x, y = grid.centres(0)[:, None], grid.centres(1)[None, :]
    exact = system.entropy_2d(x, y).numpy()
    inside = ((x >= -0.9) & (x <= -0.1) & (y >= 0.15) & (y <= 0.85)).numpy()
    assert np.isfinite(result.entropy[inside]).all()
    difference = (result.entropy - exact)[inside]
    assert np.sqrt(np.mean((difference - difference.mean()) ** 2)) < 1.0
    assert result.exchanges["0-1"]["accepted"] > 0


def test_exchange_partners_alternate_and_pair_each_window_at_most_once():
    from grokglass.wlmd.settings import exchange_partner

    assert [exchange_partner(0, w, 4) for w in range(4)] == [None] * 4  # fresh walkers do not exchange
    assert [exchange_partner(1, w, 4) for w in range(4)] == [1, 0, 3, 2]
    assert [exchange_partner(2, w, 4) for w in range(4)] == [None, 2, 1, None]
    assert [exchange_partner(3, w, 5) for w in range(5)] == [1, 0, 3, 2, None]
    for segment in range(1, 6):  # symmetric: my partner's partner is me
        for w in range(5):
            partner = exchange_partner(segment, w, 5)
            assert partner is None or exchange_partner(segment, partner, 5) == w
