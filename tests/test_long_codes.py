"""Codes longer than the data's dimensions: PCA and ITQ give one bit per dimension, so GRH's initial codes take
those bits from PCA (or ITQ) and the rest from LSH, and the README's ``python train.py model=grh_svm bits=128``
(and 256) train, index and evaluate on the 64-dimensional digits."""

import numpy as np
import pytest
import torch

from l2h.hashers.initial_codes import initial_codes
from l2h.hashers.itq import ITQ
from l2h.hashers.pcah import PCAH
from tests import commands


@pytest.mark.parametrize("kind, hasher", [("pca", PCAH), ("itq", ITQ)])
def test_long_initial_codes_are_the_learned_codes_then_lsh(rng, kind, hasher):
    """Against the hashers themselves: the first 12 bits are PCAH's (ITQ's) 12-bit codes, the other 20 the sign
    of the LSH hyperplanes' last 20 columns."""
    x = rng.normal(size=(300, 12)) @ rng.normal(size=(12, 12))
    planes = rng.normal(size=(12, 32))
    codes = initial_codes(x, 32, kind, planes, seed=3)
    with torch.no_grad():
        learned = hasher(12, 3, "cpu").fit(x)(torch.as_tensor(x, dtype=torch.float32)).numpy()
    assert np.array_equal(codes[:, :12], np.where(learned >= 0, 1.0, -1.0))
    assert np.array_equal(codes[:, 12:], np.where(x @ planes[:, 12:] >= 0, 1.0, -1.0))


@pytest.mark.parametrize("bits", [128, 256])
def test_grh_svm_longer_than_the_digits_trains_indexes_and_evaluates(tmp_path, bits):
    # one short round: the initial codes, which failed, come before any round
    metrics = commands.train(tmp_path / "train", "model=grh_svm", f"bits={bits}", "model.rounds=1", "model.steps=5",
                             *commands.FAST)
    assert metrics["training"]["initial_codes"] == {"pca": 64, "lsh": bits - 64}
    assert metrics["bits"] == bits and metrics["map"] > 0.5
    ckpt = metrics["checkpoint"]
    commands.index(tmp_path / "index", f"ckpt_path={ckpt}", f"out={tmp_path / 'db.l2h'}")
    assert (tmp_path / "db.l2h").exists()
    again = commands.evaluate(tmp_path / "evaluate", f"ckpt_path={ckpt}")
    assert again["map"] == pytest.approx(metrics["map"])


def test_every_code_length_check_allows_1_to_4096_bits_and_says_so():
    """The configured run, an encoder, a hasher, an index and the evaluation settings take the same code lengths
    and refuse the others with the same message."""
    from l2h import pipeline
    from l2h.encoders import Linear
    from l2h.errors import L2HError
    from l2h.eval.settings import EvalSettings
    from l2h.hashers.lsh import LSH
    from l2h.index import FlatIndex

    def run(bits):
        cfg = commands.config("train", ["model=lsh", "eval.max_radius=0"])
        cfg.bits = bits
        pipeline.build_parts(cfg, training=True)

    takers = {"run": run, "encoder": lambda b: Linear(4, b), "hasher": LSH,
              "index": FlatIndex, "eval": EvalSettings(max_radius=0).check_bits}
    for name, take in takers.items():
        for bits in (1, 4096):
            take(bits)
        for bits in (0, -8, 4097, True, 32.0, "32", None):
            with pytest.raises(L2HError) as refused:
                take(bits)
            assert str(refused.value) == f"bits must be a positive integer of at most 4096, got bits={bits!r}: " \
                                         "8 to 1024 bits are the usual code lengths, e.g. bits=32", name
