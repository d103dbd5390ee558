"""DSH: Deep Supervised Hashing (Liu, Wang, Shan & Chen, "Deep Supervised Hashing for Fast Image Retrieval",
CVPR 2016).

On the real-valued (relaxed) codes ``b``, for every pair of distinct items of a batch with ``y_ij = 0`` when
they share a label and 1 otherwise, the margin contrastive loss with the paper's regulariser towards +-1:

    L_ij = 1/2 (1 - y_ij) ||b_i - b_j||^2 + 1/2 y_ij max(m - ||b_i - b_j||^2, 0)
           + alpha (|| |b_i| - 1 ||_1 + || |b_j| - 1 ||_1),

averaged over the pairs. Defaults from the paper: margin m = 2 * bits (``margin`` null), alpha = 0.01."""

from __future__ import annotations

import torch

from l2h.errors import L2HError
from l2h.losses.base import HashLoss
from l2h.losses.helpers import check_weight, off_diagonal, pairwise_similarity


class DSH(HashLoss):
    fits = "labels"

    def __init__(self, margin: float | None = None, alpha: float = 0.01):
        super().__init__()
        if margin is not None and (isinstance(margin, bool) or not isinstance(margin, (int, float)) or not margin > 0):
            raise L2HError(f"DSH margin must be a positive number or null (2 * bits), got {margin!r}")
        self.margin = None if margin is None else float(margin)
        self.alpha = check_weight("DSH", "alpha", alpha)

    def compute_loss(self, scores, targets, weights):
        b = scores.float()
        n, bits = b.shape
        if n < 2:
            return 0.0 * b.sum()
        m = self.margin if self.margin is not None else 2.0 * bits
        off = off_diagonal(n, b.device).to(b.dtype)
        squares = b.square().sum(1)
        d = (squares[:, None] + squares[None, :] - 2 * b @ b.T).clamp_min(0)
        similar = pairwise_similarity(targets.float())
        contrastive = 0.5 * similar * d + 0.5 * (1 - similar) * torch.clamp_min(m - d, 0)
        contrastive = (off * contrastive).sum() / (n * (n - 1))
        # each item appears in 2(n - 1) of the n(n - 1) ordered pairs: the pairs' mean of the regulariser is
        # twice the items' mean
        regulariser = 2 * (b.abs() - 1).abs().sum(1).mean()
        return contrastive + self.alpha * regulariser
