"""l2h's search beside the other binary search engines: FAISS (Flat, Hash, MultiHash, IVF, HNSW), pynear (MIH, IVF,
VP-tree) and usearch (exact and HNSW), on the same codes, at one and at all threads, in one run.

    python benchmarks/peers.py                          # 1,000,000 codes, 1,000 queries, 64/128/512 bits
    python benchmarks/peers.py --n 100000 --bits 512 --data neardup --threads 1
    python benchmarks/peers.py --tiny                   # seconds: what tests/test_bench_peers.py runs

Workloads: codes of 64, 128 and 512 bits, ``clustered`` (sign random projections of a Gaussian mixture, as
benchmarks/search.py), ``random`` (uniform bits) and ``neardup`` (groups of ten near duplicates, 2% of the bits
flipped, queried with another near duplicate of a group: pynear's benchmark); exact k-NN (k = 10) and range search
(radius 2 by default). Each time is the best of ``--repeat`` runs, in seconds per 1000 queries, and its ratio to
l2h's ``auto`` index (the default ``index=auto``) measured in the same run on the same codes.

Every exact engine's k-NN distances are checked against brute force (numpy popcounts over every code) on the first
``--check`` queries, and l2h's ids too (ties broken by id); an approximate engine's recall is the share of the
true k nearest distances it returns (tie-aware: any item at the k-th distance counts). Range results are checked
as sets. The peers are optional (``pip install .[peers]``): one that is not installed is skipped, and the table
says so. This module never imports torch: FAISS and torch in one process have crashed on some platforms."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from l2h import codes as codes_mod
from l2h.index import FlatIndex, MultiIndexHash, auto, set_num_threads

# ---------------------------------------------------------------------------------------------- workloads

def make_codes(kind: str, n: int, nq: int, bits: int, seed: int = 0):
    """(database, queries) packed codes of one workload."""
    rng = np.random.default_rng(seed)
    nbytes = codes_mod.n_bytes(bits)
    if kind == "clustered":
        from benchmarks.search import structured_codes

        return structured_codes(n, nq, bits, seed=seed)
    if kind == "random":
        return (rng.integers(0, 256, (n, nbytes), dtype=np.uint8), rng.integers(0, 256, (nq, nbytes), dtype=np.uint8))
    if kind == "neardup":
        seeds = rng.integers(0, 256, (max(1, n // 10), nbytes), dtype=np.uint8)

        def near(rows):
            flips = codes_mod.pack(rng.random((len(rows), bits)) < 0.02)
            return seeds[rows] ^ flips

        return near(np.arange(n) % len(seeds)), near(rng.integers(0, len(seeds), nq))
    raise SystemExit(f"unknown data {kind!r}: choose clustered, random or neardup")


BYTE_POPCOUNT = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(1).astype(np.uint16)


def brute_distances(query, db):
    """Hamming distance from one packed query to every code: a table of byte popcounts, summed."""
    return BYTE_POPCOUNT[query[None, :] ^ db].sum(1, dtype=np.int64)


def brute_knn_distances(queries, db, k):
    """The k smallest distances of each query, by a full sort over every code."""
    return np.stack([np.sort(brute_distances(q, db))[:min(k, len(db))] for q in queries])


def brute_range(queries, db, radius):
    return [np.flatnonzero(brute_distances(q, db) <= radius) for q in queries]


def recall(D_found, I_found, true_D):
    """Share of the true k nearest covered: per query, the found items (id >= 0) at a distance <= the true k-th."""
    kth = true_D[:, -1:]
    hits = ((D_found <= kth) & (I_found >= 0)).sum(1)
    return float(np.minimum(hits, true_D.shape[1]).sum() / true_D.size)


# ---------------------------------------------------------------------------------------------- engines

@dataclass
class Engine:
    name: str
    exact: bool
    build: Callable  # (db, bits) -> object
    knn: Callable | None = None  # (object, queries, k) -> (D, I) int arrays
    range: Callable | None = None  # (object, queries, radius) -> list of id arrays (inclusive radius)
    threads: Callable | None = None  # (n) -> None: set this engine's thread count


def l2h_engines(bits):
    def lims_sets(out):
        lims, _, I = out
        return [np.sort(I[lims[q]:lims[q + 1]]) for q in range(len(lims) - 1)]

    def index(make):
        def build(db, bits):
            made = make(bits)
            made.add(db)
            return made
        return build

    made = [("l2h auto", lambda b: auto(b)), ("l2h FlatIndex", FlatIndex),
            (f"l2h MultiIndexHash(m={max(2, bits // 16)})", lambda b: MultiIndexHash(b, max(2, b // 16)))]
    return [Engine(name, True, index(make), knn=lambda ix, q, k: ix.search(q, k),
                   range=lambda ix, q, r: lims_sets(ix.range_search(q, r)), threads=set_num_threads)
            for name, make in made]


def faiss_engines(bits, nlist):
    import faiss

    def sets(out):
        lims, _, I = out
        return [np.sort(I[lims[q]:lims[q + 1]]) for q in range(len(lims) - 1)]

    def built(index, db, train=False):
        if train:
            index.train(db)
        index.add(db)
        return index

    def ivf(db, b):
        index = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(b), b, nlist)
        index.nprobe = 16
        return built(index, db, train=True)

    def hashed(db, b):  # b <= 64 bits hashed: the first min(bits, 64) bits, probing 2 flips
        index = faiss.IndexBinaryHash(b, min(b, 64))
        index.nflip = 2
        return built(index, db)

    def multi(db, b):
        index = faiss.IndexBinaryMultiHash(b, max(2, b // 16), 16)
        index.nflip = 2
        return built(index, db)

    threads = faiss.omp_set_num_threads
    knn = lambda ix, q, k: ix.search(q, k)  # noqa: E731
    strict = lambda ix, q, r: sets(ix.range_search(q, r + 1))  # noqa: E731  FAISS's radius is strict
    return [Engine("FAISS IndexBinaryFlat", True, lambda db, b: built(faiss.IndexBinaryFlat(b), db), knn, strict,
                   threads),
            Engine("FAISS IndexBinaryHash (nflip 2)", False, hashed, knn, None, threads),
            Engine("FAISS IndexBinaryMultiHash (nflip 2)", False, multi, knn, None, threads),
            Engine(f"FAISS IndexBinaryIVF (nlist {nlist}, nprobe 16)", False, ivf, knn, None, threads),
            Engine("FAISS IndexBinaryHNSW (M 32)", False, lambda db, b: built(faiss.IndexBinaryHNSW(b, 32), db), knn,
                   None, threads)]


def pynear_engines(bits, nlist):
    import pynear

    def built(index, db):
        index.set(db)
        return index

    def arrays(ix, q, k, **kw):
        I, D = ix.searchKNN_arrays(q, k, **kw)
        I = np.asarray(I, dtype=np.int64)
        return np.where(I >= 0, np.asarray(D), np.iinfo(np.int64).max), I

    vp = getattr(pynear, f"VPTreeBinaryIndex{bits}", pynear.VPTreeBinaryIndexN)
    nbytes = codes_mod.n_bytes(bits)
    m = max(1, nbytes // 2)  # 16-bit substrings (pynear needs bytes divisible by m)
    radius = max(8, bits // 8)
    # pynear's thread count is its OpenMP setting, fixed when it is imported (OMP_NUM_THREADS)
    return [Engine(f"pynear VPTreeBinaryIndex{bits if vp is not pynear.VPTreeBinaryIndexN else 'N'}", True,
                   lambda db, b: built(vp(), db), arrays),
            Engine(f"pynear MIHBinaryIndex (m {m}, radius {radius})", False,
                   lambda db, b: built(pynear.MIHBinaryIndex(m), db), lambda ix, q, k: arrays(ix, q, k, radius=radius)),
            Engine(f"pynear IVFFlatBinaryIndex (nlist {nlist}, nprobe 16)", False,
                   lambda db, b: built(pynear.IVFFlatBinaryIndex(nlist, 16), db), arrays)]


def usearch_engines(bits):
    from usearch.index import Index, MetricKind, search

    state = {"threads": 0}

    def threads(n):
        state["threads"] = n

    def exact(db, q, k):
        found = search(db, q, k, MetricKind.Hamming, exact=True, threads=state["threads"], dtype="b1")
        return np.asarray(found.distances, dtype=np.int64), np.asarray(found.keys, dtype=np.int64)

    def hnsw(db, b):
        index = Index(ndim=b, metric=MetricKind.Hamming, dtype="b1", connectivity=32)
        index.add(np.arange(len(db)), db, threads=state["threads"])
        return index

    def hnsw_knn(ix, q, k):
        found = ix.search(q, k, threads=state["threads"])
        return np.asarray(found.distances, dtype=np.int64), np.asarray(found.keys, dtype=np.int64)

    return [Engine("usearch exact", True, lambda db, b: db, lambda db, q, k: exact(db, q, k), None, threads),
            Engine("usearch HNSW (M 32)", False, hnsw, hnsw_knn, None, threads)]


def engines(bits, nlist, skipped):
    found = l2h_engines(bits)
    for name, make in (("faiss", lambda: faiss_engines(bits, nlist)), ("pynear", lambda: pynear_engines(bits, nlist)),
                       ("usearch", lambda: usearch_engines(bits))):
        try:
            found += make()
        except ImportError:
            skipped.add(name)
    return found


# ---------------------------------------------------------------------------------------------- the run

def best_time(fn, repeat):
    best, out = math.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def run(args):
    skipped: set[str] = set()
    rows = []
    for bits in args.bits:
        for data in args.data:
            db, queries = make_codes(data, args.n, args.queries, bits)
            check = queries[:args.check]
            true_D = brute_knn_distances(check, db, args.k)
            true_sets = brute_range(check, db, args.radius)
            nlist = max(4, int(math.sqrt(args.n)))
            for engine in engines(bits, nlist, skipped):
                if args.engines and not any(word.lower() in engine.name.lower() for word in args.engines):
                    continue
                start = time.perf_counter()
                try:
                    index = engine.build(db, bits)
                except Exception as exc:  # a peer that refuses these codes (a width it lacks) is reported, not fatal
                    rows.append({"bits": bits, "data": data, "engine": engine.name, "note": f"not built: {exc}"[:80]})
                    continue
                row = {"bits": bits, "data": data, "engine": engine.name, "exact": engine.exact,
                       "build s": time.perf_counter() - start}
                for threads in args.threads:
                    if engine.threads:
                        engine.threads(threads)
                    engine.knn(index, queries[:2], args.k)  # compiles l2h's kernels outside the timings
                    t, (D, I) = best_time(lambda: engine.knn(index, queries, args.k), args.repeat)
                    row[f"knn {threads}t"] = 1000 * t / len(queries)
                    D, I = np.asarray(D)[:len(check)], np.asarray(I)[:len(check)]
                    if engine.exact:
                        ok = np.array_equal(np.asarray(D, dtype=np.int64), true_D)
                        row["checked"] = row.get("checked", True) and ok
                    else:
                        row["recall"] = recall(np.asarray(D, dtype=np.int64), I, true_D)
                    if engine.range:
                        t, sets = best_time(lambda: engine.range(index, queries, args.radius), args.repeat)
                        row[f"radius {threads}t"] = 1000 * t / len(queries)
                        same = all(np.array_equal(a, b) for a, b in zip(sets[:len(check)], true_sets))
                        row["checked"] = row.get("checked", True) and same
                if engine.name.startswith("l2h") and hasattr(index, "search"):
                    index.search(queries, args.k)
                    row["plan"] = index.last_plan
                rows.append(row)
                print(f"measured {row}", file=sys.stderr, flush=True)  # progress of a long run
    return rows, skipped


def table(rows, args, skipped) -> str:
    """One markdown table: per workload and engine, seconds per 1000 queries at each thread count and the ratio to
    l2h auto's time in the same run."""
    cols = [f"{what} {t}t" for what in ("knn", "radius") for t in args.threads]
    lines = ["| bits | data | engine | exact | " + " | ".join(f"{c} s/1000q (x l2h auto)" for c in cols)
             + " | recall@k | checked | build s |", "|" + "---|" * (7 + len(cols))]
    reference = {}
    for row in rows:
        if row["engine"] == "l2h auto":
            reference[(row["bits"], row["data"])] = row
    for row in rows:
        if "note" in row:
            lines.append(f"| {row['bits']} | {row['data']} | {row['engine']} | | {row['note']} |")
            continue
        ref = reference.get((row["bits"], row["data"]), {})
        cells = []
        for c in cols:
            if c not in row:
                cells.append("")
            else:
                ratio = f" ({row[c] / ref[c]:.2f})" if ref.get(c) else ""
                cells.append(f"{row[c]:.4f}{ratio}")
        lines.append(f"| {row['bits']} | {row['data']} | {row['engine']} | {'yes' if row['exact'] else 'no'} | "
                     + " | ".join(cells) + f" | {row.get('recall', ''):{'.3f' if 'recall' in row else ''}} | "
                     + f"{row.get('checked', '')} | {row['build s']:.2f} |")
    notes = [f"{args.n} codes, {args.queries} queries, k = {args.k}, radius {args.radius}; threads {args.threads} "
             f"(this machine has {os.cpu_count()} cores)"]
    if skipped:
        notes.append(f"not installed, skipped: {', '.join(sorted(skipped))} (pip install .[peers])")
    notes.append("pynear's threads are its OpenMP setting at import (OMP_NUM_THREADS), the same at every column")
    plans = {(r["bits"], r["data"]): r["plan"] for r in rows if r.get("plan") and r["engine"] == "l2h auto"}
    return "\n".join(lines + [""] + notes + [f"l2h auto, {b} bits {d}: {p}" for (b, d), p in plans.items()])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python benchmarks/peers.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="database codes")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--bits", type=int, nargs="+", default=[64, 128, 512])
    parser.add_argument("--data", nargs="+", default=["clustered", "random", "neardup"])
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--radius", type=int, default=2)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing; the best is kept")
    parser.add_argument("--check", type=int, default=20, help="queries checked against brute force")
    parser.add_argument("--engines", nargs="+", help="only the engines whose name holds one of these words")
    parser.add_argument("--tiny", action="store_true", help="2000 codes, 20 queries, every query checked")
    args = parser.parse_args(argv)
    if args.tiny:
        args.n, args.queries, args.check, args.repeat = 2000, 20, 20, 1
    args.threads = sorted(set(args.threads))
    rows, skipped = run(args)
    print(table(rows, args, skipped))
    return rows


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # for benchmarks.search
    main()
