"""Online GRH on a stream: mAP against items seen, and the time each update takes, for GRH learning online
against batch GRH retrained from scratch and a published online hashing method.

    python benchmarks/stream.py --cifar ../shared/data/cifar10_gist512.mat     # CIFAR-10 GIST, 32 bits
    python benchmarks/stream.py --tiny                                          # the embedded digits: that it runs

The split is protocol=stream's: 1000 queries and 5000 training items (the standard protocol's sizes), the
database every other item (59000); the training items arrive in a seeded order, 500 at a time. Methods, each
built from its shipped preset (``model=...``):

- ``grh_online``: GRH with the passive-aggressive partitioner, ``partial_fit`` once per batch;
- ``grh_svm online``: GRH's linear partitioner trained by gradient steps (the preset's 30 Adam steps) on each
  batch as it comes: ``partial_fit`` with ``model=grh_svm``;
- ``osh``: Online Supervised Hashing (Cakir & Sclaroff, ICIP 2015), ``partial_fit`` once per batch;
- ``grh_svm retrained``: batch GRH (``model=grh_svm``, its 3 rounds) trained from scratch on every item seen so
  far, at a few points of the stream only (``--retrain-at``), preprocessing refitted on those items too.

After each update, the fixed queries are ranked by Hamming distance against the database encoded with the current
hash functions (the evaluator's mAP). "seconds" is the time of that update alone (``partial_fit``, or the whole
retraining); "changed" is the fraction of the database's bits that changed since the previous update, what
re-hashing the database costs. LSH's mAP (nothing learned) is shown for reference. Results go to ``--out``
(stream.json, stream.png)."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_module

from l2h import pipeline, stream
from l2h.data.preprocess import Preprocessor
from l2h.eval.metrics import ranking_metrics
from l2h.eval.relevance import from_labels
from l2h.model import HashModel

ONLINE = {"grh_online": ("model=grh_online",), "grh_svm online": ("model=grh_svm",), "osh": ("model=osh",)}
RETRAINED = ("grh_svm retrained", ("model=grh_svm",))


def config(data: tuple[str, ...], bits: int, seed: int, model: tuple[str, ...], sizes: tuple[str, ...]):
    with initialize_config_module("l2h.conf", version_base="1.3"):
        return compose("train", overrides=[*data, "protocol=stream", f"bits={bits}", f"seed={seed}",
                                           "trainer=cpu", "trainer.enable_progress_bar=false", *sizes, *model])


def warm_up(cfg, data, rows) -> None:
    """Train once, untimed, by each path the timed updates take (gradient steps, Lightning)."""
    x = Preprocessor(data.dim).fit(data.rows(rows)).transform(data.rows(rows))
    pipeline.build_hasher(cfg).partial_fit(x, data.labels[rows])
    pipeline.build_hasher(cfg).fit(x, data.labels[rows])


def scored(model: HashModel, data, split) -> tuple[float, np.ndarray]:
    """The queries' mAP against the database (as protocol=stream scores), and the database's codes."""
    relevance = from_labels(data.labels[split.query], data.labels[split.database])
    database = model.encode(data.rows(split.database))
    ranking = ranking_metrics(model.encode(data.rows(split.query)), database, relevance, model.bits, ks=(), Rs=())
    return ranking.summary()["map"], database


def retrained(cfg, data, split, batches, at: list[int]) -> list[dict]:
    """Batch GRH from scratch on the first ``k`` batches, for each k in ``at``."""
    records, previous = [], None
    for k in at:
        seen = np.concatenate(batches[:k])
        hasher = pipeline.build_hasher(cfg)
        preprocess = Preprocessor(data.dim).fit(data.rows(seen))
        start = time.perf_counter()
        encoder = hasher.fit(preprocess.transform(data.rows(seen)), data.labels[seen])
        seconds = time.perf_counter() - start
        model = HashModel(preprocess, encoder)
        score, database = scored(model, data, split)
        records.append({"items_seen": int(len(seen)), "map": score, "update_seconds": seconds,
                        "changed_bits": 1.0 if previous is None else stream.changed_fraction(previous, database,
                                                                                              model.bits)})
        previous = database
    return records


def lsh_map(cfg, data, split, first_batch) -> float:
    """LSH's mAP (nothing learned, preprocessing fitted on the first batch): what learning adds to."""
    preprocess = Preprocessor(data.dim).fit(data.rows(first_batch))
    encoder = pipeline.build_hasher(cfg).fit(preprocess.transform(data.rows(first_batch)))
    return scored(HashModel(preprocess, encoder), data, split)[0]


def run(args) -> dict:
    data_overrides = ("data=digits",) if args.tiny else ("data=cifar10_gist", f"data.path={args.cifar}")
    sizes = (("protocol.n_query=60", "protocol.n_train=300", "protocol.batch=100") if args.tiny else
             (f"protocol.n_query={args.queries}", f"protocol.n_train={args.train}", f"protocol.batch={args.batch}"))
    results, warmed = {}, False
    for name, model in ONLINE.items():
        cfg = config(data_overrides, args.bits, args.seed, model, sizes)
        if name == "grh_online" and not results:
            data = pipeline.build(cfg.data, "data").load()
            protocol = pipeline.build(cfg.protocol, "protocol")
            split = protocol.split(data, seed=args.seed)
            batches = protocol.batches(split, args.seed)
        if not warmed:  # the first Adam step and the first Lightning fit import much: not an update's cost
            warm_up(config(data_overrides, args.bits, args.seed, RETRAINED[1], sizes), data, batches[0])
            warmed = True
        print(f"streaming {name} ({len(batches)} batches of {protocol.batch})", flush=True)
        _, records = stream.run(protocol, pipeline.build_hasher(cfg), Preprocessor(data.dim), data, split, args.seed,
                                "zero")
        results[name] = records
    at = sorted({min(k, len(batches)) for k in ([1, len(batches)] if args.tiny else args.retrain_at)})
    print(f"retraining {RETRAINED[0]} after batches {at}", flush=True)
    results[RETRAINED[0]] = retrained(config(data_overrides, args.bits, args.seed, RETRAINED[1], sizes), data, split,
                                      batches, at)
    lsh = lsh_map(config(data_overrides, args.bits, args.seed, ("model=lsh",), sizes), data, split, batches[0])
    return {"dataset": data.name, "bits": args.bits, "seed": args.seed, "n_query": int(split.query.size),
            "n_train": int(split.train.size), "n_database": int(split.database.size), "batch": protocol.batch,
            "cores": os.cpu_count(), "lsh_map": lsh, "methods": results}


def table(result: dict) -> str:
    lines = [f"{'method':<20} {'items seen':>10} {'mAP':>7} {'seconds':>8} {'total s':>8} {'changed':>8}"]
    if "lsh_map" in result:
        lines.append(f"{'lsh (nothing learned)':<20} {'':>10} {result['lsh_map']:7.4f}")
    for name, records in result["methods"].items():
        total = 0.0
        for r in records:
            total += r["update_seconds"]
            lines.append(f"{name:<20} {r['items_seen']:>10} {r['map']:7.4f} {r['update_seconds']:8.2f} {total:8.2f} "
                         f"{r['changed_bits']:8.3f}")
    return "\n".join(lines)


def figure(result: dict):
    """mAP against items seen (left) and the seconds each update took (right), one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from l2h.report.axes import set_value_axis

    fig, (ax, time_ax) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [1.4, 1]})
    styles = {RETRAINED[0]: dict(marker="o", linestyle="--", markersize=6)}
    maps, seconds = [], []
    for name, records in result["methods"].items():
        x = [r["items_seen"] for r in records]
        style = styles.get(name, dict(marker=".", markersize=5))
        ax.plot(x, [r["map"] for r in records], label=name, **style)
        time_ax.plot(x, [r["update_seconds"] for r in records], label=name, **style)
        maps += [r["map"] for r in records]
        seconds += [r["update_seconds"] for r in records]
    if "lsh_map" in result:
        ax.axhline(result["lsh_map"], color="grey", linestyle=":", label="lsh (nothing learned)")
        maps.append(result["lsh_map"])
    set_value_axis(ax, maps)
    ax.set_xlabel("training items seen")
    ax.set_ylabel("mAP (Hamming ranking)")
    ax.set_title("retrieval quality as the stream goes on", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    scale = set_value_axis(time_ax, seconds)
    time_ax.set_xlabel("training items seen")
    time_ax.set_ylabel(f"seconds for this update{' (log scale)' if scale != 'linear' else ''}")
    time_ax.set_title(f"update time ({result['cores']} cores)", fontsize=9)
    for a in (ax, time_ax):
        a.set_xlim(0, max(r["items_seen"] for records in result["methods"].values() for r in records) * 1.03)
        a.grid(alpha=0.3)
    fig.suptitle(f"{result['dataset']}, {result['bits']} bits: {result['n_query']} queries against "
                 f"{result['n_database']} items, the training items {result['batch']} at a time", fontsize=10)
    fig.tight_layout()
    return fig


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/stream.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cifar", type=Path, help="CIFAR-10 GIST .mat (cifar10_gist512.mat)")
    parser.add_argument("--tiny", action="store_true", help="the embedded digits, 16 bits, a stream of 3 batches")
    parser.add_argument("--bits", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--train", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--retrain-at", type=int, nargs="+", default=[1, 2, 5, 10],
                        help="batches after which batch GRH is retrained from scratch")
    parser.add_argument("--out", type=Path, default=Path("outputs/bench_stream"))
    args = parser.parse_args(argv)
    if not args.tiny and not args.cifar:
        parser.error("give --cifar FILE (CIFAR-10 GIST) or --tiny")
    if args.tiny:
        args.bits = 16
    result = run(args)
    print(f"\n{result['cores']} cores, load average {os.getloadavg()[0]:.1f}")
    print(table(result))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "stream.json").write_text(json.dumps(result, indent=1))
    fig = figure(result)
    fig.savefig(args.out / "stream.png", dpi=110)
    print(f"\nwrote {args.out / 'stream.json'} and {args.out / 'stream.png'}")
    return 0 if all(math.isfinite(r["map"]) for records in result["methods"].values() for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
