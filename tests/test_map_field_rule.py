"""mAP and mAP@R by the field's rule (DeepHash-pytorch's CalcTopMap, OrthoHash's calculate_mAP, the CSQ authors'
mean_average_precision): a query with nothing relevant in its top R (or in the whole database) scores 0 and
counts in the mean. Checked against a slow loop written here, on cases built so that many queries find nothing
relevant in their top R, through both the compiled pass and its torch twin, and through train.py's metrics.json
(``map@R``)."""

import json

import numpy as np
import pytest

from l2h.errors import L2HError
from l2h.eval.metrics import ranking_metrics
from l2h.eval.relevance import from_labels
from l2h.eval.settings import EvalSettings
from tests import commands


def field_map_at(query_codes, database_codes, query_labels, database_labels, R):
    """The field's mAP@R, one query at a time: rank the database by Hamming distance, ties in id order (a stable
    sort: one of the orders CalcTopMap's unstable argsort can give), AP over the relevant items of the top R,
    0 for a query whose top R holds none; the mean over every query. Also how many queries scored 0 that way."""
    q_bits = np.unpackbits(query_codes, axis=1)
    db_bits = np.unpackbits(database_codes, axis=1)
    total, empty = 0.0, 0
    for i in range(len(q_bits)):
        distance = [int((q_bits[i] != db_bits[j]).sum()) for j in range(len(db_bits))]
        order = sorted(range(len(db_bits)), key=lambda j: (distance[j], j))[:R]
        found, precisions = 0, []
        for rank, j in enumerate(order, start=1):
            if database_labels[j] == query_labels[i]:
                found += 1
                precisions.append(found / rank)
        if precisions:
            total += sum(precisions) / len(precisions)
        else:
            empty += 1
    return total / len(q_bits), empty


def case(rng, n_query=40, n_db=120, bits=16, classes=6):
    """Random codes and labels: with 6 classes over 120 items, top 3 and top 5 often hold nothing relevant, and
    the query labels 6 and 7 have no relevant item at all."""
    query = rng.integers(0, 256, (n_query, bits // 8), dtype=np.uint8)
    database = rng.integers(0, 256, (n_db, bits // 8), dtype=np.uint8)
    return query, database, rng.integers(0, classes + 2, n_query), rng.integers(0, classes, n_db)


@pytest.mark.parametrize("device", [None, "cpu"], ids=["compiled", "torch"])
def test_map_at_r_is_the_fields_rule_with_queries_that_find_nothing(rng, device):
    query, database, q_y, db_y = case(rng)
    Rs = (3, 5, 20, 1000)
    summary = ranking_metrics(query, database, from_labels(q_y, db_y), 16, ks=(10,), Rs=Rs, device=device).summary()
    for R in Rs:
        expected, empty = field_map_at(query, database, q_y, db_y, R)
        assert summary["map_at"][str(R)] == pytest.approx(expected, abs=1e-12), R
        assert summary["queries_without_relevant_at"][str(R)] == empty, R
    assert summary["queries_without_relevant_at"]["3"] > 5  # the case exercises the rule
    # the whole database is R = n: plain mAP follows the same rule, and queries of labels 6 and 7 count 0
    expected, empty = field_map_at(query, database, q_y, db_y, len(database))
    assert summary["map"] == pytest.approx(expected, abs=1e-12)
    assert summary["queries_without_relevant"] == empty == int((q_y >= 6).sum()) > 0


def test_the_rule_recovers_the_mean_over_queries_that_found_something(rng):
    """The mean over the other queries alone (l2h's former rule) follows from the two reported numbers."""
    query, database, q_y, db_y = case(rng)
    m = ranking_metrics(query, database, from_labels(q_y, db_y), 16, Rs=(5,))
    s = m.summary()
    empty = s["queries_without_relevant_at"]["5"]
    assert np.nanmean(m.ap_at[:, 0]) == pytest.approx(s["map_at"]["5"] * len(q_y) / (len(q_y) - empty))


def test_eval_map_at_takes_one_number_or_a_list():
    assert EvalSettings(map_at=5000).map_at == [5000]
    assert EvalSettings(map_at=[54000, 1000]).map_at == [54000, 1000]
    for bad in (0, [0], "5000", True):
        with pytest.raises(L2HError, match="map_at"):
            EvalSettings(map_at=bad)


def test_metrics_json_names_map_at_r_as_the_field_does(tmp_path):
    metrics = commands.train(tmp_path, "model=lsh", "bits=16", *commands.FAST, "eval.map_at=7")
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["map@7"] == metrics["map@7"] == metrics["ranking"]["map_at"]["7"]
    assert "map" in written and "queries_without_relevant_at" in written["ranking"]
    saved = commands.train(tmp_path / "codes", "model=lsh", "bits=16", *commands.FAST, "eval.map_at=[7,30]",
                           "eval.save_codes=true")
    codes = np.load(tmp_path / "codes" / "codes.npz")
    for R in (7, 30):
        expected, _ = field_map_at(codes["query"], codes["database"], codes["query_labels"],
                                   codes["database_labels"], R)
        assert saved[f"map@{R}"] == pytest.approx(expected, abs=1e-12)
