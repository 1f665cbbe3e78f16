"""Losses and accuracies, for one network or a stack of walkers.

All functions take logits of shape (*batch, n_examples, classes) and labels of
shape (n_examples,) and reduce over examples. Cross-entropy is computed in
float64: at the losses reached after memorisation (ln L ~ -15) float32 returns
exactly 0 and ln L would be -inf (spec 1.2).
"""

from __future__ import annotations

import torch

DEFAULT_SLOPE = 7.0  # smoothed-accuracy slope s of the paper's Algorithm 2


def per_example_cross_entropy64(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """-log p(y_i) in float64, accurate even when it is far below float64's epsilon.

    Written as softplus(logsumexp_{k != y}(z_k - z_y)) rather than -log_softmax: the
    latter computes logsumexp(z) - z_y, which rounds to exactly 0 once the margin
    exceeds ~37 and would make ln L = -inf.
    """
    z = logits.double()
    index = labels.expand(*z.shape[:-1]).unsqueeze(-1)
    relative = z - z.gather(-1, index)
    relative = relative.scatter(-1, index, float("-inf"))  # leave the correct class out
    return torch.nn.functional.softplus(relative.logsumexp(dim=-1))


def cross_entropy64(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return per_example_cross_entropy64(logits, labels).mean(dim=-1)


def log_cross_entropy64(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """ln L, the energy coordinate of WLMD and WanD (float64 throughout)."""
    return cross_entropy64(logits, labels).log()


def margins(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Correct logit minus the largest wrong logit (top-2 trick, differentiable)."""
    index = labels.expand(*logits.shape[:-1]).unsqueeze(-1)
    correct = logits.gather(-1, index).squeeze(-1)
    top2_values, top2_index = logits.topk(2, dim=-1)
    top1_is_correct = top2_index[..., 0] == labels
    best_wrong = torch.where(top1_is_correct, top2_values[..., 1], top2_values[..., 0])
    return correct - best_wrong


def smoothed_accuracy(logits: torch.Tensor, labels: torch.Tensor, slope: float = DEFAULT_SLOPE) -> torch.Tensor:
    """A = mean sigmoid(s * margin): a differentiable accuracy (paper Algorithm 2)."""
    return torch.sigmoid(slope * margins(logits, labels)).mean(dim=-1)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(dim=-1) == labels).float().mean(dim=-1)


def weight_norm(tensors) -> torch.Tensor:
    """Global L2 norm over all tensors (sqrt of the sum of squares of every entry)."""
    tensors = list(tensors)
    return torch.sqrt(sum(t.detach().double().pow(2).sum() for t in tensors))
