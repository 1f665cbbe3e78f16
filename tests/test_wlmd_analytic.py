"""WLMD recovers known densities of states (toy systems with closed-form entropies).

At kT = 1 the walkers sample exp(-S_est(x(theta))) in parameter space, so the
marginal of x is flat exactly when S_est = ln Omega(x) + const: the learned
entropy must converge to the true one. Settings: bins of 0.1 (1-D) / 0.2 (2-D),
Gaussian sigma of one bin, WL factor rising over 100 epochs and decaying as 1/t
after 3000-5000, dt = 0.05 with friction 0.1 (the box is crossed in ~100 epochs).
"""

import numpy as np
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


# ----- extensive entropy: the ball, S(x) = (N/2) x (issue 14) -----------------------------------
@pytest.mark.parametrize(
    "protocol,tolerance",
    [
        ("paper", 0.8),  # measured 0.46 (seed 0)
        ("sum_1/t", 0.8),  # measured 0.40: the 1/t bound removes the constant-F noise floor
        ("sum", 1.6),  # measured 1.28: F x K per epoch on one map saturates (documented, not hidden)
    ],
)
def test_ball_entropy_is_extensive_and_recovered(protocol, tolerance):
    """N = 20, x = ln |theta|^2 in [-2, 0] between walls: S = 10 x spans 18 nats over the
    window (RMS error of a flat guess: ~5 nats). 4 walkers, 40,000 walker-epochs, F = 0.2."""
    from grokglass.tools.convergence_bench import BallProblem, run_protocol

    problem = BallProblem(n_params=20)
    result = run_protocol(problem, protocol, walkers=4, budget=40_000, wl_factor=0.2, dt=3e-3, t_drop=1e12)
    first, last = result["curve"][0][1], result["curve"][-1][1]
    assert first > 4.0 and last < tolerance, result["curve"]


def test_ball_exact_entropy_and_init():
    from grokglass.wlmd.systems import BallSystem

    system = BallSystem(50)
    theta = system.init_params(3)["theta"]
    assert theta.shape == (50,) and 0 < theta.norm() <= 1
    x, _ = system.observables({"theta": theta[None]})
    assert torch.isclose(x[0], theta.double().pow(2).sum().log())
    assert system.entropy(torch.tensor([-1.0, 0.5])).tolist() == [-25.0, float("-inf")]


def test_summed_deposits_fill_one_map_k_times_faster():
    """share=sum: every copy gains the SUM of the K deposits (every_step: their mean)."""
    spec = GridSpec(lows=(0.0,), highs=(2.0,), bin_width=0.1, bias_strength=0.0, gaussian_sigma_bins=1.0)
    bins = torch.tensor([[5], [5], [12]])
    grids = {share: EntropyGrid(spec, 3) for share in ("chunk", "every_step", "sum")}
    for share, grid in grids.items():
        grid.deposit(bins, 0.5, share=share)
    own = grids["chunk"].learned()
    assert torch.allclose(grids["sum"].learned(), own.sum(0).expand_as(own))
    assert torch.allclose(grids["every_step"].learned(), own.mean(0).expand_as(own))
    assert torch.isclose(grids["sum"].learned()[0].sum(), torch.tensor(1.5, dtype=torch.float64))


def test_summed_schedule_counts_walker_epochs_and_the_1_over_t_bound():
    """f(t) of share=sum runs in walker-epochs of the map (epoch x map_walkers); inverse_time
    caps it at kernel_bins x visited bins / t."""
    from grokglass.wlmd.sampler import _EpochStep

    spec = GridSpec(lows=(0.0,), highs=(2.0,), bin_width=0.1, bias_strength=0.0, gaussian_sigma_bins=2.0)
    grid = EntropyGrid(spec, 2)
    system, layout = BoxSumSystem(), None
    epoch = torch.tensor(50.0, dtype=torch.float64)
    paper = SamplerSettings(wl_factor=1.0, t_rise=100, t_drop=1000, constraint="none", share="sum")
    step = _EpochStep(system, grid, layout, paper, "eager", schedule_scale=4)
    assert float(step.deposit_amount(epoch)) == 1.0  # t = 200 walker-epochs: past t_rise = 100
    assert float(_EpochStep(system, grid, layout, paper, "eager").deposit_amount(epoch)) == 0.5
    grid.deposit(torch.tensor([[3], [10]]), 0.0)  # two visited bins, nothing learned yet
    inverse = SamplerSettings(**{**paper.to_dict(), "schedule": "inverse_time"})
    step = _EpochStep(system, grid, layout, inverse, "eager", schedule_scale=4)
    assert grid.visited_bins() == 2
    assert float(step.deposit_amount(epoch)) == pytest.approx(min(1.0, grid.kernel_bins * 2 / 200))
    assert 4.5 < grid.kernel_bins < 5.5  # sqrt(2 pi) sigma for sigma = 2 bins


def test_summed_merge_adds_each_groups_increment():
    """share=sum across jobs: S_new = S_prev + sum over groups of (S_group - S_prev)."""
    from grokglass.jobs.merge import merged_entropy

    previous = {"mean_entropy": np.array([1.0, 2.0, 3.0])}
    groups = [
        {"learned_entropy": np.array([[1.5, 2.0, 3.0], [1.5, 2.0, 3.0]])},
        {"learned_entropy": np.array([[1.0, 2.25, 3.0]])},
    ]
    walker_entropy = np.concatenate([g["learned_entropy"] for g in groups])
    assert merged_entropy("sum", groups, walker_entropy, previous).tolist() == [1.5, 2.25, 3.0]
    assert merged_entropy("sum", groups[:1], walker_entropy[:2], None).tolist() == [1.5, 2.0, 3.0]
    assert np.allclose(merged_entropy("chunk", groups, walker_entropy, previous), walker_entropy.mean(0))


def test_hard_walls_keep_walkers_in_and_the_map_true_up_to_them():
    """Hard walls at x = -1 and 1 (GridSpec.hard_walls) in the box sum's S = ln(2 - |x|): no
    visit ever falls outside them, and with deposits mirrored at the walls the map is right up
    to the walls' edge bins. Tolerance: RMS < 0.15 over every bin between the walls, where S
    spans 0.69; measured for seeds 0-2: RMS 0.066-0.087, and without the mirror (a Gaussian's
    part beyond a wall lost) 0.48-0.56, the edge bins 0.9-1.3 off; 16 walkers x 8000 epochs."""
    system = BoxSumSystem(half_width=1.0)
    spec = GridSpec(
        lows=(-1.5,), highs=(1.5,), bin_width=0.1, bias_start=1.0, bias_low=-1.0, hard_walls=True,
        gaussian_sigma_bins=1.0, gaussian_cutoff_sigmas=3.0,
    )  # fmt: skip
    settings = SamplerSettings(dt=0.05, friction=0.1, kT=1.0, wl_factor=0.02, t_rise=100, t_drop=3000)
    state = init_walkers(system, list(range(16)), 0, settings)
    with torch.no_grad():  # start between the walls
        state.params.mul_(0.45)
    grid = EntropyGrid(spec, 16)
    run_epochs(system, grid, state, settings, 8000)
    x, _ = system.observables(state.named_params())
    assert ((x >= -1.0) & (x <= 1.0)).all()
    centres = spec.centres(0)
    between = (centres > -1.0) & (centres < 1.0)
    assert grid.histogram.sum(0)[~between].sum() == 0 and (grid.histogram.sum(0)[between] > 0).all()
    error = grid.learned().mean(0)[between] - torch.log(2.0 - centres[between].abs())
    rms = (error - error.mean()).pow(2).mean().sqrt().item()
    assert rms < 0.15, f"RMS {rms:.3f} between the walls"


def test_a_deposit_by_a_hard_wall_is_mirrored_back_inside():
    spec = GridSpec(
        lows=(0.0,), highs=(2.0,), bin_width=0.1, bias_start=1.5, bias_low=0.5, hard_walls=True,
        gaussian_sigma_bins=1.0, gaussian_cutoff_sigmas=3.0,
    )  # fmt: skip
    grid = EntropyGrid(spec, 1)
    assert spec.wall_edges() == (5, 15) and torch.equal(grid.bias, torch.zeros(20, dtype=torch.float64))
    grid.deposit(torch.tensor([[5]]), 1.0)  # the bin just above the low wall
    learned = grid.learned()[0]
    assert learned[5:15].sum().item() == pytest.approx(1.0, abs=1e-12)  # nothing lost beyond the wall
    assert torch.allclose(learned[:5], learned[5:10].flip(0))  # beyond it, the mirror of the inside
    assert grid.histogram[0, 5] == 1 and grid.histogram.sum() == 1
