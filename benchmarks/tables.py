"""Many hash tables against multi-probing one (the tutorial's open question): LSH and GRH with L in {1, 2, 4, 8}
tables of K bits, each probed to Hamming radius r = 0 .. 3, on CIFAR-10 GIST with the tutorial's protocol (120
queries, 1198 training items, 58682 database items; candidates re-ranked by cosine distance, as the tutorial).

    python benchmarks/tables.py --cifar ../shared/data/cifar10_gist512.mat --out outputs/tables
    python benchmarks/tables.py --tiny --out /tmp/tables        # synthetic blobs, seconds: checks that it runs

Each model is trained once by ``train.py``'s pipeline with ``tables=8`` (``model=lsh``, and ``model=grh_tutorial``:
the tutorial's GRH, 2 rounds from LSH codes). Table t's seed depends only on (seed, t), so the first L tables of
that run are what ``tables=L`` trains; each L is evaluated by ``evaluate.py``'s pipeline on a checkpoint of the
first L tables, and its radius sweep gives, per (L, r): precision@10 of the cosine re-ranked candidates (queries
with none left out, as the tutorial), the mean candidates (distinct items found by any table within r) and the
query time (the evaluator's: probing every table's ball plus re-ranking, one timing). "lookup ms" times the
tables' lookup alone (best of 5). The index memory is that of the L hash tables holding the database codes
(``BinaryIndex.nbytes``).

Writes ``tables.json`` (every point), ``tables.md`` (the table) and ``tables.png`` (precision against candidates,
every point labelled (L, K, r)) into ``--out``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from l2h import checkpoint, index  # noqa: E402
from l2h.atomic import write_bytes, write_json, write_text  # noqa: E402
from l2h.encoders.tables import Tables  # noqa: E402
from l2h.index.union import index_for_model  # noqa: E402
from l2h.model import HashModel  # noqa: E402

MODELS = {"lsh": "LSH", "grh_tutorial": "GRH (tutorial)"}
TABLES = (1, 2, 4, 8)
RADII = 3
BITS = 16


def compose(name: str, overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    with initialize_config_module("l2h.conf", version_base="1.3"):
        return hydra_compose(name, overrides=overrides)


def first_tables(model: HashModel, count: int) -> HashModel:
    """The model of the first ``count`` of a multi-table model's tables (one table: its encoder alone)."""
    members = list(model.encoder.members[:count])
    return HashModel(model.preprocess, members[0] if count == 1 else Tables(members))


def measure(model_name: str, data: list[str], out: Path, seed: int = 0, tables=TABLES, bits: int = BITS,
            max_radius: int = RADII) -> tuple[list[dict], dict]:
    """Every (L, r) point of one model trained with one seed -> (rows, training record)."""
    from l2h import pipeline
    from l2h.cli import top_level_keys

    out = out / f"seed{seed}"
    settings = [*data, "eval.compute_map=false", f"eval.max_radius={max_radius}", f"seed={seed}"]
    train = [f"model={model_name}", f"bits={bits}", f"tables={max(tables)}", "trainer=cpu",
             "trainer.enable_progress_bar=false", *settings]
    trained = pipeline.train(compose("train", train), out / model_name / "train", top_level_keys(train))
    full, _ = checkpoint.load(trained["checkpoint"])
    rows = []
    for count in tables:
        folder = out / model_name / f"L{count}"
        ckpt = checkpoint.save(folder / "model.ckpt", first_tables(full, count), {"model": model_name,
                                                                               "config": trained["config"]})
        evaluate = [f"ckpt_path={ckpt}", "eval.save_codes=true", *settings]
        metrics = pipeline.evaluate(compose("evaluate", evaluate), folder / "eval", top_level_keys(evaluate))
        saved = np.load(folder / "eval" / "codes.npz")
        tables_index = index_for_model(index.auto, checkpoint.load(ckpt)[0])
        tables_index.add(saved["database"])
        for r in metrics["radius"]:
            rows.append({"model": model_name, "seed": seed, "tables": count, "bits": bits, "radius": r["radius"],
                         "precision_at_10": r["precision_at_10"], "candidates": r["mean_candidates"],
                         "query_ms": r["mean_query_ms"], "empty_fraction": r["empty_fraction"],
                         "lookup_ms": lookup_ms(tables_index, saved["query"], r["radius"]),
                         "index_mib": tables_index.nbytes() / 2**20, "n_database": metrics["n_database"],
                         "checkpoint": str(ckpt), "evaluation": str(folder / "eval")})
    return rows, {"model": model_name, "seed": seed, "tables": max(tables), "train_seconds": trained["train_seconds"]}


def average(runs: list[dict]) -> list[dict]:
    """One row per (model, L, K, r): the mean over seeds of each figure."""
    groups: dict[tuple, list[dict]] = {}
    for row in runs:
        groups.setdefault((row["model"], row["tables"], row["bits"], row["radius"]), []).append(row)
    figures = ("precision_at_10", "candidates", "query_ms", "lookup_ms", "empty_fraction", "index_mib")
    return [{"model": model, "tables": count, "bits": bits, "radius": radius, "seeds": len(rows),
             **{name: float(np.mean([row[name] for row in rows])) for name in figures}}
            for (model, count, bits, radius), rows in groups.items()]


def lookup_ms(tables_index, query_codes: np.ndarray, radius: int, repeats: int = 25) -> float:
    """Milliseconds per query of the tables' lookup alone (every table's ball, merged), the best of ``repeats``:
    on busy cores one timing of 120 queries moves by a factor of several."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        tables_index.range_search(query_codes, radius)
        best = min(best, time.perf_counter() - start)
    return 1000 * best / len(query_codes)


def markdown(rows: list[dict], training: list[dict]) -> str:
    lines = ["| model | L tables | K bits | radius r | P@10 | candidates | query ms | lookup ms | index MiB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {MODELS.get(row['model'], row['model'])} | {row['tables']} | {row['bits']} | {row['radius']} "
                     f"| {row['precision_at_10']:.3f} | {row['candidates']:.0f} | {row['query_ms']:.3f} "
                     f"| {row['lookup_ms']:.3f} "
                     f"| {row['index_mib']:.2f} |")
    lines.append("")
    for t in training:
        lines.append(f"Training {MODELS.get(t['model'], t['model'])} (seed {t['seed']}), {t['tables']} tables: "
                     f"{t['train_seconds']:.1f} s ({t['train_seconds'] / t['tables']:.2f} s per table).")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict]) -> bytes:
    """Precision@10 against mean candidates (log), one panel per model, one line per table count through its
    radii, every point labelled (L, K, r); each table count's labels sit on their own side of its points, so
    that the lines' labels do not cover each other where the lines meet."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from l2h.report.axes import value_scale

    models = list(dict.fromkeys(row["model"] for row in rows))
    fig, axes = plt.subplots(1, len(models), figsize=(7.5 * len(models), 7), sharey=True, squeeze=False)
    counts = sorted({row["tables"] for row in rows})
    colours = {count: plt.cm.tab10(i) for i, count in enumerate(counts)}
    # (dx, dy) in points and alignment of each table count's labels: below right, above left, above right, ...
    sides = [((5, -12), "left"), ((-5, 6), "right"), ((5, 6), "left"), ((-5, -12), "right")]
    seeds = max(row.get("seeds", 1) for row in rows)
    for ax, name in zip(axes[0], models):
        mine = [row for row in rows if row["model"] == name]
        for i, count in enumerate(counts):
            line = sorted((row for row in mine if row["tables"] == count), key=lambda row: row["radius"])
            x, y = [row["candidates"] for row in line], [row["precision_at_10"] for row in line]
            single = count == 1
            ax.plot(x, y, "s-" if single else "o-", color=colours[count], lw=2.4 if single else 1.4,
                    label="1 table, multi-probe radius r" if single else f"{count} tables, each probed to r")
            (dx, dy), align = sides[i % len(sides)]
            for row in line:
                ax.annotate(f"({row['tables']},{row['bits']},{row['radius']})",
                            (row["candidates"], row["precision_at_10"]), textcoords="offset points",
                            xytext=(dx, dy), ha=align, fontsize=7.5, color=colours[count])
        ax.set_xscale("log" if value_scale([row["candidates"] for row in mine]) != "linear" else "linear")
        ax.set_title(f"{MODELS.get(name, name)}, K = {mine[0]['bits']} bits per table")
        ax.set_xlabel("mean candidates per query (log scale)")
        ax.grid(alpha=0.3)
        ax.legend(title="point labels: (L tables, K bits, radius r)", fontsize=8, title_fontsize=8,
                  loc="lower right")
    axes[0][0].set_ylabel("precision@10 of the candidates re-ranked by cosine"
                          + (f" (mean of {seeds} seeds)" if seeds > 1 else ""))
    axes[0][0].set_ylim(0, 1.08 * max(row["precision_at_10"] for row in rows))
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()


def tiny_data(folder: Path) -> list[str]:
    """Synthetic labelled blobs in an .npz: 1500 items of 32 dimensions in 6 classes."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 32)) * 1.5
    labels = rng.integers(0, 6, 1500)
    features = (centres[labels] + 3 * rng.normal(size=(1500, 32))).astype(np.float32)
    path = folder / "blobs.npz"
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(path, X=features, y=labels)
    return ["data=file", f"data.path={path}", "data.features=X", "data.labels=y", "protocol.n_query=50",
            "protocol.n_train=300"]


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cifar", help="cifar10_gist512.mat (the tutorial's Gist512CIFAR10.mat)")
    parser.add_argument("--out", default="outputs/tables")
    parser.add_argument("--tiny", action="store_true", help="synthetic blobs, 8-bit tables: seconds")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0 .. N-1 of the hash functions, figures averaged")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.tiny:
        data, bits = tiny_data(out), 8
    elif args.cifar:
        data, bits = ["data=cifar10_gist", f"data.path={args.cifar}", "protocol=tutorial"], BITS
    else:
        parser.error("give --cifar FILE, or --tiny")
    runs, training = [], []
    start = time.perf_counter()
    for seed in range(args.seeds):  # the report is rewritten after each seed: an interrupted run keeps those done
        for name in MODELS:
            found, trained = measure(name, data, out, seed, bits=bits)
            runs += found
            training.append(trained)
        rows = average(runs)
        report = markdown(rows, training)
        write_json(out / "tables.json", {"rows": rows, "runs": runs, "training": training, "data": data,
                                         "seconds": time.perf_counter() - start})
        write_text(out / "tables.md", report)
        write_bytes(out / "tables.png", plot(rows))
    print(report)
    print(f"wrote {out / 'tables.json'}, tables.md and tables.png in {time.perf_counter() - start:.0f} s")
    return runs


if __name__ == "__main__":
    main()
