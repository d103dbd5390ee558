"""What an image goes through between its file and the network: the ``transform`` config group.

Every image is decoded to 8-bit RGB, channels first ``(3, h, w)``; a transform then makes it a float32 image of a
fixed size. Each has two forms: ``train`` (random crops and flips, the augmentation of the field's training
runs, drawn anew each time an item is read) and ``eval`` (deterministic: what evaluation, ``index.py`` and
``search.py`` encode, and what the model sees of each item outside training).

- ``none``: the pixels as they are, 0 to 255 (as CIFAR-10 and MNIST arrays give them today); every image must
  have the same size
- ``small``: 28-32 pixel images (CIFAR-10, MNIST as files): resized to 32, training crops of 32 from the image
  padded by 4, horizontal flips, ImageNet normalisation
- ``imagenet``: the deep hashing field's (DeepHash-pytorch, HashNet, CSQ): resized to 256 (the shorter side),
  training crops of 224 at random places and horizontal flips, evaluation crops of 224 in the centre, ImageNet
  normalisation

The operations are torchvision's (``Resize``, ``RandomCrop``, ``CenterCrop``, ``RandomHorizontalFlip``,
``Normalize``), written here in torch: PyPI's torchvision is a CUDA build that cannot load beside a CPU-only torch
(see :mod:`l2h.encoders.backbones_nets`). Random choices draw from torch's generator, which PyTorch seeds in every
DataLoader worker."""

from __future__ import annotations

import torch

from l2h import checks
from l2h.errors import L2HError

# the per-channel mean and standard deviation of ImageNet's RGB pixels in [0, 1], which torchvision's pretrained
# backbones expect
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageTransform:
    """``resize``: the shorter side's length after resizing (None: no resizing); ``crop``: the side of the square
    crop (random in training, central in evaluation; None: none); ``pad``: pixels of zeros around the image before
    a training crop; ``flip``: horizontal flips at random in training; ``normalise``: pixels scaled to [0, 1] and
    standardised by ImageNet's mean and standard deviation (False: kept at 0 to 255). Every setting is given by
    the ``transform`` group's presets (none, small, imagenet)."""

    def __init__(self, name: str, resize: int | None, crop: int | None, pad: int, flip: bool, normalise: bool):
        if not isinstance(name, str) or not name:
            raise L2HError(f"transform.name must be a name, got {name!r}")
        self.name = name
        self.resize = None if resize is None else checks.integer("transform.resize", resize)
        self.crop = None if crop is None else checks.integer("transform.crop", crop)
        self.pad = checks.integer("transform.pad", pad, minimum=0)
        self.flip = checks.boolean("transform.flip", flip)
        self.normalise = checks.boolean("transform.normalise", normalise)
        if self.pad and self.crop is None:
            raise L2HError("transform.pad pads the image before a training crop: give transform.crop too")

    def __repr__(self) -> str:
        return (f"ImageTransform({self.name!r}, resize={self.resize}, crop={self.crop}, pad={self.pad}, "
                f"flip={self.flip}, normalise={self.normalise})")

    @property
    def random(self) -> bool:
        """Whether training views differ from the evaluation view (random crops or flips)."""
        return self.flip or self.crop is not None

    def __call__(self, image: torch.Tensor, train: bool = False) -> torch.Tensor:
        """``image``: uint8 ``(3, h, w)``; the float32 image the network sees, a random training view when
        ``train``."""
        x = image.to(torch.float32)
        if self.resize is not None:
            x = resize(x, self.resize)
        if self.crop is not None:
            x = random_crop(x, self.crop, self.pad) if train else centre_crop(x, self.crop)
        if train and self.flip and torch.rand(()) < 0.5:
            x = x.flip(-1)
        if self.normalise:
            mean, std = (torch.tensor(v, dtype=torch.float32).view(3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
            x = (x / 255 - mean) / std
        return x.contiguous()


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """The shorter side to ``size`` pixels, the other in proportion (rounded down), bilinear with antialiasing
    when shrinking: torchvision's ``Resize(size)``."""
    h, w = x.shape[-2:]
    short, long = (h, w) if h <= w else (w, h)
    if short == size:
        return x
    other = int(size * long / short)
    shape = (size, other) if h <= w else (other, size)
    return torch.nn.functional.interpolate(x[None], size=shape, mode="bilinear", align_corners=False,
                                           antialias=True)[0]


def centre_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """The central ``size`` x ``size`` square (torchvision's ``CenterCrop``); an image smaller than that is refused."""
    h, w = x.shape[-2:]
    _check_fits(h, w, size)
    top, left = int(round((h - size) / 2)), int(round((w - size) / 2))
    return x[..., top:top + size, left:left + size]


def random_crop(x: torch.Tensor, size: int, pad: int = 0) -> torch.Tensor:
    """A ``size`` x ``size`` square at a random place of the image padded with ``pad`` zeros on every side
    (torchvision's ``RandomCrop(size, padding=pad)``)."""
    if pad:
        x = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    h, w = x.shape[-2:]
    _check_fits(h, w, size)
    top, left = (int(torch.randint(0, n - size + 1, ())) for n in (h, w))
    return x[..., top:top + size, left:left + size]


def _check_fits(h: int, w: int, size: int) -> None:
    if h < size or w < size:
        raise L2HError(f"an image of {h} x {w} pixels is smaller than transform.crop={size}: set transform.resize to "
                       "at least the crop")
