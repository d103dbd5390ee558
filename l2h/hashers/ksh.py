"""Supervised hashing with kernels (KSH; Liu, Wang, Ji, Jiang & Chang, CVPR 2012): kernel hash functions
``sign(a_k^T (k(x) - mean))`` on RBF kernel values to ``anchors`` training items, learned so that the codes' inner
products fit the pairwise labels of ``labelled`` training items,

    min ||B B^T - bits * S||_F^2,   S_ij = 1 for similar items, -1 otherwise,

greedily, one bit at a time against the residual ``R = bits * S - (earlier bits' y y^T)``: a spectral start (the top
generalised eigenvector of ``K^T R K a = lambda K^T K a``), then ``iterations`` steps of accelerated gradient
descent with backtracking on the smooth surrogate ``-phi(K a)^T R phi(K a)``, ``phi(t) = 2 / (1 + e^-t) - 1``;
the bit keeps whichever of the two codes fits ``R`` better. ``history["objective"]`` is the objective over
``labelled^2`` after each bit.

Similar means the same class, or, for multi-hot labels, at least one label in common. Settings of the paper and its
reference code on CIFAR-10: 300 anchors drawn at random, 1000 or 2000 labelled items (2000 here), at most 500
gradient steps per bit (stopping when the surrogate changes by less than 1e-5 of itself), and the kernel width of
the reference code: sigma^2 = the mean squared distance of the training items to the anchors (``kernel_width``
scales sigma). The kernel values are centred over all training items."""

from __future__ import annotations

import math

import numpy as np
import torch

from l2h import checks
from l2h.codes import signs
from l2h.encoders.linear import Linear
from l2h.hashers.base import Hasher, resolve_device
from l2h.hashers.pcah import as_features, check_label_rows, torch_generator
from l2h.hashers.sdh import install, kernel_encoder, kernel_features, label_matrix
from l2h.losses.helpers import pairwise_similarity

_LABELLED = 2  # random stream of the labelled subset


class PairwiseLabels:
    """Which items are similar: the same class, or (multi-hot labels) at least one label in common.

    Kept as label indicator rows ``Y`` (n, classes), ``S = [Y Y^T > 0]``; for class ids ``S = Y Y^T`` exactly, so
    products with S never build the n x n matrix."""

    def __init__(self, labels: np.ndarray, device: torch.device):
        labels = np.asarray(labels)
        self.single = labels.ndim == 1
        self.y = label_matrix(labels, device)
        self._dense = None

    def __len__(self) -> int:
        return len(self.y)

    def block(self, rows=None, columns=None) -> torch.Tensor:
        """0/1 similarities (float64) of ``rows`` to ``columns`` (index tensors; None: all items)."""
        a = self.y if rows is None else self.y[rows]
        b = self.y if columns is None else self.y[columns]
        return pairwise_similarity(a, b).double()

    def times(self, v: torch.Tensor) -> torch.Tensor:
        """``S @ v`` for the 0/1 similarity matrix of all items."""
        if self.single:
            return self.y @ (self.y.T @ v)
        if self._dense is None:
            self._dense = self.block()
        return self._dense @ v


def surrogate(a: torch.Tensor, kernel: torch.Tensor, residual) -> tuple[torch.Tensor, torch.Tensor]:
    """KSH's smooth objective for one bit, ``-phi(K a)^T R phi(K a)`` (a 0-d tensor), and its gradient in ``a``.
    ``residual`` multiplies by R."""
    phi = torch.tanh(kernel @ a / 2)  # = 2 / (1 + exp(-K a)) - 1
    r_phi = residual(phi)
    return -(phi @ r_phi), -kernel.T @ (r_phi * (1 - phi * phi))


def minimise(a: torch.Tensor, kernel: torch.Tensor, residual, iterations: int, tol: float = 1e-5):
    """Nesterov-accelerated gradient descent with a backtracking step on :func:`surrogate`, from ``a``; the best
    point seen and the surrogate's values (0-d tensors). Whether a step is accepted and whether the surrogate has
    settled are the host's decisions: both come back from the device together, one wait per step tried."""
    def value(point):
        phi = torch.tanh(kernel @ point / 2)
        return -(phi @ residual(phi))

    previous, current = a, a
    best, best_value = a, value(a)
    values = [best_value]
    lipschitz, t_previous, t = 1.0, 0.0, 1.0
    for _ in range(iterations):
        v = current + (t_previous - 1) / t * (current - previous)
        f_v, g_v = surrogate(v, kernel, residual)
        squared = g_v @ g_v
        for _ in range(64):  # the step 1/L is accepted once it lowers f by at least |g|^2 / 2L
            step = v - g_v / lipschitz
            f_step = value(step)
            accepted, settled = torch.stack([f_step <= f_v - squared / (2 * lipschitz),
                                             (f_step - values[-1]).abs() <= tol * values[-1].abs()]).tolist()
            if accepted:
                break
            lipschitz *= 2
        previous, current = current, step
        t_previous, t = t, (1 + math.sqrt(1 + 4 * t * t)) / 2
        values.append(f_step)
        better = f_step < best_value
        best, best_value = torch.where(better, step, best), torch.where(better, f_step, best_value)
        if settled:
            break
    return best, values


class KSH(Hasher):
    supervised = True

    def __init__(self, bits: int, seed: int = 0, device: str = "auto", anchors: int = 300, labelled: int = 2000,
                 iterations: int = 500, kernel_width: float = 1.0):
        super().__init__(bits, seed, device)
        resolve_device(device)
        self.anchors = checks.integer("model.anchors", anchors, fix="the paper uses 300")
        self.labelled = checks.integer("model.labelled", labelled, minimum=2, fix="the paper uses 1000 or 2000")
        self.iterations = checks.integer("model.iterations", iterations, minimum=0, fix="the reference code runs up to 500")
        self.kernel_width = checks.number("model.kernel_width", kernel_width, fix="1 is the reference code's width")

    def fit(self, features, labels=None, *, validation=None, trainer=None) -> Linear:
        labels = check_label_rows(self.check_labels(labels), len(features))
        x = as_features(features, self.device)
        self.history = {"device": str(self.device)}
        encoder = kernel_encoder(self, x, self.anchors, self.kernel_width, sigma_rule="rms")
        n_labelled = min(self.labelled, len(x))
        pick = torch.randperm(len(x), generator=torch_generator(self.seed, _LABELLED))[:n_labelled]
        kernel = kernel_features(encoder, x[pick.to(x.device)])
        similar = PairwiseLabels(labels[pick.numpy()], x.device)
        codes = torch.zeros(n_labelled, 0, dtype=torch.float64, device=x.device)

        def residual(v):  # R v, R = bits * (2 S - 1) - codes codes^T
            out = self.bits * (2 * similar.times(v) - v.sum(0, keepdim=True))
            return out - codes @ (codes.T @ v) if codes.shape[1] else out

        gram = kernel.T @ kernel
        gram.diagonal().add_(1e-8 * float(gram.diagonal().mean()) + 1e-12)
        factor = torch.linalg.cholesky(gram)
        projections, objective, improved, steps = [], [], [], []
        fit_s = 0.0  # sum over the bits of y^T (2S - 1) y, for the objective
        for _ in range(self.bits):
            lhs = kernel.T @ residual(kernel)
            reduced = torch.linalg.solve_triangular(factor, lhs, upper=False)
            reduced = torch.linalg.solve_triangular(factor, reduced.T, upper=False)  # L^-1 LM L^-T
            vector = torch.linalg.eigh((reduced + reduced.T) / 2).eigenvectors[:, -1]
            start = torch.linalg.solve_triangular(factor.T, vector[:, None], upper=True)[:, 0]
            start = start * torch.sqrt(n_labelled / (start @ gram @ start))
            optimised, values = minimise(start, kernel, residual, self.iterations)
            candidates = [signs(kernel @ start), signs(kernel @ optimised)]
            better = candidates[1] @ residual(candidates[1]) > candidates[0] @ residual(candidates[0])
            y = torch.where(better, candidates[1], candidates[0])  # decided on the device: no wait for it
            projections.append(torch.where(better, optimised, start))
            improved.append(better)
            steps.append(len(values) - 1)
            fit_s += y @ (2 * similar.times(y) - y.sum())
            codes = torch.cat([codes, y[:, None]], 1)
            total = self.bits ** 2 * n_labelled ** 2 - 2 * self.bits * fit_s + (codes.T @ codes).square().sum()
            objective.append(total / n_labelled ** 2)
        self.history.update(objective=torch.stack(objective).tolist(), optimised_bits=torch.stack(improved).tolist(),
                            gradient_steps=steps, labelled=n_labelled)
        return install(encoder, torch.stack(projections, 1))
