"""The Lightning module of the deep hashers: any encoder trained by any label loss on mini-batches.

An epoch is one pass over the training items in seeded mini-batches (row indices; the items, through the
encoder's fixed input map, are held on the device once per fit). The encoder runs under the trainer's precision
(mixed precision on a GPU); the input map and the loss always run in float32. Each epoch ends with the
validation mAP of the codes of ``view`` (the encoder being trained, or what wraps it: the classifier's codewords),
every other validation item searched against the rest, for early stopping and best-epoch restore."""

from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch

from l2h import codes as codes_mod
from l2h.encoders.base import Encoder
from l2h.errors import L2HError
from l2h.losses.base import HashLoss
from l2h.training.trainer import FiniteLoss
from l2h.training.validation import split_half_map

OPTIMISERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "cosine")


def float32(device: torch.device):
    """A context in which autocast is off: the input map's kernel and the losses need full precision."""
    return torch.autocast(device_type=device.type, enabled=False)


class DeepModule(pl.LightningModule):
    def __init__(self, encoder: Encoder, loss: HashLoss, lr: float, optimiser: str = "adam",
                 weight_decay: float = 0.0, schedule: str = "cosine", epochs: int = 100, view: Encoder | None = None):
        super().__init__()
        if optimiser not in OPTIMISERS or schedule not in SCHEDULES:
            raise L2HError(f"optimiser must be one of {', '.join(OPTIMISERS)} and schedule one of "
                           f"{', '.join(SCHEDULES)}, got {optimiser!r}, {schedule!r}")
        self.encoder, self.loss = encoder, loss
        self.view = view if view is not None else encoder
        self.lr, self.optimiser, self.weight_decay = lr, optimiser, weight_decay
        self.schedule, self.epochs = schedule, epochs
        self.val_map: list[float] = []
        self.train_loss: list[float] = []
        self._epoch_losses: list[torch.Tensor] = []
        self.finite = FiniteLoss()
        self._val_codes: list[np.ndarray] = []
        self._val_labels: list[np.ndarray] = []

    @torch.no_grad()
    def on_fit_start(self):
        data = self.trainer.datamodule
        if data.train_targets is None:
            raise L2HError(f"{type(self.loss).__name__} trains on labels and the training items have none")
        if data.views is None:  # training views come batch by batch from the workers: no item is held here
            with float32(self.device):
                features = data.train_features.to(self.device)
                # the fixed input map, once per fit, in blocks (an anchor kernel of many items is a large product)
                self.embedded = torch.cat([self.encoder.embed(block) for block in features.split(8192)])
        self.targets = data.train_targets.to(self.device)

    def on_train_epoch_start(self):
        self.loss.on_epoch(self.current_epoch)

    def training_step(self, batch, batch_idx):
        self.loss.on_step(self.global_step)  # a schedule per optimiser step (HashNet's scale)
        if isinstance(batch, (tuple, list)):  # image data: (rows, training views, labels) from the DataModule's workers
            rows = batch[0]
            with float32(self.device):
                embedded = self.encoder.embed(batch[1].float())
        else:
            rows, embedded = batch, self.embedded[batch]
        scores = self.encoder.score(embedded)
        with float32(self.device):
            loss = self.loss(scores.float(), self.targets[rows]) + self.encoder.regulariser().float()
        self.finite.see(loss)
        self._epoch_losses.append(loss.detach())
        # to the logger only, which reads it every log_every_n_steps: the progress bar would wait for the device
        # at every step to print it; it shows the epoch's train_loss instead
        self.log("loss", loss.detach(), on_step=True, on_epoch=False)
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.finite.after_step(self, batch_idx)

    def on_train_epoch_end(self):
        if self._epoch_losses:
            self.train_loss.append(torch.stack(self._epoch_losses).mean().item())
            self._epoch_losses = []
            self.log("train_loss", self.train_loss[-1], prog_bar=True, on_epoch=True, on_step=False)

    def validation_step(self, batch, batch_idx):
        _, x, y = batch
        with float32(self.device):
            z = self.view.embed(x.float())
        scores = self.view.score(z)
        self._val_codes.append(codes_mod.from_scores(scores.float().cpu().numpy()))
        self._val_labels.append(y.cpu().numpy())

    def on_validation_epoch_end(self):
        if not self._val_codes:
            return
        codes, labels = np.concatenate(self._val_codes), np.concatenate(self._val_labels)
        self._val_codes, self._val_labels = [], []
        score = split_half_map(codes, labels, self.view.bits)
        self.val_map.append(score)
        self.log("val_map", score, prog_bar=True, sync_dist=True)

    def configure_optimizers(self):
        params = [*self.encoder.parameter_groups(self.lr), {"params": list(self.loss.parameters()), "lr": self.lr}]
        if self.optimiser == "adam":
            optimiser = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        elif self.optimiser == "adamw":
            optimiser = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        elif self.optimiser == "sgd":
            optimiser = torch.optim.SGD(params, lr=self.lr, momentum=0.9, weight_decay=self.weight_decay)
        else:
            optimiser = torch.optim.RMSprop(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.schedule == "constant":
            return optimiser
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(1, self.epochs))
        return {"optimizer": optimiser, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
