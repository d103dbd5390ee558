"""Cross-modal scores of a two-view model (metrics.json ``cross_modal``): mAP of the queries' codes from one view
against the database's codes from the other (``a_to_b``: queries of view a, database of view b; ``b_to_a``) and
within each view (``a_to_a``, ``b_to_b``), each by :func:`l2h.eval.metrics.ranking_metrics` on the protocol's own
queries, database and relevance."""

from __future__ import annotations

import numpy as np
import torch

from l2h import codes as codes_mod
from l2h.encoders.views import VIEWS
from l2h.eval.metrics import ranking_metrics
from l2h.eval.relevance import Relevance
from l2h.model import FORWARD_ROWS, HashModel


def view_codes(model: HashModel, x: np.ndarray, view: str) -> np.ndarray:
    """Packed codes of one view of preprocessed two-view rows, from that view's hash functions."""
    encoder = model.encoder
    encoder.eval()
    with torch.no_grad():
        scores = [encoder.view_scores(torch.from_numpy(np.ascontiguousarray(x[lo:lo + FORWARD_ROWS],
                                                                             dtype=np.float32)).to(encoder.device),
                                      view).float().cpu().numpy()
                  for lo in range(0, len(x), FORWARD_ROWS)]
    return codes_mod.from_scores(np.concatenate(scores) if scores else np.empty((0, model.bits), np.float32))


def cross_modal_map(model: HashModel, query_x: np.ndarray, db_x: np.ndarray, relevance: Relevance,
                    device: str | None = None) -> dict[str, float]:
    """``{"a_to_b", "b_to_a", "a_to_a", "b_to_b"}``: mAP of each view's query codes against each view's database
    codes; ``query_x`` / ``db_x`` are the preprocessed two-view rows."""
    queries = {v: view_codes(model, query_x, v) for v in VIEWS}
    database = {v: view_codes(model, db_x, v) for v in VIEWS}
    pairs = [("a", "b"), ("b", "a"), ("a", "a"), ("b", "b")]
    return {f"{q}_to_{d}": ranking_metrics(queries[q], database[d], relevance, model.bits, ks=(), Rs=(),
                                           device=device).summary()["map"]
            for q, d in pairs}
