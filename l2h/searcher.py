"""A trained model and the index of its database as one artefact: raw vectors in, ``(distances, ids)`` out.

    from l2h import Searcher
    searcher = Searcher.load("db.l2h")            # memory-mapped, checked, no unpickling, no Hydra, no Lightning
    D, I = searcher.search(query_vectors, k=10)   # FAISS's shapes; I holds the ids given when indexing
    lims, D, I = searcher.range_search(query_vectors, radius=2)   # inclusive: Hamming distance <= 2

The file is an l2h index file (:mod:`l2h.index.storage`: a checked JSON header, CRC-32 per array) holding the
index's arrays beside the model's description and weights as plain arrays. Building one from Python::

    searcher = Searcher(model, l2h.index.auto(model.bits))
    searcher.add(database_vectors, ids=my_ids)    # encoded in chunks
    searcher.save("db.l2h")

**Serving from a file that gets replaced.** l2h replaces an artefact by renaming a new file over it (and, for a
sharded one, a new folder of shards), never by writing in place, so a loaded searcher keeps answering from the
version it loaded. A server asks :meth:`Searcher.is_stale` now and then, or calls
:meth:`Searcher.reload_if_changed`, to move to the new version. A memory-mapped file (``mmap=True``, the default)
that another program truncates or rewrites in place can kill the process with SIGBUS: where that may happen,
load with ``mmap=False``, which copies the artefact into memory.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from l2h import checkpoint
from l2h.errors import L2HError
from l2h.index import storage
from l2h.index.base import BinaryIndex
from l2h.index.factory import KINDS
from l2h.index.sharded import ShardedIndex, replace_with_one_file
from l2h.index.union import UnionIndex
from l2h.model import HashModel

KIND = "searcher"


class Searcher:
    def __init__(self, model: HashModel, index: BinaryIndex):
        if index.bits != model.bits:
            raise L2HError(f"a {model.bits}-bit model's codes cannot be searched in a {index.bits}-bit index: build "
                           "the index with the model's code length")
        index_tables = index.tables if isinstance(index, UnionIndex) else 1
        if model.tables != index_tables:
            raise L2HError(f"a model of {model.tables} hash tables cannot be searched in an index of "
                           f"{index_tables}: build the index with l2h.index.union.index_for_model")
        self._parts = model, index  # one attribute: a reload swaps both at once under concurrent searches
        self.source: tuple[Path, bool, bool] | None = None  # (path, mmap, verify) when loaded from a file
        self._identities: dict[Path, tuple | None] = {}  # what each file of the artefact was when loaded

    @property
    def model(self) -> HashModel:
        return self._parts[0]

    @property
    def index(self) -> BinaryIndex:
        return self._parts[1]

    @property
    def bits(self) -> int:
        return self.model.bits

    @property
    def ntotal(self) -> int:
        return self.index.ntotal

    @property
    def dim(self) -> int:
        return self.model.in_dim

    def encode(self, vectors, batch_size: int = 65536) -> np.ndarray:
        return self.model.encode(vectors, batch_size=batch_size)

    def add(self, vectors, ids=None, batch_size: int = 65536) -> None:
        """Encode ``vectors`` (n, dim) in chunks and index them under ``ids`` (default: their insertion order)."""
        self.index.add(self.encode(vectors, batch_size), ids)

    def add_chunks(self, chunks: Iterable[tuple[np.ndarray, np.ndarray | None]], batch_size: int = 65536) -> None:
        """Index ``(vectors, ids)`` chunks one at a time: memory holds one chunk of vectors, never the whole set."""
        for vectors, ids in chunks:
            self.add(vectors, ids, batch_size)

    def search(self, vectors, k: int, radius: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest codes to each query's code: ``D`` (nq, k) int32 Hamming distances, ``I`` (nq, k) int64
        ids, by distance then id, -1 where fewer than k items exist; with ``radius``, the k nearest within it."""
        model, index = self._parts
        return index.search(model.encode(vectors), k, radius)

    def range_search(self, vectors, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every item within Hamming distance <= radius: ``lims`` (nq + 1,), ``D`` int32, ``I`` int64."""
        model, index = self._parts
        return index.range_search(model.encode(vectors), radius)

    @property
    def last_stats(self):
        return self.index.last_stats

    def save(self, path: str | Path) -> Path:
        """Write the artefact atomically: the old one or the new one is at ``path``, never half of either (a
        sharded one too: see :mod:`l2h.index.sharded`)."""
        def write_main(temp_folder=None):
            spec, weights = checkpoint.to_arrays(self.model)
            index_meta, index_arrays = self.index._full_state()
            arrays = {**{f"model/{k}": v for k, v in weights.items()},
                      **{f"index/{k}": v for k, v in index_arrays.items()}}
            storage.write(path, {"kind": KIND, "model": spec, "index": index_meta}, arrays, temp_folder=temp_folder)

        if isinstance(self.index, ShardedIndex):
            self.index.commit(path, write_main)
        else:
            replace_with_one_file(path, write_main)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path, mmap: bool = True, verify: bool = True) -> Searcher:
        """Open an artefact written by :meth:`save` or ``index.py``; every part is checked before it can search.
        ``mmap``: memory-map the index's arrays (replacing the file by a rename is safe, rewriting it in place is
        not: see the module's docstring); ``verify``: check the CRC-32 of every array (one read of the file).
        A sharded artefact replaced by a newer save while it loads is loaded again, the newer version."""
        return storage.retry_if_replaced(path, lambda: cls._load_once(Path(path), mmap, verify))

    @classmethod
    def _load_once(cls, path: Path, mmap: bool, verify: bool) -> Searcher:
        stored = storage.read_file(path, mmap=mmap, verify=verify)
        meta, arrays = stored.meta, stored.arrays
        if meta.get("kind") != KIND:
            raise L2HError(f"{path} holds an index without a model ({meta.get('kind')!r}): open it with "
                           "l2h.index.BinaryIndex.load, or build a searchable index with index.py")
        checker = storage.Checker(meta, arrays, origin=Path(path), mmap=mmap, verify=verify)
        try:
            weights = {}
            for name, a in arrays.items():
                if name.startswith("model/"):
                    weights[name[len("model/"):]] = checker.array(name, a.dtype, a.shape)
            model = checkpoint.from_arrays(checker.field("model"), weights, str(path))
            index_meta = checker.field("index")
            kind = index_meta.get("kind") if isinstance(index_meta, dict) else None
            if not isinstance(kind, str) or not KINDS.get(kind):
                raise L2HError("its index is of no kind this l2h knows")
            index = BinaryIndex._restore(checker.sub(index_meta, "index/"))
            checker.done()
        except L2HError as exc:
            raise L2HError(f"{path} is damaged or is not an artefact this l2h wrote ({exc}): rebuild it with "
                           "index.py") from None
        searcher = cls(model, index)
        searcher.source = (path, mmap, verify)
        searcher._identities = {path: stored.identity}
        if isinstance(index, ShardedIndex):
            searcher._identities.update({p: storage.identity(p) for p in index.paths})
        return searcher

    def is_stale(self) -> bool:
        """Whether a file of the artefact this searcher was loaded from is no longer the one it read: replaced
        (by a newer save: reload to move to it) or rewritten in place. False for a searcher not loaded from a
        file."""
        return any(storage.identity(p) != was for p, was in self._identities.items())

    def reload_if_changed(self) -> bool:
        """Load the artefact again, with the same settings, if :meth:`is_stale`; whether it did. The searcher
        answers from the version it holds until the new one has loaded whole (a failed load raises and keeps
        it). A file rewritten in place while memory-mapped is reported: its answers until now may have been
        wrong."""
        if not self.is_stale():
            return False
        path, mmap, verify = self.source
        rewritten = [str(p) for p, was in self._identities.items()
                     if was is not None and (now := storage.identity(p)) is not None and now[:2] == was[:2]]
        if rewritten and mmap:
            warnings.warn(f"{', '.join(rewritten)} rewritten in place while memory-mapped: answers may have been "
                          "wrong and the process can die of SIGBUS; replace files by renaming a new one over "
                          "them, or load with mmap=False", stacklevel=2)
        fresh = Searcher.load(path, mmap=mmap, verify=verify)
        self._parts, self._identities = fresh._parts, fresh._identities
        return True
