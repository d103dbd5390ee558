"""Locality Sensitive Hashing by sign random projections: nothing to learn, one Gaussian hyperplane per bit."""

from __future__ import annotations

from l2h.models.base import Hasher
from l2h.models.partitioners import LinearSVM


class LSH(Hasher):
    def fit(self, features, labels=None, trainer=None, validation=None) -> LinearSVM:
        dim = features.shape[1]
        return LinearSVM(dim, self.bits, bias=False).set_hyperplanes(self.random_hyperplanes(dim))
