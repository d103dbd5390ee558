"""TorchFlatIndex: the same answers as FlatIndex (ties by id included) on the torch device, here the CPU build;
on a machine with a GPU the same tests run on it too. This file imports torch; the FAISS tests live apart."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from l2h import codes
from l2h.errors import L2HError
from l2h.index import BinaryIndex, FlatIndex, TorchFlatIndex, make, torch_flat

torch = pytest.importorskip("torch")
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@st.composite
def cases(draw):
    bits = draw(st.sampled_from([1, 7, 8, 20, 32, 64, 65, 200, 1024]))
    n = draw(st.integers(0, 150))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    centres = rng.integers(0, 2, (draw(st.integers(1, 4)), bits))
    db = codes.pack(centres[rng.integers(0, len(centres), n)] ^ (rng.random((n, bits)) < 0.04))
    queries = codes.pack(centres[rng.integers(0, len(centres), 5)] ^ (rng.random((5, bits)) < 0.04))
    ids = None if draw(st.booleans()) else rng.integers(0, 3 * n + 1, n)  # repeats possible
    return bits, db, queries, ids, draw(st.integers(1, 12)), min(draw(st.integers(0, 6)), bits)


@given(cases(), st.sampled_from(DEVICES), st.integers(1, 3))
def test_same_answers_as_flat_index(case, device, blocks):
    bits, db, queries, ids, k, radius = case
    flat, ours = FlatIndex(bits), TorchFlatIndex(bits, device=device)
    cut = len(db) // blocks
    for index in (flat, ours):
        index.add(db[:cut], None if ids is None else ids[:cut])
        index.add(db[cut:], None if ids is None else ids[cut:])
    for got, want in zip(ours.search(queries, k), flat.search(queries, k)):
        assert np.array_equal(got, want) and got.dtype == want.dtype
    for got, want in zip(ours.range_search(queries, radius), flat.range_search(queries, radius)):
        assert np.array_equal(got, want) and got.dtype == want.dtype
    for got, want in zip(ours.probe(queries, radius // 2, radius), flat.probe(queries, radius // 2, radius)):
        assert np.array_equal(got, want)
    for got, want in zip(ours.search(queries, k, radius), flat.search(queries, k, radius)):
        assert np.array_equal(got, want)
    dist = codes.hamming_matrix(queries, db) if len(db) else np.zeros((5, 0), np.int32)
    row_ids = np.arange(len(db)) if ids is None else ids
    D, I = ours.search(queries, k)
    for q in range(5):
        order = np.lexsort((row_ids, dist[q]))[:k]
        assert np.array_equal(I[q, :len(order)], row_ids[order]) and (I[q, len(order):] == -1).all()


def test_small_blocks_give_the_same_answers(monkeypatch, rng):
    """Blocks of queries and codes are merged exactly: force tiny ones."""
    db = codes.pack(rng.integers(0, 2, (500, 32)))
    db[250:] = db[:250]
    q = db[:20] ^ codes.pack(rng.random((20, 32)) < 0.1)
    flat, ours = FlatIndex(32), TorchFlatIndex(32, device="cpu")
    ids = rng.permutation(500)
    flat.add(db, ids)
    ours.add(db, ids)
    monkeypatch.setattr(torch_flat, "BLOCK_ELEMENTS", 64)
    for got, want in zip([*ours.search(q, 7), *ours.range_search(q, 6)], [*flat.search(q, 7), *flat.range_search(q, 6)]):
        assert np.array_equal(got, want)


def test_save_load_move_and_refusals(tmp_path, rng):
    db = codes.pack(rng.integers(0, 2, (100, 20)))
    index = make("torch", bits=20, device="cpu")
    assert isinstance(index, TorchFlatIndex) and index.device.type == "cpu"
    index.add(db, rng.permutation(1000)[:100])
    index.save(tmp_path / "t")
    loaded = BinaryIndex.load(tmp_path / "t")
    assert isinstance(loaded, TorchFlatIndex)
    for got, want in zip(loaded.search(db[:5], 4), index.search(db[:5], 4)):
        assert np.array_equal(got, want)
    assert index.to("cpu") is index
    with pytest.raises(L2HError, match="not a torch device"):
        TorchFlatIndex(20, device="moon")
    stray = db[:2].copy()
    stray[0, -1] |= 0xF0
    with pytest.raises(L2HError, match="beyond the code length"):
        index.search(stray, 1)
    assert index.last_stats.candidates.tolist() == [100] * 5


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_a_gpu_without_one_is_one_line():
    with pytest.raises(L2HError, match="asks for a GPU but this machine has none"):
        TorchFlatIndex(20, device="cuda")


@pytest.mark.parametrize("bits", [64, 2048, 4096])
def test_the_gpus_float16_products_give_exact_distances(monkeypatch, rng, bits):
    """A GPU multiplies the ±1 codes in float16 (2048 positions at a time): forced here on the CPU, the answers of
    codes up to the longest, with near-duplicates whose distances are odd and close to the code length, are still
    exactly FlatIndex's."""
    monkeypatch.setattr(torch_flat, "product_dtype", lambda device: torch.float16)
    db = codes.pack(rng.integers(0, 2, (200, bits)))
    db[100:] = db[:100] ^ codes.pack(rng.random((100, bits)) < 3 / bits)  # a few bits apart
    q = np.concatenate([db[:10], ~db[10:15] & codes.pack(np.ones((1, bits), np.uint8))])  # and the complements
    flat, ours = FlatIndex(bits), TorchFlatIndex(bits, device="cpu")
    flat.add(db)
    ours.add(db)
    assert ours._signs(ours._packed[:1]).dtype == torch.float16
    for got, want in zip([*ours.search(q, 5), *ours.range_search(q, 4), *ours.probe(q, bits - 6, bits)],
                         [*flat.search(q, 5), *flat.range_search(q, 4), *flat.probe(q, bits - 6, bits)]):
        assert np.array_equal(got, want)
