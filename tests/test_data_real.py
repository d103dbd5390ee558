"""The readers on the real files in ../shared/data (or $L2H_DATA); slow, and skipped when the files are absent."""

import gzip

import numpy as np
import pytest
import scipy.io

from l2h.data.source import DataSource
from tests.conftest import SHARED_DATA, shared_file
from tests.test_data_writers import write_mat_v73

pytestmark = pytest.mark.slow

# the official MNIST release: images per class in train and t10k
MNIST_TRAIN = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_folder_reads_train_then_t10k():
    shared_file("mnist/train-images-idx3-ubyte.gz")
    data = DataSource("mnist", "idx", SHARED_DATA / "mnist").load()
    assert data.features.shape == (70000, 784) and data.item_shape == (1, 28, 28)
    assert 0 <= data.features.min() and data.features.max() <= 1
    assert np.bincount(data.labels[:60000]).tolist() == MNIST_TRAIN
    assert np.bincount(data.labels[60000:]).tolist() == MNIST_TEST
    with gzip.open(SHARED_DATA / "mnist" / "t10k-images-idx3-ubyte.gz") as f:
        last = np.frombuffer(f.read()[16:], np.uint8)[-784:]  # parsed here by hand: the last t10k image
    assert np.array_equal(data.features[-1], last.astype(np.float32) * np.float32(1 / 255))
    assert len(data.fingerprint()) == 64


def test_cifar_gist_v5_and_the_same_data_as_v73(tmp_path):
    path = shared_file("cifar10_gist512.mat")
    data = DataSource("cifar10_gist", "mat", path, features="X", labels="X_class").load()
    assert data.features.shape == (60000, 512) and data.labels.shape == (60000,)
    assert np.bincount(data.labels).tolist() == [6000] * 10 and not data.lazy
    raw = scipy.io.loadmat(path, variable_names=["X"])["X"]
    assert np.array_equal(data.features, raw.astype(np.float32))
    part = raw[:3000]
    write_mat_v73(tmp_path / "Gist512CIFAR10.mat", {"X": part, "X_class": data.labels[:3000].astype(float)})
    for lazy in (False, True):
        v73 = DataSource("cifar10_gist", None, tmp_path / "Gist512CIFAR10.mat", lazy=lazy).load()
        assert np.array_equal(v73.rows(slice(None)), data.features[:3000])
        assert np.array_equal(v73.labels, data.labels[:3000])
