"""The package as users install it: a wheel built from this checkout, installed into an empty virtual
environment (torch through scripts/install_torch.sh, as the README says), then a training run, an index, a
search, an evaluation and a summary through the installed commands, from a folder outside the source tree.
The search must find what brute force over the checkpoint's codes finds. In the slow suite (CI runs it)."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from l2h import checkpoint, codes
from l2h.data.source import DataSource
from tests.conftest import ROOT

# the throwaway environment compiles numba's kernels into itself, not into the cache `make` keeps for the checkout
ENV = {key: value for key, value in os.environ.items() if key != "NUMBA_CACHE_DIR"}


def sh(*cmd, cwd, timeout=900):
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=ENV)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.slow  # minutes: pip builds the wheel and installs torch into a new environment
def test_a_built_wheel_trains_indexes_and_searches_outside_the_source_tree(tmp_path):
    # build from the files a clone holds (tracked or not ignored), so the checkout gains no build/ folder
    listed = sh("git", "ls-files", "-co", "--exclude-standard", cwd=ROOT).splitlines()
    source = tmp_path / "source"
    for name in listed:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", ".", "-w", tmp_path / "wheel", cwd=source)
    wheel = next((tmp_path / "wheel").glob("l2h-*.whl"))

    venv = tmp_path / "venv"
    sh(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python, bin_dir = venv / "bin" / "python", venv / "bin"
    sh("bash", ROOT / "scripts" / "install_torch.sh", python, cwd=tmp_path)
    sh(python, "-m", "pip", "install", "-q", wheel, cwd=tmp_path)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = sh(python, "-c", "import l2h; print(l2h.__file__)", cwd=elsewhere)
    assert str(venv) in where and str(ROOT) not in where

    sh(bin_dir / "l2h-train", "model=grh_svm", "bits=16", "trainer.enable_progress_bar=false",
       "protocol.n_query=60", "protocol.n_train=300", "model.rounds=2", "hydra.run.dir=train", cwd=elsewhere)
    ckpt = elsewhere / "train" / "model.ckpt"
    trained = json.loads((elsewhere / "train" / "metrics.json").read_text())
    sh(bin_dir / "l2h-evaluate", f"ckpt_path={ckpt}", "protocol.n_query=60", "protocol.n_train=300",
       "hydra.run.dir=eval", cwd=elsewhere)
    assert json.loads((elsewhere / "eval" / "metrics.json").read_text())["map"] == trained["map"]

    features = DataSource("digits", "digits").load().features
    np.save(elsewhere / "queries.npy", features[::100])
    sh(bin_dir / "l2h-index", f"ckpt_path={ckpt}", "out=db.l2h", "progress=false", "hydra.run.dir=index",
       cwd=elsewhere)
    sh(bin_dir / "l2h-search", "index_path=db.l2h", "queries.path=queries.npy", "k=5", "out=found.npz",
       "progress=false", "hydra.run.dir=search", cwd=elsewhere)
    summary = sh(bin_dir / "l2h-summary", "train", cwd=elsewhere)
    assert "grh_svm" in summary

    model, _ = checkpoint.load(ckpt)  # the source tree's reader: an independent look at the same file
    dist = codes.hamming_matrix(model.encode(features[::100]), model.encode(features))
    found = np.load(elsewhere / "found.npz")
    order = np.lexsort((np.broadcast_to(np.arange(len(features)), dist.shape), dist), axis=1)[:, :5]
    assert np.array_equal(found["I"], order)
    assert np.array_equal(found["D"], np.take_along_axis(dist, order, 1))
