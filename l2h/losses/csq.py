"""CSQ: Central Similarity Quantization (Yuan, Wang, Zhang, Tay, Xie & Feng, "Central Similarity Quantization for
Efficient Image and Video Retrieval", CVPR 2020).

Every class gets a *hash centre*, a +-1 code; centres are mutually far apart
(:func:`l2h.losses.codebooks.hash_centres`, as DeepHash-pytorch builds them): with ``bits`` a power of two, rows
of the Hadamard matrix H and then of -H (any two bits / 2 apart, or bits for a row and its negation); beyond
2 x bits classes, or for other code lengths, balanced codes drawn with the seed, each redrawn until it is more
than bits / 4 from every other centre. An item's centre is its class's; a multi-label item's is the sign of the sum of its labels' centres, a
bit where they cancel taken from one fixed random code (as the paper and both codes do).

The relaxed codes ``u = tanh(z)`` are pulled to their centres ``c`` by the bitwise cross-entropy of
``(u + 1) / 2`` against ``(c + 1) / 2`` (computed as ``binary_cross_entropy_with_logits(2 z, (c + 1) / 2)``, the
same value without tanh's round-off), plus the quantisation term:

    loss = mean_{i,k} BCE((u_ik + 1) / 2, (c_ik + 1) / 2) + quantisation * mean_{i,k} (|u_ik| - 1)^2
           + pairwise * mean_{i in A, j in B} (log(1 + exp(theta_ij)) - s_ij * theta_ij),

the last term as the authors' code adds it (yuanli2333/Hadamard-Matrix-for-hashing, ``my_pairwise_loss.py``):
the batch's first half A against its second half B (an odd batch's last item left out), ``theta_ij = 10 / bits *
u_i . u_j``, ``s_ij = 1`` when the two share a label, an unweighted mean over the |A| x |B| pairs. Defaults are
the authors' repository's: quantisation 0.05, pairwise 0.2 (DeepHash-pytorch uses the central term with
quantisation 1e-4 only; ``pairwise=0`` is the paper's two-term objective). One difference: the authors drop the
pairwise term of the last, incomplete batch of an epoch; here every batch has it."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from l2h.errors import L2HError
from l2h.losses.base import HashLoss
from l2h.losses.codebooks import CODEBOOKS, hash_centres
from l2h.losses.helpers import check_weight, pairwise_similarity


def halves_pairwise_nll(u: torch.Tensor, targets: torch.Tensor, alpha: float) -> torch.Tensor:
    """The authors' pairwise term: the batch's first half against its second half, unweighted mean."""
    half = len(u) // 2
    theta = alpha * u[:half] @ u[half:2 * half].T
    similar = pairwise_similarity(targets[:half].float(), targets[half:2 * half].float())
    return (F.softplus(theta) - similar * theta).mean()


def item_centres(targets: torch.Tensor, centres: torch.Tensor, tie_break: torch.Tensor) -> torch.Tensor:
    """Each item's centre: the sign of the sum of its labels' centres (one-hot rows: the class's centre), a bit
    where they cancel (or an item without labels) taken from ``tie_break``."""
    total = targets @ centres
    return torch.where(total > 0, 1.0, torch.where(total < 0, -1.0, tie_break.expand_as(total)))


class CSQ(HashLoss):
    fits = "labels"

    def __init__(self, quantisation: float = 0.05, centres: str = "hadamard", pairwise: float = 0.2, seed: int = 0):
        super().__init__()
        self.quantisation = check_weight("CSQ", "quantisation", quantisation)
        self.pairwise = check_weight("CSQ", "pairwise", pairwise)
        if centres not in CODEBOOKS:
            raise L2HError(f"CSQ centres={centres!r} is not one of {', '.join(CODEBOOKS)}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise L2HError(f"CSQ seed must be a non-negative integer, got {seed!r}")
        self.method, self.seed = centres, seed

    def setup(self, bits, classes):
        super().setup(bits, classes)
        if not classes:
            raise L2HError("CSQ needs labelled training items: its hash centres are one per class")
        self.register_buffer("centres", hash_centres(classes, bits, self.method, self.seed))
        generator = torch.Generator().manual_seed(self.seed + 1)
        self.register_buffer("tie_break", torch.randint(0, 2, (bits,), generator=generator).float() * 2 - 1)

    def compute_loss(self, scores, targets, weights):
        if getattr(self, "centres", None) is None:
            raise L2HError("CSQ.setup(bits, classes) must build the hash centres before training")
        z = scores.float()
        if targets.shape[1] != self.centres.shape[0]:
            raise L2HError(f"CSQ was set up for {self.centres.shape[0]} classes, got labels of {targets.shape[1]}")
        centres = item_centres(targets.float(), self.centres, self.tie_break)
        central = F.binary_cross_entropy_with_logits(2 * z, (centres + 1) / 2)
        u = torch.tanh(z)
        loss = central + self.quantisation * (u.abs() - 1).square().mean()
        if self.pairwise and len(z) > 1:
            loss = loss + self.pairwise * halves_pairwise_nll(u, targets, 10.0 / z.shape[1])
        return loss
