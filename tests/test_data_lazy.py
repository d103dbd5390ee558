"""Databases larger than memory: .npy, HDF5 (ann-benchmarks and MATLAB v7.3) and TEXMEX files load without
reading the feature matrix, and rows() / chunks() read only what is asked, in bounded blocks, checked."""

import os
import pickle
import tracemalloc

import numpy as np
import pytest

import l2h.data.dataset as dataset_module
import l2h.data.formats.common as common
import l2h.data.formats.lazy as lazy_module
import l2h.data.formats.vecs as vecs_module
from l2h.data.dataset import Dataset, is_lazy
from l2h.data.formats.lazy import H5Array
from l2h.data.source import DataSource, read_features
from l2h.errors import L2HError
from tests.test_data_writers import write_ann, write_mat_v73, write_vecs

N, D = 40000, 64  # 10 MiB of float32: large enough that reading it whole would show in the allocation peak


@pytest.fixture(scope="module")
def big():
    return np.random.default_rng(7).normal(size=(N, D)).astype(np.float32)


@pytest.fixture(scope="module")
def files(big, tmp_path_factory):
    folder = tmp_path_factory.mktemp("big")
    np.save(folder / "x.npy", big)
    write_ann(folder / "a.hdf5", big, big[:3], np.zeros((3, 2), np.int32))
    write_vecs(folder / "x.fvecs", big, "fvecs")
    write_vecs(folder / "x.bvecs", (np.abs(big) * 40).astype(np.uint8), "bvecs")
    write_mat_v73(folder / "x.mat", {"X": big[:5000]})
    return folder


def peak_while(work):
    """(result, peak bytes traced while running work); NumPy reports its allocations to tracemalloc."""
    tracemalloc.start()
    try:
        result = work()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name, kind", [("x.npy", np.memmap), ("x.fvecs", np.memmap), ("x.bvecs", np.memmap),
                                        ("a.hdf5", H5Array), ("x.mat", H5Array)])
def test_loading_reads_no_feature_matrix(files, name, kind):
    data, peak = peak_while(lambda: DataSource("big", None, files / name, lazy=True).load())
    assert isinstance(data.features, kind) and is_lazy(data.features) and data.lazy
    assert peak < 1 << 20, f"loading allocated {peak} bytes"  # the matrix is 10 MiB (the .mat 1.2 MiB)
    assert data.features.shape == ((5000, D) if name == "x.mat" else (N, D))


@pytest.mark.parametrize("name", ["x.npy", "x.fvecs", "a.hdf5", "x.mat"])
def test_rows_and_chunks_read_what_is_asked(files, big, name, monkeypatch):
    monkeypatch.setattr(dataset_module, "BLOCK_BYTES", 1 << 16)  # many small blocks inside one rows() call
    monkeypatch.setattr(lazy_module, "SLAB_BYTES", 1 << 15)
    data = DataSource("big", None, files / name, lazy=True).load()
    expected = big[: data.n]
    rng = np.random.default_rng(0)
    order = rng.choice(data.n, 700, replace=True)  # unsorted, with repeats
    assert np.array_equal(data.rows(order), expected[order])
    sparse = np.sort(rng.choice(data.n, 30, replace=False))[::-1]  # scattered rows, descending
    assert np.array_equal(data.rows(sparse), expected[sparse])
    assert np.array_equal(data.rows(slice(123, 4567)), expected[123:4567])
    sizes, total = [], 0
    for start, block in data.chunks(3000):
        assert start == total and block.dtype == np.float32
        assert np.array_equal(block, expected[start:start + len(block)])
        sizes.append(len(block))
        total += len(block)
    assert total == data.n and max(sizes) == 3000
    _, peak = peak_while(lambda: [b.sum() for _, b in data.chunks(1000)])
    assert peak < 4 * 1000 * D * 4, f"chunks of 1000 rows peaked at {peak} bytes"


def test_fingerprint_is_the_same_lazy_or_in_memory(files, big):
    lazy = DataSource("big", None, files / "x.fvecs", lazy=True).load()
    whole = DataSource("big", None, files / "x.npy", lazy=False).load()
    assert not whole.lazy and isinstance(whole.features, np.ndarray) and not is_lazy(whole.features)
    assert lazy.fingerprint() == whole.fingerprint() == Dataset.create("big", big).fingerprint()


def test_size_decides_when_lazy_is_not_given(files, monkeypatch):
    assert not DataSource("big", None, files / "x.npy").load().lazy  # 10 MiB: read into memory
    monkeypatch.setattr(common, "EAGER_BYTES", 1 << 20)
    for name in ("x.npy", "x.fvecs", "a.hdf5"):
        assert DataSource("big", None, files / name).load().lazy
    assert is_lazy(read_features(files / "x.npy"))


def test_bad_values_in_a_lazy_file_are_refused_as_they_are_read(tmp_path, big):
    x = big[:2000].copy()
    x[1234, 5] = np.inf
    np.save(tmp_path / "x.npy", x)
    data = DataSource("big", None, tmp_path / "x.npy", lazy=True).load()  # nothing read, nothing checked yet
    assert data.rows(slice(0, 1000)).shape == (1000, D)
    with pytest.raises(L2HError, match="features row 1234 holds inf at column 5"):
        data.rows([7, 1234, 3])
    with pytest.raises(L2HError, match="row 1234"):
        list(data.chunks(500))
    with pytest.raises(L2HError, match="row 1234"):
        data.fingerprint()


def test_texmex_headers_sampled_at_load_are_checked_on_read(tmp_path, big, monkeypatch):
    path = write_vecs(tmp_path / "x.fvecs", big[:20000], "fvecs")
    raw = bytearray(path.read_bytes())
    row_bytes = 4 + 4 * D
    bad = 11111  # not among the sampled rows: not first or last 1024, not on the 4096-point grid
    assert bad not in set(np.linspace(0, 19999, vecs_module.SAMPLE).astype(int))
    raw[bad * row_bytes: bad * row_bytes + 4] = (D + 1).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    with pytest.raises(L2HError, match=f"row {bad} declares dimension {D + 1}"):  # small file: every header
        DataSource("x", None, path, lazy=True).load()
    monkeypatch.setattr(vecs_module, "FULL_CHECK_BYTES", 1 << 20)  # pretend the file is huge
    data = DataSource("x", None, path, lazy=True).load()
    assert data.rows(slice(0, 11000)).shape == (11000, D)
    with pytest.raises(L2HError, match=f"row {bad} declares dimension {D + 1}"):
        data.rows([5, bad])
    with pytest.raises(L2HError, match=f"row {bad}"):
        list(data.chunks(4096))
    sampled = bytearray(raw)
    sampled[19999 * row_bytes: 19999 * row_bytes + 4] = (3).to_bytes(4, "little")  # the last row is sampled
    path.write_bytes(bytes(sampled))
    with pytest.raises(L2HError, match="row 19999 declares dimension 3"):
        DataSource("x", None, path, lazy=True).load()


def test_h5array_indexing_and_pickling(files, big):
    arr = H5Array(files / "a.hdf5", "train")
    assert len(arr) == N and arr.shape == (N, D) and arr.nbytes == big.nbytes
    assert np.array_equal(arr[5], big[5]) and np.array_equal(arr[-1], big[-1])
    assert np.array_equal(arr[10:20:3], big[10:20:3]) and np.array_equal(arr[[3, 1], 2:4], big[[3, 1], 2:4])
    mask = np.zeros(N, bool)
    mask[[9, 99, 999]] = True
    assert np.array_equal(arr[mask], big[mask])
    again = pickle.loads(pickle.dumps(arr))
    assert np.array_equal(again[[0, N - 1]], big[[0, N - 1]])
    assert np.array_equal(np.asarray(H5Array(files / "x.mat", "X", transposed=True))[:7], big[:7])
    with pytest.raises(IndexError):
        arr[N]
    with pytest.raises(IndexError):
        arr[[0, N]]


def mapped_resident_kib(path) -> int:
    """Resident KiB of this process's mappings of ``path`` (Linux /proc/self/smaps)."""
    total, inside = 0, False
    for line in open("/proc/self/smaps"):
        if "-" in line.split(" ", 1)[0]:  # a mapping's header line
            inside = line.rstrip().endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="needs Linux's /proc/self/smaps")
@pytest.mark.parametrize("name", ["features.npy", "features.fvecs"])
def test_reading_every_chunk_of_a_mapped_file_leaves_few_of_its_pages_resident(tmp_path, name):
    x = np.random.default_rng(3).normal(size=(120_000, 64)).astype(np.float32)  # 30 MiB
    path = tmp_path / name
    np.save(path, x) if name.endswith(".npy") else write_vecs(path, x, "fvecs")
    data = DataSource("big", path=str(path), lazy=True).load()
    total = 0.0
    for _, block in data.chunks(10_000):
        total += float(block[:, 0].sum())
    assert np.isclose(total, float(x[:, 0].astype(np.float64).sum()), rtol=1e-4)
    assert mapped_resident_kib(path.resolve()) < 8 * 1024  # the file is 30 MiB; blocks are about 2.5 MiB
