"""WLMD recovers known densities of states (toy systems with closed-form entropies).

At kT = 1 the walkers sample exp(-S_est(x(theta))) in parameter space, so the
marginal of x is flat exactly when S_est = ln Omega(x) + const: the learned
entropy must converge to the true one. Settings: bins of 0.1 (1-D) / 0.2 (2-D),
Gaussian sigma of one bin, WL factor rising over 100 epochs and decaying as 1/t
after 3000-5000, dt = 0.05 with friction 0.1 (the box is crossed in ~100 epochs).
"""

import pytest
import torch

from grokglass.wlmd.grid import EntropyGrid, GridSpec
from grokglass.wlmd.sampler import SamplerSettings, init_walkers, run_epochs
from grokglass.wlmd.systems import BoxSumSystem, RotatedSquareSystem

pytestmark = pytest.mark.usefixtures("one_thread")


def test_box_sum_entropy_is_log_triangle():
    """x = theta_1 + theta_2, |theta_i| <= 1: S(x) = ln(2 - |x|) + c.

    Tolerance: RMS error < 0.15 (after fitting c) over bins at least 3 Gaussian
    widths (0.3) inside x = +-2, where S spans ~1.9. Measured for seeds 0-2: RMS
    0.02-0.04 (single walkers ~0.13); 16 walkers x 15000 epochs, ~5 s.
    """
    system = BoxSumSystem(half_width=1.0)
    spec = GridSpec(
        lows=(-2.2,),
        highs=(2.2,),
        bin_width=0.1,
        bias_strength=0.0,
        gaussian_sigma_bins=1.0,
        gaussian_cutoff_sigmas=3.0,
    )
    settings = SamplerSettings(
        dt=0.05, friction=0.1, kT=1.0, wl_factor=0.01, t_rise=100, t_drop=5000, constraint="bounds", share="chunk"
    )
    state = init_walkers(system, list(range(16)), 0, settings)
    grid = EntropyGrid(spec, 16)
    run_epochs(system, grid, state, settings, 15000)

    centres = spec.centres(0)
    inner = centres.abs() < 2.0 - 0.3
    learned = grid.learned().mean(0)[inner]  # the paper's mean over walkers
    truth = system.entropy(centres)[inner]
    error = learned - truth
    error = error - error.mean()  # least-squares fit of the free constant c
    rms = error.pow(2).mean().sqrt().item()
    assert rms < 0.15, f"RMS error {rms:.3f} of the learned ln(2b - |x|)"
    # the histogram reaches the whole inner range
    assert (grid.histogram.sum(0)[inner] > 0).all()


def test_rotated_square_entropy_is_flat():
    """(x, y) = (theta_1 + theta_2, theta_1 - theta_2) is uniform on the diamond |x| + |y| <= 2.

    Tolerance: std of the walker-mean learned S < 0.1 over bins whose centre lies at
    least 0.6 (3 Gaussian widths) inside the diamond (~100 bins); all of them visited.
    Measured for seeds 0-2: std 0.017-0.020; 16 walkers x 12000 epochs, ~5 s.
    """
    system = RotatedSquareSystem(half_width=1.0)
    spec = GridSpec(
        lows=(-2.4, -2.4),
        highs=(2.4, 2.4),
        bin_width=0.2,
        bias_strength=0.0,
        gaussian_sigma_bins=1.0,
        gaussian_cutoff_sigmas=3.0,
    )
    settings = SamplerSettings(dt=0.05, friction=0.1, kT=1.0, wl_factor=0.02, t_rise=100, t_drop=3000)
    state = init_walkers(system, list(range(16)), 1, settings)
    grid = EntropyGrid(spec, 16)
    run_epochs(system, grid, state, settings, 12000)

    x, y = torch.meshgrid(spec.centres(0), spec.centres(1), indexing="ij")
    interior = system.inside(x, y, margin=0.6)
    assert interior.sum() > 80
    learned = grid.learned().mean(0)[interior]
    assert learned.std().item() < 0.1, f"learned S not flat: std {learned.std().item():.3f}"
    assert (grid.histogram.sum(0)[interior] > 0).all()
    # nothing is ever deposited as a visit outside the diamond (the walkers cannot leave it)
    outside = ~system.inside(x, y, margin=-2 * 2**0.5 * spec.bin_width)
    assert grid.histogram.sum(0)[outside].sum() == 0


def test_shared_every_step_matches_the_per_walker_mean():
    """share=every_step (one S for the group) also recovers ln(2b - |x|), and all copies agree.

    Same tolerance as above (RMS < 0.15); measured 0.05-0.065 for seeds 0-2 (8 walkers x 10000 epochs).
    """
    system = BoxSumSystem(half_width=1.0)
    spec = GridSpec(
        lows=(-2.2,),
        highs=(2.2,),
        bin_width=0.1,
        bias_strength=0.0,
        gaussian_sigma_bins=1.0,
        gaussian_cutoff_sigmas=3.0,
    )
    settings = SamplerSettings(dt=0.05, friction=0.1, wl_factor=0.01, t_rise=100, t_drop=5000, share="every_step")
    state = init_walkers(system, list(range(8)), 2, settings)
    grid = EntropyGrid(spec, 8)
    run_epochs(system, grid, state, settings, 10000)
    learned = grid.learned()
    assert torch.allclose(learned, learned[:1].expand_as(learned))
    centres = spec.centres(0)
    inner = centres.abs() < 1.7
    error = learned[0][inner] - system.entropy(centres)[inner]
    error = error - error.mean()
    assert error.pow(2).mean().sqrt().item() < 0.15
