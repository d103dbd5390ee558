"""Interchange with FAISS (in the test extra; skipped where FAISS is not installed). FAISS and torch share the
pytest process here (collecting the suite imports torch): they have crashed together on some platforms, not on
this one."""

import numpy as np
import pytest

from l2h import codes
from l2h.errors import L2HError
from l2h.index import FlatIndex, HashIndex, MultiIndexHash, UnionIndex

faiss = pytest.importorskip("faiss")
from l2h.index.faiss_io import from_faiss, to_faiss  # noqa: E402


def structured(rng, n, bits):
    centres = rng.integers(0, 2, (8, bits))
    return codes.pack(centres[rng.integers(0, 8, n)] ^ (rng.random((n, bits)) < 0.05))


def as_sets(lims, I):
    return [set(I[lims[q]:lims[q + 1]].tolist()) for q in range(len(lims) - 1)]


@pytest.mark.parametrize("bits,ids_given", [(16, False), (20, True), (64, True), (128, False)])
def test_export_answers_as_l2h_does(rng, bits, ids_given):
    db = structured(rng, 2000, bits)
    queries = db[:30] ^ codes.pack(rng.random((30, bits)) < 0.03)
    ids = rng.permutation(100_000)[:2000] if ids_given else None
    ours = MultiIndexHash(bits) if bits > 64 else HashIndex(bits)
    ours.add(db, ids)
    flat = to_faiss(ours)
    wrapped = isinstance(flat, faiss.IndexBinaryIDMap)
    assert flat.ntotal == 2000 and wrapped == ids_given
    D, I = flat.search(queries, 10)
    D_ours, I_ours = ours.search(queries, 10)
    assert np.array_equal(D, D_ours)  # FAISS breaks ties its own way: the distances agree
    for radius in (0, 2, 4):
        lims, _, I = flat.range_search(queries, radius + 1)  # FAISS's radius is strict
        assert as_sets(lims, I) == as_sets(*ours.range_search(queries, radius)[::2])


@pytest.mark.parametrize("bits,ids_given", [(16, False), (20, True), (64, True)])
def test_export_as_a_faiss_hash_index_answers_as_l2h_does(rng, bits, ids_given):
    db = structured(rng, 2000, bits)
    queries = db[:30] ^ codes.pack(rng.random((30, bits)) < 0.03)
    ours = HashIndex(bits)
    ours.add(db, rng.permutation(100_000)[:2000] if ids_given else None)
    hashed = to_faiss(ours, kind="hash")
    hashed.nflip = 2
    lims, _, I = hashed.range_search(queries, 3)  # FAISS's radius is strict
    assert as_sets(lims, I) == as_sets(*ours.range_search(queries, 2)[::2])


@pytest.mark.parametrize("kind", ["hash", "mih", "flat", "auto"])
def test_import_gives_the_same_index(rng, kind):
    bits = 32
    db = structured(rng, 1500, bits)
    ids = rng.permutation(10_000)[:1500]
    mapped = faiss.IndexBinaryIDMap(faiss.IndexBinaryFlat(bits))
    mapped.add_with_ids(db, ids)
    plain = faiss.IndexBinaryFlat(bits)
    plain.add(db)
    multi = faiss.IndexBinaryMultiHash(bits, 2, 16)
    multi.add(db)
    reference = FlatIndex(bits)
    reference.add(db, ids)
    back = from_faiss(mapped, kind=kind)
    assert back.bits == bits and back.ntotal == 1500
    for got, want in zip(back.search(db[:20], 7), reference.search(db[:20], 7)):
        assert np.array_equal(got, want)
    for source in (plain, multi):
        again = from_faiss(source, kind=kind)
        assert np.array_equal(again.items()[1], db) and np.array_equal(again.items()[0], np.arange(1500))


def test_round_trip_keeps_codes_and_ids_and_short_lengths(rng):
    bits = 20  # FAISS holds 24 dimensions; the spare bits are 0 and stay so
    db = structured(rng, 300, bits)
    ids = rng.permutation(1000)[:300]
    ours = FlatIndex(bits)
    ours.add(db, ids)
    back = from_faiss(to_faiss(ours), kind="flat", bits=bits)
    assert back.bits == 20
    assert all(np.array_equal(a, b) for a, b in zip(back.items(), ours.items()))
    assert from_faiss(to_faiss(ours), kind="flat").bits == 24


def test_refusals(rng):
    with pytest.raises(L2HError, match="no reconstruct"):
        from_faiss(faiss.IndexBinaryHash(32, 32))
    with pytest.raises(L2HError, match="at most 64 bits"):
        to_faiss(MultiIndexHash(128), kind="hash")
    with pytest.raises(L2HError, match="each member"):
        to_faiss(UnionIndex([FlatIndex(16), FlatIndex(16)]))
    with pytest.raises(L2HError, match="'flat' or 'hash'"):
        to_faiss(FlatIndex(16), kind="ivf")
    negative = faiss.IndexBinaryIDMap(faiss.IndexBinaryFlat(16))
    negative.add_with_ids(np.zeros((2, 2), np.uint8), np.array([-5, 3]))
    with pytest.raises(L2HError, match="non-negative"):
        from_faiss(negative)
    stray = faiss.IndexBinaryFlat(24)
    stray.add(np.full((2, 3), 0xFF, np.uint8))
    with pytest.raises(L2HError, match="beyond the code length"):
        from_faiss(stray, bits=20)
    with pytest.raises(L2HError, match="a FAISS binary index"):
        from_faiss("nope")
