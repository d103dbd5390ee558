"""A sharded index answers exactly as brute force over all its codes (by distance, then id), whatever the number
of shards, their sizes, empty shards and the kind of each shard; saved, moved and reopened it answers the same.
A shard from anywhere else (another artefact, another position, an older save, a lone index, other codes) or a
missing one is refused in one line by every loader, a Dask worker's included. A save is one whole artefact: a
full disk at any of its writes leaves the old one byte for byte; two writers and a reader loading meanwhile see
one version or the other, never a mix; a loaded searcher sees when its files were replaced and reloads.
Killed saves are tests/test_kill.py's."""

import collections
import errno
import itertools
import os
import shutil
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from l2h.errors import L2HError
from l2h.index import BinaryIndex, FlatIndex, HashIndex, MultiIndexHash
from l2h.index.sharded import ShardedIndex, merge_knn, write_shard
from tests.test_index_properties import (
    assert_knn,
    assert_knn_within,
    assert_ranges,
    brute_force,
    code_sets,
    random_codes,
)

SHARD_KINDS = [FlatIndex, MultiIndexHash, HashIndex]
FORMAT_2_FILES = Path(__file__).parent / "index_files_v2"  # written by an l2h before shards were bound


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


def shard_folders(path):
    return sorted(path.parent.glob(path.name + ".shards*"))


def reference_knn(queries, db, k):
    """Each query's k nearest rows by a full sort on (Hamming distance over unpacked bits, row)."""
    dist = (np.unpackbits(queries, axis=1)[:, None, :] != np.unpackbits(db, axis=1)[None, :, :]).sum(-1)
    order = np.array([sorted(range(len(db)), key=lambda j: (row[j], j))[:k] for row in dist])
    return np.take_along_axis(dist, order, 1), order


def answers_as(index, queries, db, k=12):
    D, I = reference_knn(queries, db, k)
    got = index.search(queries, k)
    return np.array_equal(got[0], D) and np.array_equal(got[1], I)


def test_saved_shards_reopen_with_the_same_answers_even_after_a_move(saved, tmp_path, rng):
    path, db = saved
    [folder] = shard_folders(path)  # one folder for this save: db.l2h.shards-<id>
    assert folder.name.startswith("db.l2h.shards-")
    names = sorted(p.name for p in folder.iterdir())
    assert [n[:6] for n in names] == [f"{i:05d}-" for i in range(5)] and all(len(n) == 26 for n in names)
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    shutil.move(path, moved / "db.l2h")
    shutil.move(folder, moved / folder.name)
    loaded = BinaryIndex.load(moved / "db.l2h")
    assert isinstance(loaded, ShardedIndex) and loaded.ntotal == 500 and loaded.shard_size == 120
    queries = random_codes(rng, 20, 32)
    ids = np.arange(500, dtype=np.int64)
    assert answers_as(loaded, queries, db)
    assert_knn(loaded, loaded.search(queries, 12), queries, db, ids, 12)
    assert_ranges(loaded, loaded.range_search(queries, 9), brute_force(queries, db, ids, 0, 9)[0])


def refusal(path, *loaders):
    """The one-line message with which every loader refuses the artefact at ``path`` (they must agree)."""
    messages = set()
    for load in loaders:
        with pytest.raises(L2HError) as err:
            load(path)
        assert "\n" not in str(err.value)
        messages.add(str(err.value))
    return " ".join(messages)


def on_a_worker(path):
    """What a Dask worker does with the shards given to it: open each from its entry, then answer."""
    from l2h import distributed

    specs = ShardedIndex.load(path, verify=False).shard_specs() if path.exists() else []
    distributed._OPEN.clear()
    return distributed._shard_answer(specs, 32, random_codes(np.random.default_rng(0), 3, 32), "knn", 5)


def test_a_shard_from_anywhere_else_is_refused_in_one_line(saved, tmp_path, rng):
    """Each file put in place of shard 2: another artefact's same-size shard, this artefact's shard 1, the
    same shard of an older save of this artefact, an index saved on its own, a shard of the right artefact and
    position with other codes; each is refused by every loader, a worker's included. Put back, it answers again
    as brute force."""
    path, db = saved
    queries = random_codes(rng, 20, 32)
    [folder] = shard_folders(path)
    shards = sorted(folder.iterdir())
    original = shards[2].read_bytes()

    other = ShardedIndex(32, shard_size=120)  # another artefact, shards of the same sizes
    other.add(random_codes(rng, 500, 32))
    other.save(tmp_path / "other.l2h")
    [other_folder] = shard_folders(tmp_path / "other.l2h")
    older = ShardedIndex.load(path)
    older.save(tmp_path / "older.l2h")  # the same shards, bound to another save (as an earlier save of db.l2h is)
    [older_folder] = shard_folders(tmp_path / "older.l2h")
    plain = FlatIndex(32)
    plain.add(db[240:360])
    plain.save(tmp_path / "plain.l2h")
    artefact = ShardedIndex.load(path, verify=False).artefact
    changed = FlatIndex(32)
    changed.add(db[240:360] ^ np.uint8(1), np.arange(240, 360))
    forged, _ = write_shard(changed, tmp_path, artefact, 2)  # right artefact, position and size; other codes

    cases = {"another artefact": (sorted(other_folder.iterdir())[2], "belongs to another artefact"),
             "another position": (shards[1], "is shard 1 of this artefact, listed as shard 2"),
             "an older save": (sorted(older_folder.iterdir())[2], "belongs to another artefact or to an older"),
             "saved on its own": (tmp_path / "plain.l2h", "an index saved on its own"),
             "other codes": (forged, "does not match the checksum")}
    loaders = (BinaryIndex.load, ShardedIndex.load, on_a_worker)
    for case, (source, message) in cases.items():
        shards[2].write_bytes(source.read_bytes())
        said = refusal(path, *loaders)
        assert message in said and shards[2].name in said, case
    shards[2].unlink()
    assert "does not exist" in refusal(path, *loaders)
    shards[2].write_bytes(original)
    assert answers_as(ShardedIndex.load(path), queries, db)


def test_a_sharded_file_of_an_older_l2h_loads_and_a_save_over_it_replaces_it_whole(tmp_path, rng):
    """tests/index_files_v2/sharded.l2h lists its shards in sharded.l2h.shards/ without checksums: it loads as
    before, and saving over it writes a bound artefact and removes the old folder."""
    shutil.copy(FORMAT_2_FILES / "sharded.l2h", tmp_path / "sharded.l2h")
    shutil.copytree(FORMAT_2_FILES / "sharded.l2h.shards", tmp_path / "sharded.l2h.shards")
    saved = np.load(FORMAT_2_FILES / "items.npz")
    db, ids = saved["codes"], saved["ids"]
    queries = random_codes(rng, 10, 24)
    index = ShardedIndex.load(tmp_path / "sharded.l2h")
    assert index.artefact is None and index.ntotal == len(db)
    index.save(tmp_path / "sharded.l2h")
    [folder] = shard_folders(tmp_path / "sharded.l2h")
    assert folder.name.startswith("sharded.l2h.shards-")
    loaded = ShardedIndex.load(tmp_path / "sharded.l2h")
    assert loaded.artefact is not None
    assert_knn(loaded, loaded.search(queries, 7), queries, db, ids, 7)


def test_shards_must_match_and_an_unwritten_index_cannot_be_embedded(rng):
    with pytest.raises(L2HError, match="16-bit shard cannot join a 32-bit"):
        ShardedIndex(32, shards=[HashIndex(16)])
    with pytest.raises(L2HError, match="shard_size must be a positive integer"):
        ShardedIndex(32, shard_size=0)
    index = ShardedIndex(32, shards=[FlatIndex(32)])
    with pytest.raises(L2HError, match="flush"):
        index._full_state()


# ---------------------------------------------------------------------------------------------- replaced whole

def files_under(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_full_disk_at_any_write_of_a_save_leaves_the_old_artefact_as_it_was(saved, tmp_path, rng, monkeypatch):
    """The disk fills at each file a save writes in turn (every shard, then the main file): the save is refused
    in one line, and every file under the folder is as before, byte for byte (the new folder is gone)."""
    path, db = saved
    queries = random_codes(rng, 20, 32)
    before = files_under(tmp_path)
    new_db = random_codes(rng, 400, 32)
    real_fsync = os.fsync
    for failing in range(1, 6):  # 4 shards, then the main file
        calls = itertools.count(1)

        def fsync(fd):
            if next(calls) == failing:
                raise OSError(errno.ENOSPC, "No space left on device")
            real_fsync(fd)

        index = ShardedIndex(32, shard_size=120)
        index.add(new_db)
        monkeypatch.setattr(os, "fsync", fsync)
        with pytest.raises(L2HError, match="the disk is full: free some space") as err:
            index.save(path)
        monkeypatch.setattr(os, "fsync", real_fsync)
        assert "\n" not in str(err.value) and next(calls) == failing + 1
        assert files_under(tmp_path) == before, failing
        assert answers_as(ShardedIndex.load(path), queries, db)
    index.save(path)  # with room, the new artefact replaces the old one whole
    assert answers_as(ShardedIndex.load(path), queries, new_db) and len(shard_folders(path)) == 1


@pytest.fixture(scope="module")
def versions(trained_checkpoint):
    """A model and two databases for it (raw vectors), with queries and each database's codes."""
    from l2h import checkpoint
    from l2h.data import DataSource

    model = checkpoint.load(trained_checkpoint)[0]
    features = DataSource("digits", "digits").load().features
    databases = [features[:600], features[700:1300] + 0.25]
    return model, databases, features[::90] + 0.5, [model.encode(d) for d in databases]


def saved_searcher(model, vectors, path, shard_size=100):
    from l2h import Searcher

    searcher = Searcher(model, ShardedIndex(model.bits, shard_size=shard_size))
    searcher.add(vectors)
    searcher.save(path)
    return searcher


def version_answered(searcher, queries, codes_of_versions, k=8):
    """Which version's brute force the searcher's answers equal (None: neither)."""
    got = searcher.search(queries, k)
    query_codes = searcher.model.encode(queries)
    for n, db in enumerate(codes_of_versions):
        D, I = reference_knn(query_codes, db, k)
        if np.array_equal(got[0], D) and np.array_equal(got[1], I):
            return n
    return None


def test_two_writers_and_loads_during_the_rewrites_see_one_whole_artefact(versions, tmp_path, monkeypatch):
    """Two threads save their own version over one path in turn, while a third loads it in a loop: every load
    answers as one version or the other, exactly as brute force over its codes (none refused); at the end one
    whole artefact is left, and one shard folder."""
    from l2h import Searcher
    from l2h.index import sharded as sharded_module

    write_shard_now = sharded_module.write_shard

    def write_shard_slowly(*args):  # a pause after each shard, so that the two writers' saves interleave
        written = write_shard_now(*args)
        time.sleep(0.002)
        return written

    monkeypatch.setattr(sharded_module, "write_shard", write_shard_slowly)
    model, databases, queries, db_codes = versions
    path = tmp_path / "db.l2h"
    writers = [saved_searcher(model, vectors, tmp_path / f"v{n}.l2h") for n, vectors in enumerate(databases)]
    writers[0].save(path)
    done = threading.Event()
    outcomes = collections.Counter()

    def write(searcher):
        try:
            for _ in range(12):
                searcher.save(path)
        except Exception as exc:  # a writer's failure fails the test, not just its thread
            outcomes[f"a writer failed: {exc}"] += 1

    def read():
        while not done.is_set():
            try:
                outcomes[version_answered(Searcher.load(path), queries, db_codes)] += 1
            except L2HError as exc:
                outcomes[str(exc)] += 1

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write, args=(w,)) for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join()
    assert set(outcomes) <= {0, 1} and sum(outcomes.values()) >= 10, outcomes
    assert version_answered(Searcher.load(path), queries, db_codes) in (0, 1)
    assert len(shard_folders(path)) == 1 and not list(tmp_path.glob(".*.tmp")) and not list(tmp_path.glob("*/.*.tmp"))


def test_a_searcher_knows_when_its_artefact_was_replaced_and_reloads_it(versions, tmp_path):
    from l2h import Searcher

    model, databases, queries, db_codes = versions
    path = tmp_path / "db.l2h"
    saved_searcher(model, databases[0], path)
    searcher = Searcher.load(path)
    assert not searcher.is_stale() and not searcher.reload_if_changed()
    saved_searcher(model, databases[1], path)  # replaced: a new main file and folder, the old folder removed
    assert searcher.is_stale()
    assert version_answered(searcher, queries, db_codes) == 0  # its mapped files outlive their folder
    assert searcher.reload_if_changed() and not searcher.is_stale()
    assert version_answered(searcher, queries, db_codes) == 1


@pytest.mark.parametrize("mmap", [True, False])
def test_a_file_rewritten_in_place_is_seen_and_mapped_readers_are_told_to_load_unmapped(versions, tmp_path, mmap):
    from l2h import Searcher
    from l2h.index import FlatIndex as Flat

    model, databases, queries, db_codes = versions
    searcher = Searcher(model, Flat(model.bits))
    searcher.add(databases[0])
    searcher.save(tmp_path / "db.l2h")
    loaded = Searcher.load(tmp_path / "db.l2h", mmap=mmap)
    data = (tmp_path / "db.l2h").read_bytes()
    with open(tmp_path / "db.l2h", "r+b") as f:  # the same bytes, in place: the same inode, a new time
        f.write(data)
    os.utime(tmp_path / "db.l2h", ns=(time.time_ns() + 10**9,) * 2)
    assert loaded.is_stale()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert loaded.reload_if_changed()
    said = [str(w.message) for w in caught]
    assert (any("rewritten in place" in m and "mmap=False" in m for m in said)) == mmap, said
    assert version_answered(loaded, queries, db_codes) == 0 and not loaded.is_stale()
