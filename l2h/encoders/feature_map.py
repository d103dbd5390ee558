"""The fixed input map every encoder reads its inputs through, fitted once on the training items and carried
in the checkpoint (no trainable parameters):

- ``standardise=True``: every input dimension gets zero mean and unit variance. L2-normalised descriptors such as
  GIST have tiny per-dimension scales, which otherwise leave weight decay and learning rate fighting the units.
- ``anchors=m``: the input becomes its RBF kernel values ``exp(-gamma ||x - a||^2)`` to m anchors drawn from the
  training items, each standardised over them; ``gamma = 1 / (2 sigma^2)`` with ``sigma = kernel_width *`` the
  training items' mean distance to their nearest anchor other than themselves. A linear encoder on this map is
  the anchor-kernel SVM of the GRH papers' best runs (and the kernel of KSH and SDH). ``fit(x, sigma_rule="rms")``
  sets ``sigma = kernel_width *`` the root mean squared distance of the training items to the anchors instead
  (KSH's rule, Liu et al. 2012); the rule only matters when fitting, the checkpoint keeps the resulting gamma."""

from __future__ import annotations

import torch
from torch import nn

from l2h.errors import L2HError

#: how ``fit`` sets the kernel width: the mean distance to the nearest other anchor (the default), or the root mean
#: squared distance to all anchors (KSH)
SIGMA_RULES = ("nearest", "rms")


class InputMap(nn.Module):
    def __init__(self, in_dim: int, standardise: bool = False, anchors: int = 0, kernel_width: float = 1.0,
                 seed: int = 0):
        super().__init__()
        if not isinstance(anchors, int) or anchors < 0 or not kernel_width > 0:
            raise L2HError(f"an encoder needs anchors >= 0 and kernel_width > 0, got {anchors}, {kernel_width}")
        self.in_dim, self.standardise, self.anchors = int(in_dim), bool(standardise), anchors
        self.kernel_width, self.seed = float(kernel_width), int(seed)
        self.out_dim = anchors or self.in_dim
        if standardise:
            self.register_buffer("input_mean", torch.zeros(in_dim))
            self.register_buffer("input_scale", torch.ones(in_dim))
        if anchors:
            self.register_buffer("anchor_points", torch.zeros(anchors, in_dim))
            self.register_buffer("kernel_gamma", torch.tensor(1.0))
            self.register_buffer("kernel_mean", torch.zeros(anchors))
            self.register_buffer("kernel_scale", torch.ones(anchors))

    @property
    def identity(self) -> bool:
        return not (self.standardise or self.anchors)

    @torch.no_grad()
    def fit(self, x: torch.Tensor, sigma_rule: str = "nearest") -> InputMap:
        """Fit standardisation and anchors to the training features (on their device); ``sigma_rule`` (one of
        :data:`SIGMA_RULES`) names how the kernel width is set."""
        if sigma_rule not in SIGMA_RULES:
            raise L2HError(f"sigma_rule={sigma_rule!r} is not one of {', '.join(SIGMA_RULES)}")
        if self.standardise:
            self.input_mean.copy_(x.mean(0))
            self.input_scale.copy_(x.std(0).clamp_min(1e-8))  # a constant dimension stays as it is
        if self.anchors:
            if self.anchors > x.shape[0]:
                raise L2HError(f"the encoder wants {self.anchors} anchors but there are only {x.shape[0]} "
                               "training items: lower model.partitioner.anchors (or encoder.anchors)")
            x = self._standardised(x)
            pick = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(self.seed))[:self.anchors]
            self.anchor_points.copy_(x[pick.to(x.device)])
            if sigma_rule == "rms":
                sigma = self.kernel_width * self._rms_distance(x)
            else:
                nearest = torch.cat([self._nearest_other_anchor(block, start, pick.to(x.device))
                                     for start, block in zip(range(0, len(x), 8192), x.split(8192))])
                nearest = nearest[torch.isfinite(nearest)]
                if nearest.numel() == 0:  # every item sits on every anchor
                    raise L2HError("cannot set the kernel width: the training items are all identical")
                sigma = self.kernel_width * nearest.sqrt().mean().item()
            self.kernel_gamma.fill_(1 / (2 * sigma ** 2))
            rbf = torch.cat([self._rbf(block) for block in x.split(8192)])
            self.kernel_mean.copy_(rbf.mean(0))
            self.kernel_scale.copy_(rbf.std(0).clamp_min(1e-8))
        return self

    def _standardised(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.input_mean) / self.input_scale if self.standardise else x

    def _squared_distances(self, x: torch.Tensor) -> torch.Tensor:
        a = self.anchor_points.to(x.dtype)
        return ((x * x).sum(1, keepdim=True) - 2 * x @ a.T + (a * a).sum(1)).clamp_min(0)

    def _nearest_other_anchor(self, x: torch.Tensor, start: int, pick: torch.Tensor) -> torch.Tensor:
        """Squared distance to the nearest anchor other than the item itself (or an exact copy of it). In float64:
        in float32 the expansion leaves an item's distance to itself well above zero."""
        d = self._squared_distances(x.double())
        own = pick - start
        mine = (own >= 0) & (own < len(x))
        d[own[mine], torch.nonzero(mine).squeeze(1)] = float("inf")
        return d.masked_fill(d <= 1e-12, float("inf")).min(1).values.to(x.dtype)

    def _rms_distance(self, x: torch.Tensor) -> float:
        """Root mean squared distance of the items to the anchors, in float64 (KSH's kernel width)."""
        total = sum(self._squared_distances(block.double()).sum().item() for block in x.split(8192))
        rms = (total / (len(x) * self.anchors)) ** 0.5
        if not rms > 0:
            raise L2HError("cannot set the kernel width: the training items are all identical")
        return rms

    def _rbf(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(-self.kernel_gamma * self._squared_distances(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._standardised(x)
        return (self._rbf(x) - self.kernel_mean) / self.kernel_scale if self.anchors else x
