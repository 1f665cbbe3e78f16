import copy
import math

import pytest
import torch

from grokglass import metrics as M
from grokglass.data.arithmetic import Task, make_split
from grokglass.metrics import weight_norm
from grokglass.nets.transformer import Transformer, TransformerConfig
from grokglass.train.optim import SGLD, FixedNormAdamW, WanD, hybrid_alpha


def test_fixed_norm_adamw_keeps_the_norm():
    split = make_split(Task("add", "x + y", 11), 0.5, 0)
    model = Transformer(TransformerConfig(p=11, d_model=16), seed=0)
    opt = FixedNormAdamW(model.parameters(), norm=30.0, lr=1e-2, weight_decay=0.0)
    for _ in range(50):
        opt.zero_grad()
        M.cross_entropy64(model(split.train_inputs), split.train_labels).backward()
        opt.step()
        assert abs(float(weight_norm(model.parameters())) - 30.0) < 1e-4


def _quadratic_closure(theta, target):
    def closure():
        theta.grad = None
        x = ((theta - target) ** 2).mean().double().log()
        x.backward()
        return x

    return closure


def test_wand_lowers_a_toy_loss():
    torch.manual_seed(0)
    theta = torch.nn.Parameter(torch.randn(200) * 3)
    target = torch.ones(200)
    opt = WanD([theta], lr=0.05, kT=1e-4, friction=0.3, bias_start=-6.0, bias_strength=100.0, wl_factor=0.0, seed=0)
    closure = _quadratic_closure(theta, target)
    start = float(closure().detach())
    for _ in range(500):
        opt.step(closure)
    end = float(closure().detach())
    assert end < start - 3  # ln L drops by more than 3 (L by > 20x)


def test_wand_force_points_down_in_the_bias_region():
    theta = torch.nn.Parameter(torch.full((10,), 2.0))
    opt = WanD([theta], lr=0.01, kT=0.0, friction=0.5, bias_start=-8.0, wl_factor=0.0, seed=0)
    for group in opt.param_groups:  # start at rest so only the force acts
        for p in group["params"]:
            opt.state[p]["velocity"].zero_()
    closure = _quadratic_closure(theta, torch.zeros(10))
    x0 = float(closure().detach())
    opt.step(closure)
    assert float(closure()) < x0


def test_wand_norm_growth_follows_the_diffusion_law():
    """Where S is flat (below L0, no deposits) WanD is free Langevin diffusion:
    |theta(t)|^2 ~ |theta_0|^2 + N t dt^2 kT (2 - c_f) / c_f   (spec 6.5)."""
    n, steps, dt, kT, c_f = 20_000, 2000, 0.003, 0.5, 0.5
    theta = torch.nn.Parameter(torch.randn(n, generator=torch.Generator().manual_seed(0)) * 0.1)
    norm0 = float(weight_norm([theta]))

    def closure():  # x = ln L far below L0: zero force, so only the thermostat acts
        theta.grad = torch.zeros_like(theta)
        return torch.tensor(-15.0, dtype=torch.float64)

    opt = WanD([theta], lr=dt, kT=kT, friction=c_f, bias_start=-8.0, wl_factor=0.0, seed=1)
    for _ in range(steps):
        opt.step(closure)
    predicted = math.sqrt(norm0**2 + n * steps * dt**2 * kT * (2 - c_f) / c_f)
    measured = float(weight_norm([theta]))
    assert abs(measured - predicted) / predicted < 0.10


def test_wand_state_dict_roundtrip_reproduces_the_trajectory():
    def make():
        theta = torch.nn.Parameter(torch.linspace(-1, 1, 50))
        return theta, WanD(
            [theta],
            lr=0.01,
            kT=0.5,
            friction=0.5,
            bias_start=-2.0,
            bias_strength=10.0,
            wl_factor=5.0,
            t_rise=3,
            t_drop=10,
            seed=3,
        )

    theta_a, opt_a = make()
    closure_a = _quadratic_closure(theta_a, torch.zeros(50))
    for _ in range(10):
        opt_a.step(closure_a)
    saved_theta, saved_state = theta_a.detach().clone(), copy.deepcopy(opt_a.state_dict())
    for _ in range(10):
        opt_a.step(closure_a)
    theta_b, opt_b = make()
    with torch.no_grad():
        theta_b.copy_(saved_theta)
    opt_b.load_state_dict(saved_state)
    closure_b = _quadratic_closure(theta_b, torch.zeros(50))
    for _ in range(10):
        opt_b.step(closure_b)
    assert torch.equal(theta_a, theta_b)


def test_sgld_without_noise_is_gradient_descent_and_noise_has_the_right_scale():
    theta = torch.nn.Parameter(torch.zeros(100_000))
    opt = SGLD([theta], lr=0.1, temperature=0.0)
    theta.grad = torch.ones_like(theta)
    opt.step()
    assert torch.allclose(theta.detach(), torch.full_like(theta, -0.1))
    theta2 = torch.nn.Parameter(torch.zeros(100_000))
    opt2 = SGLD([theta2], lr=0.01, temperature=2.0, seed=0)
    theta2.grad = torch.zeros_like(theta2)
    opt2.step()
    assert abs(float(theta2.detach().std()) - math.sqrt(2 * 2.0 * 0.01)) < 0.005


def test_hybrid_alpha_rises_then_falls():
    assert hybrid_alpha(0, 100) == 0.0 and hybrid_alpha(100, 100) == 0.0
    assert hybrid_alpha(50, 100) == 1.0
    assert 0 < hybrid_alpha(25, 100) < 1 and hybrid_alpha(25, 100) == hybrid_alpha(75, 100)
    assert hybrid_alpha(150, 100) == 0.0
    assert abs(hybrid_alpha(50, 100, "sine") - 1.0) < 1e-12
    with pytest.raises(ValueError, match="unknown alpha form"):
        hybrid_alpha(1, 10, "cosine")
