"""The posterior-codes benchmark's helpers against independent references: l2h's evaluator, brute force, and
the classifier baseline trained through train.py's function."""

import numpy as np
import pytest

from benchmarks.posterior_codes import measure, ranking_map, thermometer
from l2h.codes import hamming_matrix, pack
from l2h.eval.metrics import ranking_metrics
from l2h.eval.relevance import from_labels
from tests import commands


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ranking_by_minus_hamming_distance_is_the_evaluators_map(seed):
    rng = np.random.default_rng(seed)
    query_bits, database_bits = rng.random((30, 12)) < 0.5, rng.random((400, 12)) < 0.5
    query_labels, database_labels = rng.integers(0, 4, 30), rng.integers(0, 4, 400)
    distances = hamming_matrix(pack(query_bits), pack(database_bits))
    expected = ranking_metrics(pack(query_bits), pack(database_bits), from_labels(query_labels, database_labels),
                               12).summary()["map"]
    got = ranking_map(lambda q: -distances[q].astype(float), query_labels, database_labels, rows=7)
    assert got == pytest.approx(expected, abs=1e-12)


def test_thermometer_distance_counts_the_thresholds_between_two_posteriors():
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(4), 50)
    thresholds = [np.sort(rng.random(k)) for k in (1, 2, 3, 4)]
    codes = thermometer(p, thresholds)
    assert codes.shape == (50, 10)
    for i, j in [(0, 1), (2, 7), (10, 49), (5, 5)]:
        low, high = np.minimum(p[i], p[j]), np.maximum(p[i], p[j])
        between = sum(int(((t >= low[c]) & (t < high[c])).sum()) for c, t in enumerate(thresholds))
        assert int((codes[i] != codes[j]).sum()) == between


def test_the_codeword_row_is_what_train_py_scores_for_the_classifier(tmp_path):
    overrides = ["data=digits", "bits=16", "seed=0", "model.epochs=3"]
    found = measure(overrides[:1], 16, 0, ["model.epochs=3"])
    trained = commands.train(tmp_path, "model=classifier", *overrides, "trainer=cpu",
                             "trainer.enable_progress_bar=false")
    assert found["codeword"] == pytest.approx(trained["map"], abs=1e-9)
    assert 0 < found["codeword"] <= found["ceiling"] + 0.05
    assert 0.5 < found["accuracy"] <= 1
