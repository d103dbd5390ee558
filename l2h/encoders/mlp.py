"""A multilayer perceptron shared by all bits: ``depth`` hidden layers of ``hidden`` units, ReLU, dropout."""

from __future__ import annotations

import torch
from torch import nn

from l2h.encoders.base import Encoder
from l2h.errors import L2HError


class MLP(Encoder):
    def __init__(self, in_dim: int, bits: int, hidden: int = 1024, depth: int = 1, dropout: float = 0.1,
                 weight_decay: float = 1e-5, **input_map):
        super().__init__(in_dim, bits, **input_map)
        if not isinstance(hidden, int) or hidden <= 0 or not isinstance(depth, int) or depth < 0 \
                or not 0 <= dropout < 1 or not weight_decay >= 0:
            raise L2HError(f"MLP needs hidden > 0, depth >= 0, dropout in [0, 1) and weight_decay >= 0, got "
                           f"{hidden}, {depth}, {dropout}, {weight_decay}")
        self.hidden, self.depth, self.dropout, self.weight_decay = hidden, depth, float(dropout), float(weight_decay)
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
        weights = (p for name, p in self.net.named_parameters() if name.endswith("weight"))
        return 0.5 * self.weight_decay * sum(w.square().sum() for w in weights) / self.bits
