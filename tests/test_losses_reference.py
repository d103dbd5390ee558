"""Each deep loss, value and gradient, against the formula of its reference code re-derived here in float64 torch
(autograd on the re-derived formula gives the reference gradient), and the schedules and hash centres those
codes use. References: DeepHash-pytorch (swuxyj/DeepHash-pytorch @ ab14068) for DPSH, HashNet's likelihood, CSQ's
central term, GreedyHash; yuanli2333/Hadamard-Matrix-for-hashing @ 55cab00 for CSQ's pairwise term;
thuml/HashNet @ 85387b8 for HashNet's scale; kamwoh/orthohash @ 94c4a03 for OrthoHash; the DSH paper for DSH.
Each re-derivation states where l2h deliberately differs (self-pairs, a bank of the training set)."""

import logging
import math

import pytest
import torch
from torch.nn import functional as F

from l2h.losses import CSQ, DPSH, DSH, GreedyHash, HashNet, OrthoHash
from l2h.losses.codebooks import hadamard, hash_centres

SINGLE = F.one_hot(torch.tensor([0, 1, 0, 2, 1, 2, 0, 1]), 3).double()
MULTI = torch.tensor([[1, 0, 0, 1], [0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1], [0, 1, 0, 1],
                      [1, 0, 0, 0], [0, 0, 0, 1]], dtype=torch.float64)
LABELS = pytest.mark.parametrize("labels", [SINGLE, MULTI], ids=["single", "multi"])


def scores(n=8, bits=8, seed=0, spread=1.5):
    return spread * torch.randn(n, bits, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def check(loss, reference, z, labels):
    """The loss's value and gradient w.r.t. the scores (float32, as training runs it) against the reference's
    (float64 autograd)."""
    mine = z.float().requires_grad_(True)
    value = loss(mine, labels.float())
    value.backward()
    ref_z = z.clone().requires_grad_(True)
    expected = reference(ref_z, labels)
    expected.backward()
    assert value.item() == pytest.approx(expected.item(), rel=1e-5, abs=1e-7)
    assert torch.allclose(mine.grad.double(), ref_z.grad, rtol=1e-4, atol=1e-7), (mine.grad, ref_z.grad)
    return mine.grad, ref_z.grad


def similarity(a, b):
    return (a @ b.T > 0).double()


def off_diagonal_mean(matrix):
    n = matrix.shape[0]
    return (matrix * (1 - torch.eye(n, dtype=matrix.dtype))).sum() / (n * (n - 1))


# DPSH: DeepHash-pytorch's DPSHLoss, its bank of detached scores holding exactly this batch, self-pairs left out
@LABELS
def test_dpsh_is_deephash_pytorchs_loss_value_and_gradient(labels):
    alpha = 0.1

    def reference(u, y):
        bank = u.detach()
        theta = u @ bank.T * 0.5
        likelihood = (1 + (-theta.abs()).exp()).log() + theta.clamp(min=0) - similarity(y, y) * theta
        return off_diagonal_mean(likelihood) + alpha * (u - u.sign()).pow(2).mean()

    z = scores()
    got, _ = check(DPSH(quantisation=alpha), reference, z, labels)
    # the paper's gradient direction, as each score sees it: sum_j (sigma(theta_ij) - s_ij) u_j / 2 over the pairs
    n, bits = z.shape
    s = similarity(labels, labels)
    closed = torch.zeros_like(z)
    for i in range(n):
        for j in range(n):
            if i != j:
                theta = float(z[i] @ z[j]) / 2
                closed[i] += (1 / (1 + math.exp(-theta)) - s[i, j]) * z[j] / 2 / (n * (n - 1))
        closed[i] += alpha * 2 * (z[i] - z[i].sign()) / (n * bits)
    assert torch.allclose(got.double(), closed, rtol=1e-4, atol=1e-7)


# HashNet: DeepHash-pytorch's HashNetLoss (the paper's S/S1, S/S0 weights), self-pairs left out
@LABELS
@pytest.mark.parametrize("scale", [1.0, 2.5])
def test_hashnet_is_the_weighted_likelihood_value_and_gradient(labels, scale):
    bits = 8
    sigmoid_alpha = 10 / bits

    def reference(z, y):
        u = torch.tanh(scale * z)
        s = similarity(y, y)
        keep = 1 - torch.eye(len(z), dtype=z.dtype)
        dot = sigmoid_alpha * u @ u.T
        nll = dot + torch.log(1 + torch.exp(-dot)) - s * dot
        similar, dissimilar = (s * keep).sum(), ((1 - s) * keep).sum()
        total = similar + dissimilar
        weight = torch.where(s > 0, total / similar, total / dissimilar)
        return (weight * nll * keep).sum() / total

    loss = HashNet()
    loss.setup(bits, labels.shape[1])
    loss.scale = scale
    check(loss, reference, scores(bits=bits), labels)


def test_hashnet_scale_per_step_is_the_authors_continuation():
    """thuml/HashNet's ScaleTanH layer (Caffe) and forward (PyTorch): before each training iteration the counter
    goes up by one, and at every multiple of step_size the scale becomes init * (1 + gamma * iter) ** power."""
    loss = HashNet()  # the YAML's and the authors' defaults: gamma 0.005, step 200, power 0.5, init 1
    loss.setup(16, 3)
    iteration, scale = 0, 1.0
    seen = []
    for step in range(10000):
        iteration += 1
        if iteration % 200 == 0:
            scale = 1.0 * math.pow(1.0 + 0.005 * iteration, 0.5)
        loss.on_step(step)
        assert loss.scale == pytest.approx(scale, rel=1e-12), step
        seen.append(loss.scale)
    assert seen[9798] == 7.0 and seen[9799] == pytest.approx(math.sqrt(50)) == seen[-2]
    assert seen[-2] == pytest.approx(7.0711, abs=1e-4)
    assert seen[-1] == pytest.approx(math.sqrt(51)) and seen[0] == 1.0 and seen[198] == 1.0
    other = HashNet(gamma=0.1, power=0.7, init_scale=2.0, step_size=3)
    for step in range(20):
        other.on_step(step)
        assert other.scale == pytest.approx(2.0 * (1 + 0.1 * 3 * ((step + 1) // 3)) ** 0.7)


# CSQ: DeepHash-pytorch's central term (BCE of (u + 1) / 2 against (c + 1) / 2, lambda * Q) and the authors'
# my_pairwise_loss on the batch's first half against its second half
@LABELS
@pytest.mark.parametrize("n", [7, 8])
def test_csq_is_the_authors_loss_value_and_gradient(labels, n):
    bits, q, p = 8, 0.05, 0.2
    loss = CSQ(quantisation=q, pairwise=p, seed=1)
    loss.setup(bits, labels.shape[1])
    centres, tie = loss.centres.double(), loss.tie_break.double()

    def reference(z, y):
        u = z.tanh()
        total = y @ centres
        total = torch.where(total == 0, tie.expand_as(total), total)  # DeepHash: the random centre where they cancel
        centre = 2 * (total > 0).double() - 1
        center_loss = F.binary_cross_entropy(0.5 * (u + 1), 0.5 * (centre + 1))
        q_loss = (u.abs() - 1).pow(2).mean()
        half = int(0.5 * len(y))
        out1, out2 = u.narrow(0, 0, half), u.narrow(0, half, half)
        s = similarity(y[:half], y[half:2 * half])
        dot = 10.0 / bits * out1 @ out2.T
        pairwise = (torch.log(1 + torch.exp(dot)) - s * dot).mean()
        return center_loss + p * pairwise + q * q_loss

    check(loss, reference, scores(n=n, bits=bits, spread=0.8), labels[:n])  # 7: the last item is in no pair


def test_csq_pairwise_term_is_not_hashnets_weighting():
    """The authors' term is an unweighted mean over first-half x second-half pairs: items paired within a half
    change nothing."""
    labels = F.one_hot(torch.tensor([0, 0, 1, 1]), 2).float()
    z = torch.tensor([[2., 2.], [-2., -2.], [1., -1.], [-1., 1.]])
    loss = CSQ(pairwise=1.0, quantisation=0.0)
    loss.setup(2, 2)
    central = CSQ(pairwise=0.0, quantisation=0.0)
    central.setup(2, 2)
    # halves: {0, 1} against {2, 3}, all dissimilar; items 0 and 1 (similar, codes opposite) are never paired
    u = torch.tanh(z)
    theta = 10 / 2 * u[:2] @ u[2:].T
    expected = F.softplus(theta).mean()
    assert (loss(z, labels) - central(z, labels)).item() == pytest.approx(expected.item(), rel=1e-6)


def pairwise_distances(codes):
    return (codes[:, None, :] != codes[None, :, :]).sum(2)


# the classes x bits that CSQ's drawn centres serve: bits not a power of two, or more than 2 x bits classes
GRID = [(classes, bits) for bits in (8, 12, 16, 20, 24, 32, 48, 64) for classes in (3, 10, 21, 38, 80, 100)
        if bits & (bits - 1) or classes > 2 * bits] + [(200, 24), (200, 64)]
# settings the field runs that must get centres more than bits / 4 apart, no warning
KEPT_APART = {(10, 12), (21, 12), (38, 12), (10, 20), (100, 20), (10, 24), (21, 24), (80, 24), (100, 24), (10, 48),
              (21, 48), (80, 48), (100, 48), (200, 24), (200, 64)}


def test_csq_drawn_centres_are_more_than_a_quarter_of_the_bits_apart(caplog, one_torch_thread):
    """DeepHash-pytorch keeps drawing until min distance > bits / 4 and mean >= bits / 2; where that cannot be
    reached the centres come with a warning that states the distance reached."""
    for classes, bits in GRID:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="l2h.losses.codebooks"):
            centres = hash_centres(classes, bits, "hadamard", seed=0)
        assert centres.shape == (classes, bits) and set(centres.unique().tolist()) <= {-1.0, 1.0}
        if not bits & (bits - 1):  # the Hadamard rows stay, as DeepHash-pytorch keeps them
            h = hadamard(bits)
            assert torch.equal(centres[:2 * bits], torch.cat([h, -h]))
        else:
            assert ((centres < 0).sum(1) == bits // 2).all()  # balanced, as DeepHash-pytorch draws them
        d = pairwise_distances(centres)[~torch.eye(classes, dtype=torch.bool)]
        if caplog.records:
            assert f"only {int(d.min())} bits apart" in caplog.text, (classes, bits)
            assert (classes, bits) not in KEPT_APART
        else:
            assert d.min() > bits / 4 and d.float().mean() >= bits / 2, (classes, bits)
    assert KEPT_APART <= set(GRID)


def test_csq_centres_are_seeded_and_bernoulli_draws_them_all(one_torch_thread):
    assert torch.equal(hash_centres(21, 24, seed=3), hash_centres(21, 24, seed=3))
    assert not torch.equal(hash_centres(21, 24, seed=3), hash_centres(21, 24, seed=4))
    drawn = hash_centres(10, 16, "bernoulli", seed=0)  # no Hadamard rows: every centre drawn
    assert not torch.equal(drawn, hadamard(16)[:10])
    assert pairwise_distances(drawn)[~torch.eye(10, dtype=torch.bool)].min() > 4
    loss = CSQ(seed=2)
    loss.setup(12, 10)
    assert torch.equal(loss.centres, hash_centres(10, 12, "hadamard", 2))


# DSH: the paper's margin contrastive loss with its regulariser, over the ordered pairs of distinct items
@LABELS
def test_dsh_is_the_papers_loss_value_and_gradient(labels):
    bits, alpha = 4, 0.05
    m = 2 * bits

    def reference(b, y):
        dissimilar = 1 - similarity(y, y)
        d = ((b[:, None, :] - b[None, :, :]) ** 2).sum(2)
        reg = (b.abs() - 1).abs().sum(1)
        pair = (0.5 * (1 - dissimilar) * d + 0.5 * dissimilar * (m - d).clamp(min=0)
                + alpha * (reg[:, None] + reg[None, :]))
        return off_diagonal_mean(pair)

    check(DSH(alpha=alpha), reference, scores(bits=bits), labels)


# GreedyHash: DeepHash-pytorch's GreedyHashLoss (sign forward, identity backward, a bias-free classifier),
# multi-label items against their labels normalised to sum 1 (DeepHash-pytorch takes the first label)
@LABELS
def test_greedyhash_is_the_reference_loss_value_and_gradient(labels):
    bits, alpha = 6, 0.1
    torch.manual_seed(0)
    loss = GreedyHash(alpha=alpha)
    loss.setup(bits, labels.shape[1])
    weight = loss.classifier.weight.detach().double()

    def reference(u, y):
        b = u + (u.sign() - u).detach()  # the straight-through sign
        log_p = F.log_softmax(b @ weight.T, 1)
        ce = -(y / y.sum(1, keepdim=True) * log_p).sum(1).mean()
        return ce + alpha * (u.abs() - 1).pow(3).abs().mean()

    check(loss, reference, scores(bits=bits), labels)
    if labels is SINGLE:  # one label: exactly torch's cross-entropy of the class ids, as DeepHash-pytorch calls it
        z = scores(bits=bits)
        b = z.sign()
        expected = F.cross_entropy(b @ weight.T, labels.argmax(1)) + alpha * (z.abs() - 1).pow(3).abs().mean()
        assert loss(z.float(), labels.float()).item() == pytest.approx(expected.item(), rel=1e-5)


# OrthoHash: kamwoh/orthohash's OrthoHashLoss with m_type cos, the single-label cross-entropy, the multi-label
# label_smoothing loss, and quan_type cs
@LABELS
def test_orthohash_is_the_authors_loss_value_and_gradient(labels):
    bits, s, m, quan = 8, 8.0, 0.2, 0.3
    loss = OrthoHash(scale=s, margin=m, quantisation=quan)
    loss.setup(bits, labels.shape[1])
    codebook = loss.codewords.double()

    def reference(code_logits, y):
        logits = F.normalize(code_logits, dim=1) @ F.normalize(codebook, dim=1).T
        margin_logits = s * (logits - y * m)
        if labels is SINGLE:
            loss_ce = F.cross_entropy(margin_logits, y.argmax(1))
        else:
            loss_ce = (-(y / y.sum(1, keepdim=True)) * F.log_softmax(margin_logits, 1)).sum(1).mean()
        quantization = (1. - F.cosine_similarity(code_logits, code_logits.detach().sign(), dim=1)).mean()
        return loss_ce + quan * quantization

    check(loss, reference, scores(bits=bits), labels)


class RecordedHashNet(HashNet):
    def on_step(self, step):
        super().on_step(step)
        self.seen = [*getattr(self, "seen", []), (step, self.scale)]


def test_training_advances_hashnets_scale_once_per_optimiser_step():
    import functools

    import numpy as np
    import pytorch_lightning as pl

    from l2h.encoders import MLP
    from l2h.hashers.deep import DeepHasher

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(120, 6)).astype(np.float32), rng.integers(0, 3, 120)
    loss = RecordedHashNet(gamma=1.0, step_size=2)
    trainer = functools.partial(pl.Trainer, accelerator="cpu", devices=1, logger=False, enable_model_summary=False,
                                enable_progress_bar=False)
    DeepHasher(8, functools.partial(MLP, hidden=8, dropout=0.0), loss, epochs=3, batch_size=40).fit(x, y,
                                                                                                   trainer=trainer)
    # 3 batches an epoch, 3 epochs: steps 0 .. 8, the scale of iteration k = step + 1 raised at each even k
    assert loss.seen == [(step, math.sqrt(1 + (step + 1) // 2 * 2)) for step in range(9)]
