"""Online hashing: GRH's partial_fit against the passive-aggressive update and the graph step computed by hand, one
batch of partial_fit against batch GRH, OSH against its SGD rule by hand, and the refusal of batch-only hashers."""

from functools import partial

import numpy as np
import pytest
import torch

from l2h.encoders import MLP, Linear
from l2h.errors import L2HError
from l2h.hashers.grh import GRH
from l2h.hashers.lsh import LSH
from l2h.hashers.osh import OSH
from l2h.hashers.passive_aggressive import PassiveAggressive
from tests.conftest import blobs


def signs(a):
    return np.where(a >= 0, 1.0, -1.0)


def graph_step_by_hand(codes, labels, alpha):
    """sgn(alpha * mean code of the item's class (itself included) + (1 - alpha) * its own code), densely."""
    same = (labels[:, None] == labels[None, :]).astype(float)
    return signs(alpha * (same / same.sum(1, keepdims=True)) @ codes + (1 - alpha) * codes)


def balance_by_hand(targets):
    """Each item's weight per bit: n / (2 x the items on its side of that bit), so each side weighs n / 2."""
    n = len(targets)
    return np.array([[n / (2 * np.sum(targets[:, b] == targets[i, b])) for b in range(targets.shape[1])]
                     for i in range(n)])


def pa1_by_hand(weight, bias, x, targets, C):
    """PA-I (Crammer et al. 2006), one item at a time: tau = min(C, loss / ||x||^2), w += tau y x, with the bias
    the weight of a constant input 1 and C scaled per item and bit by the class balance."""
    weight, bias = weight.copy(), bias.copy()
    aggressiveness = C * balance_by_hand(targets)
    for xi, yi, ci in zip(x.astype(float), targets, aggressiveness):
        for b in range(len(bias)):
            loss = max(0.0, 1 - yi[b] * (weight[b] @ xi + bias[b]))
            tau = min(ci[b], loss / (xi @ xi + 1))
            weight[b] += tau * yi[b] * xi
            bias[b] += tau * yi[b]
    return weight, bias


def test_partial_fit_is_the_graph_step_then_the_pa_update_by_hand(rng):
    x, y = blobs(rng, n=90, dim=7, classes=3, spread=1.5)
    first, second = slice(0, 40), slice(40, 90)
    bits, C, alpha = 5, 0.02, 0.8  # a C small enough that some steps are clipped to it, some not
    hasher = GRH(bits, partial(PassiveAggressive, C=C, bias=True), alpha=alpha, init="lsh", seed=4)

    encoder = hasher.partial_fit(x[first], y[first])
    lsh_codes = signs(x[first] @ np.random.RandomState(4).randn(7, bits))  # the first batch starts from LSH
    weight, bias = pa1_by_hand(np.zeros((bits, 7)), np.zeros(bits), x[first],
                               graph_step_by_hand(lsh_codes, y[first], alpha), C)
    assert np.allclose(encoder.linear.weight.detach().cpu().numpy(), weight, atol=1e-5)
    assert np.allclose(encoder.linear.bias.detach().cpu().numpy(), bias, atol=1e-5)

    encoder = hasher.partial_fit(x[second], y[second])  # later batches start from the current hash functions
    current = signs(x[second] @ weight.T + bias)
    weight, bias = pa1_by_hand(weight, bias, x[second], graph_step_by_hand(current, y[second], alpha), C)
    assert np.allclose(encoder.linear.weight.detach().cpu().numpy(), weight, atol=1e-5)
    assert np.allclose(encoder.linear.bias.detach().cpu().numpy(), bias, atol=1e-5)
    assert hasher.history["batches"] == 2 and len(hasher.history["flipped"]) == 2


def test_pa2_takes_the_softened_step(rng):
    x, y = blobs(rng, n=30, dim=4, classes=2)
    encoder = GRH(3, partial(PassiveAggressive, C=0.5, variant="PA-II", bias=False), init="lsh",
                  balance=False).partial_fit(x, y)
    targets = graph_step_by_hand(signs(x @ np.random.RandomState(0).randn(4, 3)), y, 1.0)
    weight = np.zeros((3, 4))
    for xi, yi in zip(x.astype(float), targets):
        loss = np.maximum(0, 1 - yi * (weight @ xi))
        weight += ((loss / (xi @ xi + 1 / (2 * 0.5))) * yi)[:, None] * xi
    assert np.allclose(encoder.linear.weight.detach().cpu().numpy(), weight, atol=1e-5)


# dropout draws from the global generator, and so does Lightning's data loader between the steps: without dropout
# the MLP's steps are the same
PARTITIONERS = {"linear": Linear, "mlp": partial(MLP, hidden=32, anchors=40, dropout=0.0)}


@pytest.mark.parametrize("rounds", [1, 2])
@pytest.mark.parametrize("partitioner", sorted(PARTITIONERS))
def test_partial_fit_on_all_the_items_is_a_round_of_batch_grh(rng, rounds, partitioner):
    """GRH.fit's round: graph step from the initial (then the hash functions') codes, then ``steps`` full-batch
    Adam steps; partial_fit on the whole training set, once per round, does the same steps."""
    x, y = blobs(rng, n=200, classes=4, spread=1.5)
    settings = dict(alpha=0.9, rounds=rounds, steps=15, lr=0.01, seed=3)
    batch = GRH(8, PARTITIONERS[partitioner], **settings).fit(x, y)
    online = GRH(8, PARTITIONERS[partitioner], **settings)
    for _ in range(rounds):
        streamed = online.partial_fit(x, y)
    for name, value in batch.state_dict().items():
        assert torch.allclose(value, streamed.state_dict()[name].cpu(), atol=1e-6), name


def test_fit_with_the_pa_partitioner_is_passes_of_partial_fit(rng):
    x, y = blobs(rng, n=120, classes=3)
    fitted = GRH(6, PassiveAggressive, rounds=2, seed=1).fit(x, y)
    online = GRH(6, PassiveAggressive, seed=1)
    online.partial_fit(x, y)
    streamed = online.partial_fit(x, y)
    assert torch.equal(fitted.linear.weight, streamed.linear.weight.cpu())


def test_batch_only_hashers_refuse_partial_fit(rng):
    with pytest.raises(L2HError, match="no partial_fit.*grh_online"):
        LSH(8).partial_fit(rng.normal(size=(10, 4)))


def test_osh_is_hinge_sgd_towards_class_codewords_by_hand(rng):
    x, y = blobs(rng, n=50, dim=6, classes=3)
    hasher = OSH(8, lr=0.2, seed=2)
    encoder = hasher.partial_fit(x[:20], y[:20])
    encoder = hasher.partial_fit(x[20:], y[20:])
    codewords = hasher.codewords
    assert sorted(codewords) == [0, 1, 2] and all(np.isin(c, (-1, 1)).all() for c in codewords.values())
    w = np.random.RandomState(2).randn(6, 8)
    w /= np.linalg.norm(w, axis=0)
    for xi, label in zip(x.astype(float), y):
        c = codewords[label]
        for b in range(8):
            if c[b] * (xi @ w[:, b]) < 1:
                w[:, b] += 0.2 * c[b] * xi
    assert np.allclose(encoder.linear.weight.detach().cpu().numpy().T, w, atol=1e-5)
    # one pass in two batches is one pass over all the items: OSH keeps nothing but its hyperplanes and codewords
    whole = OSH(8, lr=0.2, seed=2).fit(x, y)
    assert torch.equal(whole.linear.weight, encoder.linear.weight)


def test_partial_fit_steps_on_mini_batches_of_batch_size(rng):
    from l2h.losses import Hinge

    sizes = []

    class Recording(Hinge):
        def compute_loss(self, scores, targets, weights):
            sizes.append(len(targets))
            return super().compute_loss(scores, targets, weights)

    x, y = blobs(rng, n=120, classes=3)
    GRH(8, Linear, loss=Recording(), steps=4, batch_size=50).partial_fit(x, y)
    assert sizes == [50] * 4
