"""Batch search across threads: l2h at 1 and 2 threads (``l2h.index.set_num_threads``) against FAISS at 1 and 2
(``faiss.omp_set_num_threads``), on the same codes, in one run.

    python benchmarks/threads.py                     # 1,000,000 codes, 10,000 queries
    python benchmarks/threads.py --n 200000 --queries 2000 --threads 1 2 4

Rows: k-NN (k = 10) and range search (radius 2, inclusive; FAISS gets 3, its radius being strict) for
HashIndex and FlatIndex on 32-bit codes and MultiIndexHash on 64-bit codes (m = 4), each against its FAISS
counterpart (IndexBinaryHash with b = bits and nflip = 2, IndexBinaryMultiHash with the same m and
nflip = 2 // m, IndexBinaryFlat). Codes are sign projections of clustered data (benchmarks/search.py). Each
figure is the best of ``--repeat`` runs; "cores busy" is the process's CPU time over the wall time of that run,
which shows when other work on a shared machine left the threads fewer cores than they asked for. l2h's results are checked identical at every thread count; FAISS's
hash indexes answer k-NN only from the buckets within nflip (approximate), and the table says whether their
distances match the exact ones. This script never imports torch."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from l2h.index import FlatIndex, HashIndex, MultiIndexHash, set_num_threads  # noqa: E402
from search import structured_codes  # noqa: E402


def best(fn, repeat):
    """Fastest wall time of ``repeat`` runs, the cores that run kept busy (process CPU time / wall time: on a
    machine shared with other work, fewer than the threads asked for), and the last result."""
    fastest, busy, result = math.inf, 0.0, None
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall = time.perf_counter() - start
        if wall < fastest:
            fastest, busy = wall, (time.process_time() - cpu) / wall
    return fastest, busy, result


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python benchmarks/threads.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--kinds", nargs="+", default=["hash", "mih", "flat"])
    parser.add_argument("--no-faiss", action="store_true")
    args = parser.parse_args(argv)
    faiss = None
    if not args.no_faiss:
        try:
            import faiss
        except ImportError:
            print("FAISS is not installed (pip install faiss-cpu): printing l2h's figures only")
    print(f"{args.n} codes, {args.queries} queries, {os.cpu_count()} cores (load average "
          f"{os.getloadavg()[0]:.1f} before the run); threads {args.threads}; best of {args.repeat}\n")
    # kind: bits, l2h's index, FAISS's, FAISS's nflip, and the radius whose ball holds the buckets FAISS's k-NN
    # reads (HashIndex: nflip; MultiIndexHash: every substring exact, which radius m - 1 probes)
    setups = {"hash": (32, lambda: HashIndex(32), faiss and (lambda: faiss.IndexBinaryHash(32, 32)), 2, 2),
              "mih": (64, lambda: MultiIndexHash(64, 4), faiss and (lambda: faiss.IndexBinaryMultiHash(64, 4, 16)),
                      2 // 4, 3),
              "flat": (32, lambda: FlatIndex(32), faiss and (lambda: faiss.IndexBinaryFlat(32)), None, None)}
    header = ["engine", "index", "task"] + [f"{t} thread{'s' * (t > 1)} s" for t in args.threads] + \
             [f"speed-up {t}/{args.threads[0]}" for t in args.threads[1:]] + \
             [f"cores busy at {t}" for t in args.threads] + ["note"]
    rows = []
    data = {}

    def measure(engine, index, task, run, set_threads, note):
        times, busy, results = [], [], []
        for t in args.threads:
            set_threads(t)
            seconds, cores, result = best(run, args.repeat)
            times.append(seconds)
            busy.append(cores)
            results.append(result)
        rows.append([engine, type(index).__name__, task] + [f"{s:.3f}" for s in times] +
                    [f"{times[0] / s:.2f}x" for s in times[1:]] + [f"{b:.2f}" for b in busy] + [note(results)])
        return results[0]

    def identical(results):
        same = all(all(np.array_equal(a, b) for a, b in zip(results[0], r)) for r in results[1:])
        return f"identical at every count: {same}"

    for kind in args.kinds:
        bits, ours_factory, theirs_factory, nflip, ball = setups[kind]
        if bits not in data:
            data[bits] = structured_codes(args.n, args.queries, bits)
        db, queries = data[bits]
        ours = ours_factory()
        ours.add(db)
        ours.search(queries[:4], 10)
        ours.range_search(queries[:4], 2)  # compile outside the timings
        exact = measure("l2h", ours, "knn k=10", lambda: ours.search(queries, 10), set_num_threads, identical)[0]
        within = None
        if ball is not None:
            within = measure("l2h", ours, f"knn k=10 within r={ball}", lambda: ours.search(queries, 10, ball),
                             set_num_threads, identical)
        measure("l2h", ours, "range r=2", lambda: ours.range_search(queries, 2), set_num_threads, identical)
        set_num_threads(None)
        if theirs_factory is None:
            continue
        theirs = theirs_factory()
        theirs.add(db)
        if nflip is not None:
            theirs.nflip = nflip

        def knn_note(results):
            D = results[0][0]
            note = f"distances exact: {np.array_equal(D, exact)}"
            if within is not None:  # where l2h found an item within the ball, FAISS's k-NN has the same distance
                found = within[1] >= 0
                note += f"; equal to l2h's within r={ball} where l2h found one: {np.array_equal(D[found], within[0][found])}"
            return note

        measure("FAISS", theirs, "knn k=10", lambda: theirs.search(queries, 10), faiss.omp_set_num_threads, knn_note)
        measure("FAISS", theirs, "range r=2", lambda: theirs.range_search(queries, 3), faiss.omp_set_num_threads,
                lambda results: "")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
