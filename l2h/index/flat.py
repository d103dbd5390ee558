"""Exhaustive popcount scan: exact k-NN and range search over every code, and the basis of Hamming ranking.

Codes are kept as 32-bit words up to 32 bits, 64-bit words beyond, in an array that doubles its capacity as
codes are added. Scans compute the distances of blocks of codes in a vectorised loop, each block for a group
of queries while it is in cache; k-NN keeps per query the first k items (by id) of each distance below a
threshold that only shrinks."""

from __future__ import annotations

import numpy as np

from l2h import codes as codes_mod
from l2h.checks import MAX_BITS
from l2h.errors import L2HError
from l2h.index import kernels, parallel
from l2h.index.base import BinaryIndex, Growable

MAX_ROWS = 2**40
# per-distance lists of a group of queries: (QUERY_GROUP, bits + 1, k) int64; above this a query keeps
# every distance instead
MAX_LIST_BYTES = 2**26


class FlatIndex(BinaryIndex):
    kind = "flat"

    def __init__(self, bits: int):
        super().__init__(codes_mod.check_bits(bits))
        self.word_dtype = np.uint32 if self.bits <= 32 else np.uint64
        self._words = Growable(self._as_words(np.empty((0, codes_mod.n_bytes(self.bits)), dtype=np.uint8)))

    @property
    def ntotal(self) -> int:
        return self._words.n

    @property
    def words(self) -> np.ndarray:
        return self._words.view

    def _as_words(self, codes: np.ndarray) -> np.ndarray:
        """64-bit words, or 32-bit ones for codes of up to 32 bits: half the memory traffic of a scan."""
        return codes_mod.as_words(codes).astype(self.word_dtype)

    def _add(self, codes):
        if self.ntotal + codes.shape[0] > MAX_ROWS:
            raise L2HError(f"a FlatIndex holds at most {MAX_ROWS} codes: split the database")
        self._words.append(self._as_words(codes))

    def _search(self, queries, k, stats):
        q, db, rank = self._as_words(queries), self._kernel_codes(), self.id_map.ranks()
        nq = q.shape[0]
        stats[:, 1] = self.ntotal
        D = np.full((nq, k), -1, dtype=np.int32)
        I = np.full((nq, k), -1, dtype=np.int64)
        wide = kernels.QUERY_GROUP * (self.bits + 1) * k * 8 > MAX_LIST_BYTES
        order = self.id_map.order(self.ntotal) if wide else None

        def chunk(lo, hi):
            search = kernels.Search(queries=q[lo:hi], k=k, r_lo=0, r_hi=self.bits, rank=rank, stats=stats[lo:hi])
            if wide:
                kernels.flat_knn_wide(search, db, order, D[lo:hi], I[lo:hi])
            else:
                kernels.flat_knn(search, db, D[lo:hi], I[lo:hi])

        parallel.map_chunks(nq, chunk)
        return D, I

    def _kernel_codes(self) -> kernels.FlatCodes:
        words = self.words
        return kernels.FlatCodes(flat=words.reshape(-1), words=words.shape[1], bits=self.bits)

    def _probe(self, queries, r_lo, r_hi, stats):
        q, db, rank = self._as_words(queries), self._kernel_codes(), self.id_map.ranks()

        def chunk(lo, hi):
            search = kernels.Search(queries=q[lo:hi], k=0, r_lo=r_lo, r_hi=r_hi, rank=rank, stats=stats[lo:hi])
            return kernels.flat_range(search, db)

        return parallel.concat_ranges(parallel.map_chunks(q.shape[0], chunk))

    def _range_search(self, queries, radius, stats):
        return self._probe(queries, 0, radius, stats)

    def _codes(self):
        return codes_mod.from_words(self.words, self.bits)

    def _nbytes(self) -> int:
        return self._words.nbytes

    def _state(self):
        return {}, {"words": self.words}

    @classmethod
    def _from_state(cls, c):
        index = cls(c.int("bits", 1, MAX_BITS))
        n = c.int("ntotal", 0, MAX_ROWS)
        width = index._words.data.shape[1]
        words = c.array("words", index.word_dtype, (n, width))
        if codes_mod.stray_word_bits(words, index.bits):
            raise L2HError(f"holds codes with bits set beyond {index.bits} bits")
        index._words = Growable(words)
        return index
