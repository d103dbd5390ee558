"""ImageNet backbones (AlexNet, VGG-16, ResNet-18, ResNet-50: torchvision's networks, in
:mod:`l2h.encoders.backbones_nets`) with a hash head of ``bits`` outputs, as the field's deep hashing papers
fine-tune them (DeepHash-pytorch, HashNet, CSQ).

The backbone is torchvision's network without its last (ImageNet class) layer: for AlexNet and VGG-16 the 4096
outputs of fc7 after its ReLU, for the ResNets the globally pooled 512 / 2048 features. The head is one linear
layer, initialised as DeepHash-pytorch's hash layer (weights N(0, 0.01), biases 0).

Items arrive as l2h's image rows (flattened, L2-normalised, training mean subtracted), reshaped to
``image_shape`` and divided by their standard deviation over the training items (fitted with the input map, kept
in the checkpoint): zero-mean, unit-variance pixels, the scale ImageNet normalisation gives. A grey image is
repeated into the three channels the backbone reads. An image smaller than the backbone's layers accept
(AlexNet: 63 pixels a side, VGG-16: 32) is resized up to that size, bilinearly: the field resizes CIFAR's
32-pixel images to 224 pixels anyway, and refusing would keep 28-32 pixel image arrays away from AlexNet.

``weights``: ``none`` (random, fixed by ``seed``), ``imagenet`` (torchvision's ImageNet release the papers start
from, read from torchvision's cache folder: never downloaded here), or the path of a state dict of the
torchvision network (``torch.save(model.state_dict(), path)``; its last layer, if there, is dropped), read with
``weights_only=True``. ``freeze``: only the head trains, the backbone stays in evaluation mode (batch norm
statistics and dropout fixed). ``backbone_lr``: the backbone's learning rate as a fraction of the head's (0.1:
DeepHash-pytorch's and HashNet's ten times larger rate for the new layer).

A checkpoint holds the whole network in its state dict and rebuilds it with ``weights: none`` before loading
it: opening a checkpoint never reads the ImageNet weights again."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional

from l2h.encoders.backbones_nets import IMAGENET_FILES, IMAGENET_URL, NETWORKS
from l2h.encoders.cnn import ImageEncoder, image_shape_for
from l2h.errors import L2HError

ARCHITECTURES = ("alexnet", "vgg16", "resnet18", "resnet50")
# the smallest image side each network accepts: below it a pooling layer is left without input (measured)
MIN_SIDE = {"alexnet": 63, "vgg16": 32, "resnet18": 1, "resnet50": 1}
# the state dict prefix of the ImageNet class layer the backbone drops
CLASS_LAYER = {"alexnet": "classifier.6.", "vgg16": "classifier.6.", "resnet18": "fc.", "resnet50": "fc."}


def imagenet_file(arch: str) -> Path:
    """Where torchvision keeps (and looks for) its ImageNet weights of ``arch``: torch.hub's cache folder."""
    return Path(torch.hub.get_dir()) / "checkpoints" / IMAGENET_FILES[arch]


def read_state_dict(path: Path, setting: str) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - whatever torch.load trips on, the file is not a safe state dict
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise L2HError(f"{setting}: {path} is not a state dict torch loads safely ({reason}): save one with "
                       "torch.save(model.state_dict(), path)") from None
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise L2HError(f"{setting}: {path} holds no state dict of tensors: save one with "
                       "torch.save(model.state_dict(), path)")
    return state


def pretrained_state(arch: str, weights) -> tuple[dict[str, torch.Tensor], str] | None:
    """The state dict ``weights`` names and the file it came from; None for random weights."""
    if weights is None or weights == "none":
        return None
    if weights == "imagenet":
        file = imagenet_file(arch)
        if not file.is_file():
            raise L2HError(f"encoder.weights=imagenet needs torchvision's {arch} weights {file.name} in {file.parent} "
                           f"and nothing is downloaded here: copy it there from {IMAGENET_URL}{file.name} (or set "
                           "TORCH_HOME), or give a state dict path, or encoder.weights=none")
        return read_state_dict(file, "encoder.weights=imagenet"), str(file)
    path = Path(str(weights)).expanduser()
    if not path.is_file():
        raise L2HError(f"encoder.weights={weights}: no such file: give none, imagenet or the path of a state dict "
                       f"of torchvision's {arch}")
    return read_state_dict(path, f"encoder.weights={weights}"), str(path)


def load_backbone(backbone: nn.Module, arch: str, state: dict[str, torch.Tensor], source: str) -> None:
    """Load a torchvision state dict of ``arch`` (its ImageNet class layer, if there, ignored) into the backbone;
    each key and shape checked. Batch-norm counters may be absent: torchvision's older files lack them."""
    state = {k: v for k, v in state.items() if not k.startswith(CLASS_LAYER[arch])}
    expected = backbone.state_dict()
    missing = sorted(k for k in set(expected) - set(state) if not k.endswith("num_batches_tracked"))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise L2HError(f"{source} does not hold torchvision's {arch} weights (missing {missing[:3]}, unexpected "
                       f"{unexpected[:3]}): give a state dict of torchvision.models.{arch}")
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise L2HError(f"{source}: {key} has shape {tuple(value.shape)} where torchvision's {arch} has "
                           f"{tuple(expected[key].shape)}: give a state dict of torchvision.models.{arch}")
    backbone.load_state_dict(state, strict=False)


def without_class_layer(network: nn.Module, arch: str) -> tuple[nn.Module, int]:
    """The torchvision network without its ImageNet class layer, and the width of what it then outputs."""
    if arch.startswith("resnet"):
        width = network.fc.in_features
        network.fc = nn.Identity()
    else:
        width = network.classifier[-1].in_features
        network.classifier = network.classifier[:-1]
    return network, width


class Backbone(ImageEncoder):
    """A torchvision network (the subclass's ``arch``) and a hash head."""

    arch: str = ""

    def __init__(self, in_dim: int, bits: int, image_shape=None, weights: str | None = "none", freeze: bool = False,
                 backbone_lr: float = 0.1, seed: int = 0):
        super().__init__(in_dim, bits, seed=seed)
        arch = self.arch
        if arch not in ARCHITECTURES:
            raise L2HError(f"{type(self).__name__} names no backbone: use AlexNet, VGG16, ResNet18 or ResNet50")
        shape = image_shape_for(in_dim, image_shape)
        if shape[0] not in (1, 3):
            raise L2HError(f"{arch} reads grey or colour images (1 or 3 channels), the items have {shape[0]}: "
                           "give image_shape=[channels,height,width] of the data")
        if not isinstance(freeze, bool):
            raise L2HError(f"encoder.freeze must be true or false, got {freeze!r}")
        if isinstance(backbone_lr, bool) or not isinstance(backbone_lr, (int, float)) or not backbone_lr >= 0:
            raise L2HError(f"encoder.backbone_lr must be a number >= 0 (a fraction of the head's rate), got "
                           f"{backbone_lr!r}")
        pretrained = pretrained_state(arch, weights)
        with torch.random.fork_rng(devices=[]):  # random weights fixed by the seed, the caller's generator untouched
            torch.manual_seed(self.seed)
            network = NETWORKS[arch]()
            self.backbone, self.feature_dim = without_class_layer(network, arch)
            self.head = nn.Linear(self.feature_dim, bits)
            nn.init.normal_(self.head.weight, 0.0, 0.01)
            nn.init.zeros_(self.head.bias)
        if pretrained is not None:
            load_backbone(self.backbone, arch, *pretrained)
        self.image_shape, self.freeze, self.backbone_lr = shape, freeze, float(backbone_lr)
        self.weights = "none" if weights is None else str(weights)
        self.register_buffer("pixel_scale", torch.ones(()))
        self.backbone.requires_grad_(not freeze)
        self.train()  # a frozen backbone starts in evaluation mode: Lightning restores the modes it finds

    def hparams(self) -> dict:
        # weights "none": the checkpoint's state dict holds the trained backbone, nothing else is read to rebuild it
        return {"in_dim": self.in_dim, "bits": self.bits, "image_shape": list(self.image_shape),
                "weights": "none", "freeze": self.freeze, "backbone_lr": self.backbone_lr, "seed": self.seed}

    def images(self, z: torch.Tensor) -> torch.Tensor:
        """Rows (or images) as the backbone reads them: scaled, three channels, at least its smallest side."""
        x = self.pixels(z)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        side = MIN_SIDE[self.arch]
        if min(x.shape[2:]) < side:
            size = (max(side, x.shape[2]), max(side, x.shape[3]))
            x = functional.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return x

    def features(self, z: torch.Tensor) -> torch.Tensor:
        """The backbone's output (pooled features, or fc7 for AlexNet and VGG-16), (n, feature_dim)."""
        return self.backbone(self.images(z))

    def score(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(z))

    def train(self, mode: bool = True) -> Backbone:
        super().train(mode)
        if self.freeze:
            self.backbone.eval()
        return self

    def parameter_groups(self, lr: float) -> list[dict]:
        head = {"params": list(self.head.parameters()), "lr": lr}
        if self.freeze:
            return [head]
        return [{"params": list(self.backbone.parameters()), "lr": lr * self.backbone_lr}, head]


class AlexNet(Backbone):
    arch = "alexnet"


class VGG16(Backbone):
    arch = "vgg16"


class ResNet18(Backbone):
    arch = "resnet18"


class ResNet50(Backbone):
    arch = "resnet50"
