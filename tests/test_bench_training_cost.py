"""benchmarks/training_cost.py: each child's peak memory is its own (scale.py's child_peak, which it uses), and
the table divides each case by the reference."""

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks import training_cost
from benchmarks.scale import child_peak


def test_each_childs_peak_is_its_own_not_this_processs(tmp_path):
    ballast = np.ones(40_000_000)  # this process holds 305 MiB more: a peak that counted the parent would show
    big = child_peak([sys.executable, "-c", "import numpy as np; a = np.ones(40_000_000)"])  # 305 MiB written
    small = child_peak([sys.executable, "-c", "pass"])
    assert big[1] > 305 and small[1] < 100 and ballast.sum() > 0
    assert big[0] > 0
    with pytest.raises(RuntimeError, match="went wrong"):
        child_peak([sys.executable, "-c", "raise SystemExit('went wrong')"])


def test_the_table_divides_each_case_by_the_reference(monkeypatch, capsys):
    costs = iter([(10.0, 5.0, 600.0), (40.0, 30.0, 900.0), (20.0, 2.0, 1500.0)])  # wall s, train s, peak MiB

    def fake(command):
        wall, train, peak = next(costs)
        out = Path(next(a for a in command if a.startswith("hydra.run.dir=")).split("=", 1)[1])
        out.mkdir(parents=True)
        (out / "metrics.json").write_text(json.dumps({"train_seconds": train}))
        return wall, peak

    monkeypatch.setattr(training_cost, "child_peak", fake)
    assert training_cost.main(["--quick"]) == 0
    assert table_rows(capsys.readouterr().out) == {
        "digits grh_mlp (reference)": [10, 5, 600, 1, 1, 1],
        "npz 600 x 32 grh_mlp": [40, 30, 900, 4, 6, 1.5],
        "mnist csq cnn, 1 epoch(s)": [20, 2, 1500, 2, 0.4, 2.5]}


@pytest.mark.slow
def test_a_quick_run_prints_a_row_per_case(capsys):
    assert training_cost.main(["--quick"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert list(rows) == ["digits grh_mlp (reference)", "npz 600 x 32 grh_mlp", "mnist csq cnn, 1 epoch(s)"]
    for wall, train, peak, *_ in rows.values():
        assert 0 < train < wall and peak > 100  # torch alone takes more than 100 MiB


def table_rows(printed: str) -> dict[str, list[float]]:
    lines = printed.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("case"))
    rows = {}
    for line in lines[header + 1:]:
        name, numbers = re.match(r"(.+?)\s{2,}([\d.\s]+)$", line).groups()
        rows[name] = [float(v) for v in numbers.split()]
    return rows
