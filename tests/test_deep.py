"""The deep hashers: any encoder trained by any label loss through one Lightning module (trains on labelled blobs
to clearly beat LSH, stops early on a validation split and restores the best epoch, logs through Lightning's
logger), the CNN encoder (shapes, checkpoint round trip, a tiny image set trained end to end, GRH with it as
partitioner), the classifier baseline (codes are exactly the predicted class's codeword) and the class-posterior
ranking's exact mAP against a brute-force sort; refused settings. (YAML against Python defaults: test_defaults.py.)"""

import functools
import json

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from l2h import checkpoint, pipeline
from l2h.codes import from_scores, pack
from l2h.data.preprocess import Preprocessor
from l2h.encoders import MLP
from l2h.encoders.cnn import CNN
from l2h.encoders.codewords import ClassCodewords
from l2h.errors import L2HError
from l2h.eval.metrics import ranking_metrics
from l2h.eval.relevance import from_labels
from l2h.hashers.classifier import Classifier, posterior_ranking_map
from l2h.hashers.deep import DeepHasher, with_precision
from l2h.hashers.grh import GRH
from l2h.hashers.lsh import LSH
from l2h.losses import CSQ, DPSH, DSH, GreedyHash, HashNet, Hinge, OrthoHash
from l2h.model import HashModel
from tests import brute_force, commands
from tests.conftest import blobs

QUIET = functools.partial(pl.Trainer, accelerator="cpu", devices=1, logger=False, enable_model_summary=False,
                          enable_progress_bar=False)
SMALL_MLP = functools.partial(MLP, hidden=32, dropout=0.0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def codes_of(encoder, x):
    with torch.no_grad():
        return from_scores(encoder(torch.from_numpy(x)).numpy())


def hamming_map(codes, labels, train, bits):
    return ranking_metrics(codes[train:], codes[:train], from_labels(labels[train:], labels[:train]), bits,
                           ks=(10,), Rs=()).summary()["map"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    x, y = blobs(rng, n=600, classes=8, spread=2.5)  # overlapping classes: LSH alone is mediocre
    pre = Preprocessor(x.shape[1]).fit(x[:400])
    return pre.transform(x), y


@pytest.fixture(scope="module")
def lsh_map(data):
    x, y = data
    return hamming_map(codes_of(LSH(16).fit(x[:400]), x), y, 400, 16)


@pytest.mark.parametrize("loss", [DPSH, HashNet, DSH, CSQ, GreedyHash, OrthoHash])
def test_every_loss_trains_an_encoder_that_clearly_beats_lsh(data, lsh_map, loss):
    x, y = data
    # DSH's margin (2 x bits on squared distances) asks for scores of size 1 from a network that starts near 0
    lr = 0.03 if loss is DSH else 0.01
    hasher = DeepHasher(16, SMALL_MLP, loss(), epochs=12, lr=lr, batch_size=100, seed=0)
    encoder = hasher.fit(x[:400], y[:400], trainer=QUIET)
    assert not encoder.training and encoder.device.type == "cpu"
    assert hamming_map(codes_of(encoder, x), y, 400, 16) > lsh_map + 0.1
    assert hasher.history["epochs"] == 12 and len(hasher.history["train_loss"]) == 12
    assert hasher.history["train_loss"][-1] < hasher.history["train_loss"][0]


def test_multi_hot_labels_train_pairwise_and_central_losses(rng):
    x, y = blobs(rng, n=300, classes=4, spread=0.8)
    multi = np.zeros((300, 3), np.uint8)  # class 3 carries labels 0 and 1: it is similar to classes 0 and 1
    for c, tags in {0: [0], 1: [1], 2: [2], 3: [0, 1]}.items():
        multi[np.ix_(y == c, tags)] = 1
    for loss in (DPSH(), CSQ()):
        encoder = DeepHasher(16, SMALL_MLP, loss, epochs=10, lr=0.01, batch_size=100).fit(x, multi, trainer=QUIET)
        codes = codes_of(encoder, x)
        score = ranking_metrics(codes[:100], codes[100:], from_labels(multi[:100], multi[100:]), 16).summary()
        assert score["map"] > 0.8


def test_early_stopping_on_validation_restores_the_best_epoch(data):
    x, y = data
    # a learning rate far too high: validation mAP peaks early and then wanders, so training stops
    hasher = DeepHasher(16, SMALL_MLP, CSQ(), epochs=60, lr=0.5, batch_size=100, schedule="constant", patience=2,
                        optimiser="sgd", seed=0)
    validation = (x[400:500], y[400:500])
    encoder = hasher.fit(x[:400], y[:400], validation=validation, trainer=QUIET)
    history = hasher.history
    assert history["epochs"] < 60 and len(history["val_map"]) == history["epochs"]
    assert history["best_epoch"] == int(np.argmax(history["val_map"])) + 1
    assert history["epochs"] - history["best_epoch"] == 2  # stopped after `patience` epochs without a better one
    restored = brute_force.validation_map(codes_of(encoder, validation[0]), validation[1])
    assert restored == pytest.approx(max(history["val_map"]))


def test_per_epoch_metrics_go_to_the_lightning_logger(data, tmp_path):
    x, y = data
    logger = pl.loggers.CSVLogger(str(tmp_path), name="", version="")
    factory = functools.partial(QUIET, logger=logger, log_every_n_steps=1)
    DeepHasher(8, SMALL_MLP, HashNet(), epochs=3, batch_size=200).fit(x[:400], y[:400],
                                                                     validation=(x[400:], y[400:]), trainer=factory)
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"loss", "train_loss", "val_map", "epoch"} <= set(header)


def test_a_small_training_set_lowers_the_anchors(data):
    x, y = data
    encoder = DeepHasher(8, functools.partial(MLP, hidden=16, anchors=1000), CSQ(), epochs=1).fit(
        x[:100], y[:100], trainer=QUIET)
    assert encoder.anchors == 50


def images(rng, n=400, side=8, classes=3):
    """Tiny images: a bright 3x3 patch whose corner position is the class, on noise."""
    labels = rng.integers(0, classes, n)
    x = rng.normal(0, 1.0, (n, 1, side, side)).astype(np.float32)
    corners = [(0, 0), (0, side - 3), (side - 3, 0)]
    for i, c in enumerate(labels):
        r, col = corners[c]
        x[i, 0, r:r + 3, col:col + 3] += 1.5
    x = x.reshape(n, -1)
    pre = Preprocessor(x.shape[1]).fit(x)
    return pre.transform(x), labels


def test_cnn_shapes_and_image_shape_rules():
    cnn = CNN(784, 32)
    assert cnn.image_shape == (1, 28, 28) and cnn(torch.randn(5, 784)).shape == (5, 32)
    colour = CNN(3 * 8 * 8, 16, image_shape=[3, 8, 8], channels=[4, 8, 8], hidden=0)
    assert colour(torch.randn(2, 192)).shape == (2, 16)
    assert CNN(16, 8)(torch.randn(3, 16)).shape == (3, 8)  # 4x4, pooled down to a pixel and no further
    assert cnn.anchors == 0 and cnn.inputs.identity
    with pytest.raises(L2HError, match="image_shape"):
        CNN(10, 8)  # not a square: the shape must be given
    with pytest.raises(L2HError, match="holds 192"):
        CNN(100, 8, image_shape=[3, 8, 8])
    for bad in ({"channels": []}, {"channels": [0]}, {"hidden": -1}, {"dropout": 1.0}, {"image_shape": [1, 4]}):
        with pytest.raises(L2HError):
            CNN(16, 8, **bad)


@pytest.mark.parametrize("make", [
    lambda: CNN(3 * 8 * 8, 16, image_shape=[3, 8, 8], channels=[4, 6], hidden=10, dropout=0.2, seed=3),
    lambda: ClassCodewords(6, 16, 4, MLP(6, 4, hidden=8, anchors=20, seed=1), codewords="bernoulli", seed=5),
], ids=["cnn", "classifier"])
def test_encoders_round_trip_by_their_hparams_and_a_checkpoint(tmp_path, rng, make):
    encoder = make()
    x = rng.normal(size=(60, encoder.in_dim)).astype(np.float32)
    encoder.fit_inputs(torch.from_numpy(x))
    with torch.no_grad():  # move the batch-norm statistics off their initial values
        encoder.train()
        encoder(torch.from_numpy(x))
    encoder.eval()
    json.dumps(encoder.hparams())  # JSON values only
    rebuilt = type(encoder)(**encoder.hparams())
    rebuilt.load_state_dict(encoder.state_dict())
    rebuilt.eval()
    xt = torch.from_numpy(x)
    assert torch.equal(rebuilt(xt), encoder(xt))
    model = HashModel(Preprocessor(encoder.in_dim).fit(x), encoder)
    loaded, _ = checkpoint.load(checkpoint.save(tmp_path / "m.ckpt", model, {"model": "deep"}))
    assert np.array_equal(loaded.encode(x), model.encode(x))


def test_a_tiny_image_set_trains_through_the_cnn(rng):
    x, y = images(rng)
    make = functools.partial(CNN, channels=[8], hidden=16, dropout=0.0)
    hasher = DeepHasher(16, make, CSQ(), epochs=10, lr=0.01, batch_size=50, image_shape=[1, 8, 8])
    encoder = hasher.fit(x[:300], y[:300], trainer=QUIET)
    assert isinstance(encoder, CNN) and encoder.image_shape == (1, 8, 8)
    lsh = hamming_map(codes_of(LSH(16).fit(x[:300]), x), y, 300, 16)
    assert hamming_map(codes_of(encoder, x), y, 300, 16) > max(0.9, lsh + 0.2)


def test_grh_trains_a_cnn_partitioner(rng):
    x, y = images(rng)
    make = functools.partial(CNN, channels=[8], hidden=16, dropout=0.0)
    grh = GRH(16, make, rounds=2, steps=30, batch_size=50, lr=0.01, alpha=1.0, init="lsh", seed=0)
    encoder = grh.fit(x[:300], y[:300], trainer=QUIET)
    assert isinstance(encoder, CNN) and len(grh.history["flipped"]) == 2
    lsh = hamming_map(codes_of(LSH(16).fit(x[:300]), x), y, 300, 16)
    assert hamming_map(codes_of(encoder, x), y, 300, 16) > lsh + 0.2


def test_classifier_codes_are_exactly_its_predicted_class_codeword(data):
    x, y = data
    hasher = Classifier(16, SMALL_MLP, epochs=10, lr=0.01, batch_size=100, seed=1)
    model = hasher.fit(x[:400], y[:400], validation=(x[400:500], y[400:500]), trainer=QUIET)
    assert isinstance(model, ClassCodewords) and model.codewords.shape == (8, 16)
    xt = torch.from_numpy(x)
    with torch.no_grad():
        predicted = model.predict(xt).numpy()
    assert np.array_equal(codes_of(model, x), pack(model.codewords.numpy()[predicted] > 0))
    assert len(np.unique(predicted)) > 4 and (predicted[:400] == y[:400]).mean() > 0.6  # labels 0..7 in order
    # the codewords are Hadamard rows: all pairwise at half the bits
    c = model.codewords
    assert ((c[:, None] != c[None]).sum(2) + 8 * torch.eye(8)).eq(8).all()
    posteriors = model.posteriors(xt)
    assert torch.allclose(posteriors.sum(1), torch.ones(len(x)))
    assert hasher.history["best_epoch"] is not None


class Posteriors:
    """A stand-in classifier whose posteriors are a given table, indexed by the first feature."""

    def __init__(self, table):
        self.table = torch.as_tensor(table, dtype=torch.float32)

    def eval(self):
        return self

    def posteriors(self, x):
        return self.table[x[:, 0].long()]


def brute_force_map(pq, pdb, q_labels, db_labels):
    aps = []
    for i in range(len(pq)):
        scores = [float(np.dot(pq[i].astype(np.float32), pdb[j].astype(np.float32))) for j in range(len(pdb))]
        order = sorted(range(len(pdb)), key=lambda j: (-scores[j], j))
        if q_labels.ndim == 1:
            rel = [q_labels[i] == db_labels[j] for j in order]
        else:
            rel = [bool((q_labels[i] & db_labels[j]).any()) for j in order]
        if not any(rel):
            continue
        hits, total = 0, 0.0
        for rank, r in enumerate(rel, 1):
            if r:
                hits += 1
                total += hits / rank
        aps.append(total / hits)
    return float(np.mean(aps))


@pytest.mark.parametrize("multi", [False, True])
def test_posterior_ranking_map_is_the_exact_map_of_the_sorted_inner_products(rng, multi):
    nq, n, classes = 13, 57, 4
    # eighths: every inner product is exact in float32, and many are tied (ties go by database id)
    table = rng.integers(0, 4, (nq + n, classes)) / 8
    table[nq + 5] = table[nq + 9]
    ids = np.arange(nq + n, dtype=np.float32)[:, None]
    labels = (rng.random((nq + n, 3)) < 0.4).astype(np.uint8) if multi else rng.integers(0, classes, nq + n)
    model = Posteriors(table)
    got = posterior_ranking_map(model, ids[:nq], ids[nq:], labels[:nq], labels[nq:], block=7)  # 1-query blocks
    expected = brute_force_map(table[:nq], table[nq:], labels[:nq], labels[nq:])
    assert got == pytest.approx(expected, abs=1e-12)
    assert posterior_ranking_map(model, ids[:nq], ids[nq:], labels[:nq], labels[nq:]) == pytest.approx(expected)
    with pytest.raises(L2HError, match="posteriors"):
        posterior_ranking_map(object(), ids[:nq], ids[nq:], labels[:nq], labels[nq:])


def test_precision_is_mixed_on_a_gpu_only_and_a_trainer_setting_wins():
    cpu = functools.partial(pl.Trainer, accelerator="cpu")
    assert with_precision(cpu, "auto") is cpu
    named = functools.partial(pl.Trainer, accelerator="auto", precision="32-true")
    assert with_precision(named, "auto") is named
    assert with_precision(cpu, "bf16-mixed").keywords["precision"] == "bf16-mixed"


def test_settings_are_refused_in_one_line():
    bad = [dict(epochs=0), dict(lr=-1.0), dict(batch_size=0), dict(optimiser="lbfgs"), dict(schedule="step"),
           dict(patience=0), dict(weight_decay=-1.0), dict(precision="64"), dict(image_shape=[28, 28])]
    for kwargs in bad:
        with pytest.raises(L2HError):
            DeepHasher(16, SMALL_MLP, CSQ(), **kwargs)
    with pytest.raises(L2HError, match="fits target codes"):
        DeepHasher(16, SMALL_MLP, Hinge())
    with pytest.raises(L2HError, match="hashing loss"):
        DeepHasher(16, SMALL_MLP, torch.nn.MSELoss())
    with pytest.raises(L2HError):
        DeepHasher(16, functools.partial(MLP, dropout=2.0), CSQ())  # the encoder's settings, checked at once
    with pytest.raises(L2HError):
        Classifier(16, SMALL_MLP, codewords="gray")
    with pytest.raises(L2HError, match="labels"):
        DeepHasher(16, SMALL_MLP, CSQ()).fit(np.zeros((10, 4), np.float32), None)


def test_grh_cnn_trains_the_cnn_encoder_and_the_command_line_changes_it():
    hasher = pipeline.build_hasher(commands.config("train", ["model=grh_cnn", "encoder.hidden=24"]))
    partitioner = hasher.make_partitioner(in_dim=64, bits=8)
    assert isinstance(hasher, GRH) and isinstance(partitioner, CNN) and partitioner.hidden == 24
