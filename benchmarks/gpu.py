"""GPU against CPU, in one run on one machine: training, encoding, the evaluator and exhaustive search, each timed
on the CPU and on the GPU, with the quality of what was timed beside each time.

    python benchmarks/gpu.py            # about 7 minutes on one GPU and 16 cores, most of it the CPU column
    python benchmarks/gpu.py --tiny     # tiny sizes, seconds on the CPU: checks that it runs (the test suite)

Without a GPU it prints the CPU column and says that no GPU was found. Synthetic data, made in memory (nothing is
downloaded or written but FAISS's codes, for its child process):

- features: 10 Gaussian classes in 512 dimensions (GIST-like), 1000 queries, 5000 training items and a database
  of 59000 items (the training items among them), L2-normalised and centred as train.py does;
- images: 10 classes of 1 x 28 x 28 images (a fixed random template per class plus noise), the same split.

1. training: grh_svm, grh_mlp and csq (encoder=mlp) on the features, csq (encoder=cnn) on the images, each with
   its shipped settings (model/*.yaml) but csq's epochs (``--epochs``, default 10), no validation split; the time
   is ``fit`` alone, the device started before it (``l2h.devices.initialise``), on a trainer with
   ``accelerator=cpu`` or ``gpu``. mAP: the 1000 queries against the 59000 items, by the codes the same device
   encoded.
2. encoding: the database (59000 items, preprocessing included) with each trained model, on its device.
3. the evaluator: every ranking metric (``l2h.eval.metrics.ranking_metrics``) for 1000 x 59000 and 10^4 x 10^6
   64-bit codes (benchmarks/evaluator.py's labelled codes): the compiled CPU pass against the torch pass on the
   GPU (``eval.device=cuda``); mAP of each.
4. exhaustive k-NN (k = 10), 10^4 queries against 10^6 64-bit codes: TorchFlatIndex on the GPU against l2h's
   CPU indexes (FlatIndex, MultiIndexHash) and, when installed, FAISS's IndexBinaryFlat (in a child process: FAISS
   and torch in one process have crashed on some platforms); beside each, whether its distances equal
   FlatIndex's (its ids too, for l2h's indexes, which all break ties by id).

"speed-up" is the CPU row's time over the GPU row's, measured in the same run; every time is one run after a
warm-up (compiled kernels, cuDNN's choices and CUDA's start-up are not timed)."""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
from evaluator import labelled_codes  # noqa: E402

BITS = 64


@dataclass
class Sizes:
    n_query: int = 1000
    n_train: int = 5000
    n_database: int = 59000  # the training items among them
    dim: int = 512
    epochs: int = 10
    evaluator: tuple = ((59000, 1000), (1_000_000, 10_000))  # (database, queries)
    index: tuple = (1_000_000, 10_000)
    overrides: tuple = ()  # model settings every training run takes


TINY = Sizes(n_query=40, n_train=200, n_database=600, dim=32, epochs=1, evaluator=((600, 40), (3000, 100)),
             index=(3000, 100), overrides=("model.rounds=1", "model.steps=3", "model.partitioner.hidden=32",
                                           "encoder.hidden=32", "encoder.anchors=50"))


@dataclass
class Row:
    section: str
    case: str
    seconds: dict = field(default_factory=dict)  # device ("cpu", "gpu") -> seconds
    quality: dict = field(default_factory=dict)  # device -> mAP, or whether the answers equal FlatIndex's
    note: str = ""


# ---------------------------------------------------------------------------------------------------- data


def labelled_data(sizes: Sizes, images: bool, seed: int = 0):
    """(queries, train, database) raw items and labels; the database holds the training items first."""
    rng = np.random.default_rng(seed)
    n = sizes.n_query + sizes.n_database
    y = rng.integers(0, 10, n)
    if images:
        templates = rng.uniform(0, 255, (10, 784)).astype(np.float32)
        x = np.clip(templates[y] + rng.normal(0, 90, (n, 784)), 0, 255).astype(np.float32)
    else:
        centres = rng.normal(size=(10, sizes.dim)).astype(np.float32)
        x = centres[y] + 1.5 * rng.normal(size=(n, sizes.dim)).astype(np.float32)
    q, db = slice(0, sizes.n_query), slice(sizes.n_query, n)
    train = slice(sizes.n_query, sizes.n_query + sizes.n_train)
    return (x[q], y[q]), (x[train], y[train]), (x[db], y[db])


# ---------------------------------------------------------------------------------------------------- timing


def synchronise(device) -> None:
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def timed(function, device):
    synchronise(device)
    start = time.perf_counter()
    out = function()
    synchronise(device)
    return time.perf_counter() - start, out


def mean_ap(query_codes, db_codes, query_labels, db_labels) -> float:
    from l2h.eval.metrics import ranking_metrics
    from l2h.eval.relevance import from_labels

    return ranking_metrics(query_codes, db_codes, from_labels(query_labels, db_labels), BITS, ks=(10,),
                           Rs=()).summary()["map"]


# ---------------------------------------------------------------------------------------------------- sections


MODELS = [("grh_svm", "grh_svm", [], False), ("grh_mlp", "grh_mlp", [], False),
          ("csq, encoder=mlp", "csq", ["encoder=mlp"], False), ("csq, encoder=cnn", "csq", ["encoder=cnn"], True)]


def has(cfg, dotted: str) -> bool:
    from omegaconf import OmegaConf

    return OmegaConf.select(cfg, dotted, default=None) is not None


def hasher(model: str, overrides: list[str], sizes: Sizes, images: bool):
    from hydra import compose, initialize_config_module

    from l2h.pipeline import build_hasher

    extra = [f"model.epochs={sizes.epochs}"] if model == "csq" else []
    with initialize_config_module("l2h.conf", version_base="1.3"):
        cfg = compose("train", overrides=[f"model={model}", f"bits={BITS}", *overrides, *extra])
        # the sizes' own settings, where the model has them
        cfg = compose("train", overrides=[f"model={model}", f"bits={BITS}", *overrides, *extra,
                                          *(o for o in sizes.overrides if has(cfg, o.split("=")[0]))])
    return build_hasher(cfg, (1, 28, 28) if images else None)


def training_and_encoding(sizes: Sizes, devices: dict) -> list[Row]:
    import pytorch_lightning as pl

    from l2h.data.preprocess import Preprocessor
    from l2h.devices import initialise
    from l2h.model import HashModel

    rows = []
    data = {images: labelled_data(sizes, images) for images in (False, True)}
    for name, model, overrides, images in MODELS:
        (qx, qy), (tx, ty), (dbx, dby) = data[images]
        preprocess = Preprocessor(tx.shape[1]).fit(tx)
        train_x = preprocess.transform(tx)
        fit_row, encode_row = Row("training", name), Row("encoding", f"{name}: {len(dbx)} items")
        for column, device in devices.items():
            trainer = functools.partial(pl.Trainer, accelerator="gpu" if column == "gpu" else "cpu", devices=1,
                                        logger=False, enable_progress_bar=False, enable_model_summary=False)
            untrained = hasher(model, overrides, sizes, images)
            initialise(device)
            fit_row.seconds[column], encoder = timed(lambda: untrained.fit(train_x, ty, trainer=trainer), device)
            encoded = HashModel(preprocess, encoder).on(device)
            encoded.encode(dbx[:8])  # cuDNN's choices and the first kernels, not timed
            encode_row.seconds[column], db_codes = timed(lambda: encoded.encode(dbx), device)
            fit_row.quality[column] = mean_ap(encoded.encode(qx), db_codes, qy, dby)
        rows += [fit_row, encode_row]
    return rows


def evaluator(sizes: Sizes, devices: dict) -> list[Row]:
    from l2h.eval.metrics import ranking_metrics
    from l2h.eval.relevance import from_labels

    rows = []
    for n, nq in sizes.evaluator:
        q, db, qy, dby = labelled_codes(n, nq, BITS)
        relevance = from_labels(qy, dby)
        row = Row("evaluator", f"{nq} x {n} codes, all metrics")
        for column, device in devices.items():
            where = None if column == "cpu" else str(device)  # None: the compiled CPU pass
            ranking_metrics(q[:2], db[:100], from_labels(qy[:2], dby[:100]), BITS, device=where)  # compile / start
            row.seconds[column], result = timed(lambda: ranking_metrics(q, db, relevance, BITS, device=where), device)
            row.quality[column] = result.summary()["map"]
        rows.append(row)
    return rows


FAISS_CHILD = """
import json, sys, time
import numpy as np
import faiss
db, q, k = np.load(sys.argv[1]), np.load(sys.argv[2]), int(sys.argv[3])
index = faiss.IndexBinaryFlat(db.shape[1] * 8)
index.add(db)
index.search(q[:1], k)
start = time.perf_counter()
D, I = index.search(q, k)
seconds = time.perf_counter() - start
np.save(sys.argv[4], D)
print(json.dumps({"seconds": seconds, "threads": faiss.omp_get_max_threads()}))
"""


def faiss_flat(db: np.ndarray, q: np.ndarray, k: int):
    """FAISS's IndexBinaryFlat in a child process: (seconds, distances), or None when FAISS is not installed."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = [str(Path(tmp) / name) for name in ("db.npy", "q.npy", "D.npy")]
        np.save(paths[0], db)
        np.save(paths[1], q)
        done = subprocess.run([sys.executable, "-c", FAISS_CHILD, paths[0], paths[1], str(k), paths[2]],
                              capture_output=True, text=True)
        if done.returncode != 0:
            if "No module named 'faiss'" in done.stderr:
                return None
            raise RuntimeError(f"the FAISS child failed: {done.stderr[-2000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])["seconds"], np.load(paths[2])


def search(sizes: Sizes, devices: dict, k: int = 10) -> list[Row]:
    from l2h.index import FlatIndex, MultiIndexHash, TorchFlatIndex

    n, nq = sizes.index
    q, db, _, _ = labelled_codes(n, nq, BITS, seed=1)
    case = f"k={k}, {nq} queries, {n} codes"
    flat = FlatIndex(BITS)
    flat.add(db)
    flat.search(q[:1], k)
    seconds, (want_d, want_i) = timed(lambda: flat.search(q, k), "cpu")
    rows = [Row("search", f"FlatIndex, {case}", {"cpu": seconds}, {"cpu": "reference"})]
    mih = MultiIndexHash(BITS)
    mih.add(db)
    mih.search(q[:1], k)
    seconds, (d, i) = timed(lambda: mih.search(q, k), "cpu")
    rows.append(Row("search", f"MultiIndexHash, {case}", {"cpu": seconds},
                    {"cpu": bool(np.array_equal(d, want_d) and np.array_equal(i, want_i))}))
    answer = faiss_flat(db, q, k)
    rows.append(Row("search", f"FAISS IndexBinaryFlat, {case}", {"cpu": answer[0]} if answer else {},
                    {"cpu": bool(np.array_equal(answer[1], want_d))} if answer else {},
                    "" if answer else "FAISS is not installed (pip install faiss-cpu)"))
    torch_row = Row("search", f"TorchFlatIndex, {case}")
    for column, device in devices.items():
        index = TorchFlatIndex(BITS, device=device)
        index.add(db)
        index.search(q[:1], k)
        torch_row.seconds[column], (d, i) = timed(lambda: index.search(q, k), device)
        torch_row.quality[column] = bool(np.array_equal(d, want_d) and np.array_equal(i, want_i))
    rows.append(torch_row)
    return rows


# ---------------------------------------------------------------------------------------------------- report


def shown(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "same" if value else "DIFFERENT"
    return value if isinstance(value, str) else f"{value:.4f}"


def table(rows: list[Row]) -> str:
    """A markdown table: each row's CPU and GPU seconds, the speed-up (CPU over GPU), and the quality of each."""
    lines = ["| section | case | CPU s | GPU s | speed-up | CPU mAP / answers | GPU mAP / answers | note |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        cpu, gpu = row.seconds.get("cpu"), row.seconds.get("gpu")
        speed = f"{cpu / gpu:.1f}x" if cpu and gpu else "-"
        lines.append(f"| {row.section} | {row.case} | {'-' if cpu is None else f'{cpu:.3f}'} | "
                     f"{'-' if gpu is None else f'{gpu:.3f}'} | {speed} | {shown(row.quality.get('cpu'))} | "
                     f"{shown(row.quality.get('gpu'))} | {row.note} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/gpu.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: checks that the script runs (CPU: seconds)")
    parser.add_argument("--epochs", type=int, help="csq's epochs (default 10; --tiny: 1)")
    parser.add_argument("--sections", default="training,evaluator,search",
                        help="comma-separated: training (encoding included), evaluator, search")
    args = parser.parse_args(argv)
    import torch

    sizes = TINY if args.tiny else Sizes()
    if args.epochs:
        sizes = Sizes(**{**sizes.__dict__, "epochs": args.epochs})
    devices = {"cpu": torch.device("cpu")}
    if torch.cuda.is_available():
        devices["gpu"] = torch.device("cuda")
        print(f"GPU: {torch.cuda.get_device_name(0)}; CPU: {os.cpu_count()} cores; torch {torch.__version__}")
    else:
        print(f"no GPU found: the CPU column only ({os.cpu_count()} cores; torch {torch.__version__})")
    sections = {"training": training_and_encoding, "evaluator": evaluator, "search": search}
    rows = []
    for name in args.sections.split(","):
        if name not in sections:
            parser.error(f"--sections: {name!r} is not one of {', '.join(sections)}")
        start = time.perf_counter()
        rows += sections[name](sizes, devices)
        print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
