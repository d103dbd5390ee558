"""A hash table keyed on the whole code: each bucket holds the ids of the items with exactly that code.

A radius-r query probes every code within r flips of its own. Layout, chosen for memory and cache behaviour:
buckets are sorted by a Fibonacci hash of their key, and a directory of ``2^p`` offsets (``p`` about log2 of the
number of buckets) points at each hash value's run of buckets, so a lookup reads one directory entry and one
short run of keys; there are no per-bucket objects or pointers. When a radius needs more probes than there are
buckets, the shell is answered by scanning the bucket keys instead, which gives the same set faster."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numba.typed import List

from l2h import codes as codes_mod
from l2h.index import kernels
from l2h.index.base import BinaryIndex, compact_ints, empty_range


@lru_cache(maxsize=64)
def _masks(bits: int, weight: int) -> np.ndarray:
    return kernels.flip_masks(bits, weight)


class HashIndex(BinaryIndex):
    kind = "hash"

    def __init__(self, bits: int):
        super().__init__(codes_mod.check_bits(bits, maximum=64))
        self._set(np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64))

    @property
    def ntotal(self) -> int:
        return int(self.ids.shape[0])

    @property
    def n_buckets(self) -> int:
        return int(self.bucket_keys.shape[0])

    def add(self, codes: np.ndarray, ids: np.ndarray | None = None) -> None:
        codes = codes_mod.check_codes(codes, self.bits)
        new_ids = self._new_ids(codes.shape[0], ids)
        keys = np.concatenate([self._keys_per_item(), codes_mod.as_words(codes)[:, 0]])
        self._set(keys, np.concatenate([self.ids.astype(np.int64), new_ids]))

    def _keys_per_item(self) -> np.ndarray:
        return np.repeat(self.bucket_keys.astype(np.uint64), np.diff(self.bucket_starts))

    def _set(self, keys: np.ndarray, ids: np.ndarray) -> None:
        unique, item_key = np.unique(keys, return_inverse=True)
        p = max(1, math.ceil(math.log2(max(unique.size, 2))))
        self.shift = np.uint64(64 - p)
        hashes = (unique * kernels.GOLDEN) >> self.shift
        by_hash = np.lexsort((unique, hashes))  # bucket order: by hash, then key
        bucket_rank = np.empty(unique.size, dtype=np.int64)
        bucket_rank[by_hash] = np.arange(unique.size)
        item_bucket = bucket_rank[item_key]
        self.ids = compact_ints(ids[np.lexsort((ids, item_bucket))])
        self.bucket_keys = unique[by_hash].astype(np.uint32 if self.bits <= 32 else np.uint64)
        sizes = np.bincount(item_bucket, minlength=unique.size)
        self.bucket_starts = compact_ints(np.concatenate([[0], np.cumsum(sizes)]))
        self.directory = compact_ints(np.searchsorted(hashes[by_hash], np.arange(2**p + 1, dtype=np.uint64)))

    def _shells(self, r_lo: int, r_hi: int) -> List:
        shells = List()
        for r in range(r_lo, r_hi + 1):
            probes = math.comb(self.bits, r)
            masks = _masks(self.bits, r) if probes <= self.n_buckets else np.empty(0, dtype=np.uint64)
            shells.append((np.int64(r), masks))
        return shells

    def probe(self, queries: np.ndarray, r_lo: int, r_hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Items at distance r_lo..r_hi (inclusive) of each query, by distance then id. ``r_lo = r_hi = r`` gives
        one shell, which is how the evaluation's radius sweep extends its candidates one radius at a time."""
        queries = self._queries(queries)
        r_lo, r_hi = self._radius(r_lo), self._radius(r_hi)
        nq = queries.shape[0]
        self.last_stats = np.zeros((nq, 2), dtype=np.int64)
        if self.ntotal == 0 or nq == 0 or r_lo > r_hi:
            return empty_range(nq)
        qkeys = codes_mod.as_words(queries)[:, 0]
        return kernels.probe_shells(qkeys, self._shells(r_lo, r_hi), self.directory, self.bucket_keys,
                                    self.bucket_starts, self.ids, self.shift, self.last_stats)

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
        return sum(a.nbytes for a in (self.ids, self.bucket_keys, self.bucket_starts, self.directory))

    def _state(self):
        arrays = {"ids": self.ids, "bucket_keys": self.bucket_keys, "bucket_starts": self.bucket_starts,
                  "directory": self.directory}
        return {"shift": int(self.shift)}, arrays

    @classmethod
    def _from_state(cls, meta, arrays):
        index = cls.__new__(cls)
        BinaryIndex.__init__(index, meta["bits"])
        index.shift = np.uint64(meta["shift"])
        for name, a in arrays.items():
            setattr(index, name, a)
        return index
