"""benchmarks/stream.py: the table's running total is the sum of the updates so far, and a --tiny run streams every
method over the same batches and retrains batch GRH where asked."""

import json
import re

import pytest

from benchmarks import stream as bench

FAKE = {"dataset": "d", "bits": 16, "seed": 0, "n_query": 5, "n_train": 30, "n_database": 50, "batch": 10,
        "cores": 2, "lsh_map": 0.05, "methods": {
            "grh_online": [{"items_seen": 10 * i, "map": 0.1 * i, "update_seconds": 0.5 * i, "changed_bits": 0.1}
                           for i in (1, 2, 3)],
            "grh_svm retrained": [{"items_seen": 30, "map": 0.5, "update_seconds": 4.0, "changed_bits": 1.0}]}}


def test_the_table_totals_each_methods_updates_so_far():
    rows = [line.split() for line in bench.table(FAKE).splitlines()[1:]]
    assert rows[0] == ["lsh", "(nothing", "learned)", "0.0500"]
    assert [float(r[-2]) for r in rows if r[0] == "grh_online"] == [0.5, 1.5, 3.0]
    assert rows[-1][-4:] == ["0.5000", "4.00", "4.00", "1.000"]


def test_the_figure_draws_every_method_on_both_panels():
    fig = bench.figure(FAKE)
    quality, times = fig.axes
    assert [line.get_label() for line in quality.lines] == [*FAKE["methods"], "lsh (nothing learned)"]
    assert list(quality.lines[0].get_ydata()) == [0.1, 0.2, 0.30000000000000004]
    assert quality.get_ylim()[0] == 0 and len(times.lines) == 2


@pytest.mark.slow
def test_a_tiny_run_streams_every_method_over_the_same_items(tmp_path, capsys):
    assert bench.main(["--tiny", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "stream.json").read_text())
    assert set(result["methods"]) == {"grh_online", "grh_svm online", "osh", "grh_svm retrained"}
    assert 0 < result["lsh_map"] < 1
    for name, records in result["methods"].items():
        seen = [r["items_seen"] for r in records]
        assert seen == ([100, 300] if name == "grh_svm retrained" else [100, 200, 300]), name
        assert all(0 < r["map"] <= 1 for r in records) and records[0]["changed_bits"] == 1.0
    assert (tmp_path / "stream.png").stat().st_size > 10_000
    assert re.search(r"grh_online\s+300\s", capsys.readouterr().out)
