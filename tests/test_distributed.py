"""Beyond one process: data-parallel training through Lightning's DDP (two CPU processes, gloo) gives the
one-process result up to floating-point order (slow suite: it starts processes), and a sweep runs its jobs in
parallel through Hydra's joblib launcher and is gathered by the summary."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from l2h import checkpoint
from l2h.cli import summary
from l2h.data.source import DataSource
from l2h.training.data import StepBatches
from tests import commands
from tests.conftest import ROOT

FAST = ["trainer.enable_progress_bar=false", "protocol.n_query=100", "protocol.n_train=600", "eval.compute_map=true"]


def train(out, *args):
    done = subprocess.run([sys.executable, str(ROOT / "train.py"), "model=grh_svm", *FAST, *args,
                           f"hydra.run.dir={out}"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.parametrize("batch_size, world", [(None, 2), (7, 3), (64, 2)])
def test_processes_share_every_batch_exactly(batch_size, world):
    shards = [list(StepBatches(50, batch_size, 5, seed=3, rank=r, world=world)) for r in range(world)]
    whole = list(StepBatches(50, batch_size, 5, seed=3))
    for step, batch in enumerate(whole):
        parts = [shards[r][step] for r in range(world)]
        assert sorted(torch.cat(parts).tolist()) == sorted(batch.tolist())  # every item of the batch, in one process
        assert max(map(len, parts)) - min(map(len, parts)) <= 1


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_matches_one_process(tmp_path):
    one = train(tmp_path / "one", "trainer=cpu")
    two = train(tmp_path / "two", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2")
    assert two["config"]["trainer"]["strategy"] == "ddp"
    assert len(two["training"]["flipped"]) == len(one["training"]["flipped"]) == 3
    # the graph step is the same in both (every process regularises every item), so are the targets it flips
    assert two["training"]["flipped"][0] == pytest.approx(one["training"]["flipped"][0])
    a, _ = checkpoint.load(tmp_path / "one" / "model.ckpt")
    b, _ = checkpoint.load(tmp_path / "two" / "model.ckpt")
    x = DataSource("digits", "digits").load().features
    bits_a, bits_b = np.unpackbits(a.encode(x), axis=1), np.unpackbits(b.encode(x), axis=1)
    assert (bits_a == bits_b).mean() > 0.99  # Adam's step normalisation magnifies float rounding in a few bits
    assert abs(two["map"] - one["map"]) < 0.01
    assert not list((tmp_path / "two").glob(".*.staged"))  # the helper process left nothing behind


def test_a_joblib_sweep_runs_jobs_in_parallel_and_is_summarised(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    runs = commands.sweep("train", tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "model=lsh,grh_svm",
                          "seed=0,1", "bits=16", "trainer=cpu", *FAST)
    assert len(runs) == 4
    assert len({r["environment"]["pid"] for r in runs.values()} - {os.getpid()}) > 1  # in more than one worker
    assert summary.main([str(tmp_path)]) == 0
    table = (tmp_path / "summary.md").read_text()
    assert "| digits | standard | grh_svm | 16 | 2 |" in table and "| digits | standard | lsh | 16 | 2 |" in table
