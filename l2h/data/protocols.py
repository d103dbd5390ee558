"""Named evaluation protocols: how a dataset is split into queries, training items and a database.

Every split is a set of row indices, seeded, and fingerprinted so a report can show which items it used."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from l2h.data.dataset import Dataset
from l2h.errors import L2HError


@dataclass(frozen=True)
class Split:
    """Row indices of each role. ``disjoint`` names the pairs of roles that the protocol promises never overlap."""

    protocol: str
    query: np.ndarray
    train: np.ndarray
    database: np.ndarray
    disjoint: tuple[tuple[str, str], ...] = (("query", "train"), ("query", "database"))
    validation: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def __post_init__(self):
        for a, b in self.disjoint:
            shared = np.intersect1d(getattr(self, a), getattr(self, b))
            if shared.size:
                raise L2HError(f"{self.protocol}: {shared.size} items are in both the {a} and {b} sets")

    def fingerprints(self) -> dict[str, str]:
        """SHA-256 (first 16 hex digits) of each role's sorted index list."""
        roles = {"query": self.query, "train": self.train, "database": self.database, "validation": self.validation}
        return {k: hashlib.sha256(np.sort(v).astype("<i8").tobytes()).hexdigest()[:16] for k, v in roles.items()}


def make_split(name: str, data: Dataset, seed: int = 0, **options) -> Split:
    protocols = {"tutorial": tutorial_split, "standard": standard_split}
    if name not in protocols:
        raise L2HError(f"unknown protocol {name!r}: choose one of {', '.join(protocols)}")
    return protocols[name](data, seed=seed, **options)


def tutorial_split(data: Dataset, seed: int = 0, query_size: float = 0.002, train_size: float = 0.02,
                   random_state: int = 42) -> Split:
    """The tutorial's split, reproduced exactly: ``train_test_split(test_size=0.002)`` takes the queries, then
    ``train_test_split(test_size=0.02)`` of the rest the training items; the remainder is the database.
    The split is fixed by ``random_state`` (42), whatever the run's seed. On 60000 items: 120 / 1198 / 58682."""
    from sklearn.model_selection import train_test_split

    rest, query = train_test_split(np.arange(data.n), test_size=query_size, random_state=random_state)
    database, train = train_test_split(rest, test_size=train_size, random_state=random_state)
    return Split("tutorial", query, train, database,
                 disjoint=(("query", "train"), ("query", "database"), ("train", "database")))


def standard_split(data: Dataset, seed: int = 0, n_query: int = 1000, n_train: int = 5000,
                   n_validation: int = 0) -> Split:
    """The common supervised-hashing protocol: ``n_query`` queries and ``n_train`` training items drawn at random,
    stratified by class when the data has single labels; the database is every item that is not a query
    (so it contains the training items). ``n_validation`` items are carved from the training items for model
    selection, so the test queries are never used to choose anything."""
    for key, value in (("n_query", n_query), ("n_train", n_train)):
        if not isinstance(value, (int, np.integer)) or value <= 0:
            raise L2HError(f"protocol.{key} must be a positive integer, got {value!r}")
    if n_query + n_train > data.n:
        raise L2HError(f"protocol standard needs n_query + n_train = {n_query + n_train} items but {data.name} has "
                       f"{data.n}: lower protocol.n_query or protocol.n_train")
    if not 0 <= n_validation < n_train:
        raise L2HError(f"protocol.n_validation={n_validation} must be in [0, n_train={n_train})")
    rng = np.random.default_rng(seed)
    order = _stratified_order(data, rng)
    query = np.sort(order[:n_query])
    train = order[n_query:n_query + n_train]
    validation, train = np.sort(train[:n_validation]), np.sort(train[n_validation:])
    database = np.setdiff1d(np.arange(data.n), query)
    return Split("standard", query, train, database, validation=validation,
                 disjoint=(("query", "train"), ("query", "database"), ("query", "validation"),
                           ("validation", "train")))


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
