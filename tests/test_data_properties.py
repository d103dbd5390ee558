"""Property tests: every format round-trips random arrays exactly; a file cut at any point, or random bytes,
ends in L2HError (never another exception)."""

import gzip
import io
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from l2h.data.source import DataSource
from l2h.errors import L2HError
from tests.test_data_writers import (
    write_ann,
    write_idx,
    write_mat_v73,
    write_mnist_folder,
    write_vecs,
)

finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@st.composite
def labelled_matrix(draw, elements=finite32, dtype=np.float32, min_rows=2):
    n = draw(st.integers(min_rows, 12))
    d = draw(st.integers(1, 6))
    x = draw(hnp.arrays(dtype, (n, d), elements=elements))
    y = draw(hnp.arrays(np.int64, n, elements=st.integers(0, 6)))
    return x, y


def load(path, **options):
    return DataSource("p", None, path, **options).load()


def in_temp(work):
    with tempfile.TemporaryDirectory() as folder:
        return work(Path(folder))


# ---- round trips ---------------------------------------------------------------------------------------------


@given(labelled_matrix())
def test_npz_and_npy_round_trip(xy):
    x, y = xy

    def check(t):
        np.savez_compressed(t / "d.npz", X=x, y=y)
        a = load(t / "d.npz")
        assert np.array_equal(a.features, x) and np.array_equal(a.labels, y)
        np.save(t / "x.npy", x)
        np.save(t / "y.npy", y)
        for lazy in (False, True):
            b = load(t / "x.npy", labels_path=t / "y.npy", lazy=lazy)
            assert np.array_equal(b.rows(slice(None)), x) and np.array_equal(b.labels, y)
        assert a.fingerprint() == b.fingerprint()
    in_temp(check)


@given(labelled_matrix(elements=st.floats(allow_nan=False, allow_infinity=False, width=32), dtype=np.float64),
       st.booleans())
def test_mat_round_trip_v5_and_v73(xy, compress):
    x, y = xy  # float64 holding float32 values: exact in both

    def check(t):
        scipy.io.savemat(t / "a.mat", {"X": x, "X_class": y.reshape(1, -1).astype(float)}, do_compression=compress)
        write_mat_v73(t / "b.mat", {"X": x, "X_class": y.astype(float)}, userblock=compress)
        a, b = load(t / "a.mat"), load(t / "b.mat")
        assert np.array_equal(a.features, x.astype(np.float32)) and np.array_equal(a.labels, y)
        assert np.array_equal(b.features, a.features) and np.array_equal(b.labels, y)
        lazy = load(t / "b.mat", lazy=True)
        assert np.array_equal(lazy.rows(np.arange(len(x))[::-1]), a.features[::-1])
    in_temp(check)


@given(labelled_matrix(min_rows=1), st.integers(1, 3), st.sampled_from(["euclidean", "angular", "jaccard"]))
def test_ann_benchmarks_round_trip(xy, k, metric):
    x, _ = xy
    rng = np.random.default_rng(len(x))
    truth = rng.integers(0, len(x), (2, k))

    def check(t):
        data = load(write_ann(t / "a.hdf5", x, x[:1].repeat(2, axis=0), truth, metric))
        assert np.array_equal(data.features, x) and np.array_equal(data.queries, x[[0, 0]])
        assert np.array_equal(data.neighbors, truth) and data.metric == metric
        assert np.array_equal(load(t / "a.hdf5", lazy=True).rows(slice(None)), x)
    in_temp(check)


@given(st.sampled_from(["fvecs", "bvecs", "ivecs"]), st.data())
def test_texmex_round_trip(fmt, data):
    elements = {"fvecs": finite32, "bvecs": st.integers(0, 255), "ivecs": st.integers(-2**24, 2**24)}[fmt]
    dtype = {"fvecs": np.float32, "bvecs": np.uint8, "ivecs": np.int32}[fmt]
    x = data.draw(hnp.arrays(dtype, st.tuples(st.integers(1, 12), st.integers(1, 6)), elements=elements))

    def check(t):
        path = write_vecs(t / f"x.{fmt}", x, fmt)
        for lazy in (False, True):
            assert np.array_equal(load(path, lazy=lazy).rows(slice(None)), x.astype(np.float32))
    in_temp(check)


@given(hnp.arrays(np.uint8, st.tuples(st.integers(1, 5), st.integers(1, 4), st.integers(1, 4))),
       hnp.arrays(np.uint8, st.integers(1, 4)), st.booleans())
def test_idx_round_trip(train, test_count, gz):
    test = np.resize(train[::-1], (len(test_count),) + train.shape[1:])

    def check(t):
        folder = write_mnist_folder(t / "m", train, np.arange(len(train), dtype=np.uint8), test, test_count, gz=gz)
        data = load(folder)
        expected = np.concatenate([train, test]).reshape(len(train) + len(test), -1)
        assert np.array_equal(data.features, expected.astype(np.float32) * np.float32(1 / 255))
        assert np.array_equal(data.labels, np.concatenate([np.arange(len(train)), test_count]))
        assert data.item_shape == (1,) + train.shape[1:]
    in_temp(check)


@given(st.lists(st.sampled_from(["cat", "dog", "3", "10", "émeu", "b c"]), min_size=2, max_size=12))
def test_text_labels_round_trip_through_class_names(labels):
    x = np.zeros((len(labels), 1), np.float32)

    def check(t):
        with open(t / "d.npz", "wb") as f:
            np.savez(f, X=x, y=np.array(labels))
        data = load(t / "d.npz")
        assert [data.class_names[i] for i in data.labels] == labels
        assert list(data.class_names) == sorted(set(labels), key=int if all(s.isdigit() for s in labels) else str)
    in_temp(check)


# ---- truncation and garbage ----------------------------------------------------------------------------------


def _npz(t):
    np.savez_compressed(t / "d.npz", X=np.arange(60.0).reshape(20, 3), y=np.arange(20) % 3)
    return t / "d.npz"


def _npy(t):
    np.save(t / "d.npy", np.arange(60.0).reshape(20, 3))
    return t / "d.npy"


def _mat5(t):  # labels first: a cut between the two variables leaves a file with no X, which is refused
    scipy.io.savemat(t / "d.mat", {"X_class": np.arange(20) % 3, "X": np.arange(60.0).reshape(20, 3)})
    return t / "d.mat"


def _mat73(t):
    return write_mat_v73(t / "d.mat", {"X": np.arange(60.0).reshape(20, 3), "X_class": np.arange(20) % 3})


def _hdf5(t):
    x = np.arange(60.0).reshape(20, 3)
    return write_ann(t / "d.hdf5", x, x[:2], np.zeros((2, 3), np.int32))


def _idx(t):
    return write_idx(t / "d-idx3-ubyte", np.arange(80, dtype=np.uint8).reshape(5, 4, 4))


def _idx_gz(t):
    return write_idx(t / "d-idx3-ubyte.gz", np.arange(80, dtype=np.uint8).reshape(5, 4, 4))


def _fvecs(t):
    return write_vecs(t / "d.fvecs", np.arange(60.0).reshape(20, 3), "fvecs")


def _bvecs(t):
    return write_vecs(t / "d.bvecs", np.arange(60).reshape(20, 3), "bvecs")


WRITERS = {"npz": _npz, "npy": _npy, "mat-v5": _mat5, "mat-v7.3": _mat73, "hdf5": _hdf5, "idx": _idx,
           "idx-gz": _idx_gz, "fvecs": _fvecs, "bvecs": _bvecs}
ROW_BYTES = {"fvecs": 16, "bvecs": 7}  # a TEXMEX file cut at a row boundary is a valid, shorter file


@pytest.mark.parametrize("kind", list(WRITERS))
@given(cut=st.floats(0, 1, exclude_max=True))
def test_a_file_cut_anywhere_is_refused(kind, cut):
    def check(t):
        path = WRITERS[kind](t)
        whole = path.read_bytes()
        load(path)  # the uncut file is good
        at = int(cut * len(whole))
        assume(kind not in ROW_BYTES or at % ROW_BYTES[kind])
        path.write_bytes(whole[:at])
        with pytest.raises(L2HError) as info:
            load(path)
        assert "\n" not in str(info.value)
    in_temp(check)


@pytest.mark.parametrize("kind", list(WRITERS))
def test_every_cut_of_a_small_file_is_refused(kind):
    """Exhaustively, for the smaller files: every prefix is refused."""
    def check(t):
        path = WRITERS[kind](t)
        whole = path.read_bytes()
        step = max(1, len(whole) // 400)  # at most ~400 cuts per format
        for at in range(0, len(whole), step):
            if kind in ROW_BYTES and at % ROW_BYTES[kind] == 0 and at:
                continue
            path.write_bytes(whole[:at])
            with pytest.raises(L2HError):
                load(path)
    in_temp(check)


@pytest.mark.parametrize("fmt, name", [("npz", "g.npz"), ("npy", "g.npy"), ("mat", "g.mat"), ("hdf5", "g.hdf5"),
                                       ("idx", "g-idx3-ubyte"), ("fvecs", "g.fvecs"), ("bvecs", "g.bvecs"),
                                       ("ivecs", "g.ivecs"), (None, "g.bin")])
@given(garbage=st.binary(max_size=300), prefix=st.sampled_from([b"", b"PK\x03\x04", b"\x93NUMPY", b"\x1f\x8b",
                                                                 b"\x89HDF\r\n\x1a\n", b"MATLAB 5.0",
                                                                 b"MATLAB 7.3", b"\0\0\x08\x03"]))
def test_random_bytes_never_escape_as_another_exception(fmt, name, garbage, prefix):
    def check(t):
        path = t / name
        path.write_bytes(prefix + garbage)
        try:
            data = DataSource("g", fmt, path).load()
        except L2HError as exc:
            assert "\n" not in str(exc)
        else:  # a few byte strings are valid files (a TEXMEX row, say): then they must read as a checked dataset
            assert data.n >= 1 and np.isfinite(data.rows(slice(None))).all()
    in_temp(check)


def test_gzip_bomb_guard_is_not_needed_for_truncation():
    # a gzip stream cut before its end-of-stream marker: gzip raises EOFError, l2h an L2HError
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb") as f:
        f.write(bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + b"abc")

    def check(t):
        (t / "x-idx1-ubyte.gz").write_bytes(raw.getvalue()[:-6])
        with pytest.raises(L2HError, match="damaged or truncated gzip"):
            load(t / "x-idx1-ubyte.gz")
    in_temp(check)


def test_hdf5_written_by_h5py_with_extra_groups_still_reads():
    def check(t):
        with h5py.File(t / "d.hdf5", "w") as f:
            f["train"] = np.ones((3, 2))
            f.create_group("meta").attrs["note"] = "ignored"
        assert load(t / "d.hdf5").n == 3
    in_temp(check)
