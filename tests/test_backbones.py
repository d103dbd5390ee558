"""The backbones (encoder=alexnet/vgg16/resnet18/resnet50): torchvision's networks (their sizes as torchvision
documents them; the networks themselves where torchvision imports), weights from a local state dict or
torchvision's cache folder (offline: one line) encoding as the network built here (its penultimate outputs read
through a forward hook, not through l2h's code), freeze and the backbone's learning rate as the optimiser sees
them, every deep loss and the classifier on every backbone, and checkpoints that encode identically. AlexNet and
VGG-16 are big (61M and 138M weights): only what they alone exercise runs in the default suite."""

import functools
import subprocess
import sys

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from l2h import checkpoint
from l2h.data.preprocess import Preprocessor
from l2h.encoders import backbones
from l2h.encoders.backbones import VGG16, AlexNet, ResNet18, ResNet50
from l2h.encoders.backbones_nets import NETWORKS
from l2h.errors import L2HError
from l2h.hashers.classifier import Classifier
from l2h.hashers.deep import DeepHasher
from l2h.losses import CSQ, DPSH, DSH, GreedyHash, HashNet, OrthoHash
from l2h.model import HashModel
from l2h.training.deep import DeepModule
from tests.conftest import ROOT

QUIET = functools.partial(pl.Trainer, accelerator="cpu", devices=1, logger=False, enable_model_summary=False,
                          enable_progress_bar=False, enable_checkpointing=False)
BIG = pytest.mark.slow  # AlexNet and VGG-16: seconds to build, hundreds of MB per copy
ALL = [pytest.param(AlexNet, marks=BIG), pytest.param(VGG16, marks=BIG), ResNet18, pytest.param(ResNet50, marks=BIG)]
LOSSES = [CSQ, DPSH, DSH, GreedyHash, HashNet, OrthoHash]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def torchvision_models():
    try:
        import torchvision.models
    except (ImportError, RuntimeError):  # absent, or PyPI's CUDA build beside a CPU-only torch
        return None
    return torchvision.models


def torchvision_network(arch, seed=3):
    """torchvision's network where it imports, else l2h's copy of it (checked against torchvision's sizes)."""
    torch.manual_seed(seed)
    models = torchvision_models()
    return (getattr(models, arch)() if models else NETWORKS[arch]()).eval()


# torchvision's documented parameter counts (its model table: weights "Params")
TORCHVISION_PARAMS = {"alexnet": 61_100_840, "vgg16": 138_357_544, "resnet18": 11_689_512, "resnet50": 25_557_032}


@pytest.mark.parametrize("arch", ["alexnet", pytest.param("vgg16", marks=BIG), "resnet18", "resnet50"])
def test_the_networks_are_torchvision_s(arch):
    network = NETWORKS[arch]()
    assert sum(p.numel() for p in network.parameters()) == TORCHVISION_PARAMS[arch]
    models = torchvision_models()
    if models is None:
        pytest.skip("torchvision does not import here: its documented sizes only")
    reference = getattr(models, arch)()
    assert {k: v.shape for k, v in reference.state_dict().items()} == \
        {k: v.shape for k, v in network.state_dict().items()}
    network.load_state_dict(reference.state_dict())
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(network.eval()(images), reference.eval()(images))


def penultimate(network, arch, images):
    """What torchvision's network computes just before its ImageNet class layer, read by a hook."""
    seen = []
    last = network.fc if arch.startswith("resnet") else network.classifier[-1]
    handle = last.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    with torch.no_grad():
        network(images)
    handle.remove()
    return seen[0]


def tiny_images(n=16, shape=(1, 28, 28), classes=4, seed=0):
    """Rows of images whose class sets a bright square's position: learnable from pixels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    images = rng.normal(0, 0.3, size=(n, *shape)).astype(np.float32)
    side = shape[1] // 2
    for i, label in enumerate(labels):
        row, col = divmod(int(label), 2)
        images[i, :, row * side:(row + 1) * side, col * side:(col + 1) * side] += 2.0
    return images.reshape(n, -1), labels


@pytest.mark.parametrize("cls", ALL)
def test_a_local_state_dict_encodes_as_torchvision_network(cls, tmp_path):
    network = torchvision_network(cls.arch)
    torch.save(network.state_dict(), tmp_path / "weights.pth")
    encoder = cls(in_dim=3 * 64 * 64, bits=8, image_shape=[3, 64, 64], weights=str(tmp_path / "weights.pth")).eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        features, scores = encoder.features(images.reshape(2, -1)), encoder(images.reshape(2, -1))
    expected = penultimate(network, cls.arch, images)
    assert torch.equal(features, expected)
    assert torch.allclose(scores, expected @ encoder.head.weight.T + encoder.head.bias, atol=1e-6)


def test_grey_images_are_read_as_three_equal_channels():
    grey = torch.randn(2, 1, 20, 20)
    as_grey = ResNet18(in_dim=400, bits=8, image_shape=[1, 20, 20]).eval()
    as_colour = ResNet18(in_dim=1200, bits=8, image_shape=[3, 20, 20]).eval()
    with torch.no_grad():
        assert torch.equal(as_grey(grey.reshape(2, -1)), as_colour(grey.repeat(1, 3, 1, 1).reshape(2, -1)))


@pytest.mark.parametrize("arch", ["alexnet", pytest.param("vgg16", marks=BIG)])
def test_images_below_the_smallest_side_torchvision_accepts_are_resized_up_to_it(arch):
    side = backbones.MIN_SIDE[arch]
    network = torchvision_network(arch)
    with torch.no_grad():
        network(torch.zeros(1, 3, side, side))
        with pytest.raises(RuntimeError):
            network(torch.zeros(1, 3, side - 1, side - 1))
    encoder = {"alexnet": AlexNet, "vgg16": VGG16}[arch](in_dim=784, bits=8).eval()
    assert tuple(encoder.images(torch.zeros(2, 784)).shape) == (2, 3, side, side)


def test_imagenet_weights_come_from_torchvision_cache_folder_and_are_never_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(L2HError) as refused:
        ResNet18(in_dim=784, bits=8, weights="imagenet")
    message = str(refused.value)
    assert "\n" not in message and "resnet18-f37072fd.pth" in message
    assert str(tmp_path / "hub" / "checkpoints") in message
    network = torchvision_network("resnet18")  # the file torchvision would have put there
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(network.state_dict(), tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth")
    encoder = ResNet18(in_dim=3 * 32 * 32, bits=8, image_shape=[3, 32, 32], weights="imagenet").eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(encoder.features(images.reshape(2, -1)), penultimate(network, "resnet18", images))


def test_unusable_weight_files_are_refused_in_one_line(tmp_path):
    def refused(path, *words):
        with pytest.raises(L2HError) as error:
            ResNet18(in_dim=784, bits=8, weights=str(path))
        assert "\n" not in str(error.value) and all(w in str(error.value) for w in words), str(error.value)

    refused(tmp_path / "absent.pth", "no such file")
    (tmp_path / "text.pth").write_text("not a state dict")
    refused(tmp_path / "text.pth", "not a state dict")
    torch.save({"conv1.weight": torch.zeros(3)}, tmp_path / "wrong_keys.pth")
    refused(tmp_path / "wrong_keys.pth", "missing", "bn1.bias")
    state = torchvision_network("resnet18").state_dict()
    state["conv1.weight"] = torch.zeros(64, 1, 7, 7)
    torch.save(state, tmp_path / "wrong_shape.pth")
    refused(tmp_path / "wrong_shape.pth", "conv1.weight", "(64, 1, 7, 7)")


def trained(encoder_factory, loss=None, epochs=1):
    x, y = tiny_images()
    make = DeepHasher(8, encoder_factory, loss, epochs=epochs, batch_size=8, seed=0) if loss else \
        Classifier(8, encoder_factory, epochs=epochs, batch_size=8, seed=0)
    return make.fit(x, y, trainer=QUIET), x


def state_of(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("freeze", [True, False])
def test_freeze_trains_the_head_only(freeze):
    factory = functools.partial(ResNet18, freeze=freeze)
    before = state_of(factory(in_dim=784, bits=8))  # the seed fixes the random weights: the same network
    encoder, _ = trained(factory, CSQ())
    after = state_of(encoder)
    backbone = [k for k in before if k.startswith("backbone.")]
    unchanged = [k for k in backbone if torch.equal(before[k], after[k])]
    assert not torch.equal(before["head.weight"], after["head.weight"])
    # frozen: every weight and batch-norm statistic as it was; trained: the weights and statistics moved
    assert len(unchanged) == len(backbone) if freeze else len(unchanged) < len(backbone) // 10


def test_backbone_learning_rate_reaches_the_optimiser():
    encoder = ResNet18(in_dim=784, bits=8, backbone_lr=0.25)
    loss = CSQ()
    loss.setup(8, 4)
    optimiser = DeepModule(encoder, loss, lr=0.02, schedule="constant").configure_optimizers()
    rate = {id(p): group["lr"] for group in optimiser.param_groups for p in group["params"]}
    assert all(rate[id(p)] == pytest.approx(0.005) for p in encoder.backbone.parameters())
    assert all(rate[id(p)] == 0.02 for p in encoder.head.parameters())
    frozen = ResNet18(in_dim=784, bits=8, freeze=True)
    groups = DeepModule(frozen, loss, lr=0.02).configure_optimizers()["optimizer"].param_groups
    assert {id(p) for g in groups for p in g["params"]} == {id(p) for p in frozen.head.parameters()}


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("loss", [*LOSSES, None], ids=[*(l.__name__ for l in LOSSES), "classifier"])
def test_every_loss_and_the_classifier_train_every_backbone(cls, loss):
    before = state_of(cls(in_dim=784, bits=8))  # the network the seed gives, before training
    encoder, x = trained(cls, loss() if loss else None)
    after = state_of(getattr(encoder, "network", encoder))  # the classifier's network inside its codewords
    weights = [k for k in before if k.startswith("backbone.") and k.endswith("weight")]
    moved = [k for k in weights if not torch.equal(before[k], after[k])]
    assert len(moved) > len(weights) // 2  # the backbone trained (the classifier's head has another shape)
    codes = HashModel(Preprocessor(x.shape[1]), encoder).encode(x)
    assert codes.shape == (len(x), 1)


@pytest.mark.parametrize("cls", ALL)
def test_a_checkpoint_of_each_backbone_encodes_identically(cls, tmp_path):
    x, _ = tiny_images(n=6)
    encoder = cls(in_dim=784, bits=8).fit_inputs(torch.from_numpy(x)).eval()
    model = HashModel(Preprocessor(784).fit(x), encoder)
    checkpoint.save(tmp_path / "model.ckpt", model, {})
    loaded, _ = checkpoint.load(tmp_path / "model.ckpt")
    assert np.array_equal(loaded.encode(x), model.encode(x))
    assert loaded.encoder.pixel_scale == encoder.pixel_scale != 1


def test_loading_a_backbone_checkpoint_never_imports_lightning(tmp_path):
    encoder = ResNet18(in_dim=64, bits=8).eval()
    checkpoint.save(tmp_path / "model.ckpt", HashModel(Preprocessor(64), encoder), {})
    code = ("import sys, numpy as np; from l2h import checkpoint; "
            f"model, _ = checkpoint.load({str(tmp_path / 'model.ckpt')!r}); "
            "model.encode(np.ones((2, 64), np.float32)); "
            "assert 'pytorch_lightning' not in sys.modules and 'lightning' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=300)
