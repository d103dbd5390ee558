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


class MultiLabelGraph(AffinityGraph):
    """Items sharing any label are neighbours. ``S = [Y Y^T > 0]`` does not factor, so ``S B`` is computed in
    blocks of rows: each block's (rows x n) indicator is formed, used and dropped, never the n x n matrix."""

    def __init__(self, block: int = 4096):
        self.block = block

    def build(self, features, labels):
        if labels is None or labels.ndim != 2:
            raise L2HError("the multi-label graph needs multi-hot labels (items x labels)")
        self.labels = torch.as_tensor(labels, device=features.device, dtype=features.dtype)
        self.degree = torch.cat([(self.labels[i:i + self.block] @ self.labels.T > 0).sum(1)
                                 for i in range(0, len(self.labels), self.block)]).clamp_min(1).to(features.dtype)

    def propagate(self, codes):
        out = [((self.labels[i:i + self.block] @ self.labels.T > 0).to(codes.dtype)) @ codes
               for i in range(0, len(self.labels), self.block)]
        return torch.cat(out) / self.degree.unsqueeze(1)


class KNNGraph(AffinityGraph):
    """Unsupervised: each item's k nearest training items (cosine similarity), symmetrised, as a sparse matrix.
    Neighbours are found in blocks of rows, so memory is O(block x n + n k)."""

    def __init__(self, k: int = 10, block: int = 2048):
        if k < 1:
            raise L2HError(f"graph k must be at least 1, got {k}")
        self.k, self.block = k, block

    def build(self, features, labels=None):
        n = features.shape[0]
        k = min(self.k, n - 1) if n > 1 else 0
        unit = torch.nn.functional.normalize(features, dim=1)
        cols = []
        for i in range(0, n, self.block):
            sims = unit[i:i + self.block] @ unit.T
            rows = torch.arange(i, min(i + self.block, n), device=features.device)
            sims[rows - i, rows] = -torch.inf  # not its own neighbour (it is added back below)
            cols.append(sims.topk(k, dim=1).indices if k else sims[:, :0].long())
        cols = torch.cat(cols).reshape(-1)
        rows = torch.arange(n, device=features.device).repeat_interleave(k)
        self_loops = torch.arange(n, device=features.device)
        index = torch.stack([torch.cat([rows, cols, self_loops]), torch.cat([cols, rows, self_loops])])
        values = torch.ones(index.shape[1], device=features.device, dtype=features.dtype)
        adjacency = torch.sparse_coo_tensor(index, values, (n, n), check_invariants=False).coalesce()
        adjacency = torch.sparse_coo_tensor(adjacency.indices(), torch.ones_like(adjacency.values()), (n, n),
                                            check_invariants=False).coalesce()  # symmetric 0/1
        self.adjacency = adjacency
        self.inv_degree = (1.0 / torch.sparse.sum(adjacency, dim=1).to_dense()).unsqueeze(1)

    def propagate(self, codes):
        return self.inv_degree * torch.sparse.mm(self.adjacency, codes)
