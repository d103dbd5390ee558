"""Supervised Discrete Hashing (Shen, Shen, Liu & Shen, CVPR 2015) as a reference point for the quality benchmark:
the strongest shallow supervised hashing method usually quoted on CIFAR-10 GIST. Running it on the same features
and split as l2h's models shows what that state of the art reaches on these data, not only on the papers'.

SDH learns codes ``B`` that a linear classifier ``W`` can read the labels from, while a kernel hash function
``F(x) = P^T phi(x)`` (RBF features on ``anchors`` training items) tracks them:

    min ||Y - W^T B||^2 + lam ||W||^2 + nu ||B - F(X)||^2,   B in {-1, 1}

alternating a ridge fit of ``P``, a ridge fit of ``W``, and bit-by-bit discrete updates of ``B`` (discrete cyclic
coordinate descent). The papers' settings: 1000 anchors, lam = 1, nu = 1e-5, 5 outer and 5 inner iterations."""

from __future__ import annotations

import numpy as np


class SDH:
    def __init__(self, bits: int, anchors: int = 1000, lam: float = 1.0, nu: float = 1e-5, ridge: float = 0.01,
                 iterations: int = 5, bit_sweeps: int = 5, seed: int = 0):
        self.bits, self.n_anchors, self.lam, self.nu, self.ridge = bits, anchors, lam, nu, ridge
        self.iterations, self.bit_sweeps, self.seed = iterations, bit_sweeps, seed

    def _kernel(self, x: np.ndarray) -> np.ndarray:
        sq = (x * x).sum(1)[:, None] - 2 * x @ self.anchors.T + (self.anchors * self.anchors).sum(1)[None]
        return np.exp(-np.maximum(sq, 0) / (2 * self.sigma ** 2)) - self.phi_mean

    def fit(self, x: np.ndarray, labels: np.ndarray) -> SDH:
        rng = np.random.default_rng(self.seed)
        x = np.asarray(x, dtype=np.float64)
        self.anchors = x[rng.choice(len(x), min(self.n_anchors, len(x)), replace=False)]
        sq = (x * x).sum(1)[:, None] - 2 * x @ self.anchors.T + (self.anchors * self.anchors).sum(1)[None]
        self.sigma = np.sqrt(np.maximum(sq, 0).min(1)).mean()  # typical distance to the nearest anchor
        self.phi_mean = 0.0
        phi = self._kernel(x)
        self.phi_mean = phi.mean(0)
        phi -= self.phi_mean
        y = np.eye(labels.max() + 1)[labels].T                       # (classes, n)
        b = np.where(rng.standard_normal((self.bits, len(x))) >= 0, 1.0, -1.0)
        gram = np.linalg.inv(phi.T @ phi + self.ridge * np.eye(phi.shape[1])) @ phi.T
        for _ in range(self.iterations):
            self.projection = gram @ b.T                                      # F-step: (anchors, bits)
            fx = (phi @ self.projection).T                                    # (bits, n)
            w = np.linalg.solve(b @ b.T + self.lam * np.eye(self.bits), b @ y.T)  # G-step: (bits, classes)
            q = w @ y + self.nu * fx
            for _ in range(self.bit_sweeps):                                  # B-step, one bit at a time
                for bit in range(self.bits):
                    rest = np.arange(self.bits) != bit
                    z = q[bit] - (w[bit] @ w[rest].T) @ b[rest]
                    b[bit] = np.where(z >= 0, 1.0, -1.0)
        self.projection = gram @ b.T
        return self

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Bits (n, bits) as 0/1, in blocks so the kernel matrix stays small."""
        out = [self._kernel(np.asarray(x[i:i + 8192], dtype=np.float64)) @ self.projection >= 0
               for i in range(0, len(x), 8192)]
        return np.concatenate(out).astype(np.uint8)
