"""GRH's LightningModule: one epoch is one round (graph step, then ``steps`` optimiser steps of the
partitioner); validation at the end of each round gives early stopping and best-round restore.

The round's target codes and weights are plain tensors on the device, not module buffers: every process of a
data-parallel run computes the same ones, and DDP would otherwise send them from the first process to all the
others before every step. The training items are embedded and scored :data:`~l2h.model.FORWARD_ROWS` at a time,
so that a round's predictions need the memory of one chunk of items, not of the whole training set."""

from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch

from l2h import codes as codes_mod
from l2h.codes import signs
from l2h.encoders.base import Encoder
from l2h.graphs.base import AffinityGraph
from l2h.losses.base import HashLoss
from l2h.losses.hinge import balanced_weights
from l2h.model import FORWARD_ROWS
from l2h.training.trainer import FiniteLoss
from l2h.training.validation import split_half_map


class GRHModule(pl.LightningModule):
    def __init__(self, encoder: Encoder, loss: HashLoss, graph: AffinityGraph, initial_codes: np.ndarray,
                 alpha: float, sign_first: bool, lr: float, balance: bool):
        super().__init__()
        self.encoder, self.loss, self.graph = encoder, loss, graph
        self.alpha, self.sign_first, self.lr, self.balance = alpha, sign_first, lr, balance
        self.targets = torch.from_numpy(initial_codes.astype(np.float32))  # moved to the device when fitting starts
        self.weights = torch.ones_like(self.targets)
        self.finite = FiniteLoss()
        self.flipped: list[float] = []  # fraction of bits the graph step changed, per round
        self.val_map: list[float] = []
        self._val_codes: list[np.ndarray] = []
        self._val_labels: list[np.ndarray] = []

    @torch.no_grad()
    def on_fit_start(self):
        data = self.trainer.datamodule
        features = data.train_features.to(self.device)
        self.graph.build(features, data.train_labels)
        # the fixed input map, computed once per fit
        self.embedded = torch.cat([self.encoder.embed(chunk) for chunk in features.split(FORWARD_ROWS)])
        self.targets, self.weights = self.targets.to(self.device), self.weights.to(self.device)
        self.loss.setup(self.encoder.bits, data.classes)

    @torch.no_grad()
    def on_train_epoch_start(self):
        if self.current_epoch > 0:  # the codes entering a round are the hash functions' predictions
            self.encoder.eval()
            self.targets = signs(torch.cat([self.encoder.score(chunk).float()
                                            for chunk in self.embedded.split(FORWARD_ROWS)]))
            self.encoder.train()
        refined = self.graph.step(self.targets, self.alpha, self.sign_first)
        self.flipped.append((refined != self.targets).float().mean().item())
        self.targets = refined
        self.weights = balanced_weights(refined) if self.balance else torch.ones_like(refined)
        self.log("flipped", self.flipped[-1], prog_bar=True, on_epoch=True, on_step=False, sync_dist=True)

    def training_step(self, rows, batch_idx):
        world = self.trainer.world_size
        if world == 1 and len(rows) == len(self.embedded):  # the full batch, in order: no copy of the items
            z, targets, weights = self.embedded, self.targets, self.weights
        else:
            z, targets, weights = self.embedded[rows], self.targets[rows], self.weights[rows]
        # data-parallel: each process holds its share of the batch and DDP averages the gradients, so a share's
        # mean is weighed by its size; the average is then the gradient of the whole batch's mean
        share = len(rows) * world / self.trainer.datamodule.global_batch_size
        loss = share * self.loss(self.encoder.score(z), targets, weights) + self.encoder.regulariser()
        self.finite.see(loss)
        # the logger reads the step's loss every log_every_n_steps; the progress bar shows the round's mean loss,
        # summed on the device: printing each step's loss would make the host wait for the device at every step
        self.log("loss", loss.detach(), on_step=True, on_epoch=False)
        self.log("train_loss", loss.detach(), prog_bar=True, on_step=False, on_epoch=True)
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.finite.after_step(self, batch_idx)

    def validation_step(self, batch, batch_idx):
        _, x, y = batch
        self._val_codes.append(codes_mod.from_scores(self.encoder(x).float().cpu().numpy()))
        self._val_labels.append(y.cpu().numpy())

    def on_validation_epoch_end(self):
        codes, labels = np.concatenate(self._val_codes), np.concatenate(self._val_labels)
        self._val_codes, self._val_labels = [], []
        score = split_half_map(codes, labels, self.encoder.bits)
        self.val_map.append(score)
        self.log("val_map", score, prog_bar=True, sync_dist=True)  # every process scores all validation items

    def configure_optimizers(self):
        return torch.optim.Adam(self.encoder.parameters(), lr=self.lr)
