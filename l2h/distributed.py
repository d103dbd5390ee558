"""Sharded indexes built and searched on the workers of a Dask cluster (``pip install "l2h[dask]"``).

Building: each worker encodes its slice of the database's rows with the same model (the checkpoint file, read
by every worker) into a shard of the index the client asks for (any kind, with its settings: the index config's
partial is sent to the workers as it is) and writes it; the client writes the list of shards. Searching: every
worker opens the shards given to it once and keeps them open; each batch of queries goes to every worker, and
the answers are merged exactly as :class:`~l2h.index.sharded.ShardedIndex` merges them (distance, then id).
Files are shared through the file system, so the workers of a cluster need the same paths (a shared disk).

    from dask.distributed import Client
    client = Client("scheduler:8786")             # or Client(LocalCluster(n_workers=2)) on one machine
    searcher = build_sharded(client, "model.ckpt", {"name": "sift", "path": "sift_base.fvecs"}, "sift.l2h",
                             shard_size=1_000_000)
    D, I = DistributedSearcher(client, "sift.l2h").search(queries, k=10)
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np

from l2h.errors import L2HError
from l2h.index.base import first_k
from l2h.index.sharded import ShardedIndex, merge_knn, merge_ranges, open_shard, write_shard

# what a worker process keeps open between tasks: path -> loaded index or model
_OPEN: dict = {}


def _client(client):
    if client is None:
        raise L2HError("no Dask client: connect one (dask.distributed.Client(address)), or search on this machine "
                       "with ShardedIndex.load")
    return client


def _workers(client) -> list[str]:
    workers = sorted(client.scheduler_info()["workers"])
    if not workers:
        raise L2HError("the Dask cluster has no workers: start some (dask worker SCHEDULER) and try again")
    return workers


def _encode_slice(ckpt_path: str, source: dict, start: int, stop: int, make_index, folder: str, artefact: str,
                  position: int, batch_size: int) -> tuple[str, str, int]:
    """On a worker: encode rows [start, stop) of the data with the checkpoint's model into shard ``position`` of
    the artefact being written in ``folder``; its path, checksum and size."""
    from l2h import checkpoint
    from l2h.data.source import DataSource

    model = _OPEN.get(ckpt_path) or _OPEN.setdefault(ckpt_path, checkpoint.load(ckpt_path)[0])
    data = DataSource(**source).load()
    index = make_index(bits=model.bits)
    for first in range(start, stop, batch_size):
        last = min(first + batch_size, stop)
        index.add(model.encode(data.rows(slice(first, last))), np.arange(first, last, dtype=np.int64))
    path, digest = write_shard(index, folder, artefact, position)
    return str(path), digest, index.ntotal


def build_sharded(client, ckpt_path: str | Path, source: dict, out: str | Path, shard_size: int,
                  index_kind: str = "auto", batch_size: int = 65536, make_index=None):
    """Encode every row of ``source`` (DataSource keywords) on the cluster, ``shard_size`` rows per shard, and
    write the searchable artefact at ``out`` (the model and the list of shards; ids are the rows' numbers).

    Each shard's index is ``make_index(bits=...)`` (an index config's partial, as index.py builds it, sent to the
    workers as it is), or by default ``l2h.index.make(index_kind, bits=...)``."""
    from l2h import checkpoint
    from l2h.data.source import DataSource
    from l2h.index.factory import make
    from l2h.searcher import Searcher

    client = _client(client)
    if not isinstance(shard_size, int) or shard_size < 1:
        raise L2HError(f"shard_size must be a positive integer, got {shard_size!r}")
    model, _ = checkpoint.load(ckpt_path)
    make_index = make_index or functools.partial(make, index_kind)
    make_index(bits=model.bits)  # a kind or setting these codes cannot take is refused here, before the workers
    n = DataSource(**source).load().n
    shards = ShardedIndex(model.bits, shard_size=shard_size)
    writing = shards.begin(out)  # a new folder for this artefact's shards (l2h.index.sharded)
    try:
        tasks = [client.submit(_encode_slice, str(Path(ckpt_path).resolve()), source, start,
                               min(start + shard_size, n), make_index, str(writing.folder.resolve()),
                               writing.artefact, i, batch_size, pure=False)
                 for i, start in enumerate(range(0, n, shard_size))]
        for i, (path, digest, ntotal) in enumerate(client.gather(tasks)):
            spec = {"path": path, "artefact": writing.artefact, "position": i, "digest": digest, "ntotal": ntotal}
            shards.add_shard(open_shard(spec, model.bits), Path(path), digest)
    except BaseException:
        shards.abort()
        raise
    searcher = Searcher(model, shards)
    searcher.save(out)
    return searcher


def _shard_answer(specs: list[dict], bits: int, queries_or_codes, mode: str, arg: int):
    """On a worker: the merged answer of the shards it holds, each checked to be the shard listed when opened."""
    parts = []
    for spec in specs:
        path = spec["path"]  # named after its content and its artefact's save: no other file has this name
        shard = _OPEN.get(path) or _OPEN.setdefault(path, open_shard(spec, bits))
        if shard.ntotal == 0:
            continue
        parts.append(shard.search(queries_or_codes, min(arg, shard.ntotal)) if mode == "knn"
                     else shard.range_search(queries_or_codes, arg))
    return parts


class DistributedSearcher:
    """A sharded artefact searched on a Dask cluster: raw vectors in, ``(D, I)`` or ``(lims, D, I)`` out, the
    same answers as :class:`~l2h.searcher.Searcher` on one machine."""

    def __init__(self, client, path: str | Path):
        from l2h.searcher import Searcher

        self.client = _client(client)
        self.path = str(Path(path).resolve())
        local = Searcher.load(self.path)
        if not isinstance(local.index, ShardedIndex):
            raise L2HError(f"{path} is not a sharded index: build it with shards (index.py shard_size=...)")
        self.model, self.bits, self.ntotal = local.model, local.bits, local.ntotal
        workers = _workers(self.client)
        specs = local.index.shard_specs()
        # each worker gets an equal run of consecutive shards
        per = math.ceil(len(specs) / len(workers)) if specs else 0
        self.assignment = {w: specs[i * per:(i + 1) * per] for i, w in enumerate(workers)
                           if specs[i * per:(i + 1) * per]}

    def _ask(self, vectors, mode: str, arg: int):
        codes = self.model.encode(vectors)
        shared = self.client.scatter(codes, broadcast=True, hash=False)  # fresh key: no race with the last release
        tasks = [self.client.submit(_shard_answer, paths, self.bits, shared, mode, arg, workers=[w], pure=False)
                 for w, paths in self.assignment.items()]
        return [part for parts in self.client.gather(tasks) for part in parts], codes.shape[0]

    def search(self, vectors, k: int, radius: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise L2HError(f"k must be a positive integer, got {k!r}")
        if radius is not None:
            return first_k(*self.range_search(vectors, radius), k)
        parts, nq = self._ask(vectors, "knn", k)
        if not parts:
            return np.full((nq, k), -1, dtype=np.int32), np.full((nq, k), -1, dtype=np.int64)
        D, I = merge_knn(parts, k)
        if D.shape[1] < k:  # fewer items than k in the whole index: pad as FAISS does
            pad = k - D.shape[1]
            D = np.concatenate([D, np.full((nq, pad), -1, dtype=np.int32)], 1)
            I = np.concatenate([I, np.full((nq, pad), -1, dtype=np.int64)], 1)
        return D, I

    def range_search(self, vectors, radius: int):
        if not isinstance(radius, int) or isinstance(radius, bool) or not 0 <= radius <= self.bits:
            raise L2HError(f"radius must be an integer in 0..{self.bits}, got {radius!r}")
        parts, nq = self._ask(vectors, "range", radius)
        if not parts:
            return np.zeros(nq + 1, dtype=np.int64), np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int64)
        return merge_ranges(parts, nq)
