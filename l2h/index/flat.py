"""Exhaustive popcount scan: exact k-NN and range search over every code, and the basis of Hamming ranking.

Codes are kept as 32-bit words up to 32 bits, 64-bit words beyond, in an array that doubles its capacity as
codes are added. Scans compute the distances of blocks of codes in a vectorised loop, each block for a group
of queries while it is in cache; k-NN keeps per query a heap of its k best and a distance threshold that only
shrinks, so that most codes are rejected by one vectorised compare."""

from __future__ import annotations

import numpy as np

from l2h import codes as codes_mod
from l2h.checks import MAX_BITS
from l2h.errors import L2HError
from l2h.index import kernels, parallel
from l2h.index.base import BinaryIndex, Growable

MAX_ROWS = 2**40
# the k-NN heaps of a batch, (queries, k) int64; above this (a k near the database's size) a query keeps every
# distance and counting-sorts them instead
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
        return scan_knn(self._as_words(queries), self._kernel_codes(), k, self.id_map, stats)

    def _kernel_codes(self) -> kernels.FlatCodes:
        words = self.words
        return kernels.FlatCodes(flat=words.reshape(-1), words=words.shape[1], bits=self.bits)

    def _probe(self, queries, r_lo, r_hi, stats):
        return scan_range(self._as_words(queries), self._kernel_codes(), r_lo, r_hi, self.id_map.ranks(), stats)

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


# The scans, for a FlatIndex and for the hash tables and multi-index searches that scan their own codes where
# probing would cost more (l2h.index.costs).

def scan_knn(q: np.ndarray, db: kernels.FlatCodes, k: int, id_map, stats: np.ndarray):
    """The k nearest of ``db`` for query words q (nq, words), by distance then rank (``id_map``), over threads."""
    nq, n = q.shape[0], db.flat.shape[0] // db.words
    rank = id_map.ranks()
    stats[:, 1] = n
    D = np.full((nq, k), -1, dtype=np.int32)
    I = np.full((nq, k), -1, dtype=np.int64)
    wide = max(hi - lo for lo, hi in parallel.chunk_bounds(nq)) * k * 8 > MAX_LIST_BYTES
    order = id_map.order(n) if wide else None

    def chunk(lo, hi):
        search = kernels.Search(queries=q[lo:hi], k=k, r_lo=0, r_hi=db.bits, rank=rank, stats=stats[lo:hi])
        if wide:
            kernels.flat_knn_wide(search, db, order, D[lo:hi], I[lo:hi])
        else:
            kernels.flat_knn(search, db, D[lo:hi], I[lo:hi])

    parallel.map_chunks(nq, chunk)
    return D, I


def scan_range(q: np.ndarray, db: kernels.FlatCodes, r_lo: int, r_hi: int, rank: np.ndarray, stats: np.ndarray):
    """Every code of ``db`` at distance r_lo..r_hi of each query: ``lims, D, I`` by distance then rank."""
    def chunk(lo, hi):
        search = kernels.Search(queries=q[lo:hi], k=0, r_lo=r_lo, r_hi=r_hi, rank=rank, stats=stats[lo:hi])
        return kernels.flat_range(search, db)

    return parallel.concat_ranges(parallel.map_chunks(q.shape[0], chunk))


def rescan_knn(q, codes, k, id_map, stats, gave_up, D, I) -> int:
    """Rows of D, I of the queries flagged in ``gave_up`` answered by a scan of ``codes()`` (a FlatCodes, built
    only when a query needs it); their stats count the codes scanned on top of what they spent. Returns how many."""
    which = np.flatnonzero(gave_up)
    if which.size:
        scanned = np.zeros((which.size, 2), dtype=np.int64)
        D[which], I[which] = scan_knn(q[which], codes(), k, id_map, scanned)
        stats[which, 1] += scanned[:, 1]
    return int(which.size)


def rescan_ranges(q, codes, r_lo, r_hi, rank, stats, gave_up, found):
    """``found`` (lims, D, I, in which the queries flagged in ``gave_up`` have no items) with those queries
    answered by a scan of ``codes()``; their stats count the codes scanned on top of what they spent."""
    which = np.flatnonzero(gave_up)
    if not which.size:
        return found
    scanned = np.zeros((which.size, 2), dtype=np.int64)
    s_lims, s_D, s_I = scan_range(q[which], codes(), r_lo, r_hi, rank, scanned)
    stats[which, 1] += scanned[:, 1]
    lims, D, I = found
    sizes = np.diff(lims)
    sizes[which] = np.diff(s_lims)
    new_lims = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    out_D, out_I = np.empty(new_lims[-1], dtype=np.int32), np.empty(new_lims[-1], dtype=np.int64)
    for part_lims, part_D, part_I, owners in ((lims, D, I, np.arange(len(sizes))), (s_lims, s_D, s_I, which)):
        counts = np.diff(part_lims)
        owner = np.repeat(owners, counts)  # each item's query, and its place in the merged arrays
        at = new_lims[owner] + np.arange(part_D.size) - np.repeat(part_lims[:-1], counts)
        out_D[at], out_I[at] = part_D, part_I
    return new_lims, out_D, out_I
