"""The ranking metrics of :mod:`l2h.eval.metrics` computed with torch, for a GPU: queries in chunks, distances by
a byte-popcount table, each chunk's ranking by a stable sort (ties by id). Same per-query results as the compiled
CPU pass, which remains the default on a machine without a GPU; the means over queries, with the field's rule for
a query that finds nothing relevant, are :class:`l2h.eval.metrics.RankingMetrics`'s for both."""

from __future__ import annotations

import numpy as np
import torch

from l2h.eval.relevance import MULTI, SINGLE, Relevance

_BYTE_POPCOUNT = torch.tensor([bin(i).count("1") for i in range(256)], dtype=torch.int16)


def precision_at_hits(hits: torch.Tensor) -> torch.Tensor:
    """Relevance flags in rank order (n, m), float64 -> the precision at each relevant item's rank, 0 elsewhere."""
    return hits * torch.cumsum(hits, 1) / torch.arange(1, hits.shape[1] + 1, device=hits.device, dtype=hits.dtype)


def average_precision(hits: torch.Tensor) -> torch.Tensor:
    """:func:`l2h.eval.metrics.average_precision` in torch, on the flags' device: NaN for a row without a relevant
    item."""
    hits = hits.double()
    found = hits.sum(1)
    return torch.where(found > 0, precision_at_hits(hits).sum(1) / found.clamp_min(1), torch.nan)


def per_query(query_codes, database_codes, relevance: Relevance, bits: int, ks: np.ndarray, Rs: np.ndarray,
              device: str, budget_bytes: int = 1 << 28):
    """-> hist, rel_hist, ap, ap_tie, ap_at (sum, count pairs), hits: the arrays the CPU kernel fills."""
    dev = torch.device(device)
    db = torch.as_tensor(database_codes, device=dev)
    q_all = torch.as_tensor(query_codes, device=dev)
    table = _BYTE_POPCOUNT.to(dev)
    n, nq = db.shape[0], q_all.shape[0]
    chunk = max(1, budget_bytes // max(1, n * db[0].numel() * 2))
    db_rel = torch.as_tensor(relevance.database, device=dev)
    q_rel = torch.as_tensor(relevance.query, device=dev)
    positions = torch.arange(1, n + 1, device=dev, dtype=torch.float64)
    harmonic = torch.cat([torch.zeros(1, device=dev, dtype=torch.float64), torch.cumsum(1.0 / positions, 0)])
    out = {"hist": [], "rel_hist": [], "ap": [], "ap_tie": [], "ap_at": [], "hits": []}
    for start in range(0, nq, chunk):
        q = q_all[start:start + chunk]
        rows = torch.arange(start, start + q.shape[0])
        dist = table[(q[:, None] ^ db[None]).long()].sum(-1).long()  # (c, n); (c, n, tables) for codes of tables=L
        if dist.dim() == 3:  # each item at its smallest distance over the tables, as l2h.index.UnionIndex
            dist = dist.amin(-1)
        if relevance.mode == SINGLE:
            rel = db_rel[None, :, 0] == q_rel[rows.to(dev), 0][:, None]
        elif relevance.mode == MULTI:
            rel = (db_rel[None, :, :] & q_rel[rows.to(dev)][:, None, :]).ne(0).any(-1)
        else:
            rel = torch.zeros((q.shape[0], n), dtype=torch.bool, device=dev)
            for j, r in enumerate(rows.tolist()):
                ids = torch.as_tensor(relevance.ids[relevance.lims[r]:relevance.lims[r + 1]], device=dev)
                rel[j, ids] = True
        hist = torch.zeros((q.shape[0], bits + 1), dtype=torch.int64, device=dev).scatter_add_(
            1, dist, torch.ones_like(dist))
        rel_hist = torch.zeros_like(hist).scatter_add_(1, dist, rel.long())
        order = torch.sort(dist, dim=1, stable=True).indices
        hits_sorted = rel.gather(1, order).double()
        cum = torch.cumsum(hits_sorted, 1)
        total = rel_hist.sum(1).double()
        precision_at_hit = precision_at_hits(hits_sorted)
        ap = average_precision(hits_sorted)
        ap_at = []
        for R in Rs.tolist():
            R = min(R, n)
            ap_at += [precision_at_hit[:, :R].sum(1), hits_sorted[:, :R].sum(1)]
        hits = torch.stack([cum[:, min(k, n) - 1] for k in ks.tolist()], 1) if len(ks) else cum[:, :0]
        # tie-aware AP: the CPU kernel's closed form, vectorised over (query, distance)
        m, r = hist.double(), rel_hist.double()
        before = torch.cumsum(hist, 1) - hist
        rel_before = (torch.cumsum(rel_hist, 1) - rel_hist).double()
        b = torch.where(m > 1, (r - 1) / (m - 1).clamp_min(1), torch.zeros_like(m))
        h = harmonic[(before + hist).clamp_max(n)] - harmonic[before.clamp_max(n)]
        term = torch.where(r > 0, (r / m.clamp_min(1)) * (m * b + (rel_before + 1 - b * (before + 1)) * h),
                           torch.zeros_like(m))
        ap_tie = term.sum(1) / total.clamp_min(1)
        for key, value in (("hist", hist), ("rel_hist", rel_hist), ("ap", ap), ("ap_tie", ap_tie),
                           ("ap_at", torch.stack(ap_at, 1) if ap_at else ap[:, None][:, :0]), ("hits", hits.long())):
            out[key].append(value.cpu().numpy())
    return {k: np.concatenate(v) for k, v in out.items()}
