"""Protocols split a dataset into queries, training items and a database as each one promises, seeded and
stratified; preprocessing is fitted on the training rows only."""

import numpy as np
import pytest

from l2h.data.dataset import Dataset
from l2h.data.preprocess import Preprocessor
from l2h.data.protocols import Full, Given, Standard, TrainAsDatabase, Tutorial
from l2h.errors import L2HError


def labelled(n, classes=10):
    return Dataset.create("d", np.zeros((n, 1)), np.arange(n) % classes)


def test_tutorial_split_sizes_and_disjointness():
    data = labelled(60000)
    split = Tutorial().split(data)
    assert (split.query.size, split.train.size, split.database.size) == (120, 1198, 58682)
    assert np.union1d(np.union1d(split.query, split.train), split.database).size == 60000
    assert np.array_equal(Tutorial().split(data, seed=5).query, split.query)  # fixed whatever the seed


def test_standard_split_is_stratified_seeded_and_disjoint():
    data = labelled(3000)
    a = Standard(100, 500, 50).split(data, seed=1)
    b = Standard(100, 500, 50).split(data, seed=1)
    assert np.array_equal(a.query, b.query) and a.fingerprints() == b.fingerprints()
    assert np.bincount(data.labels[a.query]).tolist() == [10] * 10
    assert np.bincount(data.labels[np.concatenate([a.train, a.validation])]).tolist() == [50] * 10
    assert np.intersect1d(a.query, a.database).size == 0 and a.database.size == 2900
    assert np.intersect1d(a.validation, a.train).size == 0 and np.isin(a.train, a.database).all()
    assert not np.array_equal(a.query, Standard(100, 500).split(data, seed=2).query)
    with pytest.raises(L2HError, match="lower protocol.n_query"):
        Standard(2000, 2000).split(data)


def test_train_as_database_retrieves_from_the_training_items_only():
    data = labelled(3000)
    standard, flattering = Standard(100, 500).split(data, seed=3), TrainAsDatabase(100, 500).split(data, seed=3)
    assert np.array_equal(standard.query, flattering.query) and np.array_equal(standard.train, flattering.train)
    assert np.array_equal(flattering.database, flattering.train) and flattering.protocol == "train_as_database"


def test_full_labels_every_item_that_is_not_a_query():
    data = labelled(3000)
    split = Full(100, n_validation=200).split(data, seed=0)
    assert split.train.size == 2700 and split.validation.size == 200 and split.database.size == 2900
    assert np.union1d(np.union1d(split.query, split.train), split.validation).size == 3000


def test_given_uses_the_files_own_queries():
    data = Dataset.create("ann", np.random.default_rng(0).normal(size=(500, 4)), queries=np.zeros((7, 4)),
                          neighbors=np.zeros((7, 3), dtype=np.int64))
    split = Given(n_train=100).split(data, seed=0)
    assert split.external_queries and split.query.tolist() == list(range(7)) and split.database.size == 500
    assert split.train.size == 100
    with pytest.raises(L2HError, match="brings no queries"):
        Given().split(labelled(100))


@pytest.mark.parametrize("make, message", [
    (lambda: Standard(0, 10), "n_query"), (lambda: Standard(10, 10, 10), "n_validation"),
    (lambda: Standard(1.5, 10), "n_query"), (lambda: Full(-1), "n_query"), (lambda: Tutorial(0.0), "query_size"),
    (lambda: Given(0), "n_train"),
])
def test_impossible_sizes_are_refused(make, message):
    with pytest.raises(L2HError, match=message):
        make()


def test_preprocessor_fits_on_training_rows_only(rng):
    x = rng.normal(size=(100, 5)) + 3
    pre = Preprocessor(5).fit(x[:50])
    out = pre.transform(x[:50])
    assert np.allclose(out.mean(axis=0), 0, atol=1e-6)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    assert np.allclose(pre.transform(x), unit - unit[:50].mean(axis=0), atol=1e-6)
