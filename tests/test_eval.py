import numpy as np
import pytest

from l2h import codes
from l2h.errors import L2HError
from l2h.eval.radius_sweep import radius_sweep
from l2h.eval.ranking import average_precision
from l2h.index import HashIndex
from tests.conftest import clustered_codes


def reference_ap(qcode, dbcodes, rel):
    """Obviously correct AP: sort by (distance, id), average precision at each relevant position."""
    dist = codes.hamming_matrix(qcode[None], dbcodes)[0]
    order = np.lexsort((np.arange(dist.size), dist))
    hits = rel[order]
    if not hits.any():
        return np.nan
    positions = np.flatnonzero(hits) + 1
    return np.mean(np.arange(1, positions.size + 1) / positions)


def test_average_precision_matches_reference_with_ties(rng):
    bits = 8  # few bits: many tied distances
    db = clustered_codes(rng, 300, bits, clusters=4, flip=0.1)
    queries = clustered_codes(rng, 40, bits, clusters=4, flip=0.1)
    db_y, q_y = rng.integers(0, 3, 300), rng.integers(0, 4, 40)  # class 3: no relevant item
    got = average_precision(queries, db, q_y, db_y, bits)
    want = np.array([reference_ap(queries[i], db, db_y == q_y[i]) for i in range(40)])
    assert np.allclose(got, want, equal_nan=True)
    assert np.isnan(got[q_y == 3]).all() and (q_y == 3).any()


def test_multilabel_relevance_is_any_shared_label(rng):
    bits = 16
    db, queries = clustered_codes(rng, 200, bits), clustered_codes(rng, 10, bits)
    db_y, q_y = rng.integers(0, 2, (200, 5)), rng.integers(0, 2, (10, 5))
    got = average_precision(queries, db, q_y, db_y, bits)
    want = [reference_ap(queries[i], db, (db_y & q_y[i]).any(1)) for i in range(10)]
    assert np.allclose(got, want, equal_nan=True)


def test_radius_sweep_candidates_and_precision_by_brute_force(rng):
    bits = 12
    db = clustered_codes(rng, 500, bits, clusters=6)
    queries = clustered_codes(rng, 30, bits, clusters=6)
    db_y, q_y = rng.integers(0, 3, 500), rng.integers(0, 3, 30)
    index = HashIndex(bits)
    index.add(db)
    results = radius_sweep(index, queries, q_y, db_y, max_radius=3, k=10, rerank="hamming", empty_policy="zero")
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
    results = radius_sweep(index, db[:3], db_y[:3], db_y, max_radius=0, k=1, rerank="cosine",
                           query_features=q, database_features=feats)
    assert results[0].precision_at_k == 1.0  # each query's nearest by cosine is itself


def test_empty_policy_skip_versus_zero(rng):
    bits = 16
    db = np.zeros((10, 2), dtype=np.uint8)
    queries = np.array([[0, 0], [255, 255]], dtype=np.uint8)  # second query: nothing within radius 0
    index = HashIndex(bits)
    index.add(db)
    y = np.zeros(10, dtype=int)
    skip = radius_sweep(index, queries, np.zeros(2, int), y, 0, rerank="hamming", empty_policy="skip")[0]
    zero = radius_sweep(index, queries, np.zeros(2, int), y, 0, rerank="hamming", empty_policy="zero")[0]
    assert (skip.precision_at_k, zero.precision_at_k, skip.empty_fraction) == (1.0, 0.5, 0.5)
    with pytest.raises(L2HError, match="empty_policy"):
        radius_sweep(index, queries, np.zeros(2, int), y, 0, rerank="hamming", empty_policy="ignore")
