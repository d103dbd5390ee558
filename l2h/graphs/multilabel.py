"""Shared-label affinity for multi-label data."""

from __future__ import annotations

import torch

from l2h.errors import L2HError
from l2h.graphs.base import AffinityGraph
from l2h.losses.helpers import pairwise_similarity


class MultiLabelGraph(AffinityGraph):
    """Items sharing any label are neighbours. ``S = [Y Y^T > 0]`` does not factor, so ``S B`` is computed in
    blocks of rows: each block's (rows x n) indicator is formed, used and dropped, never the n x n matrix."""

    def __init__(self, block: int = 4096):
        self.block = block

    def build(self, features, labels):
        if labels is None or labels.ndim != 2:
            raise L2HError("the multi-label graph needs multi-hot labels (items x labels)")
        self.labels = torch.as_tensor(labels, device=features.device, dtype=features.dtype)
        self.degree = torch.cat([pairwise_similarity(self.labels[i:i + self.block], self.labels).sum(1)
                                 for i in range(0, len(self.labels), self.block)]).clamp_min(1)

    def propagate(self, codes):
        out = [pairwise_similarity(self.labels[i:i + self.block], self.labels).to(codes.dtype) @ codes
               for i in range(0, len(self.labels), self.block)]
        return torch.cat(out) / self.degree.unsqueeze(1)
