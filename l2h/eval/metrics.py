"""Retrieval metrics of Hamming ranking over packed codes, exact and with stated tie rules.

One compiled pass per query computes every code distance, the distance histogram and its relevant-item
histogram, and records for each relevant item its position among the items of equal distance (id order).
Every metric then follows without sorting and without a queries x database matrix:

- ``map``: AP with ties broken by database id (the ranking a stable sort by distance gives);
- ``map_tie_aware``: the expected AP over uniformly random orders within each tie (McSherry & Najork, 2008);
- ``map_at[R]``: AP over the top R of the ranking, normalised by the relevant items retrieved there;
- ``precision_at[k]`` / ``recall_at[k]``: of the top k (ties by id), and ``precision_at_tie_aware[k]``;
- ``hamming_ball``: precision and recall of the items within Hamming radius r, for r = 0 .. bits (the
  precision-recall curve of hash lookup), with the empty-ball rule applied and the empty fraction reported.

The means follow the field's rule (DeepHash-pytorch's ``CalcTopMap``, OrthoHash's ``calculate_mAP``, the CSQ
authors' ``mean_average_precision``): a query with no relevant item in the ranked list (the whole database for
``map``, its top R for ``map_at[R]``) has no AP and scores 0 in the mean over all queries. Their number is
reported (``queries_without_relevant``, ``queries_without_relevant_at[R]``), so the mean over the other queries
alone is ``map * n_query / (n_query - that number)``. Per query the arrays hold NaN there. Recall is undefined
without a relevant item: those queries are left out of the recall means.

Ties: those implementations order equal distances as their sort happens to (``np.argsort``'s default quicksort,
``torch.topk``), not stably; l2h breaks ties by database id, one of the orders theirs can produce, and
``map_tie_aware`` gives the expectation over all of them.

AP itself is :func:`average_precision` of the relevance flags in rank order (its torch twin:
:func:`l2h.eval.metrics_torch.average_precision`); the compiled pass computes the same from each relevant item's
rank, without the queries x database matrix of flags (tests/test_metrics.py holds them equal)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from l2h import codes as codes_mod
from l2h.errors import L2HError
from l2h.eval.relevance import NEIGHBOURS, Relevance, fill_relevance
from l2h.eval.settings import EMPTY_POLICIES
from l2h.index.kernels import distance, popcount


@njit(cache=True)
def _per_query(qwords, dbwords, bits, rel_mode, qrel, dbrel, rel_lims, rel_ids, ks, Rs, harmonic,
               hist_out, rel_hist_out, ap, ap_tie, ap_at, hits_at):
    nq, n = qwords.shape[0], dbwords.shape[0]
    marks = np.zeros(n if rel_mode == NEIGHBOURS else 1, dtype=np.bool_)
    rel = np.empty(n, dtype=np.bool_)
    # sized for the worst case (every item relevant): growing them inside the scan costs more than the scan
    rec_d = np.empty(n, dtype=np.int64)
    rec_pos = np.empty(n, dtype=np.int64)
    rec_rpos = np.empty(n, dtype=np.int64)
    # the distance histogram is kept in four interleaved lanes: consecutive items often share a distance, and
    # one counter would make each increment wait for the last
    lanes = np.zeros((4, bits + 1), dtype=np.int64)
    rel_hist = np.zeros(bits + 1, dtype=np.int64)
    start = np.empty(bits + 2, dtype=np.int64)
    rel_start = np.empty(bits + 2, dtype=np.int64)
    for q in range(nq):
        if rel_mode == NEIGHBOURS:
            for j in range(rel_lims[q], rel_lims[q + 1]):
                marks[rel_ids[j]] = True
        fill_relevance(rel_mode, qrel, q, dbrel, marks, rel)
        found = 0
        lanes[:] = 0
        rel_hist[:] = 0
        single_word = dbwords.shape[1] == 1
        q0 = qwords[q, 0]
        for i in range(n):
            d = np.int64(popcount(dbwords[i, 0] ^ q0)) if single_word else distance(qwords, q, dbwords, i)
            if rel[i]:
                rec_d[found] = d
                # items of this distance before it (smaller ids), and the relevant ones among them
                rec_pos[found] = lanes[0, d] + lanes[1, d] + lanes[2, d] + lanes[3, d]
                rec_rpos[found] = rel_hist[d]
                rel_hist[d] += 1
                found += 1
            lanes[i & 3, d] += 1
        hist = lanes.sum(axis=0)
        hist_out[q] = hist
        rel_hist_out[q] = rel_hist
        if rel_mode == NEIGHBOURS:
            for j in range(rel_lims[q], rel_lims[q + 1]):
                marks[rel_ids[j]] = False
        start[0] = 0
        rel_start[0] = 0
        for d in range(bits + 1):
            start[d + 1] = start[d] + hist[d]
            rel_start[d + 1] = rel_start[d] + rel_hist[d]
        for j in range(found):  # ranks with ties broken by id
            d = rec_d[j]
            rank = start[d] + rec_pos[j] + 1
            rel_rank = rel_start[d] + rec_rpos[j] + 1
            precision = rel_rank / rank
            ap[q] += precision
            for t in range(Rs.shape[0]):
                if rank <= Rs[t]:
                    ap_at[q, 2 * t] += precision
                    ap_at[q, 2 * t + 1] += 1
            for t in range(ks.shape[0]):
                if rank <= ks[t]:
                    hits_at[q, t] += 1
        if found:
            ap[q] /= found
        # expected AP over random orders within ties: place i of a group of m items holding r relevant ones is
        # relevant with probability r/m, and then preceded in the group by (i - 1)(r - 1)/(m - 1) relevant items
        # in expectation. Summed over i with harmonic numbers H: O(bits) per query.
        total = 0.0
        for d in range(bits + 1):
            m, r = hist[d], rel_hist[d]
            if r == 0:
                continue
            b = (r - 1) / (m - 1) if m > 1 else 0.0
            a, before = rel_start[d] + 1.0, start[d]
            total += (r / m) * (m * b + (a - b * (before + 1)) * (harmonic[before + m] - harmonic[before]))
        ap_tie[q] = total / found if found else np.nan


def average_precision(hits: np.ndarray) -> np.ndarray:
    """AP of each row of relevance flags in rank order, (n, m) -> (n,): the mean over the row's relevant items of
    the precision at each one's rank; NaN for a row without a relevant item. AP@R is the AP of the first R
    columns."""
    hits = np.asarray(hits, dtype=np.float64)
    found = hits.sum(1)
    precision = np.cumsum(hits, 1) / np.arange(1, hits.shape[1] + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(found > 0, (precision * hits).sum(1) / found, np.nan)


@dataclass
class RankingMetrics:
    """Per-query arrays; :meth:`summary` gives the means that reports show."""

    bits: int
    ks: tuple[int, ...]
    Rs: tuple[int, ...]
    hist: np.ndarray          # (nq, bits + 1) items at each distance
    rel_hist: np.ndarray      # (nq, bits + 1) relevant items at each distance
    ap: np.ndarray            # (nq,) NaN without a relevant item
    ap_tie_aware: np.ndarray
    ap_at: np.ndarray         # (nq, len(Rs)) NaN where the top R holds no relevant item
    hits_at: np.ndarray       # (nq, len(ks)) relevant items among the top k, ties by id

    @property
    def n_relevant(self) -> np.ndarray:
        return self.rel_hist.sum(1)

    def precision_at_tie_aware(self) -> np.ndarray:
        """Expected relevant share of the top k when ties are ordered at random, (nq, len(ks))."""
        start = np.concatenate([np.zeros((len(self.hist), 1), np.int64), np.cumsum(self.hist, 1)], 1)
        rel_start = np.concatenate([np.zeros((len(self.hist), 1), np.int64), np.cumsum(self.rel_hist, 1)], 1)
        out = np.empty((len(self.hist), len(self.ks)))
        rows = np.arange(len(self.hist))
        for t, k in enumerate(self.ks):
            k_eff = np.minimum(k, start[:, -1])
            group = np.clip((start[:, :-1] < k_eff[:, None]).sum(1) - 1, 0, self.bits)  # holds the k-th item
            before, rel_before = start[rows, group], rel_start[rows, group]
            size = np.maximum(self.hist[rows, group], 1)
            out[:, t] = (rel_before + (k_eff - before) * self.rel_hist[rows, group] / size) / k
        return out

    def hamming_ball(self, empty_policy: str = "zero") -> list[dict]:
        """Precision and recall within radius r, r = 0 .. bits, with the empty-ball rule applied."""
        if empty_policy not in EMPTY_POLICIES:
            raise L2HError(f"empty_policy={empty_policy!r} is not one of {', '.join(EMPTY_POLICIES)}")
        inside, rel_inside = np.cumsum(self.hist, 1), np.cumsum(self.rel_hist, 1)
        has_rel = self.n_relevant > 0
        out = []
        for r in range(self.bits + 1):
            empty = inside[:, r] == 0
            precision = np.where(empty, 0.0, rel_inside[:, r] / np.maximum(inside[:, r], 1))
            p = precision[~empty].mean() if empty_policy == "skip" and (~empty).any() else precision.mean()
            if empty_policy == "skip" and empty.all():
                p = float("nan")
            recall = (rel_inside[has_rel, r] / self.n_relevant[has_rel]).mean() if has_rel.any() else float("nan")
            out.append({"radius": r, "precision": float(p), "recall": float(recall),
                        "empty_fraction": float(empty.mean()), "mean_candidates": float(inside[:, r].mean())})
        return out

    def summary(self, empty_policy: str = "zero") -> dict:
        has_rel = self.n_relevant > 0
        recall = self.hits_at[has_rel] / self.n_relevant[has_rel, None]
        return {
            "map": _zero_if_undefined_mean(self.ap),
            "map_tie_aware": _zero_if_undefined_mean(self.ap_tie_aware),
            "map_at": {str(R): _zero_if_undefined_mean(self.ap_at[:, t]) for t, R in enumerate(self.Rs)},
            "queries_without_relevant_at": {str(R): int(np.isnan(self.ap_at[:, t]).sum())
                                            for t, R in enumerate(self.Rs)},
            "precision_at": {str(k): float((self.hits_at[:, t] / k).mean()) for t, k in enumerate(self.ks)},
            "precision_at_tie_aware": {str(k): float(v) for k, v in zip(self.ks, self.precision_at_tie_aware().mean(0))},
            "recall_at": {str(k): float(recall[:, t].mean()) if has_rel.any() else float("nan")
                          for t, k in enumerate(self.ks)},
            "queries_without_relevant": int((~has_rel).sum()),
            "hamming_ball": self.hamming_ball(empty_policy),
            "tie_rule": "ties broken by database id; *_tie_aware: expectation over random orders within ties",
            "no_relevant_rule": "a query with no relevant item (in the whole database for map, in its top R for "
                                "map_at) scores 0, as DeepHash-pytorch's CalcTopMap; counted in "
                                "queries_without_relevant and queries_without_relevant_at",
        }


def _zero_if_undefined_mean(values: np.ndarray) -> float:
    """The mean over all queries, a query without a defined AP (NaN) counting 0: the field's rule."""
    return float(np.nan_to_num(values, nan=0.0).mean()) if len(values) else float("nan")


def ranking_metrics(query_codes: np.ndarray, database_codes: np.ndarray, relevance: Relevance, bits: int,
                    ks=(10, 100, 1000), Rs=(1000, 5000), device: str | None = None) -> RankingMetrics:
    """Every Hamming-ranking metric for each query; memory is O(database) per query, never queries x database.
    ``device`` None runs the compiled CPU pass; a torch device ("cuda", or "cpu") runs the torch version."""
    if np.ndim(query_codes) == 3:  # one code per hash table (tables=L): each item ranked at its smallest distance
        device = device or "cpu"   # over the tables, as l2h.index.UnionIndex searches them; the torch pass does it
        for t in range(query_codes.shape[1]):
            codes_mod.check_codes(query_codes[:, t], bits, "query codes")
            codes_mod.check_codes(database_codes[:, t], bits, "database codes")
    else:
        query_codes = codes_mod.check_codes(query_codes, bits, "query codes")
        database_codes = codes_mod.check_codes(database_codes, bits, "database codes")
    ks_arr, Rs_arr = np.asarray(ks, dtype=np.int64), np.asarray(Rs, dtype=np.int64)
    if device is not None:
        from l2h.eval import metrics_torch

        r = metrics_torch.per_query(query_codes, database_codes, relevance, bits, ks_arr, Rs_arr, device)
        return _assemble(bits, ks_arr, Rs_arr, r["hist"], r["rel_hist"], r["ap"], r["ap_tie"], r["ap_at"], r["hits"])
    q, db = codes_mod.as_words(query_codes), codes_mod.as_words(database_codes)
    nq = q.shape[0]
    hist = np.zeros((nq, bits + 1), dtype=np.int64)
    rel_hist = np.zeros((nq, bits + 1), dtype=np.int64)
    ap, ap_tie = np.zeros(nq), np.zeros(nq)
    ap_at = np.zeros((nq, 2 * len(Rs_arr)))
    hits = np.zeros((nq, len(ks_arr)), dtype=np.int64)
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, db.shape[0] + 1))])
    _per_query(q, db, bits, relevance.mode, relevance.query, relevance.database, relevance.lims, relevance.ids,
               ks_arr, Rs_arr, harmonic, hist, rel_hist, ap, ap_tie, ap_at, hits)
    return _assemble(bits, ks_arr, Rs_arr, hist, rel_hist, ap, ap_tie, ap_at, hits)


def _assemble(bits, ks_arr, Rs_arr, hist, rel_hist, ap, ap_tie, ap_at, hits) -> RankingMetrics:
    no_rel = rel_hist.sum(1) == 0
    ap_tie = np.where(no_rel, np.nan, ap_tie)
    ap[no_rel] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        ap_at_R = np.where(ap_at[:, 1::2] > 0, ap_at[:, 0::2] / ap_at[:, 1::2], np.nan)
    return RankingMetrics(bits, tuple(int(k) for k in ks_arr), tuple(int(r) for r in Rs_arr), hist, rel_hist,
                          ap, ap_tie, ap_at_R, hits)


@njit(cache=True)
def popcount_floor(qwords, dbwords):
    """The bare scan every Hamming-ranking metric must at least do: one popcount per (query, item)."""
    total = 0
    for q in range(qwords.shape[0]):
        for i in range(dbwords.shape[0]):
            total += distance(qwords, q, dbwords, i)
    return total
