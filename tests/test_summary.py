"""The multi-run summary pools runs that differ only in their seed, says what sets groups apart, and refuses
files that are not l2h runs."""

import json

import pytest

from l2h.errors import L2HError
from l2h.report import summary


def fake_run(seed, map_, alpha=1.0, data_sha="aaaa", model="grh_svm"):
    return {"model": model, "bits": 32, "dataset": "custom", "protocol": "standard", "seed": seed, "map": map_,
            "train_seconds": 1.0, "data_sha256": data_sha, "eval": {"k": 10},
            "radius": [{"radius": 0, "precision_at_10": map_, "mean_candidates": 5.0, "mean_query_ms": 0.1,
                        "empty_fraction": 0.0}],
            "config": {"seed": seed, "bits": 32, "model": {"name": model, "alpha": alpha, "seed": seed},
                       "data": {"path": f"/data/{data_sha}.npz"}, "eval": {"device": "auto"}}}


def test_runs_that_differ_in_a_setting_are_not_pooled():
    runs = [fake_run(s, 0.5 + 0.01 * s, alpha) for s in (0, 1) for alpha in (0.6, 1.0)]
    rows = summary.summarise(runs)
    assert sorted(r["model"] for r in rows) == ["grh_svm (model.alpha=0.6)", "grh_svm (model.alpha=1.0)"]
    assert all(r["seeds"] == [0, 1] and r["map"][0] == pytest.approx(0.505) for r in rows)
    tests = summary.paired_tests(runs)
    assert len(tests) == 1 and {tests[0]["a"], tests[0]["b"]} == {r["model"] for r in rows}


def test_runs_on_different_data_files_are_not_pooled_but_a_moved_copy_is():
    same = [fake_run(0, 0.5, data_sha="aaaa"), fake_run(1, 0.6, data_sha="aaaa")]
    same[1]["config"]["data"]["path"] = "/elsewhere/copy.npz"  # same content, another path: still one group
    other = [fake_run(0, 0.9, data_sha="bbbb")]
    rows = summary.summarise(same + other)
    assert len(rows) == 2 and sorted(len(r["seeds"]) for r in rows) == [1, 2]


def test_the_seed_alone_does_not_split_groups():
    rows = summary.summarise([fake_run(s, 0.5) for s in range(4)])
    assert len(rows) == 1 and rows[0]["model"] == "grh_svm" and rows[0]["seeds"] == [0, 1, 2, 3]


def test_a_metrics_file_of_another_schema_is_refused(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "metrics.json").write_text(json.dumps({"accuracy": 0.9}))
    with pytest.raises(L2HError, match="not an l2h run"):
        summary.gather([tmp_path])
    (tmp_path / "a" / "metrics.json").write_text("{not json")
    with pytest.raises(L2HError, match="not a readable metrics.json"):
        summary.gather([tmp_path])
    with pytest.raises(L2HError, match="does not exist"):
        summary.gather([tmp_path / "missing"])
