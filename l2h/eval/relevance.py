"""Ground-truth relevance between queries and database items: shared class, or any shared label.

Labels are normalised to one 2-D integer array per side, so the compiled kernels handle both kinds:
single labels as ``(n, 1)`` class ids compared for equality, multi-hot labels as ``(n, words)`` uint64 bitsets
that are relevant when they intersect."""

from __future__ import annotations

import numpy as np
from numba import njit


def label_words(labels: np.ndarray) -> tuple[np.ndarray, bool]:
    """-> (array for the kernels, multilabel flag)."""
    labels = np.asarray(labels)
    if labels.ndim == 1:
        return labels.astype(np.int64).reshape(-1, 1), False
    packed = np.packbits(labels.astype(bool), axis=1, bitorder="little")
    words = (packed.shape[1] + 7) // 8
    padded = np.zeros((labels.shape[0], words * 8), dtype=np.uint8)
    padded[:, : packed.shape[1]] = packed
    return padded.view("<u8").astype(np.int64), True


@njit(cache=True, inline="always")
def relevant(qlab, q, dblab, i, multilabel):
    if not multilabel:
        return qlab[q, 0] == dblab[i, 0]
    for w in range(qlab.shape[1]):
        if qlab[q, w] & dblab[i, w]:
            return True
    return False


def relevance_matrix(query_labels: np.ndarray, database_labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Boolean relevance of ``database[ids[q, j]]`` to query q; ids of -1 (no item) are not relevant."""
    safe = np.maximum(ids, 0)
    if query_labels.ndim == 1:
        rel = database_labels[safe] == query_labels[:, None]
    else:
        rel = (database_labels[safe] & query_labels[:, None, :]).any(axis=-1)
    return rel & (ids >= 0)
