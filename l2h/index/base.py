"""The contract every binary index follows, in FAISS's shapes so that users can switch between the two.

Codes are packed uint8 arrays ``(n, ceil(bits / 8))``, least-significant bit first. Results are ordered by
distance, ties by id. Unlike FAISS, ``range_search`` radii are inclusive: distance <= radius."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from l2h import codes as codes_mod
from l2h.errors import L2HError
from l2h.index import storage


@dataclass(frozen=True)
class QueryStats:
    """What the last search cost, per query, as FALCONN's and MIH's query statistics report it."""

    buckets_probed: np.ndarray  # hash lookups (or buckets scanned) per query
    candidates: np.ndarray      # items each query examined: returned by the probes, verified, or scanned
    seconds: float              # wall time of the whole call

    @property
    def mean_query_us(self) -> float:
        return 1e6 * self.seconds / max(len(self.candidates), 1)


class BinaryIndex(ABC):
    kind: ClassVar[str]
    registry: ClassVar[dict[str, type[BinaryIndex]]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        BinaryIndex.registry[cls.kind] = cls

    def __init__(self, bits: int):
        self.bits = codes_mod.check_bits(bits)
        self.last_stats: QueryStats | None = None

    @property
    @abstractmethod
    def ntotal(self) -> int: ...

    @abstractmethod
    def add(self, codes: np.ndarray, ids: np.ndarray | None = None) -> None:
        """Append codes; their ids continue the insertion order unless given."""

    @abstractmethod
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest codes: ``D`` (nq, k) int32 and ``I`` (nq, k) int64, -1 where fewer than k exist."""

    @abstractmethod
    def range_search(self, queries: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every code within Hamming distance <= radius: ``lims`` (nq+1,), ``D`` int32, ``I`` int64."""

    @abstractmethod
    def _state(self) -> tuple[dict, dict[str, np.ndarray]]: ...

    @classmethod
    @abstractmethod
    def _from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> BinaryIndex: ...

    def save(self, path: str | Path) -> None:
        meta, arrays = self._state()
        storage.write(path, {"kind": self.kind, "bits": self.bits, **meta}, arrays)

    @classmethod
    def load(cls, path: str | Path, bits: int | None = None, mmap: bool = True) -> BinaryIndex:
        """Open a saved index (memory-mapped). Pass ``bits`` to refuse an index of another code length."""
        meta, arrays = storage.read(path, mmap=mmap)
        kind = meta.get("kind")
        target = BinaryIndex.registry.get(kind)
        if target is None or (cls is not BinaryIndex and not issubclass(target, cls)):
            raise L2HError(f"{path} holds a {kind!r} index, not a {cls.kind if cls is not BinaryIndex else 'known'} one")
        if bits is not None and meta["bits"] != bits:
            raise L2HError(f"{path} indexes {meta['bits']}-bit codes, but these codes have {bits} bits: "
                           "rebuild the index with the same model")
        return target._from_state(meta, arrays)

    @contextmanager
    def _timed(self, counts: np.ndarray):
        """Time a search and publish its (nq, 2) counts of buckets probed and candidates as ``last_stats``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.last_stats = QueryStats(counts[:, 0], counts[:, 1], time.perf_counter() - start)

    # shared argument checks
    def _queries(self, queries: np.ndarray) -> np.ndarray:
        return codes_mod.check_codes(queries, self.bits, "queries")

    def _radius(self, radius: int) -> int:
        if not isinstance(radius, (int, np.integer)) or radius < 0:
            raise L2HError(f"radius must be a non-negative integer, got {radius!r}")
        if radius > self.bits:
            raise L2HError(f"radius {radius} is larger than the code length ({self.bits} bits): "
                           f"use a radius of at most {self.bits}")
        return int(radius)

    def _extend_ids(self, current: np.ndarray | None, n: int, ids: np.ndarray | None) -> np.ndarray | None:
        """Id array after appending n codes, for indexes that keep ids only once some were given (None: ids
        are row numbers)."""
        if ids is None and current is None:
            return None
        old = current if current is not None else np.arange(self.ntotal, dtype=np.int64)
        return np.concatenate([old, self._new_ids(n, ids)])

    def _new_ids(self, n: int, ids: np.ndarray | None) -> np.ndarray:
        if ids is None:
            return np.arange(self.ntotal, self.ntotal + n, dtype=np.int64)
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.shape[0] != n:
            raise L2HError(f"{ids.shape[0]} ids for {n} codes: give one id per code")
        return ids


def empty_range(nq: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros(nq + 1, dtype=np.int64), np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int64)
