"""Affinity graphs for GRH's regularisation step, ``B <- sgn(alpha * D^-1 S B + (1 - alpha) B)``.

A graph only has to multiply: ``propagate(B)`` returns ``D^-1 S B``, the mean code of each item's neighbours.
None of them forms the dense n x n matrix ``S``."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import torch

from l2h.errors import L2HError


class AffinityGraph(ABC):
    @abstractmethod
    def build(self, features: torch.Tensor, labels: np.ndarray | None) -> None:
        """Prepare the graph over the training items, on the device of ``features``."""

    @abstractmethod
    def propagate(self, codes: torch.Tensor) -> torch.Tensor:
        """Row-normalised affinity times codes: ``D^-1 S B`` for ``B`` of shape (n, bits)."""


class LabelGraph(AffinityGraph):
    """Items with the same class are neighbours (every item is its own neighbour). With one-hot labels ``Y``,
    ``S = Y Y^T`` and ``S B = Y (Y^T B)``: two sparse-dense products through a (classes x bits) matrix."""

    def build(self, features, labels):
        if labels is None:
            raise L2HError("the label graph needs labelled training data: use graph=knn for unlabelled data")
        if labels.ndim != 1:
            raise L2HError("the label graph takes one class per item: use the multi-label graph for multi-hot labels")
        device = features.device
        classes, index = np.unique(labels, return_inverse=True)
        n = labels.shape[0]
        rows = torch.arange(n, device=device)
        cols = torch.as_tensor(index, device=device)
        self.onehot = torch.sparse_coo_tensor(torch.stack([rows, cols]), torch.ones(n, device=device, dtype=features.dtype),
                                              (n, classes.size), check_invariants=False).coalesce()
        self.onehot_t = self.onehot.t().coalesce()
        degree = torch.bincount(cols, minlength=classes.size).to(features.dtype)
        self.inv_degree = (1.0 / degree[cols]).unsqueeze(1)

    def propagate(self, codes):
        return self.inv_degree * torch.sparse.mm(self.onehot, torch.sparse.mm(self.onehot_t, codes))
