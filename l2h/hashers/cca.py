"""Cross-modal baselines that are one eigenproblem: CCA-ITQ (Gong, Ke, Isard & Lazebnik, IJCV 2013) and SCM-orth
(Zhang & Li, Semantic Correlation Maximisation, AAAI 2014). Both learn one linear projection per view into a
shared space, solved as canonical correlation analysis,

    max  tr(Pa^T Cab Pb)   subject to   Pa^T Caa Pa = I,  Pb^T Cbb Pb = I,

whose solution is the SVD of the whitened cross matrix ``Caa^-1/2 Cab Cbb^-1/2 = U diag(s) V^T``:
``Pa = Caa^-1/2 U``, ``Pb = Cbb^-1/2 V``, and ``s`` are the canonical correlations. ``Caa``, ``Cbb`` are the
views' covariances, each with a ridge of ``reg`` times its mean variance (image pixels that never vary leave a
covariance singular).

- CCA-ITQ: ``Cab`` is the views' cross-covariance (unsupervised). The two views' projections of the training
  items are then rotated by one ITQ rotation (:meth:`l2h.hashers.itq.ITQ.rotate`), learned on both views' projected
  items together, so that the two views share the hypercube's vertices: an item's code from view a and from
  view b are comparable.
- SCM-orth: ``Cab`` is ``Xa^T S Xb / n^2``, with ``S = 2 Yn Yn^T - 1`` the semantic similarity of the items'
  L2-normalised label vectors ``Yn`` (computed as ``2 (Xa^T Yn)(Yn^T Xb) - (Xa^T 1)(1^T Xb)``, never n x n);
  codes are the signs of the projections (supervised).

Both need two-view data (``data.views=halves`` or ``data.features=[A,B]``), and at most as many bits as the
smaller view has dimensions."""

from __future__ import annotations

import numpy as np
import torch

from l2h import checks
from l2h.encoders.linear import Linear
from l2h.encoders.views import TwoViews
from l2h.errors import L2HError
from l2h.hashers.base import Hasher
from l2h.hashers.grh_crossmodal import require_views
from l2h.hashers.itq import ITQ


def inverse_sqrt(cov: np.ndarray) -> np.ndarray:
    """``cov^-1/2`` of a symmetric positive definite matrix."""
    values, vectors = np.linalg.eigh(cov)
    return (vectors / np.sqrt(values)) @ vectors.T


def ridge(cov: np.ndarray, reg: float) -> np.ndarray:
    """``cov`` plus ``reg`` times its mean variance on the diagonal."""
    return cov + reg * max(np.trace(cov) / len(cov), np.finfo(np.float64).tiny) * np.eye(len(cov))


def cca(xa: np.ndarray, xb: np.ndarray, dims: int, reg: float, cross: np.ndarray | None = None):
    """``(Pa, Pb, correlations)``: the top ``dims`` canonical directions of centred views ``xa`` (n, da) and ``xb``
    (n, db), float64; ``cross`` replaces their cross-covariance (SCM's semantic cross matrix)."""
    n = len(xa)
    whiten_a = inverse_sqrt(ridge(xa.T @ xa / n, reg))
    whiten_b = inverse_sqrt(ridge(xb.T @ xb / n, reg))
    u, s, vt = np.linalg.svd(whiten_a @ (xa.T @ xb / n if cross is None else cross) @ whiten_b)
    return whiten_a @ u[:, :dims], whiten_b @ vt[:dims].T, s[:dims]


def semantic_cross(xa: np.ndarray, xb: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """SCM's ``Xa^T S Xb / n^2`` with ``S = 2 Yn Yn^T - 1``, from class ids (n,) or multi-hot rows (n, L)."""
    y = np.asarray(labels)
    if y.ndim == 1:
        y = np.eye(int(y.max()) + 1)[y]
    y = y.astype(np.float64)
    norms = np.linalg.norm(y, axis=1, keepdims=True)
    y = y / np.where(norms > 0, norms, 1.0)  # an item with no label is similar to none
    n = len(xa)
    return (2 * (xa.T @ y) @ (y.T @ xb) - np.outer(xa.sum(0), xb.sum(0))) / n**2


def two_view_linear(weights, means) -> TwoViews:
    """Hash functions ``sign((x_v - mean_v) W_v)`` of each view ``v``, as one two-view encoder."""
    encoders = []
    for weight, mean in zip(weights, means):
        encoder = Linear(weight.shape[0], weight.shape[1], l2=0.0)
        encoders.append(encoder.set_hyperplanes(weight.astype(np.float32), (-(mean @ weight)).astype(np.float32)))
    return TwoViews(encoders)


class _CanonicalHasher(Hasher):
    name = ""

    def __init__(self, bits: int, seed: int = 0, reg: float = 1e-4):
        super().__init__(bits, seed, device="cpu")
        if not (isinstance(reg, (int, float)) and not isinstance(reg, bool) and reg > 0):
            raise L2HError(f"model.reg={reg!r}: the covariances' ridge must be a positive number (1e-4: a small one)")
        self.reg = float(reg)
        self.view_dims: tuple[int, int] | None = None  # set by the run from the data (l2h.pipeline.train)

    def _views(self, features):
        cut, d_b = require_views(self.view_dims, self.name)
        if self.bits > min(cut, d_b):
            raise L2HError(f"model={self.name} gives at most one bit per dimension of the smaller view ({min(cut, d_b)}"
                           f" here), asked for bits={self.bits}: use fewer bits")
        x = np.asarray(features, dtype=np.float64)
        views = [x[:, :cut], x[:, cut:]]
        means = [v.mean(0) for v in views]
        return [v - m for v, m in zip(views, means)], means


class CCAITQ(_CanonicalHasher):
    name = "cca_itq"

    def __init__(self, bits: int, seed: int = 0, reg: float = 1e-4, iterations: int = 50):
        super().__init__(bits, seed, reg)
        self.iterations = checks.integer("model.iterations", iterations, minimum=0, fix="the paper runs 50")

    def fit(self, features, labels=None, *, validation=None, trainer=None) -> TwoViews:
        (xa, xb), means = self._views(features)
        pa, pb, correlations = cca(xa, xb, self.bits, self.reg)
        itq = ITQ(self.bits, self.seed, "cpu", iterations=self.iterations)
        rotation = itq.rotate(torch.from_numpy(np.concatenate([xa @ pa, xb @ pb]))).numpy()
        self.history = {"canonical_correlations": correlations.tolist(), **itq.history}
        return two_view_linear([pa @ rotation, pb @ rotation], means)


class SCM(_CanonicalHasher):
    name = "scm"
    supervised = True

    def fit(self, features, labels=None, *, validation=None, trainer=None) -> TwoViews:
        labels = self.check_labels(labels)
        (xa, xb), means = self._views(features)
        pa, pb, correlations = cca(xa, xb, self.bits, self.reg, cross=semantic_cross(xa, xb, labels))
        self.history = {"semantic_correlations": correlations.tolist()}
        return two_view_linear([pa, pb], means)
