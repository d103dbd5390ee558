"""Cross-modal hashing on two-view data: the embedded digits cut into left and right 8 x 4 halves (data.views=halves),
each checked against an independent computation: the halves against the images cut by hand, CCA against scipy's
generalised eigensolver and the empirical correlations, the cross-modal mAP against a brute-force ranking, and the
cross-modal GRH's codes against LSH drawn per view."""

import functools
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from sklearn.datasets import load_digits

from l2h import checkpoint
from l2h.data import DataSource
from l2h.data.preprocess import Preprocessor, l2_normalise
from l2h.encoders.linear import Linear
from l2h.encoders.views import TwoViews
from l2h.errors import L2HError
from l2h.eval.crossmodal import view_codes
from l2h.hashers.cca import CCAITQ, cca, ridge
from l2h.hashers.grh_crossmodal import CrossModalGRH
from l2h.model import HashModel
from tests import commands

FAST = (*commands.FAST, "data.views=halves", "bits=16")


@pytest.fixture(scope="module")
def halves():
    return DataSource("digits", "digits", views="halves").load()


@pytest.fixture(scope="module")
def split(halves):
    order = np.random.RandomState(0).permutation(halves.n)
    return order[:1000], order[1000:]


def test_halves_are_the_left_and_right_columns_of_each_image(halves):
    images = load_digits().images  # (n, 8, 8), the same items in the same order
    assert halves.view_dims == (32, 32) and halves.item_shape is None
    assert np.array_equal(halves.features[:, :32], images[:, :, :4].reshape(len(images), -1))
    assert np.array_equal(halves.features[:, 32:], images[:, :, 4:].reshape(len(images), -1))
    assert np.array_equal(halves.labels, load_digits().target)


def test_two_named_arrays_are_the_same_two_view_data(halves, tmp_path):
    images = load_digits().images
    np.savez(tmp_path / "pairs.npz", left=images[:, :, :4], right=images[:, :, 4:].reshape(len(images), -1),
             y=load_digits().target)
    paired = commands.config("train", ["data=file", f"data.path={tmp_path / 'pairs.npz'}",
                                       "data.features=[left,right]", "data.labels=y"])
    data = DataSource(**{k: v for k, v in paired.data.items() if k != "_target_"}).load()
    assert data.view_dims == (32, 32)
    assert np.array_equal(data.features, halves.features) and np.array_equal(data.labels, halves.labels)
    with pytest.raises(L2HError, match="data.views cuts one array"):
        DataSource("file", path=tmp_path / "pairs.npz", features=["left", "right"], views="halves")


def test_vectors_that_are_no_images_have_no_halves(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((10, 10), np.float32))
    with pytest.raises(L2HError, match="not images"):
        DataSource("file", path=tmp_path / "x.npy", views="halves").load()


def test_each_view_is_normalised_on_its_own(halves, split):
    """A view's preprocessed values never read the other view: each is its own rows L2-normalised, less the mean."""
    train, _ = split
    pre = Preprocessor(halves.dim, view_dims=halves.view_dims).fit(halves.features[train])
    x = halves.features[:50]
    left = l2_normalise(halves.features[train, :32])
    expected = l2_normalise(x[:, :32]) - left.mean(0)
    assert np.allclose(pre.transform(x)[:, :32], expected, atol=1e-6)
    other = x.copy()
    other[:, 32:] = np.random.RandomState(1).rand(50, 32) * 100  # another view b
    assert np.array_equal(pre.transform(other)[:, :32], pre.transform(x)[:, :32])


def agreement(model, x, pairs=None) -> float:
    """The fraction of bits on which each item's code from view a equals its code from view b (from view b of item
    ``pairs[i]`` instead, when given)."""
    a, b = (np.unpackbits(view_codes(model, x, v), axis=1) for v in "ab")
    return float((a == (b if pairs is None else b[pairs])).mean())


def test_an_items_two_views_share_most_bits_where_lsh_per_view_shares_half(halves, split):
    train, held_out = split
    pre = Preprocessor(halves.dim, view_dims=halves.view_dims).fit(halves.features[train])
    x, queries = pre.transform(halves.features[train]), pre.transform(halves.features[held_out])
    hasher = CrossModalGRH(16, functools.partial(Linear, l2=1e-4), rounds=2, steps=20)
    hasher.view_dims = halves.view_dims
    grh = HashModel(pre, hasher.fit(x, halves.labels[train]))
    rng = np.random.RandomState(0)
    lsh = HashModel(pre, TwoViews([Linear(32, 16).set_hyperplanes(rng.randn(32, 16)) for _ in "ab"]))
    shared, independent = agreement(grh, queries), agreement(lsh, queries)
    assert shared > 0.7 and shared > independent + 0.15, (shared, independent)
    # agreement that is the item's own, not bits every item shares: another item's view b agrees far less
    strangers = agreement(grh, queries, np.random.RandomState(1).permutation(len(queries)))
    assert shared > strangers + 0.15, (shared, strangers)


def test_a_model_of_two_views_refuses_one_view_data():
    hasher = CrossModalGRH(8, functools.partial(Linear))
    with pytest.raises(L2HError, match="data.views=halves"):
        hasher.fit(np.random.RandomState(0).randn(40, 6).astype(np.float32), np.arange(40) % 2)


def test_cca_solves_the_generalised_eigenproblem_and_correlates_the_views(halves, split):
    """The canonical correlations are the top eigenvalues of [[0, Cab], [Cba, 0]] w = l [[Caa, 0], [0, Cbb]] w
    (scipy), and each pair of projections correlates by its canonical correlation, uncorrelated with the others."""
    train, _ = split
    x = halves.features[train].astype(np.float64)
    xa, xb = x[:, :32] - x[:, :32].mean(0), x[:, 32:] - x[:, 32:].mean(0)
    n, reg = len(x), 1e-3
    caa, cbb, cab = ridge(xa.T @ xa / n, reg), ridge(xb.T @ xb / n, reg), xa.T @ xb / n
    pa, pb, corr = cca(xa, xb, 8, reg)
    lhs = np.block([[np.zeros((32, 32)), cab], [cab.T, np.zeros((32, 32))]])
    values, vectors = scipy.linalg.eigh(lhs, scipy.linalg.block_diag(caa, cbb))
    assert np.allclose(corr, values[::-1][:8], atol=1e-8)
    # scipy scales [va; vb] to va' Caa va + vb' Cbb vb = 1, each view holding half: Pa = sqrt(2) va up to sign
    top = vectors[:, ::-1][:, :8] * np.sqrt(2)
    sign = np.sign(np.sum(pa * top[:32], axis=0))
    assert np.allclose(pa, top[:32] * sign, atol=1e-6) and np.allclose(pb, top[32:] * sign, atol=1e-6)
    assert np.allclose(pa.T @ caa @ pa, np.eye(8), atol=1e-8) and np.allclose(pb.T @ cbb @ pb, np.eye(8), atol=1e-8)
    # on full-rank data with no ridge, the projections' empirical correlations are the canonical correlations
    rng = np.random.RandomState(0)
    shared = rng.randn(2000, 3)
    ya = np.c_[shared, rng.randn(2000, 3)] @ rng.randn(6, 6)
    yb = np.c_[shared + 0.5 * rng.randn(2000, 3), rng.randn(2000, 2)] @ rng.randn(5, 5)
    ya, yb = ya - ya.mean(0), yb - yb.mean(0)
    pa, pb, corr = cca(ya, yb, 5, 1e-12)
    empirical = np.corrcoef((ya @ pa).T, (yb @ pb).T)[:5, 5:]
    assert np.allclose(empirical, np.diag(corr), atol=1e-6)


def test_cca_itq_gives_both_views_one_rotation(halves, split):
    train, held_out = split
    pre = Preprocessor(halves.dim, view_dims=halves.view_dims).fit(halves.features[train])
    hasher = CCAITQ(16)
    hasher.view_dims = halves.view_dims
    model = HashModel(pre, hasher.fit(pre.transform(halves.features[train])))
    queries = pre.transform(halves.features[held_out])
    rng = np.random.RandomState(0)
    lsh = HashModel(pre, TwoViews([Linear(32, 16).set_hyperplanes(rng.randn(32, 16)) for _ in "ab"]))
    assert agreement(model, queries) > agreement(lsh, queries) + 0.1
    too_long = CCAITQ(33)
    too_long.view_dims = halves.view_dims
    with pytest.raises(L2HError, match="smaller view"):
        too_long.fit(np.zeros((10, 64)))


def brute_force_map(query_codes, db_codes, query_labels, db_labels) -> float:
    """Each query ranks the database by Hamming distance, ties by database id; AP is the mean precision at each
    relevant item's rank."""
    q, db = np.unpackbits(query_codes, axis=1), np.unpackbits(db_codes, axis=1)
    aps = []
    for code, label in zip(q, query_labels):
        distance = (code != db).sum(1)
        order = np.lexsort((np.arange(len(db)), distance))
        relevant = db_labels[order] == label
        hits = np.flatnonzero(relevant)
        aps.append(np.mean(np.arange(1, len(hits) + 1) / (hits + 1)) if len(hits) else 0.0)
    return float(np.mean(aps))


@pytest.mark.parametrize("model", ["cca_itq", "scm"])
def test_cross_modal_map_is_the_brute_force_ranking_of_the_other_views_codes(model, tmp_path):
    metrics = commands.train(tmp_path / "run", f"model={model}", "eval.save_codes=true", *FAST)
    saved = np.load(tmp_path / "run" / "codes.npz")
    trained, _ = checkpoint.load(metrics["checkpoint"])
    data = DataSource("digits", "digits", views="halves").load()
    rows = {"query": saved["query_rows"], "database": saved["database_rows"]}
    codes = {}
    for part, r in rows.items():
        x = torch.from_numpy(trained.preprocess.transform(data.features[r]))
        for member, view, columns in zip(trained.encoder.members, "ab", (slice(0, 32), slice(32, 64))):
            with torch.no_grad():  # each view's codes by its own encoder, on its own columns only
                codes[part, view] = np.packbits(member(x[:, columns]).numpy() >= 0, axis=1, bitorder="little")
    assert np.array_equal(codes["query", "a"], saved["query"])  # the default view is view a
    for q, d in ("ab", "ba", "aa", "bb"):
        want = brute_force_map(codes["query", q], codes["database", d], saved["query_labels"],
                               saved["database_labels"])
        assert metrics["cross_modal"][f"{q}_to_{d}"] == pytest.approx(want, abs=1e-9), (q, d)
    assert metrics["cross_modal"]["a_to_a"] == pytest.approx(metrics["map"])


def test_grh_crossmodal_round_trips_through_checkpoint_index_and_search(tmp_path, halves):
    metrics = commands.train(tmp_path / "run", "model=grh_crossmodal", "model.rounds=1", "model.steps=5", *FAST)
    assert set(metrics["cross_modal"]) == {"a_to_b", "b_to_a", "a_to_a", "b_to_b"}
    ckpt = Path(metrics["checkpoint"])
    model, _ = checkpoint.load(ckpt)
    assert isinstance(model.encoder, TwoViews) and model.preprocess.view_dims == [32, 32]
    assert commands.evaluate(tmp_path / "eval", f"ckpt_path={ckpt}")["cross_modal"] == metrics["cross_modal"]
    queries = halves.features[::37] + 0.25
    np.save(tmp_path / "q.npy", queries)
    artefact = tmp_path / "db.l2h"
    commands.index(tmp_path / "i", f"ckpt_path={ckpt}", f"out={artefact}")
    commands.search(tmp_path / "s", f"index_path={artefact}", f"queries.path={tmp_path / 'q.npy'}", "k=10",
                    f"out={tmp_path / 'knn.npz'}")
    q, db = np.unpackbits(model.encode(queries), axis=1), np.unpackbits(model.encode(halves.features), axis=1)
    distance = (q[:, None] != db[None]).sum(2)
    order = np.lexsort((np.broadcast_to(np.arange(len(db)), distance.shape), distance), axis=1)[:, :10]
    knn = np.load(tmp_path / "knn.npz")
    assert np.array_equal(knn["I"], order) and np.array_equal(knn["D"], np.take_along_axis(distance, order, 1))
