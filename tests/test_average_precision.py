"""l2h's one AP: :func:`l2h.eval.metrics.average_precision` against the definition, item by item, and its torch
twin against it (the compiled Hamming pass and the torch pass are held equal in tests/test_metrics.py)."""

import numpy as np
import pytest
import torch

from l2h.eval import metrics_torch
from l2h.eval.metrics import average_precision


def by_definition(flags) -> float:
    """Mean, over the relevant items, of (relevant items up to its rank) / its rank."""
    ranks = [r for r, hit in enumerate(flags, 1) if hit]
    return sum((i + 1) / r for i, r in enumerate(ranks)) / len(ranks) if ranks else float("nan")


def test_average_precision_is_the_mean_precision_at_each_relevant_rank(rng):
    hits = rng.random((40, 30)) < rng.random((40, 1))
    hits[0] = False
    hits[1, :] = [True] + [False] * 29
    expected = [by_definition(row) for row in hits]
    np.testing.assert_allclose(average_precision(hits), expected, equal_nan=True)
    assert average_precision(np.array([[0, 1, 0, 1]]))[0] == pytest.approx((1 / 2 + 2 / 4) / 2)


def test_the_torch_twin_gives_the_same_ap(rng):
    hits = rng.random((50, 64)) < rng.random((50, 1))
    hits[3] = False
    twin = metrics_torch.average_precision(torch.from_numpy(hits)).numpy()
    np.testing.assert_allclose(twin, average_precision(hits), rtol=1e-12, equal_nan=True)
