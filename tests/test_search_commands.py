"""After training: index.py encodes the database into one artefact and search.py answers raw query vectors
with exactly the ids brute force over the same codes finds, mapped back to rows (or to the user's ids). The
commands' library functions run in this process; one subprocess per command checks the shell's exit 2."""

import subprocess
import sys

import numpy as np
import pytest

from l2h import Searcher, checkpoint, codes
from l2h.data import DataSource
from l2h.errors import L2HError
from l2h.index import parallel
from l2h.search_runs import index_table
from tests import commands
from tests.conftest import ROOT


def brute_force_knn(query_codes, db_codes, k):
    dist = codes.hamming_matrix(query_codes, db_codes)
    order = np.lexsort((np.broadcast_to(np.arange(db_codes.shape[0]), dist.shape), dist), axis=1)[:, :k]
    return np.take_along_axis(dist, order, 1), order


@pytest.fixture
def trained(trained_checkpoint, monkeypatch):
    monkeypatch.setattr(parallel, "_threads", parallel.get_num_threads())  # search.py threads=N sets it for good
    return trained_checkpoint


def test_index_then_search_equals_brute_force_mapped_to_rows(trained, tmp_path):
    features = DataSource("digits", "digits").load().features
    queries = features[::97] + 0.5  # raw vectors, not database rows
    np.save(tmp_path / "queries.npy", queries)
    summary = commands.index(tmp_path / "i", f"ckpt_path={trained}", f"out={tmp_path / 'db.l2h'}")
    assert "indexed 1797 items" in index_table(summary)
    commands.search(tmp_path / "s", f"index_path={tmp_path / 'db.l2h'}", f"queries.path={tmp_path / 'queries.npy'}",
                    "k=25", f"out={tmp_path / 'knn.npz'}")
    commands.search(tmp_path / "s2", f"index_path={tmp_path / 'db.l2h'}", f"queries.path={tmp_path / 'queries.npy'}",
                    "radius=2", "threads=1", f"out={tmp_path / 'range.npz'}")
    commands.search(tmp_path / "s3", f"index_path={tmp_path / 'db.l2h'}", f"queries.path={tmp_path / 'queries.npy'}",
                    "k=25", "radius=1", f"out={tmp_path / 'within.npz'}")

    model, _ = checkpoint.load(trained)
    q, db = model.encode(queries), model.encode(features)
    D_ref, I_ref = brute_force_knn(q, db, 25)
    knn = np.load(tmp_path / "knn.npz")
    assert np.array_equal(knn["D"], D_ref) and np.array_equal(knn["I"], I_ref)
    found = np.load(tmp_path / "range.npz")
    dist = codes.hamming_matrix(q, db)
    for row in range(len(q)):
        ids = found["I"][found["lims"][row]:found["lims"][row + 1]]
        want = np.flatnonzero(dist[row] <= 2)
        assert np.array_equal(ids, want[np.lexsort((want, dist[row, want]))])
    within = np.load(tmp_path / "within.npz")  # k=25 radius=1: the first 25 of the radius-1 ball, -1 after
    ball = np.where(D_ref <= 1, I_ref, -1)
    assert np.array_equal(within["I"], ball) and np.array_equal(within["D"], np.where(ball >= 0, D_ref, -1))
    assert (ball == -1).any() and (ball >= 0).any()  # the queries exercise both cases

    # the Python API opens the same file in one call and answers raw vectors the same way
    searcher = Searcher.load(tmp_path / "db.l2h")
    D, I = searcher.search(queries, 25)
    assert np.array_equal(D, D_ref) and np.array_equal(I, I_ref)


def test_user_ids_come_back_in_place_of_rows(trained, tmp_path):
    features = DataSource("digits", "digits").load().features
    user_ids = np.arange(len(features), dtype=np.int64)[::-1] * 10 + 7
    np.save(tmp_path / "ids.npy", user_ids)
    np.save(tmp_path / "queries.npy", features[:5])
    commands.index(tmp_path / "i", f"ckpt_path={trained}", f"ids_path={tmp_path / 'ids.npy'}",
                   f"out={tmp_path / 'db.l2h'}")
    commands.search(tmp_path / "s", f"index_path={tmp_path / 'db.l2h'}", f"queries.path={tmp_path / 'queries.npy'}",
                    "k=1", f"out={tmp_path / 'r.npz'}")
    I = np.load(tmp_path / "r.npz")["I"][:, 0]
    model, _ = checkpoint.load(trained)
    dist = codes.hamming_matrix(model.encode(features[:5]), model.encode(features))
    nearest = np.lexsort((np.broadcast_to(user_ids, dist.shape), dist), axis=1)[:, 0]  # ties broken by the user's id
    assert np.array_equal(I, user_ids[nearest])


def test_an_artefact_refuses_codes_of_another_length_and_damage(trained, tmp_path):
    import l2h.index

    model, _ = checkpoint.load(trained)
    with pytest.raises(L2HError, match="16-bit model's codes cannot be searched in a 24-bit index"):
        Searcher(model, l2h.index.auto(bits=24))
    searcher = Searcher(model, l2h.index.auto(bits=16))
    searcher.add(DataSource("digits", "digits").load().features)
    path = searcher.save(tmp_path / "db.l2h")
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF
    (tmp_path / "bad.l2h").write_bytes(bytes(data))
    with pytest.raises(L2HError):
        Searcher.load(tmp_path / "bad.l2h")
    searcher.index.save(tmp_path / "bare.l2h")
    with pytest.raises(L2HError, match="without a model"):
        Searcher.load(tmp_path / "bare.l2h")


def knn_and_range(tmp_path, index_path, queries_path, *extra):
    for name, ask in (("knn", "k=30"), ("range", "radius=3")):
        commands.search(tmp_path / name, f"index_path={index_path}", f"queries.path={queries_path}", ask, *extra,
                        f"out={tmp_path / (name + '.npz')}")
    return np.load(tmp_path / "knn.npz"), np.load(tmp_path / "range.npz")


def assert_brute_force(model, features, queries, knn, found):
    q, db = model.encode(queries), model.encode(features)
    D_ref, I_ref = brute_force_knn(q, db, 30)
    assert np.array_equal(knn["D"], D_ref) and np.array_equal(knn["I"], I_ref)
    dist = codes.hamming_matrix(q, db)
    for row in range(len(q)):
        want = np.flatnonzero(dist[row] <= 3)
        assert np.array_equal(found["I"][found["lims"][row]:found["lims"][row + 1]],
                              want[np.lexsort((want, dist[row, want]))])


@pytest.mark.parametrize("workers", [None, pytest.param("local:2", marks=pytest.mark.slow)],
                         ids=["this machine", "dask"])
def test_a_sharded_index_built_and_searched_by_workers_equals_brute_force(trained, tmp_path, workers):
    from l2h.index.sharded import ShardedIndex

    features = DataSource("digits", "digits").load().features
    np.save(tmp_path / "queries.npy", features[::50] + 0.25)
    on = [f"workers={workers}"] if workers else []
    commands.index(tmp_path / "i", f"ckpt_path={trained}", "shard_size=400", *on, f"out={tmp_path / 'db.l2h'}")
    [folder] = tmp_path.glob("db.l2h.shards-*")  # this save's folder (l2h.index.sharded)
    assert len(list(folder.iterdir())) == 5  # 1797 rows, 400 a shard
    searcher = Searcher.load(tmp_path / "db.l2h")
    assert isinstance(searcher.index, ShardedIndex) and searcher.ntotal == 1797
    knn, found = knn_and_range(tmp_path, tmp_path / "db.l2h", tmp_path / "queries.npy", *on)
    assert_brute_force(checkpoint.load(trained)[0], features, features[::50] + 0.25, knn, found)


@pytest.fixture(scope="module")
def artefact(trained_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("artefact")
    commands.index(out / "i", f"ckpt_path={trained_checkpoint}", f"out={out / 'db.l2h'}")
    features = DataSource("digits", "digits").load().features
    np.save(out / "queries.npy", features[:4])
    np.save(out / "narrow.npy", features[:4, :10])
    np.save(out / "nan.npy", np.where(np.eye(4, 64) > 0, np.nan, features[:4]))
    (out / "empty.npy").write_bytes(b"")
    np.save(out / "ids_short.npy", np.arange(5))
    np.save(out / "ids_repeated.npy", np.zeros(1797, dtype=np.int64))
    np.save(out / "ids_negative.npy", np.arange(1797) - 1)
    return out


INDEX_ERRORS = [
    ([], "pass ckpt_path="),
    (["ckpt_path=/nonexistent/model.ckpt"], "does not exist"),
    (["ckpt_path=CKPT", "batch_size=0"], "batch_size must be a positive integer"),
    (["ckpt_path=CKPT", "shard_size=-2"], "shard_size must be a positive integer"),
    (["ckpt_path=CKPT", "workers=local:2"], "give shard_size=N"),
    (["ckpt_path=CKPT", "ids_path=DIR/ids_short.npy"], "not 1797 integer ids"),
    (["ckpt_path=CKPT", "ids_path=DIR/ids_repeated.npy"], "repeats ids"),
    (["ckpt_path=CKPT", "ids_path=DIR/ids_negative.npy"], "negative ids"),
    (["ckpt_path=CKPT", "ids_path=DIR/empty.npy"], "not a readable .npy"),
    (["ckpt_path=CKPT", "data=file", "data.path=DIR/narrow.npy"], "the model takes 64"),
    (["ckpt_path=CKPT", "index=mih", "index.m=40"], "got m=40"),
]
SEARCH_ERRORS = [
    ([], "pass index_path="),
    (["index_path=DIR/db.l2h"], "pass queries.path="),
    (["index_path=DIR/missing.l2h", "queries.path=DIR/queries.npy"], "missing.l2h"),
    (["index_path=DIR/queries.npy", "queries.path=DIR/queries.npy"], "queries.npy"),
    (["index_path=DIR/db.l2h", "queries.path=DIR/empty.npy"], "empty.npy"),
    (["index_path=DIR/db.l2h", "queries.path=DIR/narrow.npy"], "64"),
    (["index_path=DIR/db.l2h", "queries.path=DIR/nan.npy"], "holds nan at column 0"),
    (["index_path=DIR/db.l2h", "queries.path=DIR/queries.npy", "k=0"], "k must be a positive integer"),
    (["index_path=DIR/db.l2h", "queries.path=DIR/queries.npy", "k=0", "radius=2"], "k must be a positive integer"),
    (["index_path=DIR/db.l2h", "queries.path=DIR/queries.npy", "radius=99"], "radius"),
    (["index_path=DIR/db.l2h", "queries.path=DIR/queries.npy", "threads=0"], "threads must be a positive"),
    (["index_path=DIR/db.l2h", "queries.path=DIR/queries.npy", "workers=local:2"], "not a sharded index"),
]


def filled_in(args, trained, artefact):
    return [a.replace("CKPT", str(trained)).replace("DIR", str(artefact)) for a in args]


@pytest.mark.parametrize("command, args, message", [("index", *case) for case in INDEX_ERRORS] +
                         [("search", *case) for case in SEARCH_ERRORS])
def test_bad_settings_and_files_are_one_line_before_anything_is_written(trained, artefact, tmp_path, command, args,
                                                                        message):
    with pytest.raises(L2HError) as caught:
        getattr(commands, command)(tmp_path / "run", *filled_in(args, trained, artefact), f"out={tmp_path / 'out'}")
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("script, args, message", [
    ("index.py", ["ckpt_path=CKPT", "ids_path=DIR/ids_repeated.npy"], "repeats ids"),
    ("search.py", ["index_path=DIR/db.l2h", "queries.path=DIR/nan.npy"], "holds nan at column 0"),
])
def test_the_command_line_prints_one_line_and_exits_2(trained, artefact, tmp_path, script, args, message):
    done = subprocess.run([sys.executable, str(ROOT / script), *filled_in(args, trained, artefact), "progress=false",
                           f"hydra.run.dir={tmp_path / 'run'}", f"out={tmp_path / 'out'}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), done.stdout + done.stderr
    assert message in lines[0] and not (tmp_path / "out").exists()
