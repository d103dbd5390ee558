"""Exhaustive popcount scan: exact k-NN and range search over every code, and the basis of Hamming ranking.

Codes are kept as 32-bit words up to 32 bits, 64-bit words beyond, in an array that doubles its capacity as
codes are added. Scans compute the distances of blocks of codes in a vectorised loop, each block for a group
of queries while it is in cache; k-NN keeps per query the first k items (by id) of each distance below a
threshold that only shrinks."""

from __future__ import annotations

import numpy as np

from l2h import codes as codes_mod
from l2h.errors import L2HError
from l2h.index import kernels, parallel
from l2h.index.base import BinaryIndex, Growable

MAX_BITS = 2**16
MAX_ROWS = 2**40
# per-distance lists of a group of queries: (QUERY_GROUP, bits + 1, k) int64; above this a query keeps
# every distance instead
MAX_LIST_BYTES = 2**26


class FlatIndex(BinaryIndex):
    kind = "flat"

    def __init__(self, bits: int):
        super().__init__(codes_mod.check_bits(bits, maximum=MAX_BITS, hint="split the code"))
        self.word_dtype = np.uint32 if self.bits <= 32 else np.uint64
        self._words = Growable(self._as_words(np.empty((0, codes_mod.n_bytes(self.bits)), dtype=np.uint8)))
        self._ids: Growable | None = None  # None: ids are row numbers

    @property
    def ntotal(self) -> int:
        return self._words.n

    @property
    def words(self) -> np.ndarray:
        return self._words.view

    def _as_words(self, codes: np.ndarray) -> np.ndarray:
        """64-bit words, or 32-bit ones for codes of up to 32 bits: half the memory traffic of a scan."""
        return codes_mod.as_words(codes).astype(self.word_dtype)

    def _add(self, codes, ids):
        if self.ntotal + codes.shape[0] > MAX_ROWS:
            raise L2HError(f"a FlatIndex holds at most {MAX_ROWS} codes: split the database")
        if ids is not None and self._ids is None:
            self._ids = Growable(np.arange(self.ntotal, dtype=np.int64))
        new_ids = self._next_ids(codes.shape[0], ids)
        self._words.append(self._as_words(codes))
        if self._ids is not None:
            self._ids.append(new_ids)

    def _id_args(self):
        return (self._ids.view, True) if self._ids is not None else (np.empty(0, dtype=np.int64), False)

    def _search(self, queries, k, stats):
        q, words = self._as_words(queries), self.words
        flat, width = words.reshape(-1), words.shape[1]
        ids, has_ids = self._id_args()
        nq = q.shape[0]
        stats[:, 1] = self.ntotal
        D = np.full((nq, k), -1, dtype=np.int32)
        I = np.full((nq, k), -1, dtype=np.int64)
        if kernels.QUERY_GROUP * (self.bits + 1) * k * 8 <= MAX_LIST_BYTES:
            def chunk(lo, hi):
                kernels.flat_knn(q[lo:hi], flat, width, k, self.bits, ids, has_ids, D[lo:hi], I[lo:hi])
        else:
            all_ids = ids if has_ids else np.arange(self.ntotal, dtype=np.int64)
            id_order = np.argsort(all_ids, kind="stable")

            def chunk(lo, hi):
                kernels.flat_knn_wide(q[lo:hi], words, k, self.bits, all_ids, id_order, D[lo:hi], I[lo:hi])
        parallel.map_chunks(nq, chunk)
        return D, I

    def _probe(self, queries, r_lo, r_hi, stats):
        q, words = self._as_words(queries), self.words
        flat, width = words.reshape(-1), words.shape[1]
        ids, has_ids = self._id_args()

        def chunk(lo, hi):
            return kernels.flat_range(q[lo:hi], flat, width, r_lo, r_hi, self.bits, ids, has_ids, stats[lo:hi])

        return parallel.concat_ranges(parallel.map_chunks(q.shape[0], chunk))

    def _range_search(self, queries, radius, stats):
        return self._probe(queries, 0, radius, stats)

    def _row_ids(self):
        return self._ids.view.copy() if self._ids is not None else np.arange(self.ntotal, dtype=np.int64)

    def _rows(self):
        ids = self._row_ids()
        return codes_mod.from_words(self.words, self.bits), ids

    def nbytes(self) -> int:
        return self._words.nbytes + (0 if self._ids is None else self._ids.nbytes)

    def _state(self):
        arrays = {"words": self.words}
        if self._ids is not None:
            arrays["ids"] = self._ids.view
        return {}, arrays

    @classmethod
    def _from_state(cls, c):
        index = cls(c.int("bits", 1, MAX_BITS))
        n = c.int("ntotal", 0, MAX_ROWS)
        width = index._words.data.shape[1]
        words = c.array("words", index.word_dtype, (n, width))
        if codes_mod.stray_word_bits(words, index.bits):
            raise L2HError(f"holds codes with bits set beyond {index.bits} bits")
        index._words = Growable(words)
        ids = cls._load_ids(c, n)
        index._ids = None if ids is None else Growable(ids)
        return index
