"""Scale benchmark: a database larger than memory, encoded and indexed in shards, searched on one and on two
local Dask workers, in one run.

    python benchmarks/scale.py --work /path/with/6GB/free                      # 10,000,000 x 128 (5.1 GB)
    python benchmarks/scale.py --work /tmp/scale --items 1000000 --shard-size 250000   # a quick version

1. Writes ``items`` x ``dim`` float32 features (clustered Gaussian data) to a memory-mapped .npy in chunks,
   unless the file is already there.
2. Fits ITQ (64 bits) on a sample of 100,000 items and saves its checkpoint.
3. Builds the sharded index with ``index.py shard_size=...`` in a child process (its peak RSS measured), and
   again on two local Dask workers (``workers=local:2``), each worker's peak RSS measured.
4. Searches 1,000 fresh queries at radius 2 and k = 10 through the Dask searcher on one worker and on two
   (one thread each), and on this process with every core, checking that all answers agree.

Peak memory is the resident-set high-water mark (``ru_maxrss``); the features alone are items x dim x 4 bytes."""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def write_features(path: Path, items: int, dim: int, seed: int = 0, clusters: int = 10000, chunk: int = 500_000):
    """Clustered Gaussian features, written chunk by chunk into a memory-mapped .npy."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(items, dim))
    for start in range(0, items, chunk):
        size = min(chunk, items - start)
        out[start:start + size] = centres[rng.integers(0, clusters, size)] + \
            0.4 * rng.normal(size=(size, dim)).astype(np.float32)
    out.flush()
    del out
    return centres


def fit_model(features: Path, ckpt: Path, bits: int, sample: int, seed: int = 0):
    from l2h import checkpoint
    from l2h.data.preprocess import Preprocessor
    from l2h.hashers.itq import ITQ
    from l2h.model import HashModel

    x = np.load(features, mmap_mode="r")
    rows = np.sort(np.random.default_rng(seed).choice(len(x), min(sample, len(x)), replace=False))
    train = np.asarray(x[rows], dtype=np.float32)
    preprocess = Preprocessor(x.shape[1]).fit(train)
    encoder = ITQ(bits, seed=seed).fit(preprocess.transform(train))
    checkpoint.save(ckpt, HashModel(preprocess, encoder), {"model": "itq", "config": {}})


def child_peak(cmd: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of a command and the processes it waits for, measured by a wrapper process of
    its own so that one command's peak is not another's."""
    wrapper = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
               "sys.stderr.write(done.stderr[-3000:]) if done.returncode else None; "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(done.returncode)")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", wrapper, *cmd], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return seconds, int(done.stdout.strip()) / 1024


def worker_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, repeat: int = 3):
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv=None):
    parser = argparse.ArgumentParser(prog="benchmarks/scale.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for the features, model and shards")
    parser.add_argument("--items", type=int, default=10_000_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--bits", type=int, default=64)
    parser.add_argument("--shard-size", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args(argv)
    from dask.distributed import Client, LocalCluster

    from l2h.distributed import DistributedSearcher
    from l2h.searcher import Searcher

    args.work.mkdir(parents=True, exist_ok=True)
    features, ckpt = args.work / f"features_{args.items}x{args.dim}.npy", args.work / "itq.ckpt"
    if not features.exists():
        start = time.perf_counter()
        write_features(features, args.items, args.dim)
        print(f"wrote {features} ({features.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - start:.0f} s",
              flush=True)
    fit_model(features, ckpt, args.bits, 100_000)
    rows = []
    data = ["data=file", f"data.path={features}", "data.name=scale", f"ckpt_path={ckpt}", "progress=false",
            f"shard_size={args.shard_size}"]
    for label, extra in (("this machine, one process", []), ("2 local Dask workers", ["workers=local:2"])):
        out = args.work / ("shards_local.l2h" if not extra else "shards_dask.l2h")
        seconds, peak = child_peak([sys.executable, str(ROOT / "index.py"), *data, *extra, f"out={out}",
                                       f"hydra.run.dir={args.work / 'run'}"])
        rows.append((label, seconds, peak))
        print(f"built on {label}: {seconds:.0f} s, peak RSS of the build process {peak:.0f} MiB", flush=True)

    rng = np.random.default_rng(1)
    base = np.load(features, mmap_mode="r")
    queries = np.asarray(base[rng.integers(0, len(base), args.queries)]) + 0.1 * rng.normal(
        size=(args.queries, args.dim)).astype(np.float32)
    local = Searcher.load(args.work / "shards_local.l2h")
    lines = [f"#### {args.items:,} x {args.dim} float32 features ({args.items * args.dim * 4 / 2**30:.1f} GiB), "
             f"{args.bits}-bit ITQ codes, shards of {args.shard_size:,}", "",
             "| build | seconds | peak RSS (MiB) |", "|---|---|---|"]
    lines += [f"| {label} | {s:.0f} | {p:.0f} |" for label, s, p in rows]
    lines += ["", "| search on | radius 2: queries/s | mean results | k = 10: queries/s | same answers |",
              "|---|---|---|---|---|"]
    r_ref, (lims_ref, _, I_ref) = timed(lambda: local.range_search(queries, 2))
    k_ref, (_, knn_ref) = timed(lambda: local.search(queries, 10))
    lines.append(f"| this process, every core | {args.queries / r_ref:.0f} | {np.diff(lims_ref).mean():.1f} | "
                 f"{args.queries / k_ref:.0f} | reference |")
    for workers in (1, 2):
        with Client(LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None)) as client:
            searcher = DistributedSearcher(client, args.work / "shards_dask.l2h")
            searcher.search(queries[:10], 10)  # every worker opens its shards once
            r_time, (lims, _, I) = timed(lambda: searcher.range_search(queries, 2))
            k_time, (_, knn) = timed(lambda: searcher.search(queries, 10))
            same = np.array_equal(lims, lims_ref) and np.array_equal(I, I_ref) and np.array_equal(knn, knn_ref)
            peaks = client.run(worker_peak_mib)
            lines.append(f"| {workers} Dask worker{'s' if workers > 1 else ''} (1 thread each; peak RSS "
                         f"{max(peaks.values()):.0f} MiB per worker) | {args.queries / r_time:.0f} | "
                         f"{np.diff(lims).mean():.1f} | {args.queries / k_time:.0f} | {same} |")
        print(lines[-1], flush=True)
    print("\n".join(lines))
    (args.work / "scale.json").write_text(json.dumps({"lines": lines}))


if __name__ == "__main__":
    main()
