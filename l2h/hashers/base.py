"""The contract of every hasher: ``fit`` learns hash functions from preprocessed training features (and labels,
for supervised methods) and returns them as a trained :class:`~l2h.encoders.Encoder`.

A hasher is a training algorithm; what it returns is all that a checkpoint keeps. Methods that are matrix
computations (PCAH, ITQ, SH, KSH, SDH, LFH, COSDISH) run them in torch on ``device`` ("auto": the GPU when
there is one); trainable ones (GRH, the deep losses) train through PyTorch Lightning and take their device
from the ``trainer`` factory. ``history`` records what the fit did (rounds, validation mAP) for the report."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import torch

from l2h import checks
from l2h.devices import resolve_device
from l2h.encoders.base import Encoder
from l2h.errors import L2HError


class Hasher(ABC):
    #: needs labels to fit; an unsupervised hasher ignores them
    supervised: ClassVar[bool] = False

    def __init__(self, bits: int, seed: int = 0, device: str = "auto"):
        checks.bits(bits)
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise L2HError(f"seed must be a non-negative integer, got {seed!r}")
        self.bits, self.seed, self.device_name = bits, seed, device
        self.history: dict = {}

    @property
    def device(self) -> torch.device:
        return resolve_device(self.device_name)

    @abstractmethod
    def fit(self, features: np.ndarray, labels: np.ndarray | None = None, *,
            validation: tuple[np.ndarray, np.ndarray] | None = None,
            trainer: Callable | None = None) -> Encoder:
        """Learn hash functions from preprocessed training features (n, d) and labels (n,) or (n, L).

        ``validation`` (features, labels) is for model selection by methods that do it; ``trainer`` makes the
        Lightning trainer of trainable methods (``trainer(max_epochs=..., callbacks=[...])``)."""

    def partial_fit(self, features: np.ndarray, labels: np.ndarray | None = None) -> Encoder:
        """Update the hash functions with one more batch of training items and return them (online hashers only:
        GRH, OSH); the first call starts from nothing, each later one continues."""
        raise L2HError(f"{type(self).__name__} learns in one batch only (no partial_fit): for a stream of "
                       "training items use model=grh_online, or another GRH model, or model=osh")

    def check_labels(self, labels: np.ndarray | None) -> np.ndarray:
        if labels is None:
            raise L2HError(f"{type(self).__name__} is supervised and the training items have no labels: give "
                           "data.labels, or choose an unsupervised model (lsh, pcah, itq, sh)")
        return labels

    def random_hyperplanes(self, dim: int) -> np.ndarray:
        """Gaussian hyperplanes (dim, bits), drawn as the tutorial does (``np.random.seed(seed); randn``)."""
        return np.random.RandomState(self.seed).randn(dim, self.bits)
