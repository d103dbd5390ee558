"""Iterative quantisation (ITQ; Gong & Lazebnik, CVPR 2011, and their TPAMI 2013 paper): PCA to ``bits``
dimensions, then the orthogonal rotation ``R`` that best aligns the projected data ``V`` with the vertices of the
hypercube,

    min ||B - V R||_F^2   over B in {-1, 1}^(n x bits) and orthogonal R,

by alternating ``B = sign(V R)`` and the orthogonal Procrustes solution ``R = W U^T`` of ``svd(B^T V) = U S W^T``.
Each step can only lower the quantisation loss, which ``history["quantisation_loss"]`` records per iteration.

Settings of the paper and its reference code: 50 iterations from a random orthogonal rotation (here the Q of the QR
factorisation of a Gaussian matrix drawn with ``np.random.RandomState(seed)``, as GRH's initial codes always drew
it). The hash functions are linear, ``sign((x - mean) W R)``, so ``bits`` cannot exceed the feature dimensions."""

from __future__ import annotations

import numpy as np
import torch

from l2h import checks
from l2h.codes import signs
from l2h.encoders.linear import Linear
from l2h.hashers.base import Hasher, resolve_device
from l2h.hashers.pcah import (
    as_features,
    check_bits_within,
    linear_encoder,
    principal_components,
)


def random_rotation(bits: int, seed: int) -> np.ndarray:
    """ITQ's starting rotation: an orthogonal (bits, bits) matrix from ``np.random.RandomState(seed)``."""
    return np.linalg.qr(np.random.RandomState(seed).randn(bits, bits))[0]


def quantisation_loss(codes: torch.Tensor, projected: torch.Tensor) -> torch.Tensor:
    """``||codes - projected||_F^2``, a 0-d tensor on their device."""
    return (codes - projected).square().sum()


class ITQ(Hasher):
    def __init__(self, bits: int, seed: int = 0, device: str = "auto", iterations: int = 50):
        super().__init__(bits, seed, device)
        resolve_device(device)
        self.iterations = checks.integer("model.iterations", iterations, minimum=0, fix="the paper runs 50")

    def rotate(self, projected: torch.Tensor) -> torch.Tensor:
        """The rotation (bits, bits) ITQ learns for PCA-projected data (n, bits), float64 on its device."""
        rotation = torch.as_tensor(random_rotation(self.bits, self.seed), device=projected.device)
        losses = []
        for _ in range(self.iterations):
            codes = signs(projected @ rotation)
            u, _, vh = torch.linalg.svd(codes.T @ projected)
            rotation = (u @ vh).T  # orthogonal Procrustes: argmin over R of ||codes - projected R||
            losses.append(quantisation_loss(codes, projected @ rotation))
        # read once at the end: a float() per iteration would make the host wait for a GPU at every step
        self.history["quantisation_loss"] = torch.stack(losses).tolist() if losses else []
        return rotation

    def fit(self, features, labels=None, *, validation=None, trainer=None) -> Linear:
        x = as_features(features, self.device)
        check_bits_within(self.bits, x.shape[1], "itq")
        mean, directions, _ = principal_components(x, self.bits)
        projected = (x.double() - mean) @ directions
        self.history = {"pca_quantisation_loss": quantisation_loss(signs(projected), projected).item(),
                        "device": str(self.device)}
        weight = directions @ self.rotate(projected)
        return linear_encoder(weight, -(mean @ weight))
