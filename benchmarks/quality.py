"""Quality benchmark: every l2h method trained and evaluated by the real pipeline (one ``train.py`` process per
run), mean ± spread over seeds, written into the README between <!-- quality:start --> and <!-- quality:end -->.

    python benchmarks/quality.py --cifar ../shared/data/cifar10_gist512.mat --mnist ../shared/data/mnist --cache outputs/quality_cache
    python benchmarks/quality.py --cifar FILE --models lsh itq sdh --bits 32 --seeds 0 --no-readme   # a quick subset

Sections, each naming the protocol behind its figures:
- mAP of Hamming ranking on the standard protocol (1000 queries, 5000 labels, the 59000-item database) per
  dataset, code length and method, with the training time at 32 bits and its ratio to grh_mlp's; the
  Sablayrolles et al. baselines in the same table, marked: a classifier whose code is its predicted class's
  codeword, and the ranking by the inner product of its class posteriors (a ceiling, not a hash);
- the same on ``protocol=train_as_database`` (the retrieval set is the 5000 training items, as many published
  tables were scored) for the methods whose published figures come from it;
- the tutorial protocol's precision@10 and candidates per radius at 16 bits, and grh_svm's training time
  against the tutorial's scikit-learn loop (one CPU thread each);
- grh_svm's training time at 64 bits and 10 rounds on the CPU, and on the GPU when there is one;
- peak training memory against the number of labelled items.

With --cache DIR the standard-protocol runs are kept on disk, keyed by their settings, the code, the installed
packages and the data files' content: an interrupted benchmark resumes where it stopped, and any change
re-runs what it touches. The tutorial, speed and memory sections always run afresh, so their timings come
from one run."""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from l2h.atomic import write_json, write_text  # noqa: E402

CLASSIC = ["lsh", "pcah", "itq", "sh", "ksh", "sdh", "lfh", "cosdish"]
GRH = ["grh_tutorial", "grh_svm", "grh_kernel", "grh_mlp"]
DEEP = ["dpsh", "hashnet", "dsh", "csq", "greedyhash", "orthohash"]
BASELINES = ["classifier"]
MODELS = CLASSIC + GRH + DEEP + BASELINES
# on raw images the deep losses, GRH's deep partitioner and the classifier read a CNN
IMAGE_MODELS = {m: ["encoder=cnn"] for m in DEEP + BASELINES}
TRAIN_AS_DATABASE = ["lsh", "itq", "sdh", "lfh", "grh_mlp"]
REFERENCES = ["lsh", "grh_tutorial"]  # always in the tutorial-protocol table
LABELS = {"classifier": "classifier codewords (baseline, Sablayrolles et al.)"}


def run(overrides: list[str], threads: int | None = None) -> dict:
    """One train.py run's metrics; ``threads`` caps the CPU threads of torch and BLAS."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)} if threads else None
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, str(ROOT / "train.py"), *overrides, "trainer.enable_progress_bar=false",
               f"hydra.run.dir={out}"]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(overrides)} failed:\n{done.stderr[-2000:]}")
        return json.loads((Path(out) / "metrics.json").read_text())


def fingerprint(root: Path = ROOT) -> str:
    """Hash of what a run's result depends on besides its settings: the l2h package (its configs included),
    train.py and the versions of Python and of the numerical packages."""
    from importlib.metadata import version

    digest = hashlib.sha256(sys.version.encode())
    for package in ("torch", "numpy", "scipy", "scikit-learn", "numba", "pytorch-lightning"):
        digest.update(f"{package}={version(package)}".encode())
    files = [root / "train.py", *sorted((root / "l2h").rglob("*.yaml")), *sorted((root / "l2h").rglob("*.py"))]
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def data_stamp(overrides: list[str]) -> list:
    """Content hashes of the files behind a data.path override: a replaced file re-runs, while a copy of the same
    file (new timestamps, as when a data folder is restored) still hits."""
    paths = [ROOT / o.split("=", 1)[1] for o in overrides if o.startswith("data.path=")]  # as train.py reads it
    files = [f for p in paths for f in (sorted(p.iterdir()) if p.is_dir() else [p])]
    return [(str(f), file_digest(f, f.stat().st_size, f.stat().st_mtime_ns)) for f in files]


@functools.lru_cache(maxsize=None)
def file_digest(path: Path, size: int, mtime_ns: int) -> str:
    """SHA-256 of a file, remembered while its size and modification time stay the same."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class RunCache:
    """Finished runs' metrics in ``folder``, one JSON file per run, written atomically."""

    def __init__(self, folder: Path, code: str):
        self.folder, self.code = Path(folder), code
        self.folder.mkdir(parents=True, exist_ok=True)

    def get(self, overrides: list[str], compute) -> dict:
        key = json.dumps([self.code, overrides, data_stamp(overrides)])
        path = self.folder / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"
        if path.exists():
            try:
                return json.loads(path.read_text())["metrics"]
            except (json.JSONDecodeError, KeyError):
                pass  # unreadable: run again and overwrite
        metrics = compute()
        write_json(path, {"overrides": overrides, "metrics": metrics})
        return metrics


def cell(values, digits=3):
    v = np.asarray(values, dtype=float)
    return f"{v.mean():.{digits}f} ± {v.std():.{digits}f}" if v.size > 1 else f"{v.mean():.{digits}f}"


def fitted_classifier(data_args: list[str], bits: int, seed: int, extra: list[str]):
    """The classifier baseline fitted on exactly the split and preprocessing a train.py run with these overrides
    uses: (model, preprocessed query features, preprocessed database features, query labels, database labels,
    preprocessed training features)."""
    from hydra import compose, initialize_config_dir

    from l2h import pipeline
    from l2h.data.preprocess import Preprocessor

    with initialize_config_dir(config_dir=str(ROOT / "l2h" / "conf"), version_base=None):
        cfg = compose("train", overrides=[*data_args, "model=classifier", *extra, f"bits={bits}", f"seed={seed}",
                                          "trainer=cpu", "trainer.enable_progress_bar=false"])
    parts = pipeline.build_parts(cfg, training=True)
    data = parts.source.load()
    split = pipeline.split_data(cfg, data, parts.protocol, parts.settings)
    hasher = pipeline.build_hasher(cfg, data.item_shape)
    preprocess = Preprocessor(data.dim).fit(data.rows(split.train))
    train_x = preprocess.transform(data.rows(split.train))
    model = hasher.fit(train_x, data.labels[split.train])
    return (model, preprocess.transform(data.rows(split.query)), preprocess.transform(data.rows(split.database)),
            data.labels[split.query], data.labels[split.database], train_x)


def posterior_ceiling(data_args: list[str], bits: int, seed: int, extra: list[str]) -> float:
    """mAP of ranking the database by the inner product of the classifier's class posteriors with the query's,
    on exactly the split and preprocessing a train.py run with these overrides uses. Not a hash: a ceiling."""
    from l2h.hashers.classifier import posterior_ranking_map

    model, query_x, database_x, query_labels, database_labels, _ = fitted_classifier(data_args, bits, seed, extra)
    return posterior_ranking_map(model, query_x, database_x, query_labels, database_labels)


def map_table(data_args, name, models, bits_list, seeds, cache, protocol="standard", image=False,
              with_ceiling=True):
    """One row per model: mAP at each code length, training time at 32 bits and its ratio to grh_mlp's."""
    def measure(overrides):
        return cache.get(overrides, lambda: run(overrides)) if cache else run(overrides)

    lines = [f"#### {name}: mAP of Hamming ranking, protocol={protocol} (mean ± std over seeds {seeds})", "",
             "| model | " + " | ".join(f"{b} bits" for b in bits_list) + " | train s (32 bits) | × grh_mlp |",
             "|---|" + "---|" * (len(bits_list) + 2)]
    rows, seconds = {}, {}
    for model in models:
        extra = IMAGE_MODELS.get(model, []) if image else []
        row = []
        for bits in bits_list:
            runs = [measure([*data_args, f"protocol={protocol}", f"model={model}", *extra, f"bits={bits}",
                             f"seed={s}", "eval.max_radius=2"]) for s in seeds]
            row.append(cell([r["map"] for r in runs], 4))
            if bits == 32 or len(bits_list) == 1:
                seconds[model] = [r["train_seconds"] for r in runs]
            print(f"{name} {protocol} {model} {bits}: {row[-1]}", flush=True)
        rows[model] = row
    base = np.mean(seconds["grh_mlp"]) if "grh_mlp" in seconds else None
    for model, row in rows.items():
        label = LABELS.get(model, model) + (" (CNN)" if image and model in IMAGE_MODELS else "")
        ratio = f"{np.mean(seconds[model]) / base:.2f}" if base and model in seconds else ""
        lines.append(f"| {label} | " + " | ".join(row) + f" | {cell(seconds.get(model, [np.nan]), 1)} | {ratio} |")
    if with_ceiling and "classifier" in models:
        extra = IMAGE_MODELS["classifier"] if image else []
        row = [cell([posterior_ceiling([*data_args, f"protocol={protocol}"], bits, s, extra) for s in seeds], 4)
               for bits in bits_list]
        lines.append("| class-posterior ranking (ceiling, not a hash) | " + " | ".join(row) + " | | |")
        print(f"{name} posterior ceiling: {row}", flush=True)
    return lines


def tutorial_table(cifar, models, seeds, alphas=(), alpha_models=()):
    """Precision@10 and candidates per radius; each model at its default alpha, then the ``alpha_models`` at each
    of ``alphas``: a lower alpha keeps more of each item's own bits, spreading a class over more buckets.
    Every run gets one CPU thread, as the scikit-learn loop uses one: the training times compare like with like,
    and a second thread would only add synchronisation to these small problems."""
    lines = [f"#### CIFAR-10 GIST, protocol=tutorial, 16 bits (mean over seeds {seeds})", "",
             "| model | P@10 r≤0 | r≤1 | r≤2 | r≤3 | r≤4 | candidates r≤0 | r≤1 | r≤2 | r≤3 | r≤4 "
             "| train s (1 thread) |",
             "|---|" + "---|" * 11]
    found = {}
    variants = [(m, []) for m in models] + [(m, [f"model.alpha={a}"]) for m in alpha_models for a in alphas]
    for model, extra in variants:
        label = model + (f" alpha={extra[0].split('=')[1]}" if extra else "")
        runs = [run([f"data.path={cifar}", "data=cifar10_gist", "protocol=tutorial", f"model={model}", "bits=16",
                     f"seed={s}", "eval.compute_map=false", *extra], threads=1) for s in seeds]
        p = [np.mean([r["radius"][i]["precision_at_10"] for r in runs]) for i in range(5)]
        c = [np.mean([r["radius"][i]["mean_candidates"] for r in runs]) for i in range(5)]
        found[label] = (p, c, np.mean([r["train_seconds"] for r in runs]))
        lines.append(f"| {label} | " + " | ".join(f"{x:.3f}" for x in p) + " | "
                     + " | ".join(f"{x:.0f}" for x in c) + f" | {found[label][2]:.2f} |")
        print(f"tutorial {label}: precision@10 {' '.join(f'{x:.3f}' for x in p)}, candidates "
              f"{' '.join(f'{x:.0f}' for x in c)}", flush=True)
    if "grh_svm" in found and "grh_tutorial" in found:
        svm, tut = found["grh_svm"], found["grh_tutorial"]
        lines += ["", f"Training time, same split and bits, one CPU thread each: grh_svm {svm[2]:.2f} s against the "
                  f"tutorial's scikit-learn loop (grh_tutorial) {tut[2]:.2f} s: {tut[2] / svm[2]:.1f}x faster; "
                  f"precision@10 at radius 2: {svm[0][2]:.3f} against {tut[0][2]:.3f}."]
    return lines


def speed_table(cifar, seeds):
    """grh_svm's training time on 5000 labels, 64 bits, 10 rounds, full batch, on the CPU and on the GPU when
    there is one. Each run is its own train.py process, so a GPU figure includes the device's start-up."""
    devices = {"cpu": f"CPU ({os.cpu_count()} cores)"}
    if gpu_name():
        devices["gpu"] = f"GPU ({gpu_name()})"
    lines = [f"#### Training time of grh_svm: 5000 labels, 64 bits, 10 rounds, full batch (seeds {seeds})", "",
             "| trainer | train s | rounds run |", "|---|---|---|"]
    for trainer, label in devices.items():
        runs = [run(["data=cifar10_gist", f"data.path={cifar}", "model=grh_svm", "bits=64", "model.rounds=10",
                     f"seed={s}", f"trainer={trainer}", "eval.compute_map=false", "eval.max_radius=0"])
                for s in seeds]
        rounds = sorted({len(r["training"]["flipped"]) for r in runs})
        lines.append(f"| {label} | {cell([r['train_seconds'] for r in runs], 2)} | {', '.join(map(str, rounds))} |")
        print(lines[-1], flush=True)
    if "gpu" not in devices:
        lines.append("| GPU | not measured: no GPU on this machine | |")
    return lines


def memory_table(cifar, sizes):
    lines = ["#### Peak memory training grh_svm (32 bits) on n labelled CIFAR-10 items, own process", "",
             "| labelled items | peak RSS (MiB) | train s |", "|---|---|---|"]
    for n in sizes:
        code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
                "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
        with tempfile.TemporaryDirectory() as out:
            done = subprocess.run([sys.executable, "-c", code, sys.executable, str(ROOT / "train.py"),
                                   "data=cifar10_gist", f"data.path={cifar}", "model=grh_svm", "bits=32",
                                   "protocol=full" if n >= 59000 else f"protocol.n_train={n}",
                                   "eval.compute_map=false", "eval.max_radius=0", "trainer.enable_progress_bar=false",
                                   f"hydra.run.dir={out}"], capture_output=True, text=True, cwd=ROOT, check=True)
            seconds = json.loads((Path(out) / "metrics.json").read_text())["train_seconds"]
        lines.append(f"| {n} | {int(done.stdout.strip()) / 1024:.0f} | {seconds:.1f} |")
        print(lines[-1], flush=True)
    return lines


def gpu_name() -> str | None:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def machine() -> str:
    return f"{os.cpu_count()} CPU cores, {gpu_name() or 'no GPU'}"


def write_readme(lines, readme: Path):
    text = readme.read_text()
    block = "<!-- quality:start -->\n" + "\n".join(lines) + "\n<!-- quality:end -->"
    if "<!-- quality:start -->" in text:
        text = re.sub(r"<!-- quality:start -->.*<!-- quality:end -->", lambda _: block, text, flags=re.S)
    else:
        text += "\n" + block + "\n"
    write_text(readme, text)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="benchmarks/quality.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cifar", help="CIFAR-10 GIST-512 .mat")
    parser.add_argument("--mnist", help="folder with the MNIST IDX files")
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--bits", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--train-as-database", nargs="*", default=TRAIN_AS_DATABASE,
                        help="models also scored with protocol=train_as_database (none: skip the section)")
    parser.add_argument("--tutorial-seeds", type=int, nargs="*", default=[0, 1, 2, 3],
                        help="seeds of the tutorial-protocol section (none: skip it)")
    parser.add_argument("--tutorial-alphas", type=float, nargs="*", default=[0.7, 0.8])
    parser.add_argument("--alpha-models", nargs="*", default=["grh_mlp", "grh_kernel"])
    parser.add_argument("--speed-seeds", type=int, nargs="*", default=[0, 1, 2], help="none: skip the section")
    parser.add_argument("--memory-sizes", type=int, nargs="*", default=[15000, 30000, 59000])
    parser.add_argument("--cache", metavar="DIR", help="keep the standard-protocol runs here and reuse those "
                        "made by the same code, packages and data (resumes an interrupted benchmark)")
    parser.add_argument("--no-readme", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if not (args.cifar or args.mnist):
        parser.error("give --cifar and/or --mnist")
    cache = RunCache(Path(args.cache), fingerprint()) if args.cache else None
    lines = []
    if args.cifar:
        data = ["data=cifar10_gist", f"data.path={args.cifar}"]
        lines += map_table(data, "CIFAR-10 GIST-512", args.models, args.bits, args.seeds, cache) + [""]
        if args.train_as_database:
            lines += map_table(data, "CIFAR-10 GIST-512", [m for m in args.train_as_database if m in args.models],
                               args.bits, args.seeds, cache, protocol="train_as_database", with_ceiling=False) + [""]
        if args.tutorial_seeds:
            tutorial_models = REFERENCES + [m for m in args.models if m in GRH and m not in REFERENCES]
            lines += tutorial_table(args.cifar, tutorial_models, args.tutorial_seeds, args.tutorial_alphas,
                                    [m for m in args.alpha_models if m in args.models]) + [""]
        if args.speed_seeds:
            lines += speed_table(args.cifar, args.speed_seeds) + [""]
        if args.memory_sizes:
            lines += memory_table(args.cifar, args.memory_sizes) + [""]
    if args.mnist:
        models = args.models + (["grh_cnn"] if "grh_mlp" in args.models else [])
        lines += map_table(["data=mnist", f"data.path={args.mnist}"], "MNIST (raw pixels)", models, args.bits,
                           args.seeds, cache, image=True) + [""]
    print("\n".join(lines))
    if not args.no_readme:
        write_readme([f"Measured by `python benchmarks/quality.py {' '.join(argv or sys.argv[1:])}` on "
                      f"{machine()}.", "", *lines], ROOT / "README.md")


if __name__ == "__main__":
    main()
