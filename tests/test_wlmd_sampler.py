"""The batched WLMD sampler: settings, state, constraints, force sign, reproducibility."""

import math

import pytest
import torch
from wlmd_helpers import walker_in_groups

from grokglass.data.arithmetic import Task, make_split
from grokglass.nets.systems import TransformerSystem
from grokglass.nets.transformer import TransformerConfig
from grokglass.wlmd.grid import EntropyGrid, GridSpec
from grokglass.wlmd.sampler import SamplerSettings, WalkerState, init_walkers, run_epochs, walker_seed
from grokglass.wlmd.systems import BoxSumSystem

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_system(p: int = 7, d_model: int = 8) -> TransformerSystem:
    return TransformerSystem(TransformerConfig(p=p, d_model=d_model), make_split(Task("add", "x + y", p), 0.5, 0))


def tiny_grid_spec(**overrides) -> GridSpec:
    values = dict(
        lows=(-4.0, -1.0),
        highs=(2.0, 11.0),
        bin_width=0.2,
        bias_strength=3000.0,
        bias_start=0.6,
        gaussian_sigma_bins=1.0,
        gaussian_cutoff_sigmas=3.0,
    )
    values.update(overrides)
    return GridSpec(**values)


def test_settings_round_trip_and_validation():
    settings = SamplerSettings(dt=1e-3, constraint="shell", share="every_step")
    assert SamplerSettings.from_dict(settings.to_dict()) == settings
    with pytest.raises(ValueError, match="constraint"):
        SamplerSettings(constraint="box")
    with pytest.raises(ValueError, match=r"sampler settings: unknown keys \['slope'\]"):
        SamplerSettings.from_dict({"dt": 1e-3, "slope": 7})
    assert math.isclose(SamplerSettings(friction=0.1, kT=2.0).noise_std, math.sqrt(0.1 * 1.9 * 2.0))


def test_walker_seeds_depend_only_on_base_seed_and_id():
    assert walker_seed(0, 3, 0) == walker_seed(0, 3, 0)
    seeds = {walker_seed(b, w, k) for b in range(3) for w in range(5) for k in range(3)}
    assert len(seeds) == 45


def test_init_clips_into_the_box_and_draws_unit_velocities():
    system = tiny_system()
    settings = SamplerSettings(constraint="bounds", bound_scale=2.0)
    state = init_walkers(system, [0, 1, 2], base_seed=1, settings=settings)
    for name, tensor in state.named_params().items():
        assert tensor.abs().max() <= system.bounds(2.0)[name] + 1e-7, name
    assert 0.8 < state.velocity.std() < 1.2
    # b_in/b_out take the bound of their weight (their init std is 0)
    assert system.bounds(2.0)["b_in"] == system.bounds(2.0)["W_in"] == 2 / math.sqrt(8)


def test_state_save_load_continues_bit_identically():
    """N epochs, save, load, N epochs == 2N epochs straight (generators and epoch restored)."""
    system = tiny_system()
    settings = SamplerSettings(dt=1e-3, friction=0.05, wl_factor=0.5, t_rise=5, t_drop=10)
    spec = tiny_grid_spec()

    straight = init_walkers(system, [0, 1], 5, settings)
    grid_a = EntropyGrid(spec, 2)
    run_epochs(system, grid_a, straight, settings, 20)

    resumed = init_walkers(system, [0, 1], 5, settings)
    grid_b = EntropyGrid(spec, 2)
    run_epochs(system, grid_b, resumed, settings, 10)
    resumed = WalkerState.from_dict(resumed.to_dict())
    run_epochs(system, grid_b, resumed, settings, 10)

    assert resumed.epoch == straight.epoch == 20
    assert torch.equal(resumed.params, straight.params)
    assert torch.equal(resumed.velocity, straight.velocity)
    assert torch.equal(grid_a.entropy, grid_b.entropy)


@pytest.mark.parametrize("p, d_model, threads", [(7, 8, 1), (31, 16, 1), (31, 16, 2)])
def test_walker_trajectory_independent_of_group(p, d_model, threads):
    """Walker 1 follows exactly the same path alone, in {0, 1} and in {1, 2, 3} (CPU, bit for bit).

    (31, 16) with 2 threads is the case where a lone walker's matmul would otherwise be
    split across threads and round differently.
    """
    torch.set_num_threads(threads)
    system = tiny_system(p, d_model)
    settings = SamplerSettings(dt=1e-3, friction=0.05, wl_factor=0.5, t_rise=5, t_drop=10)
    runs = walker_in_groups(system, tiny_grid_spec(), settings)
    assert torch.get_num_threads() == threads  # a lone walker's single-thread switch is undone
    for group in ([0, 1], [1, 2, 3]):
        for a, b in zip(runs[(1,)], runs[tuple(group)]):
            assert torch.equal(a, b)


def test_padded_observables_match_the_metrics():
    """The padded forward gives the same (x, y) as metrics on the plain split."""
    from grokglass.metrics import log_cross_entropy64, smoothed_accuracy
    from grokglass.nets.transformer import init_params, transformer_logits

    split = make_split(Task("add", "x + y", 11), 0.5, 0)
    cfg = TransformerConfig(p=11, d_model=8)
    system = TransformerSystem(cfg, split, slope=7.0, y_scale=10.0)
    assert system.n_examples % 64 == 0 and system.n_train == 60
    params = {k: torch.stack([v, 0.5 * v]) for k, v in init_params(cfg, torch.Generator().manual_seed(0)).items()}
    x, y = system.observables(params)
    assert x.dtype == y.dtype == torch.float64 and x.shape == (2,)
    x_ref = log_cross_entropy64(transformer_logits(params, split.train_inputs, 4), split.train_labels)
    a_ref = smoothed_accuracy(transformer_logits(params, split.test_inputs, 4), split.test_labels, 7.0)
    assert torch.allclose(x, x_ref, rtol=1e-6, atol=0)
    assert torch.allclose(y, 10 * a_ref.double(), rtol=1e-5, atol=1e-6)


def test_shell_keeps_the_norm_and_removes_radial_velocity():
    system = tiny_system()
    settings = SamplerSettings(
        dt=1e-3, friction=0.05, constraint="shell", shell_norm=30.0, wl_factor=0.5, t_rise=5, t_drop=10
    )
    state = init_walkers(system, [0, 1, 2], 2, settings)

    def check():
        theta, v = state.params.double(), state.velocity.double()
        norms = theta.norm(dim=1)
        assert torch.allclose(norms, torch.full_like(norms, 30.0), atol=1e-4, rtol=0)
        radial = (theta / norms[:, None] * v).sum(1)
        assert radial.abs().max() < 1e-4 * v.norm(dim=1).min()

    check()
    grid = EntropyGrid(tiny_grid_spec(), 3)
    for _ in range(5):
        run_epochs(system, grid, state, settings, 10)
        check()


def test_reflective_bounds_are_never_violated():
    """A box 10x smaller than a typical step's reach per 100 epochs: many reflections, no escape."""
    system = BoxSumSystem(half_width=0.05)
    settings = SamplerSettings(dt=0.02, friction=0.01, wl_factor=0.1, t_rise=1, t_drop=10)
    spec = GridSpec(
        lows=(-0.2,),
        highs=(0.2,),
        bin_width=0.01,
        bias_strength=0.0,
        gaussian_sigma_bins=1.0,
        gaussian_cutoff_sigmas=3.0,
    )
    state = init_walkers(system, list(range(16)), 0, settings)
    grid = EntropyGrid(spec, 16)
    previous = state.velocity.clone()
    flips = 0
    for _ in range(300):
        run_epochs(system, grid, state, settings, 1)
        assert state.params.abs().max() <= 0.05
        flips += int(((previous * state.velocity) < 0).sum())
        previous = state.velocity.clone()
    assert flips > 100  # the walls were actually hit


def test_force_pushes_down_in_the_bias_region():
    """Without noise, one epoch inside the bias region lowers x for every walker."""
    system = tiny_system()
    settings = SamplerSettings(dt=1e-3, friction=0.0, kT=0.0, wl_factor=0.0 + 1e-9, t_rise=1, t_drop=1)
    state = init_walkers(system, list(range(6)), 4, settings)
    x0, _ = system.observables(state.named_params())
    assert (x0 > 0.6).all()  # the random init starts above bias_start
    grid = EntropyGrid(tiny_grid_spec(bias_start=0.0), 6)
    result = run_epochs(system, grid, state, settings, 1)
    assert torch.equal(result["x"], x0)  # the returned (x, y) are the pre-update ones
    x1, _ = system.observables(state.named_params())
    assert (x1 < x0).all()


def test_walkers_leave_the_bias_region():
    """At kT = 1, tiny transformers starting above bias_start reach x < bias_start in a short run.

    In the bias region a walker settles where the bias slope 2B(x - L0) balances the
    entropic pull d ln(Omega)/dx (a few hundred for this net), so with B = 3e4 it
    fluctuates within ~0.01 of L0 and crosses it; deposits then fill in behind it.
    (Measured: every walker of seeds 0-3 crossed within 125 epochs; the test runs 300.)
    """
    system = tiny_system()
    settings = SamplerSettings(dt=1e-3, friction=0.01, wl_factor=5.0, t_rise=1, t_drop=1e9)
    state = init_walkers(system, list(range(4)), 0, settings)
    x0, _ = system.observables(state.named_params())
    assert (x0 > 0.6).all()
    grid = EntropyGrid(tiny_grid_spec(bias_start=0.6, bias_strength=3e4), 4)
    lowest = x0.clone()
    for _ in range(12):
        result = run_epochs(system, grid, state, settings, 25)
        lowest = torch.minimum(lowest, result["x"])
    assert (lowest < 0.6).all(), lowest


def test_log_records_at_the_requested_epochs():
    system = BoxSumSystem()
    settings = SamplerSettings(dt=0.05, friction=0.1, wl_factor=0.01, t_rise=10, t_drop=100, log_every=7)
    state = init_walkers(system, [0, 1], 0, settings)
    grid = EntropyGrid(
        GridSpec(
            lows=(-2.2,),
            highs=(2.2,),
            bin_width=0.1,
            bias_strength=0.0,
            gaussian_sigma_bins=1.0,
            gaussian_cutoff_sigmas=3.0,
        ),
        2,
    )
    records = []
    run_epochs(system, grid, state, settings, 30, log=records.append)
    assert [r["epoch"] for r in records] == [7, 14, 21, 28]
    assert all(-2 <= r["x_min"] <= r["x_max"] <= 2 for r in records)
    assert records[0]["kinetic_target"] == 0.5
    assert grid.histogram.sum() == 60  # one visit per walker-epoch


def test_captured_epoch_gives_the_eager_trajectory(one_thread):
    """run_epochs(capture="compiled") (torch.compile of the whole epoch, one graph) follows eager to
    float32 rounding: same bins, same deposits, parameters within 1e-6 relative after 25 epochs.
    (The device check's tiny sizes: torch caches the compiled code for both.)"""
    from grokglass.tools.device_check import TINY_SIZES, Check, build_sampler

    finals = []
    for capture in ("eager", "compiled"):
        system, grid, settings, state = build_sampler(Check(torch.device("cpu"), TINY_SIZES, budget_s=60), 4)
        result = run_epochs(system, grid, state, settings, 25, capture=capture)
        assert (result["capture"], result["capture_error"]) == (capture, None)  # it compiled, no fallback
        finals.append((state.params.clone(), grid.learned().clone(), state.epoch))
    (eager_params, eager_entropy, eager_epoch), (compiled_params, compiled_entropy, compiled_epoch) = finals
    assert eager_epoch == compiled_epoch == 25
    assert torch.allclose(compiled_params, eager_params, rtol=1e-6, atol=1e-7)
    assert torch.equal(compiled_entropy, eager_entropy)  # the same bins were visited in the same order


def test_a_capture_that_cannot_compile_falls_back_to_eager_before_any_epoch(monkeypatch):
    """A failing compile leaves the state untouched and the run continues eager, bit for bit."""
    import grokglass.wlmd.sampler as sampler

    def broken(step, capture):
        def fail(*args):
            raise RuntimeError("no compiler here\nmore detail")

        return fail

    system, settings = tiny_system(), SamplerSettings(dt=1e-3, wl_factor=0.5, t_rise=5, t_drop=10)
    runs = []
    for capture in ("eager", "compiled"):
        monkeypatch.setattr(sampler, "_compile", broken)
        state, grid = init_walkers(system, [0, 1], 3, settings), EntropyGrid(tiny_grid_spec(), 2)
        runs.append((run_epochs(system, grid, state, settings, 6, capture=capture), state, grid))
    (_, eager, eager_grid), (result, fallback, fallback_grid) = runs
    assert result["capture"] == "eager" and result["capture_error"] == "RuntimeError: no compiler here"
    assert torch.equal(fallback.params, eager.params) and torch.equal(fallback_grid.entropy, eager_grid.entropy)
    with pytest.raises(ValueError, match="capture must be one of eager, compiled, graphs"):
        run_epochs(system, grid, state, settings, 1, capture="cuda-graph")


def noise_of_one_epoch(noise_draw: str, walkers: int = 3) -> tuple[torch.Tensor, WalkerState]:
    """The noise term of one epoch (velocity change minus the deterministic part), walkers x row.
    (p = 5: 928 parameters in rows of 960, so there is padding.)"""
    system = tiny_system(p=5)
    settings = SamplerSettings(dt=1e-3, friction=0.5, kT=1.0, wl_factor=0.0, constraint="none")  # no reflections
    state = init_walkers(system, list(range(walkers)), 7, settings)
    grid = EntropyGrid(tiny_grid_spec(bias_strength=0.0), walkers)
    before = state.velocity.clone()
    run_epochs(system, grid, state, settings, 1, noise_draw=noise_draw)  # flat S: no force
    return (before * (1 - settings.friction) - state.velocity) / settings.noise_std, state


@pytest.mark.parametrize("noise_draw", ["walker", "group"])
def test_noise_is_unit_normal_per_parameter_and_zero_in_the_padding(noise_draw):
    xi, state = noise_of_one_epoch(noise_draw)
    real, padding = xi[:, : state.layout.numel], xi[:, state.layout.numel :]
    assert state.layout.row > state.layout.numel and torch.all(padding.abs() < 1e-6)
    n = real.numel()
    assert abs(float(real.mean())) < 5 / math.sqrt(n) and abs(float(real.var()) - 1) < 5 * math.sqrt(2 / n)
    correlation = torch.corrcoef(real.double())
    assert (correlation - torch.eye(3, dtype=torch.float64)).abs().max() < 5 / math.sqrt(state.layout.numel)


def test_group_noise_is_one_draw_from_the_first_walkers_generator():
    """noise_draw="group": the group's noise is the first walker's stream read as one (K, N) block;
    per walker, row k is walker k's own stream (what keeps a walker independent of its group)."""
    per_walker, state = noise_of_one_epoch("walker")
    group, _ = noise_of_one_epoch("group")
    n = state.layout.numel
    own = [torch.randn(n, generator=torch.Generator().manual_seed(walker_seed(7, k, 2))) for k in range(3)]
    block = torch.randn(3, n, generator=torch.Generator().manual_seed(walker_seed(7, 0, 2)))
    assert torch.allclose(per_walker[:, :n], torch.stack(own), atol=1e-5)
    assert torch.allclose(group[:, :n], block, atol=1e-5)
    with pytest.raises(ValueError, match="noise_draw must be one of auto, walker, group"):
        noise_of_one_epoch("shared")


def test_group_noise_resumes_bit_identically():
    """Saving and loading mid-run continues the group's stream (the first walker's generator state)."""
    system = tiny_system()
    settings = SamplerSettings(dt=1e-3, friction=0.05, wl_factor=0.5, t_rise=5, t_drop=10)
    straight, grid_a = init_walkers(system, [0, 1], 5, settings), EntropyGrid(tiny_grid_spec(), 2)
    run_epochs(system, grid_a, straight, settings, 12, noise_draw="group")
    resumed, grid_b = init_walkers(system, [0, 1], 5, settings), EntropyGrid(tiny_grid_spec(), 2)
    run_epochs(system, grid_b, resumed, settings, 6, noise_draw="group")
    resumed = WalkerState.from_dict(resumed.to_dict())
    run_epochs(system, grid_b, resumed, settings, 6, noise_draw="group")
    assert torch.equal(resumed.params, straight.params) and torch.equal(grid_a.entropy, grid_b.entropy)
