"""Hash functions of two-view data (cross-modal hashing): one encoder per view, both giving codes of one shared
Hamming space, so that a query of either view searches a database of the other.

A row of two-view data is view a's columns then view b's (:mod:`l2h.data.views`). Called on such rows, the encoder
gives view a's codes: a checkpoint, ``index.py`` and ``search.py`` then work on view a as on any model (a query
with view a only may leave view b's columns zero). :meth:`TwoViews.view_scores` encodes either view, for the
cross-modal scores (:mod:`l2h.eval.crossmodal`). A checkpoint records the two encoders as ``{"class", "hparams"}``
and rebuilds each through :func:`l2h.encoders.base.build`."""

from __future__ import annotations

import torch
from torch import nn

from l2h.encoders.base import Encoder, build, class_path
from l2h.errors import L2HError

VIEWS = ("a", "b")


class TwoViews(Encoder):
    def __init__(self, views: list):
        """``views``: view a's encoder and view b's (or their ``{"class", "hparams"}`` records), of one code length."""
        if not isinstance(views, (list, tuple)) or len(views) != 2:
            raise L2HError("a TwoViews encoder holds exactly two encoders, view a's and view b's")
        members = [v if isinstance(v, Encoder) else build(v["class"], dict(v["hparams"])) for v in views]
        if members[0].bits != members[1].bits:
            raise L2HError(f"the two views' encoders give {members[0].bits} and {members[1].bits} bits: codes shared "
                           "by both views need one code length")
        super().__init__(members[0].in_dim + members[1].in_dim, members[0].bits)
        self.members = nn.ModuleList(members)
        self.view_dims = (members[0].in_dim, members[1].in_dim)

    def hparams(self) -> dict:
        return {"views": [{"class": class_path(type(m)), "hparams": m.hparams()} for m in self.members]}

    def view_scores(self, x: torch.Tensor, view: str) -> torch.Tensor:
        """Scores (n, bits) of one view (``"a"`` or ``"b"``) of two-view rows (n, d_a + d_b); only that view's
        columns are read."""
        if view not in VIEWS:
            raise L2HError(f"view {view!r} is not one of {', '.join(VIEWS)}")
        cut = self.view_dims[0]
        return self.members[0](x[:, :cut]) if view == "a" else self.members[1](x[:, cut:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.view_scores(x, "a")
