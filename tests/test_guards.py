"""Guards a user meets through the commands, checked in process: a sweep that would select settings on the test
queries is refused, the objective a sweeper receives is the metric its dotted path names, and a loss that
stops being finite ends training with one line."""

import json

import pytest
import torch

from l2h import pipeline
from l2h.encoders import LinearSVM
from l2h.errors import L2HError
from l2h.hashers.deep import DeepHasher
from l2h.hashers.grh import GRH
from l2h.losses import DPSH, Hinge
from tests.commands import FAST, config, train
from tests.conftest import blobs


def test_an_optimising_sweep_without_a_validation_split_is_refused():
    cfg = config("train", ["model=grh_svm"])
    assert not cfg.protocol.get("n_validation")
    with pytest.raises(L2HError, match="protocol.n_validation") as refused:
        pipeline.validate_sweep(cfg, optimising_sweeper=True)
    assert "\n" not in str(refused.value)
    pipeline.validate_sweep(cfg, optimising_sweeper=False)  # one run, or a grid whose results a person reads


@pytest.mark.parametrize("overrides", [["protocol.n_validation=200"], ["hparams_search=grh_svm_grid"],
                                       ["optimized_metric=map"], ["optimized_metric=ranking.map_at.1000"]])
def test_a_sweep_with_a_validation_split_or_a_named_objective_runs(overrides):
    pipeline.validate_sweep(config("train", ["model=grh_svm", *overrides]), optimising_sweeper=True)


@pytest.fixture(scope="module")
def grh_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    train(out, "model=grh_svm", "bits=16", "model.rounds=2", *FAST, "protocol.n_validation=100")
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.parametrize("metric, read", [
    (None, lambda m: max(m["training"]["val_map"])),  # the default: the best round's validation mAP
    ("validation_map", lambda m: max(m["training"]["val_map"])),
    ("map", lambda m: m["map"]),
    ("ranking.map_at.1000", lambda m: m["ranking"]["map_at"]["1000"]),
    ("ranking.precision_at.10", lambda m: m["ranking"]["precision_at"]["10"]),
])
def test_the_objective_is_the_metric_its_dotted_path_names_in_metrics_json(grh_run, metric, read):
    overrides = ["model=grh_svm"] + ([f"optimized_metric={metric}"] if metric else [])
    value = pipeline.objective(config("train", overrides), grh_run)
    assert isinstance(value, float) and value == read(grh_run)


class NaNHinge(Hinge):
    def compute_loss(self, scores, targets, weights):
        return super().compute_loss(scores, targets, weights) * torch.nan


class InfiniteDPSH(DPSH):
    def compute_loss(self, scores, targets, weights):
        return super().compute_loss(scores, targets, weights) + torch.inf


@pytest.mark.parametrize("hasher, message", [
    (lambda: GRH(8, LinearSVM, loss=NaNHinge(), rounds=2, steps=3), "the NaNHinge loss became nan at epoch 0"),
    (lambda: DeepHasher(8, LinearSVM, InfiniteDPSH(), epochs=2, batch_size=100),
     "the InfiniteDPSH loss became inf at epoch 0"),
], ids=["grh", "deep"])
def test_a_loss_that_is_no_longer_finite_ends_training_with_one_line(rng, hasher, message):
    x, y = blobs(rng, n=200)
    with pytest.raises(L2HError, match=f"^{message}: lower model.lr$") as stopped:
        hasher().fit(x, y)
    assert "\n" not in str(stopped.value)


def test_an_objective_that_names_nothing_is_refused_in_one_line(grh_run):
    with pytest.raises(L2HError, match="optimized_metric=ranking.map_at.999 names nothing"):
        pipeline.objective(config("train", ["optimized_metric=ranking.map_at.999"]), grh_run)
    assert pipeline.objective(config("train", ["optimized_metric=null"]), grh_run) is None
