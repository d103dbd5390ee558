"""The tutorial's GRH, reproduced step for step so that its published figures can be checked:

- start from LSH hyperplanes (``np.random.seed(seed); randn(dim, bits)``), no bias;
- each of ``rounds`` (2) rounds: bits of the training items under the current hyperplanes; the neighbours' mean
  under the row-normalised same-label graph, signed; mixed ``0.25 * refined + 0.75 * current`` and signed
  (so the current bit always wins); one scikit-learn ``SVC(kernel="linear")`` per bit, whose ``coef_`` (without
  its intercept) becomes that bit's hyperplane;
- a bit that is constant over the training items gets a fresh random hyperplane, drawn from a generator
  re-seeded with the seed, because the tutorial's script re-seeds NumPy before its loop.
Use ``grh_svm`` for GRH as the papers define it."""

from __future__ import annotations

import numpy as np
import torch

from l2h.codes import signs
from l2h.encoders.linear import Linear
from l2h.errors import L2HError
from l2h.graphs.label import LabelGraph
from l2h.hashers.base import Hasher


class TutorialGRH(Hasher):
    supervised = True

    def __init__(self, bits: int, rounds: int = 2, mix: float = 0.25, C: float = 1.0, seed: int = 0):
        super().__init__(bits, seed, device="cpu")
        if not isinstance(rounds, int) or rounds < 1 or not 0 <= mix <= 1 or not C > 0:
            raise L2HError(f"the tutorial's GRH needs rounds >= 1, mix in [0, 1] and C > 0, got {rounds}, {mix}, {C}")
        self.rounds, self.mix, self.C = rounds, mix, C

    def fit(self, features, labels=None, *, validation=None, trainer=None) -> Linear:
        from sklearn.svm import SVC

        labels = self.check_labels(labels)

        dim = features.shape[1]
        hyperplanes = self.random_hyperplanes(dim)
        replacements = np.random.RandomState(self.seed)
        graph = LabelGraph()
        x = torch.from_numpy(np.asarray(features, dtype=np.float64))
        graph.build(x, labels)
        for _ in range(self.rounds):
            bits = signs(x @ torch.from_numpy(hyperplanes))
            bits = graph.step(bits, self.mix, sign_first=True).numpy()
            fitted = hyperplanes.copy()
            for j in range(self.bits):
                if abs(bits[:, j].sum()) == bits.shape[0]:
                    fitted[:, j] = replacements.randn(dim, 1)[:, 0]
                else:
                    fitted[:, j] = SVC(kernel="linear", C=self.C).fit(features, bits[:, j]).coef_[0]
            hyperplanes = fitted
        return Linear(dim, self.bits, bias=False).set_hyperplanes(hyperplanes)
