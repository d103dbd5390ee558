"""Data-parallel training with mini-batches (README, "Data-parallel training"): two CPU processes (DDP, gloo)
train the model one process trains, up to floating-point order, for GRH on mini-batches and for a deep loss of
one term per item (CSQ without its pairwise term: a pairwise loss pairs items within a process's share, and so
differs by design). Processes are started by train.py itself, as a user runs it; slow."""

import json
import subprocess
import sys

import numpy as np
import pytest

from l2h import checkpoint
from l2h.data.source import DataSource
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

FAST = ["trainer.enable_progress_bar=false", "protocol.n_query=100", "protocol.n_train=600", "bits=16"]
MODELS = {
    "grh": ["model=grh_svm", "model.batch_size=50"],  # 12 mini-batches of 50, 25 items per process
    "deep": ["model=csq", "model.loss.pairwise=0", "model.epochs=3", "model.batch_size=64", "encoder.dropout=0",
             "encoder.hidden=64", "encoder.anchors=200"],
}


def train(out, *args):
    done = subprocess.run([sys.executable, str(ROOT / "train.py"), *FAST, *args, f"hydra.run.dir={out}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.parametrize("model", list(MODELS))
def test_two_processes_on_mini_batches_train_what_one_process_trains(tmp_path, model):
    one = train(tmp_path / "one", *MODELS[model], "trainer=cpu")
    two = train(tmp_path / "two", *MODELS[model], "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2")
    assert two["config"]["trainer"]["strategy"] == "ddp" and two["config"]["trainer"]["devices"] == 2
    a, _ = checkpoint.load(tmp_path / "one" / "model.ckpt")
    b, _ = checkpoint.load(tmp_path / "two" / "model.ckpt")
    x = DataSource("digits", "digits").load().features
    agree = (np.unpackbits(a.encode(x), axis=1) == np.unpackbits(b.encode(x), axis=1)).mean()
    assert agree > 0.99  # the README's 99.9%: Adam's normalised steps magnify rounding in a few bits
    assert two["map"] == pytest.approx(one["map"], abs=0.01)
