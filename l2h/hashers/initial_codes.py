"""Codes GRH starts from: LSH (sign random projections), PCA (signs of the top principal components: PCAH's codes)
or ITQ (PCA followed by the rotation that best aligns the data with the hypercube's vertices; Gong & Lazebnik, 2011:
ITQ's codes). The PCA and ITQ codes are those hashers' own, computed on the CPU so every machine starts GRH alike."""

from __future__ import annotations

import numpy as np
import torch

from l2h.errors import L2HError

KINDS = ("lsh", "pca", "itq")


def initial_codes(features: np.ndarray, bits: int, kind: str, hyperplanes: np.ndarray,
                  itq_iterations: int = 50, seed: int = 0) -> np.ndarray:
    """±1 codes (n, bits) for the training items."""
    from l2h.hashers.itq import ITQ
    from l2h.hashers.pcah import PCAH

    if kind == "lsh":
        return np.where(features @ hyperplanes >= 0, 1.0, -1.0)
    if kind not in KINDS:
        raise L2HError(f"model.init={kind!r} is not one of {', '.join(KINDS)}")
    if bits > features.shape[1]:
        raise L2HError(f"init={kind} needs bits <= feature dimensions ({features.shape[1]}), got {bits}: use init=lsh")
    hasher = PCAH(bits, seed, device="cpu") if kind == "pca" else ITQ(bits, seed, "cpu", iterations=itq_iterations)
    encoder = hasher.fit(features)
    with torch.no_grad():
        scores = encoder(torch.as_tensor(np.asarray(features, dtype=np.float32)))
    return np.where(scores.numpy() >= 0, 1.0, -1.0)
