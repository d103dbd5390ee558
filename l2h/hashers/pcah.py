"""PCA hashing (PCAH; the baseline of Wang, Kumar & Chang, CVPR 2010 and of Gong & Lazebnik, CVPR 2011): one bit per
top principal direction of the training items, 1 where an item's centred projection on it is >= 0.

Nothing to tune: the code length is the number of directions, so ``bits`` cannot exceed the feature dimensions.

This module also holds what the classic matrix-computation hashers share (ITQ, SH, KSH, SDH, LFH, COSDISH and GRH's
initial codes): the principal components, in torch on the hasher's device and with a fixed sign per direction so that
CPU and GPU give the same codes; seeded random streams; the checks of their settings."""

from __future__ import annotations

import numpy as np
import torch

from l2h.codes import signs
from l2h.encoders.linear import Linear
from l2h.errors import L2HError
from l2h.hashers.base import Hasher, resolve_device

# ---------------------------------------------------------------------------------------------------------------
# settings


def check_bits_within(bits: int, dim: int, method: str) -> None:
    """Methods with one bit per principal direction cannot have more bits than dimensions."""
    if bits > dim:
        raise L2HError(f"{method} takes one bit per principal direction, so bits={bits} cannot exceed the feature "
                       f"dimensions ({dim}): lower bits to at most {dim}, or use model=lsh or model=sh")


def as_features(features, device: torch.device, dtype=torch.float32) -> torch.Tensor:
    """Training features as a 2-D tensor on ``device``."""
    x = np.asarray(features)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise L2HError(f"training features must be a 2-D array of at least 2 items, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or not np.isfinite(x).all():
        raise L2HError("training features must be finite real numbers: clean the data first")
    return torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32)).to(device=device, dtype=dtype)


def check_label_rows(labels, n: int) -> np.ndarray:
    """Labels for ``n`` training items: class ids (n,) or multi-hot (n, L)."""
    y = np.asarray(labels)
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise L2HError(f"{y.shape[0] if y.ndim else 0} labels of shape {y.shape} for {n} training items: give class "
                       "ids (n,) or multi-hot labels (n, L), one row per training item")
    return y


# ---------------------------------------------------------------------------------------------------------------
# randomness


def torch_generator(seed: int, stream: int) -> torch.Generator:
    """A CPU generator for one named use (``stream``) of the run's seed: draws are the same on every device, and
    two uses of one seed (anchors, initial codes, sampled columns) are independent."""
    state = np.random.SeedSequence([int(seed), int(stream)]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state >> np.uint64(1)))


def random_signs(n: int, bits: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """±1 codes (n, bits) in float64, each bit a fair coin."""
    return signs(torch.randn(n, bits, generator=generator, dtype=torch.float64)).to(device)


# ---------------------------------------------------------------------------------------------------------------
# principal components and linear hash functions


def principal_components(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The training mean (d,), the top ``k`` principal directions (d, k) as columns by decreasing variance, and
    their variances (k,), in float64 on ``x``'s device.

    An eigen-solver may return a direction or its negative; here each direction's largest-magnitude entry is made
    positive, so the codes do not depend on the solver (CPU or GPU)."""
    x = x.double()
    mean = x.mean(0)
    centred = x - mean
    covariance = centred.T @ centred / max(len(x) - 1, 1)
    values, vectors = torch.linalg.eigh(covariance)  # ascending
    values, vectors = values.flip(0)[:k].clamp_min(0), vectors.flip(1)[:, :k]
    pivot = vectors.abs().argmax(0)
    flip = torch.where(vectors[pivot, torch.arange(k, device=x.device)] < 0, -1.0, 1.0).to(vectors.dtype)
    return mean, vectors * flip, values


def linear_encoder(weight: torch.Tensor, bias: torch.Tensor | None = None, **input_map) -> Linear:
    """A :class:`Linear` encoder with hyperplanes (embed_dim, bits) already fitted, on the CPU. ``input_map``:
    the input map's settings (``standardise``, ...) when the hyperplanes act on its output."""
    in_dim = input_map.pop("in_dim", weight.shape[0])
    encoder = Linear(int(in_dim), int(weight.shape[1]), bias=bias is not None, **input_map)
    return encoder.set_hyperplanes(weight.detach().float().cpu(),
                                   None if bias is None else bias.detach().float().cpu())


class PCAH(Hasher):
    """One bit per top principal direction; ``bits`` at most the feature dimensions."""

    def __init__(self, bits: int, seed: int = 0, device: str = "auto"):
        super().__init__(bits, seed, device)
        resolve_device(device)  # refuse a device this machine lacks now, not at fit time

    def fit(self, features, labels=None, *, validation=None, trainer=None) -> Linear:
        x = as_features(features, self.device)
        check_bits_within(self.bits, x.shape[1], "pcah")
        mean, directions, variances = principal_components(x, self.bits)
        self.history = {"variance": variances.tolist(), "device": str(self.device)}
        return linear_encoder(directions, -(mean @ directions))
