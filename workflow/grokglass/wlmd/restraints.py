"""The restraints of restrained windows (grokglass.wlmd.restrained): where each window holds its
walkers (RestraintWindows: centres c_k, stiffnesses kappa_k, tilts g_k, on a lattice) and how
they move there (RestraintSettings: BAOAB's step and friction, the temperature, the constraint,
the step cap and the relaxation into the windows). Named as Colvars and PLUMED name them:
a window's centre, its force constant, and the restraint's energy W_k(xi) =
g_k . (xi - c_k) + 1/2 sum_a kappa_a (xi_a - c_a)^2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from grokglass.wlmd.settings import CONSTRAINTS, SamplerSettings

SCHEMES = ("baoab", "paper")


@dataclass(frozen=True)
class RestraintSettings:
    """The dynamics of restrained walkers (friction c_f per epoch, as in SamplerSettings)."""

    dt: float = 1e-3
    friction: float = 0.05
    kT: float = 1.0
    scheme: str = "baoab"  # one of SCHEMES
    constraint: str = "none"  # one of CONSTRAINTS: "bounds" (reflective box), "shell", "none"
    bound_scale: float = 2.0
    shell_norm: float = 30.0
    step_safety: float = 0.2  # a walker's dt <= step_safety / sqrt(sum_a kappa_a |grad xi_a|^2)
    relax_steps: int = 3000  # Newton steps at most into the window before the dynamics
    relax_widths: float = 2.0  # ... until every axis is this many restraint widths sqrt(kT/kappa) from c
    max_kinetic_ratio: float = 100.0  # K/N above this many kT/2 stops the run (a dt too large)
    log_every: int = 100

    def __post_init__(self):
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {self.scheme!r}")
        if self.constraint not in CONSTRAINTS:
            raise ValueError(f"constraint must be one of {CONSTRAINTS}, got {self.constraint!r}")
        if not self.dt > 0 or not 0 < self.friction <= 1 or not self.kT > 0:
            raise ValueError(f"need dt > 0, 0 < friction <= 1 and kT > 0, got {self.dt}, {self.friction}, {self.kT}")
        if self.step_safety <= 0 or self.relax_steps < 0 or self.relax_widths <= 0 or self.log_every < 1:
            raise ValueError("need step_safety > 0, relax_steps >= 0, relax_widths > 0 and log_every >= 1")

    def as_sampler(self) -> SamplerSettings:
        """The WLMD settings that share this constraint (init_walkers, box_bound use them)."""
        return SamplerSettings(
            dt=self.dt,
            friction=self.friction,
            kT=self.kT,
            constraint=self.constraint,
            bound_scale=self.bound_scale,
            shell_norm=self.shell_norm,
        )


@dataclass(frozen=True)
class RestraintWindows:
    """Window centres c_k, stiffnesses kappa_k and tilts g_k, each (K, d) with d = 1 (x) or 2
    (x, y); `shape` is the lattice (n_x,) or (n_x, n_y), windows numbered x-major."""

    centres: np.ndarray
    stiffness: np.ndarray
    tilt: np.ndarray
    shape: tuple[int, ...]

    @classmethod
    def lattice(cls, x, y=None, stiffness=(1.0,), tilt=None) -> RestraintWindows:
        """Windows on the lattice x (x) y; `stiffness` and `tilt`: one value per axis, or a
        function of the centre (d,) -> (d,) (e.g. a tilt that follows a guessed slope)."""
        x = np.asarray(x, float).ravel()
        if y is None:
            centres = x[:, None]
            shape: tuple[int, ...] = (len(x),)
        else:
            y = np.asarray(y, float).ravel()
            centres = np.array([(a, b) for a in x for b in y])
            shape = (len(x), len(y))
        d = centres.shape[1]

        def per_window(value, default):
            if value is None:
                value = default
            if callable(value):
                return np.array([np.broadcast_to(np.asarray(value(c), float), (d,)) for c in centres])
            return np.broadcast_to(np.asarray(value, float), (len(centres), d)).copy()

        return cls(centres, per_window(stiffness, 1.0), per_window(tilt, 0.0), shape)

    def __post_init__(self):
        if self.centres.ndim != 2 or self.centres.shape[1] not in (1, 2):
            raise ValueError(f"centres must be (K, 1) or (K, 2), got {self.centres.shape}")
        if self.stiffness.shape != self.centres.shape or self.tilt.shape != self.centres.shape:
            raise ValueError("stiffness and tilt must have the centres' shape (K, d)")
        if not np.all(self.stiffness > 0):
            raise ValueError("every stiffness must be > 0")
        if math.prod(self.shape) != len(self.centres):
            raise ValueError(f"lattice shape {self.shape} does not hold {len(self.centres)} windows")

    @property
    def n(self) -> int:
        return len(self.centres)

    @property
    def ndim(self) -> int:
        return self.centres.shape[1]
