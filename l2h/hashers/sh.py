"""Spectral hashing (SH; Weiss, Torralba & Fergus, NIPS 2008), as its authors' reference code computes it:

1. PCA to ``min(bits, d)`` directions;
2. along each direction, a uniform distribution over the training items' range ``[a, b]`` (min and max,
   widened by machine epsilon);
3. the one-dimensional eigenfunctions ``sin(pi/2 + m pi (y - a) / (b - a))``, modes ``m >= 1``, whose
   eigenvalues grow with ``(m / (b - a))^2``: the ``bits`` with the smallest, over all directions, are the bits
   (ties in the reference's order: direction by direction, modes ascending).

No hyper-parameters. A wide direction gives several bits (several modes), so ``bits`` may exceed the feature
dimensions, as in the reference code."""

from __future__ import annotations

import math

import torch

from l2h.encoders.spectral import Eigenfunctions
from l2h.hashers.base import Hasher, resolve_device
from l2h.hashers.pcah import as_features, principal_components

EPS = 2.220446049250313e-16  # the reference's eps (float64 machine epsilon)


def select_modes(ranges: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(direction, mode) of each bit: the ``bits`` smallest ``(mode / range)^2`` over modes 1.. of every direction,
    enumerated as the reference does (direction i offers ``ceil((bits + 1) range_i / max range) - 1`` modes)."""
    offered = torch.ceil((bits + 1) * ranges / ranges.max()).long().clamp_min(1) - 1
    direction = torch.repeat_interleave(torch.arange(len(ranges), device=ranges.device), offered)
    mode = torch.cat([torch.arange(1, c + 1, device=ranges.device) for c in offered.tolist()])
    order = torch.sort((mode / ranges[direction]) ** 2, stable=True).indices[:bits]
    return direction[order], mode[order]


class SH(Hasher):
    def __init__(self, bits: int, seed: int = 0, device: str = "auto"):
        super().__init__(bits, seed, device)
        resolve_device(device)

    def fit(self, features, labels=None, *, validation=None, trainer=None) -> Eigenfunctions:
        x = as_features(features, self.device)
        mean, directions, _ = principal_components(x, min(self.bits, x.shape[1]))
        projected = (x.double() - mean) @ directions
        low, high = projected.min(0).values - EPS, projected.max(0).values + EPS
        direction, mode = select_modes(high - low, self.bits)
        frequencies = mode * math.pi / (high - low)[direction]
        offsets = (mean @ directions + low)[direction]
        self.history = {"direction": direction.tolist(), "mode": mode.tolist(), "device": str(self.device)}
        encoder = Eigenfunctions(x.shape[1], self.bits)
        return encoder.set_eigenfunctions(directions[:, direction].cpu(), offsets.cpu(), frequencies.cpu())
