"""The commands users type: train/evaluate run end to end, sweeps run one job per combination through Hydra's
sweeper, and the summary gathers them. Through the commands' own functions in this process (tests/commands.py);
a user's mistake at the command line (one line, exit 2) is tested in tests/test_cli_errors.py."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from l2h.cli import summary
from l2h.report.run import table
from tests import commands
from tests.conftest import ROOT

GRH_FAST = ["model.rounds=2", "model.steps=5"]


def test_train_then_evaluate_the_checkpoint(trained_checkpoint, tmp_path):
    out = trained_checkpoint.parent  # grh_svm, 16 bits, eval.save_codes=true
    metrics = json.loads((out / "metrics.json").read_text())
    assert "P@10" in table(metrics)
    for key in ("model", "bits", "dataset", "protocol", "seed", "n_query", "n_train", "n_database",
                "train_seconds", "map", "checkpoint", "radius"):
        assert key in metrics
    assert metrics["model"] == "grh_svm" and metrics["bits"] == 16 and metrics["n_query"] == 60
    assert [r["radius"] for r in metrics["radius"]] == [0, 1, 2, 3, 4]
    assert set(metrics["radius"][0]) >= {"radius", "precision_at_10", "mean_candidates", "mean_query_ms",
                                         "empty_fraction"}
    assert (out / "radius.png").stat().st_size > 10_000 and (out / "codes.npz").exists()

    evaluated = commands.evaluate(tmp_path / "eval", f"ckpt_path={metrics['checkpoint']}", "protocol.n_query=60",
                                  "protocol.n_train=300")
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["map"] == evaluated["map"]
    assert evaluated["map"] == pytest.approx(metrics["map"])
    assert evaluated["radius"][2]["precision_at_10"] == pytest.approx(metrics["radius"][2]["precision_at_10"])


def test_multirun_runs_one_job_per_combination(tmp_path):
    runs = commands.sweep("train", tmp_path, "model=lsh,grh_tutorial", "bits=8,16", *commands.FAST)
    assert len(runs) == 4
    assert {(r["model"], r["bits"]) for r in runs.values()} == {(m, b) for m in ("lsh", "grh_tutorial")
                                                                 for b in (8, 16)}


def test_unlabelled_evaluation_by_true_neighbours(tmp_path):
    commands.train(tmp_path, "model=lsh", *commands.FAST, "eval.relevance=neighbours", "eval.neighbours_k=20")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["eval"]["relevance"] == "true nearest neighbours" and 0 < metrics["map"] < 1
    assert metrics["environment"]["libraries"]["torch"] and "cpu" in metrics["environment"]
    assert len(metrics["split_sha256"]["query"]) == 16


def test_summary_over_a_sweep(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    commands.sweep("train", sweep, "model=lsh,grh_tutorial", "seed=0,1,2", "bits=16", *commands.FAST)
    assert summary.main([str(sweep)]) == 0
    table_text = (sweep / "summary.md").read_text()
    assert "| digits | standard | grh_tutorial | 16 | 3 |" in table_text and "Wilcoxon" in table_text
    assert table_text.strip() in capsys.readouterr().out
    for name in ("summary.csv", "tests.csv", "precision_by_radius.png", "time_by_radius.png", "map_by_bits.png",
                 "pr_curves.png", "quality_vs_qps.png"):
        assert (sweep / name).stat().st_size > 0, name


def test_summary_of_nothing_prints_one_line_and_exits_2(tmp_path):
    """The summary's shell, as the README calls it."""
    done = subprocess.run([sys.executable, "-m", "l2h.summary", str(tmp_path / "nothing")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "nothing" in lines[0]


def test_hparams_search_selects_on_validation(tmp_path):
    runs = commands.sweep("train", tmp_path, "hparams_search=grh_svm_grid", "model.alpha=0.6,0.9",
                          "model.partitioner.l2=1e-4", "model.lr=0.1", "model.init=pca", *commands.FAST, *GRH_FAST,
                          "protocol.n_validation=100")
    assert len(runs) == 2 and all(0 < r["validation_map"] <= 1 for r in runs.values())
    assert all(r["n_train"] == 200 and len(r["training"]["val_map"]) >= 1 for r in runs.values())
    assert {r["config"]["model"]["alpha"] for r in runs.values()} == {0.6, 0.9}


def test_long_codes_train_index_and_evaluate_through_multi_index_hashing(tmp_path):
    metrics = commands.train(tmp_path, "model=lsh", "bits=128", *commands.FAST)
    assert metrics["bits"] == 128 and metrics["index"] == "MultiIndexHash" and 0 < metrics["map"] <= 1
    assert Path(metrics["checkpoint"]).exists()
