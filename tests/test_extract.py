"""extract.py / l2h-extract: a backbone's features for every item of an image dataset equal the network's
penultimate outputs computed here from the pixels (preprocessing written out again, the network's output read by a
hook), the labels and provenance beside them, shallow hashers training on them through the commands with their
metrics.json naming the backbone and weights, and an interrupted run leaving nothing under the final name."""

import json

import numpy as np
import pytest
import torch

from l2h.encoders.backbones import Backbone
from l2h.encoders.backbones_nets import NETWORKS
from l2h.errors import L2HError
from tests import commands
from tests.test_backbones import penultimate, tiny_images


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """An MNIST-like .npz (uint8 28 x 28 images, three classes) and a ResNet-18 state dict file."""
    folder = tmp_path_factory.mktemp("images")
    x, y = tiny_images(n=60, classes=3, seed=1)
    pixels = np.clip((x + 1) * 60, 0, 255).astype(np.uint8).reshape(-1, 28, 28)
    np.savez(folder / "digits.npz", X=pixels, y=y)
    torch.manual_seed(5)
    network = NETWORKS["resnet18"]().eval()
    torch.save(network.state_dict(), folder / "resnet18.pth")
    return folder, pixels, y, network


def extract(images, out, *overrides):
    folder = images[0]
    return commands.extract(out.parent / "run", "data=file", f"data.path={folder / 'digits.npz'}", "encoder=resnet18",
                            f"encoder.weights={folder / 'resnet18.pth'}", f"out={out}", "batch_size=16", *overrides)


@pytest.fixture(scope="module")
def extracted(images, tmp_path_factory):
    out = tmp_path_factory.mktemp("features") / "features.npy"
    return extract(images, out), out


def test_features_are_the_backbone_outputs_of_the_pixels(images, extracted):
    _, pixels, labels, network = images
    record, out = extracted
    rows = pixels.reshape(len(pixels), -1).astype(np.float64)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    rows -= rows.mean(axis=0)
    rows /= rows.std(ddof=1)  # over every pixel of the fitted items (all 60 here: fit_items is 10000)
    grey = torch.from_numpy(rows.astype(np.float32)).reshape(-1, 1, 28, 28)
    expected = penultimate(network, "resnet18", grey.repeat(1, 3, 1, 1)).numpy()
    features = np.load(out, mmap_mode="r")
    assert features.shape == (60, 512) and features.dtype == np.float32
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-5)
    assert np.array_equal(np.load(out.with_name("features_labels.npy")), labels)
    assert json.loads(out.with_suffix(".json").read_text()) == record
    assert record["backbone"] == "resnet18" and record["weights"] == str(images[0] / "resnet18.pth")
    assert len(record["weights_sha256"]) == 64


@pytest.mark.parametrize("model", ["grh_svm", "sdh"])
def test_shallow_hashers_train_on_the_features_and_name_their_backbone(model, extracted, tmp_path, images):
    record, out = extracted
    metrics = commands.train(tmp_path, f"model={model}", "data=file", f"data.path={out}",
                             f"data.labels_path={out.with_name('features_labels.npy')}", "trainer=cpu",
                             "protocol.n_query=15", "protocol.n_train=30", "bits=8", "eval.max_radius=1")
    assert metrics["features"]["backbone"] == "resnet18"
    assert metrics["features"]["weights"] == str(images[0] / "resnet18.pth")
    assert metrics["features"]["items"] == 60 and 0 < metrics["map"] <= 1


def test_features_replaced_since_are_not_attributed_to_the_record(extracted, tmp_path):
    record, out = extracted
    copy = tmp_path / "features.npy"
    np.save(copy, np.load(out) + 1)
    copy.with_suffix(".json").write_text(out.with_suffix(".json").read_text())
    metrics = commands.train(tmp_path / "run", "model=lsh", "data=file", f"data.path={copy}",
                             f"data.labels_path={out.with_name('features_labels.npy')}", "protocol.n_query=15",
                             "protocol.n_train=30", "bits=8", "eval.max_radius=1")
    assert metrics["features"] is None


def test_an_interrupted_extraction_leaves_no_features_file(images, tmp_path, monkeypatch):
    calls = []
    features = Backbone.features

    def interrupted(self, z):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return features(self, z)

    monkeypatch.setattr(Backbone, "features", interrupted)
    with pytest.raises(KeyboardInterrupt):
        extract(images, tmp_path / "out" / "features.npy")
    assert len(calls) == 2 and list((tmp_path / "out").iterdir()) == []


def test_an_encoder_without_a_backbone_is_refused(images, tmp_path):
    with pytest.raises(L2HError, match="encoder=alexnet, vgg16, resnet18 or resnet50"):
        commands.extract(tmp_path, "data=file", f"data.path={images[0] / 'digits.npz'}", "encoder=cnn",
                         f"out={tmp_path / 'f.npy'}")


def test_the_command_prints_one_line_and_exits_2(images, tmp_path, capsys):
    weights = tmp_path / "absent.pth"
    with pytest.raises(SystemExit) as stopped:
        commands.command_line("extract", "data=file", f"data.path={images[0] / 'digits.npz'}", "encoder=resnet18",
                              f"encoder.weights={weights}", f"hydra.run.dir={tmp_path / 'run'}")
    lines = capsys.readouterr().err.strip().splitlines()
    assert stopped.value.code == 2 and len(lines) == 1 and str(weights) in lines[0], lines
