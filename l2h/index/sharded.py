"""An index made of shards: each shard a normal l2h index (its own file) over a slice of the items, all of them
searched as one. Results are exactly those of one index over the same codes, in the same order (distance, then
id): each shard answers, and the answers are merged.

    shards = ShardedIndex(64, shard_size=1_000_000)   # a new shard every million codes
    shards.add(codes)                                  # ids: row numbers, as for any index
    shards.save("db.l2h")                              # db.l2h (the list) + db.l2h.shards-<id>/00000-<sum>.l2h ...
    shards = ShardedIndex.load("db.l2h")               # every shard memory-mapped and checked

A saved shard stays on disk: ``flush()`` writes the filled shards and maps them back, so building a database far
larger than memory holds one shard in memory at a time. On one machine the shards are searched one after
another, each on every core; :mod:`l2h.distributed` searches them on the workers of a Dask cluster instead.

**One artefact, replaced whole.** Each save is a new artefact with its own random id: its shards go to a new
folder ``<path>.shards-<id>/``, each shard's file named after its content checksum (the SHA-256 of its header,
which holds the CRC-32 of every array) and holding the artefact's id and its position in it. The main file, which
lists every shard with its checksum, is renamed into place last, so a kill or a full disk at any moment leaves
the old artefact or the new one; a failed save removes its folder. Loading checks each shard against the list
(id, position, checksum, size): a shard of another artefact, of an older version of this one or in another
position is refused in one line, on this machine and on every Dask worker.

After the rename, under a lock file ``.<path>.lock`` that writers of one path take in turn for the rename and
the clean-up, every other shard folder of ``path`` is removed unless a live writer holds it (each writer locks its
folder until it commits; the kernel releases the lock of a killed one): the old artefact's folder and those of
killed writers go, the folders of writers still at work stay. Two writers of one path each commit whole; the
last rename wins. A reader reads the main file once, then opens the folder it names; if that folder was removed
by a newer save meanwhile, :meth:`ShardedIndex.load` and :meth:`l2h.searcher.Searcher.load` load again from the
new main file. A reader that has loaded keeps its shards mapped: removing their folder does not disturb it."""

from __future__ import annotations

import functools
import glob
import os
import secrets
import shutil
import weakref
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


# ---------------------------------------------------------------------------------------------- shard files

def write_shard(index: BinaryIndex, folder: str | Path, artefact: str, position: int) -> tuple[Path, str]:
    """Write ``index`` as shard ``position`` of the artefact ``artefact`` into ``folder``, named after its content
    checksum; its path and checksum (on a Dask worker as here)."""
    meta, arrays = index._full_state()
    prepared = storage.prepare(meta, arrays, shard_of={"artefact": artefact, "position": position})
    target = Path(folder) / f"{position:05d}-{prepared.digest[:16]}.l2h"
    prepared.write(target)
    return target, prepared.digest


def open_shard(spec: dict, bits: int, mmap: bool = True, verify: bool = True) -> BinaryIndex:
    """The shard that ``spec`` (an entry of :meth:`ShardedIndex.shard_specs`) describes, after checking that the
    file is that shard: of that artefact, in that position, with that checksum and that many codes. An artefact
    written before shards were bound to it (no ``artefact``) has only the number of codes to check."""
    path, artefact, position = Path(spec["path"]), spec["artefact"], spec["position"]
    stored = storage.read_file(path, mmap=mmap, verify=verify)
    if artefact is not None:
        bound = stored.shard_of
        if bound is None:
            raise L2HError(f"shard {path} is an index saved on its own, not a shard of this artefact")
        if bound["artefact"] != artefact:
            raise L2HError(f"shard {path} belongs to another artefact or to an older version of this one")
        if bound["position"] != position:
            raise L2HError(f"shard {path} is shard {bound['position']} of this artefact, listed as shard {position}")
        if stored.digest != spec["digest"]:
            raise L2HError(f"shard {path} does not match the checksum its artefact lists for it")
    if stored.meta.get("kind") == ShardedIndex.kind:
        raise L2HError(f"shard {path} is itself a sharded index")
    checker = storage.Checker(stored.meta, stored.arrays, origin=path, mmap=mmap, verify=verify)
    try:
        shard = BinaryIndex._restore(checker)
        checker.done(strict_fields=True)
    except L2HError as exc:
        raise L2HError(f"shard {path} is damaged ({exc})") from None
    if shard.bits != bits:
        raise L2HError(f"shard {path} holds {shard.bits}-bit codes in a {bits}-bit sharded index")
    if shard.ntotal != spec["ntotal"]:
        raise L2HError(f"shard {path} holds {shard.ntotal} codes where the list says {spec['ntotal']}")
    return shard


def _lock_path(path: Path) -> Path:
    return path.parent / f".{path.name}.lock"


def _folders(path: Path) -> list[Path]:
    """Every shard folder of the artefact at ``path``: one per save, and the one of l2h before shards were bound."""
    folders = [f for f in path.parent.glob(f"{glob.escape(path.name)}.shards-*") if f.is_dir()]
    legacy = path.parent / f"{path.name}.shards"
    return folders + [legacy] if legacy.is_dir() else folders


def _remove_unused(path: Path, keep: Path | None) -> None:
    """Under the artefact's lock, once its main file names ``keep`` (or no folder): every other shard folder goes
    unless a live writer holds it."""
    for folder in _folders(path):
        if folder != keep:
            atomic.remove_unless_held(folder)


def replace_with_one_file(path: str | Path, write_main: Callable[[], object]) -> None:
    """Write a one-file artefact at ``path`` (``write_main``) over what may be a sharded one, whose folders then
    go; under the artefact's lock when there are any, so that no sharded writer's commit falls between."""
    path = Path(path)
    if not _folders(path):
        write_main()
        return
    with atomic.locked(_lock_path(path)):
        write_main()
        _remove_unused(path, None)


class _Writing:
    """One save of a sharded artefact at ``path``: a new artefact id and its own new folder, locked as being
    written until the save commits or fails."""

    def __init__(self, path: Path):
        self.path = path
        self.artefact = secrets.token_hex(16)
        with atomic.locked(_lock_path(path)):  # a commit's clean-up never sees the folder before it is held
            self.folder = atomic.ensure_folder(path.parent / f"{path.name}.shards-{self.artefact[:16]}")
            # the lock lasts until the save ends, or this object or its process does
            self.release = weakref.finalize(self, os.close, atomic.hold_folder(self.folder))

    def abort(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        self.release()


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
        # the file of each shard in the artefact ``self.artefact`` (loaded, or being written), and its checksum
        self.paths: list[Path | None] = []
        self.digests: list[str | None] = []
        self.artefact: str | None = None
        self._writing: _Writing | None = None
        self._home: Path | None = None  # the folder of the file listing the shards, once flushed or loaded
        self.shard_size = shard_size
        self.make_shard = make_shard or functools.partial(_default_shard)
        for shard in shards:
            self.add_shard(shard)

    def add_shard(self, shard: BinaryIndex, path: Path | None = None, digest: str | None = None) -> None:
        """Add ``shard`` as the last one; ``path`` and ``digest``: its file in this index's artefact, if any."""
        if not isinstance(shard, BinaryIndex) or isinstance(shard, ShardedIndex):
            raise L2HError("a shard must be an l2h index (hash, mih, flat, ...), not a sharded index")
        if shard.bits != self.bits:
            raise L2HError(f"a {shard.bits}-bit shard cannot join a {self.bits}-bit sharded index")
        self.shards.append(shard)
        self.paths.append(path)
        self.digests.append(digest)

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
            self.paths[-1] = self.digests[-1] = None  # changed since it was last written
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
        """The one folder of shards that l2h wrote before each save had its own (read, and removed on a save)."""
        path = Path(path)
        return path.parent / f"{path.name}.shards"

    def begin(self, path: str | Path) -> _Writing:
        """Start a new artefact at ``path``: a new id and folder, into which every shard is written again."""
        self.abort()
        self._writing = _Writing(Path(os.path.abspath(path)))
        self.artefact = self._writing.artefact
        self.paths = [None] * len(self.shards)  # every shard is written again: its file names its artefact
        self.digests = [None] * len(self.shards)
        self._home = Path(path).resolve().parent
        return self._writing

    def abort(self) -> None:
        """Give up the save under way, if any, and remove its folder (the shards already mapped stay usable)."""
        if self._writing is not None:
            self._writing.abort()
            self._writing = None
            self.paths = [None] * len(self.shards)  # their files are gone
            self.digests = [None] * len(self.shards)
            self.artefact = None

    def flush(self, path: str | Path, keep_last: bool = True) -> None:
        """Write every shard not yet on disk into this save's folder for ``path`` (the first flush for ``path``
        starts the save) and map it back from its file, so that it no longer takes memory; the last shard, still
        filling, stays in memory unless ``keep_last`` is False. A failure removes the folder."""
        if self._writing is None or self._writing.path != Path(os.path.abspath(path)):
            self.begin(path)
        writing = self._writing
        try:
            for n, shard in enumerate(self.shards):
                if self.paths[n] is not None or (keep_last and n == len(self.shards) - 1):
                    continue
                target, digest = write_shard(shard, writing.folder, writing.artefact, n)
                spec = {"path": target, "artefact": writing.artefact, "position": n, "digest": digest,
                        "ntotal": shard.ntotal}
                self.shards[n], self.paths[n], self.digests[n] = open_shard(spec, self.bits), target, digest
        except BaseException:
            self.abort()
            raise

    def commit(self, path: str | Path, write_main: Callable[[Path], object]) -> None:
        """Finish the save at ``path``: every shard written, then ``write_main(folder)`` (which writes the file
        listing them atomically, its temporary file in this save's ``folder``, so that a kill leaves nothing
        beside it) under the artefact's lock, then the other shard folders removed (see the module's docstring).
        If ``write_main`` fails, the old artefact is left as it was and this save's folder goes."""
        path = Path(path)
        self.flush(path, keep_last=False)
        writing = self._writing
        with atomic.locked(_lock_path(path)):
            try:
                write_main(writing.folder)
            except BaseException:
                self.abort()
                raise
            self._writing = None
            writing.release()
            _remove_unused(path, writing.folder)

    def shard_specs(self) -> list[dict]:
        """Where each shard is and what it must be (:func:`open_shard`), as plain values for other processes."""
        return [{"path": str(p), "artefact": self.artefact, "position": n, "digest": d, "ntotal": s.ntotal}
                for n, (p, d, s) in enumerate(zip(self.paths, self.digests, self.shards))]

    def _state(self):
        if any(p is None for p in self.paths) or (self.shards and self.artefact is None):
            raise L2HError("a sharded index is saved with ShardedIndex.save (which writes its shards), not inside "
                           "another file before its shards are written: call flush(path, keep_last=False) first")
        # shard files below the folder of the file that lists them are named relative to it, so the whole moves
        home = self._home
        names = [os.path.relpath(p.resolve(), home) if home and p.resolve().is_relative_to(home) else str(p.resolve())
                 for p in self.paths]
        return {"artefact": self.artefact,
                "shards": [{"path": name, "ntotal": s.ntotal, "digest": d}
                           for name, s, d in zip(names, self.shards, self.digests)],
                "shard_size": self.shard_size}, {}

    def save(self, path: str | Path) -> None:
        """A new artefact at ``path``: the shards into a new folder, then the list of them (names relative to
        it) renamed into place (see the module's docstring)."""
        self.commit(path, lambda folder: storage.write(path, *self._full_state(), temp_folder=folder))

    @classmethod
    def load(cls, path: str | Path, bits: int | None = None, mmap: bool = True, verify: bool = True) -> ShardedIndex:
        """As :meth:`BinaryIndex.load`, loading again if a newer save replaced the artefact meanwhile."""
        return storage.retry_if_replaced(path, lambda: BinaryIndex.load.__func__(cls, path, bits, mmap, verify))

    @classmethod
    def _from_state(cls, c: storage.Checker) -> ShardedIndex:
        bits = c.int("bits", 1, MAX_BITS)
        shard_size = c.field("shard_size")
        if shard_size is not None and (not isinstance(shard_size, int) or shard_size < 1):
            raise L2HError(f"its 'shard_size' is {shard_size!r}")
        artefact = c.optional("artefact")  # None: written before shards were bound to their artefact
        if artefact is not None and not isinstance(artefact, str):
            raise L2HError(f"its 'artefact' is {artefact!r}, not a string")
        entries = c.field("shards")
        if not isinstance(entries, list):
            raise L2HError("its list of shards is not a list")
        if c.origin is None:
            raise L2HError("a sharded index is opened from its file (ShardedIndex.load), which locates its shards")
        index = cls(bits, shard_size=shard_size)
        index._home = c.origin.resolve().parent
        for n, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                raise L2HError("a shard entry lacks its file")
            if artefact is not None and not isinstance(entry.get("digest"), str):
                raise L2HError("a shard entry lacks its checksum")
            path = Path(entry["path"])
            path = path if path.is_absolute() else c.origin.parent / path
            spec = {"path": path, "artefact": artefact, "position": n, "digest": entry.get("digest"),
                    "ntotal": entry.get("ntotal")}
            index.add_shard(open_shard(spec, bits, c.mmap, c.verify), path, entry.get("digest"))
        index.artefact = artefact
        if index.ntotal != c.int("ntotal", 0, 1 << 62):
            raise L2HError(f"its shards hold {index.ntotal} codes where it says {c.field('ntotal')}")
        return index
