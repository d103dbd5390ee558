"""API misuse: every mistake ends in one L2HError naming the problem and the fix; never a crash, a MemoryError or
a silently wrong answer. Also the factory, the thread setting and the contract's shared pieces."""

import subprocess
import sys

import numpy as np
import pytest

from l2h import codes
from l2h.errors import L2HError
from l2h.index import (
    KINDS,
    FlatIndex,
    HashIndex,
    MultiIndexHash,
    ShardedIndex,
    TorchFlatIndex,
    UnionIndex,
    auto,
    get_num_threads,
    make,
    set_num_threads,
)


def every_kind(bits):
    """An index of every kind that takes one code array (a union takes a list: the tests add their own)."""
    made = [FlatIndex(bits), MultiIndexHash(bits), TorchFlatIndex(bits, device="cpu"),
            ShardedIndex(bits, shard_size=17, make_shard=MultiIndexHash)]
    if bits <= 64:
        made.append(HashIndex(bits))
    return made


@pytest.mark.parametrize("bits", [4, 12, 20, 70])
def test_stray_bits_are_refused_by_every_index_and_method(rng, bits):
    db = codes.pack(rng.integers(0, 2, (50, bits)))
    stray = db[:3].copy()
    stray[1, -1] |= np.uint8(0x80)
    union = UnionIndex([FlatIndex(bits), MultiIndexHash(bits)])
    for index in every_kind(bits) + [union]:
        wrap = (lambda a: [a, a]) if index is union else (lambda a: a)
        index.add(wrap(db))
        calls = [lambda: index.add(wrap(stray)), lambda: index.search(wrap(stray), 3),
                 lambda: index.range_search(wrap(stray), 1), lambda: index.probe(wrap(stray), 1, 2)]
        for call in calls:
            with pytest.raises(L2HError, match=f"beyond the code length \\({bits} bits\\)"):
                call()
        assert index.ntotal == 50  # the refused add added nothing


def test_hash_index_of_4_bits_refuses_0xf3():
    index = HashIndex(4)
    index.add(np.array([[0x03], [0x0F]], dtype=np.uint8))
    with pytest.raises(L2HError, match="0xF3"):
        index.range_search(np.array([[0xF3]], dtype=np.uint8), 1)
    lims, D, I = index.range_search(np.array([[0x03]], dtype=np.uint8), 2)
    assert I.tolist() == [0, 1] and D.tolist() == [0, 2]


def test_code_lengths_and_options_are_checked():
    for bad in (True, False, 0, -3, 2.0, "32", None):
        for make_one in (HashIndex, FlatIndex, MultiIndexHash):
            with pytest.raises(L2HError, match="bits must be a positive integer"):
                make_one(bad)
    with pytest.raises(L2HError, match="MultiIndexHash, or l2h.index.auto"):
        HashIndex(65)
    for m in (0, 65, 2.5, True):
        with pytest.raises(L2HError, match="m substrings"):
            MultiIndexHash(64, m)
    with pytest.raises(L2HError, match="between 2 and 100"):
        MultiIndexHash(100, 1)  # 100-bit substrings: more than 64


def test_ids_are_checked():
    index = FlatIndex(8)
    codes_ = np.zeros((3, 1), dtype=np.uint8)
    for ids, message in (([-1, 2, 3], "non-negative"), ([0, -7, 1], "non-negative"), ([1.0, 2.0, 3.0], "integers"),
                         ([True, False, True], "integers"), ([1, 2], "one id per code"),
                         (np.array([[1, 2, 3]]), "one id per code"),
                         (np.array([2**64 - 1, 0, 1], dtype=np.uint64), "fit in int64")):
        with pytest.raises(L2HError, match=message):
            index.add(codes_, ids)
    assert index.ntotal == 0
    index.add(codes_, np.array([5, 5, 9], dtype=np.uint8))  # any integer dtype; repeated ids are allowed
    assert index.items()[0].tolist() == [5, 5, 9]


def test_k_and_radius_are_checked(rng):
    db = codes.pack(rng.integers(0, 2, (20, 16)))
    for index in every_kind(16):
        index.add(db)
        for k in (0, -1, 2.5, True, "3", None):
            with pytest.raises(L2HError, match="k must be a positive integer"):
                index.search(db[:2], k)
        with pytest.raises(L2HError, match=r"asks for a .* result .*\(k=20 already returns every item\)"):
            index.search(db[:2], 10**12)  # refused before anything is allocated: no MemoryError
        D, I = index.search(db[:2], 25)  # more than the items: padded with -1, as FAISS does
        assert D.shape == (2, 25) and (I[:, 20:] == -1).all() and (I[:, :20] >= 0).all()
        for radius in (-1, 2.5, True, None):
            with pytest.raises(L2HError, match="radius must be a non-negative integer"):
                index.range_search(db[:2], radius)
        with pytest.raises(L2HError, match="larger than the code length"):
            index.range_search(db[:2], 17)
        with pytest.raises(L2HError, match="r_lo <= r_hi"):
            index.probe(db[:2], 3, 2)
        with pytest.raises(L2HError, match="r_hi 17 is larger"):
            index.probe(db[:2], 0, 17)
        with pytest.raises(L2HError, match="built for 16 bits"):
            index.search(codes.pack(rng.integers(0, 2, (2, 32))), 1)
        with pytest.raises(L2HError, match="packed uint8"):
            index.search(db[:2].astype(np.int64), 1)
        assert index.search(db[:0], 3)[0].shape == (0, 3)
        assert index.range_search(db[:0], 2)[0].tolist() == [0]


def test_empty_index_answers_nothing(rng):
    q = codes.pack(rng.integers(0, 2, (3, 24)))
    for index in every_kind(24):
        D, I = index.search(q, 4)
        assert (I == -1).all() and (D == -1).all()
        lims, D, I = index.range_search(q, 24)
        assert lims.tolist() == [0, 0, 0, 0] and I.size == 0
        assert index.items()[0].size == 0


def test_flat_index_breaks_ties_at_the_kth_distance_by_id():
    index = FlatIndex(8)
    index.add(np.zeros((3, 1), dtype=np.uint8), np.array([30, 20, 10]))
    D, I = index.search(np.zeros((1, 1), dtype=np.uint8), 1)
    assert I.tolist() == [[10]] and D.tolist() == [[0]]
    assert index.search(np.zeros((1, 1), dtype=np.uint8), 2)[1].tolist() == [[10, 20]]
    for other in (HashIndex(8), MultiIndexHash(8)):
        other.add(np.zeros((3, 1), dtype=np.uint8), np.array([30, 20, 10]))
        assert other.search(np.zeros((1, 1), dtype=np.uint8), 1)[1].tolist() == [[10]]


def test_union_refuses_mismatched_batches(rng):
    a, b = codes.pack(rng.integers(0, 2, (10, 16))), codes.pack(rng.integers(0, 2, (12, 16)))
    union = UnionIndex([HashIndex(16), FlatIndex(16)])
    with pytest.raises(L2HError, match="different numbers of rows"):
        union.add([a, b])
    union.add([a, a])
    with pytest.raises(L2HError, match="different numbers of rows"):
        union.search([a[:3], a[:4]], 2)
    with pytest.raises(L2HError, match="one per member"):
        union.range_search([a], 1)
    with pytest.raises(L2HError, match="a list of queries arrays"):
        union.search(a, 1)
    filled = HashIndex(16)
    filled.add(a)
    with pytest.raises(L2HError, match="hold the same items"):
        UnionIndex([filled, FlatIndex(16)])
    with pytest.raises(L2HError, match="at least one member"):
        UnionIndex([])


def test_items_codes_and_reconstruct_are_in_id_order(rng):
    db = codes.pack(rng.integers(0, 2, (40, 24)))
    ids = rng.permutation(1000)[:40]
    for index in every_kind(24):
        index.add(db, ids)
        got_ids, got = index.items()
        assert np.array_equal(got_ids, np.sort(ids)) and np.array_equal(got, db[np.argsort(ids)])
        assert np.array_equal(index.codes(), got)
        assert np.array_equal(index.reconstruct(ids[[5, 2]]), db[[5, 2]])
        with pytest.raises(L2HError, match="not in this index"):
            index.reconstruct([1001])


def test_factory_builds_every_kind_by_keyword():
    assert type(make("hash", bits=32)) is HashIndex
    assert type(make(kind="mih", bits=256, m=8)) is MultiIndexHash and make("mih", bits=256, m=8).m == 8
    assert type(make("multi_index", 128)) is MultiIndexHash
    assert type(make("flat", bits=12)) is FlatIndex
    assert type(auto(bits=64)) is HashIndex and type(auto(65)) is MultiIndexHash
    assert type(make("auto", bits=1024, m=32)) is MultiIndexHash and make("auto", bits=16, m=4).bits == 16
    assert set(KINDS) >= {"hash", "mih", "flat", "auto", "torch"}
    with pytest.raises(L2HError, match="unknown index kind 'nope'"):
        make("nope", 32)
    with pytest.raises(L2HError, match="takes no options, not m"):
        make("hash", bits=32, m=4)
    with pytest.raises(L2HError, match="takes m, not device"):
        make("mih", bits=32, device="cpu")
    with pytest.raises(L2HError, match="bits must be a positive integer"):
        auto(bits=True)


def test_thread_setting():
    before = get_num_threads()
    try:
        set_num_threads(3)
        assert get_num_threads() == 3
        for bad in (0, -2, 1.5, True, "2"):
            with pytest.raises(L2HError, match="number of threads"):
                set_num_threads(bad)
        set_num_threads(None)
        assert get_num_threads() >= 1
    finally:
        set_num_threads(before)


def test_importing_the_indexes_imports_neither_torch_nor_faiss():
    code = ("import sys, numpy as np; import l2h.index, l2h.index.faiss_io; "
            "i = l2h.index.make('hash', 16); i.add(np.zeros((2, 2), np.uint8)); i.search(np.zeros((1, 2), np.uint8), 1); "
            "print('torch' in sys.modules, 'faiss' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.split() == ["False", "False"], out.stderr[-2000:]


def test_ids_up_to_int64_max_sort_and_search(rng):
    """Ids past 2^56 take every byte of a radix sort (a shift of 64 once looped for ever)."""
    db = codes.pack(rng.integers(0, 2, (400, 16)))
    db[200:] = db[:200]
    ids = np.iinfo(np.int64).max - rng.permutation(10**6)[:400]
    for index in every_kind(16):
        index.add(db, ids)
        lims, D, I = index.range_search(db[:5], 16)  # every item: long runs to sort by id
        for q in range(5):
            d = codes.hamming_matrix(db[q:q + 1], db)[0]
            order = np.lexsort((ids, d))
            assert np.array_equal(I[lims[q]:lims[q + 1]], ids[order]), repr(index)
        assert np.array_equal(index.search(db[:5], 300)[1], ids[np.lexsort((np.broadcast_to(ids, (5, 400)),
                                                                            codes.hamming_matrix(db[:5], db)))][:, :300])


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_threaded_search_works_in_a_forked_child(rng):
    """A child forked after the thread pool started gets its own pool (the parent's threads are not there)."""
    import multiprocessing

    db = codes.pack(rng.integers(0, 2, (500, 16)))
    index = FlatIndex(16)
    index.add(db)
    before = get_num_threads()
    set_num_threads(2)
    try:
        want = index.search(db[:50], 3)[1]  # the pool now exists
        with multiprocessing.get_context("fork").Pool(1) as pool:
            got = pool.apply_async(index.search, (db[:50], 3)).get(timeout=120)[1]
        assert np.array_equal(got, want)
    finally:
        set_num_threads(before)
