"""A hash table keyed on the whole code (up to 64 bits): each bucket holds the items with exactly that code, and
a radius-r query probes every code within r flips of its own, one shell (distance exactly r) at a time.

When a radius needs more probes than there are buckets, that shell is answered by scanning the bucket keys
instead, which gives the same set faster (64 bits at radius 4 would be 679121 probes). k-NN grows the radius
until k items are found; from the first radius where scanning is cheaper, one scan orders every bucket by its
distance and the remaining shells are read from that order.

No search costs much more than an exhaustive scan (:mod:`l2h.index.costs`): a k-NN query whose next shell would
cost more than scanning every code, and a range search whose probes would, scan the codes instead (the bucket
keys, kept as one word per row from the first such scan on). ``strategy`` forces either way.

The table is appendable (:mod:`l2h.index.buckets`): adding n codes costs O(n)."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from l2h import codes as codes_mod
from l2h.index import costs, kernels, parallel
from l2h.index.base import BinaryIndex
from l2h.index.buckets import MAX_ROWS, BucketTables
from l2h.index.flat import rescan_knn, scan_range


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
        self.strategy = "auto"  # costs.STRATEGIES: when a search scans the codes instead of probing
        self._scan_words: np.ndarray | None = None  # each row's code, for those scans: made at the first one

    @property
    def ntotal(self) -> int:
        return self.tables.n

    def _add(self, codes):
        self.tables.add(codes_mod.as_words(codes)[:, :1])
        self._scan_words = None

    def _flat_codes(self) -> kernels.FlatCodes:
        if self._scan_words is None:
            self._scan_words = self.tables.row_keys(0)
        return kernels.FlatCodes(flat=self._scan_words, words=1, bits=self.bits)

    def _plan(self, radii) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t = self.tables
        keys = t.n_buckets(0)
        scan = scan_radii(self.bits, keys, t.direct)
        masks, lims = mask_set(self.bits, tuple(int(r) for r in radii if not scan[r]))
        return masks, lims, scan

    def _probe(self, queries, r_lo, r_hi, stats):
        qkeys = codes_mod.as_words(queries)[:, 0]
        masks, lims, scan = self._plan(range(r_lo, r_hi + 1))
        rank = self.id_map.ranks()
        n_probes, keys_read = int(lims[-1]), self.tables.n_buckets(0) * int(scan[r_lo:r_hi + 1].sum())
        work = f"{n_probes} probes and {keys_read} bucket keys read per query"
        asked = f"radius {r_lo}..{r_hi}"
        if costs.probes_cost(n_probes, keys_read, self.tables.direct) > costs.limit(self.strategy, self.ntotal, 1):
            self.last_plan = costs.plan("HashIndex", self.strategy, asked, len(qkeys), len(qkeys), self.ntotal,
                                        f"{work} cost more than a scan")
            return scan_range(np.ascontiguousarray(qkeys[:, None]), self._flat_codes(), r_lo, r_hi, rank, stats)
        self.last_plan = costs.plan("HashIndex", self.strategy, asked, 0, len(qkeys), self.ntotal,
                                    f"{work} cost less than a scan")
        probes, tables = kernels.Probes(masks=masks, lims=lims, scan=scan), self.tables.kernel_args()

        def chunk(lo, hi):
            search = kernels.Search(queries=qkeys[lo:hi], k=0, r_lo=r_lo, r_hi=r_hi, rank=rank, stats=stats[lo:hi])
            return kernels.hash_probe(search, probes, tables)

        return parallel.concat_ranges(parallel.map_chunks(len(qkeys), chunk))

    def _range_search(self, queries, radius, stats):
        return self._probe(queries, 0, radius, stats)

    def _search(self, queries, k, stats):
        qkeys = codes_mod.as_words(queries)[:, 0]
        scan = self._plan(())[2]
        first_scan = int(np.argmax(scan)) if scan.any() else self.bits + 1
        masks, lims, scan = self._plan(range(first_scan))  # from the first scanned radius on, one scan serves all
        probes, tables = kernels.Probes(masks=masks, lims=lims, scan=scan), self.tables.kernel_args()
        rank = self.id_map.ranks()
        budget = costs.budget(self.strategy, self.ntotal, 1, self.tables.direct, costs.CANDIDATE)
        D = np.full((len(qkeys), k), -1, dtype=np.int32)
        I = np.full((len(qkeys), k), -1, dtype=np.int64)
        gave_up = np.zeros(len(qkeys), dtype=np.bool_)

        def chunk(lo, hi):
            search = kernels.Search(queries=qkeys[lo:hi], k=k, r_lo=0, r_hi=self.bits, rank=rank, stats=stats[lo:hi])
            kernels.hash_knn(search, probes, tables, budget, D[lo:hi], I[lo:hi], gave_up[lo:hi])

        parallel.map_chunks(len(qkeys), chunk)
        keys = np.ascontiguousarray(qkeys[:, None])  # one word per query, as a scan takes it
        scanned = rescan_knn(keys, self._flat_codes, k, self.id_map, stats, gave_up, D, I)
        self.last_plan = costs.plan("HashIndex", self.strategy, f"k-NN (k={k})", scanned, len(qkeys), self.ntotal,
                                    "a query scans once its next shell of probes would cost more than a scan")
        return D, I

    def _codes(self):
        return codes_mod.from_words(self.tables.row_keys(0)[:, None], self.bits)

    def _nbytes(self) -> int:
        return self.tables.nbytes()

    def _state(self):
        return {"direct": self.tables.direct}, self.tables.arrays()

    @classmethod
    def _from_state(cls, c):
        index = cls(c.int("bits", 1, 64))
        n = c.int("ntotal", 0, MAX_ROWS)
        index.tables = BucketTables.from_arrays([index.bits], n, c.bool("direct"), c.array)
        return index
