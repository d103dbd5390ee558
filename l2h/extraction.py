"""Frozen deep features (``extract.py`` / ``l2h-extract``): a backbone's output for every item of an image dataset,
so that the shallow hashers (GRH, SDH, KSH, ITQ, ...) train on deep features with ``data=file
data.path=features.npy data.labels_path=features_labels.npy``.

The items go through the path a trained backbone encoder reads them by: l2h's preprocessing (L2-normalised, the
mean image subtracted) and the backbone's pixel scale, both fitted on ``fit_items`` items drawn with the seed,
then the backbone without its ImageNet class layer (pooled features for the ResNets, fc7 for AlexNet and VGG-16).
The features are written in chunks of ``batch_size`` items straight into the ``.npy`` file (memory holds one
chunk), under a temporary name renamed when complete: a killed run leaves no partial file under ``out``. Beside
them: the labels (``<stem>_labels.npy``) and a provenance record (``<stem>.json``: the backbone, its weights,
the data), which a training run on the features copies into its metrics.json (``features``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

import l2h
from l2h import atomic, checks
from l2h.data.preprocess import Preprocessor
from l2h.errors import L2HError

FORMAT = "l2h-features"


def outputs(out: Path) -> tuple[Path, Path, Path]:
    """The features file, its labels and its provenance record."""
    return out, out.with_name(f"{out.stem}_labels.npy"), out.with_suffix(".json")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_record(weights) -> dict:
    """Which weights: ``none``, ``imagenet``, or a file by its absolute path and SHA-256."""
    if weights in (None, "none", "imagenet"):
        return {"weights": str(weights or "none")}
    path = Path(str(weights)).expanduser().resolve()
    return {"weights": str(path), "weights_sha256": file_sha256(path)}


def extract(cfg: DictConfig, output_dir: Path, overridden: set[str] | None = None) -> dict:
    """Write the features, labels and provenance record; returns the record."""
    from l2h import pipeline
    from l2h.encoders.backbones import Backbone

    batch_size = checks.integer("batch_size", cfg.batch_size)
    fit_items = checks.integer("fit_items", cfg.fit_items, minimum=2)
    out = Path(cfg.out).expanduser() if cfg.out else Path(output_dir) / "features.npy"
    if out.suffix != ".npy":
        raise L2HError(f"out={out}: the features are written as a .npy file: give a path ending in .npy")
    source = pipeline.build(cfg.data, "data")
    source.check()
    make_encoder = pipeline.build(cfg.encoder, "encoder")
    target = getattr(make_encoder, "func", make_encoder)
    if not (isinstance(target, type) and issubclass(target, Backbone)):
        raise L2HError(f"encoder={cfg.encoder.get('_target_')} has no backbone features to extract: use "
                       "encoder=alexnet, vgg16, resnet18 or resnet50")
    data = source.load()
    extra = {"image_shape": list(data.item_shape)} if data.item_shape else {}
    encoder = make_encoder(in_dim=data.dim, bits=8, **extra)  # the hash head is not used
    rng = np.random.default_rng(cfg.seed)
    fitted_on = np.sort(rng.choice(data.n, size=min(fit_items, data.n), replace=False))
    preprocess = Preprocessor(data.dim).fit(data.rows(fitted_on))
    encoder.fit_inputs(torch.from_numpy(preprocess.transform(data.rows(fitted_on)))).eval()

    features_path, labels_path, record_path = outputs(out)
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
              "shape": (data.n, encoder.feature_dim)}
    with atomic.atomic_file(features_path) as f, progress(cfg.progress, data.n) as bar, torch.inference_mode():
        np.lib.format.write_array_header_1_0(f, header)
        for _, block in data.chunks(batch_size):
            features = encoder.features(torch.from_numpy(preprocess.transform(block)))
            f.write(np.ascontiguousarray(features.numpy(), dtype=np.float32).tobytes())
            bar.update(len(block))
    if data.labels is not None:
        atomic.write_with(labels_path, lambda f: np.save(f, data.labels))
    written = np.load(features_path, mmap_mode="r")
    fingerprint = type(data).create(data.name, written, data.labels).fingerprint()
    record = {"format": FORMAT, "backbone": encoder.arch, "encoder": OmegaConf.to_container(cfg.encoder, resolve=True),
              **weights_record(cfg.encoder.get("weights")), "data": data.name, "data_path": data_path(cfg),
              "items": int(data.n), "dim": int(encoder.feature_dim),
              "image_shape": list(encoder.image_shape), "fit_items": int(fitted_on.size), "seed": int(cfg.seed),
              "features": str(features_path.resolve()),
              "labels": str(labels_path.resolve()) if data.labels is not None else None,
              "data_sha256": fingerprint, "l2h_version": l2h.__version__}
    atomic.write_json(record_path, record)
    return record


def data_path(cfg: DictConfig) -> str | None:
    path = cfg.data.get("path")
    return str(Path(path).expanduser().resolve()) if path else None


def progress(enabled: bool, total: int):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=" items", desc="features", disable=not enabled, mininterval=0.5)


def provenance(features_path, fingerprint: str) -> dict | None:
    """The record ``extract`` wrote beside a features file, when it describes these very data (same
    fingerprint: a features file replaced since is not misattributed); else None."""
    if not features_path:
        return None
    record_path = outputs(Path(features_path).expanduser())[2]
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("format") != FORMAT or record.get("data_sha256") != fingerprint:
        return None
    return {k: record.get(k) for k in ("backbone", "weights", "weights_sha256", "data", "data_path", "items", "dim")}


def table(record: dict) -> str:
    """What the command prints."""
    return (f"{record['items']} items -> {record['dim']} features of {record['backbone']} "
            f"(weights: {record['weights']})\nfeatures: {record['features']}\nlabels: {record['labels']}")
