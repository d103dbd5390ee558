"""The contract every binary index follows, in FAISS's shapes so that users can switch between the two.

Codes are packed uint8 arrays ``(n, ceil(bits / 8))``, least-significant bit first, with the unused high bits
of the last byte clear. Results are ordered by distance, ties by id. Unlike FAISS, ``range_search`` radii are
inclusive: distance <= radius.

The public methods check their inputs once, here, and call one method per index kind: ``_add``, ``_search``,
``_range_search`` and optionally ``_probe``. Batch searches run across threads
(:func:`l2h.index.set_num_threads`).

Ids are kept in one place for every kind (:class:`IdMap`, as FAISS's ``IndexBinaryIDMap`` wraps any index): an
index stores and searches positions only, and the public methods turn its answers into ids."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from l2h import codes as codes_mod
from l2h.codes import is_integer
from l2h.errors import L2HError
from l2h.index import storage
from l2h.index.factory import KINDS, index_class

# search(q, k) returns (nq, k) arrays, padded with -1 beyond the items that exist (as FAISS does); a result of
# more entries than this (3 GiB of D and I) is refused rather than attempted
MAX_RESULT_ENTRIES = 2**28
MAX_ID = np.iinfo(np.int64).max


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
    kind: ClassVar[str]  # the name its files record, one of l2h.index.KINDS
    # True where probe(q, r, r) costs only the shell at distance r (a hash table enumerating flips), so a radius
    # sweep answers radius r for the sum of its shells; False where a probe costs a search of the whole ball
    incremental_shells: ClassVar[bool] = False
    # True for an index of indexes (a union, shards), whose members save and load the ids
    ids_in_members: ClassVar[bool] = False

    def __init__(self, bits: int):
        self.bits = codes_mod.check_bits(bits)
        self.last_stats: QueryStats | None = None
        # how the last search was answered and why (probing or scanning: l2h.index.costs), where a kind chooses
        self.last_plan: str | None = None
        self.id_map = IdMap()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(bits={self.bits}, ntotal={self.ntotal})"

    @property
    @abstractmethod
    def ntotal(self) -> int: ...

    # ------------------------------------------------------------------ the contract

    def add(self, codes: np.ndarray, ids: np.ndarray | None = None) -> None:
        """Append codes. Ids are non-negative integers (-1 marks "no result"); without them the codes get the
        row numbers ntotal, ntotal + 1, ... Ids need not be unique. Costs time in proportion to the codes
        added, not to those already held."""
        batch, n = self._check_batch(codes, "codes")
        ids = self._check_ids(ids, n)
        if n:
            self._append(batch, n, ids)

    def _append(self, codes, n: int, ids: np.ndarray | None) -> None:
        """The codes at the next positions, their ids in the id map (an index of indexes routes both instead)."""
        start = self.ntotal
        self._add(codes)
        self.id_map.add(start, n, ids)

    def search(self, queries: np.ndarray, k: int, radius: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest codes: ``D`` (nq, k) int32 and ``I`` (nq, k) int64, by distance then id, -1 where fewer
        than k items exist (k may exceed ntotal, as in FAISS). k is a positive integer, and the (nq, k) result
        must not exceed 2^28 entries (3 GiB): a larger k is refused with the largest useful one, ntotal.

        With ``radius``, the k nearest among the items within that Hamming distance (the hash-table lookup of
        the field's protocols, which reads only the buckets of that ball): fewer than k where the ball holds
        fewer, padded with -1."""
        batch, nq = self._check_batch(queries, "queries")
        k = self._check_k(k, nq)
        if radius is not None:
            radius = self._check_radius(radius, "radius")
        found = min(k, self.ntotal)
        stats = np.zeros((nq, 2), dtype=np.int64)
        with self._timed(stats):
            if radius is not None:
                return first_k(*self._with_ids(self._range_search(batch, radius, stats) if found and nq
                                               else empty_range(nq)), k)
            if found and nq:
                D, I = self._search(batch, found, stats)
                I = self.id_map.ids_of(I)
            else:
                found = 0
                D, I = np.empty((nq, 0), dtype=np.int32), np.empty((nq, 0), dtype=np.int64)
            if found < k:
                D_full, I_full = np.full((nq, k), -1, dtype=np.int32), np.full((nq, k), -1, dtype=np.int64)
                D_full[:, :found], I_full[:, :found] = D, I
                D, I = D_full, I_full
        return D, I

    def range_search(self, queries: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every code within Hamming distance <= radius (0 <= radius <= bits): ``lims`` (nq+1,) int64, ``D`` int32,
        ``I`` int64; query q's results are ``I[lims[q]:lims[q+1]]``, by distance then id."""
        batch, nq = self._check_batch(queries, "queries")
        radius = self._check_radius(radius, "radius")
        stats = np.zeros((nq, 2), dtype=np.int64)
        with self._timed(stats):
            if self.ntotal == 0 or nq == 0:
                return empty_range(nq)
            return self._with_ids(self._range_search(batch, radius, stats))

    def probe(self, queries: np.ndarray, r_lo: int, r_hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Items at distance r_lo..r_hi (inclusive) of each query, as ``range_search`` returns them.
        ``probe(q, r, r)`` is the shell at distance exactly r: a radius sweep adds one shell at a time. Whether
        that costs only the shell is the class's ``incremental_shells``."""
        batch, nq = self._check_batch(queries, "queries")
        r_lo, r_hi = self._check_radius(r_lo, "r_lo"), self._check_radius(r_hi, "r_hi")
        if r_lo > r_hi:
            raise L2HError(f"probe needs r_lo <= r_hi, got r_lo={r_lo}, r_hi={r_hi}")
        stats = np.zeros((nq, 2), dtype=np.int64)
        with self._timed(stats):
            if self.ntotal == 0 or nq == 0:
                return empty_range(nq)
            return self._with_ids(self._probe(batch, r_lo, r_hi, stats))

    def _with_ids(self, found):
        lims, D, I = found
        return lims, D, self.id_map.ids_of(I)

    # ------------------------------------------------------------------ what each kind implements

    # Searches answer in ranks (``self.id_map.ranks()``): each item's place in id order, the tie-breaker, which
    # the public methods turn into ids.

    @abstractmethod
    def _add(self, codes) -> None:
        """Append checked codes at the next positions."""

    @abstractmethod
    def _search(self, queries, k: int, stats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(nq, k) nearest ranks for 1 <= k <= ntotal, with stats (nq, 2) filled: buckets probed, candidates."""

    @abstractmethod
    def _range_search(self, queries, radius: int, stats: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ...

    def _probe(self, queries, r_lo: int, r_hi: int, stats: np.ndarray):
        """Generic: the ball of radius r_hi without the items closer than r_lo."""
        lims, D, I = self._range_search(queries, r_hi, stats)
        if r_lo == 0:
            return lims, D, I
        keep = D >= r_lo
        owner = np.repeat(np.arange(len(lims) - 1), np.diff(lims))[keep]
        lims = np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=len(lims) - 1))]).astype(np.int64)
        return lims, D[keep], I[keep]

    @abstractmethod
    def _codes(self) -> np.ndarray:
        """Codes (n, bytes) uint8 of every item, by position."""

    def _rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Codes (n, bytes) uint8 and ids (n,) int64 of every item, in insertion order."""
        return self._codes(), self.id_map.row_ids(self.ntotal)

    # ------------------------------------------------------------------ giving the items back

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, codes)`` of every item, by id (items of equal id in insertion order)."""
        codes, ids = self._rows()
        order = np.argsort(ids, kind="stable")
        return ids[order], codes[order]

    def codes(self) -> np.ndarray:
        """Every item's packed code, in id order (the order of ``items()``)."""
        return self.items()[1]

    def reconstruct(self, ids) -> np.ndarray:
        """The codes of the given ids, (len(ids), bytes); for an id held twice, its first code."""
        wanted = np.atleast_1d(np.asarray(ids))
        wanted = self._check_ids(wanted, wanted.shape[0])
        have, codes = self.items()
        at = np.searchsorted(have, wanted)  # the leftmost match: the first code added under that id
        held = at < have.size
        held[held] = have[at[held]] == wanted[held]
        if not held.all():
            raise L2HError(f"id {int(wanted[np.flatnonzero(~held)[0]])} is not in this index: "
                           "reconstruct ids that were added")
        return codes[at]

    def nbytes(self) -> int:
        """Bytes of memory the index holds (spare capacity kept for later adds included)."""
        return self._nbytes() + self.id_map.nbytes()

    def _nbytes(self) -> int:
        """Bytes of the codes and tables."""
        return 0

    # ------------------------------------------------------------------ saving and loading

    @abstractmethod
    def _state(self) -> tuple[dict, dict[str, np.ndarray]]: ...

    @classmethod
    @abstractmethod
    def _from_state(cls, c: storage.Checker) -> BinaryIndex:
        """An index from a file's checked fields and arrays; every structural check that keeps searches in
        bounds happens here."""

    def _full_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        meta, arrays = self._state()
        if not self.ids_in_members:
            arrays = {**arrays, **self.id_map.arrays()}
        return {"kind": self.kind, "bits": self.bits, "ntotal": self.ntotal, **meta}, arrays

    @classmethod
    def _restore(cls, c: storage.Checker) -> BinaryIndex:
        """An index of kind ``c.str("kind")`` from a file's checked fields and arrays, ids included."""
        index = index_class(c.str("kind"))._from_state(c)
        if not index.ids_in_members:
            index.id_map = IdMap.load(c, index.ntotal)
        return index

    def save(self, path: str | Path) -> None:
        """Write the index to one file, atomically (an interrupted save leaves the old file whole)."""
        meta, arrays = self._full_state()
        storage.write(path, meta, arrays)

    @classmethod
    def load(cls, path: str | Path, bits: int | None = None, mmap: bool = True, verify: bool = True) -> BinaryIndex:
        """Open a saved index. Pass ``bits`` to refuse an index of another code length.

        Every field and array is checked before a search can run, and a file that fails is refused with an
        L2HError: layout, types and sizes always (one pass over the structure: milliseconds per million codes),
        and with ``verify=True`` the CRC-32 of the header and of every array (one read of the file).

        ``mmap=True`` memory-maps the arrays (no copy; the first ``add`` copies what it grows). Do not truncate or
        rewrite a file while an index has it mapped: the process can die of SIGBUS. ``mmap=False`` copies the
        file into memory instead."""
        meta, arrays = storage.read(path, mmap=mmap, verify=verify)
        kind = meta.get("kind")
        if not isinstance(kind, str) or not KINDS.get(kind):
            raise L2HError(f"{path} holds an index of unknown kind {kind!r}: rebuild it with this l2h")
        target = index_class(kind)
        if cls is not BinaryIndex and not issubclass(target, cls):
            raise L2HError(f"{path} holds a {kind!r} index, not a {cls.kind} one: load it with {target.__name__}.load "
                           "or BinaryIndex.load")
        checker = storage.Checker(meta, arrays, origin=Path(path), mmap=mmap, verify=verify)
        try:
            index = BinaryIndex._restore(checker)
            checker.done(strict_fields=True)
        except L2HError as exc:
            raise L2HError(f"{path} is damaged or is not an index this l2h wrote ({exc}): rebuild it") from None
        if bits is not None and index.bits != bits:
            raise L2HError(f"{path} indexes {index.bits}-bit codes, but these codes have {bits} bits: "
                           "rebuild the index with the same model")
        return index

    # ------------------------------------------------------------------ shared pieces

    @contextmanager
    def _timed(self, counts: np.ndarray):
        """Time a search and publish its (nq, 2) counts of buckets probed and candidates as ``last_stats``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.last_stats = QueryStats(counts[:, 0], counts[:, 1], time.perf_counter() - start)

    def _check_batch(self, codes, what: str):
        """Checked codes of one batch and their count (an index over several code sets overrides this)."""
        codes = codes_mod.check_codes(codes, self.bits, what)
        return codes, codes.shape[0]

    def _check_radius(self, radius, what: str) -> int:
        if not is_integer(radius) or radius < 0:
            raise L2HError(f"{what} must be a non-negative integer, got {radius!r}")
        if radius > self.bits:
            raise L2HError(f"{what} {radius} is larger than the code length ({self.bits} bits): "
                           f"use a radius of at most {self.bits}")
        return int(radius)

    def _check_k(self, k, nq: int) -> int:
        if not is_integer(k) or k < 1:
            raise L2HError(f"k must be a positive integer, got {k!r}")
        if nq * int(k) > MAX_RESULT_ENTRIES:
            raise L2HError(f"k={k} for {nq} queries asks for a ({nq}, {k}) result of "
                           f"{nq * int(k) * 12 / 2**30:.0f} GiB, more than l2h allocates ({MAX_RESULT_ENTRIES} "
                           f"entries): ask for fewer (k={max(self.ntotal, 1)} already returns every item) or "
                           "split the queries")
        return int(k)

    def _check_ids(self, ids, n: int) -> np.ndarray | None:
        if ids is None:
            return None
        ids = np.asarray(ids)
        if ids.dtype == np.bool_ or not np.issubdtype(ids.dtype, np.integer):
            raise L2HError(f"ids must be integers, got {ids.dtype}: pass an int64 array")
        if ids.ndim != 1 or ids.shape[0] != n:
            raise L2HError(f"{ids.size} ids of shape {ids.shape} for {n} codes: give one id per code, (n,)")
        if n and ids.min() < 0:
            raise L2HError(f"ids must be non-negative (-1 marks 'no result'), got {int(ids.min())}")
        if n and ids.dtype == np.uint64 and ids.max() > MAX_ID:
            raise L2HError(f"ids must fit in int64, got {int(ids.max())}")
        return ids.astype(np.int64)


def empty_range(nq: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros(nq + 1, dtype=np.int64), np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int64)


def first_k(lims: np.ndarray, D: np.ndarray, I: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The first k results of each query of a range search (sorted by distance then id), as (nq, k) arrays
    padded with -1."""
    nq = lims.shape[0] - 1
    counts = np.minimum(np.diff(lims), k)
    rows = np.repeat(np.arange(nq), counts)
    cols = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    picked = np.repeat(lims[:-1], counts) + cols
    D_k, I_k = np.full((nq, k), -1, dtype=np.int32), np.full((nq, k), -1, dtype=np.int64)
    D_k[rows, cols], I_k[rows, cols] = D[picked], I[picked]
    return D_k, I_k


class Growable:
    """A 1-D or 2-D array that appends rows with capacity doubling (amortised O(1) per row); a memory-mapped
    array is copied on the first append."""

    def __init__(self, data: np.ndarray, n: int | None = None):
        self.data = data
        self.n = data.shape[0] if n is None else n

    @property
    def view(self) -> np.ndarray:
        return self.data[:self.n]

    def append(self, rows: np.ndarray) -> None:
        need = self.n + rows.shape[0]
        if need > self.data.shape[0] or not self.data.flags.writeable:
            capacity = max(need, 2 * self.data.shape[0]) if self.data.flags.writeable else need
            grown = np.empty((capacity,) + self.data.shape[1:], dtype=self.data.dtype)
            grown[:self.n] = self.data[:self.n]
            self.data = grown
        self.data[self.n:need] = rows
        self.n = need

    @property
    def nbytes(self) -> int:
        return self.data.nbytes


class IdMap:
    """The users' ids of an index's items, by position.

    Results are ordered by distance, then id: the search kernels break ties by each item's *rank*, its place in
    id order (a stable sort: equal ids keep insertion order), and answer in ranks, which :meth:`ids_of` turns
    into ids; ranks ascend with ids, so the order holds. Without ids (the row numbers) or with ids that never
    decrease, the rank is the position and no table is kept; otherwise the ranks are computed at the first
    search after an add (one sort of the ids)."""

    def __init__(self, ids: np.ndarray | None = None):
        self._ids = None if ids is None else Growable(ids)  # None: the ids are the row numbers
        self._ascending = ids is None or bool((np.diff(ids) >= 0).all())
        self._order: np.ndarray | None = None  # positions in id order, and each position's rank, until an add
        self._rank: np.ndarray | None = None

    def add(self, start: int, n: int, ids: np.ndarray | None) -> None:
        """Record the ids of positions start..start + n - 1 (None: their row numbers)."""
        if ids is None and self._ids is None:
            return
        if self._ids is None:
            self._ids = Growable(np.arange(start, dtype=np.int64))
        new = np.arange(start, start + n, dtype=np.int64) if ids is None else ids
        if self._ascending:
            last = self._ids.view[-1] if self._ids.n else new[0]
            self._ascending = bool(last <= new[0]) and bool((np.diff(new) >= 0).all())
        self._ids.append(new)
        self._order = self._rank = None

    def ranks(self) -> np.ndarray:
        """The rank of each position, or an empty array where the rank is the position: what the search kernels
        break ties by and answer in."""
        if self._ascending:
            return np.empty(0, dtype=np.int64)
        self._sort()
        return self._rank

    def order(self, n: int) -> np.ndarray:
        """The n positions in id order."""
        if self._ascending:
            return np.arange(n, dtype=np.int64)
        self._sort()
        return self._order

    def _sort(self) -> None:
        if self._order is None:
            self._order = np.argsort(self._ids.view, kind="stable")
            self._rank = np.empty_like(self._order)
            self._rank[self._order] = np.arange(self._order.size, dtype=np.int64)

    def ids_of(self, ranks: np.ndarray) -> np.ndarray:
        """The ids of the items of these ranks (a search's results, before their -1 padding)."""
        if self._ids is None:
            return ranks
        if not self._ascending:
            self._sort()
            ranks = self._order[ranks]
        return self._ids.view[ranks]

    def row_ids(self, n: int) -> np.ndarray:
        """The ids of positions 0..n-1."""
        return np.arange(n, dtype=np.int64) if self._ids is None else self._ids.view.copy()

    def nbytes(self) -> int:
        cached = 0 if self._order is None else self._order.nbytes + self._rank.nbytes
        return (0 if self._ids is None else self._ids.nbytes) + cached

    def arrays(self) -> dict[str, np.ndarray]:
        """What a file holds: an "ids" array where ids were given."""
        return {} if self._ids is None else {"ids": self._ids.view}

    @classmethod
    def load(cls, c: storage.Checker, n: int) -> IdMap:
        """The ids of a file's index of n items."""
        if not c.has("ids"):
            return cls()
        ids = c.array("ids", np.int64, (n,))
        if n and ids.min() < 0:
            raise L2HError("holds a negative id")
        return cls(ids)
