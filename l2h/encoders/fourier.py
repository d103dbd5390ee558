"""Linear hash functions on random Fourier features of an RBF kernel ``exp(-gamma * ||x - y||^2)`` (Rahimi &
Recht, 2007): a kernel SVM that needs no anchors from the data, only ``gamma``. The random features are seeded
buffers, so a checkpoint reproduces them exactly."""

from __future__ import annotations

import torch
from torch import nn

from l2h.encoders.base import Encoder
from l2h.errors import L2HError


class RandomFourier(Encoder):
    def __init__(self, in_dim: int, bits: int, features: int = 2048, gamma: float = 1.0, l2: float = 1e-4,
                 **input_map):
        super().__init__(in_dim, bits, **input_map)
        if not isinstance(features, int) or features <= 0 or not gamma > 0 or not l2 >= 0:
            raise L2HError(f"random Fourier features need features > 0, gamma > 0 and l2 >= 0, got {features}, "
                           f"{gamma}, {l2}")
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


# the name of l2h's first releases, kept for user code: the map is random Fourier features (an approximation of
# an RBF kernel), and a kernel SVM only once trained by the hinge; configs name RandomFourier
KernelSVM = RandomFourier
