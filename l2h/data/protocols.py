"""Named evaluation protocols: how a dataset is split into queries, training items and a database.

Every split is a set of row indices, seeded, and fingerprinted so a report can show which items it used. Each
protocol is a class the ``protocol`` config group instantiates; ``protocol.split(data, seed)`` gives the split.

- ``standard``: ``n_query`` queries and ``n_train`` training items drawn at random (stratified by class); the
  database is every item that is not a query, so it contains the training items. The honest CIFAR-10 protocol.
- ``train_as_database``: the same queries and training items, but the database is the training items only. Many
  published CIFAR-10 GIST tables are scored this way, whatever their text says; it flatters every method.
- ``full``: every non-query item is labelled for training (and is the database).
- ``tutorial``: the split of Sean Moran's learning-to-hash tutorial, reproduced exactly.
- ``given``: the queries the data file brings (ann-benchmarks ``test``, a TEXMEX query file), the whole file
  as the database and ``n_train`` of its items for training."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from l2h import checks
from l2h.data.dataset import Dataset
from l2h.errors import L2HError


@dataclass(frozen=True)
class Split:
    """Row indices of each role. ``disjoint`` names the pairs of roles that the protocol promises never overlap.
    ``external_queries``: the query indices are rows of the data's own queries, not of its items."""

    protocol: str
    query: np.ndarray
    train: np.ndarray
    database: np.ndarray
    disjoint: tuple[tuple[str, str], ...] = (("query", "train"), ("query", "database"))
    validation: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    external_queries: bool = False

    def __post_init__(self):
        for a, b in self.disjoint:
            shared = np.intersect1d(getattr(self, a), getattr(self, b))
            if shared.size:
                raise L2HError(f"{self.protocol}: {shared.size} items are in both the {a} and {b} sets")

    def fingerprints(self) -> dict[str, str]:
        """SHA-256 (first 16 hex digits) of each role's sorted index list."""
        roles = {"query": self.query, "train": self.train, "database": self.database, "validation": self.validation}
        return {k: hashlib.sha256(np.sort(v).astype("<i8").tobytes()).hexdigest()[:16] for k, v in roles.items()}


class Protocol(ABC):
    name: str

    @abstractmethod
    def split(self, data: Dataset, seed: int = 0) -> Split:
        """Row indices of the queries, training items, validation items and database."""


class Standard(Protocol):
    """``n_validation`` items are carved from the training items for model selection, so the test queries are
    never used to choose anything."""

    name = "standard"

    def __init__(self, n_query: int = 1000, n_train: int = 5000, n_validation: int = 0):
        self.n_query, self.n_train = checks.integer("protocol.n_query", n_query), checks.integer("protocol.n_train", n_train)
        self.n_validation = checks.integer("protocol.n_validation", n_validation, minimum=0)
        if self.n_validation >= self.n_train:
            raise L2HError(f"protocol.n_validation={n_validation} must be smaller than n_train={n_train}")

    def _draw(self, data: Dataset, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query, train, validation) rows: a seeded, class-stratified draw."""
        if self.n_query + self.n_train > data.n:
            raise L2HError(f"protocol {self.name} needs n_query + n_train = {self.n_query + self.n_train} items but "
                           f"{data.name} has {data.n}: lower protocol.n_query or protocol.n_train")
        order = _stratified_order(data, np.random.default_rng(seed))
        query = np.sort(order[:self.n_query])
        train = order[self.n_query:self.n_query + self.n_train]
        return query, np.sort(train[self.n_validation:]), np.sort(train[:self.n_validation])

    def split(self, data, seed=0):
        query, train, validation = self._draw(data, seed)
        database = np.setdiff1d(np.arange(data.n), query)
        return Split(self.name, query, train, database, validation=validation,
                     disjoint=(("query", "train"), ("query", "database"), ("query", "validation"),
                               ("validation", "train")))


class TrainAsDatabase(Standard):
    name = "train_as_database"

    def split(self, data, seed=0):
        query, train, validation = self._draw(data, seed)
        return Split(self.name, query, train, train.copy(), validation=validation,
                     disjoint=(("query", "train"), ("query", "database"), ("query", "validation"),
                               ("validation", "train"), ("validation", "database")))


class Full(Protocol):
    """Every item that is not a query (or a validation item) is labelled for training."""

    name = "full"

    def __init__(self, n_query: int = 1000, n_validation: int = 0):
        self.n_query = checks.integer("protocol.n_query", n_query)
        self.n_validation = checks.integer("protocol.n_validation", n_validation, minimum=0)

    def split(self, data, seed=0):
        if self.n_query + self.n_validation >= data.n:
            raise L2HError(f"protocol full needs fewer than {data.n} queries and validation items for {data.name}: "
                           "lower protocol.n_query or protocol.n_validation")
        order = _stratified_order(data, np.random.default_rng(seed))
        query = np.sort(order[:self.n_query])
        validation = np.sort(order[self.n_query:self.n_query + self.n_validation])
        train = np.sort(order[self.n_query + self.n_validation:])
        database = np.setdiff1d(np.arange(data.n), query)
        return Split(self.name, query, train, database, validation=validation,
                     disjoint=(("query", "train"), ("query", "database"), ("query", "validation"),
                               ("validation", "train")))


class Tutorial(Protocol):
    """``train_test_split(test_size=0.002)`` takes the queries, then ``train_test_split(test_size=0.02)`` of the
    rest the training items; the remainder is the database. Fixed by ``random_state`` (42), whatever the run's
    seed. On 60000 items: 120 / 1198 / 58682."""

    name = "tutorial"

    def __init__(self, query_size: float = 0.002, train_size: float = 0.02, random_state: int = 42):
        if not (0 < query_size < 1 and 0 < train_size < 1):
            raise L2HError(f"protocol tutorial needs query_size and train_size in (0, 1), got {query_size}, {train_size}")
        self.query_size, self.train_size, self.random_state = query_size, train_size, random_state

    def split(self, data, seed=0):
        from sklearn.model_selection import train_test_split

        try:
            rest, query = train_test_split(np.arange(data.n), test_size=self.query_size, random_state=self.random_state)
            database, train = train_test_split(rest, test_size=self.train_size, random_state=self.random_state)
        except ValueError:
            raise L2HError(f"{data.name} has {data.n} items, too few for the tutorial's split: use protocol=standard "
                           "with small protocol.n_query and protocol.n_train") from None
        return Split(self.name, query, train, database,
                     disjoint=(("query", "train"), ("query", "database"), ("train", "database")))


class Given(Protocol):
    """The data file's own queries; the whole file is the database, ``n_train`` of its items (drawn with the seed)
    train the model and ``n_validation`` more select it."""

    name = "given"

    def __init__(self, n_train: int = 5000, n_validation: int = 0):
        self.n_train = checks.integer("protocol.n_train", n_train)
        self.n_validation = checks.integer("protocol.n_validation", n_validation, minimum=0)

    def split(self, data, seed=0):
        if data.queries is None:
            raise L2HError(f"{data.name} brings no queries of its own: use protocol=standard, or give a file with "
                           "queries (an ann-benchmarks .hdf5, data.queries_path=...)")
        n_train = min(self.n_train, data.n - self.n_validation)
        if n_train < 1:
            raise L2HError(f"protocol.n_validation={self.n_validation} leaves no training items in {data.name}")
        order = np.random.default_rng(seed).permutation(data.n)
        train = np.sort(order[:n_train])
        validation = np.sort(order[n_train:n_train + self.n_validation])
        return Split(self.name, np.arange(len(data.queries)), train, np.arange(data.n), validation=validation,
                     disjoint=(("validation", "train"),), external_queries=True)


def _stratified_order(data: Dataset, rng: np.random.Generator) -> np.ndarray:
    """A random order of all items in which every prefix holds the classes in proportion (round-robin over
    shuffled classes); a plain shuffle for multi-label or unlabelled data."""
    if data.labels is None or data.multilabel:
        return rng.permutation(data.n)
    perm = rng.permutation(data.n)
    labels = data.labels[perm]
    # rank of each item within its class, scaled by class size: interleaves classes proportionally
    order_in_class = np.empty(data.n, dtype=np.float64)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        order_in_class[members] = (np.arange(members.size) + rng.random()) / members.size
    return perm[np.argsort(order_in_class, kind="stable")]


def standard_split(data: Dataset, seed: int = 0, n_query: int = 1000, n_train: int = 5000,
                   n_validation: int = 0) -> Split:
    """The standard protocol as a function (scripts call it)."""
    return Standard(n_query, n_train, n_validation).split(data, seed)


def tutorial_split(data: Dataset, seed: int = 0) -> Split:
    return Tutorial().split(data, seed)
