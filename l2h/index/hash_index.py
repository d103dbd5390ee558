"""A hash table keyed on the whole code (up to 64 bits): each bucket holds the ids of the items with exactly
that code, and a radius-r query probes every code within r flips of its own.

When a radius needs more probes than there are buckets, that shell is answered by scanning the bucket keys
instead, which gives the same set faster (64 bits at radius 4 would be 679121 probes)."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from l2h import codes as codes_mod
from l2h.index import kernels
from l2h.index.base import BinaryIndex, empty_range
from l2h.index.buckets import BucketTable


@lru_cache(maxsize=64)
def flip_masks(bits: int, weight: int) -> np.ndarray:
    return kernels.flip_masks(bits, weight, math.comb(bits, weight))


def shell_masks(bits: int, r_lo: int, r_hi: int, n_buckets: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(radii, masks, mask_lims) for the kernels: the flips of each radius, concatenated; none for a radius
    where scanning the buckets is cheaper than probing (64 bits at radius 4 would be 679121 probes)."""
    scan = tuple(math.comb(bits, r) > n_buckets for r in range(r_lo, r_hi + 1))
    return _shell_masks(bits, r_lo, scan)


@lru_cache(maxsize=256)
def _shell_masks(bits: int, r_lo: int, scan: tuple[bool, ...]):
    radii = np.arange(r_lo, r_lo + len(scan), dtype=np.int64)
    parts = [np.empty(0, dtype=np.uint64) if scanned else flip_masks(bits, int(r)) for r, scanned in zip(radii, scan)]
    lims = np.concatenate([[0], np.cumsum([p.size for p in parts])]).astype(np.int64)
    return radii, np.concatenate(parts), lims


class HashIndex(BinaryIndex):
    kind = "hash"

    def __init__(self, bits: int):
        super().__init__(codes_mod.check_bits(bits, maximum=64))
        self.table = BucketTable.build(np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64), self.bits)

    @property
    def ntotal(self) -> int:
        return int(self.table.ids.shape[0])

    def add(self, codes: np.ndarray, ids: np.ndarray | None = None) -> None:
        codes = codes_mod.check_codes(codes, self.bits)
        new_ids = self._new_ids(codes.shape[0], ids)
        keys = np.concatenate([self.table.keys_per_item(), codes_mod.as_words(codes)[:, 0]])
        self.table = BucketTable.build(keys, np.concatenate([self.table.ids.astype(np.int64), new_ids]), self.bits)

    def probe(self, queries: np.ndarray, r_lo: int, r_hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Items at distance r_lo..r_hi (inclusive) of each query, by distance then id. ``r_lo = r_hi = r`` gives
        one shell, which is how the evaluation's radius sweep extends its candidates one radius at a time."""
        queries = self._queries(queries)
        r_lo, r_hi = self._radius(r_lo), self._radius(r_hi)
        nq = queries.shape[0]
        stats = np.zeros((nq, 2), dtype=np.int64)
        with self._timed(stats):
            if self.ntotal == 0 or nq == 0 or r_lo > r_hi:
                return empty_range(nq)
            t = self.table
            radii, masks, mask_lims = shell_masks(self.bits, r_lo, r_hi, t.n_buckets)
            return kernels.probe_shells(codes_mod.as_words(queries)[:, 0], radii, masks, mask_lims, t.direct,
                                        t.directory, t.keys, t.present, t.starts, t.ids, t.shift, stats)

    def range_search(self, queries: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.probe(queries, 0, radius)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """k nearest by growing the radius until each query has k results (or the whole code space is covered)."""
        queries = self._queries(queries)
        nq = queries.shape[0]
        D = np.full((nq, k), -1, dtype=np.int32)
        I = np.full((nq, k), -1, dtype=np.int64)
        found = np.zeros(nq, dtype=np.int64)
        pending = np.arange(nq)
        for r in range(self.bits + 1):
            if pending.size == 0 or self.ntotal == 0:
                break
            lims, d, i = self.probe(queries[pending], r, r)
            for row, q in enumerate(pending):
                take = min(k - found[q], lims[row + 1] - lims[row])
                D[q, found[q]:found[q] + take] = d[lims[row]:lims[row] + take]
                I[q, found[q]:found[q] + take] = i[lims[row]:lims[row] + take]
                found[q] += take
            pending = pending[found[pending] < k]
        return D, I

    def nbytes(self) -> int:
        return self.table.nbytes()

    def _state(self):
        return {}, self.table.arrays()

    @classmethod
    def _from_state(cls, meta, arrays):
        index = cls.__new__(cls)
        BinaryIndex.__init__(index, meta["bits"])
        index.table = BucketTable.from_arrays(arrays)
        return index
