"""A sharded index answers exactly as brute force over all its codes (by distance, then id), whatever the number
of shards, their sizes, empty shards and the kind of each shard; saved, moved and reopened it answers the same,
and a missing or altered shard file is refused in one line."""

import shutil

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from l2h.errors import L2HError
from l2h.index import BinaryIndex, FlatIndex, HashIndex, MultiIndexHash
from l2h.index.sharded import ShardedIndex, merge_knn
from tests.test_index_properties import (
    assert_knn,
    assert_knn_within,
    assert_ranges,
    brute_force,
    code_sets,
    random_codes,
)

SHARD_KINDS = [FlatIndex, MultiIndexHash, HashIndex]


def sharded(bits, db, ids, sizes, rng):
    """``db`` cut into consecutive shards of ``sizes`` (the last takes the rest; zeros are empty shards), each
    shard of a random kind that can hold these codes."""
    kinds = [k for k in SHARD_KINDS if k is not HashIndex or bits <= 64]
    index = ShardedIndex(bits)
    edges = np.minimum(np.cumsum([0, *sizes]), len(db)).tolist() + [len(db)]
    for lo, hi in zip(edges[:-1], edges[1:]):
        shard = kinds[int(rng.integers(len(kinds)))](bits)
        shard.add(db[lo:hi], None if ids is None else ids[lo:hi])
        index.add_shard(shard)
    return index


def row_ids(db, ids):
    return np.arange(len(db), dtype=np.int64) if ids is None else ids


@given(code_sets(), st.lists(st.integers(0, 30), min_size=0, max_size=6), st.integers(1, 15))
def test_any_cut_into_shards_answers_as_brute_force(case, sizes, k):
    bits, db, queries, ids, radius, rng = case
    ids = row_ids(db, ids)  # shards of one index hold the rows' ids, as index.py gives them
    index = sharded(bits, db, ids, sizes, rng)
    assert index.ntotal == len(db) and len(index.shards) == len(sizes) + 1
    assert_ranges(index, index.range_search(queries, radius), brute_force(queries, db, ids, 0, radius)[0])
    r_lo = int(rng.integers(0, radius + 1))
    assert_ranges(index, index.probe(queries, r_lo, radius), brute_force(queries, db, ids, r_lo, radius)[0])
    assert_knn(index, index.search(queries, k), queries, db, ids, k)
    assert_knn(index, index.search(queries, len(db) + 2), queries, db, ids, len(db) + 2)
    assert_knn_within(index, index.search(queries, k, radius), brute_force(queries, db, ids, 0, radius)[0], k)


@given(code_sets(bits_from=[8, 16, 64, 100]), st.integers(1, 40), st.lists(st.integers(1, 50), max_size=4))
def test_adding_with_a_shard_size_fills_shards_in_order(case, shard_size, cuts):
    bits, db, queries, _, radius, rng = case
    index = ShardedIndex(bits, shard_size=shard_size)
    for part in np.split(db, sorted(c for c in cuts if c < len(db))):
        index.add(part)
    assert [s.ntotal for s in index.shards] == [min(shard_size, len(db) - i) for i in range(0, len(db), shard_size)]
    ids = np.arange(len(db), dtype=np.int64)
    assert_ranges(index, index.range_search(queries, radius), brute_force(queries, db, ids, 0, radius)[0])
    assert_knn(index, index.search(queries, 7), queries, db, ids, 7)


def test_merge_puts_missing_entries_last_and_breaks_ties_by_id():
    D, I = merge_knn([(np.array([[1, -1]], np.int32), np.array([[9, -1]])),
                      (np.array([[1, 0]], np.int32), np.array([[4, 2]]))], 3)
    assert D.tolist() == [[0, 1, 1]] and I.tolist() == [[2, 4, 9]]


@pytest.fixture
def saved(tmp_path, rng):
    db = random_codes(rng, 500, 32)
    index = ShardedIndex(32, shard_size=120)
    index.add(db[:300])
    index.flush(tmp_path / "db.l2h")  # the filled shards leave memory as the database grows
    assert all(p is not None for p in index.paths[:-1]) and index.paths[-1] is None
    index.add(db[300:])
    index.save(tmp_path / "db.l2h")
    return tmp_path / "db.l2h", db


def test_saved_shards_reopen_with_the_same_answers_even_after_a_move(saved, tmp_path, rng):
    path, db = saved
    assert sorted(p.name for p in ShardedIndex.shard_folder(path).iterdir()) == [f"{i:05d}.l2h" for i in range(5)]
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    shutil.move(path, moved / "db.l2h")
    shutil.move(ShardedIndex.shard_folder(path), ShardedIndex.shard_folder(moved / "db.l2h"))
    loaded = BinaryIndex.load(moved / "db.l2h")
    assert isinstance(loaded, ShardedIndex) and loaded.ntotal == 500 and loaded.shard_size == 120
    queries = random_codes(rng, 20, 32)
    ids = np.arange(500, dtype=np.int64)
    assert_knn(loaded, loaded.search(queries, 12), queries, db, ids, 12)
    assert_ranges(loaded, loaded.range_search(queries, 9), brute_force(queries, db, ids, 0, 9)[0])


def test_a_missing_or_replaced_shard_is_refused(saved, rng):
    path, _ = saved
    folder = ShardedIndex.shard_folder(path)
    other = HashIndex(32)
    other.add(random_codes(rng, 7, 32))
    other.save(folder / "00002.l2h")
    with pytest.raises(L2HError, match="holds 7 codes where the list says 120"):
        BinaryIndex.load(path)
    (folder / "00002.l2h").unlink()
    with pytest.raises(L2HError, match="00002.l2h"):
        BinaryIndex.load(path)


def test_shards_must_match_and_an_unwritten_index_cannot_be_embedded(rng):
    with pytest.raises(L2HError, match="16-bit shard cannot join a 32-bit"):
        ShardedIndex(32, shards=[HashIndex(16)])
    with pytest.raises(L2HError, match="shard_size must be a positive integer"):
        ShardedIndex(32, shard_size=0)
    index = ShardedIndex(32, shards=[FlatIndex(32)])
    with pytest.raises(L2HError, match="flush"):
        index._full_state()
