"""Affinity graphs for GRH's regularisation step, ``B <- sgn(alpha * D^-1 S B + (1 - alpha) B)``.

A graph only has to multiply: ``propagate(B)`` returns ``D^-1 S B``, the mean code of each item's neighbours.
None of them forms the dense n x n matrix ``S``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import torch


class AffinityGraph(ABC):
    #: whether ``build`` needs the training items' labels
    needs_labels: ClassVar[bool] = True

    @abstractmethod
    def build(self, features: torch.Tensor, labels: np.ndarray | None) -> None:
        """Prepare the graph over the training items, on the device of ``features``."""

    @abstractmethod
    def propagate(self, codes: torch.Tensor) -> torch.Tensor:
        """Row-normalised affinity times codes: ``D^-1 S B`` for ``B`` of shape (n, bits)."""
