"""The deep hashing field's CIFAR-10 protocols (cifar10, cifar10-1, cifar10-2) and protocol=given on data that
names its own roles, checked by counting: per-class sizes from the labels, set relations between the roles."""

import dataclasses

import numpy as np
import pytest

from l2h import pipeline
from l2h.data.dataset import Dataset
from l2h.data.protocols import Given
from l2h.errors import L2HError
from tests.commands import config


def protocol(name, *overrides):
    return pipeline.build(config("train", [f"protocol={name}", *overrides]).protocol, "protocol")


def ten_classes(per_class, seed=0):
    """Items of ten classes in a shuffled order, ``per_class[c]`` of class c; the feature is the row number."""
    labels = np.random.default_rng(seed).permutation(np.repeat(np.arange(10), per_class))
    return Dataset.create("ten", np.arange(labels.size, dtype=np.float32)[:, None], labels)


CIFAR = ten_classes([6000] * 10)


def per_class(data, rows):
    return np.bincount(data.labels[rows], minlength=10).tolist()


def test_cifar10_is_100_queries_and_500_training_items_per_class_and_the_rest_as_database():
    split = protocol("cifar10").split(CIFAR, seed=0)
    assert per_class(CIFAR, split.query) == [100] * 10 and per_class(CIFAR, split.train) == [500] * 10
    assert (split.query.size, split.train.size, split.database.size) == (1000, 5000, 54000)
    everything = np.concatenate([split.query, split.train, split.database])
    assert np.array_equal(np.sort(everything), np.arange(60000))  # a partition: disjoint and complete


def test_cifar10_1_keeps_the_training_items_in_the_59000_item_database():
    split = protocol("cifar10-1").split(CIFAR, seed=0)
    assert per_class(CIFAR, split.query) == [100] * 10 and per_class(CIFAR, split.train) == [500] * 10
    assert np.array_equal(split.database, np.setdiff1d(np.arange(60000), split.query))
    assert np.isin(split.train, split.database).all() and split.database.size == 59000


def test_cifar10_2_is_10000_queries_and_50000_training_items_that_are_the_database():
    split = protocol("cifar10-2").split(CIFAR, seed=0)
    assert per_class(CIFAR, split.query) == [1000] * 10 and per_class(CIFAR, split.train) == [5000] * 10
    assert np.array_equal(split.database, split.train) and np.intersect1d(split.query, split.train).size == 0
    assert split.query.size + split.train.size == 60000


def test_the_counts_are_per_class_whatever_the_class_sizes_and_the_draw_is_seeded():
    data = ten_classes([600 + 37 * c for c in range(10)], seed=1)
    a, b = protocol("cifar10").split(data, seed=3), protocol("cifar10").split(data, seed=3)
    assert per_class(data, a.query) == [100] * 10 and per_class(data, a.train) == [500] * 10
    assert per_class(data, a.database) == [37 * c for c in range(10)]
    assert a.fingerprints() == b.fingerprints()
    c = protocol("cifar10").split(data, seed=4)
    assert not np.array_equal(a.query, c.query) and not np.array_equal(a.train, c.train)


def test_validation_items_come_from_the_training_items_in_proportion():
    split = protocol("cifar10-1", "protocol.n_validation=500").split(CIFAR, seed=0)
    assert per_class(CIFAR, split.validation) == [50] * 10 and per_class(CIFAR, split.train) == [450] * 10
    assert np.intersect1d(split.validation, split.database).size == 0
    assert split.database.size == 59000 - 500


def test_a_class_with_too_few_items_is_refused_in_one_line():
    data = ten_classes([6000] * 9 + [5999])
    protocol("cifar10").split(data)  # 600 per class is plenty
    with pytest.raises(L2HError, match=r"class 9 of ten has 5999 items") as err:
        protocol("cifar10-2").split(data)
    assert "\n" not in str(err.value)


def test_multi_hot_or_unlabelled_data_is_refused():
    hot = Dataset.create("hot", np.zeros((6000, 1)), np.eye(10, dtype=np.uint8)[np.arange(6000) % 10])
    with pytest.raises(L2HError, match="multi-hot labels"):
        protocol("cifar10").split(hot)
    with pytest.raises(L2HError, match="no labels"):
        protocol("cifar10").split(Dataset.create("bare", np.zeros((6000, 1))))


def test_given_follows_the_roles_the_data_names():
    data = ten_classes([30] * 10)
    roles = {"query": np.arange(0, 20), "train": np.arange(20, 120), "database": np.arange(120, 300)}
    data = dataclasses.replace(data, roles=roles)
    split = Given(n_train=7, n_validation=10).split(data, seed=0)
    assert np.array_equal(split.query, roles["query"]) and np.array_equal(split.database, roles["database"])
    assert np.array_equal(np.sort(np.concatenate([split.train, split.validation])), roles["train"])
    assert split.validation.size == 10 and not split.external_queries
    with pytest.raises(L2HError, match="n_validation=100 leaves none"):
        Given(n_validation=100).split(data)
