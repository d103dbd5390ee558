"""The contract of every trained hash function (an *encoder*): preprocessed inputs ``(n, in_dim)`` in, one real
score per bit ``(n, bits)`` out; a bit is 1 where its score is >= 0.

An encoder is a fixed input map (:class:`~l2h.encoders.feature_map.InputMap`: standardisation, anchor kernel),
fitted once on the training items, followed by a trainable ``score``. What trains the score (a loss, a
closed-form solve, nothing at all for LSH) lives elsewhere: in :mod:`l2h.losses` and :mod:`l2h.hashers`.

A new encoder is one subclass: ``score`` on ``embed_dim`` inputs, and ``hparams`` (its constructor arguments,
JSON values) so that a checkpoint can rebuild it before loading its weights; optionally a ``regulariser``.
Checkpoints name the class by its import path, so an encoder defined in a user's own module loads too."""

from __future__ import annotations

import importlib
import itertools
import math

import torch
from torch import nn

from l2h import checks
from l2h.encoders.feature_map import InputMap
from l2h.errors import L2HError


class Encoder(nn.Module):
    def __init__(self, in_dim: int, bits: int, standardise: bool = False, anchors: int = 0,
                 kernel_width: float = 1.0, seed: int = 0):
        super().__init__()
        checks.bits(bits)
        if not isinstance(in_dim, int) or in_dim <= 0:
            raise L2HError(f"an encoder needs a positive input dimension, got {in_dim!r}")
        self.in_dim, self.bits, self.seed = in_dim, bits, int(seed)
        self.inputs = InputMap(in_dim, standardise, anchors, kernel_width, seed)
        self.embed_dim = self.inputs.out_dim

    # the input map's settings, named as the encoder's own (configs say model.partitioner.anchors=1000)
    @property
    def anchors(self) -> int:
        return self.inputs.anchors

    def hparams(self) -> dict:
        """Constructor arguments, enough to rebuild this encoder before loading its weights."""
        return {"in_dim": self.in_dim, "bits": self.bits, "standardise": self.inputs.standardise,
                "anchors": self.inputs.anchors, "kernel_width": self.inputs.kernel_width, "seed": self.seed}

    def fit_inputs(self, x: torch.Tensor) -> Encoder:
        """Fit the fixed input map (standardisation, anchors) to the training features."""
        self.inputs.fit(x)
        return self

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The fixed input map the trainable ``score`` sees, (n, embed_dim)."""
        return self.inputs(x)

    def score(self, z: torch.Tensor) -> torch.Tensor:
        """One real-valued score per bit for embedded inputs."""
        raise NotImplementedError(f"{type(self).__name__} must define score()")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score(self.embed(x))

    def regulariser(self) -> torch.Tensor:
        """Added to the training loss (weight decay of the SVMs, the MLP)."""
        return torch.zeros((), device=self.device)

    def parameter_groups(self, lr: float) -> list[dict]:
        """The optimiser's parameter groups at base learning rate ``lr`` (a backbone trains its layers slower)."""
        return [{"params": list(self.parameters()), "lr": lr}]

    @property
    def device(self) -> torch.device:
        for tensor in itertools.chain(self.parameters(), self.buffers()):
            return tensor.device
        return torch.device("cpu")


def check_factory(factory, bits: int) -> None:
    """Build a throw-away encoder from a configured factory (a partial), so that an impossible setting (a dropout
    of 1.5, a negative width) is refused when the hasher is made, not after the data are read. Its input size is
    the image's when the factory names one, else any."""
    image_shape = getattr(factory, "keywords", {}).get("image_shape")
    in_dim = int(math.prod(image_shape)) if image_shape else 16
    factory(in_dim=in_dim, bits=bits)


def class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def resolve(path: str, base: type) -> type:
    """The class named ``module:QualName`` (or ``module.Name``), which must be a subclass of ``base``: a
    checkpoint may name an encoder class, never an arbitrary callable."""
    module, sep, name = str(path).partition(":")
    if not sep:
        module, _, name = str(path).rpartition(".")
    try:
        target = importlib.import_module(module)
        for part in name.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError, ValueError):
        raise L2HError(f"cannot find {path!r}: install or put on PYTHONPATH the module that defines it") from None
    if not (isinstance(target, type) and issubclass(target, base)):
        raise L2HError(f"{path!r} is not an l2h {base.__name__}: refusing to build it")
    return target


def build(path: str, hparams: dict) -> Encoder:
    """Rebuild an encoder from a checkpoint's record of its class and constructor arguments."""
    cls = resolve(path, Encoder)
    try:
        return cls(**hparams)
    except TypeError as exc:
        raise L2HError(f"the checkpoint's settings for {path} do not fit this l2h ({exc}): retrain the model") from None
