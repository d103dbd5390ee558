"""Property tests: every kind of index (hash, multi-index, flat, torch, a union, shards) answers exactly as brute
force (results by distance, then id) for k-NN, range search, probes and k-NN within a radius, on random and
adversarial codes of every length and with shuffled, repeated and huge ids; adding in batches gives the same
index, byte for byte once saved, as adding at once; any number of threads gives the same results as one."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from l2h import codes
from l2h.index import (
    BinaryIndex,
    FlatIndex,
    HashIndex,
    MultiIndexHash,
    ShardedIndex,
    TorchFlatIndex,
    UnionIndex,
    get_num_threads,
    set_num_threads,
)

BITS = [1, 4, 8, 12, 13, 16, 20, 24, 32, 40, 63, 64, 65, 100, 128, 200, 256, 1024]


def random_codes(rng, n, bits):
    return codes.pack(rng.integers(0, 2, (n, bits)))


@st.composite
def code_sets(draw, bits_from=BITS):
    bits = draw(st.sampled_from(bits_from))
    n = draw(st.integers(0, 120))
    kind = draw(st.sampled_from(["random", "all_equal", "one_bucket_plus_noise", "few_centres"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "random":
        db = random_codes(rng, n, bits)
    elif kind == "all_equal":
        db = np.repeat(random_codes(rng, 1, bits), n, axis=0)
    elif kind == "one_bucket_plus_noise":
        db = np.repeat(random_codes(rng, 1, bits), n, axis=0)
        db[: n // 10] = random_codes(rng, n // 10, bits)
    else:
        centres = rng.integers(0, 2, (3, bits))
        db = codes.pack(centres[rng.integers(0, 3, n)] ^ (rng.random((n, bits)) < 0.05))
    nq = draw(st.integers(1, 6))
    queries = np.concatenate([db[: nq // 2], random_codes(rng, nq - min(nq // 2, n), bits)])
    ids = None
    if draw(st.booleans()):  # given ids: sparse, shuffled, sometimes repeated, sometimes near 2^63
        ids = rng.permutation(10 * n + 10)[:n].astype(np.int64) * draw(st.sampled_from([1, 7]))
        if draw(st.booleans()):
            ids += np.int64(2**63 - 1 - 10 * (10 * n + 10))
        if n > 3 and draw(st.booleans()):
            ids[: n // 3] = ids[n // 3: 2 * (n // 3)]
    radius = min(draw(st.sampled_from([0, 1, 2, 3, 5, bits])), bits)
    return bits, db, queries, ids, radius, rng


def brute_force(queries, db, ids, r_lo, r_hi):
    """Per query (D, I) of the items at distance r_lo..r_hi, by distance then id."""
    ids = np.arange(len(db)) if ids is None else ids
    dist = codes.hamming_matrix(queries, db) if len(db) else np.zeros((len(queries), 0), dtype=np.int32)
    out = []
    for row in dist:
        sel = np.flatnonzero((row >= r_lo) & (row <= r_hi))
        order = np.lexsort((ids[sel], row[sel]))
        out.append((row[sel][order], ids[sel][order]))
    return out, dist


class SameCodes:
    """A UnionIndex given the same codes for every member: its answers must then be those over that one code set
    (an item within the radius of any member, at its smallest distance, once)."""

    def __init__(self, union):
        self.union = union

    def __getattr__(self, name):
        method = getattr(self.union, name)
        if name in ("add", "search", "range_search", "probe"):
            return lambda codes, *args, **kwargs: method([codes] * len(self.union.members), *args, **kwargs)
        return method

    def items(self):
        ids, per_member = self.union.items()
        return ids, per_member[0]

    def __repr__(self):
        return repr(self.union)


def indexes(bits, rng):
    """One index of every kind for these codes: flat, multi-index (the default m and a random one), hash (up to
    64 bits), torch (on the CPU), a union of two kinds, and shards of a random size and kind."""
    hash_or_flat = HashIndex if bits <= 64 else FlatIndex
    made = [FlatIndex(bits), MultiIndexHash(bits), TorchFlatIndex(bits, device="cpu"),
            SameCodes(UnionIndex([hash_or_flat(bits), MultiIndexHash(bits)])),
            ShardedIndex(bits, shard_size=int(rng.integers(1, 50)),
                         make_shard=[FlatIndex, MultiIndexHash, hash_or_flat][int(rng.integers(0, 3))])]
    if bits <= 64:
        made.append(HashIndex(bits))
    upper = min(bits, 12)
    lower = -(-bits // 64)
    if upper > lower:
        made.append(MultiIndexHash(bits, int(rng.integers(lower, upper + 1))))
    return made


def assert_ranges(index, got, want):
    lims, D, I = got
    assert len(lims) == len(want) + 1 and lims[0] == 0
    for q, (d_ref, i_ref) in enumerate(want):
        assert np.array_equal(I[lims[q]:lims[q + 1]], i_ref), (repr(index), q)
        assert np.array_equal(D[lims[q]:lims[q + 1]], d_ref), (repr(index), q)
    assert D.dtype == np.int32 and I.dtype == np.int64 and lims.dtype == np.int64


def assert_knn(index, got, queries, db, ids, k):
    D, I = got
    assert D.shape == I.shape == (len(queries), k) and D.dtype == np.int32 and I.dtype == np.int64
    want, _ = brute_force(queries, db, ids, 0, index.bits)
    found = min(k, len(db))
    for q, (d_ref, i_ref) in enumerate(want):
        assert np.array_equal(I[q, :found], i_ref[:found]), (repr(index), q)
        assert np.array_equal(D[q, :found], d_ref[:found]), (repr(index), q)
    assert (I[:, found:] == -1).all() and (D[:, found:] == -1).all()


@given(code_sets())
def test_range_search_and_probe_equal_brute_force(case):
    bits, db, queries, ids, radius, rng = case
    want, _ = brute_force(queries, db, ids, 0, radius)
    r_lo = int(rng.integers(0, radius + 1))
    shell, _ = brute_force(queries, db, ids, r_lo, radius)
    for index in indexes(bits, rng):
        index.add(db, ids)
        assert_ranges(index, index.range_search(queries, radius), want)
        assert_ranges(index, index.probe(queries, r_lo, radius), shell)
        stats = index.last_stats
        assert stats.buckets_probed.shape == stats.candidates.shape == (len(queries),) and stats.seconds >= 0


@given(code_sets(), st.integers(1, 15))
def test_knn_equals_brute_force(case, k):
    bits, db, queries, ids, _, rng = case
    for index in indexes(bits, rng):
        index.add(db, ids)
        assert_knn(index, index.search(queries, k), queries, db, ids, k)
        assert_knn(index, index.search(queries, len(db) + 3), queries, db, ids, len(db) + 3)


def assert_knn_within(index, got, want, k):
    """``got`` (D, I) holds the first k of each query's ``want`` (the ball's items, by distance then id), -1 after."""
    D, I = got
    assert D.shape == I.shape == (len(want), k) and D.dtype == np.int32 and I.dtype == np.int64
    for q, (d_ref, i_ref) in enumerate(want):
        found = min(k, len(i_ref))
        assert np.array_equal(I[q, :found], i_ref[:found]) and (I[q, found:] == -1).all(), (repr(index), q)
        assert np.array_equal(D[q, :found], d_ref[:found]) and (D[q, found:] == -1).all(), (repr(index), q)


@given(code_sets(), st.integers(1, 15))
def test_knn_within_a_radius_equals_brute_force(case, k):
    """search(q, k, radius): the first k of the items within the radius, by distance then id, -1 after them."""
    bits, db, queries, ids, radius, rng = case
    want, _ = brute_force(queries, db, ids, 0, radius)
    for index in indexes(bits, rng):
        index.add(db, ids)
        assert_knn_within(index, index.search(queries, k, radius=radius), want, k)


@given(code_sets(), st.lists(st.integers(0, 40), min_size=1, max_size=6))
def test_adding_in_batches_gives_the_same_index(tmp_path_factory, case, cuts):
    bits, db, queries, ids, radius, rng = case
    edges = np.unique(np.clip(np.cumsum(cuts), 0, len(db)))
    for at_once, batched in zip(indexes(bits, np.random.default_rng(1)), indexes(bits, np.random.default_rng(1))):
        folder = tmp_path_factory.mktemp("batches")
        at_once.add(db, ids)
        for lo, hi in zip(np.concatenate([[0], edges]), np.concatenate([edges, [len(db)]])):
            batched.add(db[lo:hi], None if ids is None else ids[lo:hi])
        # searched before saving: the batched index may still hold rows in its unmerged tail
        for a, b in zip(batched.range_search(queries, radius), at_once.range_search(queries, radius)):
            assert np.array_equal(a, b), repr(batched)
        for a, b in zip(batched.search(queries, 5), at_once.search(queries, 5)):
            assert np.array_equal(a, b), repr(batched)
        # a sharded save names its artefact (a fresh id) in every file: its shards are compared one by one
        sharded = isinstance(at_once, ShardedIndex)
        assert not sharded or len(at_once.shards) == len(batched.shards), repr(batched)
        for index, name in ((at_once, "once"), (batched, "batched")):
            (folder / name).mkdir()
            for n, part in enumerate(index.shards if sharded else [index]):
                part.save(folder / name / f"{n:05d}.l2h")
        files = sorted(f.name for f in (folder / "once").glob("*.l2h"))
        assert files == sorted(f.name for f in (folder / "batched").glob("*.l2h"))
        for name in files:
            assert (folder / "once" / name).read_bytes() == (folder / "batched" / name).read_bytes(), repr(batched)
        got_ids, got_codes = batched.items()
        order = np.argsort(np.arange(len(db)) if ids is None else ids, kind="stable")
        assert np.array_equal(got_codes, db[order]) and np.array_equal(got_ids, (np.arange(len(db)) if ids is None
                                                                                 else ids)[order])


@given(code_sets(), st.integers(2, 5))
def test_threads_give_the_same_results_as_one(case, threads):
    bits, db, queries, ids, radius, rng = case
    before = get_num_threads()
    try:
        for index in indexes(bits, rng):
            index.add(db, ids)
            results = []
            for n in (1, threads):
                set_num_threads(n)
                results.append([*index.range_search(queries, radius), *index.search(queries, 4),
                                *index.probe(queries, radius, radius)])
            for a, b in zip(*results):
                assert np.array_equal(a, b), repr(index)
    finally:
        set_num_threads(before)


def test_many_queries_over_threads_match_one_thread(rng):
    """Enough queries for every thread to get several chunks."""
    db = random_codes(rng, 3000, 24)
    db[1000:] = db[:2000] ^ codes.pack(rng.random((2000, 24)) < 0.05)
    queries = np.concatenate([db[:300], random_codes(rng, 300, 24)])
    before = get_num_threads()
    try:
        for index in (HashIndex(24), MultiIndexHash(24, 2), FlatIndex(24)):
            index.add(db)
            results = []
            for n in (1, 2, 7):
                set_num_threads(n)
                results.append([*index.range_search(queries, 3), *index.search(queries, 10)])
            for other in results[1:]:
                for a, b in zip(results[0], other):
                    assert np.array_equal(a, b), repr(index)
    finally:
        set_num_threads(before)


@pytest.mark.parametrize("bits", [14, 17])
def test_hash_table_turns_direct_as_it_grows(tmp_path, rng, bits):
    """2^bits keys <= 2 x rows switches a hashed table to direct addressing in the middle of the adds: the answers
    and the saved file are those of the index built at once."""
    n = 2**bits // 2 + 500
    db = codes.pack(rng.integers(0, 2, (n, bits)))
    queries = np.concatenate([db[:20], random_codes(rng, 20, bits)])
    grown, once = HashIndex(bits), HashIndex(bits)
    edges = [0, 10, 300, n // 3, 2**bits // 2 - 1, 2**bits // 2 + 1, n]
    states = []
    for lo, hi in zip(edges, edges[1:]):
        grown.add(db[lo:hi])
        states.append(grown.tables.direct)
    assert states[0] is False and states[-1] is True
    once.add(db)
    want, _ = brute_force(queries, db, None, 0, 2)
    for index in (grown, once):
        assert_ranges(index, index.range_search(queries, 2), want)
        assert_knn(index, index.search(queries, 7), queries, db, None, 7)
    grown.save(tmp_path / "g")
    once.save(tmp_path / "o")
    assert (tmp_path / "g").read_bytes() == (tmp_path / "o").read_bytes()


def test_multi_index_substrings_cover_every_length():
    for bits in (1, 7, 8, 9, 31, 64, 65, 127, 1000, 1024):
        index = MultiIndexHash(bits)
        assert index.sub_len.sum() == bits and index.sub_len.max() - index.sub_len.min() <= 1
        assert index.sub_len.max() <= 64 and index.m == max(1, (bits + 8) // 16)
        assert np.array_equal(index.sub_start, np.concatenate([[0], np.cumsum(index.sub_len)[:-1]]))


def test_merges_are_geometric_so_adds_cost_what_they_add(rng):
    """A small add to a large index only links its rows into the tail; the base is rebuilt only once the tail
    passes half of it, so over 200 adds of 100 the base is rebuilt about log_1.5(200) times, not 200."""
    db = random_codes(rng, 20000, 32)
    index = HashIndex(32)
    rebuilds, base = 0, None
    for lo in range(0, 20000, 100):
        index.add(db[lo:lo + 100])
        if index.tables.brows is not base:
            rebuilds, base = rebuilds + 1, index.tables.brows
        assert index.tables.tail_n <= index.tables.base_n // 2
    assert rebuilds <= 16


def test_union_of_tables_is_the_union_with_smallest_distance(rng):
    bits = 16
    db_a, db_b = rng.integers(0, 256, (300, 2), dtype=np.uint8), rng.integers(0, 256, (300, 2), dtype=np.uint8)
    q_a, q_b = db_a[:5] ^ 1, db_b[:5] ^ 3
    ids = rng.permutation(1000)[:300]
    union = UnionIndex([HashIndex(bits), FlatIndex(bits), MultiIndexHash(bits, 2)])
    union.add([db_a, db_b, db_b], ids)
    dist = np.minimum(codes.hamming_matrix(q_a, db_a), codes.hamming_matrix(q_b, db_b))
    for r_lo, r_hi in ((0, 3), (2, 3), (1, 1)):
        lims, D, I = union.probe([q_a, q_b, q_b], r_lo, r_hi)
        for q in range(5):
            sel = np.flatnonzero((dist[q] >= r_lo) & (dist[q] <= r_hi))
            order = np.lexsort((ids[sel], dist[q, sel]))
            assert np.array_equal(I[lims[q]:lims[q + 1]], ids[sel][order])
            assert np.array_equal(D[lims[q]:lims[q + 1]], dist[q, sel][order])
    for k in (1, 4, 400):
        Dk, Ik = union.search([q_a, q_b, q_b], k)
        order = np.lexsort((np.broadcast_to(ids, dist.shape), dist), axis=1)[:, :k]
        assert np.array_equal(Ik[:, :300], ids[order]) and (Ik[:, 300:] == -1).all()
        assert np.array_equal(Dk[:, :300], np.take_along_axis(dist, order, 1))
    assert union.ntotal == 300 and union.bits == 16 and isinstance(union, BinaryIndex)


def test_every_kind_saves_and_loads_with_the_same_answers(tmp_path, rng):
    db = random_codes(rng, 200, 64)
    queries = db[:4] ^ codes.pack(rng.random((4, 64)) < 0.05)
    ids = rng.permutation(5000)[:200]
    mih = MultiIndexHash(64, 4)
    mih.add(db, ids)
    union = UnionIndex([HashIndex(64), MultiIndexHash(64, 3)])
    union.add([db, db[::-1].copy()], ids)
    for index, q in ((mih, queries), (union, [queries, queries])):
        index.save(tmp_path / index.kind)
        for loaded in (type(index).load(tmp_path / index.kind), BinaryIndex.load(tmp_path / index.kind, mmap=False)):
            assert type(loaded) is type(index)
            for got, want in zip(loaded.range_search(q, 5), index.range_search(q, 5)):
                assert np.array_equal(got, want)
            for got, want in zip(loaded.search(q, 9), index.search(q, 9)):
                assert np.array_equal(got, want)


def test_query_statistics_count_probes_and_candidates(rng):
    db = rng.integers(0, 256, (500, 2), dtype=np.uint8)
    index = HashIndex(16)
    index.strategy = "probe"  # 500 codes: a scan costs less than these probes, which "auto" would pick
    index.add(db)
    lims, _, _ = index.range_search(db[:7], 2)
    stats = index.last_stats
    assert stats.buckets_probed.tolist() == [1 + 16 + 120] * 7
    assert np.array_equal(stats.candidates, np.diff(lims)) and stats.seconds > 0
    flat = FlatIndex(16)
    flat.add(db)
    flat.search(db[:3], 2)
    assert flat.last_stats.candidates.tolist() == [500] * 3
    mih = MultiIndexHash(16, 2)
    mih.strategy = "probe"
    mih.add(db)
    mih.range_search(db[:3], 1)  # radius 1 over 2 tables: table 0 at substring radius 0, table 1 at 0
    assert mih.last_stats.buckets_probed.tolist() == [2] * 3 and (mih.last_stats.candidates >= 1).all()
