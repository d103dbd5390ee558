"""The runs behind ``train.py`` and ``evaluate.py``: load, split, fit, checkpoint, index, search, report.

Every config group is instantiated by its ``_target_`` (data source, protocol, model, index, trainer, logger,
eval), all of them before any work starts, so an impossible setting is refused in one line before data are
read or a model is trained. Each step is a function of the composed config, so the same runs work from
Python, tests and sweeps."""

from __future__ import annotations

import copy
import functools
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from l2h import atomic, checkpoint, checks, extraction, provenance, stream, tables
from l2h.data.dataset import Dataset, chunk_rows
from l2h.data.preprocess import Preprocessor
from l2h.data.protocols import Protocol, Split
from l2h.devices import initialise, training_device
from l2h.errors import L2HError
from l2h.eval.crossmodal import cross_modal_map
from l2h.eval.metrics import ranking_metrics
from l2h.eval.radius_sweep import radius_sweep
from l2h.eval.relevance import (
    Relevance,
    from_ground_truth,
    from_labels,
    from_neighbours,
)
from l2h.eval.settings import EvalSettings
from l2h.hashers.base import Hasher
from l2h.index.union import index_for_model
from l2h.model import HashModel
from l2h.report import run as report
from l2h.report.folder import RunFolder, check_writable

# settings that change what a run computes only through these names in the stored config
_RUN_SETTINGS = ("data", "protocol", "seed")
# the most bytes of lazy image features (queries and database, float32) evaluation holds whole, for the settings
# that need every item's features (cosine re-ranking, neighbour relevance); beyond it they are refused
IMAGES_IN_MEMORY = 4 << 30


def build(node, what: str, **kwargs):
    """Instantiate one config group; a failure is one line naming the group."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as exc:
        cause = exc.__cause__
        while cause is not None and not isinstance(cause, L2HError) and cause.__cause__ is not None:
            cause = cause.__cause__
        if isinstance(cause, L2HError):
            raise cause from None
        reason = str(cause or exc).strip().splitlines()[-1] if str(cause or exc).strip() else type(exc).__name__
        raise L2HError(f"the {what} config does not build ({reason}): check the {what}.* settings") from None
    except L2HError:
        raise
    except (TypeError, ValueError) as exc:
        raise L2HError(f"the {what} config does not build ({exc}): check the {what}.* settings") from None


def _container(node) -> dict:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)


def _with_image_shape(node, shape):
    """Fill every ``image_shape: null`` of a config (the CNN's, wherever it sits) with the data's item shape."""
    if isinstance(node, dict):
        return {k: (list(shape) if k == "image_shape" and v is None and shape else _with_image_shape(v, shape))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_with_image_shape(v, shape) for v in node]
    return node


def build_hasher(cfg: DictConfig, item_shape=None) -> Hasher:
    model = _with_image_shape(_container(cfg.model), item_shape)
    model.pop("name", None)
    hasher = build(model, "model")
    if not isinstance(hasher, Hasher):
        raise L2HError(f"model._target_ {cfg.model.get('_target_')} does not build an l2h hasher: its class must "
                       "subclass l2h.hashers.base.Hasher")
    return hasher


def check_trainer(cfg: DictConfig) -> None:
    """Build (and drop) a trainer from the settings, so an impossible accelerator is refused before training."""
    import torch

    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise L2HError(f"trainer.accelerator={accelerator} asks for a GPU but this machine has none: use "
                       "trainer=cpu, or trainer=default (the GPU when there is one)")
    from l2h.training.trainer import build_trainer

    build_trainer(build(cfg.trainer, "trainer"), max_epochs=1, callbacks=[], logger=False,
                  enable_progress_bar=False)


@dataclass
class Parts:
    """A run's instantiated config groups."""

    source: object
    protocol: Protocol
    hasher: Hasher | None
    make_index: object
    settings: EvalSettings


def build_parts(cfg: DictConfig, training: bool) -> Parts:
    """Every group, checked now: nothing is read or trained before all settings are known to be possible."""
    if training:
        checks.bits(cfg.bits)
        tables.check(cfg.get("tables", 1))
    if not isinstance(cfg.get("seed"), int) or isinstance(cfg.seed, bool) or cfg.seed < 0:
        raise L2HError(f"seed={cfg.get('seed')!r}: the seed must be a non-negative integer")
    settings = build(cfg.eval, "eval")
    if training:
        settings.check_bits(cfg.bits)
    source = build(cfg.data, "data")
    source.check()  # the files exist and their format is known: cheap, reads no data
    protocol = build(cfg.protocol, "protocol")
    hasher = build_hasher(cfg) if training else None
    make_index = build(cfg.index, "index")
    if training:
        check_trainer(cfg)
        make_index(bits=cfg.bits)  # an index that cannot hold these codes is refused before training
        if isinstance(protocol, stream.Stream):
            stream.check(hasher, cfg.get("tables", 1))
    return Parts(source, protocol, hasher, make_index, settings)


def trainer_factory(cfg: DictConfig, logs: Path):
    """The trainer settings with the run's logger (CSV by default) writing into the run folder's logs."""
    logger = build(cfg.logger, "logger", save_dir=str(logs)) if cfg.get("logger") else False
    return functools.partial(build(cfg.trainer, "trainer"), logger=logger, default_root_dir=str(logs))


def split_data(cfg: DictConfig, data: Dataset, protocol: Protocol, settings: EvalSettings) -> Split:
    if settings.relevance == "labels" and data.labels is None:
        raise L2HError(f"{data.name} has no labels to tell relevant items apart: give data.labels, or set "
                       "eval.relevance=neighbours to judge by the true nearest neighbours")
    split = protocol.split(data, seed=cfg.seed)
    check_features_fit(settings, data, split)  # before training, not after it
    return split


def check_features_fit(settings: EvalSettings, data: Dataset, split: Split) -> None:
    """Refuse, in one line naming the setting, an evaluation that would hold more than :data:`IMAGES_IN_MEMORY`
    of lazy image features whole (a 224-pixel CIFAR-10 database is 32 GB)."""
    if not (data.item_shape and data.lazy and features_needed(settings, data)):
        return
    size = 4 * data.dim * (split.query.size + split.database.size)
    if size <= IMAGES_IN_MEMORY:
        return
    setting, fix = ("eval.rerank=cosine", "eval.rerank=hamming") if settings.rerank == "cosine" else \
        ("eval.relevance=neighbours", "eval.relevance=labels")
    raise L2HError(f"{setting} needs the pixels of all {split.query.size + split.database.size} query and database "
                   f"images in memory ({size / 2**30:.1f} GiB): set {fix}, and the images are encoded a chunk at a "
                   "time")


def relevance_kind(settings: EvalSettings, data: Dataset) -> str:
    """``labels``, ``given`` or ``neighbours``: ``eval.relevance`` with ``auto`` resolved for these data."""
    kind = settings.relevance
    if kind == "auto":
        kind = "labels" if data.labels is not None else "given" if data.neighbors is not None else "neighbours"
    return kind


def features_needed(settings: EvalSettings, data: Dataset) -> bool:
    """Whether evaluation reads every item's features, not only its codes and labels."""
    return settings.rerank == "cosine" or relevance_kind(settings, data) == "neighbours"


def encode_in_chunks(model: HashModel, data: Dataset, rows: np.ndarray) -> np.ndarray:
    """The codes of ``data``'s rows ``rows``, read and encoded a chunk (:func:`chunk_rows`) at a time."""
    step = chunk_rows(data.dim)
    return np.concatenate([model.encode(data.rows(rows[lo:lo + step])) for lo in range(0, max(1, rows.size), step)])


def stored_config(cfg: DictConfig) -> dict:
    """The run's config as the checkpoint keeps it, with the data file's path made absolute so that evaluating
    the checkpoint from another folder finds the same file."""
    config = OmegaConf.to_container(cfg, resolve=True)
    for key in ("path", "labels_path", "queries_path", "ground_truth_path", "root", "train", "test", "database"):
        if config["data"].get(key):
            config["data"][key] = str(Path(config["data"][key]).expanduser().resolve())
    return config


def check_encoder_used(cfg: DictConfig, overridden: set[str]) -> None:
    """``encoder=...`` chooses the network of the models that read the encoder group; for any other model it
    would be silently ignored, so it is refused."""
    if "encoder" in overridden and "${encoder}" not in str(OmegaConf.to_container(cfg.model, resolve=False)):
        raise L2HError(f"model={cfg.model.name} does not read the encoder group: its hash functions are set by "
                       "model.partitioner.* (encoder=... applies to the deep models, the classifier and grh_cnn)")


def train(cfg: DictConfig, output_dir: Path, overridden: set[str] | None = None) -> dict:
    """Fit the configured hasher, save its checkpoint, evaluate it and write the run's report."""
    check_encoder_used(cfg, overridden or set())
    parts = build_parts(cfg, training=True)
    check_writable(output_dir)
    data = parts.source.load()
    split = split_data(cfg, data, parts.protocol, parts.settings)
    hasher = build_hasher(cfg, data.item_shape) if data.item_shape else parts.hasher
    train_labels = None if data.labels is None else data.labels[split.train]
    if hasher.supervised and train_labels is None:
        hasher.check_labels(None)
    with RunFolder(output_dir) as folder:
        preprocess, views = Preprocessor(data.dim, view_dims=data.view_dims), None
        if hasattr(hasher, "training_views"):  # image data: fresh crops and flips every epoch (l2h/training/data.py)
            from l2h.training.data import training_views

            views = hasher.training_views = training_views(data, split.train, train_labels, preprocess,
                                                           getattr(parts.source, "workers", 0))
        # with training views, the fixed features are only what the preprocessing and the encoder's input map are
        # fitted on: a sample of one chunk (chunk_rows), never every training image at full size
        fitted_on = split.train if views is None else np.sort(np.random.default_rng(cfg.seed).choice(
            split.train, size=min(split.train.size, chunk_rows(data.dim)), replace=False))
        train_x = data.rows(fitted_on)
        train_x = preprocess.fit(train_x).transform(train_x)  # fitted in place: the views preprocess with it
        if hasattr(hasher, "view_dims"):  # a cross-modal model learns one hash function per view
            hasher.view_dims = data.view_dims
        validation = None
        if split.validation.size and data.labels is not None:
            validation = (preprocess.transform(data.rows(split.validation)), data.labels[split.validation])
        device = training_device(hasher, build(cfg.trainer, "trainer"))
        initialise(device)  # a GPU's start-up (a second or more) is not training: before the timer
        start = time.perf_counter()
        streamed, table_notes = None, []
        if isinstance(parts.protocol, stream.Stream):  # fed batch by batch, scored after each (l2h/stream.py)
            encoder, streamed = stream.run(parts.protocol, hasher, preprocess, data, split, cfg.seed,
                                           parts.settings.empty_policy)
        else:
            def make_table(table_cfg):  # every table of a many-table run trains on the run's views
                table = build_hasher(table_cfg, data.item_shape)
                if hasattr(table, "view_dims"):
                    table.view_dims = data.view_dims
                if views is not None:
                    table.training_views = views
                return table

            encoder, table_notes = tables.fit(cfg, hasher, make_table, train_x, train_labels, validation=validation,
                                              trainer=trainer_factory(cfg, folder.stage_folder("logs")))
        train_seconds = time.perf_counter() - start if streamed is None else sum(r["update_seconds"] for r in streamed)
        model = HashModel(preprocess, encoder).on(device)  # evaluated on the device it trained on
        ckpt = output_dir / "model.ckpt"
        meta = {"model": cfg.model.name, "run_id": folder.token, "train_seconds": train_seconds,
                "config": stored_config(cfg)}
        folder.stage("model.ckpt", checkpoint.to_bytes(model, meta))
        return evaluate_model(cfg, parts, model, cfg.model.name, data, split, folder, ckpt, train_seconds,
                              training=hasher.history, notes=table_notes, stream_records=streamed)


def with_training_settings(cfg: DictConfig, meta: dict, overridden: set[str],
                           keys: tuple[str, ...] = _RUN_SETTINGS) -> tuple[DictConfig, list[str]]:
    """The config with the data, protocol and seed (``keys``) of the training run, except those the user set on
    the command line; and a note for each setting the user changed from the training run's."""
    trained = meta.get("config") or {}
    cfg = copy.deepcopy(cfg)
    notes = []
    OmegaConf.set_struct(cfg, False)
    for key in keys:
        if key not in trained:
            continue
        if key in overridden:
            if OmegaConf.to_container(OmegaConf.create({key: cfg[key]}), resolve=True)[key] != trained[key]:
                notes.append(f"{key} differs from the training run's (trained with {key}={_brief(trained[key])}): "
                             "the scores are on another split or data")
        else:
            cfg[key] = trained[key]
    OmegaConf.set_struct(cfg, True)
    return cfg, notes


def _brief(value) -> str:
    if isinstance(value, dict):
        shown = {k: v for k, v in value.items() if k in ("name", "path", "n_query", "n_train", "n_validation")}
        return str(shown or value)
    return str(value)


def evaluate(cfg: DictConfig, output_dir: Path, overridden: set[str] | None = None) -> dict:
    """Evaluate a saved checkpoint without training: by default on the data, protocol and seed it was trained
    with; a user's override of any of them is applied and noted in the report."""
    if not cfg.get("ckpt_path"):
        raise L2HError("no checkpoint given: pass ckpt_path=/path/to/model.ckpt from a training run")
    model, meta = checkpoint.load(cfg.ckpt_path)
    cfg, notes = with_training_settings(cfg, meta, overridden or set())
    parts = build_parts(cfg, training=False)
    model.on(cfg.get("device"))  # evaluate.yaml's device: auto is the GPU when there is one
    parts.settings.check_bits(model.bits)
    parts.make_index(bits=model.bits)
    check_writable(output_dir)
    data = parts.source.load()
    if data.dim != model.in_dim:
        raise L2HError(f"{data.name} has {data.dim}-dimensional features but the checkpoint was trained on "
                       f"{model.in_dim}: evaluate it on data of the kind it was trained on")
    split = split_data(cfg, data, parts.protocol, parts.settings)
    with RunFolder(output_dir) as folder:
        return evaluate_model(cfg, parts, model, meta.get("model", "unknown"), data, split, folder,
                              Path(cfg.ckpt_path), meta.get("train_seconds", float("nan")), notes=notes,
                              evaluated_from=str(Path(cfg.ckpt_path).resolve()))


def make_relevance(settings: EvalSettings, data: Dataset, split: Split, query_x: np.ndarray,
                   db_x: np.ndarray) -> Relevance:
    """Relevance by labels (shared class or label), by the data file's ground truth, or by the true k nearest
    neighbours among the given (preprocessed) features."""
    kind = relevance_kind(settings, data)
    if kind == "labels":
        if split.external_queries:
            raise L2HError(f"{data.name}'s own queries have no labels: use eval.relevance=given or neighbours")
        return from_labels(data.labels[split.query], data.labels[split.database])
    if kind == "given":
        if data.neighbors is None or not split.external_queries:
            raise L2HError("eval.relevance=given needs a file with its own queries and their true neighbours "
                           "(an ann-benchmarks .hdf5) and protocol=given")
        return from_ground_truth(data.neighbors, len(split.database))
    return from_neighbours(query_x, db_x, k=settings.neighbours_k, metric=settings.neighbours_metric)


def warnings_for(data: Dataset, split: Split, relevance: Relevance) -> list[str]:
    found = []
    if relevance.mode == 0 and data.labels is not None:
        if np.unique(data.labels[split.database]).size == 1:
            found.append("every database item has the same class, so every item is relevant to every query: "
                         "precision and mAP are 1 whatever the codes")
    return found


def unscored_radii_warnings(metrics: dict, precision_key: str) -> list[str]:
    """With ``empty_policy=skip``, precision is nan at a radius where every query's ball is empty (long codes on
    a small database): no query is left to average. Say so, rather than print a bare nan. Balls nest, so the
    empty radii are always 0 .. the largest of them."""
    sweep = [r["radius"] for r in metrics["radius"] if r["empty_fraction"] == 1 and math.isnan(r[precision_key])]
    ball = [b["radius"] for b in metrics["ranking"].get("hamming_ball", [])
            if b["empty_fraction"] == 1 and math.isnan(b["precision"])]
    missing = [*([f"{precision_key} at radius 0 to {max(sweep)}"] if sweep else []),
               *([f"ranking.hamming_ball's precision at radius 0 to {max(ball)}"] if ball else [])]
    if not missing:
        return []
    verb = "is" if len(missing) == 1 else "are"
    return [f"{' and '.join(missing)} {verb} nan: every query's Hamming ball there is empty "
            f"({metrics['bits']}-bit codes of {metrics['n_database']} database items lie farther apart), and "
            "eval.empty_policy=skip leaves no query to average; eval.empty_policy=zero scores an empty ball 0, "
            "a larger eval.max_radius or fewer bits finds candidates"]


def evaluate_model(cfg: DictConfig, parts: Parts, model: HashModel, name: str, data: Dataset, split: Split,
                   folder: RunFolder, ckpt: Path, train_seconds: float, training: dict | None = None,
                   notes: list[str] | None = None, evaluated_from: str | None = None,
                   stream_records: list[dict] | None = None) -> dict:
    """Encode, index the database, sweep the radius, rank, and commit every report file of the run;
    ``stream_records``: a stream run's per-batch records (metrics.json ``stream``)."""
    settings = parts.settings
    if data.lazy and not features_needed(settings, data):  # codes and labels suffice: never every item at once
        query_x = db_x = None
        query_codes = model.encode(data.queries[split.query]) if split.external_queries else \
            encode_in_chunks(model, data, split.query)
        db_codes = encode_in_chunks(model, data, split.database)
    else:  # preprocessed once: the codes, the cosine re-ranking and neighbour relevance all read these
        query_rows = data.queries[split.query] if split.external_queries else data.rows(split.query)
        query_x = model.preprocess.transform(np.asarray(query_rows, dtype=np.float32))
        db_x = model.preprocess.transform(data.rows(split.database))
        query_codes, db_codes = model.encode(query_x, preprocessed=True), model.encode(db_x, preprocessed=True)
    relevance = make_relevance(settings, data, split, query_x, db_x)
    index = index_for_model(parts.make_index, model)
    index.add(db_codes)
    sweep = radius_sweep(index, query_codes, relevance, settings.max_radius, k=settings.k, rerank=settings.rerank,
                         empty_policy=settings.empty_policy, query_features=query_x, database_features=db_x)
    ranking = (ranking_metrics(query_codes, db_codes, relevance, model.bits, ks=tuple(settings.ks),
                               Rs=tuple(settings.map_at), device=settings.metrics_device())
               .summary(settings.empty_policy) if settings.compute_map else {"map": float("nan")})
    val_map = (training or {}).get("val_map")
    metrics = {
        "model": name,
        "run_id": folder.token,
        "bits": model.bits,
        "tables": model.tables,
        "dataset": data.name,
        "protocol": split.protocol,
        "seed": int(cfg.seed),
        "n_query": int(split.query.size),
        "n_train": int(split.train.size),
        "n_validation": int(split.validation.size),
        "n_database": int(split.database.size),
        "train_seconds": train_seconds,
        "map": ranking["map"],
        **{f"map@{R}": value for R, value in ranking.get("map_at", {}).items()},  # the field's name of mAP@R
        "checkpoint": str(ckpt.resolve()),
        "evaluated_from": evaluated_from,
        "index": type(index).__name__,
        "index_plan": index.last_plan,  # how its last search was answered (probing or scanning) and why
        "radius": [{"radius": r.radius, f"precision_at_{settings.k}": r.precision_at_k,
                    "mean_candidates": r.mean_candidates, "mean_query_ms": r.mean_query_ms,
                    "empty_fraction": r.empty_fraction, "mean_buckets_probed": r.mean_buckets_probed}
                   for r in sweep],
        "ranking": {k: v for k, v in ranking.items() if k != "map"},
        "training": training or {},
        "validation_map": max(val_map) if val_map else None,
        "eval": {"k": settings.k, "rerank": settings.rerank, "empty_policy": settings.empty_policy,
                 "relevance": relevance.description,
                 "map_ties": "broken by database id (map_tie_aware: expectation over random tie orders)"},
        "warnings": [*(notes or []), *warnings_for(data, split, relevance)],
        "split_sha256": split.fingerprints(),
        "data_sha256": data.fingerprint(),
        "features": extraction.provenance(cfg.data.get("path"), data.fingerprint()),  # extract.py's record
        "environment": provenance.record(),
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    if stream_records is not None:
        metrics["stream"] = stream_records
    if data.view_dims is not None and hasattr(model.encoder, "view_scores"):  # a cross-modal model, two-view data
        metrics["cross_modal"] = cross_modal_map(model, query_x, db_x, relevance, settings.metrics_device())
    metrics["warnings"] += unscored_radii_warnings(metrics, f"precision_at_{settings.k}")
    files = ["model.ckpt"] if "model.ckpt" in folder.staged else []
    for file_name, png in (("radius.png", report.radius_plot(metrics)), ("pr.png", report.pr_plot(metrics))):
        if png is not None:
            folder.stage(file_name, png)
            files.append(file_name)
    if settings.save_codes:
        folder.stage("codes.npz", codes_archive(data, split, query_codes, db_codes))
        files.append("codes.npz")
    if "logs" in folder.staged:
        files.append("logs")
    metrics["files"] = files
    folder.commit(atomic.json_bytes(metrics))
    return metrics


def codes_archive(data: Dataset, split: Split, query_codes: np.ndarray, db_codes: np.ndarray) -> bytes:
    """``codes.npz``: packed query and database codes, the rows of the data file they encode, and labels."""
    import io as bytes_io

    arrays = {"query": query_codes, "database": db_codes, "query_rows": split.query.astype(np.int64),
              "database_rows": split.database.astype(np.int64)}
    if data.labels is not None and not split.external_queries:
        arrays.update(query_labels=data.labels[split.query], database_labels=data.labels[split.database])
    buffer = bytes_io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def objective(cfg: DictConfig, metrics: dict) -> float | None:
    """What a sweeper optimises: ``optimized_metric`` (train.yaml: ``validation_map``) of the run's metrics, a
    dotted path such as ``ranking.map_at.1000`` allowed; None where the metric was not measured (no validation
    split) or no metric is named. A path that names nothing in the metrics is refused: a sweeper would otherwise
    optimise nothing."""
    metric = cfg.get("optimized_metric")
    if not metric:
        return None
    value = metrics
    for part in str(metric).split("."):
        if not isinstance(value, dict) or part not in value:
            raise L2HError(f"optimized_metric={metric} names nothing in the run's metrics.json (the run itself is "
                           "written): name a key such as validation_map, map or ranking.map_at.1000")
        value = value[part]
    return None if value is None else float(value)


def validate_sweep(cfg: DictConfig, optimising_sweeper: bool) -> None:
    """An optimising sweeper (Optuna) must not select on the test queries by default: with no validation split,
    the objective must be named."""
    if not optimising_sweeper:
        return
    metric = cfg.get("optimized_metric") or "validation_map"
    if metric == "validation_map" and not cfg.protocol.get("n_validation"):
        raise L2HError("this sweep selects settings on validation_map, but the protocol has no validation split: "
                       "set protocol.n_validation=1000 (or name the objective, e.g. optimized_metric=map, to select "
                       "on the test queries knowingly)")

