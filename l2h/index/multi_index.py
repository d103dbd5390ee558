"""Multi-index hashing (Norouzi, Punjani & Fleet, 2012) for long codes (64 to 256 bits and more).

The code is cut into ``m`` substrings, each indexed in its own bucket table. With ``radius = a * m + b``
(``0 <= b < m``), an item within the radius differs from the query by at most ``a`` bits on one of the first
``b + 1`` substrings or by at most ``a - 1`` on one of the others (the tighter pigeonhole rule), so only those
balls are probed; every candidate is verified once by a full popcount. The search is exact."""

from __future__ import annotations

import math

import numpy as np

from l2h import codes as codes_mod
from l2h.errors import L2HError
from l2h.index import kernels
from l2h.index.base import BinaryIndex, empty_range
from l2h.index.buckets import BucketTable
from l2h.index.hash_index import flip_masks


# Each table stores row numbers in 3 bytes: m tables of 4-byte rows would cost more than the codes themselves.
MAX_ROWS = 2**24


def _three_byte_rows(table: BucketTable) -> BucketTable:
    rows = np.ascontiguousarray(table.ids, dtype="<u4").view(np.uint8).reshape(-1, 4)[:, :3]
    table.ids = np.ascontiguousarray(rows).reshape(-1)
    return table


def substring_radii(radius: int, m: int) -> np.ndarray:
    a, b = divmod(radius, m)
    return np.array([a if t <= b else a - 1 for t in range(m)], dtype=np.int64)


class MultiIndexHash(BinaryIndex):
    kind = "multi_index"

    def __init__(self, bits: int, m: int | None = None):
        super().__init__(bits)
        # 16-bit substrings suit databases of about a million codes (Norouzi et al.: m ~ bits / log2 n)
        m = max(1, self.bits // 16) if m is None else m
        if m < 1 or self.bits % m or self.bits // m > 64:
            raise L2HError(f"MultiIndexHash needs m substrings that split {self.bits} bits evenly into pieces of at "
                           f"most 64 bits, got m={m}: try m={max(1, -(-self.bits // 32))}")
        self.m, self.sub_bits = int(m), self.bits // m
        self.words = np.empty((0, (codes_mod.n_bytes(self.bits) + 7) // 8), dtype=np.uint64)
        self.ids: np.ndarray | None = None  # None: ids are row numbers
        self._index_rows()

    @property
    def ntotal(self) -> int:
        return int(self.words.shape[0])

    def _index_rows(self) -> None:
        if self.ntotal > MAX_ROWS:
            raise L2HError(f"MultiIndexHash holds at most {MAX_ROWS} codes, got {self.ntotal}: shard the database")
        rows = np.arange(self.ntotal, dtype=np.int64)
        self.tables = [_three_byte_rows(BucketTable.build(self._substrings(self.words, t), rows, self.sub_bits))
                       for t in range(self.m)]

    def _substrings(self, words: np.ndarray, t: int) -> np.ndarray:
        w, offset = divmod(t * self.sub_bits, 64)
        out = words[:, w] >> np.uint64(offset)
        if offset + self.sub_bits > 64:
            out |= words[:, w + 1] << np.uint64(64 - offset)
        if self.sub_bits < 64:
            out &= np.uint64((1 << self.sub_bits) - 1)
        return out

    def add(self, codes: np.ndarray, ids: np.ndarray | None = None) -> None:
        codes = codes_mod.check_codes(codes, self.bits)
        self.ids = self._extend_ids(self.ids, codes.shape[0], ids)
        self.words = np.concatenate([self.words, codes_mod.as_words(codes)])
        self._index_rows()

    def range_search(self, queries: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        q = codes_mod.as_words(self._queries(queries))
        radius = self._radius(radius)
        nq = q.shape[0]
        stats = np.zeros((nq, 2), dtype=np.int64)
        with self._timed(stats):
            if self.ntotal == 0 or nq == 0:
                return empty_range(nq)
            sub_radius = substring_radii(radius, self.m)
            top = int(max(sub_radius.max(), 0))
            buckets = min(t.n_buckets for t in self.tables)
            scan = np.array([math.comb(self.sub_bits, w) > buckets for w in range(top + 1)], dtype=np.bool_)
            masks = [flip_masks(self.sub_bits, w) if not scan[w] else np.empty(0, dtype=np.uint64)
                     for w in range(top + 1)]
            mask_lims = np.concatenate([[0], np.cumsum([m.size for m in masks])]).astype(np.int64)
            lims, D, rows = kernels.multi_index_range(
                q, self.words, radius, self.sub_bits, sub_radius, np.concatenate(masks), mask_lims, scan,
                self.tables[0].direct,
                tuple(t.directory for t in self.tables), tuple(t.keys for t in self.tables),
                tuple(t.present for t in self.tables),
                tuple(t.starts for t in self.tables), tuple(t.ids for t in self.tables),
                np.array([t.shift for t in self.tables], dtype=np.uint64), stats)
        if self.ids is None:
            return lims, D, rows
        ids = self.ids[rows]
        order = np.lexsort((ids, D, np.repeat(np.arange(nq), np.diff(lims))))
        return lims, D[order], ids[order]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """k nearest by growing the radius until each query has k results."""
        queries = self._queries(queries)
        nq = queries.shape[0]
        D = np.full((nq, k), -1, dtype=np.int32)
        I = np.full((nq, k), -1, dtype=np.int64)
        pending = np.arange(nq)
        for radius in range(self.bits + 1):
            if pending.size == 0 or self.ntotal == 0:
                break
            lims, d, i = self.range_search(queries[pending], radius)
            sizes = np.diff(lims)
            for row in np.flatnonzero(sizes >= min(k, self.ntotal)):
                q, take = pending[row], min(k, sizes[row])
                D[q, :take], I[q, :take] = d[lims[row]:lims[row] + take], i[lims[row]:lims[row] + take]
            pending = pending[sizes < min(k, self.ntotal)]
        return D, I

    def nbytes(self) -> int:
        return self.words.nbytes + sum(t.nbytes() for t in self.tables) + (0 if self.ids is None else self.ids.nbytes)

    def _state(self):
        arrays = {"words": self.words}
        for t, table in enumerate(self.tables):
            arrays.update(table.arrays(prefix=f"t{t}_"))
        if self.ids is not None:
            arrays["ids"] = self.ids
        return {"m": self.m}, arrays

    @classmethod
    def _from_state(cls, meta, arrays):
        index = cls.__new__(cls)
        BinaryIndex.__init__(index, meta["bits"])
        index.m, index.sub_bits = meta["m"], meta["bits"] // meta["m"]
        index.words = arrays["words"]
        index.ids = np.asarray(arrays["ids"]) if "ids" in arrays else None
        index.tables = [BucketTable.from_arrays(arrays, prefix=f"t{t}_") for t in range(index.m)]
        return index
