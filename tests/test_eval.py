import numpy as np
import pytest

from l2h import checkpoint, codes
from l2h.data import DataSource
from l2h.errors import L2HError
from l2h.eval.radius_sweep import radius_sweep
from l2h.eval.relevance import from_labels, from_neighbours
from l2h.index import HashIndex
from tests import brute_force, commands
from tests.conftest import clustered_codes


def test_radius_sweep_candidates_and_precision_by_brute_force(rng):
    bits = 12
    db = clustered_codes(rng, 500, bits, clusters=6)
    queries = clustered_codes(rng, 30, bits, clusters=6)
    db_y, q_y = rng.integers(0, 3, 500), rng.integers(0, 3, 30)
    index = HashIndex(bits)
    index.add(db)
    results = radius_sweep(index, queries, from_labels(q_y, db_y), max_radius=3, k=10, rerank="hamming",
                           empty_policy="zero")
    dist = codes.hamming_matrix(queries, db)
    for res in results:
        within = dist <= res.radius
        assert res.mean_candidates == pytest.approx(within.sum(1).mean())
        assert res.empty_fraction == pytest.approx((within.sum(1) == 0).mean())
        precisions = []
        for q in range(30):
            ids = np.flatnonzero(within[q])
            top = ids[np.lexsort((ids, dist[q, ids]))][:10]
            precisions.append((db_y[top] == q_y[q]).sum() / 10)
        assert res.precision_at_k == pytest.approx(np.mean(precisions))


def test_cosine_rerank_picks_the_closest_candidates(rng):
    bits = 8
    feats = rng.normal(size=(200, 5)).astype(np.float32)
    db = clustered_codes(rng, 200, bits, clusters=2, flip=0.0)
    db_y = np.arange(200)
    index = HashIndex(bits)
    index.add(db)
    q = feats[:3] + 0.01
    results = radius_sweep(index, db[:3], from_labels(db_y[:3], db_y), max_radius=0, k=1, rerank="cosine",
                           query_features=q, database_features=feats)
    assert results[0].precision_at_k == 1.0  # each query's nearest by cosine is itself


def test_empty_policy_skip_versus_zero(rng):
    bits = 16
    db = np.zeros((10, 2), dtype=np.uint8)
    queries = np.array([[0, 0], [255, 255]], dtype=np.uint8)  # second query: nothing within radius 0
    index = HashIndex(bits)
    index.add(db)
    y = np.zeros(10, dtype=int)
    relevance = from_labels(np.zeros(2, int), y)
    skip = radius_sweep(index, queries, relevance, 0, rerank="hamming", empty_policy="skip")[0]
    zero = radius_sweep(index, queries, relevance, 0, rerank="hamming", empty_policy="zero")[0]
    assert (skip.precision_at_k, zero.precision_at_k, skip.empty_fraction) == (1.0, 0.5, 0.5)
    with pytest.raises(L2HError, match="empty_policy"):
        radius_sweep(index, queries, relevance, 0, rerank="hamming", empty_policy="ignore")


def test_cosine_ground_truth_is_each_querys_nearest_items_by_angle(rng):
    # norms spread over two orders of magnitude: the nearest by angle are not the nearest by distance
    db = rng.normal(size=(400, 6)) * rng.uniform(0.1, 10, (400, 1))
    queries = rng.normal(size=(15, 6))
    cosine = from_neighbours(queries, db, k=12, metric="cosine")
    euclidean = from_neighbours(queries, db, k=12)
    expected = brute_force.nearest(queries, db, 12, "cosine")
    assert np.array_equal(cosine.ids.reshape(15, 12), expected)
    assert not np.array_equal(euclidean.ids.reshape(15, 12), expected)


def test_neighbours_metric_cosine_scores_a_run_against_brute_force_cosine_neighbours(tmp_path):
    """A run on the digits judged by each query's 20 nearest database items by angle (of the preprocessed
    features, as the codes see them): its mAP equals a brute-force ranking of its own saved codes."""
    metrics = commands.train(tmp_path, "model=lsh", "bits=16", *commands.FAST, "eval.relevance=neighbours",
                             "eval.neighbours_metric=cosine", "eval.neighbours_k=20", "eval.save_codes=true")
    saved = np.load(tmp_path / "codes.npz")
    model, _ = checkpoint.load(tmp_path / "model.ckpt")
    features = DataSource("digits", "digits").load().features
    query_x = model.preprocess.transform(features[saved["query_rows"]])
    db_x = model.preprocess.transform(features[saved["database_rows"]])
    nearest = brute_force.nearest(query_x, db_x, 20, "cosine")
    relevant = np.zeros((len(query_x), len(db_x)), dtype=bool)
    np.put_along_axis(relevant, nearest, True, axis=1)
    assert metrics["eval"]["relevance"] == "true nearest neighbours"
    assert metrics["map"] == pytest.approx(brute_force.hamming_map(saved["query"], saved["database"], relevant))
    euclidean = brute_force.nearest(query_x, db_x, 20)
    assert (np.sort(euclidean, 1) != np.sort(nearest, 1)).any()  # the two metrics disagree here
