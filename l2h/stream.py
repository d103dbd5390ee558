"""``protocol=stream``: the training items arrive in batches, and the hash functions learn from each batch as it
comes (``hasher.partial_fit``), never from the items of earlier batches again.

The split is the standard protocol's (``n_query`` queries, ``n_train`` training items, the database every item
that is not a query); the training items are fed in a seeded order, ``batch`` at a time. After each batch the
fixed queries are searched against the database encoded with the current hash functions, and ``metrics.json``
records under ``stream``, per batch: ``items_seen``, ``map`` (Hamming ranking, the run's ``eval.empty_policy``),
``update_seconds`` (the ``partial_fit`` call alone) and ``changed_bits``: the fraction of the database's bits that
differ from their codes after the previous batch, what re-hashing the database costs (1.0 after the first
batch: every code is new). Preprocessing (L2 normalisation, the mean) is fitted on the first batch, the only one
seen when it is needed. The final hash functions are saved and evaluated as any run's."""

from __future__ import annotations

import time

import numpy as np

from l2h import checks
from l2h.data.dataset import Dataset
from l2h.data.preprocess import Preprocessor
from l2h.data.protocols import Split, Standard
from l2h.encoders.base import Encoder
from l2h.errors import L2HError
from l2h.eval.metrics import ranking_metrics
from l2h.eval.relevance import from_labels
from l2h.hashers.base import Hasher
from l2h.model import HashModel


class Stream(Standard):
    name = "stream"

    def __init__(self, n_query: int = 1000, n_train: int = 5000, batch: int = 500):
        super().__init__(n_query, n_train)
        self.batch = checks.integer("protocol.batch", batch)

    def batches(self, split: Split, seed: int = 0) -> list[np.ndarray]:
        """The training items' rows in the order they arrive, ``batch`` at a time (the last batch may be
        smaller): a permutation drawn from the seed, apart from the split's own draw."""
        order = np.random.default_rng([seed, 1]).permutation(split.train)
        return [order[start:start + self.batch] for start in range(0, len(order), self.batch)]


def check(hasher: Hasher, tables: int = 1) -> None:
    """Refuse, before any data are read, a stream run that cannot be one: a model that learns in one batch only, or
    several hash tables (each would need its own stream)."""
    if type(hasher).partial_fit is Hasher.partial_fit:
        hasher.partial_fit(np.empty((0, 1)))  # the hasher's own refusal
    if tables != 1:
        raise L2HError(f"protocol=stream trains one hash table and tables={tables}: set tables=1, or use "
                       "protocol=standard for several tables")


def changed_fraction(before: np.ndarray, after: np.ndarray, bits: int) -> float:
    """The fraction of the ``bits`` bits of all codes that differ between two packed code arrays."""
    return float(np.unpackbits(np.bitwise_xor(before, after)).sum()) / (len(before) * bits)


def run(protocol: Stream, hasher: Hasher, preprocess: Preprocessor, data: Dataset, split: Split, seed: int,
        empty_policy: str) -> tuple[Encoder, list[dict]]:
    """Feed ``split.train`` to ``hasher.partial_fit`` batch by batch, scoring after each; returns the final hash
    functions and the per-batch records. ``preprocess`` is fitted here, on the first batch."""
    if data.labels is None:
        raise L2HError(f"protocol=stream scores each batch by shared labels and {data.name} has none: give "
                       "data.labels, or use protocol=standard")
    batches = protocol.batches(split, seed)
    preprocess.fit(data.rows(batches[0]))
    query_x = preprocess.transform(data.rows(split.query))
    database_x = preprocess.transform(data.rows(split.database))
    relevance = from_labels(data.labels[split.query], data.labels[split.database])
    records, previous, seen = [], None, 0
    for batch in batches:
        features = preprocess.transform(data.rows(batch))
        start = time.perf_counter()
        encoder = hasher.partial_fit(features, data.labels[batch])
        seconds = time.perf_counter() - start
        model = HashModel(preprocess, encoder)
        database_codes = model.encode(database_x, preprocessed=True)
        query_codes = model.encode(query_x, preprocessed=True)
        ranking = ranking_metrics(query_codes, database_codes, relevance, model.bits, ks=(), Rs=())
        seen += len(batch)
        records.append({"items_seen": seen, "map": ranking.summary(empty_policy)["map"], "update_seconds": seconds,
                        "changed_bits": 1.0 if previous is None else
                        changed_fraction(previous, database_codes, model.bits)})
        previous = database_codes
    return encoder.cpu().eval(), records
