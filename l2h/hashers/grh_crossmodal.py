"""Cross-modal Graph Regularised Hashing (after Moran & Lavrenko, Regularised Cross-Modal Hashing, SIGIR 2015).

One code per training item, shared by its two views, and one set of per-bit hash functions (partitioners) per
view. Each round:
  1. graph regularisation on the shared codes: ``B <- sgn(alpha * D^-1 S B + (1 - alpha) * B)``
     (:meth:`l2h.graphs.AffinityGraph.step`, the graph built over the items' two views together);
  2. data-space partitioning, per view: view a's partitioner and view b's are each fitted to the refined shared
     codes, by ``steps`` optimiser steps of the class-balanced hinge (GRH's own steps, warm-started across rounds).
The codes entering the next round are the two views' consensus, the sign of the sum of both partitioners' scores:
a bit on which the views disagree goes to the view surer of it. Round 0 starts from the LSH, PCA or ITQ codes of
the pair's joint features. Since both views' functions are fitted to the same codes, an item's code from view a
and its code from view b agree, and a query of either view searches a database of the other
(:class:`~l2h.encoders.views.TwoViews`).

Needs two-view data (``data.views=halves`` or ``data.features=[A,B]``): the run gives the split point through
``view_dims``. Rounds run to the end: there is no validation-based early stopping."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from l2h.codes import signs
from l2h.encoders.base import Encoder
from l2h.encoders.views import TwoViews
from l2h.errors import L2HError
from l2h.graphs.base import AffinityGraph
from l2h.hashers.grh import GRH
from l2h.hashers.initial_codes import bits_by_kind
from l2h.losses.base import HashLoss
from l2h.losses.hinge import balanced_weights


def require_views(view_dims, model: str) -> tuple[int, int]:
    """The split point of two-view data, or a one-line refusal naming the fix."""
    if view_dims is None:
        raise L2HError(f"model={model} hashes items with two views, and this data has one: set data.views=halves "
                       "(left and right image halves) or data.features=[A,B] (two arrays of the same items)")
    return int(view_dims[0]), int(view_dims[1])


class CrossModalGRH(GRH):
    def __init__(self, bits: int, partitioner: Callable[..., Encoder], graph: AffinityGraph | None = None,
                 loss: HashLoss | None = None, alpha: float = 1.0, rounds: int = 3, steps: int = 30,
                 lr: float = 0.1, batch_size: int | None = None, balance: bool = True, sign_first: bool = False,
                 init: str = "pca", seed: int = 0):
        super().__init__(bits, partitioner, graph, loss, alpha, rounds, steps, lr, batch_size, balance, sign_first,
                         init, seed=seed)
        self.view_dims: tuple[int, int] | None = None  # set by the run from the data (l2h.pipeline.train)

    def fit(self, features, labels=None, *, validation=None, trainer=None) -> TwoViews:
        cut, _ = require_views(self.view_dims, "grh_crossmodal")
        if self.supervised:
            labels = self.check_labels(labels)
        torch.manual_seed(self.seed)
        device = self.device
        x = np.ascontiguousarray(features, dtype=np.float32)
        views = [np.ascontiguousarray(x[:, :cut]), np.ascontiguousarray(x[:, cut:])]
        partitioners = [self._partitioner(v, device) for v in views]
        with torch.no_grad():
            embedded = [p.embed(torch.from_numpy(v).to(device)) for p, v in zip(partitioners, views)]
            self.graph.build(torch.from_numpy(x).to(device), labels)
            codes = torch.from_numpy(self._initial_codes(x).astype(np.float32)).to(device)
        optimisers = [torch.optim.Adam(p.parameters(), lr=self.lr) for p in partitioners]
        self.loss.setup(self.bits, None)
        self.history = {"initial_codes": bits_by_kind(self.bits, x.shape[1], self.init), "flipped": [],
                        "view_agreement": [], "batches": 0}
        for round_ in range(self.rounds):
            if round_ > 0:
                codes = self._consensus(partitioners, embedded)
            with torch.no_grad():
                refined = self.graph.step(codes, self.alpha, self.sign_first)
            self.history["flipped"].append((refined != codes).float().mean().item())
            weights = balanced_weights(refined) if self.balance else torch.ones_like(refined)
            for partitioner, optimiser, z in zip(partitioners, optimisers, embedded):
                self._gradient_steps(partitioner, optimiser, z, refined, weights)
            self.history["batches"] += 1  # _gradient_steps draws its mini-batches from this count
            self.history["view_agreement"].append(self._agreement(partitioners, embedded))
        return TwoViews([p.cpu().eval() for p in partitioners])

    @staticmethod
    @torch.no_grad()
    def _consensus(partitioners, embedded) -> torch.Tensor:
        for p in partitioners:
            p.eval()
        return signs(sum(p.score(z).float() for p, z in zip(partitioners, embedded)))

    @staticmethod
    @torch.no_grad()
    def _agreement(partitioners, embedded) -> float:
        """The fraction of training bits on which view a's code and view b's agree."""
        for p in partitioners:
            p.eval()
        a, b = (signs(p.score(z).float()) for p, z in zip(partitioners, embedded))
        return (a == b).float().mean().item()
