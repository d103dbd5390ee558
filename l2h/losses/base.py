"""The contract of every hashing loss: ``loss(scores, targets)`` checks its inputs and calls ``compute_loss``.

``scores`` are an encoder's real outputs ``(n, bits)`` for a batch. What ``targets`` hold depends on the
family, declared by the class attribute ``fits``:

- ``"codes"``: target bits ``(n, bits)`` of ±1, with optional per-item, per-bit ``weights`` (GRH fits its
  hash functions to the codes its graph step refined);
- ``"labels"``: a float label matrix ``(n, classes)``, one-hot for class ids, multi-hot for multi-label data;
  pairwise losses call items sharing any label similar (the deep supervised losses).

A loss with state that depends on the data (hash centres, class codewords, a classifier head) builds it in
``setup(bits, classes)``; one with a schedule advances it in ``on_step(step)`` before each optimiser step (HashNet's
scale) or in ``on_epoch(epoch)`` at the start of each epoch. Trainable
parameters of a loss (a classifier head) are trained with the encoder's."""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar

import torch
from torch import nn

from l2h.errors import L2HError


class HashLoss(nn.Module):
    fits: ClassVar[str] = "labels"

    def setup(self, bits: int, classes: int | None) -> None:
        """Build data-dependent state before training; ``classes`` is None for unlabelled data."""
        self.bits = bits

    def on_epoch(self, epoch: int) -> None:
        """Advance a schedule at the start of each epoch (0-based)."""

    def on_step(self, step: int) -> None:
        """Advance a schedule before optimiser step ``step`` (0-based, counted over the whole fit)."""

    def forward(self, scores: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        if scores.ndim != 2 or targets.ndim != 2 or scores.shape[0] != targets.shape[0]:
            raise L2HError(f"{type(self).__name__} needs scores (n, bits) and targets (n, ...), got "
                           f"{tuple(scores.shape)} and {tuple(targets.shape)}")
        if self.fits == "codes" and targets.shape != scores.shape:
            raise L2HError(f"{type(self).__name__} fits target codes of the scores' shape, got "
                           f"{tuple(targets.shape)} for {tuple(scores.shape)}")
        if weights is not None and weights.shape != scores.shape:
            raise L2HError(f"weights of shape {tuple(weights.shape)} do not match scores {tuple(scores.shape)}")
        return self.compute_loss(scores, targets.to(scores.dtype), weights)

    @abstractmethod
    def compute_loss(self, scores: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
        """The mean loss of the batch (a scalar)."""
