"""Mean average precision of Hamming ranking over the whole database, ties broken by database id.

Per query: one popcount pass builds the distance histogram and its relevant-item histogram, a second pass
walks the items in id order and places each relevant one at its rank (its shell's start plus its position in
the shell), so AP costs two linear scans and no sort."""

from __future__ import annotations

import numpy as np
from numba import njit

from l2h import codes as codes_mod
from l2h.eval.relevance import label_words, relevant
from l2h.index.kernels import distance


@njit(cache=True)
def _average_precision(qwords, dbwords, qlab, dblab, multilabel, bits):
    nq, n = qwords.shape[0], dbwords.shape[0]
    ap = np.full(nq, np.nan)
    dist = np.empty(n, dtype=np.int32)
    is_rel = np.empty(n, dtype=np.bool_)
    for q in range(nq):
        hist = np.zeros(bits + 1, dtype=np.int64)
        rel_hist = np.zeros(bits + 1, dtype=np.int64)
        for i in range(n):
            d = distance(qwords, q, dbwords, i)
            dist[i] = d
            hist[d] += 1
            r = relevant(qlab, q, dblab, i, multilabel)
            is_rel[i] = r
            if r:
                rel_hist[d] += 1
        total_rel = rel_hist.sum()
        if total_rel == 0:
            continue  # AP is undefined without a relevant item; reported as NaN
        start = np.zeros(bits + 1, dtype=np.int64)
        rel_before = np.zeros(bits + 1, dtype=np.int64)
        for d in range(1, bits + 1):
            start[d] = start[d - 1] + hist[d - 1]
            rel_before[d] = rel_before[d - 1] + rel_hist[d - 1]
        seen = np.zeros(bits + 1, dtype=np.int64)
        seen_rel = np.zeros(bits + 1, dtype=np.int64)
        total = 0.0
        for i in range(n):
            d = dist[i]
            seen[d] += 1
            if is_rel[i]:
                seen_rel[d] += 1
                total += (rel_before[d] + seen_rel[d]) / (start[d] + seen[d])
        ap[q] = total / total_rel
    return ap


def average_precision(query_codes, database_codes, query_labels, database_labels, bits: int) -> np.ndarray:
    """AP of each query (NaN where the database holds no relevant item)."""
    qlab, multilabel = label_words(query_labels)
    dblab, _ = label_words(database_labels)
    return _average_precision(codes_mod.as_words(query_codes), codes_mod.as_words(database_codes),
                              qlab, dblab, multilabel, bits)


def mean_average_precision(query_codes, database_codes, query_labels, database_labels, bits: int) -> float:
    ap = average_precision(query_codes, database_codes, query_labels, database_labels, bits)
    return float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")
