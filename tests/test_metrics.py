import math

import torch

from grokglass import metrics as M


def test_smoothed_accuracy_close_to_accuracy_for_confident_logits():
    torch.manual_seed(0)
    labels = torch.randint(0, 10, (500,))
    logits = torch.randn(500, 10)
    logits[torch.arange(500), labels] += torch.where(torch.rand(500) < 0.7, 20.0, -20.0)
    acc = M.accuracy(logits, labels)
    smooth = M.smoothed_accuracy(logits, labels, slope=7.0)
    assert abs(float(acc) - float(smooth)) < 1e-3


def test_smoothed_accuracy_is_differentiable_through_correct_and_best_wrong_logit():
    logits = torch.tensor([[1.0, 0.5, -2.0]], requires_grad=True)
    M.smoothed_accuracy(logits, torch.tensor([0]), slope=7.0).backward()
    grad = logits.grad[0]
    assert grad[0] > 0 and grad[1] < 0 and grad[2] == 0  # only correct and arg-max wrong move
    s = 1 / (1 + math.exp(-7 * 0.5))
    assert math.isclose(float(grad[0]), 7 * s * (1 - s), rel_tol=1e-5)


def test_margin_when_top1_is_wrong():
    logits = torch.tensor([[0.0, 3.0, 1.0]])
    assert float(M.margins(logits, torch.tensor([2]))[0]) == -2.0


def test_float64_log_loss_survives_tiny_losses():
    logits = torch.zeros(4, 5)
    logits[:, 0] = 40.0  # loss ~ 4 e^-40: float32 CE would round to exactly 0
    x = M.log_cross_entropy64(logits, torch.zeros(4, dtype=torch.long))
    assert x.dtype == torch.float64 and math.isfinite(float(x))
    assert abs(float(x) - (math.log(4) - 40)) < 1e-6


def test_batched_reduction_shapes():
    logits = torch.randn(3, 20, 6)
    labels = torch.randint(0, 6, (20,))
    for fn in (M.cross_entropy64, M.accuracy, M.smoothed_accuracy):
        assert fn(logits, labels).shape == (3,)
