from functools import partial

import numpy as np
import pytest
import torch

from l2h import checkpoint
from l2h.data.preprocess import Preprocessor
from l2h.errors import L2HError
from l2h.eval.metrics import ranking_metrics
from l2h.eval.relevance import from_labels
from l2h.models import GRH, LSH, MLP, HashModel, LabelGraph, LinearSVM, TutorialGRH
from l2h.models.grh import balanced_weights, regularise
from tests.conftest import blobs

QUIET = {"accelerator": "cpu", "enable_progress_bar": False}


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
    assert torch.equal(regularise(codes, graph, 0.25, sign_first=True), codes)
    refined = regularise(codes, graph, 0.9)
    assert (refined != codes).float().mean() > 0.2
    # the step pulls items of one class towards the same code
    for c in range(3):
        assert refined[labels == c].mean(0).abs().mean() > codes[labels == c].mean(0).abs().mean()


def test_balanced_weights_give_each_side_half_the_mass():
    codes = torch.tensor([[1.0], [1.0], [1.0], [-1.0]])
    w = balanced_weights(codes)
    assert torch.allclose(w[codes > 0].sum(), w[codes < 0].sum())


@pytest.mark.parametrize("partitioner", [LinearSVM, MLP])
def test_grh_beats_lsh_on_labelled_blobs(rng, partitioner):
    x, y = blobs(rng, classes=8, spread=2.5)  # overlapping classes: LSH alone is mediocre
    pre = Preprocessor(x.shape[1]).fit(x[:400])
    xt = pre.transform(x)
    grh = GRH(16, partitioner, alpha=0.9, rounds=3, steps=60, lr=0.01, seed=0)
    lsh_codes = HashModel(pre, LSH(16).fit(xt[:400])).encode(x)
    grh_codes = HashModel(pre, grh.fit(xt[:400], y[:400], trainer=QUIET)).encode(x)
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


def test_checkpoint_round_trip_is_weights_only(tmp_path, rng):
    x, y = blobs(rng, n=100)
    pre = Preprocessor(x.shape[1]).fit(x)
    model = HashModel(pre, MLP(x.shape[1], 24, hidden=32))
    path = checkpoint.save(tmp_path / "m.ckpt", model, {"model": "grh_mlp", "config": {"bits": 24}})
    torch.load(path, weights_only=True)  # plain dicts and tensors only
    loaded, meta = checkpoint.load(path)
    assert meta["model"] == "grh_mlp"
    assert np.array_equal(loaded.encode(x), model.encode(x))
    assert loaded.encode(x).shape == (100, 3)


def test_checkpoint_refuses_other_files(tmp_path):
    (tmp_path / "x.ckpt").write_bytes(b"definitely not torch")
    with pytest.raises(L2HError, match="not an l2h checkpoint"):
        checkpoint.load(tmp_path / "x.ckpt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "y.ckpt")
    with pytest.raises(L2HError, match="not an l2h checkpoint"):
        checkpoint.load(tmp_path / "y.ckpt")
    with pytest.raises(L2HError, match="does not exist"):
        checkpoint.load(tmp_path / "missing.ckpt")


def test_encoding_rejects_wrong_dimensions(rng):
    model = HashModel(Preprocessor(4), LinearSVM(4, 8))
    with pytest.raises(L2HError, match="takes 4 dimensions"):
        model.encode(rng.normal(size=(3, 5)))


def test_validation_stops_early_and_keeps_the_best_round(rng):
    x, y = blobs(rng, classes=8, spread=2.5)
    grh = GRH(16, LinearSVM, alpha=0.9, rounds=8, steps=20, lr=0.01, patience=1, seed=0)
    grh.fit(x[:300], y[:300], trainer=QUIET, validation=(x[300:400], y[300:400]))
    history = grh.history
    assert 1 <= len(history["val_map"]) <= 8 and len(history["val_map"]) == len(history["flipped"])
    assert history["best_round"] == int(np.argmax(history["val_map"])) + 1
    if len(history["val_map"]) < 8:  # stopped early: the rounds after the best, `patience` of them, did not beat it
        assert len(history["val_map"]) - history["best_round"] == 1


def test_standardised_partitioner_is_unit_free_and_round_trips(tmp_path, rng):
    x, _ = blobs(rng, classes=4, spread=1.5)
    scaled = x * np.geomspace(1e-3, 1e3, x.shape[1]).astype(np.float32) + 5  # dimensions in wildly different units
    plain, rescaled = MLP(x.shape[1], 16, hidden=32, standardise=True), MLP(x.shape[1], 16, hidden=32, standardise=True)
    rescaled.load_state_dict(plain.state_dict())
    plain.fit_inputs(torch.from_numpy(x)).eval(), rescaled.fit_inputs(torch.from_numpy(scaled)).eval()
    with torch.no_grad():  # the same network scores the same items the same way, whatever their units
        assert torch.allclose(plain(torch.from_numpy(x)), rescaled(torch.from_numpy(scaled)), atol=1e-4)
    model = HashModel(Preprocessor(x.shape[1], l2=False, centre=False), rescaled)
    loaded, _ = checkpoint.load(checkpoint.save(tmp_path / "s.ckpt", model, {"model": "grh_mlp"}))
    assert np.array_equal(loaded.encode(scaled), model.encode(scaled))


@pytest.mark.parametrize("init", ["pca", "itq"])
def test_pca_and_itq_initial_codes(rng, init):
    from l2h.models.initial_codes import initial_codes

    x = rng.normal(size=(500, 12)) @ rng.normal(size=(12, 12))
    codes = initial_codes(x, 8, init, np.zeros((12, 8)))
    assert codes.shape == (500, 8) and set(np.unique(codes)) == {-1.0, 1.0}
    if init == "itq":  # ITQ's rotation lowers the quantisation loss of PCA
        centred = x - x.mean(0)
        v = np.linalg.eigh(centred.T @ centred)[1][:, ::-1][:, :8]
        p = centred @ v
        pca = np.where(p >= 0, 1.0, -1.0)
        loss = lambda b: min(np.linalg.norm(b - p @ r) for r in [np.linalg.lstsq(p, b, rcond=None)[0]])
        assert loss(codes) <= loss(pca) + 1e-6


def test_knn_and_multilabel_graphs_match_dense_definitions(rng):
    from l2h.models import KNNGraph, MultiLabelGraph

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


@pytest.mark.parametrize("kind", ["fourier", "anchors"])
def test_kernel_partitioners_round_trip_through_a_checkpoint(tmp_path, rng, kind):
    from l2h.models import KernelSVM

    x = rng.normal(size=(80, 6)).astype(np.float32)
    pre = Preprocessor(6).fit(x)
    partitioner = (KernelSVM(6, 16, features=64, gamma=0.5, seed=3) if kind == "fourier"
                   else MLP(6, 16, hidden=8, anchors=20, kernel_width=0.7, seed=3))
    model = HashModel(pre, partitioner.fit_inputs(torch.from_numpy(pre.transform(x))))
    loaded, _ = checkpoint.load(checkpoint.save(tmp_path / "k.ckpt", model, {"model": "grh_kernel"}))
    assert np.array_equal(loaded.encode(x), model.encode(x))


def test_anchor_feature_map_follows_its_definition(rng):
    x = rng.normal(size=(40, 3)).astype(np.float32)
    svm = LinearSVM(3, 4, anchors=10, kernel_width=0.5, seed=1).fit_inputs(torch.from_numpy(x))
    anchors = svm.anchor_points.numpy()
    assert svm.linear.in_features == 10
    assert all((np.abs(x - a).sum(1) == 0).any() for a in anchors)  # anchors are training items
    d2 = ((x[:, None] - anchors[None]) ** 2).sum(-1)
    nearest_other = np.where(d2 > 1e-12, d2, np.inf).min(1)
    gamma = 1 / (2 * (0.5 * np.sqrt(nearest_other).mean()) ** 2)
    assert svm.kernel_gamma.item() == pytest.approx(gamma, rel=1e-4)
    rbf = np.exp(-gamma * d2)
    expected = (rbf - rbf.mean(0)) / rbf.std(0, ddof=1)
    assert np.allclose(svm.embed(torch.from_numpy(x)).numpy(), expected, atol=1e-3)
    with pytest.raises(L2HError, match="only 40 training items"):
        LinearSVM(3, 4, anchors=41).fit_inputs(torch.from_numpy(x))


def test_grh_trains_on_the_anchor_kernel(rng):
    x, y = blobs(rng, classes=4, spread=1.5)
    grh = GRH(16, partial(LinearSVM, anchors=50, seed=0), alpha=1.0, rounds=2, steps=30, lr=0.01, init="pca")
    partitioner = grh.fit(x[:300], y[:300], trainer=QUIET)
    codes = np.where(partitioner(torch.from_numpy(x[300:])).detach().numpy() >= 0, 1, -1)
    same = (y[300:, None] == y[None, 300:])
    hamming = (codes[:, None] != codes[None]).sum(-1)
    assert hamming[same].mean() + 4 < hamming[~same].mean()  # the kernel codes separate the classes
