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

from l2h.codes import signs
from l2h.errors import L2HError
from l2h.losses.base import HashLoss
from l2h.losses.helpers import check_weight, soft_cross_entropy


class StraightThroughSign(torch.autograd.Function):
    """``sgn`` (0 -> +1) forward, identity backward."""

    @staticmethod
    def forward(ctx, x):
        return signs(x)

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
