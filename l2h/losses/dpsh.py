"""DPSH: Deep Pairwise-Supervised Hashing (Li, Wang & Kang, "Feature Learning based Deep Supervised Hashing with
Pairwise Labels", IJCAI 2016).

For every pair of distinct items of a batch, with ``theta_ij = u_i . u_j / 2`` on the real scores ``u`` and
``s_ij = 1`` when the two share a label, the negative log-likelihood of the pairwise labels

    nll_ij = log(1 + exp(theta_ij)) - s_ij * theta_ij,

plus the quantisation term ``||b_i - u_i||^2`` with ``b_i = sgn(u_i)`` pulling the scores towards their codes:

    loss = mean_{i != j} nll_ij + quantisation * mean_{i, k} (u_ik - sgn(u_ik))^2.

The paper weighs summed terms (eta = 10 over its sums); as means of pairs and of entries the reference
implementation's weight is 0.1 (DeepHash-pytorch), the default here. Pairs are the batch's own (not a memory
bank of the whole training set)."""

from __future__ import annotations

from torch.nn import functional as F

from l2h.codes import signs
from l2h.losses.base import HashLoss
from l2h.losses.helpers import check_weight, off_diagonal, pairwise_similarity


class DPSH(HashLoss):
    fits = "labels"

    def __init__(self, quantisation: float = 0.1):
        super().__init__()
        self.quantisation = check_weight("DPSH", "quantisation", quantisation)

    def compute_loss(self, scores, targets, weights):
        u = scores.float()
        n = u.shape[0]
        if n < 2:
            return 0.0 * u.sum()  # no pair
        s = pairwise_similarity(targets.float())
        theta = 0.5 * u @ u.T
        nll = F.softplus(theta) - s * theta
        likelihood = (off_diagonal(n, u.device).to(u.dtype) * nll).sum() / (n * (n - 1))
        return likelihood + self.quantisation * (u - signs(u).detach()).square().mean()
