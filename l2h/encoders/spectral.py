"""Spectral hashing's hash functions (Weiss, Torralba & Fergus, NIPS 2008): each bit thresholds one analytical
eigenfunction of the Laplacian of a uniform distribution along one principal direction,

    score_k(z) = cos(frequency_k * (z . direction_k - offset_k)),

that is ``sin(pi/2 + m pi (y - a) / (b - a))`` for the direction's projection ``y`` spread over ``[a, b]`` and mode
``m``: ``offset = a`` (the mean's projection folded in) and ``frequency = m pi / (b - a)``. Not linear in the input,
so it is an encoder of its own; its fitted constants are buffers, so checkpoints carry them."""

from __future__ import annotations

import torch

from l2h.encoders.base import Encoder
from l2h.errors import L2HError


class Eigenfunctions(Encoder):
    def __init__(self, in_dim: int, bits: int, **input_map):
        super().__init__(in_dim, bits, **input_map)
        self.register_buffer("directions", torch.zeros(self.embed_dim, bits))
        self.register_buffer("offsets", torch.zeros(bits))
        self.register_buffer("frequencies", torch.ones(bits))

    def score(self, z: torch.Tensor) -> torch.Tensor:
        return torch.cos((z @ self.directions - self.offsets) * self.frequencies)

    def set_eigenfunctions(self, directions, offsets, frequencies) -> Eigenfunctions:
        """Install the fitted constants: ``directions`` (embed_dim, bits) as columns, ``offsets`` and
        ``frequencies`` (bits,)."""
        directions = torch.as_tensor(directions, dtype=torch.float32)
        offsets = torch.as_tensor(offsets, dtype=torch.float32).reshape(-1)
        frequencies = torch.as_tensor(frequencies, dtype=torch.float32).reshape(-1)
        if directions.shape != (self.embed_dim, self.bits) or offsets.numel() != self.bits \
                or frequencies.numel() != self.bits:
            raise L2HError(f"eigenfunctions of shapes {tuple(directions.shape)}, {tuple(offsets.shape)}, "
                           f"{tuple(frequencies.shape)} do not fit an encoder of {self.embed_dim} inputs and "
                           f"{self.bits} bits")
        with torch.no_grad():
            self.directions.copy_(directions)
            self.offsets.copy_(offsets)
            self.frequencies.copy_(frequencies)
        return self
