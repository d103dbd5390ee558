"""Graph Regularised Hashing (Moran & Lavrenko, 2015).

Each round:
  1. graph regularisation: ``B <- sgn(alpha * D^-1 S B + (1 - alpha) * B)`` over the training items
     (:meth:`l2h.graphs.AffinityGraph.step`);
  2. data-space partitioning: every bit's hash function (the *partitioner*, any encoder) is fitted to its
     refined bits, all bits at once, by ``steps`` optimiser steps of the loss (the class-balanced hinge), on the
     full batch (``batch_size`` null) or on mini-batches.
The codes entering the next round are the hash functions' own predictions, as in the paper. Round 0 starts
from LSH, PCA or ITQ codes (PCA and ITQ for as many bits as the data have dimensions, LSH for the rest:
``history["initial_codes"]`` says how many bits each gave). A round is one Lightning epoch (:mod:`l2h.training.grh`).

With a validation split, each round ends with a validation mAP (every other validation item searched against
the rest, so neither side was fitted); early stopping ends the rounds when it has not risen for ``patience``
rounds, and the best round's hash functions are kept. Model selection never sees the test queries."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch

from l2h import checks
from l2h.encoders.base import Encoder, check_factory
from l2h.errors import L2HError
from l2h.graphs.base import AffinityGraph
from l2h.graphs.label import LabelGraph
from l2h.hashers.base import Hasher
from l2h.hashers.initial_codes import bits_by_kind, check_kind, initial_codes
from l2h.losses.base import HashLoss
from l2h.losses.hinge import Hinge


class GRH(Hasher):
    """GRH with a pluggable partitioner (any encoder), loss and affinity graph (constructor injection)."""

    # the defaults are model/grh_mlp.yaml's (the default model), chosen by validation mAP (docs/results/hparams.md)
    def __init__(self, bits: int, partitioner: Callable[..., Encoder], graph: AffinityGraph | None = None,
                 loss: HashLoss | None = None, alpha: float = 1.0, rounds: int = 1, steps: int = 150,
                 lr: float = 1e-3, batch_size: int | None = None, balance: bool = True, sign_first: bool = False,
                 init: str = "pca", patience: int = 2, seed: int = 0):
        super().__init__(bits, seed)
        if not 0 < alpha <= 1:
            raise L2HError(f"GRH alpha must be in (0, 1], got {alpha}: the papers search 0.1 .. 1")
        if not isinstance(rounds, int) or not isinstance(steps, int) or rounds < 1 or steps < 1:
            raise L2HError(f"GRH needs rounds >= 1 and steps >= 1, got rounds={rounds}, steps={steps}")
        checks.positive("GRH batch_size", batch_size, allow_none=True)
        checks.positive("GRH patience", patience)
        if not lr > 0:
            raise L2HError(f"GRH lr must be positive, got {lr}")
        self.loss = loss or Hinge()
        if self.loss.fits != "codes":
            raise L2HError(f"GRH fits its hash functions to codes, and {type(self.loss).__name__} fits labels: "
                           "use a code loss such as l2h.losses.Hinge")
        check_factory(partitioner, bits)
        self.make_partitioner, self.graph = partitioner, graph or LabelGraph()
        self.alpha, self.rounds, self.steps, self.lr = alpha, rounds, steps, lr
        self.batch_size, self.balance, self.sign_first = batch_size, balance, sign_first
        self.init, self.patience = check_kind(init), patience

    @property
    def supervised(self) -> bool:  # the k-NN graph needs no labels
        return getattr(self.graph, "needs_labels", True)

    def fit(self, features, labels=None, *, validation=None, trainer=None) -> Encoder:
        import pytorch_lightning as pl

        from l2h.training import trainer as training
        from l2h.training.callbacks import RestoreBest
        from l2h.training.data import SplitData
        from l2h.training.grh import GRHModule

        torch.manual_seed(self.seed)
        features = np.ascontiguousarray(features, dtype=np.float32)
        initial = initial_codes(features, self.bits, self.init, self.random_hyperplanes(features.shape[1]),
                                seed=self.seed)
        partitioner = self.make_partitioner(in_dim=features.shape[1], bits=self.bits)
        # anchors are training items, and each can be fitted through its own kernel value: with most items
        # anchors the partitioner memorises them instead of learning the classes
        most_anchors = max(1, len(features) // 2)
        if partitioner.anchors > most_anchors:
            logging.getLogger(__name__).info("%d training items: the partitioner's %d anchors lowered to %d, half of "
                                             "them", len(features), partitioner.anchors, most_anchors)
            partitioner = type(partitioner)(**{**partitioner.hparams(), "anchors": most_anchors})
        partitioner.fit_inputs(torch.from_numpy(features))
        if labels is None or validation is None:
            validation = None
        data = SplitData(features, labels, validation, batch_size=self.batch_size, steps=self.steps,
                         seed=self.seed, rows_only=True)
        module = GRHModule(partitioner, self.loss, self.graph, initial, self.alpha, self.sign_first, self.lr,
                           self.balance)
        callbacks = []
        if validation is not None:
            callbacks = [pl.callbacks.EarlyStopping("val_map", mode="max", patience=self.patience),
                         RestoreBest("val_map")]
        training.fit(module, data, trainer, self.rounds, callbacks)
        best = callbacks[1].best_epoch + 1 if callbacks and callbacks[1].best_epoch is not None else len(module.flipped)
        self.history = {"initial_codes": bits_by_kind(self.bits, features.shape[1], self.init),
                        "flipped": module.flipped, "val_map": module.val_map, "best_round": best}
        return partitioner.cpu().eval()
