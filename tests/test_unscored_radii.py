"""Long codes on a small database (``model=lsh bits=2000`` on the digits): every query's Hamming ball within the
swept radii is empty, so precision has no query to average under ``eval.empty_policy=skip``. The run must say
so in metrics.json's ``warnings`` and the printed table, never a bare nan; the empty radii are checked against
the smallest Hamming distance from each query to the database, computed here from the run's own codes."""

import math

import numpy as np

from l2h import codes
from l2h.report.run import table
from tests import commands


def smallest_distances(run_folder):
    saved = np.load(run_folder / "codes.npz")
    return codes.hamming_matrix(saved["query"], saved["database"]).min(axis=1)


def test_2000_bit_lsh_names_the_nan_precision(tmp_path):
    metrics = commands.train(tmp_path, "model=lsh", "bits=2000", "eval.save_codes=true", *commands.FAST)
    nearest = smallest_distances(tmp_path)
    empty_radii = [r for r in range(5) if (nearest > r).all()]
    assert empty_radii == [0, 1, 2, 3, 4]  # the case this test is about: no query finds anything up to radius 4
    for row in metrics["radius"]:
        assert math.isnan(row["precision_at_10"]) == (row["radius"] in empty_radii)
    ball_nan = [b["radius"] for b in metrics["ranking"]["hamming_ball"] if math.isnan(b["precision"])]
    assert ball_nan == list(range(int(nearest.min())))
    [warning] = [w for w in metrics["warnings"] if "nan" in w]
    assert "precision_at_10 at radius 0 to 4" in warning
    assert f"hamming_ball's precision at radius 0 to {int(nearest.min()) - 1}" in warning
    assert "eval.empty_policy=zero" in warning
    assert f"note: {warning}" in table(metrics)


def test_no_warning_where_precision_is_defined(tmp_path):
    metrics = commands.train(tmp_path / "zero", "model=lsh", "bits=2000", "eval.empty_policy=zero", *commands.FAST)
    assert not any(math.isnan(r["precision_at_10"]) for r in metrics["radius"])
    assert not any("nan" in w for w in metrics["warnings"])
    metrics = commands.train(tmp_path / "short", "model=lsh", "bits=8", *commands.FAST)
    assert not any("nan" in w for w in metrics["warnings"])
