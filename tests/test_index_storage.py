"""Damaged and forged index files: every load either refuses with an L2HError or gives an index that answers
exactly as before (raw damage, caught by the checksums) or exactly as brute force over the items it says it
holds (forged files with valid checksums, caught by the structural checks). Never a crash, never an answer
that disagrees with the index's own items.

Loads that could crash run in a subprocess in ``test_fuzz_campaign_in_a_subprocess``; the hypothesis tests run
in this process, relying on the checks that keep every search in bounds (a crash there fails the run loudly).

Run the campaign alone, longer: ``python tests/test_index_storage.py 2000 SEED``."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from l2h import codes  # noqa: E402
from l2h.errors import L2HError  # noqa: E402
from l2h.index import (  # noqa: E402
    BinaryIndex,
    FlatIndex,
    HashIndex,
    MultiIndexHash,
    UnionIndex,
    storage,
)

PREFIX = struct.Struct("<8sIIQ")


def structured(rng, n, bits, clusters=6, flip=0.06):
    centres = rng.integers(0, 2, (clusters, bits))
    return codes.pack(centres[rng.integers(0, clusters, n)] ^ (rng.random((n, bits)) < flip))


def sample_indexes():
    """One of each layout: hashed and direct tables, tails merged, given and implicit ids, a union."""
    rng = np.random.default_rng(7)
    made = {}
    db32, db10, db64 = structured(rng, 300, 32), structured(rng, 300, 10), structured(rng, 300, 64)
    ids = rng.permutation(5000)[:300].astype(np.int64)
    made["hash"] = HashIndex(32)
    made["hash"].add(db32[:200], ids[:200])
    made["hash"].add(db32[200:], ids[200:])
    made["hash_direct"] = HashIndex(10)
    made["hash_direct"].add(db10)
    made["mih"] = MultiIndexHash(64, 3)  # 22-bit substrings: hashed tables
    made["mih"].add(db64, ids)
    made["mih_direct"] = MultiIndexHash(64, 8)  # 8-bit substrings: direct tables
    made["mih_direct"].add(db64)
    made["flat"] = FlatIndex(20)
    made["flat"].add(structured(rng, 300, 20), ids)
    made["union"] = UnionIndex([HashIndex(32), FlatIndex(32)])
    made["union"].add([db32, db32[::-1].copy()])
    return made


INDEXES = sample_indexes()


def queries_for(index, rng):
    """Queries near the index's own items (and a few random ones), valid for its code length."""
    ids, held = index.items()
    held = held if isinstance(held, list) else [held]
    out = []
    for codes_ in held:
        bits = index.bits if not isinstance(index, UnionIndex) else None
        bits = bits or codes_.shape[1] * 8
        base = codes_[:4] if len(codes_) else np.zeros((0, codes_.shape[1]), dtype=np.uint8)
        noise = codes.pack(rng.random((len(base) + 2, bits)) < 0.05)
        picked = np.concatenate([base, codes.pack(rng.integers(0, 2, (2, bits)))]) if len(base) else \
            codes.pack(rng.integers(0, 2, (2, bits)))
        q = picked ^ noise[:len(picked)]
        q[:, -1] &= np.uint8(0xFF >> codes.spare_mask(bits).bit_count()) if codes.spare_mask(bits) else 0xFF
        out.append(q)
    return out if isinstance(index, UnionIndex) else out[0]


def answers(index, queries):
    return [*index.range_search(queries, 0), *index.range_search(queries, 3), *index.search(queries, 5),
            *index.items()[:1]]


def same(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def assert_self_consistent(index):
    """The loaded index answers as brute force over the items it reports."""
    rng = np.random.default_rng(3)
    ids, held = index.items()
    queries = queries_for(index, rng)
    held_list = held if isinstance(held, list) else [held]
    q_list = queries if isinstance(queries, list) else [queries]
    dist = None
    for c, q in zip(held_list, q_list):
        d = codes.hamming_matrix(q, c) if len(c) else np.zeros((len(q), 0), dtype=np.int32)
        dist = d if dist is None else np.minimum(dist, d)
    for radius in (0, 2, min(5, index.bits)):
        lims, D, I = index.range_search(queries, radius)
        for row in range(len(dist)):
            sel = np.flatnonzero(dist[row] <= radius)
            order = np.lexsort((ids[sel], dist[row, sel]))
            assert np.array_equal(I[lims[row]:lims[row + 1]], ids[sel][order])
            assert np.array_equal(D[lims[row]:lims[row + 1]], dist[row, sel][order])
    D, I = index.search(queries, 4)
    for row in range(len(dist)):
        order = np.lexsort((ids, dist[row]))[:4]
        assert np.array_equal(I[row, :len(order)], ids[order]) and np.array_equal(D[row, :len(order)],
                                                                                  dist[row, order])


def load_outcome(path, mmap=True, verify=True):
    try:
        return BinaryIndex.load(path, mmap=mmap, verify=verify)
    except L2HError as exc:
        assert "\n" not in str(exc)
        return None


def read_parts(path):
    data = Path(path).read_bytes()
    magic, version, crc, length = PREFIX.unpack(data[:PREFIX.size])
    header = json.loads(data[PREFIX.size:PREFIX.size + length])
    start = (PREFIX.size + length + 63) // 64 * 64
    return header, data[start:]


def write_parts(path, header, payload, header_bytes=None, crc=None, length=None, version=2):
    """A file with this header (checksummed unless told otherwise) over the same data region."""
    raw = json.dumps(header).encode() if header_bytes is None else header_bytes
    prefix = PREFIX.pack(b"L2HINDEX", version, zlib.crc32(raw) if crc is None else crc,
                         len(raw) if length is None else length)
    start = (len(prefix) + len(raw) + 63) // 64 * 64
    Path(path).write_bytes(prefix + raw + bytes(start - len(prefix) - len(raw)) + payload)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved")
    out = {}
    rng = np.random.default_rng(11)
    for name, index in INDEXES.items():
        index.save(folder / name)
        q = queries_for(index, rng)
        out[name] = (folder / name, q, answers(index, q))
    return out


# ---------------------------------------------------------------------------------------------- raw damage

@given(name=st.sampled_from(sorted(INDEXES)), flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True),
                                                                       st.integers(1, 255)), min_size=1, max_size=4),
       mmap=st.booleans())
def test_flipped_bytes_are_refused_or_harmless(saved, tmp_path, name, flips, mmap):
    path, queries, want = saved[name]
    data = bytearray(path.read_bytes())
    for where, xor in flips:
        data[int(where * len(data))] ^= xor
    damaged = tmp_path / "damaged"
    damaged.write_bytes(bytes(data))
    loaded = load_outcome(damaged, mmap=mmap)
    if loaded is not None:  # the flips fell in padding
        assert same(answers(loaded, queries), want)
    unchecked = load_outcome(damaged, mmap=mmap, verify=False)
    if unchecked is not None:  # no checksums: the structure still guards every search
        assert_self_consistent(unchecked)


def test_every_single_byte_flip_is_refused(tmp_path, rng):
    """Prefix, header, padding and arrays: with verify=True no byte of the file goes unchecked."""
    index = FlatIndex(20)
    index.add(structured(rng, 40, 20), rng.permutation(100)[:40])
    index.save(tmp_path / "small")
    data = (tmp_path / "small").read_bytes()
    for at in range(len(data)):
        damaged = bytearray(data)
        damaged[at] ^= 0x5A
        (tmp_path / "d").write_bytes(bytes(damaged))
        assert load_outcome(tmp_path / "d") is None, at


def test_truncated_or_extended_files_are_refused(saved, tmp_path):
    tried = 0
    for name, (path, _, _) in saved.items():
        data = path.read_bytes()
        header, payload = read_parts(path)
        data_start = len(data) - len(payload)
        cuts = {0, 1, 7, 8, 12, 16, 23, 24, 30, data_start - 1, data_start, len(data) - 1}
        for spec in header["arrays"].values():
            for at in (spec["offset"], spec["offset"] + 1, spec["offset"] + 63):
                cuts.add(data_start + at)
        for cut in sorted(c for c in cuts if 0 <= c < len(data)):
            (tmp_path / "t").write_bytes(data[:cut])
            assert load_outcome(tmp_path / "t") is None, (name, cut)
            tried += 1
        for extra in (b"\x00", bytes(64)):
            (tmp_path / "t").write_bytes(data + extra)
            assert load_outcome(tmp_path / "t") is None, name
            tried += 1
    assert tried > 100


# ---------------------------------------------------------------------------------------------- forged headers

EDITS = {
    "bits 31": lambda h: h["meta"].update(bits=31),
    "bits 65": lambda h: h["meta"].update(bits=65),
    "bits 0": lambda h: h["meta"].update(bits=0),
    "bits true": lambda h: h["meta"].update(bits=True),
    "bits string": lambda h: h["meta"].update(bits="32"),
    "bits huge": lambda h: h["meta"].update(bits=2**70),
    "ntotal 90000": lambda h: h["meta"].update(ntotal=90000),
    "ntotal -1": lambda h: h["meta"].update(ntotal=-1),
    "ntotal float": lambda h: h["meta"].update(ntotal=300.0),
    "ntotal 299": lambda h: h["meta"].update(ntotal=299),
    "kind unknown": lambda h: h["meta"].update(kind="nope"),
    "kind number": lambda h: h["meta"].update(kind=5),
    "kind other": lambda h: h["meta"].update(kind="flat" if h["meta"]["kind"] != "flat" else "hash"),
    "no kind": lambda h: h["meta"].pop("kind"),
    "meta list": lambda h: h.update(meta=[1, 2]),
    "arrays list": lambda h: h.update(arrays=[]),
    "no arrays": lambda h: h.update(arrays={}),
    "drop an array": lambda h: h["arrays"].pop(sorted(h["arrays"])[0]),
    "drop the last array": lambda h: h["arrays"].pop(sorted(h["arrays"])[-1]),
    "rename an array": lambda h: h["arrays"].update(zz=h["arrays"].pop(sorted(h["arrays"])[0])),
    "extra array": lambda h: h["arrays"].update(extra={**h["arrays"][sorted(h["arrays"])[0]]}),
    "dtype float": lambda h: next(iter(h["arrays"].values())).update(dtype="<f8"),
    "dtype big-endian": lambda h: next(iter(h["arrays"].values())).update(dtype=">i4"),
    "dtype object": lambda h: next(iter(h["arrays"].values())).update(dtype="|O"),
    "dtype swapped": lambda h: [s.update(dtype="<i4" if s["dtype"] != "<i4" else "<u4") for s in h["arrays"].values()],
    "shape nested": lambda h: next(iter(h["arrays"].values())).update(shape=[[1]]),
    "shape negative": lambda h: next(iter(h["arrays"].values())).update(shape=[-1]),
    "shape huge": lambda h: next(iter(h["arrays"].values())).update(shape=[10**20]),
    "shape flattened": lambda h: [s.update(shape=[int(np.prod(s["shape"]))]) for s in h["arrays"].values()],
    "shape 4-d": lambda h: next(iter(h["arrays"].values())).update(shape=[1, 1, 1, 1]),
    "offset misaligned": lambda h: next(iter(h["arrays"].values())).update(offset=3),
    "offset beyond": lambda h: next(iter(h["arrays"].values())).update(offset=2**40),
    "offsets overlap": lambda h: [s.update(offset=0) for s in h["arrays"].values()],
    "crc wrong": lambda h: next(iter(h["arrays"].values())).update(crc32=12345),
    "crc string": lambda h: next(iter(h["arrays"].values())).update(crc32="x"),
    "data_size": lambda h: h.update(data_size=h["data_size"] + 64),
    "no data_size": lambda h: h.pop("data_size"),
    "direct flipped": lambda h: h["meta"].update(direct=not h["meta"].get("direct", False)),
    "direct string": lambda h: h["meta"].update(direct="yes"),
    "m 0": lambda h: h["meta"].update(m=0),
    "m 100": lambda h: h["meta"].update(m=100),
    "m 2": lambda h: h["meta"].update(m=2),
    "members not a list": lambda h: h["meta"].update(members={"a": 1}),
    "members empty": lambda h: h["meta"].update(members=[]),
    "member kind union": lambda h: [m.update(kind="union") for m in h["meta"].get("members", [])],
    "member bits": lambda h: [m.update(bits=31) for m in h["meta"].get("members", [])],
    "header a list": lambda h: h.clear() or h.update(x=[]),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_forged_headers_are_refused_or_consistent(saved, tmp_path, edit):
    for name, (path, queries, want) in saved.items():
        header, payload = read_parts(path)
        try:
            EDITS[edit](header)
        except (KeyError, StopIteration):
            continue
        write_parts(tmp_path / "f", header, payload)
        for verify in (True, False):
            loaded = load_outcome(tmp_path / "f", verify=verify)
            if loaded is not None:
                assert_self_consistent(loaded)
                if edit == "crc wrong":  # only an unverified load can pass, and then nothing changed
                    assert not verify and same(answers(loaded, queries), want)


def test_prefix_damage_is_refused(saved, tmp_path):
    path, _, _ = saved["hash"]
    header, payload = read_parts(path)
    raw = json.dumps(header).encode()
    cases = {"huge header length": dict(length=2**62), "header length 0": dict(length=0),
             "header one byte short": dict(length=len(raw) - 1), "header crc": dict(crc=zlib.crc32(raw) ^ 1),
             "version 1": dict(version=1), "version 3": dict(version=3),
             "not json": dict(header_bytes=b"{" * 50), "deep json": dict(header_bytes=b"[" * 100000 + b"]" * 100000),
             "bad utf-8": dict(header_bytes=b"\xff\xfe" * 10)}
    for name, kwargs in cases.items():
        write_parts(tmp_path / "p", header, payload, **kwargs)
        with pytest.raises(L2HError):
            BinaryIndex.load(tmp_path / "p")
    (tmp_path / "junk").write_bytes(b"\x00" * 100)
    with pytest.raises(L2HError, match="not an l2h index"):
        BinaryIndex.load(tmp_path / "junk")
    with pytest.raises(L2HError, match="does not exist"):
        BinaryIndex.load(tmp_path / "missing")


# ---------------------------------------------------------------------------------------------- forged arrays

def forge(index, rng, edits: int):
    """The index's saved fields and arrays with some array elements replaced (checksums stay valid)."""
    meta, arrays = index._full_state()
    arrays = {k: np.array(v) for k, v in arrays.items()}
    names = sorted(k for k, v in arrays.items() if v.size)
    for _ in range(edits):
        name = names[rng.integers(len(names))]
        flat = arrays[name].reshape(-1)
        at = rng.integers(flat.size)
        n = max(int(meta["ntotal"]), 1)
        choices = [-1, 0, 1, n - 1, n, n + 1, 2**31 - 1, int(flat[rng.integers(flat.size)]),
                   int(flat[at]) + 1, int(flat[at]) - 1]
        value = choices[rng.integers(len(choices))]
        info = np.iinfo(flat.dtype) if flat.dtype.kind in "iu" else None
        if info is not None:
            flat[at] = np.array(value).astype(np.int64).clip(info.min, info.max).astype(flat.dtype) \
                if flat.dtype != np.uint64 else np.uint64(value % 2**64)
        else:
            flat[at] = bool(value % 2)
    return meta, arrays


@given(name=st.sampled_from(sorted(INDEXES)), seed=st.integers(0, 2**32 - 1), edits=st.integers(1, 3))
def test_forged_arrays_are_refused_or_consistent(tmp_path, name, seed, edits):
    meta, arrays = forge(INDEXES[name], np.random.default_rng(seed), edits)
    storage.write(tmp_path / "forged", meta, arrays)
    loaded = load_outcome(tmp_path / "forged")
    if loaded is not None:
        assert_self_consistent(loaded)


def test_structural_checks_catch_the_classic_forgeries(tmp_path):
    """Each structural rule refuses the forgery it is there for (checksums valid throughout)."""
    cases = {
        "hash": [("brows", lambda a: a.__setitem__((0, 0), a[0, 1])),            # a row twice
                 ("brows", lambda a: a.__setitem__((0, 0), 300)),                 # a row out of range
                 ("bstart", lambda a: a.__setitem__((0, -1), 299)),               # last offset != rows
                 ("bstart", lambda a: a.__setitem__((0, 1), a[0, 2] + 1)),        # offsets decrease
                 ("bkey", lambda a: a.__setitem__((0, 1), a[0, 0])),              # a key in two buckets
                 ("ids", lambda a: a.__setitem__(0, -5))],                        # a negative id
        "hash_direct": [("bstart", lambda a: a.__setitem__((0, 5), -1))],
        "mih": [("words", lambda a: a.__setitem__((0, 0), a[0, 0] ^ np.uint64(1))),  # a row under another key
                ("bkey", lambda a: a.__setitem__((1, 0), np.uint64(2**22)))],        # a key beyond its 22 bits
        "mih_direct": [("words", lambda a: a.__setitem__((3, 0), a[3, 0] ^ np.uint64(1 << 60)))],
        "flat": [("words", lambda a: a.__setitem__((0, 0), np.uint32(1 << 20)))],     # a bit beyond 20 bits
    }
    for name, edits in cases.items():
        for array, edit in edits:
            meta, arrays = INDEXES[name]._full_state()
            arrays = {k: np.array(v) for k, v in arrays.items()}
            edit(arrays[array])
            storage.write(tmp_path / "c", meta, arrays)
            with pytest.raises(L2HError, match="damaged or is not an index"):
                BinaryIndex.load(tmp_path / "c")


# ---------------------------------------------------------------------------------------------- the campaign

def campaign(trials: int, seed: int, folder: Path) -> dict[str, int]:
    """Random raw damage and forged arrays over every sample index; returns how each load ended."""
    rng = np.random.default_rng(seed)
    ended = {"refused": 0, "unchanged": 0, "consistent": 0}
    names = sorted(INDEXES)
    for name in names:
        INDEXES[name].save(folder / name)
    for trial in range(trials):
        name = names[trial % len(names)]
        index = INDEXES[name]
        target = folder / "case"
        if trial % 2:
            data = bytearray((folder / name).read_bytes())
            for _ in range(rng.integers(1, 5)):
                data[rng.integers(len(data))] ^= int(rng.integers(1, 256))
            target.write_bytes(bytes(data))
            verify = bool(rng.integers(2))
        else:
            meta, arrays = forge(index, rng, int(rng.integers(1, 4)))
            storage.write(target, meta, arrays)
            verify = True
        loaded = load_outcome(target, mmap=bool(rng.integers(2)), verify=verify)
        if loaded is None:
            ended["refused"] += 1
            continue
        q = queries_for(index, np.random.default_rng(0))
        if same(answers(loaded, q), answers(index, q)):
            ended["unchanged"] += 1
        else:
            assert_self_consistent(loaded)
            ended["consistent"] += 1
    return ended


def test_fuzz_campaign_in_a_subprocess(tmp_path):
    """Loads of damaged files in a child process, so that a crash (a segfault, a bus error) is reported as this
    test failing with the signal, not as the end of the test run."""
    run = subprocess.run([sys.executable, __file__, "300", "5", str(tmp_path)], capture_output=True, text=True,
                         timeout=600, cwd=ROOT)
    assert run.returncode == 0, f"the campaign ended with {run.returncode}:\n{run.stdout[-2000:]}{run.stderr[-4000:]}"
    ended = json.loads(run.stdout.strip().splitlines()[-1])
    assert sum(ended.values()) == 300 and ended["refused"] > 100


if __name__ == "__main__":
    import tempfile

    folder = Path(sys.argv[3]) if len(sys.argv) > 3 else Path(tempfile.mkdtemp())
    print(json.dumps(campaign(int(sys.argv[1]), int(sys.argv[2]), folder)))
