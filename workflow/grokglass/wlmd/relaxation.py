"""Fresh walkers relaxed into their restrained windows before the dynamics: trust-region Newton
steps on the collective variables xi (a walker taken from a trained network starts far from
most windows, and a stiff restraint's force there would throw it out of the physical regime).
"""

from __future__ import annotations

import math

import torch

from grokglass.wlmd.sampler import WalkerState, box_bound, constrain_walkers

RELAX_TRUST = 0.05  # a Newton step moves a walker by at most this share of |theta|
# A walker whose distance to its centre (in tolerances) has not shrunk by RELAX_STALL_GAIN over
# RELAX_STALL_STEPS steps stops relaxing: its window cannot be reached from where it is (on the
# network: low test accuracy at low loss, or below the loss a fixed-norm network reaches on its
# shell), and Newton steps spent on it would cost as much as every other walker's; the dynamics
# pull it on, and the window's tests say whether it was held.
RELAX_STALL_STEPS = 25
RELAX_STALL_GAIN = 0.02


def relax_into(system, state: WalkerState, centres: torch.Tensor, tolerance: torch.Tensor, settings) -> int:
    """Newton steps on xi until every walker lies within `tolerance` (K, d) of its centre or has
    stalled: d theta = -J^T (J J^T)^-1 (xi - c), |xi - c| capped at 1 per axis and |d theta| at
    RELAX_TRUST |theta|, then the constraint. Only the walkers still moving are evaluated, so a
    step costs in proportion to them. Returns the steps taken; walkers still away after
    settings.relax_steps go on from where they are (the transient cut deals with the rest)."""
    sampler = settings.as_sampler()
    bound = box_bound(system, state, sampler) if settings.constraint == "bounds" else None
    moving = torch.ones(state.n_walkers, dtype=torch.bool, device=state.params.device)
    mark = torch.full((state.n_walkers,), math.inf, dtype=torch.float64, device=state.params.device)
    for step in range(settings.relax_steps):
        rows = moving.nonzero()[:, 0]
        off = _newton_step(system, state, rows, centres[rows], tolerance[rows], sampler)
        constrain_walkers(system, state, sampler, bound)
        distance = (off.abs() / tolerance[rows]).amax(dim=1)
        moving[rows] = distance > 1.0
        if step % RELAX_STALL_STEPS == 0:  # stalled since the last mark: stop
            moving[rows] &= distance < (1.0 - RELAX_STALL_GAIN) * mark[rows]
            mark[rows] = distance
        if not bool(moving.any()):
            return step
    return settings.relax_steps


def _newton_step(system, state, rows, centres, tolerance, sampler) -> torch.Tensor:
    """One trust-region Newton step of the walkers `rows` that are away from their centres;
    returns the offsets xi - c of all of `rows` before the step."""
    d = centres.shape[1]
    params = state.params[rows].detach().requires_grad_(True)
    x, y = system.observables(state.layout.views(params))
    xi = torch.stack((x,) if d == 1 else (x, y), dim=1)
    off = (xi - centres).detach()
    away = (off.abs() > tolerance).any(dim=1)
    grads = [torch.autograd.grad(xi[:, a].sum(), params, retain_graph=a + 1 < d)[0].double() for a in range(d)]
    with torch.no_grad():
        jacobian = torch.stack(grads, dim=1)  # (k, d, row)
        if sampler.constraint == "shell":
            unit = params.double() / params.double().norm(dim=1, keepdim=True)
            jacobian = jacobian - (jacobian * unit[:, None]).sum(-1, keepdim=True) * unit[:, None]
        eye = torch.eye(d, dtype=jacobian.dtype, device=jacobian.device)
        move = torch.linalg.solve(jacobian @ jacobian.transpose(1, 2) + 1e-12 * eye, off.clamp(-1.0, 1.0)[..., None])
        step_vector = -(jacobian.transpose(1, 2) @ move)[..., 0] * away[:, None]
        radius = RELAX_TRUST * params.double().norm(dim=1, keepdim=True)
        length = step_vector.norm(dim=1, keepdim=True).clamp_min(1e-30)
        state.params[rows] += (step_vector * (radius / length).clamp(max=1.0)).float()
    return off
