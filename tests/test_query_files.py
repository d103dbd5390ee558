"""Query files are read as the README says: an ann-benchmarks HDF5 file is searched with its ``test`` rows (the
queries), not its ``train`` rows (the items); one without ``test`` is refused unless ``queries.key`` names a
dataset; an ``.ivecs`` file (integer ground truth) is refused as queries, ``.fvecs`` / ``.bvecs`` are read.
Encoding is invariant to the scale of a finite vector (preprocessing L2-normalises every row): queries times
1e20 or 1e-30, whose float32 sum of squares overflows or underflows, get the codes and the answers of the
unscaled queries. Checked against brute force over the checkpoint's codes, not against the searcher itself."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from l2h import Searcher, checkpoint
from l2h.data import DataSource
from l2h.data.preprocess import Preprocessor, l2_normalise
from l2h.data.source import read_features
from l2h.errors import L2HError
from tests import commands
from tests.test_data_writers import write_vecs
from tests.test_search_commands import brute_force_knn

h5py = pytest.importorskip("h5py")

K = 10


@pytest.fixture(scope="module")
def setup(trained_checkpoint, tmp_path_factory):
    """The checkpoint's artefact over the digits, its model, the digits and the query files."""
    out = tmp_path_factory.mktemp("queries")
    commands.index(out / "i", f"ckpt_path={trained_checkpoint}", f"out={out / 'db.l2h'}")
    features = DataSource("digits", "digits").load().features
    test = features[5::90] + 0.5  # 20 queries, none of them a train row
    neighbors = np.argsort(((test[:, None] - features[None]) ** 2).sum(-1), axis=1)[:, :K].astype(np.int32)
    with h5py.File(out / "ann.hdf5", "w") as f:
        f.create_dataset("train", data=features)
        f.create_dataset("test", data=test)
        f.create_dataset("neighbors", data=neighbors)
        f.attrs["distance"] = "euclidean"
    with h5py.File(out / "no_test.hdf5", "w") as f:
        f.create_dataset("train", data=features)
        f.create_dataset("neighbors", data=neighbors)
    model = checkpoint.load(trained_checkpoint)[0]
    return {"out": out, "index": out / "db.l2h", "features": features, "test": test, "neighbors": neighbors,
            "model": model, "db_codes": model.encode(features)}


def search(setup, name, *overrides):
    out = setup["out"] / f"{name}.npz"
    commands.search(setup["out"] / name, f"index_path={setup['index']}", f"k={K}", f"out={out}", *overrides)
    return np.load(out)


def test_an_hdf5_file_is_searched_with_its_test_rows(setup):
    found = search(setup, "hdf5", f"queries.path={setup['out'] / 'ann.hdf5'}")
    D, I = brute_force_knn(setup["model"].encode(setup["test"]), setup["db_codes"], K)
    assert found["I"].shape == (len(setup["test"]), K)  # 20 test rows, not the 1797 train rows
    assert np.array_equal(found["D"], D) and np.array_equal(found["I"], I)


def test_queries_key_names_another_dataset_of_an_hdf5_file(setup):
    found = search(setup, "train_rows", f"queries.path={setup['out'] / 'no_test.hdf5'}", "queries.key=train")
    D, I = brute_force_knn(setup["db_codes"], setup["db_codes"], K)
    assert np.array_equal(found["D"], D) and np.array_equal(found["I"], I)


def test_an_hdf5_file_without_queries_is_refused_in_one_line(setup):
    with pytest.raises(L2HError, match=r"no 'test' dataset.*it has neighbors, train.*give queries\.key=NAME") as err:
        search(setup, "no_test", f"queries.path={setup['out'] / 'no_test.hdf5'}")
    assert "\n" not in str(err.value)


def test_data_queries_path_reads_the_test_rows_of_an_hdf5_file(setup, tmp_path):
    base = write_vecs(tmp_path / "base.fvecs", setup["features"], "fvecs")
    data = DataSource("d", None, base, queries_path=setup["out"] / "ann.hdf5").load()
    assert np.array_equal(data.queries, setup["test"].astype(np.float32))
    with pytest.raises(L2HError, match="no 'test' dataset"):
        DataSource("d", None, base, queries_path=setup["out"] / "no_test.hdf5").load()


def test_an_ivecs_file_is_refused_as_queries_and_fvecs_bvecs_are_read(setup, tmp_path):
    ivecs = write_vecs(tmp_path / "gt.ivecs", setup["neighbors"], "ivecs")
    with pytest.raises(L2HError, match=r"gt\.ivecs is an \.ivecs file, integer ground truth.*not query vectors") as err:
        search(setup, "ivecs", f"queries.path={ivecs}")
    assert "\n" not in str(err.value)
    with pytest.raises(L2HError, match="not query vectors"):  # format named, whatever the file's name
        search(setup, "ivecs_named", f"queries.path={ivecs}", "queries.format=ivecs")
    with pytest.raises(L2HError, match="not query vectors"):
        read_features(ivecs, setting="data.queries_path", queries=True)
    assert read_features(ivecs).shape == setup["neighbors"].shape  # not as queries: as before
    queries = np.rint(setup["test"]).astype(np.uint8)  # the digits are 0..16: bytes hold them whole
    for fmt in ("fvecs", "bvecs"):
        found = search(setup, fmt, f"queries.path={write_vecs(tmp_path / ('q.' + fmt), queries, fmt)}")
        D, I = brute_force_knn(setup["model"].encode(queries), setup["db_codes"], K)
        assert np.array_equal(found["D"], D) and np.array_equal(found["I"], I)


def scaled(x, scale):
    y = (np.asarray(x, dtype=np.float64) * scale).astype(np.float32)
    assert np.isfinite(y).all() and (y[x != 0] != 0).all()  # finite float32, nothing flushed to zero
    return y


@pytest.mark.parametrize("scale", [1e20, 1e-30])
def test_scaled_queries_get_the_same_codes_and_answers(setup, scale):
    queries = setup["test"].astype(np.float32)
    np.save(setup["out"] / "plain.npy", queries)
    np.save(setup["out"] / f"scaled_{scale}.npy", scaled(queries, scale))
    model = setup["model"]
    assert np.array_equal(model.encode(scaled(queries, scale)), model.encode(queries))
    plain = search(setup, "plain", f"queries.path={setup['out'] / 'plain.npy'}")
    found = search(setup, f"scaled_{scale}", f"queries.path={setup['out'] / f'scaled_{scale}.npy'}")
    D, I = brute_force_knn(model.encode(queries), setup["db_codes"], K)
    assert np.array_equal(plain["D"], D) and np.array_equal(plain["I"], I)
    assert np.array_equal(found["D"], D) and np.array_equal(found["I"], I)


@given(k=st.integers(-30, 30))
def test_codes_and_answers_are_invariant_to_the_scale_of_the_queries(setup, k):
    queries = setup["test"].astype(np.float32)
    searcher = Searcher.load(setup["index"])
    model = setup["model"]
    big = scaled(queries, 10.0 ** k)
    assert np.array_equal(model.encode(big), model.encode(queries))
    assert all(np.array_equal(a, b) for a, b in zip(searcher.search(big, K), searcher.search(queries, K)))
    within = searcher.range_search(big, 3), searcher.range_search(queries, 3)
    assert all(np.array_equal(a, b) for a, b in zip(*within))


def test_normalising_a_scaled_row_gives_the_row_and_a_zero_row_stays_zero(rng):
    x = rng.normal(size=(40, 8)).astype(np.float32)
    unit = x / np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)  # the reference: float64 throughout
    for scale in (1.0, 1e20, 1e-30, 2.0 ** 120, 2.0 ** -120):
        np.testing.assert_allclose(l2_normalise(scaled(x, scale)), unit, rtol=0, atol=2e-7)
    wide = rng.normal(size=(40, 8))  # float64 rows stay float64, and scale freely too: 1e300 squared overflows
    for scale in (1e300, 1e-300):
        np.testing.assert_allclose(l2_normalise(wide * scale), wide / np.linalg.norm(wide, axis=1, keepdims=True),
                                   rtol=0, atol=1e-15)
    pre = Preprocessor(8).fit(x)
    zero = np.zeros((2, 8), dtype=np.float32)
    assert np.array_equal(l2_normalise(zero), zero)
    assert np.array_equal(pre.transform(zero), -np.broadcast_to(pre.mean.numpy(), (2, 8)))
    tiny = np.zeros((1, 8), dtype=np.float32)
    tiny[0, 3] = np.float32(1e-45)  # a subnormal: its float32 square is 0
    assert np.array_equal(l2_normalise(tiny), np.eye(8, dtype=np.float32)[3:4])
