"""Column-sampling discrete supervised hashing (COSDISH; Kang, Li & Zhou, AAAI 2016): binary codes ``B`` fitted
directly, with no relaxation, to the pairwise labels,

    min ||bits * S - B B^T||_F^2,   B in {-1, 1}^(n x bits),

a few columns of ``S`` at a time. Each of ``iterations`` rounds samples ``columns`` items (Omega; the rest are
Gamma) and alternates ``alternations`` times between

- ``B_Omega``, bit by bit: with the other bits fixed, the loss on the sampled columns is a binary quadratic program
  in the bit's ``|Omega|`` entries, ``max b^T A b + p^T b``; solved by coordinate ascent from the current bit,
  which never raises the loss;
- ``B_Gamma = sign(S_Gamma,Omega B_Omega)``: the paper's closed-form update of the rest (an entry whose sum is 0
  keeps its sign).

``history["objective"]`` is the loss on each round's sampled columns (over n * |Omega|) after each alternation.
The hash functions (the out-of-sample extension) are linear: the ridge regression of the codes on the features, as
for LFH.

Similar items (the same class, or, for multi-hot labels, at least one label in common) have ``S = 1``; dissimilar
ones ``S = -1``, or, with ``balance`` (the default), ``-r`` with ``r`` the ratio of similar to dissimilar pairs in
the sampled columns, which stops the far more numerous dissimilar pairs from dominating the loss. Settings of the
paper and its reference code: ``|Omega| = bits`` columns, 10 rounds, 3 alternations, random initial codes, ridge
lambda = 1; ``balance`` and ``standardise`` (the reference standardises the features first) were chosen on a
validation split carved from CIFAR-10's training items."""

from __future__ import annotations

import logging

import numpy as np
import torch

from l2h import checks
from l2h.codes import signs
from l2h.encoders.linear import Linear
from l2h.hashers.base import Hasher, resolve_device
from l2h.hashers.ksh import PairwiseLabels
from l2h.hashers.lfh import ridge_encoder
from l2h.hashers.pcah import (
    as_features,
    check_label_rows,
    random_signs,
    torch_generator,
)

_INITIAL_CODES, _COLUMNS = 5, 6  # random streams


def coordinate_ascent(a: np.ndarray, p: np.ndarray, b: np.ndarray, sweeps: int = 100) -> np.ndarray:
    """``argmax b^T A b + p^T b`` over ±1 vectors, locally: single-entry flips from ``b`` until none helps (``A``
    symmetric with a zero diagonal). A scalar loop over a few dozen entries, so in numpy on the CPU."""
    b = b.copy()
    for _ in range(sweeps):
        changed = False
        for i in range(len(b)):
            best = float(signs(2 * (a[i] @ b) + p[i]))
            if best != b[i]:
                b[i], changed = best, True
        if not changed:
            break
    return b


def sampled_loss(bits: int, s_gamma, s_omega, b_gamma, b_omega) -> torch.Tensor:
    """The loss on the sampled columns, a 0-d tensor on their device."""
    return ((bits * s_gamma - b_gamma @ b_omega.T).square().sum()
            + (bits * s_omega - b_omega @ b_omega.T).square().sum())


class COSDISH(Hasher):
    supervised = True

    def __init__(self, bits: int, seed: int = 0, device: str = "auto", iterations: int = 10, alternations: int = 3,
                 columns: int | None = None, ridge: float = 1.0, balance: bool = True, standardise: bool = False):
        super().__init__(bits, seed, device)
        resolve_device(device)
        self.iterations = checks.integer("model.iterations", iterations, fix="the paper runs 10 rounds")
        self.alternations = checks.integer("model.alternations", alternations, fix="the paper alternates 3 times a round")
        self.columns = None if columns is None else checks.integer(
            "model.columns", columns, fix="the paper samples as many columns as bits (columns=null)")
        self.ridge = checks.number("model.ridge", ridge, strict=False, fix="the reference code's lambda is 1")
        self.balance = checks.boolean("model.balance", balance)
        self.standardise = checks.boolean("model.standardise", standardise)

    def update_omega(self, s_gamma, s_omega, b_gamma, b_omega) -> torch.Tensor:
        """``B_Omega`` bit by bit, the others fixed (see the module's text). With ``B_Gamma`` fixed, the linear
        term of bit k is ``(bits S_Gamma,Omega - sum over the other bits t of g_t b_t^T)^T g_k``: it needs only
        ``S^T B_Gamma`` and ``B_Gamma^T B_Gamma``, never the (n, |Omega|) residual. The search itself is a scalar
        loop over the few |Omega| x |Omega| and |Omega| x bits values: on the CPU, copied there and back once per
        call (copied per bit, a GPU would wait for the host at every bit)."""
        q, device = self.bits, b_omega.device
        targets = (q * (s_gamma.T @ b_gamma)).cpu()         # (|Omega|, bits)
        gram = (b_gamma.T @ b_gamma).cpu()                  # (bits, bits)
        s_omega, b_omega = s_omega.cpu(), b_omega.cpu().clone()
        r_omega = q * s_omega - b_omega @ b_omega.T         # residual with every bit in
        for k in range(q):
            b = b_omega[:, k]
            r_omega += torch.outer(b, b)                   # bit k out
            p = targets[:, k] - b_omega @ gram[:, k] + b * gram[k, k]
            a = r_omega.clone()
            a.fill_diagonal_(0)
            new = torch.from_numpy(coordinate_ascent(a.numpy(), p.numpy(), b.numpy()))
            r_omega -= torch.outer(new, new)               # bit k back in, updated
            b_omega[:, k] = new
        return b_omega.to(device)

    def fit(self, features, labels=None, *, validation=None, trainer=None) -> Linear:
        labels = check_label_rows(self.check_labels(labels), len(features))
        x = as_features(features, self.device)
        n = len(x)
        columns = self.columns or self.bits
        if columns > n - 1:
            logging.getLogger(__name__).info("%d training items: COSDISH samples %d columns, not %d", n, n - 1,
                                             columns)
            columns = n - 1
        similar = PairwiseLabels(labels, x.device)
        codes = random_signs(n, self.bits, torch_generator(self.seed, _INITIAL_CODES), x.device)
        draws = torch_generator(self.seed, _COLUMNS)
        objective = []
        for _ in range(self.iterations):
            order = torch.randperm(n, generator=draws).to(x.device)
            omega, gamma = order[:columns], order[columns:]
            s = similar.block(None, omega)                  # 0/1, (n, |Omega|)
            dissimilar = -(s.sum() / (1 - s).sum().clamp_min(1)) if self.balance else -1.0  # stays on the device
            s = s * (1 - dissimilar) + dissimilar
            s_gamma, s_omega = s[gamma], s[omega]
            for _ in range(self.alternations):
                codes[omega] = self.update_omega(s_gamma, s_omega, codes[gamma], codes[omega])
                sums = s_gamma @ codes[omega]
                codes[gamma] = torch.where(sums.abs() < 1e-9, codes[gamma], signs(sums))
                objective.append(sampled_loss(self.bits, s_gamma, s_omega, codes[gamma], codes[omega]))
        objective = (torch.stack(objective) / (n * columns)).tolist() if objective else []  # one wait, at the end
        self.history = {"objective": objective, "columns": columns, "device": str(self.device)}
        return ridge_encoder(x, codes, self.ridge, self.standardise)
