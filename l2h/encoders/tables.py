"""Several hash functions of one model, one per hash table (``tables=L``): the same inputs in, one score per bit of
each table out, ``(n, tables, bits)``. :class:`~l2h.model.HashModel` packs them into one code per table,
``(n, tables, bytes)``, and :class:`~l2h.index.UnionIndex` searches the tables as one.

Each table's encoder is an l2h encoder of its own class, settings and weights (trained with its own seed); a
checkpoint records them as a list of ``{"class", "hparams"}`` and rebuilds each through
:func:`l2h.encoders.base.build`, so only l2h encoder classes are ever built."""

from __future__ import annotations

import torch
from torch import nn

from l2h.encoders.base import Encoder, build, class_path
from l2h.errors import L2HError


class Tables(Encoder):
    def __init__(self, tables: list):
        """``tables``: two or more encoders (or their ``{"class", "hparams"}`` records) of one input dimension and
        code length."""
        if not isinstance(tables, (list, tuple)) or len(tables) < 2:
            raise L2HError("a Tables encoder holds two or more hash functions (one table is its encoder alone)")
        members = [t if isinstance(t, Encoder) else build(t["class"], dict(t["hparams"])) for t in tables]
        if any(isinstance(m, Tables) for m in members):
            raise L2HError("a Tables encoder holds encoders of one table each, not other Tables")
        shapes = {(m.in_dim, m.bits) for m in members}
        if len(shapes) > 1:
            raise L2HError(f"the tables' encoders differ in (input dimension, bits): {sorted(shapes)}: train every "
                           "table on the same data with the same code length")
        super().__init__(members[0].in_dim, members[0].bits)
        self.members = nn.ModuleList(members)

    @property
    def tables(self) -> int:
        return len(self.members)

    def hparams(self) -> dict:
        return {"tables": [{"class": class_path(type(m)), "hparams": m.hparams()} for m in self.members]}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(x) for member in self.members], dim=1)
