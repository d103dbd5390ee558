"""A user's own hasher (and the encoder it returns), defined in their own module and named by ``_target_`` in
their own YAML, runs through train.py and evaluate.py (their functions, in this process) without touching l2h."""

import json
import sys
import textwrap

import pytest

from l2h.errors import L2HError
from tests import commands

USER_MODULE = '''
"""A user's hasher: per-bit thresholds at the median of random projections (balanced bits)."""
import numpy as np
import torch

from l2h.encoders.base import Encoder
from l2h.errors import L2HError
from l2h.hashers.base import Hasher


class MedianThreshold(Encoder):
    def __init__(self, in_dim, bits, seed=0):
        super().__init__(in_dim, bits, seed=seed)
        self.register_buffer("planes", torch.zeros(in_dim, bits))
        self.register_buffer("thresholds", torch.zeros(bits))

    def hparams(self):
        return {"in_dim": self.in_dim, "bits": self.bits, "seed": self.seed}

    def score(self, z):
        return z @ self.planes - self.thresholds


class MedianHasher(Hasher):
    def __init__(self, bits, spread=1.0, seed=0):
        super().__init__(bits, seed)
        if not spread > 0:
            raise L2HError(f"spread must be positive, got {spread}")
        self.spread = spread

    def fit(self, features, labels=None, *, validation=None, trainer=None):
        planes = self.spread * self.random_hyperplanes(features.shape[1]).astype(np.float32)
        encoder = MedianThreshold(features.shape[1], self.bits, self.seed)
        with torch.no_grad():
            encoder.planes.copy_(torch.from_numpy(planes))
            encoder.thresholds.copy_(torch.from_numpy(np.median(features @ planes, axis=0)))
        self.history = {"thresholds": encoder.thresholds.tolist()}
        return encoder
'''

USER_YAML = '''
# A user's hasher, outside the l2h package.
name: median
_target_: my_hashers.MedianHasher
bits: ${bits}
seed: ${seed}
spread: 1.0
'''

def test_a_users_hasher_trains_and_evaluates_through_the_commands(tmp_path, monkeypatch):
    (tmp_path / "my_hashers.py").write_text(textwrap.dedent(USER_MODULE))
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "model" / "median.yaml").write_text(textwrap.dedent(USER_YAML))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_hashers", raising=False)  # removed again when the test ends
    run_dir = tmp_path / "run"
    metrics = commands.train(run_dir, "model=median", "bits=16", *commands.FAST,
                             f"hydra.searchpath=[file://{tmp_path / 'conf'}]")
    assert metrics["model"] == "median" and len(metrics["training"]["thresholds"]) == 16
    # balanced bits: each bit is 1 for about half of the training items, so the codes are far from constant
    assert 0.05 < metrics["map"] < 1
    assert json.loads((run_dir / "metrics.json").read_text())["map"] == metrics["map"]

    again = commands.evaluate(tmp_path / "again", f"ckpt_path={run_dir / 'model.ckpt'}")
    assert again["map"] == metrics["map"]

    # without the user's module on the path, the checkpoint is refused in one line, not unpickled or guessed
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])
    del sys.modules["my_hashers"]
    with pytest.raises(L2HError, match="my_hashers") as caught:
        commands.evaluate(tmp_path / "bare", f"ckpt_path={run_dir / 'model.ckpt'}")
    assert "\n" not in str(caught.value)
