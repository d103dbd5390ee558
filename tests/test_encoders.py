"""Encoders: the fixed input map follows its definition, and encoders are unit-free where they promise."""

import numpy as np
import pytest
import torch

from l2h import checkpoint
from l2h.data.preprocess import Preprocessor
from l2h.encoders import MLP, LinearSVM
from l2h.errors import L2HError
from l2h.model import HashModel
from tests.conftest import blobs


def test_standardised_partitioner_is_unit_free_and_round_trips(tmp_path, rng):
    x, _ = blobs(rng, classes=4, spread=1.5)
    scaled = x * np.geomspace(1e-3, 1e3, x.shape[1]).astype(np.float32) + 5  # dimensions in wildly different units
    plain, rescaled = MLP(x.shape[1], 16, hidden=32, anchors=0, standardise=True), \
        MLP(x.shape[1], 16, hidden=32, anchors=0, standardise=True)
    rescaled.load_state_dict(plain.state_dict())
    plain.fit_inputs(torch.from_numpy(x)).eval(), rescaled.fit_inputs(torch.from_numpy(scaled)).eval()
    with torch.no_grad():  # the same network scores the same items the same way, whatever their units
        assert torch.allclose(plain(torch.from_numpy(x)), rescaled(torch.from_numpy(scaled)), atol=1e-4)
    model = HashModel(Preprocessor(x.shape[1], l2=False, centre=False), rescaled)
    loaded, _ = checkpoint.load(checkpoint.save(tmp_path / "s.ckpt", model, {"model": "grh_mlp"}))
    assert np.array_equal(loaded.encode(scaled), model.encode(scaled))


def test_anchor_feature_map_follows_its_definition(rng):
    x = rng.normal(size=(40, 3)).astype(np.float32)
    svm = LinearSVM(3, 4, anchors=10, kernel_width=0.5, seed=1).fit_inputs(torch.from_numpy(x))
    anchors = svm.inputs.anchor_points.numpy()
    assert svm.linear.in_features == 10
    assert all((np.abs(x - a).sum(1) == 0).any() for a in anchors)  # anchors are training items
    d2 = ((x[:, None] - anchors[None]) ** 2).sum(-1)
    nearest_other = np.where(d2 > 1e-12, d2, np.inf).min(1)
    gamma = 1 / (2 * (0.5 * np.sqrt(nearest_other).mean()) ** 2)
    assert svm.inputs.kernel_gamma.item() == pytest.approx(gamma, rel=1e-4)
    rbf = np.exp(-gamma * d2)
    expected = (rbf - rbf.mean(0)) / rbf.std(0, ddof=1)
    assert np.allclose(svm.embed(torch.from_numpy(x)).numpy(), expected, atol=1e-3)
    with pytest.raises(L2HError, match="only 40 training items"):
        LinearSVM(3, 4, anchors=41).fit_inputs(torch.from_numpy(x))


