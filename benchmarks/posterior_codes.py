"""Where the class-posterior ceiling's lead over hash codes comes from (CIFAR-10 GIST-512, standard protocol).

    python benchmarks/posterior_codes.py --cifar ../shared/data/cifar10_gist512.mat --bits 32 --seeds 0 1 2

Fits the classifier baseline (``model=classifier``, on the split and preprocessing of a train.py run, as
quality.py does) and scores, by exact mAP with ties broken by database id:

- the ceiling: the database ranked by ``<p(query), p(item)>``, the inner product of class posteriors;
- the database ranked by its posterior of the query's predicted class alone;
- three codes made straight from those posteriors and ranked by Hamming distance: the predicted class's
  Hadamard codeword (the classifier baseline), random hyperplanes through the centred posteriors (LSH), and a
  thermometer code (each class's posterior against thresholds at quantiles of the training items' posteriors;
  bits shared out among the classes), whose quantile range is the best of a sweep on the test queries, so its
  figure flatters it.

If codes built from the ceiling's own posteriors fall as far below it as the learned hashes do, the gap is the
price of ranking these posteriors by Hamming distance, not a failure of any loss's training."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import fitted_classifier  # noqa: E402

from l2h.codes import pack  # noqa: E402
from l2h.eval.metrics import average_precision, ranking_metrics  # noqa: E402
from l2h.eval.relevance import from_labels  # noqa: E402
from l2h.losses.codebooks import class_codes  # noqa: E402

THERMOMETER_FROM = (0.5, 0.6, 0.7, 0.8, 0.9)  # lowest quantile of each class's thresholds, swept


def posteriors(model, x: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate([model.posteriors(torch.from_numpy(np.ascontiguousarray(x[s:s + batch_size],
                                                                                      dtype=np.float32))).numpy()
                               for s in range(0, len(x), batch_size)])


def ranking_map(scores_of, query_labels: np.ndarray, database_labels: np.ndarray, rows: int = 64) -> float:
    """Exact mAP of ranking the database by ``scores_of(query rows)`` (higher first, ties by database id)."""
    ap = []
    for start in range(0, len(query_labels), rows):
        picked = np.arange(start, min(start + rows, len(query_labels)))
        order = np.argsort(-scores_of(picked), axis=1, kind="stable")
        hits = query_labels[picked, None] == database_labels[order]
        ap.append(average_precision(hits))
    return float(np.concatenate(ap).mean())


def hamming_map(query_bits: np.ndarray, database_bits: np.ndarray, relevance) -> float:
    return ranking_metrics(pack(query_bits), pack(database_bits), relevance, query_bits.shape[1]).summary()["map"]


def thermometer(p: np.ndarray, thresholds: list[np.ndarray]) -> np.ndarray:
    """One bit per (class, threshold): the class's posterior is above it. Hamming distance between two such
    codes counts the thresholds that lie between their posteriors, class by class."""
    return np.concatenate([p[:, c:c + 1] > t[None, :] for c, t in enumerate(thresholds)], axis=1)


def measure(data_args: list[str], bits: int, seed: int, extra: list[str] = ()) -> dict:
    """Every row's figure for one seed; ``data_args`` and ``extra`` are train.py overrides."""
    model, query_x, database_x, query_labels, database_labels, train_x = fitted_classifier(data_args, bits, seed,
                                                                                           list(extra))
    pq, pd, pt = posteriors(model, query_x), posteriors(model, database_x), posteriors(model, train_x)
    classes = pq.shape[1]
    relevance = from_labels(query_labels, database_labels)
    predicted = pq.argmax(1)
    codewords = class_codes(classes, bits, "hadamard").numpy() > 0
    planes = np.random.default_rng(seed).standard_normal((classes, bits))
    share = [bits // classes + (c < bits % classes) for c in range(classes)]
    thermometers = {}
    for low in THERMOMETER_FROM:
        thresholds = [np.quantile(pt[:, c], np.linspace(low, 1, n + 2)[1:-1]) for c, n in enumerate(share)]
        thermometers[low] = hamming_map(thermometer(pq, thresholds), thermometer(pd, thresholds), relevance)
    best = max(thermometers, key=thermometers.get)
    return {
        "accuracy": float((predicted == query_labels).mean()),
        "ceiling": ranking_map(lambda q: pq[q] @ pd.T, query_labels, database_labels),
        "top_class": ranking_map(lambda q: pd[:, predicted[q]].T, query_labels, database_labels),
        "codeword": hamming_map(codewords[predicted], codewords[pd.argmax(1)], relevance),
        "lsh": hamming_map((pq - 1 / classes) @ planes > 0, (pd - 1 / classes) @ planes > 0, relevance),
        "thermometer": thermometers[best], "thermometer_from": best,
    }


ROWS = [("accuracy", "classifier accuracy on the queries"),
        ("ceiling", "ceiling: <p(query), p(item)> (not a hash)"),
        ("top_class", "p(item)[query's predicted class] (not a hash)"),
        ("codeword", "code: predicted class's Hadamard codeword (the classifier baseline)"),
        ("lsh", "code: random hyperplanes through p - 1/C (LSH)"),
        ("thermometer", "code: thermometer of each class's posterior (quantile range chosen on the test queries)")]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="benchmarks/posterior_codes.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cifar", required=True, help="CIFAR-10 GIST-512 .mat")
    parser.add_argument("--bits", type=int, default=32)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    data = ["data=cifar10_gist", f"data.path={args.cifar}", "protocol=standard"]
    found = [measure(data, args.bits, s) for s in args.seeds]
    print(f"CIFAR-10 GIST-512, standard protocol, {args.bits} bits, mAP (mean ± std over seeds {args.seeds}); "
          f"thermometer quantile ranges from {[f['thermometer_from'] for f in found]}")
    print("\n| ranking | value |\n|---|---|")
    for key, label in ROWS:
        values = np.array([f[key] for f in found])
        print(f"| {label} | {values.mean():.4f} ± {values.std():.4f} |")


if __name__ == "__main__":
    main()
