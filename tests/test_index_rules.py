"""The index's rules, each in one place: shards built on Dask workers use exactly the configured index (its class
and every setting); index.py says nothing about scores it does not compute; search.py times the first query
(which compiles the kernels) apart; one table names every index kind; the id map reads the files written before
it, of every kind, with their ids; the flat scan's second k-NN kernel (for a very large k) is exact."""

from pathlib import Path

import numpy as np
import pytest

from l2h import Searcher, codes, search_runs
from l2h.data import DataSource
from l2h.index import KINDS, BinaryIndex, FlatIndex, MultiIndexHash, ShardedIndex, TorchFlatIndex, make
from l2h.index.factory import index_class
from tests import commands


@pytest.fixture
def model_ckpt(trained_checkpoint):
    return trained_checkpoint  # the session's one trained model (tests/conftest.py)


class InProcessClient:
    """What build_sharded asks of a Dask client, run in this process, each task at once (its argument goes
    through pickle, as it would to a worker)."""

    def __init__(self):
        import pickle

        self.pickle = pickle

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, fn, *args, pure=True, **kwargs):
        return self.pickle.loads(self.pickle.dumps(fn))(*self.pickle.loads(self.pickle.dumps(args)), **kwargs)

    def gather(self, results):
        return results


def shards_of(path):
    searcher = Searcher.load(path)
    assert isinstance(searcher.index, ShardedIndex) and searcher.ntotal == 1797
    return searcher.index.shards


@pytest.mark.parametrize("index, check", [
    (["index=mih", "index.m=3"], lambda s: type(s) is MultiIndexHash and s.m == 3),
    (["index=flat"], lambda s: type(s) is FlatIndex),
    (["index=torch", "index.device=cpu"], lambda s: type(s) is TorchFlatIndex),
], ids=["mih m=3", "flat", "torch"])
def test_workers_build_each_shard_with_the_configured_index(model_ckpt, tmp_path, monkeypatch, index, check):
    monkeypatch.setattr(search_runs, "dask_client", lambda workers: InProcessClient())
    commands.index(tmp_path, f"ckpt_path={model_ckpt}", "shard_size=400", "workers=in-process", *index,
                   f"out={tmp_path / 'db.l2h'}")
    shards = shards_of(tmp_path / "db.l2h")
    assert len(shards) == 5 and all(check(s) for s in shards)


@pytest.mark.slow
def test_dask_workers_build_each_shard_with_the_configured_index(model_ckpt, tmp_path):
    """The same on a real Dask cluster: the index config reaches the worker processes."""
    commands.index(tmp_path, f"ckpt_path={model_ckpt}", "shard_size=400", "workers=local:1", "index=mih",
                   "index.m=3", f"out={tmp_path / 'mih.l2h'}")
    assert all(type(s) is MultiIndexHash and s.m == 3 for s in shards_of(tmp_path / "mih.l2h"))
    commands.index(tmp_path, f"ckpt_path={model_ckpt}", "shard_size=400", "workers=local:1", "index=torch",
                   f"out={tmp_path / 'torch.l2h'}")
    shards = shards_of(tmp_path / "torch.l2h")
    assert all(type(s) is TorchFlatIndex for s in shards)
    features = DataSource("digits", "digits").load().features
    model = Searcher.load(tmp_path / "torch.l2h").model
    q, db = model.encode(features[:7] + 0.5), model.encode(features)
    D, I = Searcher.load(tmp_path / "torch.l2h").search(features[:7] + 0.5, 5)
    dist = codes.hamming_matrix(q, db)
    want = np.lexsort((np.broadcast_to(np.arange(len(db)), dist.shape), dist), axis=1)[:, :5]
    assert np.array_equal(I, want) and np.array_equal(D, np.take_along_axis(dist, want, 1))


def test_indexing_other_data_says_nothing_about_scores(model_ckpt, tmp_path):
    np.save(tmp_path / "db.npy", DataSource("digits", "digits").load().features[:300] * 2)
    summary = commands.index(tmp_path, f"ckpt_path={model_ckpt}", "data=file", f"data.path={tmp_path / 'db.npy'}",
                             f"out={tmp_path / 'db.l2h'}")
    assert summary["items"] == 300
    assert "score" not in search_runs.index_table(summary)


def test_the_first_query_is_timed_apart_from_the_throughput(model_ckpt, tmp_path, monkeypatch):
    """A first call that takes 1000 s (as compiling does, at another scale) leaves the throughput alone and is
    reported as the warm-up."""
    commands.index(tmp_path, f"ckpt_path={model_ckpt}", f"out={tmp_path / 'db.l2h'}")
    np.save(tmp_path / "q.npy", DataSource("digits", "digits").load().features[:50])
    clock = {"now": 0.0, "calls": 0}
    real_search = Searcher.search

    def search(self, vectors, k, radius=None):
        clock["now"] += 1000.0 if clock["calls"] == 0 else 0.001
        clock["calls"] += 1
        return real_search(self, vectors, k, radius)

    monkeypatch.setattr(Searcher, "search", search)
    monkeypatch.setattr(search_runs.time, "perf_counter", lambda: clock["now"])
    summary = commands.search(tmp_path, f"index_path={tmp_path / 'db.l2h'}", f"queries.path={tmp_path / 'q.npy'}",
                              "k=5", f"out={tmp_path / 'r.npz'}")
    assert summary["warmup_seconds"] == pytest.approx(1000.0)
    assert summary["seconds"] < 1.0 and summary["queries_per_second"] > 50
    assert "not counted" in search_runs.search_table(summary)
    assert np.load(tmp_path / "r.npz")["I"].shape == (50, 5)


def test_one_table_names_every_kind_and_every_file_kind_is_in_it(tmp_path, rng):
    """Each class's file kind resolves back to that class, and each name make() takes builds the class the table
    names; a file of every kind loads back as its class."""
    db = codes.pack(rng.integers(0, 2, (20, 16)))
    for name in KINDS:
        if name in ("auto", "union", "sharded"):
            continue
        index = make(name, bits=16)
        assert type(index) is index_class(name) and index_class(index.kind) is type(index)
        index.add(db)
        index.save(tmp_path / f"{name}.l2h")
        assert type(BinaryIndex.load(tmp_path / f"{name}.l2h")) is type(index)


@pytest.mark.parametrize("ids", ["rows", "shuffled"])
def test_flat_k_nearest_past_the_per_distance_lists_equals_brute_force(rng, monkeypatch, ids):
    """A k too large for per-distance lists takes the other flat kernel (a counting sort over every distance)."""
    from l2h.index import flat

    monkeypatch.setattr(flat, "MAX_LIST_BYTES", 0)
    db = codes.pack(rng.integers(0, 2, (700, 20)))
    db[350:] = db[:350] ^ codes.pack(rng.random((350, 20)) < 0.05)  # many ties
    given = None if ids == "rows" else rng.permutation(10**6)[:700]
    want_ids = np.arange(700) if given is None else given
    index = FlatIndex(20)
    index.add(db[:300], None if given is None else given[:300])
    index.add(db[300:], None if given is None else given[300:])
    queries = db[:9] ^ codes.pack(rng.random((9, 20)) < 0.1)
    dist = codes.hamming_matrix(queries, db)
    order = np.lexsort((np.broadcast_to(want_ids, dist.shape), dist), axis=1)
    for k in (1, 50, 700, 702):
        D, I = index.search(queries, k)
        found = min(k, 700)
        assert np.array_equal(I[:, :found], want_ids[order[:, :found]]) and (I[:, found:] == -1).all()
        assert np.array_equal(D[:, :found], np.take_along_axis(dist, order[:, :found], 1))


FORMAT_2_FILES = Path(__file__).parent / "index_files_v2"  # written by l2h at d36f653, before the id map


def assert_brute_force(index, queries, db, ids, wrap):
    dist = codes.hamming_matrix(queries, db)
    order = np.lexsort((np.broadcast_to(ids, dist.shape), dist), axis=1)[:, :10]
    D, I = index.search(wrap(queries), 10)
    assert np.array_equal(I, ids[order]) and np.array_equal(D, np.take_along_axis(dist, order, 1))
    lims, D, I = index.range_search(wrap(queries), 3)
    for q in range(len(queries)):
        within = np.flatnonzero(dist[q] <= 3)
        within = within[np.lexsort((ids[within], dist[q, within]))]
        assert np.array_equal(I[lims[q]:lims[q + 1]], ids[within])
        assert np.array_equal(D[lims[q]:lims[q + 1]], dist[q, within])


@pytest.mark.parametrize("name", ["flat", "hash", "mih", "torch", "union", "sharded",
                                  "flat_rows", "hash_rows", "mih_rows", "torch_rows"])
def test_files_written_before_the_id_map_keep_their_ids(name, tmp_path, rng):
    """An index file of every kind written before ids moved into one place (the same storage format) loads with
    its ids, answers as brute force over its codes and ids, and takes more items (ids in descending order) and
    saves and loads again whole."""
    saved = np.load(FORMAT_2_FILES / "items.npz")
    db, ids = saved["codes"], saved["ids"] if not name.endswith("_rows") else np.arange(len(saved["codes"]))
    wrap = (lambda c: [c, c]) if name == "union" else (lambda c: c)
    queries = np.concatenate([db[:5], codes.pack(rng.integers(0, 2, (5, 24)))])
    index = BinaryIndex.load(FORMAT_2_FILES / f"{name}.l2h")
    got_ids, got_codes = index.items()
    assert np.array_equal(got_ids, np.sort(ids))
    assert_brute_force(index, queries, db, ids, wrap)
    more = codes.pack(rng.integers(0, 2, (40, 24)))
    more[:10] = db[:10]
    more_ids = ids.max() + 40 - np.arange(40)
    index.add(wrap(more), more_ids)
    index.save(tmp_path / "more.l2h")
    assert_brute_force(BinaryIndex.load(tmp_path / "more.l2h"), queries, np.concatenate([db, more]),
                       np.concatenate([ids, more_ids]), wrap)
