"""GRH with the k-NN graph, end to end on data without labels (the digits' features alone, judged by their true
nearest neighbours): the run's first graph step is the step a brute-force cosine k-NN graph takes, and its codes
beat LSH's on the same split. (The graph's matrix against a dense definition: tests/test_grh.py.)"""

import numpy as np
import pytest

from l2h import checkpoint, pipeline
from l2h.data import DataSource
from l2h.errors import L2HError
from tests import brute_force, commands

K = 10


@pytest.fixture(scope="module")
def unlabelled(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unlabelled")
    np.save(folder / "x.npy", DataSource("digits", "digits").load().features)
    return ["data=file", f"data.path={folder / 'x.npy'}", "bits=16", *commands.FAST, "eval.relevance=neighbours",
            "eval.neighbours_k=50"]


def graph_step(codes, features, k):
    """One GRH step with alpha 1 on a k-NN graph found by brute force: each bit becomes the sign (0 -> +1) of
    its sum over the item and every item that is among its k nearest by angle, or has it among theirs."""
    n = len(features)
    adjacency = np.eye(n, dtype=bool)
    for i in range(n):
        others = np.delete(np.arange(n), i)
        for j in others[brute_force.nearest(features[i:i + 1], features[others], k, "cosine")[0]]:
            adjacency[i, j] = adjacency[j, i] = True
    return np.where(adjacency.astype(np.int64) @ codes >= 0, 1, -1)


def test_grh_with_the_knn_graph_takes_the_brute_force_graph_step_and_beats_lsh(unlabelled, tmp_path):
    grh = ["model=grh_svm", "model.graph._target_=l2h.graphs.KNNGraph", f"+model.graph.k={K}", "model.alpha=1.0",
           "model.init=lsh"]
    metrics = commands.train(tmp_path / "grh", *grh, *unlabelled)
    lsh = commands.train(tmp_path / "lsh", "model=lsh", *unlabelled)
    assert metrics["eval"]["relevance"] == lsh["eval"]["relevance"] == "true nearest neighbours"

    # the first round's graph step, redone by brute force on the run's own training items and initial LSH codes
    cfg = commands.config("train", [*grh, *unlabelled])
    parts = pipeline.build_parts(cfg, training=False)
    data = parts.source.load()
    assert data.labels is None
    model, _ = checkpoint.load(tmp_path / "grh" / "model.ckpt")
    features = model.preprocess.transform(data.rows(parts.protocol.split(data, seed=cfg.seed).train))
    initial = np.where(features @ np.random.RandomState(cfg.seed).randn(features.shape[1], 16) >= 0, 1, -1)
    refined = graph_step(initial, features, K)
    assert metrics["training"]["flipped"][0] == pytest.approx((refined != initial).mean(), abs=1e-6)
    assert metrics["map"] > lsh["map"] + 0.05


def test_grh_with_the_label_graph_refuses_data_without_labels(unlabelled, tmp_path):
    with pytest.raises(L2HError, match="label"):
        commands.train(tmp_path, "model=grh_svm", *unlabelled)
