"""Locality Sensitive Hashing by sign random projections (Charikar, 2002): nothing to learn, one Gaussian
hyperplane per bit, drawn from the seed as the tutorial draws them."""

from __future__ import annotations

from l2h.encoders.linear import Linear
from l2h.hashers.base import Hasher


class LSH(Hasher):
    def fit(self, features, labels=None, *, validation=None, trainer=None) -> Linear:
        dim = features.shape[1]
        return Linear(dim, self.bits, bias=False).set_hyperplanes(self.random_hyperplanes(dim))
