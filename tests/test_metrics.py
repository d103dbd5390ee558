"""Each metric against an obviously correct reference, on hand-made and random cases with ties, empty balls,
queries without relevant items and k larger than the database; and against torchmetrics."""

import itertools

import numpy as np
import pytest
import torch
from torchmetrics.retrieval import RetrievalMAP, RetrievalPrecision, RetrievalRecall

from l2h import codes
from l2h.eval.metrics import ranking_metrics
from l2h.eval.relevance import from_labels, from_neighbours
from tests.conftest import clustered_codes


def ranked(q, db):
    """Database ids by (distance, id), and their distances."""
    dist = codes.hamming_matrix(q[None], db)[0]
    order = np.lexsort((np.arange(dist.size), dist))
    return order, dist[order]


def reference_ap(rel_sorted):
    if not rel_sorted.any():
        return np.nan
    pos = np.flatnonzero(rel_sorted) + 1
    return np.mean(np.arange(1, pos.size + 1) / pos)


def reference_tie_aware_ap(dist_sorted, rel_sorted):
    """Brute force: average AP over every order within ties (small cases only)."""
    groups = [np.flatnonzero(dist_sorted == d) for d in np.unique(dist_sorted)]
    total, count = 0.0, 0
    for perms in itertools.product(*(itertools.permutations(g) for g in groups)):
        order = np.concatenate([np.array(p, dtype=int) for p in perms])
        total += reference_ap(rel_sorted[order])
        count += 1
    return total / count


def test_hand_made_case_with_ties():
    # 4-bit codes; query 0000; database distances 0,1,1,2,4 ; relevant: ids 2 and 3
    db = codes.pack(np.array([[0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]]))
    q = codes.pack(np.zeros((1, 4)))
    rel = from_labels(np.array([7]), np.array([0, 0, 7, 7, 0]))
    m = ranking_metrics(q, db, rel, 4, ks=(1, 2, 3, 10), Rs=(3,))
    # ties by id: ranking 0,1,2,3,4 -> relevant at ranks 3 and 4: AP = (1/3 + 2/4) / 2
    assert m.ap[0] == pytest.approx((1 / 3 + 2 / 4) / 2)
    # tie-aware: ids 1 and 2 tie at distance 1 -> orders (1,2): AP (1/3+2/4)/2 ; (2,1): (1/2+2/4)/2
    assert m.ap_tie_aware[0] == pytest.approx(((1 / 3 + 2 / 4) / 2 + (1 / 2 + 2 / 4) / 2) / 2)
    assert m.ap_at[0, 0] == pytest.approx(1 / 3)  # top 3 holds one relevant item, at rank 3
    assert m.hits_at[0].tolist() == [0, 0, 1, 2]  # k = 10 > database: all relevant retrieved
    s = m.summary()
    assert s["precision_at"]["10"] == pytest.approx(0.2)  # missing places count as not relevant
    assert s["recall_at"]["3"] == pytest.approx(0.5)
    assert s["precision_at_tie_aware"]["1"] == 0.0
    # top 2 = id 0 and one of the tied ids 1, 2 (id 2 relevant): half a relevant item expected
    assert s["precision_at_tie_aware"]["2"] == pytest.approx(0.25)
    assert s["precision_at_tie_aware"]["3"] == pytest.approx(1 / 3)
    ball = s["hamming_ball"]
    assert [b["precision"] for b in ball[:3]] == pytest.approx([0.0, 1 / 3, 2 / 4])
    assert [b["recall"] for b in ball[:3]] == pytest.approx([0.0, 0.5, 1.0])


def test_empty_balls_and_queries_without_relevant_items():
    db = codes.pack(np.array([[1, 1, 1, 1]] * 3))
    q = codes.pack(np.zeros((2, 4)))
    m = ranking_metrics(q, db, from_labels(np.array([1, 5]), np.array([1, 1, 2])), 4)
    assert np.isnan(m.ap[1]) and m.summary()["queries_without_relevant"] == 1
    zero, skip = m.hamming_ball("zero"), m.hamming_ball("skip")
    assert zero[0]["empty_fraction"] == 1.0 and zero[0]["precision"] == 0.0 and np.isnan(skip[0]["precision"])
    assert zero[4]["precision"] == pytest.approx((2 / 3 + 0) / 2) and skip[4]["precision"] == zero[4]["precision"]


@pytest.mark.parametrize("bits", [4, 8, 32])
def test_random_cases_match_the_references(rng, bits):
    db = clustered_codes(rng, 9 if bits == 4 else 400, bits, clusters=3, flip=0.2)
    queries = clustered_codes(rng, 6, bits, clusters=3, flip=0.2)
    q_y, db_y = rng.integers(0, 4, 6), rng.integers(0, 3, len(db))
    m = ranking_metrics(queries, db, from_labels(q_y, db_y), bits, ks=(1, 5, 50), Rs=(5, 100))
    for i in range(6):
        order, dist = ranked(queries[i], db)
        rel = db_y[order] == q_y[i]
        assert m.ap[i] == pytest.approx(reference_ap(rel), nan_ok=True)
        for t, R in enumerate((5, 100)):
            assert m.ap_at[i, t] == pytest.approx(reference_ap(rel[:R]), nan_ok=True)
        assert m.hits_at[i].tolist() == [rel[:k].sum() for k in (1, 5, 50)]


def test_tie_aware_ap_is_the_mean_ap_over_every_order_within_ties(rng):
    bits = 4  # 9 items at 5 distances: every order within ties can be enumerated
    db = clustered_codes(rng, 9, bits, clusters=3, flip=0.2)
    queries = clustered_codes(rng, 6, bits, clusters=3, flip=0.2)
    q_y, db_y = rng.integers(0, 3, 6), rng.integers(0, 3, 9)
    m = ranking_metrics(queries, db, from_labels(q_y, db_y), bits)
    for i in range(6):
        order, dist = ranked(queries[i], db)
        rel = db_y[order] == q_y[i]
        assert m.ap_tie_aware[i] == pytest.approx(reference_tie_aware_ap(dist, rel), nan_ok=True)
    assert np.isfinite(m.ap_tie_aware).sum() >= 4  # most queries have a relevant item to rank


def test_multilabel_and_neighbour_relevance(rng):
    bits = 16
    db, queries = clustered_codes(rng, 300, bits), clustered_codes(rng, 8, bits)
    db_y, q_y = rng.integers(0, 2, (300, 5)), rng.integers(0, 2, (8, 5))
    m = ranking_metrics(queries, db, from_labels(q_y, db_y), bits)
    for i in range(8):
        order, _ = ranked(queries[i], db)
        assert m.ap[i] == pytest.approx(reference_ap((db_y[order] & q_y[i]).any(1)), nan_ok=True)
    feats, qf = rng.normal(size=(300, 6)), rng.normal(size=(8, 6))
    truth = from_neighbours(qf, feats, k=20)
    m = ranking_metrics(queries, db, truth, bits)
    for i in range(8):
        nearest = np.argsort(((feats - qf[i]) ** 2).sum(1), kind="stable")[:20]
        order, _ = ranked(queries[i], db)
        assert m.ap[i] == pytest.approx(reference_ap(np.isin(order, nearest)))


def test_agrees_with_torchmetrics(rng):
    bits, n = 16, 250
    db, queries = clustered_codes(rng, n, bits, clusters=4), clustered_codes(rng, 12, bits, clusters=4)
    db_y, q_y = rng.integers(0, 3, n), rng.integers(0, 3, 12)
    m = ranking_metrics(queries, db, from_labels(q_y, db_y), bits, ks=(10,))
    dist = codes.hamming_matrix(queries, db)
    # a strictly positive score that orders by distance, then id (torchmetrics ignores scores <= 0)
    scores = torch.tensor(((bits - dist) * n + (n - np.arange(n))).astype(np.float64) + 1)
    target = torch.tensor(db_y[None, :] == q_y[:, None])
    indexes = torch.arange(12)[:, None].expand(12, n)
    assert RetrievalMAP()(scores.flatten(), target.flatten(), indexes=indexes.flatten()).item() == pytest.approx(
        np.nanmean(m.ap), abs=1e-6)
    s = m.summary()
    assert RetrievalPrecision(top_k=10)(scores.flatten(), target.flatten(), indexes=indexes.flatten()).item() \
        == pytest.approx(s["precision_at"]["10"], abs=1e-6)
    assert RetrievalRecall(top_k=10)(scores.flatten(), target.flatten(), indexes=indexes.flatten()).item() \
        == pytest.approx(s["recall_at"]["10"], abs=1e-6)


def test_summary_statistics(rng):
    from l2h.report.summary import interval, paired_tests, pareto_frontier

    mean, half = interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(2.4842, abs=1e-3)  # t(0.975, 2) * 1 / sqrt(3)
    assert interval([5.0]) == (5.0, 0.0)
    assert pareto_frontier([(0.1, 10), (0.2, 5), (0.15, 4), (0.3, 1)]) == [(0.1, 10), (0.2, 5), (0.3, 1)]
    runs = [{"dataset": "d", "protocol": "p", "bits": 8, "model": m, "seed": s, "map": v}
            for s in range(6) for m, v in (("a", 0.5 + 0.01 * s), ("b", 0.4 + 0.012 * s))]
    (test,) = paired_tests(runs)
    assert test["a"] == "a" and test["wilcoxon_p"] == pytest.approx(0.03125) and test["paired_t_p"] < 0.001


@pytest.mark.parametrize("labels", ["single", "multi", "neighbours"])
def test_torch_path_equals_the_compiled_pass(rng, labels):
    bits = 24
    db, queries = clustered_codes(rng, 700, bits, clusters=5), clustered_codes(rng, 37, bits, clusters=5)
    if labels == "single":
        relevance = from_labels(rng.integers(0, 4, 37), rng.integers(0, 3, 700))  # class 3: no relevant item
    elif labels == "multi":
        relevance = from_labels(rng.integers(0, 2, (37, 4)), rng.integers(0, 2, (700, 4)))
    else:
        relevance = from_neighbours(rng.normal(size=(37, 5)), rng.normal(size=(700, 5)), k=30)
    cpu = ranking_metrics(queries, db, relevance, bits, ks=(1, 10, 1000), Rs=(50, 5000))
    torch_cpu = ranking_metrics(queries, db, relevance, bits, ks=(1, 10, 1000), Rs=(50, 5000), device="cpu")
    for field in ("hist", "rel_hist", "hits_at"):
        assert np.array_equal(getattr(cpu, field), getattr(torch_cpu, field)), field
    for field in ("ap", "ap_tie_aware", "ap_at"):
        assert np.allclose(getattr(cpu, field), getattr(torch_cpu, field), equal_nan=True), field
