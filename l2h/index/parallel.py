"""Batch searches across threads: the compiled kernels release the GIL (numba ``nogil=True``), so a batch of
queries is cut into chunks searched at once by a pool of threads, then put back together in query order.
Queries are answered independently, so the results are identical whatever the number of threads.

All cores by default (those this process may run on); ``set_num_threads(1)`` searches in the calling thread."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from l2h.codes import is_integer
from l2h.errors import L2HError


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


_threads = _cores()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_pid = 0
_lock = threading.Lock()

# chunks per thread: a few, so that a thread slowed by other work on the machine does not hold up the batch
CHUNKS_PER_THREAD = 4


def set_num_threads(n: int | None = None) -> None:
    """Threads that batch searches use: ``n`` >= 1, or None for every core this process may use."""
    global _threads
    if n is None:
        n = _cores()
    if not is_integer(n) or n < 1:
        raise L2HError(f"the number of threads must be a positive integer (or None for all cores), got {n!r}")
    _threads = int(n)


def get_num_threads() -> int:
    return _threads


def _executor(size: int) -> ThreadPoolExecutor:
    """The pool of ``size`` threads; a new one in a forked child, where the parent's threads do not exist (its
    pool would take the tasks and never run them)."""
    global _pool, _pool_size, _pool_pid
    with _lock:
        if _pool is None or _pool_size != size or _pool_pid != os.getpid():
            if _pool is not None and _pool_pid == os.getpid():
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="l2h-search")
            _pool_size, _pool_pid = size, os.getpid()
        return _pool


def chunk_bounds(nq: int, threads: int | None = None) -> list[tuple[int, int]]:
    threads = _threads if threads is None else threads
    chunks = 1 if threads == 1 else min(nq, threads * CHUNKS_PER_THREAD)
    edges = np.linspace(0, nq, max(chunks, 1) + 1).astype(np.int64)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a] or [(0, 0)]


def map_chunks(nq: int, fn: Callable[[int, int], object]) -> list:
    """``[fn(lo, hi) for each chunk of the nq queries]``, in query order, over the pool when threads > 1."""
    bounds = chunk_bounds(nq)
    if len(bounds) == 1:
        return [fn(*bounds[0])]
    pool = _executor(_threads)
    return [f.result() for f in [pool.submit(fn, lo, hi) for lo, hi in bounds]]


def concat_ranges(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]):
    """Join per-chunk ``(lims, D, I)`` into one, offsetting each chunk's lims."""
    if len(parts) == 1:
        return parts[0]
    lims = [parts[0][0]]
    offset = parts[0][0][-1]
    for p_lims, _, _ in parts[1:]:
        lims.append(p_lims[1:] + offset)
        offset += p_lims[-1]
    return (np.concatenate(lims), np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts]))


def concat_knn(parts: list[tuple[np.ndarray, np.ndarray]]):
    if len(parts) == 1:
        return parts[0]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
