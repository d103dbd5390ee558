"""Nearest-neighbour affinity for unlabelled data."""

from __future__ import annotations

import torch

from l2h.errors import L2HError
from l2h.graphs.base import AffinityGraph


class KNNGraph(AffinityGraph):
    """Unsupervised: each item's k nearest training items (cosine similarity), symmetrised, as a sparse matrix.
    Neighbours are found in blocks of rows, so memory is O(block x n + n k)."""

    needs_labels = False

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
