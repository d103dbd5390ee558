"""The switch between probing and scanning (l2h.index.costs) never changes an answer: a hash table and a multi-index
search forced to probe, forced to scan, and left to choose (with budgets small enough that some queries of a batch
stop and scan, others do not) answer k-NN, range search, probes and k-NN within a radius exactly as brute force
does, on codes of every length tested and with given ids."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from l2h import codes
from l2h.index import FlatIndex, HashIndex, MultiIndexHash, costs

BITS = [1, 8, 13, 24, 32, 63, 64, 65, 128, 200, 256, 512]


def brute_force(queries, db, ids, r_lo, r_hi):
    """Per query (D, I) of the items at distance r_lo..r_hi, by distance then id: one sort per query of every
    distance, from unpacked bits."""
    q_bits, db_bits = np.unpackbits(queries, axis=1), np.unpackbits(db, axis=1)
    out = []
    for row in q_bits:
        dist = (row != db_bits).sum(1)
        pairs = sorted((int(d), int(i)) for d, i in zip(dist, ids) if r_lo <= d <= r_hi)
        out.append((np.array([d for d, _ in pairs], dtype=np.int64), np.array([i for _, i in pairs], dtype=np.int64)))
    return out


@st.composite
def cases(draw):
    bits = draw(st.sampled_from(BITS))
    n = draw(st.integers(1, 150))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    centres = rng.integers(0, 2, (draw(st.integers(1, 4)), bits))
    noise = draw(st.sampled_from([0.0, 0.03, 0.5]))  # duplicates, near duplicates, random codes
    db = codes.pack(centres[rng.integers(0, len(centres), n)] ^ (rng.random((n, bits)) < noise))
    queries = np.concatenate([db[:3] ^ codes.pack(rng.random((3, bits)) < 0.05)[:len(db[:3])],
                              codes.pack(rng.integers(0, 2, (3, bits)))])
    ids = rng.permutation(10 * n)[:n].astype(np.int64) if draw(st.booleans()) else None
    radius = min(draw(st.sampled_from([0, 1, 2, 4, 9])), bits)
    share = draw(st.sampled_from([1e-3, 0.05, 0.5, 20.0]))  # budgets from nothing to far more than a scan
    return bits, db, queries, ids, radius, share, rng


def strategies(bits, rng):
    """Every search kind that can scan its own codes, fresh for each strategy."""
    made = [lambda: MultiIndexHash(bits), lambda: MultiIndexHash(bits, int(rng.integers(-(-bits // 64), min(bits, 8)
                                                                                        + 1)))]
    if bits <= 64:
        made.append(lambda: HashIndex(bits))
    return made


def check_ranges(got, want, label):
    lims, D, I = got
    for q, (d_ref, i_ref) in enumerate(want):
        assert np.array_equal(I[lims[q]:lims[q + 1]], i_ref), (label, q)
        assert np.array_equal(D[lims[q]:lims[q + 1]], d_ref), (label, q)


def check_first_k(got, want, k, label):
    D, I = got
    for q, (d_ref, i_ref) in enumerate(want):
        found = min(k, len(i_ref))
        assert np.array_equal(I[q, :found], i_ref[:found]) and (I[q, found:] == -1).all(), (label, q)
        assert np.array_equal(D[q, :found], d_ref[:found]) and (D[q, found:] == -1).all(), (label, q)


@given(cases(), st.integers(1, 12))
def test_every_strategy_answers_as_brute_force(monkeypatch, case, k):
    bits, db, queries, ids, radius, share, rng = case
    monkeypatch.setattr(costs, "PROBE_SHARE", share)
    every = np.arange(len(db)) if ids is None else ids
    ball = brute_force(queries, db, every, 0, radius)
    r_lo = int(rng.integers(0, radius + 1))
    shell = brute_force(queries, db, every, r_lo, radius)
    ranking = brute_force(queries, db, every, 0, bits)
    for make in strategies(bits, rng):
        for strategy in costs.STRATEGIES:
            index = make()
            index.strategy = strategy
            index.add(db, ids)
            label = (repr(index), strategy, share)
            check_first_k(index.search(queries, k), ranking, k, label)
            check_first_k(index.search(queries, len(db) + 2), ranking, len(db) + 2, label)
            check_ranges(index.range_search(queries, radius), ball, label)
            check_ranges(index.probe(queries, r_lo, radius), shell, label)
            check_first_k(index.search(queries, k, radius=radius), ball, k, label)


def test_forced_strategies_do_what_they_say(rng):
    """"scan" scans every query, "probe" none; "auto" probes the near duplicates of a database of clustered codes
    and scans a random query's far neighbours (256 bits, where the radius of a random code's nearest is about 100),
    and the plan says so."""
    db = codes.pack(rng.integers(0, 2, (20000, 256)))
    near = db[:4] ^ codes.pack(rng.random((4, 256)) < 0.01)
    far = codes.pack(rng.integers(0, 2, (4, 256)))
    index = MultiIndexHash(256)
    index.add(db)
    for strategy, wanted in (("scan", "by scanning the 20000 codes for all 8 queries"),
                             ("probe", "by probing for all 8 queries"),
                             ("auto", "by probing for 4 queries, by scanning the 20000 codes for 4")):
        index.strategy = strategy
        index.search(np.concatenate([near, far]), 1)
        assert wanted in index.last_plan, index.last_plan
    index.strategy = "auto"
    index.search(far, 1)
    assert (index.last_stats.candidates >= 20000).all()  # a scanned query examined every code
    assert "for all 4 queries" in index.last_plan and "scanning" in index.last_plan


def test_a_hash_table_scans_a_range_whose_probes_cost_more(rng):
    """64-bit codes, radius 3: 43745 probes per query against a scan of 2000 codes."""
    db = codes.pack(rng.integers(0, 2, (2000, 64)))
    index = HashIndex(64)
    index.add(db)
    lims, D, I = index.range_search(db[:5], 3)
    assert "by scanning the 2000 codes for all 5 queries" in index.last_plan
    assert (index.last_stats.buckets_probed == 0).all() and (index.last_stats.candidates == 2000).all()
    check_ranges((lims, D, I), brute_force(db[:5], db, np.arange(2000), 0, 3), "hash")
    index.range_search(db[:5], 1)
    assert "by probing" in index.last_plan and (index.last_stats.buckets_probed == 65).all()


def test_unknown_strategy_is_refused():
    index = HashIndex(16)
    index.strategy = "fast"
    index.add(np.zeros((3, 2), dtype=np.uint8))
    with pytest.raises(Exception, match="unknown search strategy 'fast'"):
        index.search(np.zeros((1, 2), dtype=np.uint8), 1)


def test_a_flat_index_answers_as_brute_force_past_a_tile(rng):
    """More codes than a tile holds (1024), ties across tiles, ranks from shuffled ids: the heap's order is by
    distance then id."""
    for bits in (32, 64, 192, 512, 520):
        db = codes.pack(rng.integers(0, 2, (2600, bits)))
        db[1300:] = db[:1300]  # every code twice, in two tiles
        ids = rng.permutation(10**6)[:2600]
        index = FlatIndex(bits)
        index.add(db, ids)
        queries = np.concatenate([db[:3], codes.pack(rng.integers(0, 2, (2, bits)))])
        want = brute_force(queries, db, ids, 0, bits)
        for k in (1, 3, 40):
            check_first_k(index.search(queries, k), want, k, bits)
