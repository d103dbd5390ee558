"""OrthoHash (Hoe, Ng, Aljundi, Chan, Wong & Chan, "One Loss for All: Deep Hashing with a Single Cosine Similarity
based Learning Objective", NeurIPS 2021).

Every class has a fixed +-1 codeword, mutually orthogonal: rows of the Hadamard matrix when bits is a power of
two and there are at most ``bits`` classes, else fair coins (the authors' default codebook, nearly orthogonal for
long codes), drawn with the seed. The loss is the cross-entropy of the scaled cosine similarities between an item's
scores and the codewords, with an additive cosine margin on its own class(es):

    loss = CE(s * (cos(z, c_k) - m * y_k)_k, y) + quantisation * mean_i (1 - cos(z_i, sgn(z_i))),

multi-label items taking the cross-entropy against their labels normalised to sum 1 (the authors' default for
multi-label data). Defaults from the authors' code: s = 8, m = 0.2, quantisation 0."""

from __future__ import annotations

from torch.nn import functional as F

from l2h.codes import signs
from l2h.errors import L2HError
from l2h.losses.base import HashLoss
from l2h.losses.codebooks import CODEBOOKS, class_codes
from l2h.losses.helpers import check_weight, soft_cross_entropy


class OrthoHash(HashLoss):
    fits = "labels"

    def __init__(self, scale: float = 8.0, margin: float = 0.2, quantisation: float = 0.0,
                 codewords: str = "hadamard", seed: int = 0):
        super().__init__()
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
            raise L2HError(f"OrthoHash scale must be a positive number, got {scale!r}")
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 <= margin < 2:
            raise L2HError(f"OrthoHash margin must be in [0, 2), got {margin!r}")
        self.scale, self.margin = float(scale), float(margin)
        self.quantisation = check_weight("OrthoHash", "quantisation", quantisation)
        if codewords not in CODEBOOKS:
            raise L2HError(f"OrthoHash codewords={codewords!r} is not one of {', '.join(CODEBOOKS)}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise L2HError(f"OrthoHash seed must be a non-negative integer, got {seed!r}")
        self.method, self.seed = codewords, seed

    def setup(self, bits, classes):
        super().setup(bits, classes)
        if not classes:
            raise L2HError("OrthoHash needs labelled training items: its codewords are one per class")
        self.register_buffer("codewords", class_codes(classes, bits, self.method, self.seed, negated=False))

    def compute_loss(self, scores, targets, weights):
        if getattr(self, "codewords", None) is None:
            raise L2HError("OrthoHash.setup(bits, classes) must build the codewords before training")
        z = scores.float()
        targets = targets.float()
        if targets.shape[1] != self.codewords.shape[0]:
            raise L2HError(f"OrthoHash was set up for {self.codewords.shape[0]} classes, got labels of "
                           f"{targets.shape[1]}")
        cosine = F.normalize(z, dim=1) @ F.normalize(self.codewords, dim=1).T
        loss = soft_cross_entropy(self.scale * (cosine - self.margin * targets), targets)
        if self.quantisation:
            loss = loss + self.quantisation * (1 - F.cosine_similarity(z, signs(z).detach(), dim=1)).mean()
        return loss
