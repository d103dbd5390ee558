"""DPSH: Deep Pairwise-Supervised Hashing (Li, Wang & Kang, "Feature Learning based Deep Supervised Hashing with
Pairwise Labels", IJCAI 2016).

For every pair of distinct items of a batch, with ``theta_ij = u_i . u_j / 2`` on the real scores ``u`` and
``s_ij = 1`` when the two share a label, the negative log-likelihood of the pairwise labels

    nll_ij = log(1 + exp(theta_ij)) - s_ij * theta_ij,

plus the quantisation term ``||b_i - u_i||^2`` with ``b_i = sgn(u_i)`` pulling the scores towards their codes:

    loss = mean_{i != j} nll_ij + quantisation * mean_{i, k} (u_ik - sgn(u_ik))^2,

computed as DeepHash-pytorch's ``DPSHLoss`` (and the authors' jiangqy/DPSH-pytorch) computes it: the gradient
reaches ``u_i`` only as the first item of a pair, the second, ``u_j``, held fixed (theirs is a memory bank of the
training set's last scores, detached). Every unordered pair is counted both ways, so the likelihood's gradient
keeps the paper's direction, ``sum_{j != i} (sigma(theta_ij) - s_ij) u_j / 2`` over the number of pairs; with both
sides differentiated it would be twice as long, and quantisation 0.1 would weigh like DeepHash-pytorch's 0.05
(l2h before this change). Here ``quantisation`` is
DeepHash-pytorch's ``alpha``, value and gradient: 0.1, its default. (The paper's eta = 10 weighs summed terms,
so it has no one equivalent among means.) Differences kept: pairs are the batch's own, not the batch against a
bank of the whole training set, and an item is not paired with itself."""

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
        theta = 0.5 * u @ u.detach().T  # DeepHash-pytorch's one-sided gradient: its bank holds detached scores
        nll = F.softplus(theta) - s * theta
        likelihood = (off_diagonal(n, u.device).to(u.dtype) * nll).sum() / (n * (n - 1))
        return likelihood + self.quantisation * (u - signs(u).detach()).square().mean()
