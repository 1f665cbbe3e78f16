"""ModuleSystem: any torch.nn.Module as a WLMD system, and the README's example of it."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from grokglass.wlmd.sampler import init_walkers
from grokglass.wlmd.settings import SamplerSettings
from grokglass.wlmd.systems import ModuleSystem

pytestmark = pytest.mark.usefixtures("one_thread")
README = Path(__file__).resolve().parents[1] / "README.md"


def small_problem():
    generator = torch.Generator().manual_seed(3)
    inputs = torch.randn(40, 5, generator=generator)
    labels = torch.randint(0, 3, (40,), generator=generator)
    net = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))
    return net, inputs, labels


def test_observables_are_each_walkers_own_module_loss_and_accuracy():
    net, inputs, labels = small_problem()
    system = ModuleSystem(net, inputs[:24], labels[:24], inputs[24:], labels[24:], slope=5.0)
    state = init_walkers(system, [0, 1, 2], 0, SamplerSettings(constraint="none"))
    x, y = system.observables(state.layout.views(state.params))
    for k in range(3):
        walker = {name: view[k] for name, view in state.layout.views(state.params).items()}
        for name, parameter in net.named_parameters():
            parameter.data.copy_(walker[name])
        with torch.no_grad():
            loss = torch.nn.functional.cross_entropy(net(inputs[:24]), labels[:24])
            test = net(inputs[24:])
        top2 = test.topk(2, dim=1).values
        correct = test.gather(1, labels[24:, None])[:, 0]
        margin = torch.where(correct >= top2[:, 0], correct - top2[:, 1], correct - top2[:, 0])
        assert torch.isclose(x[k], loss.double().log(), atol=1e-6)
        assert torch.isclose(y[k], 10 * torch.sigmoid(5.0 * margin).mean().double(), atol=1e-5)
    params = state.params.clone().requires_grad_(True)  # x is differentiable in every parameter
    (grad,) = torch.autograd.grad(system.observables(state.layout.views(params))[0].sum(), params)
    assert torch.count_nonzero(grad[:, : state.layout.numel]) > 0.9 * 3 * state.layout.numel


def test_fresh_walkers_depend_on_their_seed_only_and_leave_the_global_generator_alone():
    net, inputs, labels = small_problem()
    system = ModuleSystem(net, inputs, labels, inputs, labels)
    before = torch.random.get_rng_state()
    a, b, again = system.init_params(1), system.init_params(2), system.init_params(1)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(torch.equal(a[name], again[name]) for name in a)
    assert not torch.equal(a["0.weight"], b["0.weight"])
    bounds = system.bounds(2.0)  # a bias takes its layer's weight's init std
    assert bounds["0.bias"] > 0 and set(bounds) == set(system.param_shapes())


def test_the_readme_example_runs_as_written(capsys):
    text = README.read_text()
    block = re.search(r"<!-- module-system-example -->\n```python\n(.*?)```", text, re.S)
    assert block, "README lost its ModuleSystem example"
    exec(compile(block.group(1), "README.md", "exec"), {})
    printed = capsys.readouterr().out
    visited, span = re.search(r"(\d+) bins visited; S spans ([\d.]+) nats", printed).groups()
    assert int(visited) >= 10 and float(span) > 0.0


def test_sample_gives_its_axes_a_plot_and_clear_errors_for_bad_arguments(tmp_path):
    from grokglass.wlmd import sample
    from grokglass.wlmd.settings import GridSpec

    net, inputs, labels = small_problem()
    system = ModuleSystem(net, inputs[:24], labels[:24], inputs[24:], labels[24:])
    grid = GridSpec(lows=(-3.0, -0.5), highs=(2.0, 10.5), bin_width=0.25, bias_start=1.5, gaussian_sigma_bins=1.0)
    settings = SamplerSettings(dt=2e-3, friction=1e-2, wl_factor=1.0, t_rise=10, t_drop=100, share="sum")
    result = sample(system, grid, settings, walkers=2, epochs=60, progress=False)
    assert len(result.x_edges) == result.entropy.shape[0] + 1 and len(result.y_edges) == result.entropy.shape[1] + 1
    result.plot().figure.savefig(tmp_path / "map.png")
    assert (tmp_path / "map.png").stat().st_size > 1000
    for walkers, epochs, message in [(0, 10, "walkers must be"), (2, -5, "epochs must be"), (2, 0, "epochs must be")]:
        with pytest.raises(ValueError, match=message):
            sample(system, grid, settings, walkers=walkers, epochs=epochs)


def test_walkers_outside_the_grid_are_warned_about_with_their_share_of_epochs():
    from grokglass.wlmd import sample
    from grokglass.wlmd.settings import GridSpec

    net, inputs, labels = small_problem()
    system = ModuleSystem(net, inputs[:24], labels[:24], inputs[24:], labels[24:])
    # the walkers start near ln(ln 3) ~ 0.1; this grid sits far below where they go
    elsewhere = GridSpec(
        lows=(-9.0, -0.5), highs=(-6.0, 10.5), bin_width=0.25, bias_strength=0.0, gaussian_sigma_bins=1.0
    )
    settings = SamplerSettings(dt=2e-3, friction=1e-2, wl_factor=0.01, t_rise=10, t_drop=100, share="sum")
    with pytest.warns(UserWarning, match=r"walkers spent 100\.0% of their epochs outside the grid \[-9, -6\]"):
        result = sample(system, elsewhere, settings, walkers=2, epochs=30, progress=False)
    # by default such walkers deposit nothing and count nowhere: no bin of this grid is visited
    assert result.histogram.sum() == 0 and np.isnan(result.entropy).all()
    with pytest.warns(UserWarning, match="went to its edge bins"):  # ... unless the user asks for the edge bins
        edge = sample(system, elsewhere, settings, walkers=2, epochs=30, progress=False, outside="edge")
    assert edge.histogram.sum() == 60 and np.isfinite(edge.entropy).any()
    with pytest.raises(ValueError, match="outside must be one of"):
        sample(system, elsewhere, settings, walkers=2, epochs=30, outside="clip")
