"""The commands users type: every config composes, train/evaluate run end to end, sweeps run one job per
combination, and a user's mistake prints one line (no traceback) and exits 2."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

FAST = ["trainer=cpu", "trainer.enable_progress_bar=false", "protocol.n_query=60", "protocol.n_train=300"]
GRH_FAST = ["model.rounds=2", "model.steps=5"]


def run(script, *args, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT / script), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_train_then_evaluate_the_checkpoint(tmp_path):
    out = tmp_path / "run"
    done = run("train.py", "model=grh_svm", "bits=16", *FAST, *GRH_FAST, f"hydra.run.dir={out}",
               "eval.save_codes=true")
    assert done.returncode == 0, done.stderr
    assert "P@10" in done.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("model", "bits", "dataset", "protocol", "seed", "n_query", "n_train", "n_database",
                "train_seconds", "map", "checkpoint", "radius"):
        assert key in metrics
    assert metrics["model"] == "grh_svm" and metrics["bits"] == 16 and metrics["n_query"] == 60
    assert [r["radius"] for r in metrics["radius"]] == [0, 1, 2, 3, 4]
    assert set(metrics["radius"][0]) >= {"radius", "precision_at_10", "mean_candidates", "mean_query_ms",
                                         "empty_fraction"}
    assert (out / "radius.png").stat().st_size > 10_000 and (out / "codes.npz").exists()

    again = tmp_path / "eval"
    done = run("evaluate.py", f"ckpt_path={metrics['checkpoint']}", "protocol.n_query=60", "protocol.n_train=300",
               f"hydra.run.dir={again}")
    assert done.returncode == 0, done.stderr
    evaluated = json.loads((again / "metrics.json").read_text())
    assert evaluated["map"] == pytest.approx(metrics["map"])
    assert evaluated["radius"][2]["precision_at_10"] == pytest.approx(metrics["radius"][2]["precision_at_10"])


def test_multirun_runs_one_job_per_combination(tmp_path):
    done = run("train.py", "-m", "model=lsh,grh_tutorial", "bits=8,16", *FAST,
               f"hydra.sweep.dir={tmp_path}")
    assert done.returncode == 0, done.stderr
    jobs = sorted(p.parent.name for p in Path(tmp_path).glob("*/metrics.json"))
    assert len(jobs) == 4
    assert {json.loads((tmp_path / j / "metrics.json").read_text())["bits"] for j in jobs} == {8, 16}


@pytest.mark.parametrize("args, message", [
    (["data=cifar10_gist"], "add data.path="),
    (["data=cifar10_gist", "data.path=/nonexistent/Gist512CIFAR10.mat"], "does not exist"),
    (["bits=0"], "bits"),
    (["bits=8", "eval.max_radius=9"], "eval.max_radius=9 is larger than the code length"),
    (["model.alpha=1.5"], "alpha must be in"),
])
def test_user_mistakes_get_one_line(tmp_path, args, message):
    done = run("train.py", "model=grh_svm", *FAST, *args, f"hydra.run.dir={tmp_path}")
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_evaluate_refuses_a_file_that_is_not_a_checkpoint(tmp_path):
    bogus = tmp_path / "model.ckpt"
    bogus.write_text("hello")
    done = run("evaluate.py", f"ckpt_path={bogus}", f"hydra.run.dir={tmp_path / 'out'}")
    assert done.returncode == 2 and "not an l2h checkpoint" in done.stderr
    assert "Traceback" not in done.stderr


def test_unlabelled_evaluation_by_true_neighbours(tmp_path):
    done = run("train.py", "model=lsh", *FAST, "eval.relevance=neighbours", "eval.neighbours_k=20",
               f"hydra.run.dir={tmp_path}")
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["eval"]["relevance"] == "true nearest neighbours" and 0 < metrics["map"] < 1
    assert metrics["environment"]["libraries"]["torch"] and "cpu" in metrics["environment"]
    assert len(metrics["split_sha256"]["query"]) == 16


def test_summary_over_a_sweep(tmp_path):
    sweep = tmp_path / "sweep"
    done = run("train.py", "-m", "model=lsh,grh_tutorial", "seed=0,1,2", "bits=16", *FAST,
               f"hydra.sweep.dir={sweep}")
    assert done.returncode == 0, done.stderr
    done = subprocess.run([sys.executable, "-m", "l2h.summary", str(sweep)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    table = (sweep / "summary.md").read_text()
    assert "| digits | standard | grh_tutorial | 16 | 3 |" in table and "Wilcoxon" in table
    for name in ("summary.csv", "tests.csv", "precision_by_radius.png", "time_by_radius.png", "map_by_bits.png",
                 "pr_curves.png", "quality_vs_qps.png"):
        assert (sweep / name).stat().st_size > 0, name
    assert subprocess.run([sys.executable, "-m", "l2h.summary", str(tmp_path / "nothing")], cwd=ROOT,
                          capture_output=True, text=True).returncode == 2


def test_hparams_search_selects_on_validation(tmp_path):
    done = run("train.py", "-m", "hparams_search=grh_svm_grid", "model.alpha=0.6,0.9", "model.partitioner.l2=1e-4",
               "model.lr=0.1", "model.init=pca", *FAST, *GRH_FAST, "protocol.n_validation=100",
               f"hydra.sweep.dir={tmp_path}")
    assert done.returncode == 0, done.stderr
    runs = [json.loads(p.read_text()) for p in tmp_path.glob("*/metrics.json")]
    assert len(runs) == 2 and all(0 < r["validation_map"] <= 1 for r in runs)
    assert all(r["n_train"] == 200 and len(r["training"]["val_map"]) >= 1 for r in runs)


def test_long_codes_train_index_and_evaluate_through_multi_index_hashing(tmp_path):
    done = run("train.py", "model=lsh", "bits=128", *FAST, f"hydra.run.dir={tmp_path}")
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["bits"] == 128 and metrics["index"] == "MultiIndexHash" and 0 < metrics["map"] <= 1
