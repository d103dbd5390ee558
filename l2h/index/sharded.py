"""An index made of shards: each shard a normal l2h index (its own file) over a slice of the items, all of them
searched as one. Results are exactly those of one index over the same codes, in the same order (distance, then
id): each shard answers, and the answers are merged.

    shards = ShardedIndex(64, shard_size=1_000_000)   # a new shard every million codes
    shards.add(codes)                                  # ids: row numbers, as for any index
    shards.save("db.l2h")                              # db.l2h (the list of shards) + db.l2h.shards/00000.l2h ...
    shards = ShardedIndex.load("db.l2h")               # every shard memory-mapped and checked

A saved shard stays on disk: ``flush()`` writes the filled shards and maps them back, so building a database far
larger than memory holds one shard in memory at a time. On one machine the shards are searched one after
another, each on every core; :mod:`l2h.distributed` searches them on the workers of a Dask cluster instead."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from l2h import atomic
from l2h.checks import MAX_BITS
from l2h.errors import L2HError
from l2h.index import storage
from l2h.index.base import BinaryIndex


def merge_knn(parts: Sequence[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best of several (D, I) answers to the same queries, by distance then id; -1 entries last."""
    D = np.concatenate([d for d, _ in parts], axis=1)
    I = np.concatenate([i for _, i in parts], axis=1)
    missing = I < 0
    order = np.lexsort((np.where(missing, np.iinfo(np.int64).max, I),
                        np.where(missing, np.iinfo(np.int32).max, D)), axis=1)[:, :k]
    return np.take_along_axis(D, order, 1), np.take_along_axis(I, order, 1)


def merge_ranges(parts: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], nq: int):
    """One (lims, D, I) answer from several over disjoint items, each query's results by distance then id."""
    owner = np.concatenate([np.repeat(np.arange(nq), np.diff(lims)) for lims, _, _ in parts])
    D = np.concatenate([d for _, d, _ in parts])
    I = np.concatenate([i for _, _, i in parts])
    order = np.lexsort((I, D, owner))
    lims = np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=nq))]).astype(np.int64)
    return lims, D[order].astype(np.int32), I[order].astype(np.int64)


def _default_shard(bits: int) -> BinaryIndex:
    from l2h.index.factory import auto

    return auto(bits)


class ShardedIndex(BinaryIndex):
    kind = "sharded"
    ids_in_members = True  # each shard holds its items' ids: this index's own id map stays empty

    def __init__(self, bits: int, shards: Sequence[BinaryIndex] = (), shard_size: int | None = None,
                 make_shard: Callable[..., BinaryIndex] | None = None):
        """``shards``: indexes to search as one (their ids must not collide with each other's if results are to
        be told apart); ``shard_size``: codes per shard when adding (None: everything into the last shard);
        ``make_shard(bits=...)``: the index of a new shard (default ``l2h.index.auto``)."""
        super().__init__(bits)
        if shard_size is not None and (not isinstance(shard_size, int) or shard_size < 1):
            raise L2HError(f"shard_size must be a positive integer or None, got {shard_size!r}")
        self.shards: list[BinaryIndex] = []
        self.paths: list[Path | None] = []  # the file each shard was loaded from or flushed to
        self._home: Path | None = None  # the folder of the file listing the shards, once flushed or loaded
        self.shard_size = shard_size
        self.make_shard = make_shard or functools.partial(_default_shard)
        for shard in shards:
            self.add_shard(shard)

    def add_shard(self, shard: BinaryIndex, path: Path | None = None) -> None:
        if not isinstance(shard, BinaryIndex) or isinstance(shard, ShardedIndex):
            raise L2HError("a shard must be an l2h index (hash, mih, flat, ...), not a sharded index")
        if shard.bits != self.bits:
            raise L2HError(f"a {shard.bits}-bit shard cannot join a {self.bits}-bit sharded index")
        self.shards.append(shard)
        self.paths.append(path)

    @property
    def ntotal(self) -> int:
        return sum(s.ntotal for s in self.shards)

    @property
    def incremental_shells(self) -> bool:
        return bool(self.shards) and all(s.incremental_shells for s in self.shards)

    def nbytes(self) -> int:
        return sum(s.nbytes() for s in self.shards)

    # ------------------------------------------------------------------ adding: each shard keeps its items' ids

    def _add(self, codes):
        self._append(codes, codes.shape[0], None)

    def _append(self, codes, n, ids):
        if ids is None:
            ids = np.arange(self.ntotal, self.ntotal + codes.shape[0], dtype=np.int64)
        start = 0
        while start < codes.shape[0]:
            if not self.shards or (self.shard_size and self.shards[-1].ntotal >= self.shard_size):
                self.add_shard(self.make_shard(bits=self.bits))
            room = codes.shape[0] - start
            if self.shard_size:
                room = min(room, self.shard_size - self.shards[-1].ntotal)
            self.shards[-1].add(codes[start:start + room], ids[start:start + room])
            self.paths[-1] = None  # changed since it was last written
            start += room

    # ------------------------------------------------------------------ searching

    def _search(self, queries, k, stats):
        parts = []
        for shard in self.shards:
            if shard.ntotal:
                parts.append(shard.search(queries, min(k, shard.ntotal)))
                stats += np.stack([shard.last_stats.buckets_probed, shard.last_stats.candidates], 1)
        return merge_knn(parts, k)

    def _gather(self, ask, nq, stats):
        parts = []
        for shard in self.shards:
            if shard.ntotal:
                parts.append(ask(shard))
                stats += np.stack([shard.last_stats.buckets_probed, shard.last_stats.candidates], 1)
        return merge_ranges(parts, nq)

    def _range_search(self, queries, radius, stats):
        return self._gather(lambda s: s.range_search(queries, radius), queries.shape[0], stats)

    def _probe(self, queries, r_lo, r_hi, stats):
        return self._gather(lambda s: s.probe(queries, r_lo, r_hi), queries.shape[0], stats)

    def _codes(self):
        return self._rows()[0]

    def _rows(self):
        parts = [s._rows() for s in self.shards]
        if not parts:
            return np.empty((0, (self.bits + 7) // 8), dtype=np.uint8), np.empty(0, dtype=np.int64)
        return np.concatenate([c for c, _ in parts]), np.concatenate([i for _, i in parts])

    # ------------------------------------------------------------------ files

    @staticmethod
    def shard_folder(path: str | Path) -> Path:
        path = Path(path)
        return path.parent / f"{path.name}.shards"

    def flush(self, path: str | Path, keep_last: bool = True) -> None:
        """Write every shard not yet on disk into ``<path>.shards/`` and map it back from its file, so that it
        no longer takes memory; the last shard, still filling, stays in memory unless ``keep_last`` is False."""
        folder = atomic.ensure_folder(self.shard_folder(path))
        self._home = Path(path).resolve().parent
        for n, shard in enumerate(self.shards):
            if self.paths[n] is not None or (keep_last and n == len(self.shards) - 1):
                continue
            target = folder / f"{n:05d}.l2h"
            shard.save(target)
            self.shards[n], self.paths[n] = BinaryIndex.load(target), target

    def _state(self):
        if any(p is None for p in self.paths):
            raise L2HError("a sharded index is saved with ShardedIndex.save (which writes its shards), not inside "
                           "another file before its shards are written: call flush(path, keep_last=False) first")
        # shard files below the folder of the file that lists them are named relative to it, so the whole moves
        home = self._home
        names = [os.path.relpath(p.resolve(), home) if home and p.resolve().is_relative_to(home) else str(p.resolve())
                 for p in self.paths]
        return {"shards": [{"path": name, "ntotal": s.ntotal} for name, s in zip(names, self.shards)],
                "shard_size": self.shard_size}, {}

    def save(self, path: str | Path) -> None:
        """The shards into ``<path>.shards/``, then the list of them at ``path`` (names relative to it)."""
        self.flush(path, keep_last=False)
        storage.write(path, *self._full_state())

    @classmethod
    def _from_state(cls, c: storage.Checker) -> ShardedIndex:
        bits = c.int("bits", 1, MAX_BITS)
        shard_size = c.field("shard_size")
        if shard_size is not None and (not isinstance(shard_size, int) or shard_size < 1):
            raise L2HError(f"its 'shard_size' is {shard_size!r}")
        entries = c.field("shards")
        if not isinstance(entries, list):
            raise L2HError("its list of shards is not a list")
        if c.origin is None:
            raise L2HError("a sharded index is opened from its file (ShardedIndex.load), which locates its shards")
        index = cls(bits, shard_size=shard_size)
        index._home = c.origin.resolve().parent
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                raise L2HError("a shard entry lacks its file")
            path = Path(entry["path"])
            path = path if path.is_absolute() else c.origin.parent / path
            shard = BinaryIndex.load(path, bits=bits, mmap=c.mmap, verify=c.verify)  # its ids with it
            if shard.ntotal != entry.get("ntotal"):
                raise L2HError(f"shard {path} holds {shard.ntotal} codes where the list says {entry.get('ntotal')}")
            index.add_shard(shard, path)
        if index.ntotal != c.int("ntotal", 0, 1 << 62):
            raise L2HError(f"its shards hold {index.ntotal} codes where it says {c.field('ntotal')}")
        return index
