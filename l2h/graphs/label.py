"""Same-class affinity for single-label data."""

from __future__ import annotations

import numpy as np
import torch

from l2h.errors import L2HError
from l2h.graphs.base import AffinityGraph


class LabelGraph(AffinityGraph):
    """Items with the same class are neighbours (every item is its own neighbour). With one-hot labels ``Y``,
    ``S = Y Y^T`` and ``S B = Y (Y^T B)``: two sparse-dense products through a (classes x bits) matrix."""

    def build(self, features, labels):
        if labels is None:
            raise L2HError("the label graph needs labelled training data: for unlabelled data set "
                           "model.graph._target_=l2h.graphs.KNNGraph")
        if labels.ndim != 1:
            raise L2HError("the label graph takes one class per item: for multi-hot labels set "
                           "model.graph._target_=l2h.graphs.MultiLabelGraph")
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
