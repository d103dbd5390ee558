"""A multilayer perceptron shared by all bits: ``depth`` hidden layers of ``hidden`` units, ReLU, dropout."""

from __future__ import annotations

import torch
from torch import nn

from l2h.encoders.base import Encoder
from l2h.errors import L2HError


class MLP(Encoder):
    # the defaults are encoder/mlp.yaml's, chosen by validation mAP on CIFAR-10 GIST (docs/results/hparams.md)
    def __init__(self, in_dim: int, bits: int, hidden: int = 2048, depth: int = 1, dropout: float = 0.5,
                 weight_decay: float = 1e-4, anchors: int = 2000, kernel_width: float = 0.7, **input_map):
        super().__init__(in_dim, bits, anchors=anchors, kernel_width=kernel_width, **input_map)
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
