"""The hash-table evaluation: for each Hamming radius r = 0 .. max_radius, every query gathers the items in the
buckets within r of its code, re-ranks them and scores its top k.

The sweep is incremental: the candidates at r + 1 are those at r plus the shell at distance exactly r + 1, so
each shell is re-ranked once. It runs over any index of the contract through ``index.probe``. The time
reported for radius r is what one query answered at radius r costs: the re-ranking of every shell up to r,
plus the probes of every shell up to r for an index whose shells cost incrementally (a hash table), or the
search at radius r itself for one that answers a radius as a whole (multi-index hashing, a scan)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numba import njit

from l2h.data.preprocess import l2_normalise
from l2h.errors import L2HError
from l2h.eval.relevance import Relevance, relevance_of
from l2h.eval.settings import EMPTY_POLICIES, RERANKERS
from l2h.index.base import BinaryIndex


@dataclass(frozen=True)
class RadiusResult:
    radius: int
    precision_at_k: float
    mean_candidates: float
    mean_query_ms: float
    empty_fraction: float
    mean_buckets_probed: float


@njit(cache=True)
def _merge_by_similarity(qf, dbf, lims, ids, top_ids, top_sims):
    """Fold one shell's candidates into each query's top list, by cosine similarity then id (in place)."""
    k = top_ids.shape[1]
    for q in range(qf.shape[0]):
        for j in range(lims[q], lims[q + 1]):
            i = ids[j]
            s = np.float32(0.0)
            for t in range(qf.shape[1]):
                s += qf[q, t] * dbf[i, t]
            worst_id = top_ids[q, k - 1]
            if worst_id >= 0 and (s < top_sims[q, k - 1] or (s == top_sims[q, k - 1] and i > worst_id)):
                continue
            pos = k - 1
            while pos > 0 and (top_ids[q, pos - 1] < 0 or s > top_sims[q, pos - 1]
                               or (s == top_sims[q, pos - 1] and i < top_ids[q, pos - 1])):
                top_ids[q, pos] = top_ids[q, pos - 1]
                top_sims[q, pos] = top_sims[q, pos - 1]
                pos -= 1
            top_ids[q, pos] = i
            top_sims[q, pos] = s


@njit(cache=True)
def _append_in_order(lims, ids, top_ids, filled):
    """Hamming re-ranking: shells arrive by distance and ids ascend within a shell, so the top k are the first k."""
    k = top_ids.shape[1]
    for q in range(lims.shape[0] - 1):
        for j in range(lims[q], lims[q + 1]):
            if filled[q] >= k:
                break
            top_ids[q, filled[q]] = ids[j]
            filled[q] += 1


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Contiguous float32 unit rows, as the compiled re-ranking reads them."""
    return np.ascontiguousarray(l2_normalise(np.asarray(x, dtype=np.float32)))


def _compile_kernels(index, query_codes, rerank, top_ids, top_sims, filled, qf, dbf) -> None:
    """Run every kernel once on no work, so that the timed sweep measures searching, not numba compiling."""
    lims, _, ids = index.probe(query_codes[:1], 0, 0)
    lims = np.zeros_like(lims)
    if rerank == "cosine":
        _merge_by_similarity(qf[:1], dbf, lims, ids, top_ids[:1], top_sims[:1])
    else:
        _append_in_order(lims, ids, top_ids[:1], filled[:1])


def radius_sweep(index: BinaryIndex, query_codes: np.ndarray, relevance: Relevance, max_radius: int, k: int = 10, rerank: str = "cosine", empty_policy: str = "skip",
                 query_features: np.ndarray | None = None, database_features: np.ndarray | None = None,
                 ) -> list[RadiusResult]:
    """Precision@k, candidates, query time and empty fraction at each radius. Database ids are row numbers of
    the database that ``relevance`` and ``database_features`` describe. ``empty_policy``: a query with no candidate is left out of the
    precision mean ("skip", as the tutorial does) or scores 0 ("zero"); its share is reported either way."""
    if rerank not in RERANKERS:
        raise L2HError(f"eval.rerank={rerank!r} is not one of {', '.join(RERANKERS)}")
    if empty_policy not in EMPTY_POLICIES:
        raise L2HError(f"eval.empty_policy={empty_policy!r} is not one of {', '.join(EMPTY_POLICIES)}")
    if not isinstance(k, int) or k < 1:
        raise L2HError(f"eval.k must be a positive integer, got {k!r}")
    if not isinstance(max_radius, int) or not 0 <= max_radius <= index.bits:
        raise L2HError(f"eval.max_radius={max_radius} must be between 0 and the code length ({index.bits})")
    nq = query_codes.shape[0]
    top_ids = np.full((nq, k), -1, dtype=np.int64)
    top_sims = np.full((nq, k), -np.inf, dtype=np.float32)
    filled = np.zeros(nq, dtype=np.int64)
    if rerank == "cosine":
        if query_features is None or database_features is None:
            raise L2HError("cosine re-ranking needs the query and database features: pass them or use rerank=hamming")
        qf, dbf = _unit_rows(query_features), _unit_rows(database_features)
    _compile_kernels(index, query_codes, rerank, top_ids, top_sims, filled, qf if rerank == "cosine" else None,
                     dbf if rerank == "cosine" else None)
    incremental = getattr(type(index), "incremental_shells", False)
    candidates = np.zeros(nq, dtype=np.int64)
    probed = np.zeros(nq, dtype=np.int64)
    probing = reranking = 0.0
    results = []
    for r in range(max_radius + 1):
        start = time.perf_counter()
        lims, _, ids = index.probe(query_codes, r, r)
        probe_seconds = time.perf_counter() - start
        probing = probing + probe_seconds if incremental else probe_seconds
        start = time.perf_counter()
        if rerank == "cosine":
            _merge_by_similarity(qf, dbf, lims, ids, top_ids, top_sims)
        else:
            _append_in_order(lims, ids, top_ids, filled)
        reranking += time.perf_counter() - start
        elapsed = probing + reranking
        candidates += np.diff(lims)
        probed = probed + index.last_stats.buckets_probed if incremental else index.last_stats.buckets_probed
        empty = candidates == 0
        precision = relevance_of(relevance, np.arange(nq), top_ids).sum(axis=1) / k
        if empty_policy == "skip":
            score = float(precision[~empty].mean()) if (~empty).any() else float("nan")
        else:
            score = float(np.where(empty, 0.0, precision).mean())
        results.append(RadiusResult(r, score, float(candidates.mean()), 1000 * elapsed / max(nq, 1),
                                    float(empty.mean()), float(probed.mean())))
    return results
