"""Reading every data format into a checked Dataset, and the Dataset's own contract. Bad inputs are in
test_data_bad_inputs.py, property tests in test_data_properties.py, files larger than memory in
test_data_lazy.py."""

import pickle

import h5py
import numpy as np
import pytest
import scipy.io
import scipy.sparse

from l2h.data.dataset import Dataset
from l2h.data.formats.idx import read_idx
from l2h.data.source import DataSource, read_features
from l2h.errors import L2HError
from tests.test_data_writers import (
    write_ann,
    write_idx,
    write_mat_v73,
    write_mnist_folder,
    write_vecs,
)


def load(path, format=None, **options):
    return DataSource("t", format, path, **options).load()


# ---- formats -------------------------------------------------------------------------------------------------


def test_digits_is_embedded_and_the_default():
    data = DataSource("digits", "digits").load()
    assert data.features.shape == (1797, 64) and data.features.dtype == np.float32
    assert set(np.unique(data.labels)) == set(range(10)) and data.n_classes == 10
    assert data.item_shape is None and data.queries is None and not data.lazy


def test_mat_v5_with_tutorial_variable_names(tmp_path, rng):
    x = rng.normal(size=(30, 6))
    y = rng.integers(0, 3, (1, 30)).astype(float)
    scipy.io.savemat(tmp_path / "d.mat", {"X": x, "X_class": y})
    data = load(tmp_path / "d.mat")  # format guessed from the extension
    assert data.features.shape == (30, 6) and np.array_equal(data.features, x.astype(np.float32))
    assert np.array_equal(data.labels, y.reshape(-1).astype(int)) and data.labels.dtype == np.int64


def test_mat_v5_is_read_as_stored_even_when_the_label_count_equals_the_dimension(tmp_path, rng):
    # 6 items of 30 dimensions with 30 labels: the old loader transposed this silently
    scipy.io.savemat(tmp_path / "d.mat", {"X": rng.normal(size=(6, 30)), "X_class": np.arange(30) % 3})
    with pytest.raises(L2HError, match="30 labels for 6 feature rows"):
        load(tmp_path / "d.mat")
    scipy.io.savemat(tmp_path / "u.mat", {"X": rng.normal(size=(6, 30))})
    assert load(tmp_path / "u.mat").features.shape == (6, 30)


def test_mat_v5_column_label_vector_multi_hot_sparse_and_cells(tmp_path, rng):
    x = rng.normal(size=(5, 3))
    multi = (rng.random((5, 4)) < 0.5).astype(float)
    cells = np.array([["dog"], ["cat"], ["dog"], ["emu"], ["cat"]], dtype=object)
    scipy.io.savemat(tmp_path / "m.mat", {"X": scipy.sparse.csc_matrix(x), "gnd": multi,
                                          "col": np.arange(5).reshape(5, 1), "cells": cells,
                                          "chars": np.array(["b ", "a ", "b ", "cc", "a "])})
    assert np.array_equal(load(tmp_path / "m.mat").features, x.astype(np.float32))
    hot = load(tmp_path / "m.mat", labels="gnd")
    assert hot.multilabel and hot.labels.dtype == np.uint8 and np.array_equal(hot.labels, multi)
    assert np.array_equal(load(tmp_path / "m.mat", labels="col").labels, np.arange(5))
    cells = load(tmp_path / "m.mat", labels="cells")
    assert cells.class_names == ("cat", "dog", "emu") and cells.labels.tolist() == [1, 0, 1, 2, 0]
    chars = load(tmp_path / "m.mat", labels="chars")
    assert chars.class_names == ("a", "b", "cc") and chars.labels.tolist() == [1, 0, 1, 2, 0]


@pytest.mark.parametrize("userblock", [True, False])
def test_mat_v73_transposes_every_variable(tmp_path, rng, userblock):
    x = rng.normal(size=(30, 6))
    multi = (rng.random((30, 4)) < 0.5)
    write_mat_v73(tmp_path / "d.mat", {"X": x, "X_class": rng.integers(0, 3, 30).astype(float), "hot": multi,
                                       "plain": x}, userblock=userblock)
    labelled = load(tmp_path / "d.mat")
    assert np.array_equal(labelled.features, x.astype(np.float32)) and labelled.labels.shape == (30,)
    # multi-hot labels and no labels: read the same way, never guessed from shapes
    hot = load(tmp_path / "d.mat", labels="hot")
    assert np.array_equal(hot.features, x.astype(np.float32)) and np.array_equal(hot.labels, multi)
    write_mat_v73(tmp_path / "u.mat", {"X": x}, userblock=userblock)
    assert np.array_equal(load(tmp_path / "u.mat").features, x.astype(np.float32))
    # a square matrix gives shapes no clue: HDF5 still holds it transposed
    square = rng.normal(size=(6, 6))
    write_mat_v73(tmp_path / "s.mat", {"X": square}, userblock=userblock)
    assert np.array_equal(load(tmp_path / "s.mat").features, square.astype(np.float32))


def test_mat_v73_text_labels_as_cells_and_chars(tmp_path, rng):
    x = rng.normal(size=(4, 2))
    write_mat_v73(tmp_path / "t.mat", {"X": x, "cells": ["cat", "dog", "cat", "ant"],
                                       "chars": np.array(["10", "9", "10", "2"])})
    cells = load(tmp_path / "t.mat", labels="cells")
    assert cells.class_names == ("ant", "cat", "dog") and cells.labels.tolist() == [1, 2, 1, 0]
    chars = load(tmp_path / "t.mat", labels="chars")  # integers as text sort numerically
    assert chars.class_names == ("2", "9", "10") and chars.labels.tolist() == [2, 1, 2, 0]


def test_npz_defaults_names_and_images(tmp_path, rng):
    x, y = rng.normal(size=(12, 4)).astype(np.float32), rng.integers(0, 2, 12)
    np.savez(tmp_path / "d.npz", X=x, y=y, other=x[:, :2])
    data = load(tmp_path / "d.npz")
    assert np.array_equal(data.features, x) and np.array_equal(data.labels, y)
    assert load(tmp_path / "d.npz", features="other").dim == 2
    np.savez(tmp_path / "u.npz", X=x)
    assert load(tmp_path / "u.npz").labels is None  # the default label name is optional
    np.savez_compressed(tmp_path / "i.npz", X=rng.integers(0, 255, (5, 7, 9), dtype=np.uint8))
    images = load(tmp_path / "i.npz")
    assert images.item_shape == (1, 7, 9) and images.features.shape == (5, 63)
    np.savez(tmp_path / "c.npz", X=rng.normal(size=(5, 3, 4, 2)))
    assert load(tmp_path / "c.npz").item_shape == (3, 4, 2)


def test_readme_npy_command_and_the_format_guessed_from_the_extension(tmp_path, rng):
    x, y = rng.normal(size=(12, 4)), rng.integers(0, 2, 12)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    # python train.py data=file data.format=npy data.path=x.npy +data.labels_path=y.npy
    data = DataSource("custom", "npy", str(tmp_path / "x.npy"), labels_path=str(tmp_path / "y.npy")).load()
    assert np.array_equal(data.labels, y) and np.array_equal(data.features, x.astype(np.float32))
    guessed = DataSource("custom", None, str(tmp_path / "x.npy"), labels_path=str(tmp_path / "y.npy")).load()
    assert guessed.fingerprint() == data.fingerprint()


def test_labels_in_a_second_file_of_any_kind(tmp_path, rng):
    x = rng.normal(size=(6, 3))
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "y.txt").write_text("cat\ndog\ncat\nemu\ndog\ncat\n")
    text = load(tmp_path / "x.npy", labels_path=tmp_path / "y.txt")
    assert text.class_names == ("cat", "dog", "emu") and text.labels.tolist() == [0, 1, 0, 2, 1, 0]
    np.savez(tmp_path / "y.npz", arr_0=np.arange(6) % 2)  # the only array of a labels file
    assert load(tmp_path / "x.npy", labels_path=tmp_path / "y.npz").labels.tolist() == [0, 1, 0, 1, 0, 1]
    scipy.io.savemat(tmp_path / "y.mat", {"gnd": np.arange(6).reshape(1, 6)})
    assert load(tmp_path / "x.npy", labels_path=tmp_path / "y.mat", labels="gnd").labels.tolist() == list(range(6))
    write_idx(tmp_path / "y-idx1-ubyte.gz", np.arange(6, dtype=np.uint8))
    assert load(tmp_path / "x.npy", labels_path=tmp_path / "y-idx1-ubyte.gz").labels.tolist() == list(range(6))


def test_idx_folder_train_first_scaled_and_dotted_names(tmp_path, rng):
    train = rng.integers(0, 256, (5, 3, 2), dtype=np.uint8)
    test = rng.integers(0, 256, (2, 3, 2), dtype=np.uint8)
    folder = write_mnist_folder(tmp_path / "m", train, np.arange(5, dtype=np.uint8), test,
                                np.array([7, 8], np.uint8))
    data = load(folder)  # a folder is IDX
    expected = np.concatenate([train, test]).reshape(7, 6).astype(np.float32) * np.float32(1 / 255)
    assert np.array_equal(data.features, expected) and data.labels.tolist() == [0, 1, 2, 3, 4, 7, 8]
    assert data.item_shape == (1, 3, 2) and data.features.max() <= 1
    plain = tmp_path / "plain"
    plain.mkdir()
    for name, a in [("train-images.idx3-ubyte", train), ("train-labels.idx1-ubyte", np.arange(5, dtype=np.uint8)),
                    ("t10k-images.idx3-ubyte", test), ("t10k-labels.idx1-ubyte", np.array([7, 8], np.uint8))]:
        write_idx(plain / name, a)
    assert load(plain, "idx").fingerprint() == data.fingerprint()


def test_single_idx_file_and_read_idx(tmp_path, rng):
    images = rng.integers(0, 256, (5, 3, 2), dtype=np.uint8)
    path = write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    assert np.array_equal(read_idx(path), images)
    data = load(path)
    assert data.item_shape == (1, 3, 2) and data.n == 5 and data.labels is None
    floats = rng.normal(size=(4, 3)).astype(">f4")
    assert np.array_equal(load(write_idx(tmp_path / "v.idx", floats)).features, floats.astype(np.float32))


def test_ann_benchmarks_hdf5(tmp_path, rng):
    train, test = rng.normal(size=(50, 8)).astype(np.float32), rng.normal(size=(4, 8)).astype(np.float32)
    truth = np.argsort(((test[:, None] - train[None]) ** 2).sum(-1), axis=1)[:, :10]
    data = load(write_ann(tmp_path / "a.hdf5", train, test, truth.astype(np.int32), "angular"))
    assert np.array_equal(data.features, train) and np.array_equal(data.queries, test)
    assert np.array_equal(data.neighbors, truth) and data.neighbors.dtype == np.int64
    assert data.metric == "angular" and data.labels is None
    with h5py.File(tmp_path / "g.h5", "w") as f:
        f["emb"], f["cls"] = train, np.arange(50) % 5
    generic = load(tmp_path / "g.h5", features="emb", labels="cls")
    assert generic.labels.tolist() == (np.arange(50) % 5).tolist() and generic.metric is None


@pytest.mark.parametrize("fmt, values", [("fvecs", lambda r: r.normal(size=(9, 5)).astype(np.float32)),
                                         ("bvecs", lambda r: r.integers(0, 256, (9, 5), dtype=np.uint8)),
                                         ("ivecs", lambda r: r.integers(-1000, 1000, (9, 5), dtype=np.int32))])
def test_texmex_vectors(tmp_path, rng, fmt, values):
    x = values(rng)
    data = load(write_vecs(tmp_path / f"base.{fmt}", x, fmt))
    assert np.array_equal(data.features, x.astype(np.float32)) and data.rows([3, 1]).tolist() == x[[3, 1]].tolist()


def test_texmex_queries_and_ground_truth(tmp_path, rng):
    base, query = rng.normal(size=(40, 6)), rng.normal(size=(3, 6))
    truth = np.argsort(((query[:, None] - base[None]) ** 2).sum(-1), axis=1)[:, :5]
    data = DataSource("sift", None, write_vecs(tmp_path / "b.fvecs", base, "fvecs"),
                      queries_path=write_vecs(tmp_path / "q.fvecs", query, "fvecs"),
                      ground_truth_path=write_vecs(tmp_path / "g.ivecs", truth, "ivecs")).load()
    assert np.array_equal(data.queries, query.astype(np.float32)) and np.array_equal(data.neighbors, truth)


def test_read_features_reads_only_vectors(tmp_path, rng):
    x = rng.normal(size=(7, 3)).astype(np.float32)
    np.savez(tmp_path / "q.npz", X=x, y=np.array(["bad", "labels", "ignored", "", "", "", ""]))
    assert np.array_equal(read_features(tmp_path / "q.npz"), x)
    write_ann(tmp_path / "a.hdf5", x, x[:2])
    assert np.array_equal(read_features(tmp_path / "a.hdf5", key="test"), x[:2])
    assert np.array_equal(read_features(write_vecs(tmp_path / "q.fvecs", x, "fvecs")), x)
    with pytest.raises(L2HError, match="missing.fvecs does not exist: check queries"):
        read_features(tmp_path / "missing.fvecs", setting="queries")


# ---- the Dataset contract ------------------------------------------------------------------------------------


def test_rows_and_chunks_in_memory(rng):
    x = rng.normal(size=(100, 3))
    data = Dataset.create("d", x)
    order = np.array([5, 2, 2, 99, 0])
    assert np.array_equal(data.rows(order), x[order].astype(np.float32))
    assert np.array_equal(data.rows(slice(10, 20)), x[10:20].astype(np.float32))
    assert np.array_equal(data.rows(np.arange(100) % 7 == 0), x[::7].astype(np.float32))
    out = data.rows(slice(0, 5))
    out[:] = 0  # a copy: the dataset is untouched
    assert np.array_equal(data.rows(slice(0, 5)), x[:5].astype(np.float32))
    blocks = list(data.chunks(30))
    assert [s for s, _ in blocks] == [0, 30, 60, 90] and [len(b) for _, b in blocks] == [30, 30, 30, 10]
    assert np.array_equal(np.concatenate([b for _, b in blocks]), x.astype(np.float32))
    with pytest.raises(IndexError):
        data.rows([100])
    with pytest.raises(L2HError, match="chunk size"):
        list(data.chunks(0))


def test_fingerprint_identifies_content_not_format(tmp_path, rng):
    x, y = rng.normal(size=(20, 4)).astype(np.float32), rng.integers(0, 3, 20)
    np.savez(tmp_path / "d.npz", X=x, y=y)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    a = load(tmp_path / "d.npz")
    assert a.fingerprint() == load(tmp_path / "x.npy", labels_path=tmp_path / "y.npy").fingerprint()
    assert len(a.fingerprint()) == 64
    changed = x.copy()
    changed[7, 2] = np.nextafter(changed[7, 2], np.float32(np.inf))
    assert Dataset.create("d", changed, y).fingerprint() != a.fingerprint()
    assert Dataset.create("d", x, (y + 1) % 3).fingerprint() != a.fingerprint()
    assert Dataset.create("d", x).fingerprint() != a.fingerprint()
    assert Dataset.create("d", x, y, queries=x[:2]).fingerprint() != a.fingerprint()


def test_labels_normalised(rng):
    x = np.zeros((4, 2))
    assert Dataset.create("d", x, [1.0, 0.0, 2.0, 2.0]).labels.dtype == np.int64
    assert Dataset.create("d", x, np.array([True, False, True, True])).labels.tolist() == [1, 0, 1, 1]
    assert Dataset.create("d", x, np.array([[1, 0, 1, 0]])).labels.tolist() == [1, 0, 1, 0]  # MATLAB 1 x n
    assert Dataset.create("d", x, np.array([[1], [0], [1], [0]])).labels.tolist() == [1, 0, 1, 0]  # n x 1
    strings = Dataset.create("d", x, np.array(["cat", "ant", "cat", "bee"]))
    assert strings.labels.tolist() == [2, 0, 2, 1] and strings.class_names == ("ant", "bee", "cat")
    assert strings.n_classes == 3
    numeric = Dataset.create("d", x, np.array(["3", "10", "3", "-2"]))
    assert numeric.class_names == ("-2", "3", "10") and numeric.labels.tolist() == [1, 2, 1, 0]
    raw = Dataset.create("d", x, np.array([b"b", b"a", b"b", b"a"]))
    assert raw.class_names == ("a", "b") and raw.labels.tolist() == [1, 0, 1, 0]
    multi = Dataset.create("d", x, np.array([[1, 0], [0, 0], [1, 1], [0, 1]], dtype=bool))
    assert multi.multilabel and multi.n_classes == 2 and multi.labels.dtype == np.uint8
    assert Dataset.create("d", x, [1, 5, 1, 1]).n_classes == 6
    assert Dataset.create("d", x).n_classes is None


def test_features_normalised(rng):
    boolean = Dataset.create("d", np.array([[True, False], [False, False]]))
    assert boolean.features.dtype == np.float32 and boolean.features.tolist() == [[1, 0], [0, 0]]
    ints = Dataset.create("d", np.arange(6, dtype=np.int64).reshape(3, 2))
    assert ints.features.flags.c_contiguous and not ints.features.flags.writeable
    fortran = np.asfortranarray(rng.normal(size=(5, 3)))
    assert np.array_equal(Dataset.create("d", fortran).features, fortran.astype(np.float32))
    images = Dataset.create("d", rng.normal(size=(4, 6)), item_shape=(1, 2, 3))
    assert images.item_shape == (1, 2, 3)
    with pytest.raises(L2HError, match="item shape"):
        Dataset.create("d", rng.normal(size=(4, 6)), item_shape=(1, 2, 2))


def test_datasource_is_what_hydra_builds(tmp_path):
    source = DataSource(name="cifar10_gist", format="mat", path=None, example="Gist512CIFAR10.mat",
                        features="X", labels="X_class", n_query=1000, n_train=5000)
    assert (source.n_query, source.n_train, source.format) == (1000, 5000, "mat")
    with pytest.raises(L2HError) as info:
        source.load()
    assert str(info.value) == "data=cifar10_gist reads a file: add data.path=/path/to/Gist512CIFAR10.mat"
    with pytest.raises(L2HError, match=r"^data=custom reads a file: add data.path=/path/to/data.npz$"):
        DataSource("custom", None, None, example="data.npz").load()
    assert DataSource("d", ".NPY").format == "npy" and DataSource("d", "h5").format == "hdf5"
    assert "cifar10_gist" in repr(source)
    pickle.loads(pickle.dumps(source))
