"""A hash table keyed on the whole code (up to 64 bits): each bucket holds the items with exactly that code, and
a radius-r query probes every code within r flips of its own, one shell (distance exactly r) at a time.

When a radius needs more probes than there are buckets, that shell is answered by scanning the bucket keys
instead, which gives the same set faster (64 bits at radius 4 would be 679121 probes). k-NN grows the radius
until k items are found; from the first radius where scanning is cheaper, one scan orders every bucket by its
distance and the remaining shells are read from that order.

The table is appendable (:mod:`l2h.index.buckets`): adding n codes costs O(n)."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from l2h import codes as codes_mod
from l2h.index import kernels, parallel
from l2h.index.base import BinaryIndex, Growable
from l2h.index.buckets import MAX_ROWS, BucketTables


@lru_cache(maxsize=256)
def flip_masks(bits: int, weight: int) -> np.ndarray:
    return kernels.flip_masks(bits, weight, math.comb(bits, weight))


@lru_cache(maxsize=16)
def mask_set(bits: int, radii: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``(masks, lims)``: the flips of each radius in ``radii`` concatenated, radius r at lims[r]:lims[r+1]
    (empty for the radii not listed)."""
    sizes = np.zeros(bits + 1, dtype=np.int64)
    parts = []
    for r in sorted(radii):
        parts.append(flip_masks(bits, r))
        sizes[r] = parts[-1].size
    lims = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return (np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)), lims


def scan_radii(bits: int, keys: int, direct: bool) -> np.ndarray:
    """Where scanning beats probing: C(bits, r) probes against one sequential pass over ``keys`` entries (a
    pass over a direct table's heads costs about an eighth of as many random probes)."""
    limit = keys / 8 if direct else keys
    return np.array([math.comb(bits, r) > limit for r in range(bits + 1)], dtype=np.bool_)


class HashIndex(BinaryIndex):
    kind = "hash"
    incremental_shells = True

    def __init__(self, bits: int):
        super().__init__(codes_mod.check_bits(
            bits, maximum=64, hint="HashIndex keys on the whole code: use MultiIndexHash, or l2h.index.auto(bits), "
                                   "which picks it above 64 bits"))
        self.tables = BucketTables([self.bits])
        self._ids: Growable | None = None  # None: ids are row numbers

    @property
    def ntotal(self) -> int:
        return self.tables.n

    def _add(self, codes, ids):
        n = codes.shape[0]
        if ids is not None and self._ids is None:
            self._ids = Growable(np.arange(self.ntotal, dtype=np.int64))
        new_ids = self._next_ids(n, ids)
        self.tables.add(codes_mod.as_words(codes)[:, :1])
        if self._ids is not None:
            self._ids.append(new_ids)

    def _id_args(self):
        if self._ids is None:
            return np.empty(0, dtype=np.int64), False
        return self._ids.view, True

    def _plan(self, radii) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t = self.tables
        keys = t.n_buckets(0)
        scan = scan_radii(self.bits, keys, t.direct)
        masks, lims = mask_set(self.bits, tuple(int(r) for r in radii if not scan[r]))
        return masks, lims, scan

    def _probe(self, queries, r_lo, r_hi, stats):
        qkeys = codes_mod.as_words(queries)[:, 0]
        masks, lims, scan = self._plan(range(r_lo, r_hi + 1))
        args, (ids, has_ids) = self.tables.kernel_args(), self._id_args()

        def chunk(lo, hi):
            return kernels.hash_probe(qkeys[lo:hi], r_lo, r_hi, masks, lims, scan, *args, ids, has_ids, stats[lo:hi])

        return parallel.concat_ranges(parallel.map_chunks(len(qkeys), chunk))

    def _range_search(self, queries, radius, stats):
        return self._probe(queries, 0, radius, stats)

    def _search(self, queries, k, stats):
        qkeys = codes_mod.as_words(queries)[:, 0]
        scan = self._plan(())[2]
        first_scan = int(np.argmax(scan)) if scan.any() else self.bits + 1
        masks, lims, scan = self._plan(range(first_scan))  # from the first scanned radius on, one scan serves all
        args, (ids, has_ids) = self.tables.kernel_args(), self._id_args()
        D = np.full((len(qkeys), k), -1, dtype=np.int32)
        I = np.full((len(qkeys), k), -1, dtype=np.int64)

        def chunk(lo, hi):
            kernels.hash_knn(qkeys[lo:hi], k, self.bits, masks, lims, scan, *args, ids, has_ids, stats[lo:hi],
                             D[lo:hi], I[lo:hi])

        parallel.map_chunks(len(qkeys), chunk)
        return D, I

    def _row_ids(self):
        return self._ids.view.copy() if self._ids is not None else np.arange(self.ntotal, dtype=np.int64)

    def _rows(self):
        keys = self.tables.row_keys(0)
        ids = self._row_ids()
        return codes_mod.from_words(keys[:, None], self.bits), ids

    def nbytes(self) -> int:
        return self.tables.nbytes() + (0 if self._ids is None else self._ids.nbytes)

    def _state(self):
        arrays = self.tables.arrays()
        if self._ids is not None:
            arrays["ids"] = self._ids.view
        return {"direct": self.tables.direct}, arrays

    @classmethod
    def _from_state(cls, c):
        index = cls(c.int("bits", 1, 64))
        n = c.int("ntotal", 0, MAX_ROWS)
        index.tables = BucketTables.from_arrays([index.bits], n, c.bool("direct"), c.array)
        ids = cls._load_ids(c, n)
        index._ids = None if ids is None else Growable(ids)
        return index
