"""benchmarks/peers.py in its --tiny mode: every engine's row, the exact ones agreeing with brute force, the
approximate ones with a recall, the ratios to l2h's auto index; a peer that is not installed is skipped and named.
The workload generators are checked for what they promise (near duplicates are near)."""

import builtins

import numpy as np

from benchmarks import peers
from l2h import codes

SMALL = ["--tiny", "--bits", "64", "--data", "neardup", "--threads", "1"]


def test_tiny_run_checks_every_exact_engine_against_brute_force(capsys):
    rows = peers.main(SMALL)
    printed = capsys.readouterr().out
    names = [row["engine"] for row in rows]
    assert {"l2h auto", "l2h FlatIndex"} <= set(names)
    for row in rows:
        assert "note" not in row, row
        assert row["knn 1t"] > 0
        if row["exact"]:
            assert row["checked"] is True, row
        else:
            assert 0 <= row["recall"] <= 1
    assert "| 64 | neardup | l2h auto | yes | " in printed and "(1.00)" in printed
    assert "l2h auto, 64 bits neardup: HashIndex: k-NN (k=10)" in printed


def test_a_missing_peer_is_skipped_and_named(monkeypatch, capsys):
    real_import = builtins.__import__

    def no_usearch(name, *args, **kwargs):
        if name.startswith("usearch") or name.startswith("pynear"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_usearch)
    rows = peers.main(SMALL)
    assert not any(row["engine"].startswith(("usearch", "pynear")) for row in rows)
    assert "not installed, skipped: pynear, usearch" in capsys.readouterr().out


def test_a_wrong_engine_fails_the_check(monkeypatch):
    """An exact engine that answers wrongly is caught: FlatIndex's k-NN with its distances off by one."""
    real = peers.l2h_engines

    def broken(bits):
        made = real(bits)
        flat = next(e for e in made if e.name == "l2h FlatIndex")
        search = flat.knn
        flat.knn = lambda ix, q, k: (lambda D, I: (D + 1, I))(*search(ix, q, k))
        return made

    monkeypatch.setattr(peers, "l2h_engines", broken)
    monkeypatch.setattr(peers, "faiss_engines", lambda bits, nlist: [])
    monkeypatch.setattr(peers, "pynear_engines", lambda bits, nlist: [])
    monkeypatch.setattr(peers, "usearch_engines", lambda bits: [])
    rows = {row["engine"]: row for row in peers.main(SMALL)}
    assert rows["l2h FlatIndex"]["checked"] is False and rows["l2h auto"]["checked"] is True


def test_near_duplicates_are_near_and_recall_counts_ties():
    db, queries = peers.make_codes("neardup", 1000, 30, 128)
    nearest = np.sort(codes.hamming_matrix(queries, db), axis=1)
    assert (nearest[:, 9] <= 16).all() and (nearest[:, 10] > 30).all()  # ten near duplicates per group, then far
    true_D = np.array([[1, 2, 2]])
    assert peers.recall(np.array([[1, 2, 5]]), np.array([[4, 7, 9]]), true_D) == 2 / 3
    assert peers.recall(np.array([[2, 2, 1]]), np.array([[4, 8, 9]]), true_D) == 1.0  # other items at a tied distance
    assert peers.recall(np.array([[1, 2, 2]]), np.array([[4, -1, 9]]), true_D) == 2 / 3  # -1: nothing found
