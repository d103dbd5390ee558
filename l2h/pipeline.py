"""The runs behind ``train.py`` and ``evaluate.py``: load, split, fit, checkpoint, index, search, report.

Each step is a function of the composed Hydra config, so the same runs work from Python, tests and sweeps."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from l2h import checkpoint, provenance
from l2h.data.dataset import Dataset
from l2h.data.loaders import load_dataset
from l2h.data.preprocess import Preprocessor
from l2h.data.protocols import Split, make_split
from l2h.errors import L2HError
from l2h.eval import report
from l2h.eval.metrics import ranking_metrics
from l2h.eval.radius_sweep import radius_sweep
from l2h.eval.relevance import Relevance, from_labels, from_neighbours
from l2h.index.hash_index import HashIndex
from l2h.models.base import HashModel

_DATA_OPTIONS = ("features", "labels", "labels_path")
_PROTOCOL_OPTIONS = ("n_query", "n_train", "n_validation")


def load_data(cfg: DictConfig) -> Dataset:
    options = {k: cfg.data[k] for k in _DATA_OPTIONS if k in cfg.data}
    if cfg.data.format != "digits" and not cfg.data.get("path"):
        raise L2HError(f"data={cfg.data.name} reads a file: add data.path=/path/to/{cfg.data.get('example', 'file')}")
    return load_dataset(cfg.data.format, cfg.data.get("path"), name=cfg.data.name, **options)


def split_data(cfg: DictConfig, data: Dataset) -> Split:
    if data.labels is None and cfg.eval.relevance == "labels":
        raise L2HError(f"{data.name} has no labels to tell relevant items apart: give data.labels, or set "
                       "eval.relevance=neighbours to judge by the true nearest neighbours")
    options = {k: cfg.protocol[k] for k in _PROTOCOL_OPTIONS if k in cfg.protocol}
    return make_split(cfg.protocol.name, data, seed=cfg.seed, **options)


def build_hasher(cfg: DictConfig):
    if cfg.bits <= 0:
        raise L2HError(f"bits={cfg.bits}: the code length must be positive, e.g. bits=16, 32 or 64")
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    model_cfg.pop("name", None)
    try:
        return instantiate(model_cfg)
    except InstantiationException as exc:
        if isinstance(exc.__cause__, L2HError):
            raise exc.__cause__ from None
        raise L2HError(f"the model config does not build: {str(exc).splitlines()[-1]}") from None


def check_eval(cfg: DictConfig, bits: int) -> None:
    if cfg.eval.max_radius > bits:
        raise L2HError(f"eval.max_radius={cfg.eval.max_radius} is larger than the code length ({bits} bits): "
                       f"use eval.max_radius<={bits}")


def train(cfg: DictConfig, output_dir: Path) -> dict:
    """Fit the configured hasher, save its checkpoint, evaluate it and write the run's report."""
    check_eval(cfg, cfg.bits)
    hasher = build_hasher(cfg)
    data = load_data(cfg)
    split = split_data(cfg, data)
    preprocess = Preprocessor(data.dim).fit(data.features[split.train])
    train_x = preprocess.transform(data.features[split.train])
    start = time.perf_counter()
    trainer = OmegaConf.to_container(cfg.trainer, resolve=True)
    validation = None
    if split.validation.size and data.labels is not None:
        validation = (preprocess.transform(data.features[split.validation]), data.labels[split.validation])
    hash_functions = hasher.fit(train_x, None if data.labels is None else data.labels[split.train],
                                trainer=trainer, validation=validation)
    train_seconds = time.perf_counter() - start
    model = HashModel(preprocess, hash_functions)
    ckpt = checkpoint.save(output_dir / "model.ckpt", model,
                           {"model": cfg.model.name, "config": OmegaConf.to_container(cfg, resolve=True)})
    metrics = evaluate_model(cfg, model, cfg.model.name, data, split, output_dir, ckpt, train_seconds,
                             training=getattr(hasher, "history", {}))
    return metrics


def evaluate(cfg: DictConfig, output_dir: Path) -> dict:
    """Evaluate a saved checkpoint on the configured data and protocol, without training."""
    model, meta = checkpoint.load(cfg.ckpt_path)
    check_eval(cfg, model.bits)
    data = load_data(cfg)
    if data.dim != model.in_dim:
        raise L2HError(f"{data.name} has {data.dim}-dimensional features but the checkpoint was trained on "
                       f"{model.in_dim}: evaluate it on data of the same kind")
    return evaluate_model(cfg, model, meta.get("model", "unknown"), data, split_data(cfg, data), output_dir,
                          Path(cfg.ckpt_path), float("nan"))


def metrics_device(cfg: DictConfig) -> str | None:
    """eval.device: auto (the GPU when there is one, else the compiled CPU pass), cpu, or a torch device."""
    import torch

    choice = cfg.eval.get("device", "auto")
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else None
    return None if choice == "cpu" else choice


def make_relevance(cfg: DictConfig, data: Dataset, split: Split, query_features: np.ndarray,
                   database_features: np.ndarray) -> Relevance:
    """Relevance by labels (shared class or label), or by the true k nearest neighbours among the given
    (preprocessed) features."""
    if cfg.eval.relevance == "labels":
        return from_labels(data.labels[split.query], data.labels[split.database])
    if cfg.eval.relevance == "neighbours":
        return from_neighbours(query_features, database_features, k=cfg.eval.neighbours_k,
                               metric=cfg.eval.neighbours_metric)
    raise L2HError(f"eval.relevance={cfg.eval.relevance!r} is not labels or neighbours")


def evaluate_model(cfg: DictConfig, model: HashModel, name: str, data: Dataset, split: Split, output_dir: Path,
                   ckpt: Path, train_seconds: float, training: dict | None = None) -> dict:
    """Encode, index the database in a hash table, sweep the radius, rank, and write every report file."""
    # preprocessed once: the codes, the cosine re-ranking and neighbour relevance all read these
    query_x = model.preprocess.transform(data.features[split.query])
    db_x = model.preprocess.transform(data.features[split.database])
    query_codes, db_codes = model.encode(query_x, preprocessed=True), model.encode(db_x, preprocessed=True)
    relevance = make_relevance(cfg, data, split, query_x, db_x)
    index = HashIndex(model.bits)
    index.add(db_codes)
    sweep = radius_sweep(index, query_codes, relevance, cfg.eval.max_radius, k=cfg.eval.k,
                         rerank=cfg.eval.rerank, empty_policy=cfg.eval.empty_policy,
                         query_features=query_x, database_features=db_x)
    ranking = (ranking_metrics(query_codes, db_codes, relevance, model.bits, ks=tuple(cfg.eval.ks),
                               Rs=tuple(cfg.eval.map_at), device=metrics_device(cfg)).summary(cfg.eval.empty_policy)
               if cfg.eval.compute_map else {"map": float("nan")})
    metrics = {
        "model": name,
        "bits": model.bits,
        "dataset": data.name,
        "protocol": split.protocol,
        "seed": int(cfg.seed),
        "n_query": int(split.query.size),
        "n_train": int(split.train.size),
        "n_database": int(split.database.size),
        "train_seconds": train_seconds,
        "map": ranking["map"],
        "checkpoint": str(ckpt.resolve()),
        "radius": [{"radius": r.radius, "precision_at_10": r.precision_at_k, "mean_candidates": r.mean_candidates,
                    "mean_query_ms": r.mean_query_ms, "empty_fraction": r.empty_fraction,
                    "mean_buckets_probed": r.mean_buckets_probed} for r in sweep],
        "ranking": {k: v for k, v in ranking.items() if k != "map"},
        "training": training or {},
        "validation_map": max(training["val_map"]) if training and training.get("val_map") else None,
        "eval": {"k": cfg.eval.k, "rerank": cfg.eval.rerank, "empty_policy": cfg.eval.empty_policy,
                 "relevance": relevance.description,
                 "map_ties": "broken by database id (map_tie_aware: expectation over random tie orders)"},
        "split_sha256": split.fingerprints(),
        "environment": provenance.record(),
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    report.write_json(output_dir / "metrics.json", metrics)
    report.plot(metrics, output_dir / "radius.png")
    report.plot_pr(metrics, output_dir / "pr.png")
    if cfg.eval.save_codes:
        labels = {} if data.labels is None else {"query_labels": data.labels[split.query],
                                                 "database_labels": data.labels[split.database]}
        np.savez(output_dir / "codes.npz", query=query_codes, database=db_codes, **labels)
    return metrics
