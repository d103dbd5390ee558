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
  as the database and ``n_train`` of its items for training; or, for data that names its own roles (an image
  list's ``train`` / ``test`` / ``database`` files), exactly those roles.
- ``cifar10``, ``cifar10-1``, ``cifar10-2``: the deep hashing field's splits (DeepHash-pytorch, CSQ, HashNet),
  a fixed number of queries and training items drawn from every class; :class:`PerClass`."""

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
    train the model and ``n_validation`` more select it.

    Data whose items come with roles (``data.roles``: an image list's ``test`` / ``train`` / ``database`` files)
    is split exactly as it says: its queries, its training items (``n_validation`` of them, drawn with the seed,
    kept apart to select the model) and its database; ``n_train`` is not used."""

    name = "given"

    def __init__(self, n_train: int = 5000, n_validation: int = 0):
        self.n_train = checks.integer("protocol.n_train", n_train)
        self.n_validation = checks.integer("protocol.n_validation", n_validation, minimum=0)

    def split(self, data, seed=0):
        if data.roles is not None:
            return self._split_by_roles(data, seed)
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

    def _split_by_roles(self, data: Dataset, seed: int) -> Split:
        roles = data.roles
        train = np.random.default_rng(seed).permutation(roles["train"])
        if self.n_validation >= train.size:
            raise L2HError(f"protocol.n_validation={self.n_validation} leaves none of the {train.size} training items "
                           f"of {data.name}: lower protocol.n_validation")
        return Split(self.name, np.sort(roles["query"]), np.sort(train[self.n_validation:]),
                     np.sort(roles["database"]), validation=np.sort(train[:self.n_validation]),
                     disjoint=(("query", "train"), ("query", "database"), ("validation", "train")))


class PerClass(Protocol):
    """The deep hashing field's CIFAR-10 splits (DeepHash-pytorch's ``cifar_dataset``): from every class,
    ``query_per_class`` queries and ``train_per_class`` training items drawn with the seed; the database is
    ``rest`` (every other item: ``cifar10``, 1000 / 5000 / 54000 on CIFAR-10), ``train_and_rest`` (every item that
    is not a query: ``cifar10-1``, 59000) or ``train`` (the training items only: ``cifar10-2``, 10000 queries and
    50000 training items, 1000 / 5000 per class, the remaining items unused). Works with any single-label data; a
    class with fewer than ``query_per_class + train_per_class`` items is refused. ``n_validation`` items (drawn
    in proportion to the classes) are carved from the training items for model selection."""

    DATABASES = ("rest", "train_and_rest", "train")

    def __init__(self, name: str, query_per_class: int, train_per_class: int, database: str, n_validation: int = 0):
        if database not in self.DATABASES:
            raise L2HError(f"protocol.database={database!r} is not one of {', '.join(self.DATABASES)}")
        self.name, self.database = str(name), database
        self.query_per_class = checks.integer("protocol.query_per_class", query_per_class)
        self.train_per_class = checks.integer("protocol.train_per_class", train_per_class)
        self.n_validation = checks.integer("protocol.n_validation", n_validation, minimum=0)

    def split(self, data, seed=0):
        if data.labels is None or data.multilabel:
            kind = "no labels" if data.labels is None else "multi-hot labels"
            raise L2HError(f"protocol {self.name} draws items per class, and {data.name} has {kind}: use "
                           "protocol=standard (or protocol=given for an image list's own split)")
        rng = np.random.default_rng(seed)
        need = self.query_per_class + self.train_per_class
        query, train, rest = [], [], []
        for c in np.unique(data.labels):
            members = rng.permutation(np.flatnonzero(data.labels == c))
            if members.size < need:
                raise L2HError(f"protocol {self.name} draws {self.query_per_class} queries and {self.train_per_class} "
                               f"training items from every class, but class {c} of {data.name} has {members.size} "
                               "items: use protocol=standard with smaller protocol.n_query / protocol.n_train")
            query.append(members[:self.query_per_class])
            train.append(members[self.query_per_class:need])
            rest.append(members[need:])
        query, train, rest = (np.sort(np.concatenate(part)) for part in (query, train, rest))
        if self.n_validation >= train.size:
            raise L2HError(f"protocol.n_validation={self.n_validation} leaves none of the {train.size} training items: "
                           "lower protocol.n_validation")
        # validation items in proportion to the classes: a prefix of a stratified order of the training items
        order = train[_stratified_label_order(data.labels[train], rng)]
        validation, train = np.sort(order[:self.n_validation]), np.sort(order[self.n_validation:])
        database = {"rest": rest, "train_and_rest": np.union1d(rest, train), "train": train}[self.database]
        disjoint = (("query", "train"), ("query", "database"), ("query", "validation"), ("validation", "train"),
                    ("validation", "database"))
        return Split(self.name, query, train, database, validation=validation,
                     disjoint=disjoint if self.database != "rest" else (*disjoint, ("train", "database")))


def _stratified_order(data: Dataset, rng: np.random.Generator) -> np.ndarray:
    """A random order of all items in which every prefix holds the classes in proportion (round-robin over
    shuffled classes); a plain shuffle for multi-label or unlabelled data."""
    if data.labels is None or data.multilabel:
        return rng.permutation(data.n)
    return _stratified_label_order(data.labels, rng)


def _stratified_label_order(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """:func:`_stratified_order` of items with these class ids."""
    n = labels.size
    perm = rng.permutation(n)
    labels = labels[perm]
    # rank of each item within its class, scaled by class size: interleaves classes proportionally
    order_in_class = np.empty(n, dtype=np.float64)
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
