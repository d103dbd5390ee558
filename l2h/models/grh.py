"""Graph Regularised Hashing (Moran & Lavrenko, 2015), trained with PyTorch Lightning.

Each round (one Lightning epoch):
  1. graph regularisation: ``B <- sgn(alpha * D^-1 S B + (1 - alpha) * B)`` over the training items;
  2. data-space partitioning: every bit's hash function is fitted to its refined bits, all bits at once,
     by ``steps`` optimiser steps on the device (full-batch when ``batch_size`` is null), on the partitioner's
     fixed feature map of the training items, computed once per fit.
The codes entering the next round are the hash functions' own predictions, as in the paper. Round 0 starts
from LSH, PCA or ITQ codes. Training data stay on the device for the whole fit.

With a validation split, each round ends with a validation mAP: every other validation item is searched against
the rest, so that neither side was fitted (the training items' own codes are memorised, and ranking against
them flatters a partitioner that overfits). The rounds stop when it has not risen for ``patience`` rounds and
the best round's hash functions are kept (model selection never sees the test queries)."""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Callable

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from l2h import codes as codes_mod
from l2h.errors import L2HError
from l2h.eval.metrics import ranking_metrics
from l2h.eval.relevance import from_labels
from l2h.models.base import Hasher
from l2h.models.graph import AffinityGraph, LabelGraph
from l2h.models.initial_codes import initial_codes
from l2h.models.partitioners import Partitioner


def sgn(x: torch.Tensor) -> torch.Tensor:
    """Sign with sgn(0) = +1, matching the bit rule "1 where the projection is >= 0"."""
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)


def regularise(codes: torch.Tensor, graph: AffinityGraph, alpha: float, sign_first: bool = False) -> torch.Tensor:
    """One graph-regularisation step. ``sign_first`` signs the neighbours' mean before mixing, as the tutorial
    does; with alpha < 0.5 the item's own bit then always wins and the step changes nothing."""
    neighbours = graph.propagate(codes)
    if sign_first:
        neighbours = sgn(neighbours)
    return sgn(alpha * neighbours + (1 - alpha) * codes)


def balanced_weights(codes: torch.Tensor) -> torch.Tensor:
    """Per-item, per-bit weights that give each bit's +1 and -1 sides equal total weight (mean weight 1)."""
    n = codes.shape[0]
    positives = (codes > 0).sum(0).clamp_min(1).to(codes.dtype)
    negatives = (codes < 0).sum(0).clamp_min(1).to(codes.dtype)
    return torch.where(codes > 0, n / (2 * positives), n / (2 * negatives))


def step_batches(n: int, steps: int, batch_size: int | None, generator: torch.Generator):
    """The training-item indices of each of ``steps`` optimiser steps: everything, or shuffled mini-batches."""
    if not batch_size or batch_size >= n:
        for _ in range(steps):
            yield slice(None)
        return
    order = torch.empty(0, dtype=torch.long)
    for _ in range(steps):
        if order.numel() < batch_size:
            order = torch.cat([order, torch.randperm(n, generator=generator)])
        yield order[:batch_size]
        order = order[batch_size:]


class GRHModule(pl.LightningModule):
    def __init__(self, partitioner: Partitioner, graph: AffinityGraph, features: np.ndarray,
                 labels: np.ndarray | None, initial_codes: np.ndarray, alpha: float, sign_first: bool,
                 lr: float, steps: int, batch_size: int | None, balance: bool, seed: int,
                 validation: tuple[np.ndarray, np.ndarray] | None = None, patience: int = 2):
        super().__init__()
        # one Lightning step is one round's whole partitioner fit: Lightning's per-step bookkeeping would
        # otherwise cost more than the few hundred small full-batch steps themselves
        self.automatic_optimization = False
        self.generator = torch.Generator().manual_seed(seed)
        self.partitioner, self.graph, self.labels = partitioner, graph, labels
        self.validation, self.patience = validation, patience
        self.val_map: list[float] = []
        self.best_state: dict | None = None
        self.alpha, self.sign_first, self.balance = alpha, sign_first, balance
        self.lr, self.steps, self.batch_size, self.seed = lr, steps, batch_size, seed
        self.register_buffer("features", torch.from_numpy(features), persistent=False)
        self.register_buffer("targets", torch.from_numpy(initial_codes.astype(np.float32)), persistent=False)
        self.register_buffer("weights", torch.ones_like(self.targets), persistent=False)
        self.flipped: list[float] = []  # fraction of bits the graph step changed, per round

    @torch.no_grad()
    def on_fit_start(self):
        self.graph.build(self.features, self.labels)
        self.embedded = self.partitioner.embed(self.features)

    @torch.no_grad()
    def on_train_epoch_start(self):
        if self.current_epoch > 0:  # the codes entering a round are the hash functions' predictions
            self.partitioner.eval()
            self.targets = sgn(self.partitioner.score(self.embedded).float())
            self.partitioner.train()
        refined = regularise(self.targets, self.graph, self.alpha, self.sign_first)
        self.flipped.append((refined != self.targets).float().mean().item())
        self.targets = refined
        self.weights = balanced_weights(refined) if self.balance else torch.ones_like(refined)
        self.log("flipped", self.flipped[-1], prog_bar=True)

    @torch.no_grad()
    def on_train_epoch_end(self):
        if self.validation is None or self.labels is None:
            return
        self.partitioner.eval()
        x_val, y_val = self.validation
        codes = codes_mod.from_scores(self.partitioner(torch.as_tensor(x_val, device=self.features.device))
                                      .float().cpu().numpy())
        self.partitioner.train()
        # alternate items, not the first and second halves: data files often store items class by class
        score = ranking_metrics(codes[0::2], codes[1::2], from_labels(y_val[0::2], y_val[1::2]),
                                self.partitioner.bits, ks=(10,), Rs=()).summary()["map"]
        self.log("val_map", score, prog_bar=True)
        if not self.val_map or score > max(self.val_map):
            self.best_state = copy.deepcopy(self.partitioner.state_dict())
        self.val_map.append(score)
        if len(self.val_map) - 1 - int(np.argmax(self.val_map)) >= self.patience:
            self.trainer.should_stop = True

    def training_step(self, round_, batch_idx):
        optimiser = self.optimizers()
        for index in step_batches(self.features.shape[0], self.steps, self.batch_size, self.generator):
            loss = self.partitioner.loss(self.partitioner.score(self.embedded[index]), self.targets[index],
                                         self.weights[index])
            optimiser.zero_grad()
            self.manual_backward(loss)
            optimiser.step()
        self.log("loss", loss.detach(), prog_bar=True)

    def train_dataloader(self):
        return DataLoader([0], batch_size=None)  # one item: each epoch (round) is a single step

    def configure_optimizers(self):
        return torch.optim.Adam(self.partitioner.parameters(), lr=self.lr)


class GRH(Hasher):
    """GRH with a pluggable partitioner and affinity graph (constructor injection)."""

    def __init__(self, bits: int, partitioner: Callable[..., Partitioner], graph: AffinityGraph | None = None,
                 alpha: float = 0.9, rounds: int = 5, steps: int = 100, lr: float = 0.01,
                 batch_size: int | None = None, balance: bool = True, sign_first: bool = False, init: str = "lsh",
                 patience: int = 2, seed: int = 0):
        super().__init__(bits, seed)
        if not 0 < alpha <= 1:
            raise L2HError(f"GRH alpha must be in (0, 1], got {alpha}: the papers search 0.1 .. 1")
        if rounds < 1 or steps < 1:
            raise L2HError(f"GRH needs rounds >= 1 and steps >= 1, got rounds={rounds}, steps={steps}")
        self.make_partitioner, self.graph = partitioner, graph or LabelGraph()
        self.alpha, self.rounds, self.steps, self.lr = alpha, rounds, steps, lr
        self.batch_size, self.balance, self.sign_first = batch_size, balance, sign_first
        self.init, self.patience = init, patience
        self.history: dict = {}

    def fit(self, features, labels, trainer=None, validation=None) -> Partitioner:
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
        module = GRHModule(partitioner, self.graph, features, labels, initial, self.alpha, self.sign_first,
                           self.lr, self.steps, self.batch_size, self.balance, self.seed, validation, self.patience)
        logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
        options = {"accelerator": "auto", "devices": 1, "logger": False, "enable_checkpointing": False,
                   "enable_model_summary": False, **(trainer or {}), "max_epochs": self.rounds}
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")  # the data live on the device
            pl.Trainer(**options).fit(module)
        if module.best_state is not None:
            partitioner.load_state_dict(module.best_state)
        self.history = {"flipped": module.flipped, "val_map": module.val_map,
                        "best_round": int(np.argmax(module.val_map)) + 1 if module.val_map else len(module.flipped)}
        return partitioner.cpu().eval()
