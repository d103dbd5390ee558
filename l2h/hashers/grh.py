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
rounds, and the best round's hash functions are kept. Model selection never sees the test queries.

Online (:meth:`GRH.partial_fit`, one labelled batch at a time): the graph step runs on the batch's own graph,
from the batch's codes under the current hash functions (under ``init`` for the first batch, which also fits the
partitioner's input map), and the partitioner then moves towards the refined codes: ``steps`` optimiser steps
(the same steps as one round of :meth:`GRH.fit`, optimiser state kept between batches), or, for a partitioner
with its own ``online_update`` (:class:`~l2h.hashers.passive_aggressive.PassiveAggressive`), one update per item
in order. Nothing is kept of earlier batches but the hash functions (and the optimiser's state). ``fit`` with
such a partitioner is ``rounds`` passes of ``partial_fit`` over all the training items."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable

import numpy as np
import torch

from l2h import checks
from l2h import codes as codes_mod
from l2h.codes import signs
from l2h.devices import trainer_device
from l2h.encoders.base import Encoder, check_factory
from l2h.errors import L2HError
from l2h.graphs.base import AffinityGraph
from l2h.graphs.label import LabelGraph
from l2h.hashers.base import Hasher
from l2h.hashers.initial_codes import bits_by_kind, check_kind, initial_codes
from l2h.losses.base import HashLoss
from l2h.losses.hinge import Hinge, balanced_weights


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
        self._online: tuple[Encoder, torch.optim.Optimizer | None] | None = None  # partial_fit's state

    @property
    def supervised(self) -> bool:  # the k-NN graph needs no labels
        return getattr(self.graph, "needs_labels", True)

    def fit(self, features, labels=None, *, validation=None, trainer=None) -> Encoder:
        import pytorch_lightning as pl

        from l2h.training import trainer as training
        from l2h.training.callbacks import RestoreBest
        from l2h.training.data import SplitData
        from l2h.training.grh import GRHModule

        self._online = None  # fit starts afresh
        torch.manual_seed(self.seed)
        features = np.ascontiguousarray(features, dtype=np.float32)
        initial = self._initial_codes(features)
        partitioner = self._partitioner(features, trainer_device(trainer))
        if hasattr(partitioner, "online_update"):  # learns by its own rule, not by gradient steps
            return self._fit_by_passes(features, labels, validation)
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

    def _initial_codes(self, features: np.ndarray) -> np.ndarray:
        return initial_codes(features, self.bits, self.init, self.random_hyperplanes(features.shape[1]),
                             seed=self.seed)

    def _partitioner(self, features: np.ndarray, device="cpu") -> Encoder:
        """A new partitioner with its input map fitted to ``features`` on ``device``."""
        partitioner = self.make_partitioner(in_dim=features.shape[1], bits=self.bits)
        # anchors are training items, and each can be fitted through its own kernel value: with most items
        # anchors the partitioner memorises them instead of learning the classes
        most_anchors = max(1, len(features) // 2)
        if partitioner.anchors > most_anchors:
            logging.getLogger(__name__).info("%d training items: the partitioner's %d anchors lowered to %d, half of "
                                             "them", len(features), partitioner.anchors, most_anchors)
            partitioner = type(partitioner)(**{**partitioner.hparams(), "anchors": most_anchors})
        return partitioner.fit_inputs(torch.from_numpy(features).to(device))

    def partial_fit(self, features, labels=None) -> Encoder:
        """Update the hash functions with one batch of training items (module docstring: "Online") and return
        them, live: the next ``partial_fit`` changes the same encoder."""
        features = np.ascontiguousarray(features, dtype=np.float32)
        if self.supervised:
            labels = self.check_labels(labels)
        first = self._online is None
        if first:
            torch.manual_seed(self.seed)
            codes = torch.from_numpy(self._initial_codes(features).astype(np.float32))
            partitioner = self._partitioner(features, self.device)
            optimiser = None if hasattr(partitioner, "online_update") else \
                torch.optim.Adam(partitioner.parameters(), lr=self.lr)
            self.loss.setup(self.bits, None)
            self._online = partitioner, optimiser
            self.history = {"initial_codes": bits_by_kind(self.bits, features.shape[1], self.init), "flipped": [],
                            "batches": 0}
        partitioner, optimiser = self._online
        device = self.device
        partitioner.to(device)
        x = torch.from_numpy(features).to(device)
        with torch.no_grad():
            z = partitioner.embed(x)
            if not first:  # the batch's codes under the current hash functions
                partitioner.eval()
                codes = signs(partitioner.score(z).float())
            self.graph.build(x, labels)
            refined = self.graph.step(codes.to(device), self.alpha, self.sign_first)
        self.history["flipped"].append((refined != codes.to(device)).float().mean().item())
        self.history["batches"] += 1
        weights = balanced_weights(refined) if self.balance else torch.ones_like(refined)
        if optimiser is None:
            partitioner.online_update(z, refined, weights)
        else:
            self._gradient_steps(partitioner, optimiser, z, refined, weights)
        return partitioner.eval()

    def _gradient_steps(self, partitioner: Encoder, optimiser, z: torch.Tensor, targets: torch.Tensor,
                        weights: torch.Tensor) -> None:
        """``steps`` optimiser steps of the loss towards ``targets``, each on the full batch (as one round of
        :meth:`fit`) or on ``batch_size`` rows drawn at random."""
        draw = torch.Generator().manual_seed(self.seed + self.history["batches"])
        partitioner.train()
        for _ in range(self.steps):
            batch = z, targets, weights
            if self.batch_size and self.batch_size < len(z):
                rows = torch.randperm(len(z), generator=draw)[:self.batch_size].to(z.device)
                batch = z[rows], targets[rows], weights[rows]
            loss = self.loss(partitioner.score(batch[0]), batch[1], batch[2]) + partitioner.regulariser()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()

    def _fit_by_passes(self, features, labels, validation) -> Encoder:
        """``rounds`` passes of :meth:`partial_fit` over all the items; with validation items, the best pass's
        hash functions are kept, and the passes stop after ``patience`` without a better validation mAP."""
        from l2h.training.validation import split_half_map

        self._online = None
        scores, best_state, best = [], None, 0
        for _ in range(self.rounds):
            partitioner = self.partial_fit(features, labels)
            if validation is None:
                continue
            with torch.no_grad():
                val_x = torch.from_numpy(np.ascontiguousarray(validation[0], dtype=np.float32)).to(self.device)
                val_codes = codes_mod.from_scores(partitioner(val_x).float().cpu().numpy())
            scores.append(split_half_map(val_codes, np.asarray(validation[1]), self.bits))
            if scores[-1] > max(scores[:-1], default=-1.0):
                best_state, best = copy.deepcopy(partitioner.state_dict()), len(scores)
            elif len(scores) - best >= self.patience:
                break
        if best_state is not None:
            partitioner.load_state_dict(best_state)
        self.history.update(val_map=scores, best_round=best or len(self.history["flipped"]))
        self._online = None
        return partitioner.cpu().eval()
