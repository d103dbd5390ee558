import gzip

import h5py
import numpy as np
import pytest
import scipy.io

from l2h.data.loaders import load_dataset, read_idx
from l2h.data.protocols import make_split
from l2h.data.dataset import Dataset
from l2h.data.preprocess import Preprocessor
from l2h.errors import L2HError


def test_mat_v5_with_tutorial_variable_names(tmp_path, rng):
    x = rng.normal(size=(30, 6))
    scipy.io.savemat(tmp_path / "d.mat", {"X": x, "X_class": rng.integers(0, 3, (1, 30)).astype(float)})
    data = load_dataset("mat", tmp_path / "d.mat")
    assert data.features.shape == (30, 6) and data.labels.shape == (30,)
    assert np.allclose(data.features, x)


def test_mat_v73_reads_transposed_hdf5_layout(tmp_path, rng):
    x = rng.normal(size=(30, 6))
    with h5py.File(tmp_path / "d.mat", "w") as f:  # MATLAB v7.3 stores column-major: (dims, items)
        f["feats"] = x.T
        f["y"] = rng.integers(0, 3, (30, 1)).T.astype(float)
    data = load_dataset("mat", tmp_path / "d.mat", features="feats", labels="y")
    assert np.allclose(data.features, x)


def test_npz_npy_and_idx(tmp_path, rng):
    x, y = rng.normal(size=(12, 4)), rng.integers(0, 2, 12)
    np.savez(tmp_path / "d.npz", X=x, y=y)
    assert load_dataset("npz", tmp_path / "d.npz").n == 12
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    assert np.array_equal(load_dataset("npy", tmp_path / "x.npy", labels_path=tmp_path / "y.npy").labels, y)
    images = rng.integers(0, 256, (5, 3, 2), dtype=np.uint8)
    header = bytes([0, 0, 0x08, 3]) + b"".join(int(s).to_bytes(4, "big") for s in images.shape)
    for stem, payload in [("train-images-idx3-ubyte", header + images.tobytes())]:
        with gzip.open(tmp_path / f"{stem}.gz", "wb") as f:
            f.write(payload)
    assert np.array_equal(read_idx(tmp_path / "train-images-idx3-ubyte.gz"), images)


def test_digits_is_embedded():
    data = load_dataset("digits")
    assert data.features.shape == (1797, 64) and set(np.unique(data.labels)) == set(range(10))


@pytest.mark.parametrize("make, message", [
    (lambda p, r: None, "does not exist"),
    (lambda p, r: scipy.io.savemat(p, {"Y": r.normal(size=(3, 2))}), "no variable 'X'"),
    (lambda p, r: p.write_bytes(b"not a mat file at all"), "not a readable MATLAB"),
    (lambda p, r: scipy.io.savemat(p, {"X": r.normal(size=(4, 2)), "X_class": np.arange(3)}), "3 labels for 4"),
    (lambda p, r: scipy.io.savemat(p, {"X": np.array([[1.0, np.nan]]), "X_class": [1]}), "NaN"),
])
def test_bad_files_give_one_line_errors(tmp_path, rng, make, message):
    path = tmp_path / "bad.mat"
    make(path, rng)
    with pytest.raises(L2HError, match=message) as info:
        load_dataset("mat", path)
    assert "\n" not in str(info.value)


def test_tutorial_split_sizes_and_disjointness():
    data = Dataset.create("big", np.zeros((60000, 1)), np.arange(60000) % 10)
    split = make_split("tutorial", data)
    assert (split.query.size, split.train.size, split.database.size) == (120, 1198, 58682)
    assert np.union1d(np.union1d(split.query, split.train), split.database).size == 60000


def test_standard_split_is_stratified_seeded_and_disjoint():
    data = Dataset.create("d", np.zeros((3000, 1)), np.repeat(np.arange(10), 300))
    a = make_split("standard", data, seed=1, n_query=100, n_train=500, n_validation=50)
    b = make_split("standard", data, seed=1, n_query=100, n_train=500, n_validation=50)
    assert np.array_equal(a.query, b.query) and a.fingerprints() == b.fingerprints()
    assert np.bincount(data.labels[a.query]).tolist() == [10] * 10
    assert np.bincount(data.labels[np.concatenate([a.train, a.validation])]).tolist() == [50] * 10
    assert np.intersect1d(a.query, a.database).size == 0 and a.database.size == 2900
    assert np.intersect1d(a.validation, a.train).size == 0
    c = make_split("standard", data, seed=2, n_query=100, n_train=500)
    assert not np.array_equal(a.query, c.query)
    with pytest.raises(L2HError, match="lower protocol.n_query"):
        make_split("standard", data, n_query=2000, n_train=2000)


def test_preprocessor_fits_on_training_rows_only(rng):
    x = rng.normal(size=(100, 5)) + 3
    pre = Preprocessor(5).fit(x[:50])
    out = pre.transform(x[:50])
    assert np.allclose(out.mean(axis=0), 0, atol=1e-6)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    assert np.allclose(pre.transform(x), unit - unit[:50].mean(axis=0), atol=1e-6)
