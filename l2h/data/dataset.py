"""The in-memory dataset every loader returns, validated once so later stages can trust it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from l2h.errors import L2HError


@dataclass(frozen=True)
class Dataset:
    """Features ``(n, d)`` float32 and labels: ``(n,)`` int64 class ids, or ``(n, L)`` multi-hot for multi-label
    data, or ``None`` for unlabelled data."""

    name: str
    features: np.ndarray
    labels: np.ndarray | None

    @classmethod
    def create(cls, name: str, features, labels=None) -> Dataset:
        x = np.asarray(features)
        if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
            raise L2HError(f"{name}: features must be a non-empty 2-D array (items x dimensions), got shape {x.shape}")
        if not np.issubdtype(x.dtype, np.number):
            raise L2HError(f"{name}: features must be numeric, got dtype {x.dtype}")
        x = np.ascontiguousarray(x, dtype=np.float32)
        if not np.isfinite(x).all():
            bad = int((~np.isfinite(x)).any(axis=1).sum())
            raise L2HError(f"{name}: {bad} rows hold NaN or infinite features: clean or drop them before training")
        y = None if labels is None else _labels(name, labels, x.shape[0])
        return cls(name, x, y)

    @property
    def n(self) -> int:
        return self.features.shape[0]

    @property
    def dim(self) -> int:
        return self.features.shape[1]

    @property
    def multilabel(self) -> bool:
        return self.labels is not None and self.labels.ndim == 2


def _labels(name: str, labels, n: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim == 2 and 1 in y.shape:
        y = y.reshape(-1)  # MATLAB stores a label vector as 1 x n or n x 1
    if y.shape[0] != n:
        raise L2HError(f"{name}: {y.shape[0]} labels for {n} feature rows: the label and feature files must match")
    if not np.isfinite(y.astype(np.float64)).all():
        raise L2HError(f"{name}: labels hold NaN or infinite values: every item needs a label (or pass none)")
    if y.ndim == 1:
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise L2HError(f"{name}: class labels must be integers, got values like {y[np.mod(y, 1) != 0][:3]}")
        return y.astype(np.int64)
    if y.ndim == 2:
        if not np.isin(y, (0, 1)).all():
            raise L2HError(f"{name}: a 2-D label array must be multi-hot (0/1 per item and label)")
        return y.astype(np.uint8)
    raise L2HError(f"{name}: labels must be a vector or a multi-hot matrix, got shape {y.shape}")
