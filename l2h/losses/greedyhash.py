"""GreedyHash (Su, Zhang, Li, Tian & Zhang, "Greedy Hash: Towards Fast Optimization for Accurate Hash Coding in
CNN", NeurIPS 2018).

The code is the sign itself: ``b = sgn(h)`` in the forward pass, and in the backward pass the gradient goes
straight through (``dL/dh = dL/db``, the gradient of the identity). The codes feed a linear classifier (no bias,
a trainable part of the loss, trained with the encoder), trained by cross-entropy, plus the paper's penalty
keeping the scores near +-1:

    loss = CE(W b, y) + alpha * mean_{i,k} | |h_ik| - 1 |^3.

Multi-label items take the cross-entropy against their labels normalised to sum 1. Default alpha = 0.1
(DeepHash-pytorch's CIFAR-10 setting)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from l2h.errors import L2HError
from l2h.losses.base import HashLoss
from l2h.losses.dpsh import check_weight


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against label rows normalised to sum 1: for one-hot rows exactly the usual cross-entropy; for
    multi-hot rows every label of the item equally likely. An item without labels adds nothing."""
    targets = targets.float()
    target = targets / targets.sum(1, keepdim=True).clamp_min(1e-12)
    return -(target * F.log_softmax(logits.float(), 1)).sum(1).mean()


class StraightThroughSign(torch.autograd.Function):
    """``sgn`` (0 -> +1) forward, identity backward."""

    @staticmethod
    def forward(ctx, x):
        return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad


def straight_through_sign(x: torch.Tensor) -> torch.Tensor:
    return StraightThroughSign.apply(x)


class GreedyHash(HashLoss):
    fits = "labels"

    def __init__(self, alpha: float = 0.1):
        super().__init__()
        self.alpha = check_weight("GreedyHash", "alpha", alpha)
        self.classifier: nn.Linear | None = None

    def setup(self, bits, classes):
        super().setup(bits, classes)
        if not classes:
            raise L2HError("GreedyHash needs labelled training items: its codes feed a classifier")
        self.classifier = nn.Linear(bits, classes, bias=False)

    def compute_loss(self, scores, targets, weights):
        if self.classifier is None:
            raise L2HError("GreedyHash.setup(bits, classes) must build the classifier before training")
        h = scores.float()
        logits = self.classifier(straight_through_sign(h))
        return soft_cross_entropy(logits, targets) + self.alpha * (h.abs() - 1).abs().pow(3).mean()
