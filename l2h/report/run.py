"""What one run reports: the printed table and the plots of precision, time and candidates by radius."""

from __future__ import annotations

import io
import math


def _fmt(value: float | None, digits: int = 3) -> str:
    return "nan" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def precision_key(metrics: dict) -> str:
    """The radius sweep's precision key: ``precision_at_<k>`` (``precision_at_10`` by default)."""
    return f"precision_at_{metrics.get('eval', {}).get('k', 10)}"


def table(metrics: dict) -> str:
    """A plain-text table of the radius sweep with a one-line summary."""
    seconds = metrics.get("train_seconds")
    trained = (f"trained in {seconds:.2f} s" if metrics.get("evaluated_from") is None
               else f"evaluated from a checkpoint (trained in {_fmt(seconds, 2)} s)")
    head = (f"{metrics['model']} | {metrics['bits']} bits | {metrics['dataset']} ({metrics['protocol']}) | "
            f"seed {metrics['seed']} | {metrics['n_query']} queries, {metrics['n_train']} train, "
            f"{metrics['n_database']} database | {trained} | mAP {_fmt(metrics['map'], 4)}")
    key = precision_key(metrics)
    label = key.replace("precision_at_", "P@")
    rows = [f"{'radius':>6} {label:>7} {'candidates':>11} {'query ms':>9} {'empty':>7}"]
    for r in metrics["radius"]:
        rows.append(f"{r['radius']:>6} {_fmt(r[key]):>7} {r['mean_candidates']:>11.1f} "
                    f"{r['mean_query_ms']:>9.4f} {r['empty_fraction']:>7.3f}")
    notes = [f"note: {w}" for w in metrics.get("warnings", [])]
    return "\n".join([head, *rows, *notes])


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def radius_plot(metrics: dict) -> bytes:
    """Precision@k, query time and candidates against Hamming radius, side by side (PNG bytes)."""
    plt = _pyplot()
    radii = [r["radius"] for r in metrics["radius"]]
    key = precision_key(metrics)
    panels = [(key, key.replace("precision_at_", "precision@")), ("mean_query_ms", "mean query time (ms)"),
              ("mean_candidates", "mean candidates")]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, (field, label) in zip(axes, panels):
        values = [r[field] for r in metrics["radius"]]
        ax.plot(radii, values, marker="o")
        ax.set_xlabel("Hamming radius")
        ax.set_ylabel(label)
        ax.set_xticks(radii)
        ax.grid(alpha=0.3)
    axes[0].set_ylim(0, 1)
    if any(r["mean_candidates"] > 0 for r in metrics["radius"]):
        axes[2].set_yscale("log")
    fig.suptitle(f"{metrics['model']}, {metrics['bits']} bits, {metrics['dataset']} ({metrics['protocol']}), "
                 f"mAP {_fmt(metrics['map'], 4)}")
    fig.tight_layout()
    return _png(fig)


def pr_plot(metrics: dict) -> bytes | None:
    """Precision against recall of hash lookup within each Hamming radius; None when the run has no ranking."""
    ball = metrics.get("ranking", {}).get("hamming_ball")
    if not ball:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot([b["recall"] for b in ball], [b["precision"] for b in ball], marker=".")
    for b in ball[:6]:  # the first radii, where a hash table is used; further out the points crowd together
        ax.annotate(f"r={b['radius']}", (b["recall"], b["precision"]), fontsize=7, xytext=(4, 4),
                    textcoords="offset points")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"{metrics['model']}, {metrics['bits']} bits: Hamming-ball precision-recall", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)
