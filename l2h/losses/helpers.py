"""What the hashing losses share: their settings' check, the pairs of a batch and which of them are similar, and
the cross-entropy against label rows."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from l2h.errors import L2HError


def check_weight(owner: str, name: str, value) -> float:
    """A loss's weight or rate: a number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise L2HError(f"{owner} {name} must be a number >= 0, got {value!r}")
    return float(value)


def off_diagonal(n: int, device) -> torch.Tensor:
    """Mask of the ordered pairs (i, j), i != j, of a batch of n items."""
    return ~torch.eye(n, dtype=torch.bool, device=device)


def pairwise_similarity(labels: torch.Tensor, other: torch.Tensor | None = None) -> torch.Tensor:
    """1 where two items share any label, else 0: ``(n, m)`` from label matrices ``(n, C)`` and ``(m, C)``."""
    other = labels if other is None else other
    return (labels @ other.T > 0).to(labels.dtype)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against label rows normalised to sum 1: for one-hot rows exactly the usual cross-entropy; for
    multi-hot rows every label of the item equally likely. An item without labels adds nothing."""
    targets = targets.float()
    target = targets / targets.sum(1, keepdim=True).clamp_min(1e-12)
    return -(target * F.log_softmax(logits.float(), 1)).sum(1).mean()
