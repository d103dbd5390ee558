"""Online Supervised Hashing (Cakir & Sclaroff, "Online Supervised Hashing", ICIP 2015): a published online
baseline for :class:`~l2h.hashers.grh.GRH`'s ``partial_fit``.

Each class gets a codeword the first time one of its items arrives: ``bits`` fair ±1 coins (the paper's error
correcting output codes, drawn from the seed). The hash functions are linear, ``h(x) = sgn(W^T x)``, started from
LSH's Gaussian hyperplanes scaled to unit length, and learned by stochastic gradient descent on the hinge loss
between each item's scores and its class's codeword, one item at a time, in order: every bit ``b`` whose margin
``c_b w_b.x`` is below 1 moves by ``w_b += lr * c_b * x``. A multi-label item takes one such step per label."""

from __future__ import annotations

import numpy as np

from l2h.encoders.linear import Linear
from l2h.errors import L2HError
from l2h.hashers.base import Hasher


class OSH(Hasher):
    supervised = True

    def __init__(self, bits: int, lr: float = 1.0, epochs: int = 1, seed: int = 0):
        super().__init__(bits, seed)
        if not lr > 0:
            raise L2HError(f"OSH lr must be positive, got {lr}")
        if not isinstance(epochs, int) or epochs < 1:
            raise L2HError(f"OSH epochs must be a positive integer, got {epochs!r}")
        self.lr, self.epochs = float(lr), epochs
        self._reset()

    def _reset(self) -> None:
        self.hyperplanes: np.ndarray | None = None  # (dim, bits)
        self.codewords: dict[int, np.ndarray] = {}  # class -> ±1 codeword, in order of first arrival
        self._coins = np.random.RandomState(self.seed + 1)  # the codewords' draw, apart from the hyperplanes'

    def fit(self, features, labels=None, *, validation=None, trainer=None) -> Linear:
        """``epochs`` passes of :meth:`partial_fit` over the items, in their order."""
        self._reset()
        for _ in range(self.epochs):
            encoder = self.partial_fit(features, labels)
        return encoder

    def partial_fit(self, features, labels=None) -> Linear:
        features = np.asarray(features, dtype=np.float64)
        labels = np.asarray(self.check_labels(labels))
        if len(labels) != len(features):
            raise L2HError(f"OSH got {len(features)} items and {len(labels)} label rows: give one per item")
        if self.hyperplanes is None:
            planes = self.random_hyperplanes(features.shape[1])
            self.hyperplanes = planes / np.linalg.norm(planes, axis=0, keepdims=True)
        w = self.hyperplanes
        for x, label in zip(features, labels):
            for target in self._targets(label):
                below = target * (x @ w) < 1  # the bits whose hinge loss is positive
                w[:, below] += self.lr * np.outer(x, target[below])
        self.history = {"classes_seen": len(self.codewords)}
        return Linear(w.shape[0], self.bits, bias=False).set_hyperplanes(w.astype(np.float32))

    def _targets(self, label) -> list[np.ndarray]:
        """The codewords of an item's classes (one class id, or a multi-hot row), drawing new classes' codewords."""
        classes = np.flatnonzero(label) if np.ndim(label) else [int(label)]
        for c in classes:
            if int(c) not in self.codewords:
                self.codewords[int(c)] = self._coins.choice([-1.0, 1.0], self.bits)
        return [self.codewords[int(c)] for c in classes]
