"""HashNet (Cao, Long, Wang & Yu, "HashNet: Deep Learning to Hash by Continuation", ICCV 2017).

Codes are relaxed as ``h = tanh(beta * z)``; the scale ``beta`` grows during training (continuation) so that
``tanh`` approaches ``sgn``: ``beta = (1 + gamma * epoch) ** power``. Over the pairs of distinct items of a batch,
with ``theta_ij = alpha * h_i . h_j`` and ``s_ij = 1`` when the two share a label, the weighted maximum likelihood

    loss = 1/|S| * sum_ij w_ij * (log(1 + exp(theta_ij)) - s_ij * theta_ij),

with ``w_ij = |S| / |S_1|`` for similar and ``|S| / |S_0|`` for dissimilar pairs (``|S|`` all pairs, ``|S_1|``
the similar, ``|S_0|`` the dissimilar ones): both kinds weigh the same in total, which matters when most pairs
are dissimilar. Defaults: power 0.5 and the sigmoid's alpha = 10 / bits come from the authors' code; their
schedule is per iteration (gamma 0.005 every iteration); here it is per epoch, gamma 0.1, so that 100 epochs end
at about the same beta (sqrt(11) = 3.3) as the authors' 2000 iterations."""

from __future__ import annotations

import torch

from l2h.errors import L2HError
from l2h.losses.base import HashLoss
from l2h.losses.helpers import check_weight, weighted_pairwise_nll


class HashNet(HashLoss):
    fits = "labels"

    def __init__(self, alpha: float | None = None, gamma: float = 0.1, power: float = 0.5, init_scale: float = 1.0):
        super().__init__()
        if alpha is not None and not (isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and alpha > 0):
            raise L2HError(f"HashNet alpha must be a positive number or null (10 / bits), got {alpha!r}")
        self.alpha = None if alpha is None else float(alpha)
        self.gamma = check_weight("HashNet", "gamma", gamma)
        self.power = check_weight("HashNet", "power", power)
        if isinstance(init_scale, bool) or not isinstance(init_scale, (int, float)) or not init_scale > 0:
            raise L2HError(f"HashNet init_scale must be a positive number, got {init_scale!r}")
        self.init_scale = float(init_scale)
        self.scale = self.init_scale

    def setup(self, bits, classes):
        super().setup(bits, classes)
        self.scale = self.init_scale

    def on_epoch(self, epoch):
        self.scale = self.init_scale * (1 + self.gamma * epoch) ** self.power

    def compute_loss(self, scores, targets, weights):
        z = scores.float()
        n, bits = z.shape
        if n < 2:
            return 0.0 * z.sum()
        alpha = self.alpha if self.alpha is not None else 10.0 / bits
        return weighted_pairwise_nll(torch.tanh(self.scale * z), targets, alpha)
