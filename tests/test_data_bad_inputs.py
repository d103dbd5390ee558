"""Every bad input the project's issues name, generated here, must end in one line of L2HError naming the problem
(from the API; the command line prints the same line and exits 2). Each case writes its file, loads it the way a
user would, and checks the message; no case may end in another exception."""

import gzip
import struct

import h5py
import numpy as np
import pytest
import scipy.io

from l2h.data.dataset import Dataset
from l2h.data.source import DataSource, read_features
from l2h.errors import L2HError
from tests.test_data_writers import (
    write_ann,
    write_idx,
    write_mat_v73,
    write_mnist_folder,
    write_vecs,
)


def source(path, format=None, **options):
    return lambda: DataSource("t", format, path, **options).load()


def npz(**arrays):
    def make(p):
        with open(p, "wb") as f:  # a file object: np.savez would add .npz to a name like x.npy
            np.savez(f, **arrays)
    return make


def truncated(write, keep=0.5):
    def make(p):
        write(p)
        raw = p.read_bytes()
        p.write_bytes(raw[: int(len(raw) * keep)])
    return make


def raw_bytes(data):
    return lambda p: p.write_bytes(data)


def directory(p):
    p.mkdir()


X = np.arange(12.0).reshape(4, 3)
Y = np.array([0, 1, 0, 1])

# (id, file name, how to make it, load options, expected message)
FILES = [
    # .npz
    ("npz-empty", "d.npz", raw_bytes(b""), {}, "is empty"),
    ("npz-garbage", "d.npz", raw_bytes(b"this is no zip file at all"), {}, "not an .npz archive"),
    ("npz-truncated", "d.npz", truncated(npz(X=X, y=Y)), {}, "damaged or truncated .npz"),
    ("npz-zip-header-only", "d.npz", raw_bytes(b"PK\x03\x04" + b"\0" * 20), {}, "damaged or truncated .npz"),
    ("npz-directory", "d.npz", directory, {"format": "npz"}, "is a folder, not a file"),
    ("npz-missing-features", "d.npz", npz(A=X), {}, r"no array 'X' \(it has A\): set data.features"),
    ("npz-missing-named-labels", "d.npz", npz(X=X), {"labels": "gnd"}, "no array 'gnd'.*data.labels"),
    ("npz-object-array", "d.npz", lambda p: np.savez(p, X=np.array([1, "a"], dtype=object)), {}, "Python objects"),
    ("npz-holding-npy", "d.npz", lambda p: open(p, "wb").write(_npy_bytes(X)), {}, "set data.format=npy"),
    ("npz-crc-damaged", "d.npz", lambda p: _damage_zip_member(p), {}, "damaged or truncated"),
    ("npz-1d-features", "d.npz", npz(X=np.arange(5.0)), {}, "1-D array of 5 values"),
    ("npz-complex", "d.npz", npz(X=X + 1j), {}, "complex"),
    ("npz-text-features", "d.npz", npz(X=np.array([["a", "b"]])), {}, "must be numbers, got text"),
    ("npz-empty-features", "d.npz", npz(X=np.zeros((0, 3))), {}, r"hold no items \(shape \(0, 3\)\)"),
    ("npz-zero-dimensions", "d.npz", npz(X=np.zeros((4, 0))), {}, "0 dimensions per item"),
    ("npz-scalar", "d.npz", npz(X=np.float64(3)), {}, "single number"),
    ("npz-nan", "d.npz", npz(X=np.where(np.arange(12).reshape(4, 3) == 7, np.nan, X)), {},
     "features row 2 holds nan at column 1"),
    ("npz-inf", "d.npz", npz(X=np.where(np.arange(12).reshape(4, 3) == 10, -np.inf, X)), {}, "row 3 holds -inf"),
    ("npz-float32-overflow", "d.npz", npz(X=np.where(np.arange(12).reshape(4, 3) == 4, 1e300, X)), {},
     "row 1 holds 1e\\+300, beyond float32's range"),
    ("npz-label-count", "d.npz", npz(X=X, y=np.arange(3)), {}, "3 labels for 4 feature rows"),
    ("npz-label-nan", "d.npz", npz(X=X, y=np.array([0, 1, np.nan, 1])), {}, "label row 2 is nan"),
    ("npz-label-negative", "d.npz", npz(X=X, y=np.array([0, 1, 2, -1])), {}, "label row 3 is -1"),
    ("npz-label-fraction", "d.npz", npz(X=X, y=np.array([0, 1.5, 2, 1])), {}, "whole numbers, but label row 1"),
    ("npz-label-huge", "d.npz", npz(X=X, y=np.array([0, 1, 1e30, 1])), {}, "label row 2 .* far too large"),
    ("npz-label-empty-text", "d.npz", npz(X=X, y=np.array(["a", "b", " ", "a"])), {}, "label row 2 is empty"),
    ("npz-multi-hot-not-binary", "d.npz", npz(X=X, y=np.array([[0, 1], [1, 1], [2, 0], [0, 0]])), {},
     "multi-hot labels must be 0 or 1, but row 2 holds 2"),
    ("npz-labels-3d", "d.npz", npz(X=X, y=np.zeros((4, 2, 2))), {}, "labels have 3 axes"),
    ("npz-labels-complex", "d.npz", npz(X=X, y=Y + 0j), {}, "labels are complex"),
    ("npz-five-axes", "d.npz", npz(X=np.zeros((2, 1, 1, 1, 3))), {}, "5 axes"),
    # .npy
    ("npy-empty", "x.npy", raw_bytes(b""), {}, "is empty"),
    ("npy-garbage", "x.npy", raw_bytes(b"\x00\x01 garbage"), {}, "not a .npy file"),
    ("npy-truncated-data", "x.npy", truncated(lambda p: np.save(p, X), keep=0.9), {}, "damaged or truncated .npy"),
    ("npy-truncated-header", "x.npy", lambda p: p.write_bytes(_npy_bytes(X)[:20]), {}, "damaged or truncated .npy"),
    ("npy-directory", "x.npy", directory, {"format": "npy"}, "is a folder"),
    ("npy-object", "x.npy", lambda p: np.save(p, np.array([1, None], dtype=object), allow_pickle=True), {},
     "Python objects"),
    ("npy-holding-npz", "x.npy", npz(X=X), {}, "set data.format=npz"),
    ("npy-1d", "x.npy", lambda p: np.save(p, np.arange(4.0)), {}, "1-D array of 4 values"),
    ("npy-0d", "x.npy", lambda p: np.save(p, np.float64(1)), {}, "single number"),
    ("npy-features-key", "x.npy", lambda p: np.save(p, X), {"features": "X"}, "holds one array: drop data.features"),
    ("npy-labels-key", "x.npy", lambda p: np.save(p, X), {"labels": "y"}, "data.labels_path"),
    ("npy-bool-labels-wrong-count", "x.npy", lambda p: np.save(p, X), {"labels_path": "LABELS"},
     "5 labels for 4 feature rows"),
    # MATLAB v5
    ("mat-empty", "d.mat", raw_bytes(b""), {}, "is empty"),
    ("mat-garbage", "d.mat", raw_bytes(b"not a mat file at all" * 10), {}, "not a readable MATLAB file"),
    ("mat-truncated", "d.mat", truncated(lambda p: scipy.io.savemat(p, {"X": np.random.default_rng(0).normal(
        size=(50, 8)), "X_class": np.arange(50)}, do_compression=True)), {}, "not a readable MATLAB file"),
    ("mat-header-only", "d.mat", truncated(lambda p: scipy.io.savemat(p, {"X": X}), keep=0.4), {},
     "not a readable MATLAB file|no variable 'X'"),
    ("mat-directory", "d.mat", directory, {"format": "mat"}, "is a folder"),
    ("mat-missing-x", "d.mat", lambda p: scipy.io.savemat(p, {"Y": X}), {}, r"no variable 'X' \(it has Y \(4 x 3"),
    ("mat-missing-named-labels", "d.mat", lambda p: scipy.io.savemat(p, {"X": X}), {"labels": "gnd"},
     "no variable 'gnd'"),
    ("mat-label-count", "d.mat", lambda p: scipy.io.savemat(p, {"X": X, "X_class": np.arange(3)}), {},
     "3 labels for 4"),
    ("mat-nan", "d.mat", lambda p: scipy.io.savemat(p, {"X": np.array([[1.0, 2], [3, np.nan]])}), {},
     "features row 1 holds nan"),
    ("mat-1d-x", "d.mat", lambda p: scipy.io.savemat(p, {"X": np.arange(5.0)}), {}, "1 x 5 row vector"),
    ("mat-complex", "d.mat", lambda p: scipy.io.savemat(p, {"X": X + 2j}), {}, "complex"),
    ("mat-cell-x", "d.mat", lambda p: scipy.io.savemat(p, {"X": np.array([[1.0], ["a"]], dtype=object)}), {},
     "cell array"),
    ("mat-struct-x", "d.mat", lambda p: scipy.io.savemat(p, {"X": {"a": 1.0}}), {}, "struct"),
    ("mat-3d-x", "d.mat", lambda p: scipy.io.savemat(p, {"X": np.zeros((2, 3, 4))}), {}, "3 dimensions"),
    ("mat-text-x", "d.mat", lambda p: scipy.io.savemat(p, {"X": np.array(["ab", "cd"])}), {}, "char array"),
    ("mat-cell-mixed-labels", "d.mat", lambda p: scipy.io.savemat(p, {"X": X, "X_class": np.array(
        [[1.0], ["a"], [2.0], ["b"]], dtype=object)}), {}, "mixes text and numbers"),
    # MATLAB v7.3
    ("v73-truncated", "d.mat", truncated(lambda p: write_mat_v73(p, {"X": X})), {}, "MATLAB v7.3.*truncated"),
    ("v73-header-no-hdf5", "d.mat", raw_bytes(b"MATLAB 7.3 MAT-file".ljust(600, b" ")), {},
     "not a readable MATLAB v7.3"),
    ("v73-missing-x", "d.mat", lambda p: write_mat_v73(p, {"Z": X}), {}, r"no variable 'X' \(it has Z\)"),
    ("v73-complex", "d.mat", lambda p: _v73_complex(p), {}, "is complex"),
    ("v73-sparse", "d.mat", lambda p: _v73_group(p, sparse=True), {}, "sparse matrix.*full"),
    ("v73-struct", "d.mat", lambda p: _v73_group(p, sparse=False), {}, "struct"),
    ("v73-empty", "d.mat", lambda p: _v73_empty(p), {}, "is empty in MATLAB"),
    ("v73-row-vector", "d.mat", lambda p: write_mat_v73(p, {"X": np.arange(5.0)}), {}, "1 x 5 row vector"),
    ("v73-char-x", "d.mat", lambda p: write_mat_v73(p, {"X": np.array(["ab", "cd"])}), {}, "char array"),
    ("v73-label-count", "d.mat", lambda p: write_mat_v73(p, {"X": X, "X_class": np.arange(5.0)}), {},
     "5 labels for 4"),
    ("v73-inf", "d.mat", lambda p: write_mat_v73(p, {"X": np.array([[1.0, 2], [np.inf, 0]])}), {},
     "features row 1 holds inf at column 0"),
    # IDX
    ("idx-shape-mismatch", "m", lambda p: write_mnist_folder(p, np.zeros((3, 4, 4), np.uint8), np.zeros(3, np.uint8),
                                                             np.zeros((2, 5, 5), np.uint8), np.zeros(2, np.uint8)),
     {}, "train images are 4 x 4 but the t10k images 5 x 5"),
    ("idx-zero-items", "m", lambda p: write_mnist_folder(p, np.zeros((0, 4, 4), np.uint8), np.zeros(0, np.uint8),
                                                         np.zeros((2, 4, 4), np.uint8), np.zeros(2, np.uint8)),
     {}, r"holds no items \(its header declares shape \(0, 4, 4\)\)"),
    ("idx-overflowing-header", "i-idx3-ubyte", raw_bytes(bytes([0, 0, 8, 3]) + b"\xff" * 12 + b"\0" * 10), {},
     "header declares shape \\(4294967295, 4294967295, 4294967295\\).*truncated"),
    ("idx-bad-magic", "i-idx3-ubyte", raw_bytes(b"\x12\x34\x08\x01" + b"\0" * 8), {}, "no IDX magic number"),
    ("idx-unknown-type", "i-idx3-ubyte", raw_bytes(bytes([0, 0, 0x07, 1]) + struct.pack(">I", 1) + b"x"), {},
     "no IDX magic number"),
    ("idx-zero-dims", "i-idx3-ubyte", raw_bytes(bytes([0, 0, 8, 0])), {}, "declares 0 dimensions"),
    ("idx-short-header", "i-idx3-ubyte", raw_bytes(bytes([0, 0, 8, 3]) + b"\0\0\0\1"), {}, "shorter than its"),
    ("idx-truncated-plain", "i-idx3-ubyte", truncated(lambda p: write_idx(p, np.ones((4, 3, 3), np.uint8)), 0.8),
     {}, "holds 25 bytes of data but its header declares shape \\(4, 3, 3\\) of uint8 \\(36 bytes\\)"),
    ("idx-trailing-bytes", "i-idx3-ubyte", lambda p: p.write_bytes(
        write_idx(p, np.ones((2, 2, 2), np.uint8)).read_bytes() + b"xx"), {}, "2 bytes more"),
    ("idx-truncated-gzip", "i-idx3-ubyte.gz", truncated(lambda p: write_idx(p, np.arange(300, dtype=np.uint8)
                                                                              .reshape(3, 10, 10))), {},
     "damaged or truncated gzip"),
    ("idx-garbage-gzip", "i-idx3-ubyte.gz", raw_bytes(b"\x1f\x8b" + b"\x00" * 30), {}, "damaged or truncated gzip"),
    ("idx-empty", "i-idx3-ubyte", raw_bytes(b""), {}, "is empty"),
    ("idx-empty-gzip", "i-idx3-ubyte.gz", lambda p: gzip.open(p, "wb").close(), {}, "is empty"),
    ("idx-label-count", "m", lambda p: write_mnist_folder(p, np.zeros((3, 4, 4), np.uint8), np.zeros(2, np.uint8),
                                                          np.zeros((2, 4, 4), np.uint8), np.zeros(2, np.uint8)),
     {}, "holds 3 images but train-labels-idx1-ubyte.gz 2 labels"),
    ("idx-labels-2d", "m", lambda p: write_mnist_folder(p, np.zeros((3, 4, 4), np.uint8), np.zeros((3, 1), np.uint8),
                                                        np.zeros((2, 4, 4), np.uint8), np.zeros(2, np.uint8)),
     {}, "not one label per image"),
    ("idx-missing-file", "m", lambda p: (write_mnist_folder(p, np.zeros((3, 4, 4), np.uint8), np.zeros(3, np.uint8),
                                                            np.zeros((2, 4, 4), np.uint8), np.zeros(2, np.uint8)),
                                         (p / "t10k-labels-idx1-ubyte.gz").unlink()), {},
     "has no t10k-labels-idx1-ubyte or t10k-labels-idx1-ubyte.gz"),
    ("idx-single-labels-file", "l-idx1-ubyte", lambda p: write_idx(p, np.zeros(5, np.uint8)), {},
     "1-D array of 5 values"),
    ("idx-features-key", "m", lambda p: write_mnist_folder(p, np.zeros((3, 4, 4), np.uint8), np.zeros(3, np.uint8),
                                                           np.zeros((2, 4, 4), np.uint8), np.zeros(2, np.uint8)),
     {"features": "X"}, "IDX files hold one array each"),
    # HDF5 (ann-benchmarks)
    ("hdf5-empty", "a.hdf5", raw_bytes(b""), {}, "is empty"),
    ("hdf5-garbage", "a.hdf5", raw_bytes(b"garbage" * 40), {}, "not a readable HDF5 file"),
    ("hdf5-truncated", "a.hdf5", truncated(lambda p: write_ann(p, X, X[:2], np.zeros((2, 1), np.int32))), {},
     "not a readable HDF5 file"),
    ("hdf5-directory", "a.hdf5", directory, {"format": "hdf5"}, "is a folder"),
    ("hdf5-missing-train", "a.hdf5", lambda p: h5py.File(p, "w").create_dataset("base", data=X).file.close(), {},
     r"no dataset 'train' \(it has base\)"),
    ("hdf5-group", "a.hdf5", lambda p: h5py.File(p, "w").create_group("train").file.close(), {}, "an HDF5 group"),
    ("hdf5-neighbour-outside", "a.hdf5", lambda p: write_ann(p, X, X[:2], np.array([[0, 1], [2, 4]])), {},
     "ground-truth row 1 names item 4, outside the 4 items"),
    ("hdf5-neighbour-rows", "a.hdf5", lambda p: write_ann(p, X, X[:2], np.array([[0, 1]])), {},
     "1 ground-truth rows for 2 queries"),
    ("hdf5-neighbour-negative", "a.hdf5", lambda p: write_ann(p, X, X[:2], np.array([[0, -1], [1, 2]])), {},
     "row 0 names item -1"),
    ("hdf5-query-dimension", "a.hdf5", lambda p: write_ann(p, X, np.zeros((2, 5))), {},
     "queries have shape 5 per item but the features 3"),
    ("hdf5-query-nan", "a.hdf5", lambda p: write_ann(p, X, np.array([[0.0, 1, 2], [np.nan, 0, 0]])), {},
     "queries row 1 holds nan"),
    ("hdf5-1d-train", "a.hdf5", lambda p: write_ann(p, np.arange(5.0)), {}, "1-D array of 5 values"),
    ("hdf5-complex", "a.hdf5", lambda p: write_ann(p, X + 1j), {}, "complex"),
    ("hdf5-named-labels-missing", "a.hdf5", lambda p: write_ann(p, X), {"labels": "cls"}, "no dataset 'cls'"),
    # TEXMEX
    ("fvecs-empty", "b.fvecs", raw_bytes(b""), {}, "is empty"),
    ("fvecs-short", "b.fvecs", raw_bytes(b"\x03\x00"), {}, "shorter than one .fvecs row header"),
    ("fvecs-truncated", "b.fvecs", truncated(lambda p: write_vecs(p, X, "fvecs"), keep=0.9), {},
     "not a whole number of 16-byte rows \\(dimension 3"),
    ("fvecs-header-disagrees", "b.fvecs", lambda p: _vecs_bad_header(p, row=2, fmt="fvecs"), {},
     "row 2 declares dimension 7 but the first row declares 3"),
    ("fvecs-negative-dimension", "b.fvecs", raw_bytes(struct.pack("<i", -4) + b"\0" * 12), {}, "dimension -4"),
    ("fvecs-huge-dimension", "b.fvecs", raw_bytes(struct.pack("<i", 10**9) + b"\0" * 12), {}, "dimension 1000000000"),
    ("fvecs-directory", "b.fvecs", directory, {"format": "fvecs"}, "is a folder"),
    ("fvecs-nan", "b.fvecs", lambda p: write_vecs(p, np.where(X == 5, np.nan, X), "fvecs"), {},
     "features row 1 holds nan at column 2"),
    ("bvecs-truncated", "b.bvecs", truncated(lambda p: write_vecs(p, X, "bvecs"), keep=0.8), {},
     "not a whole number of 7-byte rows"),
    ("ivecs-header-disagrees", "g.ivecs", lambda p: _vecs_bad_header(p, row=3, fmt="ivecs"), {},
     "row 3 declares dimension 7"),
    ("fvecs-labels-key", "b.fvecs", lambda p: write_vecs(p, X, "fvecs"), {"labels": "y"}, "data.labels_path"),
    # no format to go by
    ("unknown-extension", "data.bin", raw_bytes(b"\x01\x02\x03 no known magic"), {}, "cannot tell the format"),
    ("missing-file", "nothing.npz", None, {}, "does not exist: check data.path"),
]


@pytest.mark.parametrize("case", FILES, ids=[c[0] for c in FILES])
def test_bad_file_gives_one_line_error(tmp_path, case):
    _, name, make, options, message = case
    path = tmp_path / name
    if make is not None:
        make(path)
    if options.get("labels_path") == "LABELS":
        np.save(tmp_path / "y.npy", np.array([True, False, True, False, True]))
        options = {**options, "labels_path": tmp_path / "y.npy"}
    with pytest.raises(L2HError, match=message) as info:
        source(path, **options)()
    assert "\n" not in str(info.value) and len(str(info.value)) < 400


# ---- settings and second files --------------------------------------------------------------------------------


def _ok_npy(tmp_path):
    np.save(tmp_path / "x.npy", X)
    return tmp_path / "x.npy"


SETTINGS = [
    ("no-path", lambda t: DataSource("mine", "npz", example="data.npz"), r"^data=mine reads a file: add "
                                                                         r"data.path=/path/to/data.npz$"),
    ("unknown-format", lambda t: DataSource("d", "csv", "x.csv"), "unknown data format 'csv'"),
    ("format-not-text", lambda t: DataSource("d", 3), "must be a format name"),
    ("bad-n-query", lambda t: DataSource("d", "digits", n_query=0), "data.n_query must be a positive integer"),
    ("bool-n-train", lambda t: DataSource("d", "digits", n_train=True), "data.n_train"),
    ("empty-path", lambda t: DataSource("d", "npz", ""), "data.path is empty"),
    ("path-not-text", lambda t: DataSource("d", "npz", 5), "data.path must be a path"),
    ("bad-lazy", lambda t: DataSource("d", "npz", "x", lazy="yes"), "data.lazy"),
    ("empty-name", lambda t: DataSource(""), "data.name"),
    ("digits-with-path", lambda t: DataSource("d", "digits", _ok_npy(t)), "built in and reads no file"),
    ("digits-with-features", lambda t: DataSource("d", "digits", features="X"), "drop data.features"),
    ("labels-path-missing", lambda t: DataSource("d", None, _ok_npy(t), labels_path=t / "no.npy"),
     "no.npy does not exist: check data.labels_path"),
    ("labels-path-directory", lambda t: DataSource("d", None, _ok_npy(t), labels_path=t), "is a folder"),
    ("labels-text-count", lambda t: (_ok_npy(t), (t / "y.txt").write_text("a\nb\n"))
     and DataSource("d", None, t / "x.npy", labels_path=t / "y.txt"), "2 labels for 4 feature rows"),
    ("labels-text-blank-line", lambda t: (_ok_npy(t), (t / "y.txt").write_text("a\n\nb\nc\n"))
     and DataSource("d", None, t / "x.npy", labels_path=t / "y.txt"), "label row 1 is empty"),
    ("labels-text-not-utf8", lambda t: (_ok_npy(t), (t / "y.txt").write_bytes(b"a\n\xff\xfe\nb\nc\n"))
     and DataSource("d", None, t / "x.npy", labels_path=t / "y.txt"), "not UTF-8"),
    ("labels-npz-ambiguous", lambda t: (_ok_npy(t), np.savez(t / "y.npz", a=Y, b=Y))
     and DataSource("d", None, t / "x.npy", labels_path=t / "y.npz"), "holds a, b: name the array of labels"),
    ("labels-key-in-npy", lambda t: (_ok_npy(t), np.save(t / "y.npy", Y))
     and DataSource("d", None, t / "x.npy", labels_path=t / "y.npy", labels="y"), "drop the array name 'y'"),
    ("ground-truth-without-queries", lambda t: DataSource("d", "fvecs", "b.fvecs", ground_truth_path="g.ivecs"),
     "needs the queries it belongs to"),
    ("ground-truth-without-queries-guessed", lambda t: (write_vecs(t / "b.fvecs", X, "fvecs"),
                                                        write_vecs(t / "g.ivecs", [[0], [1]], "ivecs"))
     and DataSource("d", None, t / "b.fvecs", ground_truth_path=t / "g.ivecs"), "needs the queries"),
    ("ground-truth-query-count", lambda t: (write_vecs(t / "b.fvecs", X, "fvecs"), write_vecs(t / "q.fvecs", X[:2],
                                                                                             "fvecs"),
                                            write_vecs(t / "g.ivecs", [[0]], "ivecs"))
     and DataSource("d", None, t / "b.fvecs", queries_path=t / "q.fvecs", ground_truth_path=t / "g.ivecs"),
     "1 ground-truth rows for 2 queries"),
    ("ground-truth-outside", lambda t: (write_vecs(t / "b.fvecs", X, "fvecs"), write_vecs(t / "q.fvecs", X[:1],
                                                                                         "fvecs"),
                                        write_vecs(t / "g.ivecs", [[0, 9]], "ivecs"))
     and DataSource("d", None, t / "b.fvecs", queries_path=t / "q.fvecs", ground_truth_path=t / "g.ivecs"),
     "names item 9, outside the 4 items"),
    ("queries-other-dimension", lambda t: (write_vecs(t / "b.fvecs", X, "fvecs"), write_vecs(t / "q.fvecs",
                                                                                            np.zeros((2, 5)), "fvecs"))
     and DataSource("d", None, t / "b.fvecs", queries_path=t / "q.fvecs"), "queries have shape 5 per item"),
]


@pytest.mark.parametrize("case", SETTINGS, ids=[c[0] for c in SETTINGS])
def test_bad_setting_gives_one_line_error(tmp_path, case):
    _, build, message = case
    with pytest.raises(L2HError, match=message) as info:
        build(tmp_path).load()
    assert "\n" not in str(info.value)


# ---- arrays handed to the API directly ------------------------------------------------------------------------


ARRAYS = [
    ("object-features", lambda: Dataset.create("d", np.array([[1, None]], dtype=object)), "Python objects"),
    ("record-features", lambda: Dataset.create("d", np.zeros(3, dtype=[("a", "f4"), ("b", "f4")])), "records"),
    ("date-features", lambda: Dataset.create("d", np.zeros((2, 2), dtype="datetime64[s]")), "dates"),
    ("mixed-object-labels", lambda: Dataset.create("d", X, np.array([1, "a", None, 2], dtype=object)),
     "mix of Python objects"),
    ("scalar-labels", lambda: Dataset.create("d", X, 3), "single value"),
    ("zero-label-columns", lambda: Dataset.create("d", X, np.zeros((4, 0))), "0 columns"),
    ("text-multi-hot", lambda: Dataset.create("d", X, np.array([["a", "b"]] * 4)), "one label per item"),
    ("bytes-not-utf8", lambda: Dataset.create("d", X, np.array([b"a", b"\xff", b"a", b"b"])),
     "label row 1 is not UTF-8"),
    ("multi-hot-nan", lambda: Dataset.create("d", X, np.array([[0, 1], [1, np.nan], [0, 0], [1, 1.0]])),
     "row 1 holds nan"),
    ("neighbours-without-queries", lambda: Dataset.create("d", X, neighbors=[[0]]), "without queries"),
    ("neighbours-fraction", lambda: Dataset.create("d", X, queries=X[:1], neighbors=[[0.5]]), "not a row id"),
    ("neighbours-1d", lambda: Dataset.create("d", X, queries=X[:2], neighbors=[0, 1]), "one row of neighbour ids"),
    ("neighbours-empty", lambda: Dataset.create("d", X, queries=X[:2], neighbors=np.zeros((2, 0), int)),
     "0 neighbours"),
    ("neighbours-text", lambda: Dataset.create("d", X, queries=X[:1], neighbors=[["a"]]), "integer row ids"),
    ("queries-1d", lambda: Dataset.create("d", X, queries=np.zeros(3)), "queries are a 1-D array"),
    ("read-features-no-path", lambda: read_features(None, setting="database"), "database is not set"),
    ("read-features-unknown-format", lambda: read_features(__file__, format="xyz"), "unknown data format 'xyz'"),
]


@pytest.mark.parametrize("case", ARRAYS, ids=[c[0] for c in ARRAYS])
def test_bad_array_gives_one_line_error(case):
    _, build, message = case
    with pytest.raises(L2HError, match=message) as info:
        build()
    assert "\n" not in str(info.value)


def test_a_ragged_list_is_refused_rather_than_held_as_objects():
    with pytest.raises(ValueError, match="inhomogeneous"):  # NumPy's own refusal, from the Python API only
        Dataset.create("d", [[1.0, 2.0], [3.0]])


# ---- helpers that make damaged files -------------------------------------------------------------------------


def _npy_bytes(a):
    import io

    buffer = io.BytesIO()
    np.save(buffer, a)
    return buffer.getvalue()


def _damage_zip_member(p):
    np.savez(p, X=np.arange(400.0).reshape(100, 4))
    raw = bytearray(p.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # inside X's stored data: the CRC no longer matches
    p.write_bytes(bytes(raw))


def _v73_complex(p):
    with h5py.File(p, "w") as f:
        f["X"] = np.zeros((3, 4), dtype=[("real", "<f8"), ("imag", "<f8")])
        f["X"].attrs["MATLAB_class"] = np.bytes_("double")


def _v73_group(p, sparse):
    with h5py.File(p, "w") as f:
        g = f.create_group("X")
        if sparse:
            g.attrs["MATLAB_sparse"] = np.uint64(4)
            g["data"], g["ir"], g["jc"] = np.ones(2), np.array([0, 1], np.uint64), np.array([0, 1, 2], np.uint64)
        else:
            g["a"] = np.ones((1, 1))


def _v73_empty(p):
    with h5py.File(p, "w") as f:
        f["X"] = np.array([0, 3], np.uint64)
        f["X"].attrs["MATLAB_class"] = np.bytes_("double")
        f["X"].attrs["MATLAB_empty"] = np.uint8(1)


def _vecs_bad_header(p, row, fmt):
    write_vecs(p, np.arange(15).reshape(5, 3), fmt)
    raw = bytearray(p.read_bytes())
    raw[row * 16: row * 16 + 4] = struct.pack("<i", 7)
    p.write_bytes(bytes(raw))
