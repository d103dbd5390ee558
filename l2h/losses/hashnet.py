"""HashNet (Cao, Long, Wang & Yu, "HashNet: Deep Learning to Hash by Continuation", ICCV 2017).

Codes are relaxed as ``h = tanh(beta * z)``; the scale ``beta`` grows during training (continuation) so that
``tanh`` approaches ``sgn``. The authors' schedule (thuml/HashNet: Caffe's ``ScaleTanH`` layer and the PyTorch
``forward``, both counting training iterations k from 1) raises it every ``step_size`` iterations:

    beta_k = init_scale * (1 + gamma * step_size * floor(k / step_size)) ** power,

with step_size 200, gamma 0.005, power 0.5 and init_scale 1: their 10000 iterations hold beta at sqrt(50) = 7.07
over the last 200 (sqrt(51) = 7.14 on the very last). Here it advances per optimiser step (``on_step``), so a
run of N steps ends near sqrt(1 + gamma * N): fewer steps than the authors' end lower (1000 steps: 2.45), and
gamma = 49 / N reaches their 7.07 in N steps.

Over the pairs of distinct items of a batch, with ``theta_ij = alpha * h_i . h_j`` and ``s_ij = 1`` when the two
share a label, the weighted maximum likelihood

    loss = 1/|S| * sum_ij w_ij * (log(1 + exp(theta_ij)) - s_ij * theta_ij),

with ``w_ij = |S| / |S_1|`` for similar and ``|S| / |S_0|`` for dissimilar pairs (``|S|`` all pairs, ``|S_1|``
the similar, ``|S_0|`` the dissimilar ones): both kinds weigh the same in total, which matters when most pairs
are dissimilar. This is the paper's weighting, as DeepHash-pytorch's ``HashNetLoss`` computes it; the authors'
code weighs similar pairs by a fixed ``class_num`` instead and makes the loss linear beyond theta = 15. The
sigmoid's alpha = 10 / bits is the authors'."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from l2h.errors import L2HError
from l2h.losses.base import HashLoss
from l2h.losses.helpers import check_weight, off_diagonal, pairwise_similarity


def weighted_pairwise_nll(h: torch.Tensor, targets: torch.Tensor, alpha: float) -> torch.Tensor:
    """The weighted pairwise cross-entropy above, over the ordered pairs of distinct items of a batch."""
    n = h.shape[0]
    off = off_diagonal(n, h.device).to(h.dtype)
    s = pairwise_similarity(targets.float())
    theta = alpha * h @ h.T
    nll = F.softplus(theta) - s * theta
    total = float(n * (n - 1))
    similar = (off * s).sum()
    dissimilar = total - similar
    w = off * torch.where(s > 0, total / similar.clamp_min(1), total / dissimilar.clamp_min(1))
    return (w * nll).sum() / total


class HashNet(HashLoss):
    fits = "labels"

    def __init__(self, alpha: float | None = None, gamma: float = 0.005, power: float = 0.5, init_scale: float = 1.0,
                 step_size: int = 200):
        super().__init__()
        if alpha is not None and not (isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and alpha > 0):
            raise L2HError(f"HashNet alpha must be a positive number or null (10 / bits), got {alpha!r}")
        self.alpha = None if alpha is None else float(alpha)
        self.gamma = check_weight("HashNet", "gamma", gamma)
        self.power = check_weight("HashNet", "power", power)
        if isinstance(init_scale, bool) or not isinstance(init_scale, (int, float)) or not init_scale > 0:
            raise L2HError(f"HashNet init_scale must be a positive number, got {init_scale!r}")
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size < 1:
            raise L2HError(f"HashNet step_size must be a positive integer, got {step_size!r}")
        self.init_scale, self.step_size = float(init_scale), step_size
        self.scale = self.init_scale

    def setup(self, bits, classes):
        super().setup(bits, classes)
        self.scale = self.init_scale

    def on_step(self, step):
        """The scale of optimiser step ``step`` (0-based): the authors' iteration k = step + 1."""
        raised_at = (step + 1) // self.step_size * self.step_size
        self.scale = self.init_scale * (1 + self.gamma * raised_at) ** self.power

    def compute_loss(self, scores, targets, weights):
        z = scores.float()
        n, bits = z.shape
        if n < 2:
            return 0.0 * z.sum()
        alpha = self.alpha if self.alpha is not None else 10.0 / bits
        return weighted_pairwise_nll(torch.tanh(self.scale * z), targets, alpha)
