"""Feature preprocessing as the tutorial does it: L2-normalise each row, then subtract the mean row.

The mean is fitted on the training split and stored in the model, so a query is encoded later exactly as the
items were at training time."""

from __future__ import annotations

import numpy as np
import torch

# rows normalised at a time: bounds the float64 working copy (8 MiB of 1024 GIST-960 rows)
_ROWS = 1024


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Each row divided by its L2 norm, as float32 (float64 rows stay float64); a zero row stays zero.

    Invariant to the scale of a finite row: each row is first scaled by the power of two nearest its largest
    magnitude (exact, whatever the scale), and the norm is taken in float64, so rows times 1e20 or 1e-30 (where a
    float32 sum of squares overflows or underflows) give the rows themselves, to float32 rounding."""
    x = np.asarray(x)
    out = np.empty(x.shape, dtype=np.float64 if x.dtype == np.float64 else np.float32)
    for lo in range(0, x.shape[0], _ROWS):
        block = np.asarray(x[lo:lo + _ROWS], dtype=np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            largest = np.abs(block).max(axis=1, keepdims=True) if block.shape[1] else np.zeros((len(block), 1))
            _, exponent = np.frexp(np.where(np.isfinite(largest), largest, 1.0))
            block = np.ldexp(block, -exponent)  # exact: the largest magnitude now in [0.5, 1)
            norms = np.linalg.norm(block, axis=1, keepdims=True)
            out[lo:lo + _ROWS] = block / np.where(norms > 0, norms, 1.0)  # a zero row stays zero
    return out


class Preprocessor(torch.nn.Module):
    """``x -> l2_normalise(x) - mean``, with ``mean`` a buffer so it travels in checkpoints. For two-view data
    (``view_dims``: view a's columns, then view b's) each view is normalised on its own, so that a view's
    preprocessed values never depend on the other view: a query of one view is encoded alike, whatever its pair."""

    def __init__(self, dim: int, l2: bool = True, centre: bool = True, view_dims: list[int] | None = None):
        super().__init__()
        self.l2 = l2
        self.centre = centre
        self.view_dims = None if view_dims is None else [int(d) for d in view_dims]
        self.register_buffer("mean", torch.zeros(dim))

    def fit(self, x: np.ndarray) -> Preprocessor:
        if self.centre:
            base = self._normalise(x) if self.l2 else x
            self.mean.copy_(torch.from_numpy(base.mean(axis=0, dtype=np.float64).astype(np.float32)))
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        # one new float32 array, centred in place: a database of 70000 MNIST images is 220 MB per copy
        out = self._normalise(x).astype(np.float32, copy=False) if self.l2 else np.array(x, dtype=np.float32)
        out -= self.mean.cpu().numpy()
        return out

    def _normalise(self, x: np.ndarray) -> np.ndarray:
        if self.view_dims is None:
            return l2_normalise(x)
        cut = self.view_dims[0]
        return np.concatenate([l2_normalise(x[:, :cut]), l2_normalise(x[:, cut:])], axis=1)

    def hparams(self) -> dict:
        views = {} if self.view_dims is None else {"view_dims": self.view_dims}  # older checkpoints have none
        return {"dim": int(self.mean.numel()), "l2": self.l2, "centre": self.centre, **views}
