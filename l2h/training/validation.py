"""Validation mAP for model selection: every other validation item is searched against the rest, so that
neither side was fitted (the training items' own codes are memorised, and ranking against them flatters a
model that overfits). Alternate items, not two halves: data files often store items class by class."""

from __future__ import annotations

import numpy as np

from l2h.eval.metrics import ranking_metrics
from l2h.eval.relevance import from_labels


def split_half_map(codes: np.ndarray, labels: np.ndarray, bits: int) -> float:
    return ranking_metrics(codes[0::2], codes[1::2], from_labels(labels[0::2], labels[1::2]), bits,
                           ks=(10,), Rs=()).summary()["map"]
