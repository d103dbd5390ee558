"""The passive-aggressive partitioner of online GRH (Crammer, Dekel, Keshet, Shalev-Shwartz & Singer, "Online
Passive-Aggressive Algorithms", JMLR 2006): one hyperplane per bit, updated once per item, in order, with no
memory of earlier items.

For an item ``x`` (with a constant 1 appended when the hyperplanes have a bias) and its target bit ``y`` (±1),
each bit's hyperplane ``w`` suffers the hinge loss ``l = max(0, 1 - y w.x)`` and moves by ``tau y x`` with

- PA-I:  ``tau = min(C, l / ||x||^2)``
- PA-II: ``tau = l / (||x||^2 + 1 / (2 C))``

``C`` is the aggressiveness: the largest step PA-I takes. An item already on its side with margin 1 leaves the
hyperplane alone (passive); any other is moved just far enough (aggressive, up to ``C``). GRH's class balance
enters as a per-item, per-bit ``C`` (``C`` times the item's balance weight for that bit, cost-sensitive PA): the
weights come from the current batch's refined codes, which GRH holds anyway."""

from __future__ import annotations

import torch

from l2h.encoders.linear import Linear
from l2h.errors import L2HError

VARIANTS = ("PA-I", "PA-II")


class PassiveAggressive(Linear):
    """A :class:`~l2h.encoders.Linear` encoder that learns by :meth:`online_update` instead of by gradient steps.
    The defaults are model/grh_online.yaml's (measured on CIFAR-10 GIST: benchmarks/stream.py)."""

    # no bias by default: the constant input 1 outweighs a preprocessed item's squared norm (about 0.3 for GIST),
    # so the bias took most of every step, and validation mAP fell from 0.25 to 0.20 (CIFAR-10 GIST, 32 bits)
    def __init__(self, in_dim: int, bits: int, C: float = 1.0, variant: str = "PA-I", bias: bool = False, **linear):
        super().__init__(in_dim, bits, bias=bias, **linear)
        if not C > 0:
            raise L2HError(f"passive-aggressive C must be positive, got {C}")
        if variant not in VARIANTS:
            raise L2HError(f"passive-aggressive variant={variant!r} is not one of {', '.join(VARIANTS)}")
        self.C, self.variant = float(C), variant
        with torch.no_grad():  # PA starts from the zero hyperplane, as in the paper
            self.linear.weight.zero_()
            if self.has_bias:
                self.linear.bias.zero_()

    def hparams(self) -> dict:
        return {**super().hparams(), "C": self.C, "variant": self.variant}

    @torch.no_grad()
    def online_update(self, z: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None) -> None:
        """One PA step per embedded item ``z`` (n, embed_dim), in order, towards its ±1 target bits (n, bits);
        ``weights`` (n, bits) scale each item's aggressiveness ``C`` per bit (GRH's class balance)."""
        weight = self.linear.weight  # (bits, embed_dim): row b is bit b's hyperplane
        bias = self.linear.bias if self.has_bias else None
        extra = 1.0 if self.has_bias else 0.0  # the bias is the weight of a constant input 1
        targets = targets.to(z.dtype)
        weights = torch.ones_like(targets) if weights is None else weights.to(z.dtype)
        for x, y, c in zip(z, targets, self.C * weights):
            score = weight @ x + (bias if bias is not None else 0.0)
            loss = torch.clamp_min(1 - y * score, 0)
            norm = float(x @ x) + extra
            if norm == 0:  # an all-zero input cannot move any hyperplane
                continue
            tau = torch.minimum(loss / norm, c) if self.variant == "PA-I" else loss / (norm + 1 / (2 * c))
            weight.add_(torch.outer(tau * y, x))
            if bias is not None:
                bias.add_(tau * y)
