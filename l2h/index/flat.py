"""Exhaustive popcount scan: exact k-NN and range search over every code, and the basis of Hamming ranking."""

from __future__ import annotations

import numpy as np

from l2h import codes as codes_mod
from l2h.index import kernels
from l2h.index.base import BinaryIndex
from l2h.index.buckets import compact_ints


class FlatIndex(BinaryIndex):
    kind = "flat"

    def __init__(self, bits: int):
        super().__init__(bits)
        self.words = self._words(np.empty((0, codes_mod.n_bytes(self.bits)), dtype=np.uint8))
        self.ids: np.ndarray | None = None  # None: ids are row numbers

    @property
    def ntotal(self) -> int:
        return int(self.words.shape[0])

    def _words(self, codes: np.ndarray) -> np.ndarray:
        """64-bit words, or 32-bit ones for codes of up to 32 bits: half the memory traffic of a scan."""
        words = codes_mod.as_words(codes)
        return words.astype(np.uint32) if self.bits <= 32 else words

    def add(self, codes: np.ndarray, ids: np.ndarray | None = None) -> None:
        codes = codes_mod.check_codes(codes, self.bits)
        self.ids = self._extend_ids(self.ids, codes.shape[0], ids)
        self.words = np.concatenate([self.words, self._words(codes)])

    def _map_ids(self, rows: np.ndarray) -> np.ndarray:
        if self.ids is None:
            return rows
        return np.where(rows >= 0, self.ids[np.maximum(rows, 0)], -1)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = self._words(self._queries(queries))
        with self._timed(np.tile([0, self.ntotal], (q.shape[0], 1))):
            D, rows = kernels.knn_scan(q, self.words, int(k), self.bits)
        if self.ids is not None:  # the scan breaks ties by row; restore (distance, id) order for given ids
            I = self._map_ids(rows)
            order = np.lexsort((np.where(I < 0, np.iinfo(np.int64).max, I), np.where(D < 0, self.bits + 1, D)))
            return np.take_along_axis(D, order, 1), np.take_along_axis(I, order, 1)
        return D, rows

    def range_search(self, queries: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        q = self._words(self._queries(queries))
        radius = self._radius(radius)
        nq, n = q.shape[0], self.ntotal
        lims = np.zeros(nq + 1, dtype=np.int64)
        dist = np.empty(n, dtype=np.int32)
        Ds, Is = [], []
        with self._timed(np.tile([0, n], (nq, 1))):
            for i in range(nq):
                kernels.distances_to(q, self.words, i, dist)
                rows = np.flatnonzero(dist <= radius)
                ids = self._map_ids(rows)
                order = np.lexsort((ids, dist[rows]))
                Ds.append(dist[rows][order])
                Is.append(ids[order])
                lims[i + 1] = lims[i] + rows.size
        D = np.concatenate(Ds).astype(np.int32) if Ds else np.empty(0, dtype=np.int32)
        I = np.concatenate(Is).astype(np.int64) if Is else np.empty(0, dtype=np.int64)
        return lims, D, I

    def nbytes(self) -> int:
        return self.words.nbytes + (0 if self.ids is None else self.ids.nbytes)

    def _state(self):
        arrays = {"words": self.words}
        if self.ids is not None:
            arrays["ids"] = compact_ints(self.ids)
        return {}, arrays

    @classmethod
    def _from_state(cls, meta, arrays):
        index = cls(meta["bits"])
        index.words = arrays["words"]
        index.ids = arrays["ids"].astype(np.int64) if "ids" in arrays else None
        return index
