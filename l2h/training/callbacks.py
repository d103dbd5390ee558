"""Lightning callbacks of l2h's training."""

from __future__ import annotations

import copy
import math

import pytorch_lightning as pl


class RestoreBest(pl.Callback):
    """Keep the encoder's weights of the epoch with the best ``monitor`` (higher is better) and put them back
    when training ends. In memory, not on disk: the encoders are small, and Lightning's ModelCheckpoint would
    write a pickled file for every improvement."""

    def __init__(self, monitor: str = "val_map"):
        self.monitor = monitor
        self.best, self.best_epoch, self.state = -math.inf, None, None

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        value = float(trainer.callback_metrics[self.monitor])
        if value > self.best:
            self.best, self.best_epoch = value, trainer.current_epoch
            self.state = copy.deepcopy({k: v.detach().cpu() for k, v in pl_module.encoder.state_dict().items()})

    def on_fit_end(self, trainer, pl_module):
        if self.state is not None:
            pl_module.encoder.load_state_dict(self.state)
