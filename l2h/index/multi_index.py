"""Multi-index hashing (Norouzi, Punjani & Fleet, 2012) for long codes, any length from 1 bit up (8 to 1024 bits
and more are tested).

The code is cut into ``m`` substrings of ``bits // m`` or ``bits // m + 1`` bits (the first ``bits % m`` get the
extra bit), each indexed in its own chained table. With ``radius = a * m + b`` (``0 <= b < m``), an item
within the radius differs from the query by at most ``a`` bits on one of the first ``b + 1`` substrings or by
at most ``a - 1`` on one of the others (the pigeonhole rule holds whatever the substrings' lengths), so only
those balls are probed; every candidate is verified once by a full popcount. The search is exact.

k-NN grows the radius one step at a time (one more shell of one table per step) until k items lie within it,
so no shell is probed twice.

No search costs much more than an exhaustive scan (:mod:`l2h.index.costs`): a query whose next shell of probes would
take it past a scan's cost, or whose candidates already have, scans the index's own codes instead (long codes
whose neighbours are far: 512-bit codes at distance 100 reach every substring table at radius 6 and more).
``strategy`` forces either way."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from l2h import codes as codes_mod
from l2h.checks import MAX_BITS
from l2h.codes import is_integer
from l2h.errors import L2HError
from l2h.index import costs, kernels, parallel
from l2h.index.base import BinaryIndex, Growable
from l2h.index.buckets import DIRECT_BITS, MAX_ROWS, BucketTables
from l2h.index.flat import rescan_knn, rescan_ranges
from l2h.index.hash_index import flip_masks, scan_radii


def default_m(bits: int) -> int:
    """About 16 bits per substring, which suits databases of 65 thousand to a few million codes (Norouzi et
    al.: substrings of about log2(n) bits)."""
    return max(1, (bits + 8) // 16)


def substring_radii(radius: int, m: int) -> np.ndarray:
    a, b = divmod(radius, m)
    return np.array([a if t <= b else a - 1 for t in range(m)], dtype=np.int64)


@lru_cache(maxsize=16)
def _class_masks(lengths: tuple[int, ...], weights: tuple[tuple[int, ...], ...]):
    """Masks of each length class: ``masks``, ``lims`` (classes, max length + 2)."""
    top = max(lengths)
    lims = np.zeros((len(lengths), top + 2), dtype=np.int64)
    parts, total = [], 0
    for c, (length, wanted) in enumerate(zip(lengths, weights)):
        for w in range(top + 1):
            lims[c, w] = total
            if w in wanted:
                parts.append(flip_masks(length, w))
                total += parts[-1].size
        lims[c, top + 1] = total
    return (np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)), lims


class MultiIndexHash(BinaryIndex):
    kind = "multi_index"

    def __init__(self, bits: int, m: int | None = None):
        super().__init__(codes_mod.check_bits(bits))
        if m is None:
            m = default_m(self.bits)
        if not is_integer(m) or not 1 <= m <= self.bits or -(-self.bits // m) > 64:
            raise L2HError(f"MultiIndexHash needs m substrings of 1 to 64 bits each, between {-(-self.bits // 64)} "
                           f"and {self.bits} for {self.bits} bits, got m={m!r}: try m={default_m(self.bits)}")
        self.m = int(m)
        short, extra = divmod(self.bits, self.m)
        self.sub_len = np.array([short + 1 if t < extra else short for t in range(self.m)], dtype=np.int64)
        self.sub_start = np.concatenate([[0], np.cumsum(self.sub_len)[:-1]]).astype(np.int64)
        self._classes = tuple(sorted(set(self.sub_len.tolist()), reverse=True))
        self.mask_class = np.array([self._classes.index(L) for L in self.sub_len], dtype=np.int64)
        self.words_per_code = (codes_mod.n_bytes(self.bits) + 7) // 8
        self.tables = BucketTables(self.sub_len.tolist())
        self._words = Growable(np.empty((0, self.words_per_code), dtype=np.uint64))
        self.strategy = "auto"  # costs.STRATEGIES: when a search scans the codes instead of probing

    @property
    def ntotal(self) -> int:
        return self.tables.n

    @property
    def words(self) -> np.ndarray:
        return self._words.view

    def _add(self, codes):
        words = codes_mod.as_words(codes)
        self.tables.add(kernels.substrings(words, 0, codes.shape[0], self.sub_start, self.sub_len))
        self._words.append(words)

    def _plan(self, max_weight: int | None):
        """``scan`` (m, max length + 1), and the masks of every weight some table probes (up to max_weight)."""
        t = self.tables
        top = int(self.sub_len.max())
        scan = np.zeros((self.m, top + 1), dtype=np.bool_)
        wanted = [set() for _ in self._classes]
        for table, length in enumerate(self.sub_len.tolist()):
            keys = t.n_buckets(table)
            scan[table, :length + 1] = scan_radii(length, keys, t.direct)
            for w in range(length + 1 if max_weight is None else min(length, max_weight) + 1):
                if not scan[table, w]:
                    wanted[self.mask_class[table]].add(w)
        masks, lims = _class_masks(self._classes, tuple(tuple(sorted(w)) for w in wanted))
        return masks, lims, scan

    def _run(self, queries, k: int, r_lo: int, r_hi: int, stats):
        """The k nearest (k > 0) as ``D, I``, or every item at r_lo..r_hi (k = 0) as ``lims, D, I``."""
        qw = codes_mod.as_words(queries)
        masks, lims, scan = self._plan(None if k else int(substring_radii(r_hi, self.m).max()))
        probes, tables = kernels.Probes(masks=masks, lims=lims, scan=scan), self.tables.kernel_args()
        db = kernels.MihCodes(words=self.words, bits=self.bits, start=self.sub_start, length=self.sub_len,
                              mask_class=self.mask_class)
        rank = self.id_map.ranks()
        budget = costs.budget(self.strategy, self.ntotal, self.words_per_code, self.tables.direct,
                              costs.verified(self.words_per_code))
        gave_up = np.zeros(len(qw), dtype=np.bool_)

        def chunk(lo, hi):
            search = kernels.Search(queries=qw[lo:hi], k=k, r_lo=r_lo, r_hi=r_hi, rank=rank, stats=stats[lo:hi])
            return kernels.mih_search(search, db, probes, tables, budget, gave_up[lo:hi])

        found = parallel.concat_ranges(parallel.map_chunks(len(qw), chunk))
        why = "a query scans once its next shell of probes, or its candidates, would cost more than a scan"
        if k:
            D = np.full((len(qw), k), -1, dtype=np.int32)
            I = np.full((len(qw), k), -1, dtype=np.int64)
            answered = np.flatnonzero(~gave_up)
            D[answered], I[answered] = found[1].reshape(-1, k), found[2].reshape(-1, k)
            scanned = rescan_knn(qw, self._flat_codes, k, self.id_map, stats, gave_up, D, I)
            self.last_plan = costs.plan("MultiIndexHash", self.strategy, f"k-NN (k={k})", scanned, len(qw),
                                        self.ntotal, why)
            return D, I
        self.last_plan = costs.plan("MultiIndexHash", self.strategy, f"radius {r_lo}..{r_hi}", int(gave_up.sum()),
                                    len(qw), self.ntotal, why)
        return rescan_ranges(qw, self._flat_codes, r_lo, r_hi, rank, stats, gave_up, found)

    def _flat_codes(self) -> kernels.FlatCodes:
        return kernels.FlatCodes(flat=self.words.reshape(-1), words=self.words_per_code, bits=self.bits)

    def _probe(self, queries, r_lo, r_hi, stats):
        return self._run(queries, 0, r_lo, r_hi, stats)

    def _range_search(self, queries, radius, stats):
        return self._run(queries, 0, 0, radius, stats)

    def _search(self, queries, k, stats):
        return self._run(queries, k, 0, self.bits, stats)

    def _codes(self):
        return codes_mod.from_words(self.words, self.bits)

    def _nbytes(self) -> int:
        return self._words.nbytes + self.tables.nbytes()

    def _state(self):
        return {"m": self.m, "direct": self.tables.direct}, {"words": self.words, **self.tables.arrays()}

    @classmethod
    def _from_state(cls, c):
        bits = c.int("bits", 1, MAX_BITS)
        m = c.int("m", -(-bits // 64), bits)
        n = c.int("ntotal", 0, MAX_ROWS)
        longest = -(-bits // m)
        direct = c.bool("direct")
        if direct != (longest <= DIRECT_BITS or 2**longest <= 2 * n):
            raise L2HError(f"says its tables are {'direct' if direct else 'hashed'}, which {n} rows of "
                           f"{longest}-bit substrings never give")
        if direct:  # an empty index of direct tables allocates their heads: only for a file that holds them
            c.array("bstart", np.int32, (m, 2**longest + 1))
        index = cls(bits, m)
        words = c.array("words", np.uint64, (n, index.words_per_code))
        if codes_mod.stray_word_bits(words, bits):
            raise L2HError(f"holds codes with bits set beyond {bits} bits")
        index.tables = BucketTables.from_arrays(index.sub_len.tolist(), n, direct, c.array)
        for t in range(index.m):  # every row must sit under its own substring
            keys = kernels.substrings(words, 0, n, index.sub_start[t:t + 1], index.sub_len[t:t + 1])[:, 0]
            if not np.array_equal(index.tables.row_keys(t), keys):
                raise L2HError(f"table {t} files rows under substrings they do not have")
        index._words = Growable(words)
        return index

