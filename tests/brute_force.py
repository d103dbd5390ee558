"""Slow, obvious references that the tests compare the library with: plain loops and full sorts, no shared code
with l2h beyond numpy."""

import numpy as np


def hamming_map(query_codes, database_codes, relevant) -> float:
    """Mean average precision of Hamming ranking over packed codes, ties broken by database id; ``relevant`` is
    a (queries, database) boolean matrix. Queries with nothing relevant are left out."""
    q_bits = np.unpackbits(query_codes, axis=1)
    db_bits = np.unpackbits(database_codes, axis=1)
    aps = []
    for i in range(len(q_bits)):
        distances = (q_bits[i] != db_bits).sum(1)
        order = sorted(range(len(db_bits)), key=lambda j: (distances[j], j))
        hits, precisions = 0, []
        for rank, j in enumerate(order, start=1):
            if relevant[i, j]:
                hits += 1
                precisions.append(hits / rank)
        if precisions:
            aps.append(sum(precisions) / len(precisions))
    return float(np.mean(aps))


def validation_map(codes, labels) -> float:
    """The validation mAP model selection uses: the even-numbered validation items are the queries, searched
    against the odd-numbered ones, so no item is ever ranked against itself; same class is relevant."""
    labels = np.asarray(labels)
    return hamming_map(codes[0::2], codes[1::2], labels[0::2, None] == labels[None, 1::2])


def nearest(queries, database, k, metric="euclidean"):
    """Each query's k nearest database rows by a full sort of float64 distances, ties by row."""
    q, db = np.asarray(queries, np.float64), np.asarray(database, np.float64)
    if metric == "cosine":
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        db = db / np.linalg.norm(db, axis=1, keepdims=True)
        distances = 1 - q @ db.T
    else:
        distances = ((q[:, None, :] - db[None, :, :]) ** 2).sum(-1)
    return np.array([sorted(range(len(db)), key=lambda j: (row[j], j))[:k] for row in distances])
