"""The classic hashers (PCAH, ITQ, SH, KSH, SDH, LFH, COSDISH) against independent references: slow, obvious
implementations of their defining equations on tiny data, and the invariants of their optimisations."""

import itertools
import math

import numpy as np
import pytest
import torch
from conftest import blobs

from l2h.encoders.base import Encoder
from l2h.errors import L2HError
from l2h.eval.metrics import ranking_metrics
from l2h.eval.relevance import from_labels
from l2h.hashers.cosdish import COSDISH, coordinate_ascent, sampled_loss
from l2h.hashers.itq import ITQ, random_rotation
from l2h.hashers.ksh import KSH, PairwiseLabels, surrogate
from l2h.hashers.lfh import LFH, newton_step
from l2h.hashers.lsh import LSH
from l2h.hashers.pcah import PCAH
from l2h.hashers.sdh import SDH
from l2h.hashers.sh import SH

# small, fast settings: the defaults are the papers', sized for thousands of items
FAST = {
    "pcah": (PCAH, {}),
    "itq": (ITQ, {}),
    "sh": (SH, {}),
    "ksh": (KSH, {"anchors": 40, "labelled": 200, "iterations": 20}),
    "sdh": (SDH, {"anchors": 100}),
    "lfh": (LFH, {}),
    "cosdish": (COSDISH, {}),
}
RANDOM = {"itq", "ksh", "sdh", "lfh", "cosdish"}  # methods whose result depends on the seed
SUPERVISED = {"ksh", "sdh", "lfh", "cosdish"}


def make(name, bits=8, seed=0, **settings):
    cls, fast = FAST[name]
    return cls(bits, seed=seed, device="cpu", **{**fast, **settings})


def scores(encoder, x):
    with torch.no_grad():
        return encoder(torch.as_tensor(x, dtype=torch.float32)).numpy()


def codes(encoder, x):
    return np.packbits(scores(encoder, x) >= 0, axis=1, bitorder="little")


def mean_ap(encoder, x, y, bits, n_query=150):
    c = codes(encoder, x)
    return ranking_metrics(c[:n_query], c[n_query:], from_labels(y[:n_query], y[n_query:]), bits).summary()["map"]


@pytest.fixture(scope="module")
def data():
    x, y = blobs(np.random.default_rng(7), n=500, dim=16, classes=4, spread=1.5)
    return x - x.mean(0), y


# ------------------------------------------------------------------------------------------------------------
# every hasher


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_a_random_method_is_reproducible_by_its_seed(name, data):
    x, y = data
    a, b, c = (scores(make(name, seed=s).fit(x, y), x) for s in (0, 0, 1))
    assert np.array_equal(a, b) and not np.array_equal(a >= 0, c >= 0)


@pytest.mark.parametrize("name", sorted(set(FAST) - RANDOM))
def test_a_method_with_nothing_random_ignores_the_seed(name, data):
    x, y = data
    assert np.array_equal(scores(make(name, seed=0).fit(x, y), x), scores(make(name, seed=1).fit(x, y), x))


@pytest.mark.parametrize("name", FAST)
def test_encoder_rebuilds_from_its_hparams(name, data):
    x, y = data
    encoder = make(name).fit(x, y)
    assert isinstance(encoder, Encoder)
    rebuilt = type(encoder)(**encoder.hparams())
    rebuilt.load_state_dict(encoder.state_dict())
    assert np.array_equal(scores(rebuilt, x), scores(encoder, x))


@pytest.mark.parametrize("name", sorted(set(FAST) - SUPERVISED))
def test_unsupervised_hashers_need_no_labels(name, data):
    x, y = data
    assert np.array_equal(scores(make(name).fit(x), x), scores(make(name).fit(x, y), x))


@pytest.mark.parametrize("name", sorted(SUPERVISED))
def test_supervised_hashers_refuse_missing_labels(name, data):
    with pytest.raises(L2HError, match="supervised"):
        make(name).fit(data[0])
    with pytest.raises(L2HError, match="labels"):
        make(name).fit(data[0], data[1][:10])


@pytest.mark.parametrize("name", sorted(SUPERVISED))
def test_supervised_hashers_beat_lsh_on_blobs(name, data):
    x, y = data
    train, held_out = slice(0, 300), slice(300, None)
    lsh = mean_ap(LSH(16).fit(x[train]), x[held_out], y[held_out], 16)
    ours = mean_ap(make(name, bits=16).fit(x[train], y[train]), x[held_out], y[held_out], 16)
    assert ours > lsh + 0.1 and ours > 0.85


@pytest.mark.parametrize("name", sorted(SUPERVISED))
def test_supervised_hashers_take_multi_hot_labels(name, data):
    x, y = data
    multi = np.zeros((len(y), 5), dtype=np.uint8)
    multi[np.arange(len(y)), y] = 1
    multi[y == 3, 4] = 1  # class 3 also carries label 4: items of class 3 share a label with nothing else
    encoder = make(name, bits=16).fit(x[:300], multi[:300])
    held = ranking_metrics(codes(encoder, x[300:350]), codes(encoder, x[350:]),
                           from_labels(multi[300:350], multi[350:]), 16).summary()["map"]
    assert held > 0.85


@pytest.mark.parametrize(("name", "settings"), [
    ("itq", {"iterations": -1}), ("itq", {"iterations": 2.5}),
    ("ksh", {"anchors": 0}), ("ksh", {"labelled": 1}), ("ksh", {"iterations": -1}), ("ksh", {"kernel_width": 0}),
    ("sdh", {"anchors": 0}), ("sdh", {"lam": -1.0}), ("sdh", {"nu": float("nan")}), ("sdh", {"ridge": 0.0}),
    ("sdh", {"iterations": 0}), ("sdh", {"bit_sweeps": True}), ("sdh", {"kernel_width": -0.5}),
    ("lfh", {"iterations": -1}), ("lfh", {"columns": 0}), ("lfh", {"beta": 0.0}), ("lfh", {"ridge": -1.0}),
    ("lfh", {"standardise": "no"}),
    ("cosdish", {"iterations": 0}), ("cosdish", {"alternations": 0}), ("cosdish", {"columns": 0}),
    ("cosdish", {"ridge": -1.0}), ("cosdish", {"balance": 1}), ("cosdish", {"standardise": None}),
    ("pcah", {"device": "tpu"}), ("sh", {"seed": -1}), ("lfh", {"bits": 0}),
])
def test_impossible_settings_are_refused_in_one_line(name, settings):
    settings = {"bits": 8, **settings}
    cls, _ = FAST[name]
    with pytest.raises(L2HError) as info:
        cls(**settings)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["pcah", "itq"])
def test_more_bits_than_dimensions_is_refused(name, data):
    with pytest.raises(L2HError, match="cannot exceed the feature dimensions"):
        make(name, bits=17).fit(data[0])


# ------------------------------------------------------------------------------------------------------------
# PCAH and ITQ


def pca_reference(x, k):
    """Principal directions by an SVD of the centred data, each with its largest entry made positive."""
    centred = x.astype(np.float64) - x.mean(0)
    v = np.linalg.svd(centred, full_matrices=False)[2][:k].T
    return centred, v * np.sign(v[np.abs(v).argmax(0), np.arange(k)])


@pytest.fixture(scope="module")
def correlated():
    rng = np.random.default_rng(3)
    return (rng.normal(size=(400, 10)) * np.linspace(3, 0.5, 10)) @ np.linalg.qr(rng.normal(size=(10, 10)))[0]


def test_pcah_codes_are_signs_of_the_top_principal_components(correlated):
    centred, v = pca_reference(correlated, 6)
    assert np.array_equal(scores(make("pcah", bits=6).fit(correlated), correlated) >= 0, centred @ v >= 0)


def test_itq_follows_the_paper_and_lowers_the_quantisation_loss(correlated):
    bits = 6
    itq = make("itq", bits=bits, seed=4)
    encoder = itq.fit(correlated)
    centred, v = pca_reference(correlated, bits)
    projected = centred @ v
    rotation = random_rotation(bits, 4)
    for _ in range(50):  # the paper's loop, written out
        b = np.where(projected @ rotation >= 0, 1.0, -1.0)
        u, _, wt = np.linalg.svd(b.T @ projected)
        rotation = wt.T @ u.T
    assert np.allclose(rotation.T @ rotation, np.eye(bits))
    assert np.array_equal(scores(encoder, correlated) >= 0, projected @ rotation >= 0)
    loss = itq.history["quantisation_loss"]
    assert len(loss) == 50 and all(b <= a + 1e-9 for a, b in zip(loss, loss[1:]))
    pca_loss = np.square(np.where(projected >= 0, 1.0, -1.0) - projected).sum()
    assert itq.history["pca_quantisation_loss"] == pytest.approx(pca_loss)
    assert loss[-1] < 0.98 * pca_loss


def test_itq_takes_up_to_256_bits():
    x = np.random.default_rng(0).normal(size=(600, 300)).astype(np.float32)
    assert scores(make("itq", bits=256, iterations=3).fit(x), x[:5]).shape == (5, 256)


# ------------------------------------------------------------------------------------------------------------
# SH


def test_sh_bits_are_the_closed_form_eigenfunctions_of_a_uniform_box():
    """Uniform on [0, 2.5] x [0, 1]: the one-dimensional eigenfunctions cos(m pi (x - a) / (b - a)) ordered by
    (m / (b - a))^2: (x, 1) 0.16, (x, 2) 0.64, (y, 1) 1, (x, 3) 1.44, (x, 4) 2.56, (y, 2) 4 (more bits than
    dimensions)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(4000, 2)) * [2.5, 1.0]
    encoder = make("sh", bits=6).fit(x)
    expected = [(0, 1), (0, 2), (1, 1), (0, 3), (0, 4), (1, 2)]
    centred, v = pca_reference(x, 2)  # the sample's principal axes, a hair off the box's
    y = centred @ v
    low, high = y.min(0), y.max(0)
    closed = np.stack([np.cos(m * np.pi * (y[:, j] - low[j]) / (high[j] - low[j])) for j, m in expected], 1)
    assert np.allclose(scores(encoder, x), closed, atol=1e-4)


# ------------------------------------------------------------------------------------------------------------
# supervised


def test_pairwise_labels_are_shared_classes_or_shared_labels(rng):
    for labels in (rng.integers(0, 4, 30), rng.integers(0, 2, (30, 5)).astype(np.uint8)):
        similar = PairwiseLabels(labels, torch.device("cpu"))
        dense = (labels[:, None] == labels[None]) if labels.ndim == 1 else (labels @ labels.T > 0)
        v = torch.as_tensor(rng.normal(size=(30, 3)))
        assert np.array_equal(similar.block().numpy(), dense)
        assert np.allclose(similar.times(v).numpy(), dense @ v.numpy())
        columns = torch.tensor([3, 7])
        assert np.array_equal(similar.block(None, columns).numpy(), dense[:, [3, 7]])


def test_ksh_surrogate_gradient_is_the_derivative_of_its_objective(rng):
    kernel = torch.as_tensor(rng.normal(size=(40, 7)))
    r = torch.as_tensor(rng.normal(size=(40, 40)))
    r = r + r.T
    a = torch.as_tensor(rng.normal(size=7), dtype=torch.float64).requires_grad_()
    phi = 2 / (1 + torch.exp(-kernel @ a)) - 1  # the paper's phi, written as in the paper
    (-(phi @ r @ phi)).backward()
    value, gradient = surrogate(a.detach(), kernel, lambda v: r @ v)
    assert float(value) == pytest.approx(float(-(phi @ r @ phi).detach()))
    assert torch.allclose(gradient, a.grad)


def test_ksh_fits_the_pairwise_labels_better_than_random_codes(data):
    x, y = data
    ksh = make("ksh", bits=12, labelled=200)
    ksh.fit(x, y)
    objective = ksh.history["objective"]
    assert len(objective) == 12 and objective[-1] < 0.5 * 12 ** 2  # with no codes it is bits^2
    pick = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:200].numpy()
    s = np.where(y[pick, None] == y[None, pick], 1.0, -1.0)
    b = np.where(np.random.default_rng(0).normal(size=(200, 12)) >= 0, 1.0, -1.0)
    assert objective[-1] < np.square(b @ b.T - 12 * s).sum() / 200 ** 2 / 2


def test_sdh_objective_never_rises(data):
    x, y = data
    sdh = make("sdh", bits=12, iterations=6, bit_sweeps=2)
    sdh.fit(x, y)
    objective = sdh.history["objective"]
    assert len(objective) == 6 and all(b <= a * (1 + 1e-9) for a, b in zip(objective, objective[1:]))


def test_lfh_step_is_the_papers_newton_step_with_the_hessian_bound(rng):
    n, bits, beta = 12, 3, 5.0
    u = rng.normal(size=(n, bits))
    labels = rng.integers(0, 3, n)
    columns = np.array([1, 4, 6, 9])
    s = (labels[:, None] == labels[None, columns]).astype(float)
    expected = np.empty_like(u)
    for i in range(n):  # row by row, from the paper's gradient and lower bound on the Hessian
        gradient = -u[i] / beta
        hessian = -np.eye(bits) / beta
        for jj, j in enumerate(columns):
            theta = u[i] @ u[j] / 2
            gradient = gradient + (s[i, jj] - 1 / (1 + math.exp(-theta))) * u[j]
            hessian = hessian - np.outer(u[j], u[j]) / 8
        expected[i] = u[i] - np.linalg.solve(hessian, gradient)
    got = newton_step(torch.as_tensor(u), torch.as_tensor(s), torch.as_tensor(columns), beta)
    assert np.allclose(got.numpy(), expected)


@pytest.mark.parametrize("name", ["lfh", "cosdish"])
def test_codes_agree_with_the_labels_on_separable_blobs(name):
    x, y = blobs(np.random.default_rng(1), n=400, dim=16, classes=4, spread=0.3)
    hasher = make(name, bits=16)
    c = np.unpackbits(codes(hasher.fit(x, y), x), axis=1, bitorder="little").astype(int)
    distance = np.abs(c[:, None] - c[None]).sum(2)
    same = y[:, None] == y[None]
    assert distance[same].mean() < 1 and distance[~same].min() >= 3


def test_cosdish_bit_updates_never_raise_the_sampled_loss(rng):
    n, columns, bits = 60, 8, 6
    labels = rng.integers(0, 3, n)
    cosdish = make("cosdish", bits=bits)
    omega, gamma = np.arange(columns), np.arange(columns, n)
    s = np.where(labels[:, None] == labels[None, omega], 1.0, -0.5)
    s_gamma, s_omega = torch.as_tensor(s[gamma]), torch.as_tensor(s[omega])
    b = torch.as_tensor(np.where(rng.normal(size=(n, bits)) >= 0, 1.0, -1.0))
    before = sampled_loss(bits, s_gamma, s_omega, b[gamma], b[omega])
    after = sampled_loss(bits, s_gamma, s_omega, b[gamma], cosdish.update_omega(s_gamma, s_omega, b[gamma], b[omega]))
    assert after <= before


def test_cosdish_coordinate_ascent_ends_where_no_flip_helps(rng):
    for _ in range(5):
        a = rng.normal(size=(8, 8))
        a = a + a.T
        np.fill_diagonal(a, 0)
        p, start = rng.normal(size=8), np.where(rng.normal(size=8) >= 0, 1.0, -1.0)
        f = lambda b: b @ a @ b + p @ b  # noqa: E731
        b = coordinate_ascent(a, p, start)
        flips = [b * np.where(np.arange(8) == i, -1, 1) for i in range(8)]
        assert f(b) >= f(start) and all(f(flip) <= f(b) + 1e-12 for flip in flips)
        best = max(f(np.array(v, dtype=float)) for v in itertools.product((-1, 1), repeat=8))
        assert f(b) <= best + 1e-12


# ------------------------------------------------------------------------------------------------------------
# the input map's kernel width rule (KSH)


def test_rms_kernel_width_is_the_root_mean_squared_distance_to_the_anchors(rng):
    from l2h.encoders.feature_map import InputMap

    x = torch.as_tensor(rng.normal(size=(200, 5)), dtype=torch.float32)
    default = InputMap(5, anchors=20, kernel_width=1.0, seed=3).fit(x)
    rms = InputMap(5, anchors=20, kernel_width=0.5, seed=3).fit(x, sigma_rule="rms")
    a = rms.anchor_points.double().numpy()
    squared = ((x.double().numpy()[:, None] - a[None]) ** 2).sum(2)
    assert rms.kernel_gamma.item() == pytest.approx(1 / (2 * 0.25 * squared.mean()), rel=1e-5)
    assert default.kernel_gamma.item() != pytest.approx(rms.kernel_gamma.item())
    with pytest.raises(L2HError, match="sigma_rule"):
        InputMap(5, anchors=20).fit(x, sigma_rule="median")
