"""Many hash tables (``tables=L``): L hash functions of one model, trained independently, kept in one checkpoint
(:class:`l2h.encoders.tables.Tables`) and searched as one index (:class:`l2h.index.UnionIndex`: an item is a
candidate when any table finds it within the radius, at its smallest distance over the tables).

The LSH answer to low recall (Indyk & Motwani 1998, Gionis et al. 1999) is several tables of independent hash
functions rather than probing more buckets of one (multi-probe LSH, Lv et al. 2007). Here each table is the
configured model trained with its own seed: table 0 with the run's seed, so ``tables=1`` is the single-table run
exactly and an L-table run's first tables are those of a run with fewer; table t > 0 with a seed drawn from
(seed, t), so that no two tables share hyperplanes, anchors or initial codes."""

from __future__ import annotations

import copy

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from l2h import checks
from l2h.codes import is_one
from l2h.encoders.base import Encoder
from l2h.encoders.tables import Tables
from l2h.errors import L2HError
from l2h.hashers.base import Hasher

#: the most tables a run trains (and a UnionIndex file holds)
MAX_TABLES = 1024


def check(tables) -> int:
    tables = checks.integer("tables", tables, 1, fix="tables=1 trains one hash function, tables=4 four tables")
    if tables > MAX_TABLES:
        raise L2HError(f"tables={tables} is more than {MAX_TABLES}: use fewer tables, or longer codes")
    return tables


def table_seeds(seed: int, tables: int) -> list[int]:
    """Table 0: the run's seed; table t > 0: a seed drawn from (seed, t), below 2^31 as every seeded library takes."""
    return [int(seed)] + [int(np.random.SeedSequence([int(seed), t]).generate_state(1)[0] >> 1)
                          for t in range(1, tables)]


def table_config(cfg: DictConfig, seed: int) -> tuple[DictConfig, list[str]]:
    """The run's config for one table of several: its own seed, wherever the model reads ``${seed}``; and GRH's
    initial codes from LSH where they were PCA's, which are the same for every seed (every table would start
    alike and end nearly alike)."""
    cfg = copy.deepcopy(cfg)
    OmegaConf.set_struct(cfg, False)
    cfg.seed = seed
    notes = []
    if cfg.model.get("init") == "pca":
        cfg.model.init = "lsh"
        notes.append(f"tables={cfg.tables}: model.init=pca starts every seed from the same codes, so each table "
                     "starts from LSH codes of its own seed (model.init=lsh)")
    OmegaConf.set_struct(cfg, True)
    return cfg, notes


def _bits(encoder: Encoder, features: np.ndarray) -> np.ndarray:
    """The encoder's bits of (a sample of) the training items."""
    with torch.no_grad():
        return is_one(encoder(torch.from_numpy(np.ascontiguousarray(features[:1024], dtype=np.float32))).numpy())


def fit(cfg: DictConfig, hasher: Hasher, make_hasher, features: np.ndarray, labels, **fit_args):
    """The run's hash functions -> (encoder, notes for the report). One table: ``hasher`` fitted as it always was.
    L tables: ``make_hasher(config)`` for each table's config, fitted in turn, as one :class:`Tables` encoder;
    ``hasher.history`` (the run's training record) becomes the first table's, with every table's under
    ``tables``."""
    count = check(cfg.get("tables", 1))
    if count == 1:
        return hasher.fit(features, labels, **fit_args), []
    encoders, histories, notes = [], [], []
    for seed in table_seeds(cfg.seed, count):
        table_cfg, notes = table_config(cfg, seed)
        table_hasher = make_hasher(table_cfg)
        encoders.append(table_hasher.fit(features, labels, **fit_args))
        histories.append(table_hasher.history)
    first = _bits(encoders[0], features)
    if all(np.array_equal(first, _bits(e, features)) for e in encoders[1:]):
        notes.append(f"tables={count}: every table encodes the training items alike (model={cfg.model.name} does "
                     "not depend on the seed), so the extra tables find nothing more: use tables=1")
    hasher.history = {**histories[0], "tables": histories}
    return Tables(encoders), notes
