"""The trained model every hasher ends in: preprocessing plus an encoder, raw features in, packed codes out.

This is the inference path: it imports torch and numpy only, never the training framework."""

from __future__ import annotations

import numpy as np
import torch

from l2h import codes as codes_mod
from l2h.data.preprocess import Preprocessor
from l2h.encoders.base import Encoder
from l2h.errors import L2HError

# rows per forward pass when encoding (and validating), whatever the caller's batch: a CNN's first feature maps hold
# 16 x 28 x 28 values per MNIST image, so 65536 images at once took 7 GiB; 1024 keep them near 150 MiB, no slower
FORWARD_ROWS = 1024


class HashModel(torch.nn.Module):
    def __init__(self, preprocess: Preprocessor, encoder: Encoder):
        super().__init__()
        self.preprocess = preprocess
        self.encoder = encoder

    @property
    def bits(self) -> int:
        return self.encoder.bits

    @property
    def in_dim(self) -> int:
        return self.encoder.in_dim

    @property
    def tables(self) -> int:
        """Hash tables the model encodes for: more than one (``tables=L``, :mod:`l2h.encoders.tables`) gives codes
        ``(n, tables, bytes)``, one per table."""
        return getattr(self.encoder, "tables", 1)

    # the name GRH's papers use for the learned hash functions
    @property
    def hash_functions(self) -> Encoder:
        return self.encoder

    def check_features(self, features) -> np.ndarray:
        features = np.asarray(features)
        if features.ndim != 2 or features.shape[1] != self.in_dim:
            raise L2HError(f"features of shape {features.shape} do not fit this model, which takes "
                           f"{self.in_dim} dimensions: encode data of the kind the model was trained on")
        if not np.issubdtype(features.dtype, np.number) or np.issubdtype(features.dtype, np.complexfloating):
            raise L2HError(f"features must be real numbers, got dtype {features.dtype}")
        return features

    @torch.no_grad()
    def scores(self, features, batch_size: int = 65536, preprocessed: bool = False) -> np.ndarray:
        """Real-valued projections (n, bits); a bit is 1 where its projection is >= 0. ``preprocessed``: the
        features already went through ``self.preprocess`` (callers that need them too transform once).
        ``batch_size`` rows, and at most :data:`FORWARD_ROWS`, go through the network at a time, on the encoder's
        device (:meth:`on`); on a GPU the scores stay there until the last chunk, so the host prepares the next
        chunk while the GPU works on this one, and waits for it once."""
        features = self.check_features(features)
        self.eval()
        device = self.encoder.device
        gpu = device.type == "cuda"
        step = min(batch_size, FORWARD_ROWS)
        out = []
        for start in range(0, features.shape[0], step):
            batch = np.asarray(features[start:start + step], dtype=np.float32)
            if not np.isfinite(batch).all():
                row = start + int(np.flatnonzero(~np.isfinite(batch).all(1))[0])
                raise L2HError(f"row {row} of the features holds NaN or infinite values: clean or drop it")
            x = torch.from_numpy(batch if preprocessed else self.preprocess.transform(batch))
            x = x.pin_memory().to(device, non_blocking=True) if gpu else x.to(device)
            out.append(self.encoder(x).float())
        empty = (0, self.bits) if self.tables == 1 else (0, self.tables, self.bits)
        return torch.cat(out).cpu().numpy() if out else np.empty(empty, dtype=np.float32)

    def on(self, device="auto") -> HashModel:
        """Encode on ``device`` from now on (a setting: auto = the GPU when there is one, cpu, cuda, cuda:N);
        returns the model. The preprocessing stays in numpy on the CPU."""
        from l2h.devices import resolve_device

        self.encoder.to(resolve_device(device))
        return self

    def encode(self, features, batch_size: int = 65536, preprocessed: bool = False) -> np.ndarray:
        """Packed uint8 codes (n, ceil(bits / 8)); (n, tables, ceil(bits / 8)) for a model of several tables."""
        scores = self.scores(features, batch_size, preprocessed)
        if scores.ndim == 3:
            return np.stack([codes_mod.from_scores(scores[:, t]) for t in range(scores.shape[1])], axis=1)
        return codes_mod.from_scores(scores)
