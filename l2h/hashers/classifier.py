"""The baselines that keep supervised hashing honest (Sablayrolles, Douze, Usunier & Jegou, "How should we evaluate
supervised hashing?", ICASSP 2017).

- :class:`Classifier` (``model=classifier``): a classifier trained on the same labels (the configured encoder,
  an MLP on the anchor kernel or the CNN, with one output per class, by cross-entropy), whose code for an item is
  its predicted class's codeword: Hadamard rows, or fair coins, fixed by the seed. Every item predicted in a class
  shares one code, so Hamming ranking returns the predicted class first: on the standard protocol this alone
  scores what many published hashing methods do.
- :func:`posterior_ranking_map`: the ranking of the database by the inner product of its class posteriors with
  the query's. Real-valued, not a hash: a ceiling for what codes learned from these labels can reach."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from l2h.encoders.base import Encoder
from l2h.encoders.codewords import ClassCodewords
from l2h.errors import L2HError
from l2h.eval.metrics import average_precision
from l2h.hashers.deep import DeepTraining
from l2h.losses.base import HashLoss
from l2h.losses.codebooks import CODEBOOKS
from l2h.losses.helpers import soft_cross_entropy


class CrossEntropy(HashLoss):
    """Softmax cross-entropy of class scores (multi-hot rows normalised to sum 1)."""

    fits = "labels"

    def compute_loss(self, scores, targets, weights):
        return soft_cross_entropy(scores.float(), targets)


class Classifier(DeepTraining):
    def __init__(self, bits: int, encoder: Callable[..., Encoder], codewords: str = "hadamard", **training):
        """``training``: :class:`~l2h.hashers.deep.DeepTraining`'s settings (epochs, lr, ...), with its defaults."""
        if codewords not in CODEBOOKS:
            raise L2HError(f"classifier codewords={codewords!r} is not one of {', '.join(CODEBOOKS)}")
        super().__init__(bits, encoder, **training)
        self.codewords = codewords

    def fit(self, features, labels=None, *, validation=None, trainer=None) -> ClassCodewords:
        features, labels, validation = self.prepare(features, labels, validation)
        labels = np.asarray(labels)
        classes = labels.shape[1] if labels.ndim == 2 else np.unique(labels).size
        if classes < 2:
            raise L2HError("the classifier baseline needs at least two classes among the training labels")
        network = self.build_encoder(features.shape[1], int(classes), len(features))
        model = ClassCodewords(features.shape[1], self.bits, int(classes), network, self.codewords, self.seed)
        self.fit_module(network, CrossEntropy(), features, labels, validation, trainer, view=model)
        return model.cpu().eval()


def _relevant(query_labels: np.ndarray, database_labels: np.ndarray) -> np.ndarray:
    """(nq, n) boolean: same class, or any shared label for multi-hot rows."""
    if query_labels.ndim == 1:
        return query_labels[:, None] == database_labels[None, :]
    return (query_labels.astype(np.float32) @ database_labels.astype(np.float32).T) > 0


def posterior_ranking_map(model, query_x: np.ndarray, database_x: np.ndarray, query_labels: np.ndarray,
                          database_labels: np.ndarray, block: int = 1 << 22, batch_size: int = 8192) -> float:
    """Exact mAP of ranking the database by ``<p(query), p(item)>``, the inner product of the class posteriors of a
    classifier (``model.posteriors``, e.g. what :class:`Classifier` fits), ties broken by database id. Inputs are
    preprocessed features. Queries are scored in groups of at most ``block`` query-item pairs, so no larger
    queries x database matrix is ever formed. Queries without a relevant item are left out of the mean."""
    if not hasattr(model, "posteriors"):
        raise L2HError(f"{type(model).__name__} gives no class posteriors: rank by those of a classifier "
                       "(l2h.hashers.classifier.Classifier)")
    query_labels, database_labels = np.asarray(query_labels), np.asarray(database_labels)
    if len(query_x) != len(query_labels) or len(database_x) != len(database_labels):
        raise L2HError("posterior ranking needs one label row per query and per database item")
    if query_labels.ndim != database_labels.ndim:
        raise L2HError("query and database labels must be of the same kind (both class ids or both multi-hot)")
    if not isinstance(block, int) or block < 1:
        raise L2HError(f"block must be a positive integer, got {block!r}")

    def posteriors(x):
        model.eval()
        device = getattr(model, "device", torch.device("cpu"))
        out = [model.posteriors(torch.from_numpy(np.ascontiguousarray(x[s:s + batch_size], dtype=np.float32))
                                .to(device)).float().cpu().numpy() for s in range(0, len(x), batch_size)]
        return np.concatenate(out) if out else np.empty((0, 0), np.float32)

    pq, pdb = posteriors(query_x), posteriors(database_x)
    n = len(database_x)
    rows = max(1, block // max(n, 1))
    ap = np.full(len(query_x), np.nan)
    for start in range(0, len(query_x), rows):
        stop = min(start + rows, len(query_x))
        scores = pq[start:stop] @ pdb.T
        order = np.argsort(-scores, axis=1, kind="stable")  # descending, ties in id order
        relevant = _relevant(query_labels[start:stop], database_labels)
        ap[start:stop] = average_precision(np.take_along_axis(relevant, order, axis=1))
    return float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")
