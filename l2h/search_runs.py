"""The runs behind ``index.py`` and ``search.py``: encode a database with a trained model into a searchable
artefact, and search it with raw query vectors, writing results in FAISS's shapes."""

from __future__ import annotations

import io as bytes_io
import time
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from l2h import atomic, checkpoint, checks
from l2h.data.dataset import chunk_rows
from l2h.errors import L2HError
from l2h.index.union import index_for_model
from l2h.pipeline import build, with_training_settings
from l2h.searcher import Searcher


def _progress(total: int, what: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=" items", desc=what, disable=not enabled, mininterval=0.5)


def load_ids(path, n: int) -> np.ndarray:
    """The user's ids for the n database rows, from a .npy file: one non-negative integer per row."""
    try:
        ids = np.load(Path(path).expanduser(), allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise L2HError(f"ids_path={path} is not a readable .npy file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}): give one int64 "
                       "id per database row") from None
    if ids.ndim != 1 or len(ids) != n or not np.issubdtype(ids.dtype, np.integer):
        raise L2HError(f"ids_path={path} holds {ids.dtype} {ids.shape}, not {n} integer ids (one per database row)")
    if n and ids.min() < 0:
        raise L2HError(f"ids_path={path} holds negative ids: -1 marks 'no result', so ids must be >= 0")
    if np.unique(ids).size != n:
        raise L2HError(f"ids_path={path} repeats ids: give every database row its own id")
    return ids.astype(np.int64)


def dask_client(workers: str):
    """A Dask client: ``local:N`` starts a cluster of N worker processes on this machine, anything else is the
    address of a running scheduler."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise L2HError("workers=... needs Dask: pip install \"l2h[dask]\"") from None
    if str(workers).startswith("local:"):
        count = checks.positive("the worker count of workers=local:N", int(str(workers).split(":", 1)[1] or 0))
        return Client(LocalCluster(n_workers=count, threads_per_worker=1, processes=True, dashboard_address=None))
    return Client(str(workers))


def build_index(cfg: DictConfig, output_dir: Path, overridden: set[str] | None = None) -> dict:
    """Encode every row of the data file with the checkpoint's model, in chunks, into one artefact at ``out``;
    with ``shard_size``, into shard files written as they fill (on this machine, or by Dask ``workers``)."""
    if not cfg.get("ckpt_path"):
        raise L2HError("no checkpoint given: pass ckpt_path=/path/to/model.ckpt from a training run")
    batch_size = checks.positive("batch_size", cfg.batch_size)
    shard_size = None if cfg.get("shard_size") is None else checks.positive("shard_size", cfg.shard_size)
    if cfg.get("workers") and shard_size is None:
        raise L2HError("workers=... builds shards: give shard_size=N (rows per shard) too")
    model, meta = checkpoint.load(cfg.ckpt_path)
    # the training run's data unless data=... is given (its notes are about scores: index.py computes none)
    cfg, _ = with_training_settings(cfg, meta, overridden or set(), keys=("data",))
    make_index = build(cfg.index, "index")
    make_index(bits=model.bits)  # an index that cannot hold these codes is refused before any encoding
    if shard_size and model.tables > 1:
        raise L2HError(f"{cfg.ckpt_path} holds {model.tables} hash tables, which l2h does not shard yet: drop "
                       "shard_size (and workers) to index them in one file")
    model.on(cfg.get("device"))  # indexing.yaml's device (the Dask workers encode on their own CPUs)
    out = Path(cfg.out) if cfg.get("out") else output_dir / "index.l2h"
    atomic.ensure_folder(out.parent)
    source = build(cfg.data, "data")
    data = source.load()
    if data.dim != model.in_dim:
        raise L2HError(f"{data.name} has {data.dim}-dimensional features but the model takes {model.in_dim}: index "
                       "data of the kind the model was trained on")
    ids = load_ids(cfg.ids_path, data.n) if cfg.get("ids_path") else None
    batch_size = chunk_rows(data.dim, batch_size)  # large items (224-pixel images) come in fewer rows a chunk
    start = time.perf_counter()
    if cfg.get("workers"):
        if ids is not None:
            raise L2HError("workers=... indexes rows under their row numbers: drop ids_path, or build on this machine")
        from l2h.distributed import build_sharded

        with dask_client(cfg.workers) as client:  # each shard's index built by the same factory as here
            searcher = build_sharded(client, cfg.ckpt_path, _container(cfg.data), out, shard_size,
                                     batch_size=batch_size, make_index=make_index)
    else:
        from l2h.index.sharded import ShardedIndex

        index = ShardedIndex(model.bits, shard_size=shard_size, make_shard=make_index) if shard_size else \
            index_for_model(make_index, model)
        searcher = Searcher(model, index)
        with _progress(data.n, "encoding and indexing", cfg.progress) as bar:
            for first, block in data.chunks(batch_size):
                searcher.add(block, None if ids is None else ids[first:first + len(block)], batch_size)
                if shard_size:
                    index.flush(out)  # filled shards go to disk as they are made, and leave memory
                bar.update(len(block))
        if shard_size:
            index.flush(out, keep_last=False)
        searcher.save(out)
    seconds = time.perf_counter() - start
    return {"index_path": str(out.resolve()), "items": searcher.ntotal, "bits": model.bits,
            "index": type(searcher.index).__name__, "dataset": data.name, "seconds": seconds,
            "ids": "given" if ids is not None else "row numbers of the data file"}


def _container(node) -> dict:
    """A data config as DataSource keywords for other processes, its files' paths made absolute."""
    from omegaconf import OmegaConf

    values = OmegaConf.to_container(node, resolve=True)
    values.pop("_target_", None)
    for key in ("path", "labels_path", "queries_path", "ground_truth_path", "root", "train", "test", "database"):
        if values.get(key):
            values[key] = str(Path(values[key]).expanduser().resolve())
    return values


def index_table(summary: dict) -> str:
    return (f"indexed {summary['items']} items of {summary['dataset']} ({summary['bits']}-bit codes, "
            f"{summary['index']}, ids: {summary['ids']}) in {summary['seconds']:.2f} s\n"
            f"index: {summary['index_path']}")



def _search_batches(searcher, queries, k, radius, batch_size: int, progress: bool):
    """Each batch's answer, and the seconds spent searching (reading the queries not counted). ``k`` None: a
    range search; ``radius`` None: k-NN; both: the k nearest within the radius."""
    parts, seconds = [], 0.0
    with _progress(len(queries), "searching", progress) as bar:
        for first in range(0, len(queries), batch_size):
            block = np.asarray(queries[first:first + batch_size])
            start = time.perf_counter()
            parts.append(searcher.range_search(block, radius) if k is None else searcher.search(block, k, radius))
            seconds += time.perf_counter() - start
            bar.update(len(block))
    return parts, seconds


def _timed_search(searcher, queries, k, radius, batch_size: int, progress: bool):
    """``(parts, seconds, warm-up seconds)``: the first query is searched alone first, and not counted: it compiles
    the search kernels on their first use on this machine (or loads them from numba's cache), which a throughput
    figure must not include."""
    warmup = _search_batches(searcher, queries[:1], k, radius, 1, False)[1]
    return (*_search_batches(searcher, queries, k, radius, batch_size, progress), warmup)


def search(cfg: DictConfig, output_dir: Path, overridden: set[str] | None = None) -> dict:
    """Search the artefact with every query vector of ``queries.path``; results go to ``out`` (results.npz)."""
    from l2h.data.source import read_features
    from l2h.index import get_num_threads, set_num_threads

    if not cfg.get("index_path"):
        raise L2HError("no index given: pass index_path=/path/to/index.l2h written by index.py")
    if not cfg.queries.get("path"):
        raise L2HError("no queries given: pass queries.path=/path/to/queries (.npy, .npz, .fvecs, .hdf5, ...)")
    radius, k = cfg.get("radius"), cfg.get("k")
    if radius is not None and "k" not in (overridden or set()):
        k = None  # radius alone: every item within it; with k too, the k nearest of those
    if k is not None:
        checks.positive("k", k)
    batch_size = checks.positive("batch_size", cfg.batch_size)
    if cfg.get("threads") is not None:
        set_num_threads(checks.positive("threads", cfg.threads))
    searcher = Searcher.load(cfg.index_path)
    searcher.model.on(cfg.get("device"))  # search.yaml's device
    queries = read_features(cfg.queries.path, cfg.queries.get("format"), cfg.queries.get("key"), setting="queries.path",
                            queries=True)
    out = Path(cfg.out) if cfg.get("out") else output_dir / "results.npz"
    atomic.ensure_folder(out.parent)
    if cfg.get("workers"):
        from l2h.distributed import DistributedSearcher
        from l2h.index.sharded import ShardedIndex

        if not isinstance(searcher.index, ShardedIndex):  # refused before a cluster is started
            raise L2HError(f"{cfg.index_path} is not a sharded index: build it with shards (index.py shard_size=...)"
                           ", or search it on this machine without workers=")
        with dask_client(cfg.workers) as client:
            searcher = DistributedSearcher(client, cfg.index_path)
            parts, seconds, warmup = _timed_search(searcher, queries, k, radius, batch_size, cfg.progress)
    else:
        parts, seconds, warmup = _timed_search(searcher, queries, k, radius, batch_size, cfg.progress)
    if k is not None:
        D = np.concatenate([p[0] for p in parts]) if parts else np.empty((0, k), np.int32)
        I = np.concatenate([p[1] for p in parts]) if parts else np.empty((0, k), np.int64)
        results, found = {"D": D, "I": I}, (I >= 0).sum(1)
    else:
        sizes = np.concatenate([np.diff(p[0]) for p in parts]) if parts else np.empty(0, np.int64)
        lims = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        results = {"lims": lims, "D": np.concatenate([p[1] for p in parts]) if parts else np.empty(0, np.int32),
                   "I": np.concatenate([p[2] for p in parts]) if parts else np.empty(0, np.int64)}
        found = sizes
    buffer = bytes_io.BytesIO()
    np.savez(buffer, **results)
    atomic.write_bytes(out, buffer.getvalue())
    n = len(queries)
    return {"results_path": str(out.resolve()), "queries": n, "k": k,
            "radius": radius, "mean_results": float(found.mean()) if n else 0.0,
            "empty_fraction": float((found == 0).mean()) if n else 0.0, "seconds": seconds,
            "queries_per_second": n / seconds if seconds > 0 else float("inf"), "warmup_seconds": warmup,
            "threads": get_num_threads(),
            "items": searcher.ntotal, "bits": searcher.bits, "workers": cfg.get("workers"),
            "plan": getattr(getattr(searcher, "index", None), "last_plan", None)}


def search_table(summary: dict) -> str:
    asked = " within ".join(f"{key}={summary[key]}" for key in ("k", "radius") if summary[key] is not None)
    return (f"searched {summary['queries']} queries ({asked}) in {summary['items']} items of {summary['bits']} bits "
            f"on {summary['workers'] or str(summary['threads']) + ' threads'}: {summary['seconds']:.3f} s, {summary['queries_per_second']:.0f} "
            f"queries/s, {summary['mean_results']:.1f} results per query, {summary['empty_fraction']:.1%} with none\n"
            f"warm-up: the first query alone took {summary['warmup_seconds']:.2f} s, not counted (it compiles the "
            "search kernels on their first use on this machine, or loads them from numba's cache)\n"
            + (f"plan: {summary['plan']}\n" if summary.get("plan") else "")
            + f"results: {summary['results_path']}")
