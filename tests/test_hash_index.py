import mmap

import numpy as np
import pytest

import l2h.atomic
from l2h import codes
from l2h.errors import L2HError
from l2h.index import FlatIndex, HashIndex, storage
from tests.conftest import clustered_codes


def brute_force_range(queries, database, radius):
    dist = codes.hamming_matrix(queries, database)
    out = []
    for row in dist:
        ids = np.flatnonzero(row <= radius)
        out.append((row[ids][np.lexsort((ids, row[ids]))], ids[np.lexsort((ids, row[ids]))]))
    return out


@pytest.mark.parametrize("bits", [8, 16, 20, 32, 64])
def test_range_search_equals_brute_force(rng, bits):
    db = clustered_codes(rng, 3000, bits)
    queries = np.concatenate([clustered_codes(rng, 40, bits), db[:5]])
    index = HashIndex(bits)
    index.add(db)
    for radius in (0, 1, 2, 3):
        lims, D, I = index.range_search(queries, radius)
        for q, (d_ref, i_ref) in enumerate(brute_force_range(queries, db, radius)):
            assert np.array_equal(I[lims[q]:lims[q + 1]], i_ref)
            assert np.array_equal(D[lims[q]:lims[q + 1]], d_ref)


def test_shells_partition_the_ball(rng):
    db = clustered_codes(rng, 2000, 16)
    queries = clustered_codes(rng, 30, 16)
    index = HashIndex(16)
    index.add(db)
    lims, D, I = index.range_search(queries, 3)
    dist = codes.hamming_matrix(queries, db)
    for r in range(4):
        s_lims, s_D, s_I = index.probe(queries, r, r)
        assert (s_D == r).all()
        for q in range(len(queries)):
            assert np.array_equal(s_I[s_lims[q]:s_lims[q + 1]], np.flatnonzero(dist[q] == r))


def test_knn_orders_by_distance_then_id(rng):
    db = clustered_codes(rng, 1500, 32, clusters=5)
    queries = clustered_codes(rng, 25, 32, clusters=5)
    dist = codes.hamming_matrix(queries, db)
    expected = np.argsort(dist, axis=1, kind="stable")[:, :10]
    for index in (HashIndex(32), FlatIndex(32)):
        index.add(db)
        D, I = index.search(queries, 10)
        assert np.array_equal(I, expected)
        assert np.array_equal(D, np.take_along_axis(dist, expected, 1))


def test_given_ids_and_incremental_add(rng):
    db = clustered_codes(rng, 400, 16)
    ids = rng.permutation(10_000)[:400] + 5
    index = HashIndex(16)
    index.add(db[:200], ids[:200])
    index.add(db[200:], ids[200:])
    lims, D, I = index.range_search(db[:3], 2)
    for q, (_, rows) in enumerate(brute_force_range(db[:3], db, 2)):
        assert sorted(I[lims[q]:lims[q + 1]].tolist()) == sorted(ids[rows].tolist())


def mapped(a):
    while isinstance(a, np.ndarray):
        a = a.base
    return isinstance(a.obj if isinstance(a, memoryview) else a, mmap.mmap)


def test_save_and_load_memory_mapped(tmp_path, rng):
    db = clustered_codes(rng, 1000, 32)
    index = HashIndex(32)
    index.add(db)
    index.save(tmp_path / "a.l2hidx")
    loaded = HashIndex.load(tmp_path / "a.l2hidx", bits=32)
    assert mapped(loaded.tables.brows)  # mapped, not copied
    copied = HashIndex.load(tmp_path / "a.l2hidx", mmap=False)
    assert not mapped(copied.tables.brows) and copied.tables.brows.flags.writeable
    for other in (loaded, copied):
        for got, want in zip(other.range_search(db[:20], 2), index.range_search(db[:20], 2)):
            assert np.array_equal(got, want)
    # a mapped index copies what it grows on its first add, and leaves the file alone
    before = (tmp_path / "a.l2hidx").read_bytes()
    loaded.add(db[:10])
    index.add(db[:10])
    assert (tmp_path / "a.l2hidx").read_bytes() == before
    for got, want in zip(loaded.range_search(db[:20], 2), index.range_search(db[:20], 2)):
        assert np.array_equal(got, want)


def test_load_refuses_other_files_and_code_lengths(tmp_path, rng):
    index = HashIndex(16)
    index.add(clustered_codes(rng, 100, 16))
    index.save(tmp_path / "i")
    with pytest.raises(L2HError, match="16-bit codes, but these codes have 32"):
        HashIndex.load(tmp_path / "i", bits=32)
    (tmp_path / "junk").write_bytes(b"\x00" * 100)
    with pytest.raises(L2HError, match="not an l2h index"):
        HashIndex.load(tmp_path / "junk")
    with pytest.raises(L2HError, match="built for 16 bits"):
        index.range_search(clustered_codes(rng, 3, 32), 1)
    with pytest.raises(L2HError, match="larger than the code length"):
        index.range_search(clustered_codes(rng, 3, 16), 17)


def test_interrupted_save_keeps_the_old_file(tmp_path, rng, monkeypatch):
    index = HashIndex(16)
    index.add(clustered_codes(rng, 100, 16))
    path = tmp_path / "i"
    index.save(path)
    before = path.read_bytes()

    class Interrupted(Exception):
        pass

    def fail(*args, **kwargs):
        raise Interrupted

    monkeypatch.setattr(l2h.atomic.os, "fsync", fail)  # dies after the data is written, before the rename
    with pytest.raises(Interrupted):
        storage.write(path, {"kind": "hash", "bits": 16}, {"a": np.arange(10)})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["i"]


def test_empty_index_and_full_radius(rng):
    index = HashIndex(8)
    lims, D, I = index.range_search(clustered_codes(rng, 4, 8), 8)
    assert lims.tolist() == [0] * 5 and I.size == 0
    db = clustered_codes(rng, 50, 8)
    index.add(db)
    lims, _, I = index.range_search(db[:2], 8)  # radius = bits: everything
    assert np.diff(lims).tolist() == [50, 50]


def test_memory_of_the_tables(rng):
    """What the module docstrings promise: with structured codes (shared buckets) the hash table stays close
    to the packed codes plus 8-byte ids; with every code its own bucket (about 25 bytes each) it costs at most
    about twice that."""
    for bits in (16, 32, 64):
        db = clustered_codes(rng, 20000, bits, clusters=50, flip=0.02)
        index = HashIndex(bits)
        index.add(db)
        assert index.nbytes() <= 1.5 * (db.nbytes + 8 * len(db)), bits
        if bits == 16:
            continue  # 2-byte codes: 20 bytes of table per distinct key dwarf them until the table turns direct
        distinct = np.unique(rng.integers(0, 256, (20000, bits // 8), dtype=np.uint8), axis=0)
        index = HashIndex(bits)
        index.add(distinct)
        assert index.nbytes() <= 2.2 * (distinct.nbytes + 8 * len(distinct)), bits


def test_multi_index_memory_and_row_limit(rng, monkeypatch):
    from l2h.index import MultiIndexHash, buckets

    # at the scale it is for (its four 2^16-key tables weigh 2 MiB whatever the size)
    db = clustered_codes(rng, 400_000, 64, clusters=400)
    index = MultiIndexHash(64)  # 4 tables of 16-bit substrings
    index.add(db)
    assert index.m == 4 and index.tables.direct
    assert index.nbytes() <= 2.0 * (db.nbytes + 8 * len(db))  # 4-byte rows per table, where 3 bytes gave 1.32x
    monkeypatch.setattr(buckets, "MAX_ROWS", 100)
    with pytest.raises(L2HError, match="at most 100 codes"):
        MultiIndexHash(64).add(db[:101])
    with pytest.raises(L2HError, match="at most 100 codes"):
        HashIndex(64).add(db[:101])
