"""Many hash tables (``tables=L``): L independently trained hash functions in one checkpoint, the database in L
tables searched as one (an item is a candidate when any table finds it within the radius, at its smallest distance
over the tables), checked against brute force over the tables' own codes; ``tables=1`` is today's run exactly."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from l2h import checkpoint, codes
from l2h.data.preprocess import Preprocessor
from l2h.encoders import MLP, LinearSVM
from l2h.encoders.tables import Tables
from l2h.errors import L2HError
from l2h.index import FlatIndex, HashIndex, MultiIndexHash, UnionIndex
from l2h.model import HashModel
from l2h.searcher import Searcher
from tests import commands
from tests.commands import FAST
from tests.conftest import blobs


def union_brute_force(queries, tables, ids, r_hi):
    """Per query (D, I) of every item within r_hi in some table, at its smallest distance, by distance then id;
    and the (nq, n) matrix of smallest distances."""
    dist = np.min([codes.hamming_matrix(q, db) for q, db in zip(queries, tables)], axis=0)
    found = []
    for row in dist:
        inside = np.flatnonzero(row <= r_hi)
        order = np.lexsort((ids[inside], row[inside]))
        found.append((row[inside][order], ids[inside][order]))
    return found, dist


@st.composite
def table_sets(draw):
    bits = draw(st.sampled_from([4, 8, 13, 16, 32, 64, 100]))
    n_tables = draw(st.integers(1, 4))
    n = draw(st.integers(1, 80))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # few distinct codes per table, so that balls hold many items and tables disagree about them
    centres = rng.integers(0, 2, (n_tables, 3, bits))
    noise = rng.random((n_tables, n, bits)) < 0.1
    bits01 = centres[np.arange(n_tables)[:, None], rng.integers(0, 3, (n_tables, n))] ^ noise
    db = codes.pack(bits01.reshape(-1, bits)).reshape(n_tables, n, -1)
    nq = draw(st.integers(1, 5))
    flips = codes.pack(rng.random((n_tables * nq, bits)) < 0.1).reshape(n_tables, nq, -1)
    queries = db[:, rng.integers(0, n, nq)] ^ flips
    ids = rng.permutation(4 * n)[:n].astype(np.int64) if draw(st.booleans()) else np.arange(n, dtype=np.int64)
    kinds = [draw(st.sampled_from([FlatIndex, MultiIndexHash] + ([HashIndex] if bits <= 64 else [])))
             for _ in range(n_tables)]
    radius = min(draw(st.sampled_from([0, 1, 2, 3, 5])), bits)
    k = draw(st.integers(1, n + 3))
    return bits, db, queries, ids, kinds, radius, k


@settings(max_examples=30, deadline=None)
@given(table_sets())
def test_many_tables_answer_as_the_union_of_their_brute_force_answers(case):
    bits, db, queries, ids, kinds, radius, k = case
    union = UnionIndex([kind(bits) for kind in kinds])
    given_ids = None if np.array_equal(ids, np.arange(len(ids))) else ids
    union.add(np.stack(list(db), axis=1), given_ids)  # (n, tables, bytes), as a model of several tables encodes
    as_model_encodes = np.stack(list(queries), axis=1)
    want, dist = union_brute_force(queries, db, ids, radius)
    for lims, D, I in (union.range_search(as_model_encodes, radius), union.range_search(list(queries), radius)):
        for q, (d_ref, i_ref) in enumerate(want):
            assert np.array_equal(I[lims[q]:lims[q + 1]], i_ref) and np.array_equal(D[lims[q]:lims[q + 1]], d_ref)
    for r in range(radius + 1):  # one shell at a time, as the evaluator's radius sweep asks
        lims, D, I = union.probe(as_model_encodes, r, r)
        for q, (d_ref, i_ref) in enumerate(want):
            assert np.array_equal(I[lims[q]:lims[q + 1]], i_ref[d_ref == r])
    order = np.lexsort((np.broadcast_to(ids, dist.shape), dist), axis=1)[:, :k]
    found = min(k, len(ids))
    D, I = union.search(as_model_encodes, k)
    assert np.array_equal(I[:, :found], ids[order]) and (I[:, found:] == -1).all()
    assert np.array_equal(D[:, :found], np.take_along_axis(dist, order, 1))
    D, I = union.search(as_model_encodes, k, radius=radius)
    for q, (d_ref, i_ref) in enumerate(want):
        m = min(k, len(i_ref))
        assert np.array_equal(I[q, :m], i_ref[:k]) and (I[q, m:] == -1).all() and np.array_equal(D[q, :m], d_ref[:k])


def per_table_codes(model, features):
    """Each table's codes from its own encoder, as a one-table model encodes: what the tables' index must hold."""
    return [HashModel(model.preprocess, member).encode(features) for member in model.encoder.members]


def test_the_tables_round_trip_through_a_checkpoint(tmp_path, rng):
    x, _ = blobs(rng, n=100)
    pre = Preprocessor(x.shape[1]).fit(x)
    members = [MLP(x.shape[1], 12, hidden=8, seed=1), LinearSVM(x.shape[1], 12), MLP(x.shape[1], 12, hidden=8, seed=2)]
    model = HashModel(pre, Tables(members))
    path = checkpoint.save(tmp_path / "m.ckpt", model, {"model": "grh_mlp"})
    torch.load(path, weights_only=True)
    loaded, _ = checkpoint.load(path)
    encoded = model.encode(x)
    assert loaded.tables == 3 and loaded.bits == 12 and encoded.shape == (100, 3, 2)
    assert np.array_equal(loaded.encode(x), encoded)
    for t, codes_t in enumerate(per_table_codes(model, x)):
        assert np.array_equal(encoded[:, t], codes_t)
    assert model.encode(x[:0]).shape == (0, 3, 2)
    with pytest.raises(L2HError, match="two or more"):
        Tables([members[0]])
    with pytest.raises(L2HError, match="differ"):
        Tables([members[0], LinearSVM(x.shape[1], 16)])


def test_a_searcher_refuses_an_index_of_another_table_count(rng):
    x, _ = blobs(rng, n=50)
    model = HashModel(Preprocessor(x.shape[1]).fit(x), Tables([LinearSVM(x.shape[1], 8), LinearSVM(x.shape[1], 8)]))
    with pytest.raises(L2HError, match="2 hash tables"):
        Searcher(model, HashIndex(8))
    with pytest.raises(L2HError, match="1 hash tables"):
        Searcher(HashModel(model.preprocess, LinearSVM(x.shape[1], 8)), UnionIndex([HashIndex(8), HashIndex(8)]))


COMPARED = ("map", "radius", "ranking", "validation_map", "n_query", "n_database", "bits", "split_sha256")


def without_times(value):
    """A metrics.json value with its wall times left out: what two runs of the same computation share."""
    if isinstance(value, dict):
        return {k: without_times(v) for k, v in value.items() if not k.endswith(("_ms", "seconds"))}
    if isinstance(value, list):
        return [without_times(v) for v in value]
    return value


@pytest.mark.parametrize("model_name", ["lsh", "grh_svm"])
def test_one_table_is_todays_run(tmp_path, model_name):
    """``tables=1`` against the run without the setting (the code path before it existed): the same scores and
    the same codes; and the LSH codes are those of the run's seed, the tutorial's hyperplanes."""
    short = ("model.rounds=1", "model.steps=5") if model_name == "grh_svm" else ()
    one = commands.train(tmp_path / "one", *FAST, f"model={model_name}", "bits=16", "tables=1", *short)
    absent = commands.train(tmp_path / "absent", *FAST, f"model={model_name}", "bits=16", "~tables", *short)
    assert one["tables"] == absent["tables"] == 1 and "tables" not in absent["config"]
    for key in COMPARED:
        assert without_times(one.get(key)) == without_times(absent.get(key)), key
    model_one, _ = checkpoint.load(one["checkpoint"])
    model_absent, _ = checkpoint.load(absent["checkpoint"])
    x = np.random.default_rng(0).normal(size=(200, 64)).astype(np.float32)
    assert np.array_equal(model_one.encode(x), model_absent.encode(x)) and model_one.tables == 1
    if model_name == "lsh":
        hyperplanes = np.random.RandomState(0).randn(64, 16)
        assert np.array_equal(model_one.encode(x), codes.pack(model_one.preprocess.transform(x) @ hyperplanes >= 0))


@pytest.mark.parametrize("model_name", ["lsh", "grh_svm"])
def test_many_tables_round_trip_through_train_index_and_search(tmp_path, model_name):
    """tables=3: one checkpoint of three different hash functions (the first one the one-table run's where the
    model's start depends only on the seed), metrics.json saying so, and index.py / search.py / Searcher answering
    as brute force over the three tables' own codes."""
    short = ("model.rounds=1", "model.steps=5") if model_name == "grh_svm" else ()
    metrics = commands.train(tmp_path / "run", *FAST, f"model={model_name}", "bits=16", "tables=3", *short)
    assert metrics["tables"] == 3 and metrics["index"] == "UnionIndex"
    assert len(metrics["training"]["tables"]) == 3
    model, meta = checkpoint.load(metrics["checkpoint"])
    from l2h.data import DataSource

    features = DataSource("digits", "digits").load().features
    queries = features[::37] + 0.25
    np.save(tmp_path / "q.npy", queries)
    tables_db, tables_q = per_table_codes(model, features), per_table_codes(model, queries)
    assert model.tables == 3 and all(not np.array_equal(tables_db[0], t) for t in tables_db[1:])
    if model_name == "lsh":  # table 0 is the one-table run's
        one, _ = checkpoint.load(commands.train(tmp_path / "one", *FAST, "model=lsh", "bits=16")["checkpoint"])
        assert np.array_equal(one.encode(features), tables_db[0])
    else:  # PCA's initial codes are every seed's: each table started from LSH codes of its own seed
        assert any("model.init=lsh" in w for w in metrics["warnings"])
    artefact = tmp_path / "db.l2h"
    commands.index(tmp_path / "i", f"ckpt_path={metrics['checkpoint']}", f"out={artefact}")
    commands.search(tmp_path / "s", f"index_path={artefact}", f"queries.path={tmp_path / 'q.npy'}", "k=10",
                    f"out={tmp_path / 'knn.npz'}")
    commands.search(tmp_path / "r", f"index_path={artefact}", f"queries.path={tmp_path / 'q.npy'}", "radius=1",
                    f"out={tmp_path / 'range.npz'}")
    ids = np.arange(len(features))
    want, dist = union_brute_force(tables_q, tables_db, ids, 1)
    order = np.lexsort((np.broadcast_to(ids, dist.shape), dist), axis=1)[:, :10]
    knn = np.load(tmp_path / "knn.npz")
    assert np.array_equal(knn["I"], order) and np.array_equal(knn["D"], np.take_along_axis(dist, order, 1))
    found = np.load(tmp_path / "range.npz")
    for q, (d_ref, i_ref) in enumerate(want):
        assert np.array_equal(found["I"][found["lims"][q]:found["lims"][q + 1]], i_ref)
    for mmap in (True, False):
        D, I = Searcher.load(artefact, mmap=mmap).search(queries, 10)
        assert np.array_equal(I, order)


def test_tables_must_be_a_positive_count(tmp_path):
    for bad in ("0", "-2", "1.5", "true"):
        with pytest.raises(L2HError, match="tables must be an integer"):
            commands.train(tmp_path / bad, *FAST, "model=lsh", f"tables={bad}")


def test_the_evaluator_scores_the_union_of_the_tables(tmp_path):
    """metrics.json of a tables=3 run against brute force over its own codes.npz: at every radius the candidates
    are the items within it in some table, P@10 scores the 10 nearest of them by smallest distance over the tables
    (then id), and mAP ranks the whole database that way."""
    metrics = commands.train(tmp_path / "run", *FAST, "model=lsh", "bits=12", "tables=3", "eval.save_codes=true",
                             "eval.rerank=hamming", "eval.empty_policy=zero", "eval.max_radius=3")
    saved = np.load(tmp_path / "run" / "codes.npz")
    query, database = saved["query"], saved["database"]
    assert query.shape[1:] == database.shape[1:] == (3, 2)
    dist = np.min([codes.hamming_matrix(query[:, t], database[:, t]) for t in range(3)], axis=0)
    relevant = saved["query_labels"][:, None] == saved["database_labels"][None, :]
    ranked = np.lexsort((np.broadcast_to(np.arange(dist.shape[1]), dist.shape), dist), axis=1)
    hits = np.take_along_axis(relevant, ranked, 1)
    for row in metrics["radius"]:
        inside = np.take_along_axis(dist, ranked, 1) <= row["radius"]
        top = (hits & inside)[:, :10].sum(1) / 10
        assert row["mean_candidates"] == pytest.approx(inside.sum(1).mean())
        assert row["precision_at_10"] == pytest.approx(top.mean())
    precision = np.cumsum(hits, 1) / np.arange(1, hits.shape[1] + 1)
    ap = (precision * hits).sum(1) / hits.sum(1)
    assert metrics["map"] == pytest.approx(ap.mean())


def test_a_union_refuses_members_that_keep_their_own_ids():
    from l2h.index import ShardedIndex

    with pytest.raises(L2HError, match="not unions or shards"):
        UnionIndex([HashIndex(8), ShardedIndex(8, shard_size=10)])
    with pytest.raises(L2HError, match="not unions or shards"):
        UnionIndex([HashIndex(8), UnionIndex([HashIndex(8)])])
