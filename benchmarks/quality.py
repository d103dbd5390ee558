"""Quality benchmark: the models trained and evaluated by the real pipeline, mean ± spread over seeds, and the
tables written into the README between <!-- quality:start --> and <!-- quality:end -->.

    python -m l2h.bench.quality --cifar ../shared/data/cifar10_gist512.mat --mnist ../shared/data/mnist
    python -m l2h.bench.quality --cifar FILE --models lsh grh_svm --bits 32 --seeds 0   # a quick subset

Sections: mAP of Hamming ranking on the standard protocol (1000 queries, 5000 labels) per dataset, bits and
model, with SDH (l2h.bench.sdh, the papers' settings) run on the same split and features as a reference
(grh_tutorial's per-bit scikit-learn SVMs take minutes per run on 5000 labels: --grh-tutorial-seeds can give
its rows fewer seeds); the tutorial protocol's precision@10 and candidates per radius at
16 bits; training time of grh_svm against the tutorial's scikit-learn loop (grh_tutorial) on the same split,
one CPU thread each; grh_svm's training time at 64 bits and 10 rounds on the CPU and on the GPU when there is
one; peak training memory against the number of labelled items (each run in its own process).

With --cache DIR the standard-protocol runs are kept on disk, keyed by their settings, the code, the installed
packages and the data files: an interrupted benchmark resumes where it stopped, and any change re-runs what it
touches. The tutorial-protocol, speed and memory sections always run afresh, so their timings come from one
run."""

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

from l2h.eval.report import write_json

ROOT = Path(__file__).resolve().parents[2]
MODELS = ["lsh", "grh_tutorial", "grh_svm", "grh_mlp", "grh_kernel"]
REFERENCES = ["lsh", "grh_tutorial"]  # always in the tutorial-protocol table


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
    """Hash of what a run's result depends on besides its settings: train.py, conf/, the l2h package (this
    report-writing module aside) and the versions of Python and of the numerical packages."""
    from importlib.metadata import version

    digest = hashlib.sha256(sys.version.encode())
    for package in ("torch", "numpy", "scipy", "scikit-learn", "numba"):
        digest.update(f"{package}={version(package)}".encode())
    files = [root / "train.py", *sorted((root / "conf").rglob("*.yaml")), *sorted((root / "l2h").rglob("*.py"))]
    for path in files:
        if path.resolve() != Path(__file__).resolve():
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


def sdh_map(data_args: list[str], bits: int, seed: int) -> float:
    """SDH's mAP on exactly the split and preprocessing a train.py run with these overrides would use."""
    from hydra import compose, initialize_config_dir

    from l2h import codes as codes_mod
    from l2h import pipeline
    from l2h.bench.sdh import SDH
    from l2h.data.preprocess import Preprocessor
    from l2h.eval.metrics import ranking_metrics

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        cfg = compose("train", overrides=[*data_args, f"bits={bits}", f"seed={seed}"])
    data = pipeline.load_data(cfg)
    split = pipeline.split_data(cfg, data)
    preprocess = Preprocessor(data.dim).fit(data.features[split.train])
    sdh = SDH(bits, seed=seed).fit(preprocess.transform(data.features[split.train]), data.labels[split.train])
    query, database = (codes_mod.pack(sdh.encode(preprocess.transform(data.features[rows])))
                       for rows in (split.query, split.database))
    relevance = pipeline.make_relevance(cfg, data, split, None, None)
    return ranking_metrics(query, database, relevance, bits).summary()["map"]


def cell(values, digits=3):
    v = np.asarray(values, dtype=float)
    return f"{v.mean():.{digits}f} ± {v.std():.{digits}f}" if v.size > 1 else f"{v.mean():.{digits}f}"


def map_table(data_args, name, models, bits_list, seeds, grh_tutorial_seeds, cache: RunCache | None = None,
              with_sdh=True):
    """``grh_tutorial_seeds``: grh_tutorial's own seeds, which can be fewer, as its scikit-learn loop takes minutes
    per run; ``cache`` reuses finished runs."""
    def measure(overrides):
        return cache.get(overrides, lambda: run(overrides)) if cache else run(overrides)

    lines = [f"#### {name}: mAP of Hamming ranking, standard protocol (mean ± std over seeds {seeds})", "",
             "| model | " + " | ".join(f"{b} bits" for b in bits_list) + " | train s (32 bits) |",
             "|---|" + "---|" * (len(bits_list) + 1)]
    for model in models:
        model_seeds = grh_tutorial_seeds if model == "grh_tutorial" else seeds
        label = model if model_seeds == seeds else f"{model} (seeds {model_seeds})"
        row, seconds = [], []
        for bits in bits_list:
            runs = [measure([*data_args, f"model={model}", f"bits={bits}", f"seed={s}", "eval.max_radius=2"])
                    for s in model_seeds]
            row.append(cell([r["map"] for r in runs], 4))
            if bits == 32 or len(bits_list) == 1:
                seconds = [r["train_seconds"] for r in runs]
            print(f"{name} {label} {bits}: {row[-1]}", flush=True)
        lines.append(f"| {label} | " + " | ".join(row) + f" | {cell(seconds, 1) if seconds else ''} |")
    if with_sdh:
        row = [cell([sdh_map(data_args, bits, s) for s in seeds], 4) for bits in bits_list]
        lines.append("| SDH (reference, not an l2h model) | " + " | ".join(row) + " | |")
        print(f"{name} SDH: {row}", flush=True)
    return lines


def tutorial_table(cifar, models, seeds, alphas=(), alpha_models=()):
    """Precision@10 and candidates per radius; each model at its default alpha, then the ``alpha_models`` at each
    of ``alphas``: a lower alpha keeps more of each item's own bits, spreading a class over more buckets.
    Every run gets one CPU thread, as the scikit-learn loop uses one: the training times compare like with like,
    and a second thread would only add synchronisation to these small problems."""
    lines = [f"#### CIFAR-10 GIST, tutorial protocol, 16 bits (mean over seeds {seeds})", "",
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
                                   f"protocol.n_train={n}", "eval.compute_map=false", "eval.max_radius=0",
                                   "trainer.enable_progress_bar=false", f"hydra.run.dir={out}"],
                                  capture_output=True, text=True, cwd=ROOT, check=True)
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
    readme.write_text(text)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m l2h.bench.quality", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cifar", help="CIFAR-10 GIST-512 .mat")
    parser.add_argument("--mnist", help="folder with the MNIST IDX files")
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--bits", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--grh-tutorial-seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="seeds of grh_tutorial's standard-protocol rows (minutes per run)")
    parser.add_argument("--tutorial-seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--tutorial-alphas", type=float, nargs="*", default=[0.7, 0.8])
    parser.add_argument("--alpha-models", nargs="*", default=["grh_mlp", "grh_kernel"])
    parser.add_argument("--memory-sizes", type=int, nargs="*", default=[15000, 30000, 59000])
    parser.add_argument("--cache", metavar="DIR", help="keep the standard-protocol runs here and reuse those "
                        "made by the same code, packages and data (resumes an interrupted benchmark)")
    parser.add_argument("--no-readme", action="store_true", help="print only")
    args = parser.parse_args(argv)
    cache = RunCache(Path(args.cache), fingerprint()) if args.cache else None
    lines = []
    if args.cifar:
        lines += map_table(["data=cifar10_gist", f"data.path={args.cifar}"], "CIFAR-10 GIST-512", args.models,
                           args.bits, args.seeds, args.grh_tutorial_seeds, cache) + [""]
        tutorial_models = REFERENCES + [m for m in args.models if m not in REFERENCES]
        lines += tutorial_table(args.cifar, tutorial_models, args.tutorial_seeds, args.tutorial_alphas,
                                [m for m in args.alpha_models if m in args.models]) + [""]
        lines += speed_table(args.cifar, args.seeds) + [""]
        if args.memory_sizes:
            lines += memory_table(args.cifar, args.memory_sizes) + [""]
    if args.mnist:
        lines += map_table(["data=mnist", f"data.path={args.mnist}"], "MNIST", args.models, args.bits,
                           args.seeds, args.grh_tutorial_seeds, cache) + [""]
    if not lines:
        parser.error("give --cifar and/or --mnist")
    print("\n".join(lines))
    if not args.no_readme:
        write_readme([f"Measured by `python -m l2h.bench.quality {' '.join(argv or sys.argv[1:])}` on "
                      f"{machine()}.", "", *lines],
                     ROOT / "README.md")


if __name__ == "__main__":
    main()
