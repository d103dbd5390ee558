"""benchmarks/tables.py --tiny on synthetic blobs: more tables find a superset of one table's candidates, and a
reported precision@10 is what brute force over the checkpoint's own tables gives."""

import json

import numpy as np
import pytest

from benchmarks import tables as bench
from l2h import checkpoint, codes
from l2h.model import HashModel


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("tables")
    return out, bench.main(["--tiny", "--out", str(out)])


def brute_force_precision(row, data_file):
    """P@10 of one (L, r) point: the items within r of the query in some table (each table's codes from its own
    encoder), the 10 most cosine-similar of them (ties by database row), queries with none left out."""
    model, _ = checkpoint.load(row["checkpoint"])
    members = model.encoder.members if model.tables > 1 else [model.encoder]
    saved = np.load(f"{row['evaluation']}/codes.npz")
    raw = np.load(data_file)["X"]
    q = model.preprocess.transform(raw[saved["query_rows"]])
    db = model.preprocess.transform(raw[saved["database_rows"]])
    dist = np.min([codes.hamming_matrix(HashModel(model.preprocess, m).encode(q, preprocessed=True),
                                        HashModel(model.preprocess, m).encode(db, preprocessed=True))
                   for m in members], axis=0)
    q, db = q / np.linalg.norm(q, axis=1, keepdims=True), db / np.linalg.norm(db, axis=1, keepdims=True)
    scores = []
    for i in range(len(q)):
        inside = np.flatnonzero(dist[i] <= row["radius"])
        if inside.size == 0:
            continue
        similarity = db[inside] @ q[i]
        top = inside[np.lexsort((inside, -similarity))[:10]]
        scores.append((saved["database_labels"][top] == saved["query_labels"][i]).sum() / 10)
    return float(np.mean(scores))


@pytest.mark.slow  # ten pipeline runs: about 40 s on two busy cores
def test_more_tables_find_more_and_precision_is_brute_force(tiny):
    out, rows = tiny
    by = {(r["model"], r["tables"], r["radius"]): r for r in rows}
    assert {r["tables"] for r in rows} == set(bench.TABLES) and json.loads((out / "tables.json").read_text())["rows"]
    for (model, count, radius), row in by.items():
        if count > 1:  # the first tables of a run are the run with fewer: a union of more balls
            fewer = by[(model, bench.TABLES[bench.TABLES.index(count) - 1], radius)]
            assert row["candidates"] >= fewer["candidates"] and row["index_mib"] > fewer["index_mib"]
        if radius:
            assert row["candidates"] >= by[(model, count, radius - 1)]["candidates"]
    assert by[("lsh", 8, 0)]["candidates"] > by[("lsh", 1, 0)]["candidates"]
    data_file = out / "blobs.npz"
    for key in (("lsh", 2, 1), ("grh_tutorial", 4, 0), ("lsh", 1, 2)):
        assert by[key]["precision_at_10"] == pytest.approx(brute_force_precision(by[key], data_file)), key
    assert (out / "tables.png").read_bytes()[:4] == b"\x89PNG"
