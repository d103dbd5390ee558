"""What a run leaves behind: ``metrics.json``, a printed table and a plot of precision and time by radius."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path


def write_json(path: Path, payload: dict) -> None:
    """Atomic JSON write: a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(payload, f, indent=2, allow_nan=True)
        f.write("\n")
    os.replace(tmp, path)


def _fmt(value: float, digits: int = 3) -> str:
    return "nan" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def table(metrics: dict) -> str:
    """A plain-text table of the radius sweep with a one-line summary."""
    head = (f"{metrics['model']} | {metrics['bits']} bits | {metrics['dataset']} ({metrics['protocol']}) | "
            f"seed {metrics['seed']} | {metrics['n_query']} queries, {metrics['n_train']} train, "
            f"{metrics['n_database']} database | trained in {metrics['train_seconds']:.2f} s | "
            f"mAP {_fmt(metrics['map'], 4)}")
    rows = [f"{'radius':>6} {'P@10':>7} {'candidates':>11} {'query ms':>9} {'empty':>7}"]
    for r in metrics["radius"]:
        rows.append(f"{r['radius']:>6} {_fmt(r['precision_at_10']):>7} {r['mean_candidates']:>11.1f} "
                    f"{r['mean_query_ms']:>9.4f} {r['empty_fraction']:>7.3f}")
    return "\n".join([head, *rows])


def plot(metrics: dict, path: Path) -> None:
    """Precision@10, query time and candidates against Hamming radius, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    radii = [r["radius"] for r in metrics["radius"]]
    panels = [("precision_at_10", "precision@10"), ("mean_query_ms", "mean query time (ms)"),
              ("mean_candidates", "mean candidates")]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, (key, label) in zip(axes, panels):
        ax.plot(radii, [r[key] for r in metrics["radius"]], marker="o")
        ax.set_xlabel("Hamming radius")
        ax.set_ylabel(label)
        ax.set_xticks(radii)
        ax.grid(alpha=0.3)
    axes[2].set_yscale("log")
    fig.suptitle(f"{metrics['model']}, {metrics['bits']} bits, {metrics['dataset']} ({metrics['protocol']}), "
                 f"mAP {_fmt(metrics['map'], 4)}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_pr(metrics: dict, path: Path) -> bool:
    """Precision against recall of hash lookup within each Hamming radius; False when the run has no ranking."""
    ball = metrics.get("ranking", {}).get("hamming_ball")
    if not ball:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot([b["recall"] for b in ball], [b["precision"] for b in ball], marker=".")
    for b in ball[:6]:
        ax.annotate(f"r={b['radius']}", (b["recall"], b["precision"]), fontsize=7)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"{metrics['model']}, {metrics['bits']} bits: Hamming-ball precision-recall", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
