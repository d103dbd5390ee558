"""The contract of every hasher, and the trained model that all of them produce.

A hasher learns hash functions from preprocessed training features (``fit`` returns a :class:`Partitioner`);
a :class:`HashModel` couples those functions with the preprocessing, and is what checkpoints hold."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import torch

from l2h import codes as codes_mod
from l2h.data.preprocess import Preprocessor
from l2h.errors import L2HError
from l2h.models.partitioners import Partitioner


class Hasher(ABC):
    def __init__(self, bits: int, seed: int = 0):
        self.bits = codes_mod.check_bits(bits)
        self.seed = int(seed)

    @abstractmethod
    def fit(self, features: np.ndarray, labels: np.ndarray | None, trainer: dict | None = None,
            validation: tuple[np.ndarray, np.ndarray] | None = None) -> Partitioner:
        """Learn hash functions from preprocessed training features (and labels, if the method uses them);
        ``validation`` (features, labels) is for model selection by methods that do it."""

    def random_hyperplanes(self, dim: int) -> np.ndarray:
        """Gaussian hyperplanes (dim, bits), drawn as the tutorial does (``np.random.seed(seed); randn``)."""
        return np.random.RandomState(self.seed).randn(dim, self.bits)


class HashModel(torch.nn.Module):
    """Preprocessing plus hash functions: raw features in, packed binary codes out."""

    def __init__(self, preprocess: Preprocessor, hash_functions: Partitioner):
        super().__init__()
        self.preprocess = preprocess
        self.hash_functions = hash_functions

    @property
    def bits(self) -> int:
        return self.hash_functions.bits

    @property
    def in_dim(self) -> int:
        return self.hash_functions.in_dim

    @torch.no_grad()
    def scores(self, features: np.ndarray, batch_size: int = 65536, preprocessed: bool = False) -> np.ndarray:
        """Real-valued projections (n, bits); a bit is 1 where its projection is >= 0. ``preprocessed``: the
        features already went through ``self.preprocess`` (callers that need them too transform once)."""
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2 or features.shape[1] != self.in_dim:
            raise L2HError(f"features of shape {features.shape} do not fit this model, which takes "
                           f"{self.in_dim} dimensions: encode data of the kind the model was trained on")
        self.eval()
        device = next(self.hash_functions.parameters()).device
        out = []
        for start in range(0, features.shape[0], batch_size):
            batch = features[start:start + batch_size]
            x = torch.from_numpy(batch if preprocessed else self.preprocess.transform(batch)).to(device)
            out.append(self.hash_functions(x).float().cpu().numpy())
        return np.concatenate(out) if out else np.empty((0, self.bits), dtype=np.float32)

    def encode(self, features: np.ndarray, batch_size: int = 65536, preprocessed: bool = False) -> np.ndarray:
        """Packed uint8 codes (n, ceil(bits / 8))."""
        return codes_mod.from_scores(self.scores(features, batch_size, preprocessed))
