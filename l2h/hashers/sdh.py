"""Supervised discrete hashing (SDH; Shen, Shen, Liu & Shen, CVPR 2015): codes ``B`` that a linear classifier
``W`` reads the labels from, tracked by a kernel hash function ``F(x) = P^T phi(x)``,

    min ||Y - B W||^2 + lam ||W||^2 + nu (||B - Phi P||^2 + ridge ||P||^2),   B in {-1, 1}^(n x bits),

with ``Y`` the label matrix (one-hot class ids, or the multi-hot labels themselves) and ``Phi`` the training items'
centred RBF kernel values to ``anchors`` of them. Each outer iteration solves for ``P`` (ridge regression of ``B``
on ``Phi``: the F-step), for ``W`` (ridge regression of ``Y`` on ``B``: the G-step) and then for ``B`` bit by bit
with the others fixed (discrete cyclic coordinate descent, ``bit_sweeps`` passes: the B-step); every step is an exact
minimisation, so the objective (``history["objective"]``) never rises.

Settings of the paper and its reference code: 1000 anchors drawn at random, lam = 1, nu = 1e-5, ridge = 0.01 on
``P``, 5 outer iterations, random initial codes. The kernel width follows l2h's anchor-kernel rule, sigma =
``kernel_width`` x the mean distance of the training items to their nearest anchor other than themselves; the
reference code's CIFAR-10 demo fixes sigma = 0.4 on L2-normalised GIST, which is 0.8 x that distance on l2h's
CIFAR-10 GIST (0.49; centring moves no distance), hence ``kernel_width = 0.8`` (0.8 and 1.0 tie on a validation
split carved from the training items). The encoder is the kernel hash function itself:
:class:`~l2h.encoders.linear.Linear` on the anchor-kernel input map."""

from __future__ import annotations

import logging

import numpy as np
import torch

from l2h import checks
from l2h.codes import signs
from l2h.encoders.linear import Linear
from l2h.hashers.base import Hasher, resolve_device
from l2h.hashers.pcah import (
    as_features,
    check_label_rows,
    random_signs,
    torch_generator,
)

_INITIAL_CODES = 1  # random stream of the initial codes


def label_matrix(labels: np.ndarray, device: torch.device) -> torch.Tensor:
    """SDH's ``Y`` (n, classes) in float64: one-hot rows for class ids (any integer values), multi-hot as given."""
    y = np.asarray(labels)
    if y.ndim == 1:
        _, classes = np.unique(y, return_inverse=True)
        onehot = np.zeros((len(y), classes.max() + 1))
        onehot[np.arange(len(y)), classes] = 1
        y = onehot
    return torch.as_tensor(np.asarray(y, dtype=np.float64), device=device)


def kernel_features(encoder: Linear, x: torch.Tensor) -> torch.Tensor:
    """The training items' kernel values to the anchors, centred (not scaled) as SDH and KSH use them, float64.

    The encoder's input map standardises them, ``(k - mean) / scale``; hyperplanes ``P`` fitted on the centred
    values are installed as ``scale * P`` (:func:`install`), which scores every item identically."""
    with torch.no_grad():
        embedded = torch.cat([encoder.embed(block) for block in x.split(8192)])
    return embedded.double() * encoder.inputs.kernel_scale.double()


def install(encoder: Linear, projection: torch.Tensor) -> Linear:
    """Hyperplanes (anchors, bits) on centred kernel values, installed on the standardised ones."""
    encoder.set_hyperplanes((projection * encoder.inputs.kernel_scale.double()[:, None]).float().cpu())
    return encoder.cpu()


def kernel_encoder(hasher: Hasher, x: torch.Tensor, anchors: int, kernel_width: float,
                   sigma_rule: str = "nearest") -> Linear:
    """A linear encoder on ``anchors`` RBF anchors drawn from the training items with the hasher's seed, its input
    map fitted on ``x`` (on x's device). With few training items the anchors are lowered to half of them: with an
    anchor per item the kernel regression memorises the codes instead of generalising."""
    most = max(1, len(x) // 2)
    if anchors > most:
        logging.getLogger(__name__).info("%d training items: %s's %d anchors lowered to %d, half of them",
                                         len(x), type(hasher).__name__, anchors, most)
        anchors = most
    hasher.history["anchors"] = anchors
    encoder = Linear(x.shape[1], hasher.bits, bias=False, anchors=anchors, kernel_width=kernel_width,
                     seed=hasher.seed).to(x.device)
    encoder.inputs.fit(x, sigma_rule=sigma_rule)
    return encoder


def ridge_solver(phi: torch.Tensor, ridge: float):
    """``B -> (Phi^T Phi + ridge I)^-1 Phi^T B``, with the Cholesky factor computed once."""
    gram = phi.T @ phi
    gram.diagonal().add_(ridge)
    factor = torch.linalg.cholesky(gram)
    return lambda b: torch.cholesky_solve(phi.T @ b, factor)


class SDH(Hasher):
    supervised = True

    def __init__(self, bits: int, seed: int = 0, device: str = "auto", anchors: int = 1000, lam: float = 1.0,
                 nu: float = 1e-5, ridge: float = 0.01, iterations: int = 5, bit_sweeps: int = 5,
                 kernel_width: float = 0.8):
        super().__init__(bits, seed, device)
        resolve_device(device)
        self.anchors = checks.integer("model.anchors", anchors, fix="the paper uses 1000")
        self.lam = checks.number("model.lam", lam, strict=False, fix="the paper uses 1")
        self.nu = checks.number("model.nu", nu, strict=False, fix="the paper uses 1e-5")
        self.ridge = checks.number("model.ridge", ridge, fix="the reference code uses 0.01")
        self.iterations = checks.integer("model.iterations", iterations, fix="the paper runs 5")
        self.bit_sweeps = checks.integer("model.bit_sweeps", bit_sweeps, fix="5 passes of the bit-by-bit B-step")
        self.kernel_width = checks.number("model.kernel_width", kernel_width,
                                        fix="0.8 is the reference code's CIFAR-10 width")

    def objective(self, y, b, w, phi, p) -> float:
        return float((y - b @ w).square().sum() + self.lam * w.square().sum()
                     + self.nu * ((b - phi @ p).square().sum() + self.ridge * p.square().sum()))

    def fit(self, features, labels=None, *, validation=None, trainer=None) -> Linear:
        labels = check_label_rows(self.check_labels(labels), len(features))
        x = as_features(features, self.device)
        self.history = {"device": str(self.device)}
        encoder = kernel_encoder(self, x, self.anchors, self.kernel_width)
        phi = kernel_features(encoder, x)
        y = label_matrix(labels, x.device)
        b = random_signs(len(x), self.bits, torch_generator(self.seed, _INITIAL_CODES), x.device)
        solve_p = ridge_solver(phi, self.ridge)
        eye = torch.eye(self.bits, dtype=torch.float64, device=x.device)
        objective = []
        for _ in range(self.iterations):
            p = solve_p(b)                                                   # F-step
            w = torch.linalg.solve(b.T @ b + self.lam * eye, b.T @ y)        # G-step (bits, classes)
            q = y @ w.T + self.nu * (phi @ p)                                # B-step, one bit at a time
            for _ in range(self.bit_sweeps):
                for k in range(self.bits):
                    others = w @ w[k]                                        # W W_k^T, (bits,)
                    b[:, k] = signs(q[:, k] - b @ others + b[:, k] * others[k])
            objective.append(self.objective(y, b, w, phi, p))
        self.history["objective"] = objective
        return install(encoder, solve_p(b))
