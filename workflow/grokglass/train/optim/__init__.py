"""Optimizers: AdamW at fixed weight norm, WanD, the WanD/AdamW hybrid, SGLD.

Each works on any model's parameters. WanD and the hybrid need a closure that
computes ln L_train, calls backward on it, and returns it (see WanD.step).
"""

from grokglass.train.optim.fixed_norm import FixedNormAdamW, rescale_to_norm
from grokglass.train.optim.hybrid import WanDAdamWHybrid, hybrid_alpha
from grokglass.train.optim.sgld import SGLD
from grokglass.train.optim.wand import WanD

__all__ = ["FixedNormAdamW", "rescale_to_norm", "WanD", "WanDAdamWHybrid", "hybrid_alpha", "SGLD"]
