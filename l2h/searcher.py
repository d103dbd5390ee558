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
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from l2h import checkpoint
from l2h.errors import L2HError
from l2h.index import storage
from l2h.index.base import BinaryIndex
from l2h.index.factory import KINDS
from l2h.model import HashModel

KIND = "searcher"


class Searcher:
    def __init__(self, model: HashModel, index: BinaryIndex):
        if index.bits != model.bits:
            raise L2HError(f"a {model.bits}-bit model's codes cannot be searched in a {index.bits}-bit index: build "
                           "the index with the model's code length")
        self.model, self.index = model, index

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
        return self.index.search(self.encode(vectors), k, radius)

    def range_search(self, vectors, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every item within Hamming distance <= radius: ``lims`` (nq + 1,), ``D`` int32, ``I`` int64."""
        return self.index.range_search(self.encode(vectors), radius)

    @property
    def last_stats(self):
        return self.index.last_stats

    def save(self, path: str | Path) -> Path:
        """Write the artefact atomically: the old file or the new one is at ``path``, never half of either."""
        spec, weights = checkpoint.to_arrays(self.model)
        index_meta, index_arrays = self.index._full_state()
        arrays = {**{f"model/{k}": v for k, v in weights.items()}, **{f"index/{k}": v for k, v in index_arrays.items()}}
        storage.write(path, {"kind": KIND, "model": spec, "index": index_meta}, arrays)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path, mmap: bool = True, verify: bool = True) -> Searcher:
        """Open an artefact written by :meth:`save` or ``index.py``; every part is checked before it can search.
        ``mmap``: memory-map the index's arrays (do not rewrite the file while it is open); ``verify``: check the
        CRC-32 of every array (one read of the file)."""
        meta, arrays = storage.read(path, mmap=mmap, verify=verify)
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
        return cls(model, index)
