"""Growing an index: 100 adds of 10,000 codes against one add of 1,000,000, for every index kind, in one run.

    python benchmarks/growth.py                      # 1,000,000 codes in 100 adds, 32 and 64 bits
    python benchmarks/growth.py --n 200000 --adds 20 --kinds hash mih

An add costs time in proportion to the codes it adds, so the two should take about the same (the target is
within 1.5x). Each pair is built twice, in alternating order, and the faster build of each is kept (the least
disturbed by other work on a shared machine); both builds must answer a sample of queries identically.
The ``torch`` kind (TorchFlatIndex on the default device) imports torch; this script never imports FAISS."""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from l2h.index import make  # noqa: E402
from search import structured_codes  # noqa: E402


def build(kind: str, bits: int, db: np.ndarray, adds: int):
    index = make(kind, bits=bits)
    step = math.ceil(len(db) / adds)
    start = time.perf_counter()
    for lo in range(0, len(db), step):
        index.add(db[lo:lo + step])
    return time.perf_counter() - start, index


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python benchmarks/growth.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="codes in all")
    parser.add_argument("--adds", type=int, default=100, help="adds of n / adds codes each")
    parser.add_argument("--bits", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--kinds", nargs="+", default=["hash", "mih", "flat", "torch"])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    print(f"{args.n} codes: {args.adds} adds of {args.n // args.adds} against one add, best of {args.repeat}\n")
    print("| kind | bits | one add ms | " + f"{args.adds} adds ms | ratio | same answers |")
    print("|---|---|---|---|---|---|")
    for bits in args.bits:
        db, queries = structured_codes(args.n, 200, bits)
        for kind in args.kinds:
            make(kind, bits=bits).add(db[:1000])  # compile outside the timings
            once = grown = math.inf
            for _ in range(args.repeat):
                t_once, a = build(kind, bits, db, 1)
                t_grown, b = build(kind, bits, db, args.adds)
                once, grown = min(once, t_once), min(grown, t_grown)
            same = all(np.array_equal(x, y) for x, y in zip([*a.range_search(queries, 2), *a.search(queries, 10)],
                                                            [*b.range_search(queries, 2), *b.search(queries, 10)]))
            print(f"| {kind} | {bits} | {1e3 * once:.1f} | {1e3 * grown:.1f} | {grown / once:.2f}x | {same} |")
            del a, b


if __name__ == "__main__":
    main()
