"""The deep hashing losses against their papers' equations written out pair by pair (plain Python loops over
tiny batches), their gradients where the method defines them, multi-hot labels, and the class codes they use:
CSQ's hash centres and OrthoHash's codewords."""

import math

import pytest
import torch

from l2h.errors import L2HError
from l2h.losses import CSQ, DPSH, DSH, GreedyHash, HashNet, Hinge, OrthoHash
from l2h.losses.codebooks import class_codes, hadamard
from l2h.losses.csq import item_centres
from l2h.losses.greedyhash import straight_through_sign
from l2h.losses.hinge import balanced_weights


def one_hot(ids, classes):
    return torch.nn.functional.one_hot(torch.as_tensor(ids), classes).float()


SINGLE = one_hot([0, 1, 0, 2, 1], 3)
MULTI = torch.tensor([[1, 0, 0, 1], [0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]], dtype=torch.float32)


def scores(n=5, bits=4, seed=0):
    return torch.randn(n, bits, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).float()


def similar(labels, i, j):
    return float(any(labels[i][c] > 0 and labels[j][c] > 0 for c in range(len(labels[i]))))


def sign(v):
    return 1.0 if v >= 0 else -1.0


def pairs(n):
    return [(i, j) for i in range(n) for j in range(n) if i != j]


def test_balanced_hinge_is_the_mean_of_each_bits_positive_and_negative_side_means():
    """GRH weighs each bit's classifier so that its +1 and -1 items count equally: per bit, the mean hinge over
    the +1 items and the mean hinge over the -1 items, averaged; then the mean over bits."""
    targets = torch.tensor([[1., 1., -1.], [1., -1., -1.], [1., -1., -1.], [-1., -1., -1.], [1., -1., 1.]])
    s = scores(5, 3)
    expected = 0.0
    for b in range(3):
        sides = []
        for side in (1.0, -1.0):
            items = [i for i in range(5) if targets[i, b] == side]
            sides.append(sum(max(0.0, 1 - side * float(s[i, b])) for i in items) / len(items))
        expected += (sides[0] + sides[1]) / 2 / 3
    assert Hinge()(s, targets, balanced_weights(targets)).item() == pytest.approx(expected, rel=1e-6)
    plain = sum(max(0.0, 1 - float(targets[i, b] * s[i, b])) for i in range(5) for b in range(3)) / 15
    assert Hinge()(s, targets).item() == pytest.approx(plain, rel=1e-6)


@pytest.mark.parametrize("labels", [SINGLE, MULTI], ids=["single", "multi"])
def test_dpsh_is_the_pairwise_likelihood_plus_quantisation(labels):
    u = scores()
    n, bits = u.shape
    U, Y = u.tolist(), labels.tolist()
    nll = []
    for i, j in pairs(n):
        theta = 0.5 * sum(U[i][k] * U[j][k] for k in range(bits))
        nll.append(math.log(1 + math.exp(theta)) - similar(Y, i, j) * theta)
    quant = sum((U[i][k] - sign(U[i][k])) ** 2 for i in range(n) for k in range(bits)) / (n * bits)
    expected = sum(nll) / len(nll) + 0.3 * quant
    assert DPSH(quantisation=0.3)(u, labels).item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("labels", [SINGLE, MULTI], ids=["single", "multi"])
def test_hashnet_weighs_similar_and_dissimilar_pairs_equally_with_its_scale_schedule(labels):
    u = scores(bits=8)
    n, bits = u.shape
    loss = HashNet(gamma=0.1, power=0.5, step_size=1)
    loss.setup(bits, labels.shape[1])
    loss.on_step(2)  # the third step: the authors' iteration 3
    beta = (1 + 0.1 * 3) ** 0.5
    alpha = 10 / bits
    assert loss.scale == pytest.approx(beta)
    H = [[math.tanh(beta * v) for v in row] for row in u.tolist()]
    Y = labels.tolist()
    all_pairs = pairs(n)
    n_similar = sum(similar(Y, i, j) for i, j in all_pairs)
    n_dissimilar = len(all_pairs) - n_similar
    assert 0 < n_similar < len(all_pairs)
    total = 0.0
    for i, j in all_pairs:
        theta = alpha * sum(H[i][k] * H[j][k] for k in range(bits))
        s = similar(Y, i, j)
        weight = len(all_pairs) / (n_similar if s else n_dissimilar)
        total += weight * (math.log(1 + math.exp(theta)) - s * theta)
    assert loss(u, labels).item() == pytest.approx(total / len(all_pairs), rel=1e-5)


@pytest.mark.parametrize("labels", [SINGLE, MULTI], ids=["single", "multi"])
def test_dsh_is_the_margin_contrastive_loss_with_its_regulariser(labels):
    u = scores(bits=3) * 2
    n, bits = u.shape
    U, Y = u.tolist(), labels.tolist()
    m, alpha = 2 * bits, 0.05
    total = []
    for i, j in pairs(n):
        d = sum((U[i][k] - U[j][k]) ** 2 for k in range(bits))
        y = 1 - similar(Y, i, j)  # the paper's y: 0 similar, 1 dissimilar
        reg = sum(abs(abs(U[i][k]) - 1) for k in range(bits)) + sum(abs(abs(U[j][k]) - 1) for k in range(bits))
        total.append(0.5 * (1 - y) * d + 0.5 * y * max(m - d, 0) + alpha * reg)
    assert DSH(alpha=alpha)(u, labels).item() == pytest.approx(sum(total) / len(total), rel=1e-5)
    # an explicit margin replaces 2 * bits: with a huge one every dissimilar pair pays
    assert DSH(margin=1000.0, alpha=0)(u, labels).item() > DSH(alpha=0)(u, labels).item()


def test_hadamard_rows_are_orthogonal_and_the_centres_pairwise_at_half_the_bits():
    for bits in (1, 2, 8, 32):
        h = hadamard(bits)
        assert torch.equal(h @ h.T, bits * torch.eye(bits))
    centres = class_codes(10, 16, "hadamard")
    assert centres.shape == (10, 16) and set(centres.unique().tolist()) == {-1.0, 1.0}
    distances = (centres[:, None, :] != centres[None, :, :]).sum(2)
    off = ~torch.eye(10, dtype=torch.bool)
    assert (distances[off] == 8).all()
    # beyond bits classes come the negated rows: at distance bits from their own row, bits / 2 from the rest
    more = class_codes(12, 8, "hadamard")
    assert torch.equal(more[8:], -more[:4])
    d = (more[:, None, :] != more[None, :, :]).sum(2)
    assert d[0, 8] == 8 and d[1, 8] == 4


def test_codewords_fall_back_to_seeded_fair_coins():
    """OrthoHash's and the classifier's codewords (CSQ's centres: tests/test_losses_reference.py)."""
    many = class_codes(40, 16, "hadamard", seed=3)  # 40 > 2 x 16: no Hadamard codes
    assert torch.equal(many, class_codes(40, 16, "bernoulli", seed=3))
    assert not torch.equal(many, class_codes(40, 16, "bernoulli", seed=4))
    odd = class_codes(5, 12, "hadamard", seed=0)  # 12 is not a power of two
    assert odd.shape == (5, 12) and set(odd.unique().tolist()) <= {-1.0, 1.0}
    assert 0.3 < (many > 0).float().mean() < 0.7
    with pytest.raises(L2HError):
        class_codes(3, 8, "gaussian")


def test_csq_multi_label_centre_is_the_sign_of_the_label_centres_with_ties_broken_by_a_fixed_code():
    centres = torch.tensor([[1., 1., 1., -1.], [1., -1., -1., -1.], [-1., 1., -1., 1.]])
    tie = torch.tensor([1., -1., 1., -1.])
    labels = torch.tensor([[1., 0., 0.], [1., 1., 0.], [1., 1., 1.], [0., 0., 0.]])
    got = item_centres(labels, centres, tie)
    assert torch.equal(got[0], centres[0])                               # one label: its centre
    assert torch.equal(got[1], torch.tensor([1., -1., 1., -1.]))         # sums 2, 0, 0, -2: ties from the code
    assert torch.equal(got[2], torch.tensor([1., 1., -1., -1.]))         # sums 1, 1, -1, -1
    assert torch.equal(got[3], tie)                                      # no label at all


@pytest.mark.parametrize("labels", [SINGLE, MULTI], ids=["single", "multi"])
def test_csq_is_the_centre_cross_entropy_plus_quantisation(labels):
    z = scores(bits=8)
    loss = CSQ(quantisation=0.5, pairwise=0.0, seed=1)
    loss.setup(8, labels.shape[1])
    Z, Y, C, T = z.tolist(), labels.tolist(), loss.centres.tolist(), loss.tie_break.tolist()
    total, quant = 0.0, 0.0
    for i in range(len(Z)):
        for k in range(8):
            summed = sum(Y[i][c] * C[c][k] for c in range(len(C)))
            centre = 1.0 if summed > 0 else -1.0 if summed < 0 else T[k]
            u = math.tanh(Z[i][k])
            p, t = (u + 1) / 2, (centre + 1) / 2
            total -= t * math.log(p) + (1 - t) * math.log(1 - p)
            quant += (abs(u) - 1) ** 2
    expected = total / (len(Z) * 8) + 0.5 * quant / (len(Z) * 8)
    assert loss(z, labels).item() == pytest.approx(expected, rel=1e-5)


def test_greedyhash_sign_is_exact_forward_and_the_identity_backward():
    x = torch.tensor([-2.0, -0.1, 0.0, 0.3, 5.0], requires_grad=True)
    b = straight_through_sign(x)
    assert b.tolist() == [-1.0, -1.0, 1.0, 1.0, 1.0]
    upstream = torch.tensor([0.5, -1.0, 2.0, 3.0, -4.0])
    (b * upstream).sum().backward()
    identity = x.detach().clone().requires_grad_(True)
    (identity * upstream).sum().backward()
    assert torch.equal(x.grad, identity.grad)


@pytest.mark.parametrize("labels", [SINGLE, MULTI], ids=["single", "multi"])
def test_greedyhash_is_cross_entropy_of_the_codes_classifier_plus_the_cubic_penalty(labels):
    h = scores(bits=6)
    torch.manual_seed(0)
    loss = GreedyHash(alpha=0.2)
    loss.setup(6, labels.shape[1])
    W = loss.classifier.weight.detach().tolist()
    H, Y = h.tolist(), labels.tolist()
    ce, penalty = 0.0, 0.0
    for i in range(len(H)):
        b = [sign(v) for v in H[i]]
        logits = [sum(W[c][k] * b[k] for k in range(6)) for c in range(len(W))]
        log_z = math.log(sum(math.exp(v) for v in logits))
        target = [y / sum(Y[i]) for y in Y[i]]
        ce -= sum(t * (logits[c] - log_z) for c, t in enumerate(target))
        penalty += sum(abs(abs(v) - 1) ** 3 for v in H[i])
    expected = ce / len(H) + 0.2 * penalty / (len(H) * 6)
    assert loss(h, labels).item() == pytest.approx(expected, rel=1e-5)
    # the gradient reaches the scores through the sign, and the classifier is a trainable part of the loss
    h = h.clone().requires_grad_(True)
    loss(h, labels).backward()
    assert h.grad.abs().sum() > 0 and loss.classifier.weight.grad.abs().sum() > 0
    assert [p.shape for p in loss.parameters()] == [(labels.shape[1], 6)]


def test_orthohash_codewords_are_orthogonal():
    loss = OrthoHash()
    loss.setup(16, 10)
    c = loss.codewords
    assert c.shape == (10, 16) and torch.equal(c @ c.T, 16 * torch.eye(10))
    more = OrthoHash(seed=2)
    more.setup(16, 20)  # more classes than bits: no orthogonal codebook, seeded coins
    assert more.codewords.shape == (20, 16) and set(more.codewords.unique().tolist()) == {-1.0, 1.0}


@pytest.mark.parametrize("labels", [SINGLE, MULTI], ids=["single", "multi"])
def test_orthohash_is_cross_entropy_of_scaled_cosines_with_a_margin(labels):
    z = scores(bits=8)
    s, m, q = 8.0, 0.2, 0.3
    loss = OrthoHash(scale=s, margin=m, quantisation=q)
    loss.setup(8, labels.shape[1])
    Z, Y, C = z.tolist(), labels.tolist(), loss.codewords.tolist()
    norm = lambda v: math.sqrt(sum(a * a for a in v))  # noqa: E731
    cos = lambda a, b: sum(x * y for x, y in zip(a, b)) / (norm(a) * norm(b))  # noqa: E731
    ce, quant = 0.0, 0.0
    for i in range(len(Z)):
        logits = [s * (cos(Z[i], C[c]) - m * Y[i][c]) for c in range(len(C))]
        log_z = math.log(sum(math.exp(v) for v in logits))
        ce -= sum(Y[i][c] / sum(Y[i]) * (logits[c] - log_z) for c in range(len(C)))
        quant += 1 - cos(Z[i], [sign(v) for v in Z[i]])
    assert loss(z, labels).item() == pytest.approx(ce / len(Z) + q * quant / len(Z), rel=1e-5)


@pytest.mark.parametrize("make", [DPSH, HashNet, DSH, CSQ, GreedyHash, OrthoHash])
def test_losses_stay_in_float32_for_half_precision_scores(make):
    loss = make()
    loss.setup(8, 3)
    z = scores(n=6, bits=8).to(torch.bfloat16).requires_grad_(True)
    value = loss(z, one_hot([0, 1, 2, 0, 1, 2], 3))
    assert value.dtype == torch.float32 and torch.isfinite(value)
    value.backward()
    assert z.grad is not None and torch.isfinite(z.grad.float()).all()


@pytest.mark.parametrize("make", [DPSH, HashNet, DSH])
def test_pairwise_losses_reward_codes_that_agree_with_the_labels(make):
    labels = one_hot([0, 0, 1, 1], 2)
    good = torch.tensor([[3., 3.], [3., 3.], [-3., -3.], [-3., -3.]])
    bad = torch.tensor([[3., 3.], [-3., -3.], [3., 3.], [-3., -3.]])
    loss = make()
    loss.setup(2, 2)
    assert loss(good, labels) < loss(bad, labels)


def test_setting_checks_are_one_line_errors():
    for bad in (lambda: DPSH(quantisation=-1), lambda: HashNet(alpha=0), lambda: DSH(margin=-2),
                lambda: CSQ(centres="random"), lambda: OrthoHash(margin=3), lambda: GreedyHash(alpha="x")):
        with pytest.raises(L2HError):
            bad()
    with pytest.raises(L2HError, match="setup"):
        CSQ()(scores(), SINGLE)
    with pytest.raises(L2HError, match="labelled"):
        OrthoHash().setup(8, None)
    loss = CSQ()
    loss.setup(4, 3)
    with pytest.raises(L2HError, match="classes"):
        loss(scores(), MULTI)
