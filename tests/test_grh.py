"""GRH, its graphs, its initial codes and the tutorial's GRH: graph steps against dense definitions, training against
LSH, validation-based early stopping and best-round restore, pluggable losses."""

from functools import partial

import numpy as np
import pytest
import torch

from l2h.data.preprocess import Preprocessor
from l2h.encoders import MLP, LinearSVM
from l2h.errors import L2HError
from l2h.eval.metrics import ranking_metrics
from l2h.eval.relevance import from_labels
from l2h.graphs import LabelGraph
from l2h.hashers.grh import GRH
from l2h.hashers.lsh import LSH
from l2h.hashers.tutorial_grh import TutorialGRH
from l2h.losses import Hinge
from l2h.losses.base import HashLoss
from l2h.model import HashModel
from tests import brute_force
from tests.conftest import blobs


def test_lsh_draws_the_tutorial_hyperplanes(rng):
    x = rng.normal(size=(20, 7)).astype(np.float32)
    scores = LSH(bits=5, seed=3).fit(x)(torch.from_numpy(x)).detach().numpy()
    assert np.allclose(scores, x @ np.random.RandomState(3).randn(7, 5), atol=1e-5)


def test_label_graph_equals_dense_row_normalised_affinity(rng):
    labels = rng.integers(0, 4, 50)
    codes = torch.from_numpy(np.sign(rng.normal(size=(50, 6)))).float()
    graph = LabelGraph()
    graph.build(codes, labels)
    dense = (labels[:, None] == labels[None, :]).astype(np.float32)
    expected = dense / dense.sum(1, keepdims=True) @ codes.numpy()
    assert np.allclose(graph.propagate(codes).numpy(), expected, atol=1e-6)


def test_tutorial_mix_never_flips_a_bit_but_alpha_above_half_does(rng):
    labels = rng.integers(0, 3, 80)
    codes = torch.from_numpy(np.sign(rng.normal(size=(80, 8)) + 1e-9)).float()
    graph = LabelGraph()
    graph.build(codes, labels)
    assert torch.equal(graph.step(codes, 0.25, sign_first=True), codes)
    refined = graph.step(codes, 0.9)
    assert (refined != codes).float().mean() > 0.2
    # the step pulls items of one class towards the same code
    for c in range(3):
        assert refined[labels == c].mean(0).abs().mean() > codes[labels == c].mean(0).abs().mean()


class RecordingHinge(Hinge):
    """GRH's hinge, keeping the targets and weights of every step."""

    def compute_loss(self, scores, targets, weights):
        self.seen.append((targets.clone(), weights.clone()))
        return super().compute_loss(scores, targets, weights)


def test_grh_weighs_each_bits_two_sides_equally(rng):
    """Every step's weights: per bit, n / (2 x the items on the item's side), so each side weighs n / 2."""
    x, y = blobs(rng, n=300, classes=3, spread=1.5)
    loss = RecordingHinge()
    loss.seen = []
    GRH(8, LinearSVM, loss=loss, alpha=0.9, rounds=2, steps=3, lr=0.01, seed=0).fit(x, y)
    assert len(loss.seen) == 6
    for targets, weights in loss.seen:
        n = len(targets)
        same_side = (targets[:, None, :] == targets[None, :, :]).sum(0).float()  # items sharing i's bit b
        expected = n / (2 * same_side)
        assert not torch.allclose(expected, torch.ones_like(expected))  # some bit is unbalanced
        assert torch.allclose(weights, expected)


@pytest.mark.parametrize("partitioner", [LinearSVM, partial(MLP, hidden=64)], ids=["linear", "mlp"])
def test_grh_beats_lsh_on_labelled_blobs(rng, partitioner):
    x, y = blobs(rng, classes=8, spread=2.5)  # overlapping classes: LSH alone is mediocre
    pre = Preprocessor(x.shape[1]).fit(x[:400])
    xt = pre.transform(x)
    grh = GRH(16, partitioner, alpha=0.9, rounds=3, steps=60, lr=0.01, seed=0)
    lsh_codes = HashModel(pre, LSH(16).fit(xt[:400])).encode(x)
    grh_codes = HashModel(pre, grh.fit(xt[:400], y[:400])).encode(x)
    relevance = from_labels(y[400:], y[:400])
    lsh_map = ranking_metrics(lsh_codes[400:], lsh_codes[:400], relevance, 16).summary()["map"]
    grh_map = ranking_metrics(grh_codes[400:], grh_codes[:400], relevance, 16).summary()["map"]
    assert grh_map > lsh_map + 0.1
    assert len(grh.history["flipped"]) == 3 and grh.history["flipped"][0] > 0


def test_tutorial_grh_refits_per_bit_svms(rng):
    x, y = blobs(rng, n=200)
    model = TutorialGRH(8, seed=0).fit(x, y)
    assert model.linear.bias is None and model.linear.weight.shape == (8, x.shape[1])
    assert not np.allclose(model.linear.weight.detach().numpy().T, np.random.RandomState(0).randn(x.shape[1], 8))


def test_grh_rejects_impossible_settings():
    with pytest.raises(L2HError, match="alpha"):
        GRH(8, LinearSVM, alpha=0)
    with pytest.raises(L2HError, match="rounds"):
        GRH(8, LinearSVM, rounds=0)
    with pytest.raises(L2HError, match="positive"):
        LSH(0)


def test_validation_stops_early_and_keeps_the_best_round(rng):
    x, y = blobs(rng, classes=8, spread=2.5)
    grh = GRH(16, LinearSVM, alpha=0.9, rounds=8, steps=20, lr=0.01, patience=1, seed=0)
    encoder = grh.fit(x[:300], y[:300], validation=(x[300:400], y[300:400]))
    history = grh.history
    assert len(history["val_map"]) == len(history["flipped"])
    assert history["best_round"] == int(np.argmax(history["val_map"])) + 1
    # stopped early: after the best round, `patience` (1) round that did not beat it, and no more
    assert len(history["val_map"]) == history["best_round"] + 1 < 8
    # the hash functions returned are the best round's, not the last round's: their validation mAP, ranked by
    # brute force, is the best one recorded
    with torch.no_grad():
        codes = np.packbits(encoder(torch.from_numpy(x[300:400])).numpy() >= 0, axis=1, bitorder="little")
    assert brute_force.validation_map(codes, y[300:400]) == pytest.approx(max(history["val_map"]))


class SquaredCodeLoss(HashLoss):
    """A user's loss: squared distance of each score to its target bit."""

    fits = "codes"

    def compute_loss(self, scores, targets, weights):
        return ((scores - targets) ** 2).mean()


def test_grh_takes_any_code_loss_and_refuses_a_label_loss(rng):
    x, y = blobs(rng, classes=4, spread=1.5)
    grh = GRH(16, LinearSVM, loss=SquaredCodeLoss(), alpha=1.0, rounds=2, steps=40, lr=0.01, seed=0)
    codes = np.where(grh.fit(x[:300], y[:300])(torch.from_numpy(x[300:])).detach().numpy() >= 0, 1, -1)
    same = y[300:, None] == y[None, 300:]
    hamming = (codes[:, None] != codes[None]).sum(-1)
    assert hamming[same].mean() + 4 < hamming[~same].mean()

    class LabelLoss(SquaredCodeLoss):
        fits = "labels"

    with pytest.raises(L2HError, match="fits labels"):
        GRH(16, LinearSVM, loss=LabelLoss())


def test_grh_mini_batches_train_as_well_as_the_full_batch(rng):
    x, y = blobs(rng, n=800, classes=4, spread=1.5)
    maps = []
    for batch_size in (None, 64):
        grh = GRH(16, LinearSVM, alpha=1.0, rounds=2, steps=60, lr=0.01, batch_size=batch_size, seed=0)
        encoder = grh.fit(x[:600], y[:600])
        with torch.no_grad():
            codes = np.packbits(encoder(torch.from_numpy(x)).numpy() >= 0, axis=1, bitorder="little")
        maps.append(ranking_metrics(codes[600:], codes[:600], from_labels(y[600:], y[:600]), 16).summary()["map"])
    assert maps[1] > maps[0] - 0.05 and maps[1] > 0.6


def pca_projections(x, bits):
    centred = x - x.mean(0)
    return centred @ np.linalg.eigh(centred.T @ centred)[1][:, ::-1][:, :bits]


def test_pca_initial_codes_are_the_signs_of_the_principal_projections(rng):
    from l2h.hashers.initial_codes import initial_codes

    x = rng.normal(size=(500, 12)) @ rng.normal(size=(12, 12))
    pca = np.where(pca_projections(x, 8) >= 0, 1.0, -1.0)
    codes = initial_codes(x, 8, "pca", np.zeros((12, 8)))
    # a principal direction has no preferred sign: each bit is its direction's signs, or all of them flipped
    assert np.allclose(np.abs((codes * pca).mean(0)), 1)


def test_itq_initial_codes_lower_the_quantisation_loss_of_pca(rng):
    from l2h.hashers.initial_codes import initial_codes

    x = rng.normal(size=(500, 12)) @ rng.normal(size=(12, 12))
    p = pca_projections(x, 8)
    codes = initial_codes(x, 8, "itq", np.zeros((12, 8)))

    def loss(b):  # the distance of the codes to the best linear map of the projections
        return np.linalg.norm(b - p @ np.linalg.lstsq(p, b, rcond=None)[0])

    assert set(np.unique(codes)) == {-1.0, 1.0}
    assert loss(codes) < loss(np.where(p >= 0, 1.0, -1.0)) - 1e-3


def test_knn_and_multilabel_graphs_match_dense_definitions(rng):
    from l2h.graphs import KNNGraph, MultiLabelGraph

    x = torch.from_numpy(rng.normal(size=(60, 5)).astype(np.float32))
    codes = torch.from_numpy(np.sign(rng.normal(size=(60, 4))).astype(np.float32))
    labels = rng.integers(0, 2, (60, 6))
    graph = MultiLabelGraph(block=16)
    graph.build(x, labels)
    dense = (labels @ labels.T > 0).astype(np.float32)
    expected = dense @ codes.numpy() / np.maximum(dense.sum(1, keepdims=True), 1)
    assert np.allclose(graph.propagate(codes).numpy(), expected, atol=1e-5)
    knn = KNNGraph(k=3, block=16)
    knn.build(x)
    unit = x.numpy() / np.linalg.norm(x.numpy(), axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    adj = np.zeros((60, 60), dtype=np.float32)
    for i, row in enumerate(np.argsort(-sims, axis=1)[:, :3]):
        adj[i, row] = adj[row, i] = 1
    np.fill_diagonal(adj, 1)
    expected = adj @ codes.numpy() / adj.sum(1, keepdims=True)
    assert np.allclose(knn.propagate(codes).numpy(), expected, atol=1e-5)


def test_grh_trains_on_the_anchor_kernel(rng):
    x, y = blobs(rng, classes=4, spread=1.5)
    grh = GRH(16, partial(LinearSVM, anchors=50, seed=0), alpha=1.0, rounds=2, steps=30, lr=0.01, init="pca")
    partitioner = grh.fit(x[:300], y[:300])
    codes = np.where(partitioner(torch.from_numpy(x[300:])).detach().numpy() >= 0, 1, -1)
    same = (y[300:, None] == y[None, 300:])
    hamming = (codes[:, None] != codes[None]).sum(-1)
    assert hamming[same].mean() + 4 < hamming[~same].mean()  # the kernel codes separate the classes
