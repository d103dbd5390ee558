"""Ground-truth relevance between queries and database items, in one form the compiled metrics read:

- class labels: relevant when equal;
- multi-hot labels: relevant when they share any label (packed into uint64 bitsets);
- metric ground truth: the true k nearest database items of each query by Euclidean or cosine distance,
  for unlabelled data (given as per-query id lists, ``lims`` / ``ids`` as in a range search)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from l2h.data.preprocess import l2_normalise
from l2h.errors import L2HError

SINGLE, MULTI, NEIGHBOURS = 0, 1, 2


@dataclass(frozen=True)
class Relevance:
    mode: int
    query: np.ndarray      # (nq, w) int64: class ids or label bitsets; unused for NEIGHBOURS
    database: np.ndarray   # (n, w) int64
    lims: np.ndarray       # (nq + 1,) for NEIGHBOURS: query q's relevant ids are ids[lims[q]:lims[q+1]]
    ids: np.ndarray

    @property
    def description(self) -> str:
        return {SINGLE: "same class", MULTI: "any shared label", NEIGHBOURS: "true nearest neighbours"}[self.mode]


def _label_words(labels: np.ndarray) -> np.ndarray:
    packed = np.packbits(labels.astype(bool), axis=1, bitorder="little")
    words = (packed.shape[1] + 7) // 8
    padded = np.zeros((labels.shape[0], words * 8), dtype=np.uint8)
    padded[:, : packed.shape[1]] = packed
    return padded.view("<u8").astype(np.int64)


_NONE = np.zeros(1, dtype=np.int64)


def from_labels(query_labels: np.ndarray, database_labels: np.ndarray) -> Relevance:
    q, db = np.asarray(query_labels), np.asarray(database_labels)
    if q.ndim != db.ndim:
        raise L2HError("query and database labels must be of the same kind (both class ids or both multi-hot)")
    if q.ndim == 1:
        return Relevance(SINGLE, q.astype(np.int64).reshape(-1, 1), db.astype(np.int64).reshape(-1, 1), _NONE, _NONE)
    return Relevance(MULTI, _label_words(q), _label_words(db), _NONE, _NONE)


def from_ground_truth(neighbors: np.ndarray, n_database: int) -> Relevance:
    """Relevance given as each query's true nearest database rows (an ann-benchmarks ``neighbors`` array)."""
    ids = np.asarray(neighbors, dtype=np.int64)
    if ids.ndim != 2 or (ids.size and (ids.min() < 0 or ids.max() >= n_database)):
        raise L2HError(f"the ground-truth neighbours must be rows 0..{n_database - 1} of the database, one row per "
                       "query: the file's neighbours do not match its items")
    lims = np.arange(0, (ids.shape[0] + 1) * ids.shape[1], ids.shape[1], dtype=np.int64)
    return Relevance(NEIGHBOURS, _NONE.reshape(1, 1), _NONE.reshape(1, 1), lims, ids.reshape(-1))


def from_neighbours(query_features: np.ndarray, database_features: np.ndarray, k: int,
                    metric: str = "euclidean", chunk: int = 256) -> Relevance:
    """The k true nearest database items of each query (ties by id), computed exactly in chunks of queries."""
    if metric not in ("euclidean", "cosine"):
        raise L2HError(f"ground-truth metric {metric!r} is not euclidean or cosine")
    db = np.asarray(database_features, dtype=np.float32)
    q = np.asarray(query_features, dtype=np.float32)
    if metric == "cosine":
        db, q = l2_normalise(db), l2_normalise(q)
    k = min(k, db.shape[0])
    db_sq = (db.astype(np.float64) ** 2).sum(1)
    ids = np.empty((q.shape[0], k), dtype=np.int64)
    for start in range(0, q.shape[0], chunk):
        block = q[start:start + chunk]
        # squared distance up to the query's own norm, which does not change the order
        dist = db_sq[None, :] - 2 * (block.astype(np.float64) @ db.T.astype(np.float64))
        part = np.argpartition(dist, k - 1, axis=1)[:, :k]
        order = np.lexsort((part, np.take_along_axis(dist, part, 1)), axis=1)
        ids[start:start + chunk] = np.take_along_axis(part, order, 1)
    lims = np.arange(0, (q.shape[0] + 1) * k, k, dtype=np.int64)
    return Relevance(NEIGHBOURS, _NONE.reshape(1, 1), _NONE.reshape(1, 1), lims, ids.reshape(-1))


@njit(cache=True)
def fill_relevance(rel_mode, qrel, q, dbrel, marks, out):
    """out[i] = whether database item i is relevant to query q. One loop per kind of relevance, so that the
    kind is decided once per query rather than once per item (which costs ten times the popcount)."""
    if rel_mode == SINGLE:
        label = qrel[q, 0]
        for i in range(out.shape[0]):
            out[i] = dbrel[i, 0] == label
    elif rel_mode == MULTI:
        for i in range(out.shape[0]):
            hit = False
            for w in range(qrel.shape[1]):
                hit |= (qrel[q, w] & dbrel[i, w]) != 0
            out[i] = hit
    else:
        out[:] = marks


def relevance_of(relevance: Relevance, q_rows: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Boolean relevance of ``database[ids[j, :]]`` to query ``q_rows[j]``; ids of -1 are not relevant."""
    safe = np.maximum(ids, 0)
    if relevance.mode == SINGLE:
        rel = relevance.database[safe, 0] == relevance.query[q_rows, 0][:, None]
    elif relevance.mode == MULTI:
        rel = (relevance.database[safe] & relevance.query[q_rows][:, None, :]).any(axis=-1)
    else:
        rel = np.zeros(ids.shape, dtype=bool)
        for j, q in enumerate(q_rows):
            rel[j] = np.isin(ids[j], relevance.ids[relevance.lims[q]:relevance.lims[q + 1]])
    return rel & (ids >= 0)
