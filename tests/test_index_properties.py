"""Property tests: every index answers exactly as brute force, on random and adversarial codes."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l2h import codes
from l2h.index import FlatIndex, HashIndex, MultiIndexHash, UnionIndex

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def code_sets(draw):
    bits = draw(st.sampled_from([8, 16, 24, 32, 64]))
    n = draw(st.integers(0, 120))
    kind = draw(st.sampled_from(["random", "all_equal", "one_bucket_plus_noise", "few_centres"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    nbytes = bits // 8
    if kind == "random":
        db = rng.integers(0, 256, (n, nbytes), dtype=np.uint8)
    elif kind == "all_equal":
        db = np.tile(rng.integers(0, 256, (1, nbytes), dtype=np.uint8), (n, 1))
    elif kind == "one_bucket_plus_noise":
        db = np.tile(rng.integers(0, 256, (1, nbytes), dtype=np.uint8), (n, 1))
        db[: n // 10] = rng.integers(0, 256, (n // 10, nbytes), dtype=np.uint8)
    else:
        centres = rng.integers(0, 256, (3, nbytes), dtype=np.uint8)
        db = centres[rng.integers(0, 3, n)] ^ (rng.random((n, nbytes)) < 0.05).astype(np.uint8)
    nq = draw(st.integers(1, 6))
    queries = np.concatenate([db[: nq // 2], rng.integers(0, 256, (nq - min(nq // 2, n), nbytes), dtype=np.uint8)])
    radius = draw(st.sampled_from([0, 1, 2, 3, bits]))
    return bits, db, queries, radius


def expected(queries, db, radius):
    dist = codes.hamming_matrix(queries, db) if len(db) else np.zeros((len(queries), 0), dtype=np.int32)
    out = []
    for row in dist:
        ids = np.flatnonzero(row <= radius)
        order = np.lexsort((ids, row[ids]))
        out.append((row[ids][order], ids[order]))
    return out, dist


def indexes(bits):
    made = [HashIndex(bits), FlatIndex(bits)]
    if bits >= 16:
        made.append(MultiIndexHash(bits, 2))
    return made


@SETTINGS
@given(code_sets())
def test_range_search_equals_brute_force(case):
    bits, db, queries, radius = case
    want, _ = expected(queries, db, radius)
    for index in indexes(bits):
        index.add(db)
        lims, D, I = index.range_search(queries, radius)
        assert len(lims) == len(queries) + 1
        for q, (d_ref, i_ref) in enumerate(want):
            assert np.array_equal(I[lims[q]:lims[q + 1]], i_ref), type(index).__name__
            assert np.array_equal(D[lims[q]:lims[q + 1]], d_ref), type(index).__name__


@SETTINGS
@given(code_sets(), st.integers(1, 15))
def test_knn_equals_brute_force(case, k):
    bits, db, queries, _ = case
    _, dist = expected(queries, db, bits)
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    for index in indexes(bits):
        index.add(db)
        D, I = index.search(queries, k)
        found = min(k, len(db))
        assert np.array_equal(I[:, :found], order), type(index).__name__
        assert (I[:, found:] == -1).all()
        assert np.array_equal(D[:, :found], np.take_along_axis(dist, order, 1))


def test_union_of_tables_is_the_union_with_smallest_distance(rng):
    bits = 16
    db_a, db_b = rng.integers(0, 256, (300, 2), dtype=np.uint8), rng.integers(0, 256, (300, 2), dtype=np.uint8)
    q_a, q_b = db_a[:5] ^ 1, db_b[:5] ^ 3
    union = UnionIndex([HashIndex(bits), FlatIndex(bits)])
    union.add([db_a, db_b])
    lims, D, I = union.range_search([q_a, q_b], 3)
    dist = np.minimum(codes.hamming_matrix(q_a, db_a), codes.hamming_matrix(q_b, db_b))
    for q in range(5):
        ids = np.flatnonzero(dist[q] <= 3)
        order = np.lexsort((ids, dist[q, ids]))
        assert np.array_equal(I[lims[q]:lims[q + 1]], ids[order])
        assert np.array_equal(D[lims[q]:lims[q + 1]], dist[q, ids[order]])
    Dk, Ik = union.search([q_a, q_b], 4)
    assert np.array_equal(Ik, np.argsort(dist, axis=1, kind="stable")[:, :4])


def test_union_and_multi_index_save_and_load(tmp_path, rng):
    db = rng.integers(0, 256, (200, 8), dtype=np.uint8)
    mih = MultiIndexHash(64, 4)
    mih.add(db)
    mih.save(tmp_path / "m")
    loaded = MultiIndexHash.load(tmp_path / "m", bits=64)
    for got, want in zip(loaded.range_search(db[:4], 5), mih.range_search(db[:4], 5)):
        assert np.array_equal(got, want)
    union = UnionIndex([HashIndex(64), mih])
    union.add([db, db])
    union.save(tmp_path / "u")
    for got, want in zip(UnionIndex.load(tmp_path / "u").range_search([db[:4], db[:4]], 2),
                         union.range_search([db[:4], db[:4]], 2)):
        assert np.array_equal(got, want)


def test_query_statistics_count_probes_and_candidates(rng):
    db = rng.integers(0, 256, (500, 2), dtype=np.uint8)
    index = HashIndex(16)
    index.add(db)
    lims, _, _ = index.range_search(db[:7], 2)
    stats = index.last_stats
    assert stats.buckets_probed.tolist() == [1 + 16 + 120] * 7
    assert np.array_equal(stats.candidates, np.diff(lims)) and stats.seconds > 0


def test_multi_index_rejects_uneven_substrings():
    with pytest.raises(Exception, match="split 64 bits evenly"):
        MultiIndexHash(64, 3)
