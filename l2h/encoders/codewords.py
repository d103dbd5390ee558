"""A classifier as a hash function (the baseline of Sablayrolles, Douze, Usunier & Jegou, "How should we evaluate
supervised hashing?", ICASSP 2017): a network predicts the class, and the code is that class's codeword.

``network`` is any encoder with one output per class (its logits); the codewords are fixed +-1 rows, one per
class (:func:`l2h.losses.csq.class_codes`: Hadamard rows, or fair coins, fixed by the seed), kept as a buffer so
a checkpoint carries them. The scores are the predicted class's codeword, so the code is exactly that codeword.
``posteriors`` gives the class probabilities, for the ranking by their inner product (a ceiling, not a hash)."""

from __future__ import annotations

import torch

from l2h.encoders.base import Encoder, build, class_path
from l2h.errors import L2HError
from l2h.losses.codebooks import CODEBOOKS, class_codes


class ClassCodewords(Encoder):
    def __init__(self, in_dim: int, bits: int, classes: int, network: Encoder | dict, codewords: str = "hadamard",
                 seed: int = 0):
        super().__init__(in_dim, bits, seed=seed)
        if isinstance(classes, bool) or not isinstance(classes, int) or classes < 2:
            raise L2HError(f"a classifier's codes need at least two classes, got {classes!r}")
        if codewords not in CODEBOOKS:
            raise L2HError(f"codewords={codewords!r} is not one of {', '.join(CODEBOOKS)}")
        if isinstance(network, dict):
            try:
                network = build(network["class"], dict(network["hparams"]))
            except (KeyError, TypeError):
                raise L2HError("the classifier's network is described by {'class': ..., 'hparams': {...}}") from None
        if not isinstance(network, Encoder) or network.in_dim != in_dim or network.bits != classes:
            raise L2HError(f"the classifier's network must be an encoder of {in_dim} inputs and one output per class "
                           f"({classes})")
        self.classes, self.method, self.network = classes, codewords, network
        self.embed_dim = network.embed_dim
        self.register_buffer("codewords", class_codes(classes, bits, codewords, seed))

    def hparams(self) -> dict:
        return {"in_dim": self.in_dim, "bits": self.bits, "classes": self.classes,
                "network": {"class": class_path(type(self.network)), "hparams": self.network.hparams()},
                "codewords": self.method, "seed": self.seed}

    @property
    def anchors(self) -> int:
        return self.network.anchors

    def fit_inputs(self, x: torch.Tensor) -> ClassCodewords:
        self.network.fit_inputs(x)
        return self

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.network.embed(x)

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """The network's class scores for embedded inputs."""
        return self.network.score(z)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The predicted class of each (preprocessed) input, an index into the training classes."""
        return self.logits(self.embed(x)).argmax(1)

    def score(self, z: torch.Tensor) -> torch.Tensor:
        return self.codewords[self.logits(z).argmax(1)]

    @torch.no_grad()
    def posteriors(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities (n, classes) of preprocessed inputs."""
        return torch.softmax(self.logits(self.embed(x)).float(), 1)

    def regulariser(self) -> torch.Tensor:
        return self.network.regulariser()
