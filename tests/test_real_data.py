"""Slow checks on the real datasets in ../shared/data (or $L2H_DATA); they skip when the files are absent.
Run with `make test-all` (pytest -m "slow or not slow")."""

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from l2h import pipeline
from l2h.data import DataSource
from tests.conftest import ROOT, SHARED_DATA, shared_file

pytestmark = pytest.mark.slow

# precision@10 at Hamming radius 0-4 measured with the tutorial's own code, mean of seeds 0-3 of the random
# hyperplanes (shared/data/README.md)
TUTORIAL = {"lsh": [0.056, 0.223, 0.308, 0.357, 0.397], "grh_tutorial": [0.228, 0.339, 0.376, 0.408, 0.416]}


def test_mnist_reads_all_seventy_thousand_items():
    shared_file("mnist/train-images-idx3-ubyte.gz")
    data = DataSource("mnist", "idx", SHARED_DATA / "mnist").load()
    assert data.features.shape == (70000, 784) and np.bincount(data.labels).sum() == 70000
    assert 0 <= data.features.min() and data.features.max() <= 1


@pytest.mark.parametrize("model", list(TUTORIAL))
def test_the_tutorials_lsh_and_grh_reproduce_its_precision_at_every_radius(tmp_path, model):
    path = shared_file("cifar10_gist512.mat")
    precision = []
    for seed in range(4):
        with initialize_config_dir(str(ROOT / "l2h" / "conf"), version_base="1.3"):
            cfg = compose("train", overrides=["data=cifar10_gist", f"data.path={path}", "protocol=tutorial",
                                              f"model={model}", "bits=16", f"seed={seed}", "eval.compute_map=false"])
        metrics = pipeline.train(cfg, tmp_path / str(seed))
        assert (metrics["n_query"], metrics["n_train"], metrics["n_database"]) == (120, 1198, 58682)
        precision.append([r["precision_at_10"] for r in metrics["radius"][:5]])
    assert [r["radius"] for r in metrics["radius"][:5]] == [0, 1, 2, 3, 4]
    assert np.mean(precision, axis=0) == pytest.approx(TUTORIAL[model], abs=0.01)
