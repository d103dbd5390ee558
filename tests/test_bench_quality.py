"""The quality benchmark: its run cache reuses a finished run only while its settings, code and data are the
same, and rewrites an unreadable entry whole; its speed section times the full job on every device."""

import os
import shutil

import numpy as np
import pytest

from benchmarks.quality import RunCache, fingerprint
from tests.conftest import ROOT


class Counter:
    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return {"map": 0.5, "call": self.calls}


def test_a_run_is_reused_only_for_the_same_settings_and_code(tmp_path):
    compute = Counter()
    cache = RunCache(tmp_path, code="a")
    first = cache.get(["model=grh_svm", "seed=0"], compute)
    assert cache.get(["model=grh_svm", "seed=0"], compute) == first and compute.calls == 1
    cache.get(["model=grh_svm", "seed=1"], compute)
    RunCache(tmp_path, code="b").get(["model=grh_svm", "seed=0"], compute)
    assert compute.calls == 3


def test_data_files_are_keyed_by_content_not_timestamps(tmp_path):
    data = tmp_path / "features.npz"
    data.write_bytes(b"one")
    compute, cache = Counter(), RunCache(tmp_path / "cache", code="a")
    cache.get([f"data.path={data}"], compute)
    data.unlink()
    data.write_bytes(b"one")
    os.utime(data, ns=(10**9, 10**9))  # a restored copy: same bytes, new timestamps
    cache.get([f"data.path={data}"], compute)
    assert compute.calls == 1
    data.write_bytes(b"other")
    cache.get([f"data.path={data}"], compute)
    assert compute.calls == 2


def test_an_unreadable_entry_runs_again(tmp_path):
    compute, cache = Counter(), RunCache(tmp_path, code="a")
    cache.get(["seed=0"], compute)
    (entry,) = tmp_path.glob("*.json")
    entry.write_text('{"metrics": {"map"')
    assert cache.get(["seed=0"], compute) == {"map": 0.5, "call": 2}
    assert [p.name for p in tmp_path.iterdir()] == [entry.name]  # rewritten in place, no temporary file left


def test_the_fingerprint_follows_the_code(tmp_path):
    copy = tmp_path / "l2h-copy"
    shutil.copytree(ROOT / "l2h", copy / "l2h", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "train.py", copy / "train.py")
    before = fingerprint(copy)
    assert fingerprint(copy) == before
    (copy / "l2h" / "conf" / "model" / "grh_svm.yaml").write_text("alpha: 0.5\n", encoding="utf-8")
    assert fingerprint(copy) != before


@pytest.mark.slow  # ten full GRH rounds on 6500 x 512 items
def test_the_speed_section_trains_all_ten_rounds_on_each_device(tmp_path, rng):
    import scipy.io
    import torch

    from benchmarks.quality import speed_table

    labels = np.repeat(np.arange(10), 650)  # enough for the standard protocol's 1000 queries and 5000 labels
    features = rng.normal(size=(labels.size, 512)) + labels[:, None] * 0.05
    scipy.io.savemat(tmp_path / "gist.mat", {"X": features, "X_class": labels[None, :].astype(float)})
    lines = speed_table(str(tmp_path / "gist.mat"), seeds=[0])
    measured = [line for line in lines if line.startswith(("| CPU", "| GPU")) and "not measured" not in line]
    assert measured[0].startswith("| CPU") and len(measured) == 1 + torch.cuda.is_available()
    assert all(line.endswith("| 10 |") for line in measured)  # no early stop: the job is 10 rounds
