"""Partitioners: the per-bit hash functions GRH fits to its refined codes. A bit is 1 where its score is >= 0.

A partitioner is a fixed feature map ``embed`` (no trainable parameters) followed by a trainable ``score``, one
score per bit. GRH embeds the training items once per fit and trains ``score`` on the result, so a costly map is
paid once, not at every optimiser step. A new partitioner is a small subclass: a ``score`` on ``embed_dim``
inputs, ``hparams`` to rebuild it from a checkpoint, optionally its own ``regulariser``; the training loss is a
class-weighted hinge on every bit.

The fixed map, fitted to the training items by ``fit_inputs`` and carried in the checkpoint:
- ``standardise=True``: every input dimension gets zero mean and unit variance. L2-normalised descriptors such as
  GIST have tiny per-dimension scales, which otherwise leave weight decay and learning rate fighting the units.
- ``anchors=m``: the input becomes its RBF kernel values ``exp(-gamma ||x - a||^2)`` to m anchors drawn from the
  training items, each standardised over them; ``gamma = 1 / (2 sigma^2)`` with ``sigma = kernel_width *`` the
  training items' mean distance to their nearest anchor other than themselves. A linear SVM on this map is the
  anchor-kernel SVM of the GRH papers' best runs; an MLP on it learns a kernel machine's features further."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from l2h.errors import L2HError


class Partitioner(nn.Module):
    registry: ClassVar[dict[str, type[Partitioner]]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        Partitioner.registry[cls.__name__] = cls

    def __init__(self, in_dim: int, bits: int, standardise: bool = False, anchors: int = 0,
                 kernel_width: float = 1.0, seed: int = 0):
        super().__init__()
        if bits <= 0:
            raise L2HError(f"bits must be positive, got {bits}: set bits=16, 32 or 64")
        if anchors < 0 or kernel_width <= 0:
            raise L2HError(f"a partitioner needs anchors >= 0 and kernel_width > 0, got {anchors}, {kernel_width}")
        self.in_dim, self.bits, self.standardise, self.seed = in_dim, bits, standardise, seed
        self.anchors, self.kernel_width = anchors, float(kernel_width)
        self.embed_dim = anchors or in_dim
        if standardise:
            self.register_buffer("input_mean", torch.zeros(in_dim))
            self.register_buffer("input_scale", torch.ones(in_dim))
        if anchors:
            self.register_buffer("anchor_points", torch.zeros(anchors, in_dim))
            self.register_buffer("kernel_gamma", torch.tensor(1.0))
            self.register_buffer("kernel_mean", torch.zeros(anchors))
            self.register_buffer("kernel_scale", torch.ones(anchors))

    def hparams(self) -> dict:
        """Constructor arguments, enough to rebuild this partitioner before loading its weights."""
        return {"in_dim": self.in_dim, "bits": self.bits, "standardise": self.standardise, "anchors": self.anchors,
                "kernel_width": self.kernel_width, "seed": self.seed}

    @torch.no_grad()
    def fit_inputs(self, x: torch.Tensor) -> Partitioner:
        """Fit the fixed feature map (standardisation, anchors) to the training features."""
        if self.standardise:
            self.input_mean.copy_(x.mean(0))
            self.input_scale.copy_(x.std(0).clamp_min(1e-8))  # a constant dimension stays as it is
        if self.anchors:
            if self.anchors > x.shape[0]:
                raise L2HError(f"the partitioner wants {self.anchors} anchors but there are only {x.shape[0]} "
                               f"training items: lower model.partitioner.anchors")
            x = self._standardised(x)
            pick = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(self.seed))[:self.anchors]
            self.anchor_points.copy_(x[pick])
            nearest = torch.cat([self._nearest_other_anchor(block) for block in x.split(8192)])
            nearest = nearest[torch.isfinite(nearest)]
            if nearest.numel() == 0:  # every item sits on every anchor
                raise L2HError("cannot set the kernel width: the training items are all identical")
            sigma = self.kernel_width * nearest.sqrt().mean().item()
            self.kernel_gamma.fill_(1 / (2 * sigma ** 2))
            rbf = torch.cat([self._rbf(block) for block in x.split(8192)])
            self.kernel_mean.copy_(rbf.mean(0))
            self.kernel_scale.copy_(rbf.std(0).clamp_min(1e-8))
        return self

    def _standardised(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.input_mean) / self.input_scale if self.standardise else x

    def _squared_distances(self, x: torch.Tensor) -> torch.Tensor:
        a = self.anchor_points
        return ((x * x).sum(1, keepdim=True) - 2 * x @ a.T + (a * a).sum(1)).clamp_min(0)

    def _nearest_other_anchor(self, x: torch.Tensor) -> torch.Tensor:
        """Squared distance to the nearest anchor that is not the item itself (an anchor is at distance 0)."""
        d = self._squared_distances(x)
        return d.masked_fill(d <= 1e-12, float("inf")).min(1).values

    def _rbf(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(-self.kernel_gamma * self._squared_distances(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score(self.embed(x))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The fixed feature map the trainable ``score`` sees, (n, embed_dim)."""
        x = self._standardised(x)
        return (self._rbf(x) - self.kernel_mean) / self.kernel_scale if self.anchors else x

    def score(self, z: torch.Tensor) -> torch.Tensor:
        """One real-valued score per bit for embedded inputs."""
        raise NotImplementedError

    def regulariser(self) -> torch.Tensor:
        return torch.zeros((), device=next(self.parameters()).device)

    def loss(self, scores: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Weighted hinge loss of every bit: ``mean(w * max(0, 1 - b * score))`` plus the regulariser."""
        hinge = torch.clamp_min(1 - targets * scores, 0)
        return (weights * hinge).sum() / scores.shape[0] / self.bits + self.regulariser()


class LinearSVM(Partitioner):
    """One hyperplane per bit, all bits trained together as linear SVMs: mean hinge loss plus
    ``l2 / 2 * ||w||^2`` per bit (the SVM's ``C`` is ``1 / (l2 * n)`` for n training items).
    LSH's random hyperplanes and the tutorial's per-bit SVMs are stored in this form too. With ``anchors`` the
    hyperplanes live in the anchor-kernel space: a kernel SVM."""

    def __init__(self, in_dim: int, bits: int, l2: float = 1e-4, bias: bool = True, **feature_map):
        super().__init__(in_dim, bits, **feature_map)
        if l2 < 0:
            raise L2HError(f"partitioner l2 must be >= 0, got {l2}")
        self.l2, self.has_bias = float(l2), bias
        self.linear = nn.Linear(self.embed_dim, bits, bias=bias)

    def hparams(self) -> dict:
        return {**super().hparams(), "l2": self.l2, "bias": self.has_bias}

    def score(self, z: torch.Tensor) -> torch.Tensor:
        return self.linear(z)

    def regulariser(self) -> torch.Tensor:
        return 0.5 * self.l2 * self.linear.weight.square().sum() / self.bits

    def set_hyperplanes(self, weight: torch.Tensor, bias: torch.Tensor | None = None) -> LinearSVM:
        """Install given hyperplanes, (in_dim, bits) columns as the tutorial stores them."""
        with torch.no_grad():
            self.linear.weight.copy_(torch.as_tensor(weight, dtype=torch.float32).T)
            if self.has_bias:
                self.linear.bias.copy_(torch.zeros(self.bits) if bias is None else torch.as_tensor(bias))
        return self


class MLP(Partitioner):
    """A multilayer perceptron shared by all bits: ``depth`` hidden layers of ``hidden`` units, ReLU, dropout."""

    def __init__(self, in_dim: int, bits: int, hidden: int = 1024, depth: int = 1, dropout: float = 0.1,
                 weight_decay: float = 1e-5, **feature_map):
        super().__init__(in_dim, bits, **feature_map)
        if hidden <= 0 or depth < 0 or not 0 <= dropout < 1:
            raise L2HError(f"MLP needs hidden > 0, depth >= 0 and dropout in [0, 1), got {hidden}, {depth}, {dropout}")
        self.hidden, self.depth, self.dropout, self.weight_decay = hidden, depth, dropout, weight_decay
        layers, width = [], self.embed_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, bits))
        self.net = nn.Sequential(*layers)

    def hparams(self) -> dict:
        return {**super().hparams(), "hidden": self.hidden, "depth": self.depth, "dropout": self.dropout,
                "weight_decay": self.weight_decay}

    def score(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)

    def regulariser(self) -> torch.Tensor:
        weights = (p for name, p in self.named_parameters() if name.endswith("weight"))
        return 0.5 * self.weight_decay * sum(w.square().sum() for w in weights) / self.bits


class KernelSVM(Partitioner):
    """Linear SVMs on random Fourier features of an RBF kernel ``exp(-gamma * ||x - y||^2)`` (Rahimi & Recht,
    2007): a kernel SVM that needs no anchors from the data, only ``gamma``. The random features are seeded
    buffers, so a checkpoint reproduces them exactly. (A linear SVM with ``anchors`` is the other kernel SVM.)"""

    def __init__(self, in_dim: int, bits: int, features: int = 2048, gamma: float = 1.0, l2: float = 1e-4,
                 **feature_map):
        super().__init__(in_dim, bits, **feature_map)
        if features <= 0 or gamma <= 0:
            raise L2HError(f"KernelSVM needs features > 0 and gamma > 0, got {features}, {gamma}")
        self.features, self.gamma, self.l2 = features, float(gamma), float(l2)
        g = torch.Generator().manual_seed(self.seed)
        self.register_buffer("omega", torch.randn(self.embed_dim, features, generator=g) * (2 * gamma) ** 0.5)
        self.register_buffer("phase", torch.rand(features, generator=g) * 2 * torch.pi)
        self.linear = nn.Linear(features, bits)

    def hparams(self) -> dict:
        return {**super().hparams(), "features": self.features, "gamma": self.gamma, "l2": self.l2}

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cos(super().embed(x) @ self.omega + self.phase) * (2 / self.features) ** 0.5

    def score(self, z: torch.Tensor) -> torch.Tensor:
        return self.linear(z)

    def regulariser(self) -> torch.Tensor:
        return 0.5 * self.l2 * self.linear.weight.square().sum() / self.bits


def build(name: str, hparams: dict) -> Partitioner:
    """Rebuild a partitioner by class name, as a checkpoint records it."""
    if name not in Partitioner.registry:
        raise L2HError(f"unknown partitioner {name!r}: this l2h knows {', '.join(Partitioner.registry)}")
    return Partitioner.registry[name](**hparams)
