"""A small convolutional network trained from scratch on raw images (MNIST's 28 x 28 x 1, CIFAR's 32 x 32 x 3).

Items arrive as flattened rows (preprocessed like every feature vector: L2-normalised, training mean subtracted)
and are reshaped to ``image_shape = (channels, height, width)``. Each entry of ``channels`` is a block
``conv 3x3 -> batch norm -> ReLU -> max-pool 2x2`` (no pooling once the map is a single pixel wide), then a
hidden layer of ``hidden`` units with ReLU and dropout (``hidden: 0``: none) and a linear layer to one score
per bit. The pixels are first divided by one scale, their standard deviation over the training items (fitted
with the input map, kept in the checkpoint): preprocessed rows have tiny values, and batch norm's running
statistics start at unit variance.

``image_shape`` None takes a square single-channel image (in_dim must be a square, as MNIST's 784); any other
input size must name its shape. The network reads the pixels directly: its input map is the identity."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from l2h.encoders.base import Encoder
from l2h.errors import L2HError


def image_shape_for(in_dim: int, image_shape) -> tuple[int, int, int]:
    """(channels, height, width) of ``in_dim``-dimensional rows: the given shape, checked, or a square grey image."""
    if image_shape is None:
        side = math.isqrt(in_dim)
        if side * side != in_dim:
            raise L2HError(f"the CNN cannot tell the image shape of {in_dim}-dimensional items: set "
                           "encoder.image_shape=[channels,height,width] (e.g. [3,32,32]), or use encoder=mlp for "
                           "feature vectors")
        return 1, side, side
    shape = tuple(image_shape) if isinstance(image_shape, Sequence) and not isinstance(image_shape, str) else ()
    if len(shape) != 3 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        raise L2HError(f"image_shape must be three positive integers (channels, height, width), got {image_shape!r}")
    if math.prod(shape) != in_dim:
        raise L2HError(f"image_shape {list(shape)} holds {math.prod(shape)} values but the items have {in_dim}: "
                       "give the shape of the data's images")
    return shape


class ImageEncoder(Encoder):
    """An encoder that reads rows as images of ``image_shape`` divided by ``pixel_scale`` (a buffer the subclass
    registers): the pixels' standard deviation over the training items, fitted with the input map."""

    image_shape: tuple[int, int, int]

    @torch.no_grad()
    def fit_inputs(self, x: torch.Tensor) -> ImageEncoder:
        super().fit_inputs(x)
        self.pixel_scale.fill_(float(x.float().std().clamp_min(1e-12)) if x.numel() > 1 else 1.0)
        return self

    def pixels(self, z: torch.Tensor) -> torch.Tensor:
        """Rows as scaled images, (n, channels, height, width)."""
        return z.reshape(z.shape[0], *self.image_shape) / self.pixel_scale


class CNN(ImageEncoder):
    def __init__(self, in_dim: int, bits: int, image_shape: list[int] | tuple[int, ...] | None = None,
                 channels: list[int] | tuple[int, ...] = (16, 32), hidden: int = 512, dropout: float = 0.3,
                 weight_decay: float = 0.0, seed: int = 0):
        super().__init__(in_dim, bits, seed=seed)
        shape = image_shape_for(in_dim, image_shape)
        channels = list(channels) if isinstance(channels, Sequence) and not isinstance(channels, str) else channels
        if not isinstance(channels, list) or not channels or \
                not all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in channels):
            raise L2HError(f"CNN channels must be a non-empty list of positive integers, got {channels!r}")
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 0:
            raise L2HError(f"CNN hidden must be an integer >= 0 (0: no hidden layer), got {hidden!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise L2HError(f"CNN dropout must be in [0, 1), got {dropout!r}")
        if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)) or not weight_decay >= 0:
            raise L2HError(f"CNN weight_decay must be >= 0, got {weight_decay!r}")
        self.image_shape, self.channels = shape, channels
        self.hidden, self.dropout, self.weight_decay = hidden, float(dropout), float(weight_decay)
        layers, (c, h, w) = [], shape
        for out in channels:
            layers += [nn.Conv2d(c, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
            if h >= 2 and w >= 2:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            c = out
        self.features = nn.Sequential(*layers)
        self.register_buffer("pixel_scale", torch.ones(()))
        head, width = [nn.Flatten()], c * h * w
        if hidden:
            head += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        head.append(nn.Linear(width, bits))
        self.head = nn.Sequential(*head)

    def hparams(self) -> dict:
        return {"in_dim": self.in_dim, "bits": self.bits, "image_shape": list(self.image_shape),
                "channels": list(self.channels), "hidden": self.hidden, "dropout": self.dropout,
                "weight_decay": self.weight_decay, "seed": self.seed}

    def score(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.pixels(z)))

    def regulariser(self) -> torch.Tensor:
        if not self.weight_decay:
            return torch.zeros((), device=self.device)
        weights = (p for name, p in self.named_parameters() if name.endswith("weight") and p.ndim > 1)
        return 0.5 * self.weight_decay * sum(w.square().sum() for w in weights) / self.bits
