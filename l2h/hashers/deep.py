"""Deep supervised hashing: any encoder (``encoder`` group: an MLP on the anchor kernel for feature vectors, a
CNN for raw images) trained by any label loss (DPSH, HashNet, DSH, CSQ, GreedyHash, OrthoHash) on mini-batches
of the training items; the code is the sign of the encoder's scores.

Training runs through PyTorch Lightning (:mod:`l2h.training.deep`), on the trainer's device: the GPU when there
is one, in mixed precision there by default (``precision: auto``; the losses stay in float32), else the CPU.
With a validation split every epoch ends with a validation mAP; training stops when it has not risen for
``patience`` epochs and the best epoch's weights are kept. Lightning is imported inside ``fit`` only: loading a
checkpoint and encoding never import it."""

from __future__ import annotations

import functools
import inspect
import logging
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from l2h import checks
from l2h.devices import bf16_native, trainer_device
from l2h.encoders.base import Encoder
from l2h.errors import L2HError
from l2h.hashers.base import Hasher
from l2h.losses.base import HashLoss

OPTIMISERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "cosine")
PRECISIONS = ("auto", "32-true", "32", "16-mixed", "bf16-mixed")


def check_image_shape(image_shape):
    if image_shape is None:
        return None
    shape = tuple(image_shape) if isinstance(image_shape, Sequence) and not isinstance(image_shape, str) else ()
    if len(shape) != 3 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        raise L2HError(f"image_shape must be null or three positive integers (channels, height, width), got "
                       f"{image_shape!r}")
    return shape


def accepts(factory: Callable, name: str) -> bool:
    """Whether the encoder class a factory (a partial of it) builds takes the keyword ``name``."""
    target = getattr(factory, "func", factory)
    try:
        return name in inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False


def with_precision(factory: Callable | None, precision: str) -> Callable:
    """The trainer factory with the hasher's precision: ``auto`` is bf16 (or fp16) mixed precision when the trainer
    will run on a GPU, full precision on the CPU, and leaves a precision the trainer settings name alone."""
    from l2h.training.trainer import default_factory

    factory = factory or default_factory()
    if precision == "auto":
        keywords = getattr(factory, "keywords", {}) or {}
        if "precision" in keywords:
            return factory
        accelerator = str(keywords.get("accelerator", "auto"))
        gpu = torch.cuda.is_available() and accelerator in ("auto", "gpu", "cuda")
        if not gpu:
            return factory
        precision = "bf16-mixed" if bf16_native() else "16-mixed"  # emulated bf16 is slower than fp16
    return functools.partial(factory, precision=precision)


class DeepTraining(Hasher):
    """The settings every deep hasher trains with (this class and :class:`l2h.hashers.classifier.Classifier`)."""

    supervised = True
    # image data: random training views of the training items (l2h.training.data.TrainingViews), which the
    # pipeline sets; each batch then trains on fresh crops and flips instead of the fixed features
    training_views = None

    def __init__(self, bits: int, encoder: Callable[..., Encoder], epochs: int = 50, lr: float = 1e-3,
                 batch_size: int | None = 256, optimiser: str = "adam", weight_decay: float = 0.0,
                 schedule: str = "cosine", patience: int = 10, precision: str = "auto",
                 image_shape: list[int] | None = None, seed: int = 0):
        super().__init__(bits, seed)
        name = type(self).__name__
        checks.positive(f"{name} epochs", epochs)
        checks.positive(f"{name} lr", lr, float)
        checks.positive(f"{name} batch_size", batch_size, allow_none=True)
        checks.positive(f"{name} patience", patience)
        if optimiser not in OPTIMISERS:
            raise L2HError(f"{name} optimiser={optimiser!r} is not one of {', '.join(OPTIMISERS)}")
        if schedule not in SCHEDULES:
            raise L2HError(f"{name} schedule={schedule!r} is not one of {', '.join(SCHEDULES)}")
        if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)) or not weight_decay >= 0:
            raise L2HError(f"{name} weight_decay must be a number >= 0, got {weight_decay!r}")
        if precision not in PRECISIONS:
            raise L2HError(f"{name} precision={precision!r} is not one of {', '.join(PRECISIONS)}")
        if not callable(encoder):
            raise L2HError(f"{name} needs an encoder factory (encoder=mlp or encoder=cnn), got {encoder!r}")
        self.make_encoder, self.image_shape = encoder, check_image_shape(image_shape)
        self.epochs, self.lr, self.batch_size, self.optimiser = epochs, float(lr), batch_size, optimiser
        self.weight_decay, self.schedule, self.patience = float(weight_decay), schedule, patience
        self.precision = precision
        in_dim = math.prod(self.image_shape) if self.image_shape else 16
        self.build_encoder(in_dim, bits)  # an impossible encoder setting is refused now, not after the data are read

    def build_encoder(self, in_dim: int, outputs: int, n_train: int | None = None) -> Encoder:
        """The configured encoder for ``in_dim`` inputs and ``outputs`` scores; the image shape passed on to an
        encoder that takes one; at most half the training items as anchors (each anchor can otherwise be fitted
        through its own kernel value, and the network memorises them instead of learning the classes)."""
        extra = {"image_shape": list(self.image_shape)} if self.image_shape and accepts(self.make_encoder,
                                                                                        "image_shape") else {}
        encoder = self.make_encoder(in_dim=in_dim, bits=outputs, **extra)
        if not isinstance(encoder, Encoder):
            raise L2HError(f"the encoder factory built a {type(encoder).__name__}, not an l2h Encoder")
        if n_train is not None and encoder.anchors > max(1, n_train // 2):
            most = max(1, n_train // 2)
            logging.getLogger(__name__).info("%d training items: the encoder's %d anchors lowered to %d, half of them",
                                             n_train, encoder.anchors, most)
            encoder = type(encoder)(**{**encoder.hparams(), "anchors": most})
        return encoder

    def fit_module(self, encoder: Encoder, loss: HashLoss, features: np.ndarray, labels: np.ndarray, validation,
              trainer: Callable | None, view: Encoder | None = None):
        """Fit ``encoder`` (already built, inputs not yet fitted) by ``loss``; fills ``history``."""
        import pytorch_lightning as pl

        from l2h.training import trainer as training
        from l2h.training.callbacks import RestoreBest
        from l2h.training.data import SplitData
        from l2h.training.deep import DeepModule

        encoder.fit_inputs(torch.from_numpy(features).to(trainer_device(trainer)))  # on the training device
        data = SplitData(features, labels, validation, batch_size=self.batch_size, steps=None, seed=self.seed,
                         rows_only=True, views=self.training_views)
        loss.setup(encoder.bits, data.classes)  # before the module: a loss's own parameters train with the encoder
        module = DeepModule(encoder, loss, self.lr, self.optimiser, self.weight_decay, self.schedule, self.epochs,
                            view=view)
        callbacks = []
        if validation is not None:
            callbacks = [pl.callbacks.EarlyStopping("val_map", mode="max", patience=self.patience),
                         RestoreBest("val_map")]
        training.fit(module, data, with_precision(trainer, self.precision), self.epochs, callbacks)
        best = callbacks[1].best_epoch if callbacks else None
        self.history = {"epochs": len(module.train_loss), "train_loss": module.train_loss, "val_map": module.val_map,
                        "best_epoch": None if best is None else best + 1}
        return module

    def prepare(self, features, labels, validation):
        labels = self.check_labels(labels)
        features = np.ascontiguousarray(features, dtype=np.float32)
        # with training views the items are the views', and the features a sample the input map is fitted on
        items = len(features) if self.training_views is None else len(self.training_views)
        if features.ndim != 2 or items != len(labels):
            raise L2HError(f"{type(self).__name__} needs features (n, d) and one label row per item, got "
                           f"{features.shape} and {np.shape(labels)}")
        if items < 2:
            raise L2HError(f"{type(self).__name__} needs at least two training items")
        torch.manual_seed(self.seed)
        return features, labels, validation


class DeepHasher(DeepTraining):
    """An encoder trained by a hashing loss (``fits = "labels"``); its codes are the signs of its scores."""

    def __init__(self, bits: int, encoder: Callable[..., Encoder], loss: HashLoss, **training):
        """``training``: :class:`DeepTraining`'s settings (epochs, lr, ...), with its defaults."""
        if not isinstance(loss, HashLoss):
            raise L2HError(f"DeepHasher needs an l2h hashing loss (model.loss._target_: l2h.losses.CSQ, ...), got "
                           f"{type(loss).__name__}")
        if loss.fits != "labels":
            raise L2HError(f"{type(loss).__name__} fits target codes, not labels: the deep hasher trains label "
                           "losses (dpsh, hashnet, dsh, csq, greedyhash, orthohash); GRH takes code losses")
        super().__init__(bits, encoder, **training)
        self.loss = loss

    def fit(self, features, labels=None, *, validation=None, trainer=None) -> Encoder:
        features, labels, validation = self.prepare(features, labels, validation)
        encoder = self.build_encoder(features.shape[1], self.bits, len(features))
        self.fit_module(encoder, self.loss, features, labels, validation, trainer)
        return encoder.cpu().eval()
