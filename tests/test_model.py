import pytest
import torch

from grokglass.metrics import weight_norm
from grokglass.nets.transformer import Transformer, TransformerConfig, init_params, reference_logits, transformer_logits


@pytest.mark.parametrize("d_model,expected", [(32, 16_896), (64, 58_368), (128, 215_040)])
def test_parameter_counts_match_paper_layout(d_model, expected):
    cfg = TransformerConfig(p=67, d_model=d_model)
    assert cfg.n_params() == expected
    assert sum(p.numel() for p in Transformer(cfg).parameters()) == expected


def test_init_norm_matches_expected():
    net = Transformer(TransformerConfig(p=67, d_model=128), seed=0)
    assert abs(float(weight_norm(net.parameters())) - 41.7) < 1.0


def test_table_forward_equals_full_sequence_forward():
    cfg = TransformerConfig(p=13, d_model=16)
    params = init_params(cfg, torch.Generator().manual_seed(1), dtype=torch.float64)
    params = {k: v + 0.1 * torch.randn_like(v) for k, v in params.items()}  # nonzero biases too
    tokens = torch.randint(0, 14, (200, 3))  # arbitrary tokens, not only [x, y, =]
    fast = transformer_logits(params, tokens, cfg.n_heads)
    slow = reference_logits(params, tokens, cfg.n_heads)
    assert fast.shape == (200, 14)
    torch.testing.assert_close(fast, slow, rtol=1e-10, atol=1e-10)


def test_batched_walkers_equal_single_networks():
    cfg = TransformerConfig(p=7, d_model=8)
    walkers = [init_params(cfg, torch.Generator().manual_seed(s), dtype=torch.float64) for s in range(3)]
    stacked = {k: torch.stack([w[k] for w in walkers]) for k in walkers[0]}
    tokens = torch.tensor([[x, y, 7] for x in range(7) for y in range(7)])
    batched = transformer_logits(stacked, tokens, cfg.n_heads)
    assert batched.shape == (3, 49, 8)
    for k, w in enumerate(walkers):
        torch.testing.assert_close(batched[k], transformer_logits(w, tokens, cfg.n_heads))
