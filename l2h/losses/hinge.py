"""GRH's per-bit hinge: every bit's hash function is a max-margin classifier of its target bits,
``mean(w * max(0, 1 - b * score))`` over items and bits, with ``w`` the class-balance weights that give each
bit's +1 and -1 sides equal total weight (as the GRH MATLAB code weighs its SVMs)."""

from __future__ import annotations

import torch

from l2h.losses.base import HashLoss


def balanced_weights(codes: torch.Tensor) -> torch.Tensor:
    """Per-item, per-bit weights that give each bit's +1 and -1 sides equal total weight (mean weight 1)."""
    n = codes.shape[0]
    positives = (codes > 0).sum(0).clamp_min(1).to(codes.dtype)
    negatives = (codes < 0).sum(0).clamp_min(1).to(codes.dtype)
    return torch.where(codes > 0, n / (2 * positives), n / (2 * negatives))


class Hinge(HashLoss):
    fits = "codes"

    def compute_loss(self, scores, targets, weights):
        hinge = torch.clamp_min(1 - targets * scores, 0)
        if weights is not None:
            hinge = weights * hinge
        return hinge.mean()
