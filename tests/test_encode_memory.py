"""Encoding a large set holds a bounded slice of it in the network at a time (a CNN over 65536 MNIST images at
once peaked at 7.3 GiB) and gives the scores of one pass; preprocessing makes one new float32 array and leaves
the caller's rows alone."""

import numpy as np
import pytest
import torch

from l2h.data.preprocess import Preprocessor
from l2h.encoders.cnn import CNN
from l2h.model import FORWARD_ROWS, HashModel


def test_the_network_sees_a_bounded_slice_at_a_time_and_gives_the_scores_of_one_pass(rng):
    x = rng.random((2 * FORWARD_ROWS + 300, 64)).astype(np.float32)
    encoder = CNN(64, 16, channels=[4], hidden=8).eval()
    model = HashModel(Preprocessor(64).fit(x), encoder)
    seen = []
    encoder.register_forward_pre_hook(lambda module, args: seen.append(len(args[0])))
    scores = model.scores(x, batch_size=65536)  # what index.py and Searcher ask for
    assert len(seen) == 3 and max(seen) <= FORWARD_ROWS and sum(seen) == len(x)
    with torch.no_grad():
        whole = encoder(torch.from_numpy(model.preprocess.transform(x))).numpy()  # every row in one pass
    np.testing.assert_allclose(scores, whole, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("l2", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_preprocessing_gives_new_float32_rows_and_leaves_the_input_alone(rng, l2, dtype):
    x = (rng.normal(size=(50, 6)) + 2).astype(dtype)
    before = x.copy()
    pre = Preprocessor(6, l2=l2).fit(x[:30])
    out = pre.transform(x)
    assert np.array_equal(x, before) and out.dtype == np.float32
    base = x / np.linalg.norm(x, axis=1, keepdims=True) if l2 else x.astype(np.float64)
    np.testing.assert_allclose(out, base - base[:30].mean(axis=0), atol=1e-6)
