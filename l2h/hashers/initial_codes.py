"""Codes GRH starts from: LSH (sign random projections), PCA (signs of the top principal components) or ITQ
(PCA followed by the rotation that best aligns the data with the hypercube's vertices; Gong & Lazebnik, 2011)."""

from __future__ import annotations

import numpy as np

from l2h.errors import L2HError

KINDS = ("lsh", "pca", "itq")


def initial_codes(features: np.ndarray, bits: int, kind: str, hyperplanes: np.ndarray,
                  itq_iterations: int = 50, seed: int = 0) -> np.ndarray:
    """±1 codes (n, bits) for the training items."""
    if kind == "lsh":
        return np.where(features @ hyperplanes >= 0, 1.0, -1.0)
    if kind not in KINDS:
        raise L2HError(f"model.init={kind!r} is not one of {', '.join(KINDS)}")
    if bits > features.shape[1]:
        raise L2HError(f"init={kind} needs bits <= feature dimensions ({features.shape[1]}), got {bits}: use init=lsh")
    centred = features - features.mean(0)
    # principal directions from the covariance: cheap for the few hundred dimensions hashing features have
    values, vectors = np.linalg.eigh(centred.T @ centred)
    projected = centred @ vectors[:, ::-1][:, :bits]
    if kind == "pca":
        return np.where(projected >= 0, 1.0, -1.0)
    rotation = np.linalg.qr(np.random.RandomState(seed).randn(bits, bits))[0]
    for _ in range(itq_iterations):
        codes = np.where(projected @ rotation >= 0, 1.0, -1.0)
        u, _, vt = np.linalg.svd(codes.T @ projected)  # orthogonal Procrustes: R = argmin ||B - V R||
        rotation = (u @ vt).T
    return np.where(projected @ rotation >= 0, 1.0, -1.0)
