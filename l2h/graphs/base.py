"""Affinity graphs and GRH's graph step, ``B <- sgn(alpha * D^-1 S B + (1 - alpha) B)`` (:meth:`AffinityGraph.step`),
shared by GRH and the tutorial's GRH.

A graph only has to multiply: ``propagate(B)`` returns ``D^-1 S B``, the mean code of each item's neighbours.
None of them forms the dense n x n matrix ``S``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import torch

from l2h.codes import signs


class AffinityGraph(ABC):
    #: whether ``build`` needs the training items' labels
    needs_labels: ClassVar[bool] = True

    @abstractmethod
    def build(self, features: torch.Tensor, labels: np.ndarray | None) -> None:
        """Prepare the graph over the training items, on the device of ``features``."""

    @abstractmethod
    def propagate(self, codes: torch.Tensor) -> torch.Tensor:
        """Row-normalised affinity times codes: ``D^-1 S B`` for ``B`` of shape (n, bits)."""

    def step(self, codes: torch.Tensor, alpha: float, sign_first: bool = False) -> torch.Tensor:
        """One graph step on ±1 codes (n, bits): each bit moves to the sign of ``alpha`` times its neighbours' mean
        plus ``1 - alpha`` times itself (alpha must exceed 0.5 to flip a bit). ``sign_first`` signs the neighbours'
        mean before mixing, as the tutorial does; with alpha < 0.5 the item's own bit then always wins."""
        neighbours = self.propagate(codes)
        if sign_first:
            neighbours = signs(neighbours)
        return signs(alpha * neighbours + (1 - alpha) * codes)
