"""What a training run costs: the wall time, the training time and the peak memory of train.py runs, each in a
process of its own (so that each peak is that run's alone), as ratios against the digits default run in the same
invocation.

    python benchmarks/training_cost.py --mnist ../shared/data/mnist    # the three cases below
    python benchmarks/training_cost.py --quick                         # tiny sizes: checks that it runs

Cases, all on the CPU (``trainer=cpu``):

- ``digits`` (the reference): ``python train.py``, grh_mlp on the embedded digits (1000 training items, so
  500 anchors);
- ``npz``: grh_mlp on a ``.npz`` of 5000 x 128 items in 10 Gaussian clusters, written for the run: 1000 queries
  and the other 4000 items for training (1000 anchors);
- ``mnist``: ``model=csq encoder=cnn data=mnist`` for ``--epochs`` epochs (default 1: the memory peak is in the
  evaluation, not in the epochs); skipped without ``--mnist``. With ``--quick`` and no ``--mnist``, a folder of
  random 28 x 28 IDX images stands in.

grh_mlp's training is ``steps`` full-batch optimiser steps, each costing about the same: ``--steps 30`` gives
the same ratios sooner.

"wall" is the child's whole run (imports, data, training, evaluation, plots); "train" is ``train_seconds`` of
its metrics.json; "peak" is the child's peak resident set, measured by a thin process of its own (scale.py's
``child_peak``), so that no other run's peak, nor this process's memory, counts. Children inherit the environment:
``GOMP_SPINCOUNT=300000 python benchmarks/training_cost.py`` runs them with OpenMP's spinning wait, as before
the commands set ``OMP_WAIT_POLICY=PASSIVE``."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import child_peak  # noqa: E402

TRAIN = Path(__file__).resolve().parents[1] / "train.py"
COMMON = ("trainer=cpu", "trainer.enable_progress_bar=false", "hydra/job_logging=none", "hydra/hydra_logging=none")


def clustered_npz(path: Path, n: int, dim: int, classes: int = 10, seed: int = 0) -> Path:
    """``n`` items in ``classes`` Gaussian clusters (unit noise around centres of scale 2), as X / y."""
    rng = np.random.default_rng(seed)
    centres = 2 * rng.normal(size=(classes, dim))
    y = rng.integers(0, classes, n)
    np.savez(path, X=(centres[y] + rng.normal(size=(n, dim))).astype(np.float32), y=y)
    return path


def random_idx_folder(folder: Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """The four MNIST files (gzipped IDX) holding random 28 x 28 images of 10 classes."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for part, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        for name, array in ((f"{part}-images-idx3-ubyte.gz", images), (f"{part}-labels-idx1-ubyte.gz", labels)):
            header = bytes([0, 0, 0x08, array.ndim]) + b"".join(s.to_bytes(4, "big") for s in array.shape)
            (folder / name).write_bytes(gzip.compress(header + array.tobytes()))
    return folder


def cases(args, folder: Path) -> list[tuple[str, list[str]]]:
    """(name, train.py overrides) of each case; the first is the reference."""
    if args.quick:
        npz = clustered_npz(folder / "clusters.npz", 600, 32)
        digits = ["protocol.n_query=60", "protocol.n_train=300", "model.steps=5"]
        file_split = ["protocol.n_query=100", "protocol.n_train=500", "model.steps=5"]
        mnist_split = ["protocol.n_query=50", "protocol.n_train=200"]
        mnist = args.mnist or random_idx_folder(folder / "mnist", 300, 100)
    else:
        npz = clustered_npz(folder / "clusters.npz", 5000, 128)
        digits, file_split, mnist_split, mnist = [], ["protocol.n_query=1000", "protocol.n_train=4000"], [], args.mnist
    if args.steps:
        digits, file_split = [*digits, f"model.steps={args.steps}"], [*file_split, f"model.steps={args.steps}"]
    found = [("digits grh_mlp (reference)", digits),
             (f"npz {'600 x 32' if args.quick else '5000 x 128'} grh_mlp",
              ["data=file", f"data.path={npz}", "data.features=X", "data.labels=y", *file_split])]
    if mnist:
        found.append((f"mnist csq cnn, {args.epochs} epoch(s)",
                      ["model=csq", "encoder=cnn", "data=mnist", f"data.path={mnist}", f"model.epochs={args.epochs}",
                       *mnist_split]))
    return found


def table(rows: list[dict]) -> str:
    reference = rows[0]
    lines = [f"{'case':<34} {'wall s':>8} {'train s':>8} {'peak MiB':>9} {'wall x':>7} {'train x':>8} {'peak x':>7}"]
    for row in rows:
        if row["failed"]:
            lines.append(f"{row['case']:<34} failed")
            continue
        lines.append(f"{row['case']:<34} {row['wall_seconds']:8.1f} {row['train_seconds']:8.1f} "
                     f"{row['peak_mib']:9.0f} {row['wall_seconds'] / reference['wall_seconds']:7.2f} "
                     f"{row['train_seconds'] / reference['train_seconds']:8.2f} "
                     f"{row['peak_mib'] / reference['peak_mib']:7.2f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", type=Path, help="a folder of the four MNIST IDX files (the mnist case)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of the mnist case")
    parser.add_argument("--steps", type=int, help="optimiser steps of the grh_mlp cases (default: the model's)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check that the script runs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = []
        for number, (name, overrides) in enumerate(cases(args, folder)):
            out = folder / f"run{number}"
            print(f"running {name}: train.py {' '.join(overrides)}", flush=True)
            try:
                wall, peak = child_peak([sys.executable, str(TRAIN), *overrides, *COMMON, f"hydra.run.dir={out}"])
            except RuntimeError as exc:  # the run failed: its error output
                print(str(exc)[-3000:], file=sys.stderr)
                rows.append({"case": name, "failed": True})
                continue
            rows.append({"case": name, "wall_seconds": wall, "peak_mib": peak, "failed": False,
                         "train_seconds": json.loads((out / "metrics.json").read_text())["train_seconds"]})
    if rows[0]["failed"]:
        print("the reference run failed: no ratios", file=sys.stderr)
        return 1
    print(f"\n{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; ratios against the first row")
    print(table(rows))
    return 1 if any(row["failed"] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
