"""The layer analysis of a dense classifier (spec 10.4): weight spectra, activation and update PCA.

Layer analysis (:func:`layer_analysis`, :func:`train_with_snapshots`), the [D]
operationalisation of spec 10.4:
- each weight matrix W (out x in): singular values of W (not centred), the number
  of components holding `variance_fraction` (0.9) of sum s^2, and the counts of
  "active" weights |w| > rel_threshold * max|w| (0.05) and |w| > abs_threshold (1e-3);
- each hidden layer's post-ReLU activations on the test inputs: centred PCA (SVD),
  the explained-variance ratios, the components for 90 %, and every example's
  coordinates on the top 2 components (signs fixed so the largest loading is > 0).
"""

from __future__ import annotations

import numpy as np
import torch

from grokglass.nets.dense import DenseClassifier

REL_THRESHOLD = 0.05
ABS_THRESHOLD = 1e-3
VARIANCE_FRACTION = 0.9


def components_for_variance(singular_values: torch.Tensor | np.ndarray, fraction: float = VARIANCE_FRACTION) -> int:
    """Smallest k whose top-k singular values hold `fraction` of sum s^2 (0 for a zero matrix)."""
    s2 = np.asarray(torch.as_tensor(singular_values).double().cpu()) ** 2
    total = s2.sum()
    if total <= 0:
        return 0
    cumulative = np.cumsum(np.sort(s2)[::-1]) / total
    return int(np.searchsorted(cumulative, fraction - 1e-12) + 1)


def weight_statistics(
    weight: torch.Tensor,
    rel_threshold: float = REL_THRESHOLD,
    abs_threshold: float = ABS_THRESHOLD,
    variance_fraction: float = VARIANCE_FRACTION,
) -> dict:
    """Singular values, components for `variance_fraction`, and active-weight counts of one matrix."""
    w = weight.detach().double()
    s = torch.linalg.svdvals(w)
    a = w.abs()
    return {
        "singular_values": s.cpu().numpy(),
        "n_components": components_for_variance(s, variance_fraction),
        "active_relative": int((a > rel_threshold * a.max()).sum()),
        "active_absolute": int((a > abs_threshold).sum()),
        "size": int(w.numel()),
    }


def activation_pca(
    activations: torch.Tensor, n_components: int = 2, variance_fraction: float = VARIANCE_FRACTION
) -> dict:
    """Centred PCA of (n, features) activations: coords (n, n_components), ratios, components for 90 %.

    Signs are fixed so that each component's largest-magnitude loading is positive.
    """
    x = activations.detach().double()
    x = x - x.mean(dim=0, keepdim=True)
    u, s, vh = torch.linalg.svd(x, full_matrices=False)
    index = vh.abs().argmax(dim=1)
    signs = torch.sign(vh[torch.arange(len(vh)), index])
    signs[signs == 0] = 1.0
    vh = vh * signs[:, None]
    coords = x @ vh[:n_components].T
    if coords.shape[1] < n_components:  # fewer features than components: pad with zeros
        coords = torch.cat([coords, coords.new_zeros(len(coords), n_components - coords.shape[1])], 1)
    s2 = s**2
    ratio = (s2 / s2.sum()) if s2.sum() > 0 else torch.zeros_like(s2)
    return {
        "coords": coords.cpu().numpy(),
        "explained_variance_ratio": ratio.cpu().numpy(),
        "n_components": components_for_variance(s, variance_fraction),
    }


def layer_analysis(
    model: DenseClassifier,
    inputs: torch.Tensor,
    rel_threshold: float = REL_THRESHOLD,
    abs_threshold: float = ABS_THRESHOLD,
    variance_fraction: float = VARIANCE_FRACTION,
) -> dict:
    """Weight statistics of every layer and activation PCA of every hidden layer on `inputs`."""
    with torch.no_grad():
        weights = [weight_statistics(w, rel_threshold, abs_threshold, variance_fraction) for w in model.weights()]
        acts = [activation_pca(h, 2, variance_fraction) for h in model.hidden_activations(inputs)]
    return {"weights": weights, "activations": acts}


def update_pca(updates: torch.Tensor, variance_fraction: float = VARIANCE_FRACTION) -> dict:
    """Uncentred PCA of weight-update vectors (rows of `updates`, one per epoch).

    explained_variance_ratio[k] = s_k^2 / sum s^2: the share of the summed squared
    update norms along the k-th principal direction (spec 10.4 (iii)).
    """
    s = torch.linalg.svdvals(updates.detach().double())
    s2 = s**2
    ratio = s2 / s2.sum() if s2.sum() > 0 else torch.zeros_like(s2)
    return {
        "explained_variance_ratio": ratio.cpu().numpy(),
        "n_components": components_for_variance(s, variance_fraction),
    }
