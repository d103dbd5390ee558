"""Codes GRH starts from: LSH (sign random projections), PCA (signs of the top principal components: PCAH's codes)
or ITQ (PCA followed by the rotation that best aligns the data with the hypercube's vertices; Gong & Lazebnik, 2011:
ITQ's codes). The PCA and ITQ codes are those hashers' own, computed on the CPU so every machine starts GRH alike.

PCA and ITQ give one bit per dimension of the data: for longer codes (128 bits of the 64-dimensional digits) they
give as many bits as there are dimensions and LSH gives the rest (:func:`bits_by_kind`)."""

from __future__ import annotations

import logging

import numpy as np
import torch

from l2h.codes import signs
from l2h.errors import L2HError

KINDS = ("lsh", "pca", "itq")


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise L2HError(f"model.init={kind!r} is not one of {', '.join(KINDS)}")
    return kind


def bits_by_kind(bits: int, dim: int, kind: str) -> dict[str, int]:
    """How many of the bits each kind of initial code gives: ``kind`` all of them where it can, LSH the bits beyond
    the data's ``dim`` dimensions where ``kind`` is PCA or ITQ."""
    if check_kind(kind) == "lsh" or bits <= dim:
        return {kind: bits}
    return {kind: dim, "lsh": bits - dim}


def initial_codes(features: np.ndarray, bits: int, kind: str, hyperplanes: np.ndarray,
                  itq_iterations: int = 50, seed: int = 0) -> np.ndarray:
    """±1 codes (n, bits) for the training items; ``hyperplanes`` (dim, bits) are LSH's."""
    from l2h.hashers.itq import ITQ
    from l2h.hashers.pcah import PCAH

    split = bits_by_kind(bits, features.shape[1], kind)
    if kind == "lsh":
        return signs(features @ hyperplanes)
    learned = split[kind]
    if "lsh" in split:
        logging.getLogger(__name__).info("init=%s gives one bit per dimension: %d bits from %s, the other %d from "
                                         "LSH", kind, learned, kind, split["lsh"])
    hasher = PCAH(learned, seed, device="cpu") if kind == "pca" else ITQ(learned, seed, "cpu", iterations=itq_iterations)
    encoder = hasher.fit(features)
    with torch.no_grad():
        scores = encoder(torch.as_tensor(np.asarray(features, dtype=np.float32))).numpy()
    return signs(np.concatenate([scores, features @ hyperplanes[:, learned:]], axis=1))
