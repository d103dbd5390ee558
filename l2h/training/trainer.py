"""The Lightning trainer a trainable hasher fits with: the user's settings (the ``trainer`` config group,
with its logger) plus what the hasher fixes (epochs, callbacks)."""

from __future__ import annotations

import functools
import logging
import signal
import warnings
from collections.abc import Callable

import pytorch_lightning as pl
import torch

from l2h.errors import L2HError

# a hasher's trainer never writes Lightning checkpoints (l2h writes its own), never runs validation before
# training, and shares batches between data-parallel processes itself (l2h.training.data.StepBatches)
FIXED = {"enable_checkpointing": False, "num_sanity_val_steps": 0, "use_distributed_sampler": False}


class OtherRank(Exception):
    """Raised in the helper processes of a data-parallel run once training is over: only the first process
    evaluates and writes the run's files."""


def default_factory() -> Callable[..., pl.Trainer]:
    return functools.partial(pl.Trainer, accelerator="auto", devices=1, logger=False, enable_model_summary=False,
                             enable_progress_bar=False)


def build_trainer(factory: Callable[..., pl.Trainer], **options) -> pl.Trainer:
    """A trainer from the user's factory and the hasher's options; bad settings are one line."""
    from lightning_fabric.utilities.exceptions import MisconfigurationException

    try:
        return factory(**{**FIXED, **options})
    except (MisconfigurationException, ImportError) as exc:
        raise L2HError(f"the trainer settings do not fit this machine ({str(exc).splitlines()[0]}): "
                       "use trainer=cpu, or trainer=default (the GPU when there is one)") from None
    except (TypeError, ValueError, RuntimeError) as exc:
        raise L2HError(f"the trainer settings do not build a Lightning Trainer ({str(exc).splitlines()[0]}): "
                       "check trainer.*") from None


# optimiser steps between two looks at the loss watch: each look waits for the device once
CHECK_EVERY = 50


class FiniteLoss:
    """Ends training with one line when the loss becomes NaN or infinite (its usual cause: steps too large),
    without making the host wait for the device at every step: each step's test stays on the device, and the
    first non-finite loss is looked at every :data:`CHECK_EVERY` steps and after each epoch's last step."""

    def __init__(self):
        self.bad = None    # whether a loss was not finite: a bool tensor on the device
        self.first = None  # the latest loss until one is not finite, then that one

    def see(self, loss: torch.Tensor) -> None:
        loss = loss.detach()
        if self.bad is None:
            self.bad, self.first = ~torch.isfinite(loss), loss
        else:
            self.first = torch.where(self.bad, self.first, loss)
            self.bad = self.bad | ~torch.isfinite(loss)

    def after_step(self, module: pl.LightningModule, batch_idx: int) -> None:
        """Look (and wait for the device) every :data:`CHECK_EVERY` steps and after an epoch's last step."""
        last = batch_idx + 1 == module.trainer.num_training_batches
        if self.bad is not None and ((batch_idx + 1) % CHECK_EVERY == 0 or last) and self.bad.item():
            raise L2HError(f"the {type(module.loss).__name__} loss became {self.first.item()} at epoch "
                           f"{module.current_epoch}: lower model.lr")


def fit(module: pl.LightningModule, data: pl.LightningDataModule, factory: Callable | None, max_epochs: int,
        callbacks: list[pl.Callback]) -> pl.Trainer:
    """Train ``module`` on ``data``; a Ctrl-C stops training and propagates instead of returning half a fit."""
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")  # the data live in memory
        warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
        warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
        options = {} if getattr(data, "validation", None) is not None else {"limit_val_batches": 0}
        trainer = build_trainer(factory or default_factory(), max_epochs=max_epochs, callbacks=callbacks, **options)
        handler = signal.getsignal(signal.SIGINT)
        try:
            trainer.fit(module, datamodule=data)
        except SystemExit:  # Lightning answers Ctrl-C with sys.exit(1), leaving Ctrl-C ignored
            if trainer.interrupted:
                raise KeyboardInterrupt from None
            raise
        finally:
            signal.signal(signal.SIGINT, handler)
    if trainer.interrupted:
        raise KeyboardInterrupt
    if trainer.global_rank != 0:
        raise OtherRank
    return trainer
