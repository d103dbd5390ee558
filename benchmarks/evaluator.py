"""Evaluator benchmark: every Hamming-ranking metric (mAP by id and tie-aware, mAP@R, P@k, R@k, ball P/R)
over a whole database, against the bare popcount scan of the same codes (the floor), in one process.

    python benchmarks/evaluator.py                               # synthetic labelled codes, 1000 x 59000
    python benchmarks/evaluator.py --cifar ../shared/data/cifar10_gist512.mat
    python benchmarks/evaluator.py --large                       # also 10000 x 1,000,000 (peak memory)

Single-threaded. Peak memory is the resident-set high-water mark of a child process running one case."""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

from l2h import codes as codes_mod
from l2h.data.preprocess import l2_normalise
from l2h.eval.metrics import popcount_floor, ranking_metrics
from l2h.eval.relevance import from_labels


def labelled_codes(n, nq, bits, seed=0, cifar=None):
    """LSH codes of CIFAR-10 GIST (1000 queries, 100 per class, the rest as database) or of labelled clusters."""
    rng = np.random.default_rng(seed)
    if cifar:
        from l2h.data import DataSource

        data = DataSource("cifar10_gist", "mat", cifar, features="X", labels="X_class").load()
        x = l2_normalise(data.features)
        x -= x.mean(0)
        planes = np.random.RandomState(seed).randn(x.shape[1], bits)
        query = np.concatenate([rng.choice(np.flatnonzero(data.labels == c), nq // 10, replace=False)
                                for c in range(10)])
        database = np.setdiff1d(np.arange(data.n), query)
        c = codes_mod.from_scores(x @ planes)
        return c[query], c[database], data.labels[query], data.labels[database]
    dim, clusters = 32, 1000
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    planes = rng.normal(size=(dim, bits)).astype(np.float32)

    def draw(count):
        assign = rng.integers(0, clusters, count)
        out = np.empty((count, codes_mod.n_bytes(bits)), dtype=np.uint8)
        for s in range(0, count, 200_000):
            a = assign[s:s + 200_000]
            out[s:s + len(a)] = codes_mod.from_scores((centres[a] + 0.7 * rng.normal(size=(len(a), dim))) @ planes)
        return out, assign % 10

    (q, qy), (db, dby) = draw(nq), draw(n)
    return q, db, qy, dby


def one_case(n, nq, bits, cifar=None) -> dict:
    q, db, qy, dby = labelled_codes(n, nq, bits, cifar=cifar)
    relevance = from_labels(qy, dby)
    qw, dbw = codes_mod.as_words(q), codes_mod.as_words(db)
    popcount_floor(qw[:2], dbw[:100])
    ranking_metrics(q[:2], db[:100], from_labels(qy[:2], dby[:100]), bits)  # compile outside the timings
    start = time.perf_counter()
    popcount_floor(qw, dbw)
    floor = time.perf_counter() - start
    start = time.perf_counter()
    summary = ranking_metrics(q, db, relevance, bits).summary()
    elapsed = time.perf_counter() - start
    return {"queries": nq, "database": len(db), "bits": bits, "metrics_s": elapsed, "floor_s": floor,
            "ratio": elapsed / floor, "map": summary["map"], "map_tie_aware": summary["map_tie_aware"],
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="benchmarks/evaluator.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cifar", help="CIFAR-10 GIST .mat: use its LSH codes (1000 queries, 59000 database)")
    parser.add_argument("--bits", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--large", action="store_true", help="also 10000 queries x 1,000,000 items")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # n,nq,bits: run one case, print JSON (child mode)
    args = parser.parse_args(argv)
    if args.case:
        n, nq, bits = map(int, args.case.split(","))
        print(json.dumps(one_case(n, nq, bits, cifar=args.cifar)))
        return
    cases = [(59000, 1000, bits) for bits in args.bits] + ([(1_000_000, 10_000, 64)] if args.large else [])
    print("| queries | database | bits | all metrics (s) | popcount floor (s) | ratio | mAP | tie-aware mAP | peak RSS (MiB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n, nq, bits in cases:
        cmd = [sys.executable, __file__, "--case", f"{n},{nq},{bits}"]
        if args.cifar and n == 59000:
            cmd += ["--cifar", args.cifar]
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        print(f"| {r['queries']} | {r['database']} | {r['bits']} | {r['metrics_s']:.3f} | {r['floor_s']:.3f} | "
              f"{r['ratio']:.2f}x | {r['map']:.4f} | {r['map_tie_aware']:.4f} | {r['peak_rss_mib']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
