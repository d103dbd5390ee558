"""Partitioners: the per-bit hash functions GRH fits to its refined codes. A bit is 1 where its score is >= 0.

A new partitioner is a small subclass: a ``score`` giving one score per bit, ``hparams`` to rebuild it from a
checkpoint, and optionally its own ``regulariser``; the training loss is a class-weighted hinge on every bit.

``standardise=True`` gives every input dimension zero mean and unit variance over the training items before
scoring. L2-normalised descriptors such as GIST have tiny per-dimension scales, which otherwise leave a learned
partitioner's weight decay and learning rate fighting the data's units; the shift and scale travel in the
checkpoint."""

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

    def __init__(self, in_dim: int, bits: int, standardise: bool = False):
        super().__init__()
        if bits <= 0:
            raise L2HError(f"bits must be positive, got {bits}: set bits=16, 32 or 64")
        self.in_dim, self.bits, self.standardise = in_dim, bits, standardise
        if standardise:
            self.register_buffer("input_mean", torch.zeros(in_dim))
            self.register_buffer("input_scale", torch.ones(in_dim))

    def hparams(self) -> dict:
        """Constructor arguments, enough to rebuild this partitioner before loading its weights."""
        return {"in_dim": self.in_dim, "bits": self.bits, "standardise": self.standardise}

    @torch.no_grad()
    def fit_inputs(self, x: torch.Tensor) -> Partitioner:
        """Fit the input standardisation to the training features (a no-op unless ``standardise``)."""
        if self.standardise:
            self.input_mean.copy_(x.mean(0))
            self.input_scale.copy_(x.std(0).clamp_min(1e-8))  # a constant dimension stays as it is
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.standardise:
            x = (x - self.input_mean) / self.input_scale
        return self.score(x)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """One real-valued score per bit for (already standardised) inputs."""
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
    LSH's random hyperplanes and the tutorial's per-bit SVMs are stored in this form too."""

    def __init__(self, in_dim: int, bits: int, l2: float = 1e-4, bias: bool = True, standardise: bool = False):
        super().__init__(in_dim, bits, standardise)
        if l2 < 0:
            raise L2HError(f"partitioner l2 must be >= 0, got {l2}")
        self.l2, self.has_bias = float(l2), bias
        self.linear = nn.Linear(in_dim, bits, bias=bias)

    def hparams(self) -> dict:
        return {**super().hparams(), "l2": self.l2, "bias": self.has_bias}

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)

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
                 weight_decay: float = 1e-5, standardise: bool = False):
        super().__init__(in_dim, bits, standardise)
        if hidden <= 0 or depth < 0 or not 0 <= dropout < 1:
            raise L2HError(f"MLP needs hidden > 0, depth >= 0 and dropout in [0, 1), got {hidden}, {depth}, {dropout}")
        self.hidden, self.depth, self.dropout, self.weight_decay = hidden, depth, dropout, weight_decay
        layers, width = [], in_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, bits))
        self.net = nn.Sequential(*layers)

    def hparams(self) -> dict:
        return {**super().hparams(), "hidden": self.hidden, "depth": self.depth, "dropout": self.dropout,
                "weight_decay": self.weight_decay}

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def regulariser(self) -> torch.Tensor:
        weights = (p for name, p in self.named_parameters() if name.endswith("weight"))
        return 0.5 * self.weight_decay * sum(w.square().sum() for w in weights) / self.bits


class KernelSVM(Partitioner):
    """Linear SVMs on random Fourier features of an RBF kernel ``exp(-gamma * ||x - y||^2)`` (Rahimi & Recht,
    2007): the kernel partitioner of the GRH papers' best runs, at the cost of a matrix product. The random
    features are seeded buffers, so a checkpoint reproduces them exactly."""

    def __init__(self, in_dim: int, bits: int, features: int = 2048, gamma: float = 1.0, l2: float = 1e-4,
                 seed: int = 0, standardise: bool = False):
        super().__init__(in_dim, bits, standardise)
        if features <= 0 or gamma <= 0:
            raise L2HError(f"KernelSVM needs features > 0 and gamma > 0, got {features}, {gamma}")
        self.features, self.gamma, self.l2, self.seed = features, float(gamma), float(l2), seed
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("omega", torch.randn(in_dim, features, generator=g) * (2 * gamma) ** 0.5)
        self.register_buffer("phase", torch.rand(features, generator=g) * 2 * torch.pi)
        self.linear = nn.Linear(features, bits)

    def hparams(self) -> dict:
        return {**super().hparams(), "features": self.features, "gamma": self.gamma, "l2": self.l2, "seed": self.seed}

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.cos(x @ self.omega + self.phase) * (2 / self.features) ** 0.5)

    def regulariser(self) -> torch.Tensor:
        return 0.5 * self.l2 * self.linear.weight.square().sum() / self.bits


def build(name: str, hparams: dict) -> Partitioner:
    """Rebuild a partitioner by class name, as a checkpoint records it."""
    if name not in Partitioner.registry:
        raise L2HError(f"unknown partitioner {name!r}: this l2h knows {', '.join(Partitioner.registry)}")
    return Partitioner.registry[name](**hparams)
