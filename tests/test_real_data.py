"""Slow checks on the real datasets in ../shared/data (or $L2H_DATA); they skip when the files are absent.
Run with `make test-all` (pytest -m "slow or not slow")."""

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from l2h import pipeline
from l2h.data import DataSource
from tests.conftest import ROOT, SHARED_DATA, shared_file

pytestmark = pytest.mark.slow

# precision@10 at radius 0-4 measured with the tutorial's own code, mean of seeds 0-3 (shared/data/README.md)
TUTORIAL_LSH = [0.056, 0.223, 0.308, 0.357, 0.397]


def test_mnist_reads_all_seventy_thousand_items():
    shared_file("mnist/train-images-idx3-ubyte.gz")
    data = DataSource("mnist", "idx", SHARED_DATA / "mnist").load()
    assert data.features.shape == (70000, 784) and np.bincount(data.labels).sum() == 70000
    assert 0 <= data.features.min() and data.features.max() <= 1


def test_lsh_reproduces_the_tutorial_figures(tmp_path):
    path = shared_file("cifar10_gist512.mat")
    precision = []
    for seed in range(4):
        with initialize_config_dir(str(ROOT / "l2h" / "conf"), version_base="1.3"):
            cfg = compose("train", overrides=["data=cifar10_gist", f"data.path={path}", "protocol=tutorial",
                                              "model=lsh", "bits=16", f"seed={seed}", "eval.compute_map=false"])
        metrics = pipeline.train(cfg, tmp_path / str(seed))
        assert (metrics["n_query"], metrics["n_train"], metrics["n_database"]) == (120, 1198, 58682)
        precision.append([r["precision_at_10"] for r in metrics["radius"]])
    assert np.allclose(np.mean(precision, axis=0), TUTORIAL_LSH, atol=0.03)
