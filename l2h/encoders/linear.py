"""Linear hash functions: one hyperplane per bit, ``score = W z + b``.

Trained by GRH's hinge loss they are all bits' linear SVMs at once (``l2`` is the SVM's regularisation:
``C = 1 / (l2 * n)`` for n training items); LSH, PCAH, ITQ and the tutorial's per-bit SVMs install their
hyperplanes directly. On the anchor-kernel input map (``anchors``) they are kernel SVMs / kernel hash
functions (KSH, SDH)."""

from __future__ import annotations

import torch
from torch import nn

from l2h.encoders.base import Encoder
from l2h.errors import L2HError


class Linear(Encoder):
    def __init__(self, in_dim: int, bits: int, l2: float = 1e-4, bias: bool = True, **input_map):
        super().__init__(in_dim, bits, **input_map)
        if not l2 >= 0:
            raise L2HError(f"encoder l2 must be >= 0, got {l2}")
        self.l2, self.has_bias = float(l2), bool(bias)
        self.linear = nn.Linear(self.embed_dim, bits, bias=bias)

    def hparams(self) -> dict:
        return {**super().hparams(), "l2": self.l2, "bias": self.has_bias}

    def score(self, z: torch.Tensor) -> torch.Tensor:
        return self.linear(z)

    def regulariser(self) -> torch.Tensor:
        return 0.5 * self.l2 * self.linear.weight.square().sum() / self.bits

    def set_hyperplanes(self, weight, bias=None) -> Linear:
        """Install given hyperplanes: ``weight`` (embed_dim, bits) as columns, ``bias`` (bits,): a bit is 1 where
        ``z @ weight + bias >= 0``."""
        weight = torch.as_tensor(weight, dtype=torch.float32)
        if weight.shape != (self.embed_dim, self.bits):
            raise L2HError(f"hyperplanes of shape {tuple(weight.shape)} do not fit an encoder of "
                           f"{self.embed_dim} inputs and {self.bits} bits")
        with torch.no_grad():
            self.linear.weight.copy_(weight.T)
            if self.has_bias:
                self.linear.bias.copy_(torch.zeros(self.bits) if bias is None else torch.as_tensor(bias))
            elif bias is not None:
                raise L2HError("this encoder has no bias: build it with bias=True")
        return self


# the name of l2h's first releases, kept for user code: a Linear encoder is an SVM per bit only once trained by
# GRH's hinge; configs name Linear
LinearSVM = Linear
