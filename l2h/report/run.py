"""What one run reports: the printed table and the plots of precision, time and candidates by radius."""

from __future__ import annotations

import io
import math

from l2h.report.axes import integer_ticks, set_value_axis, spaced


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


def radius_figure(metrics: dict):
    """Precision@k, query time and candidates against Hamming radius, side by side."""
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
        if field == key:
            ax.set_ylim(0, 1.02)
            if all(math.isnan(v) for v in values):  # the reason is in metrics.json's warnings
                ax.text(0.5, 0.5, "no query has a candidate\nwithin these radii", ha="center", va="center",
                        transform=ax.transAxes, fontsize=9)
        else:
            set_value_axis(ax, values)
    fig.suptitle(f"{metrics['model']}, {metrics['bits']} bits, {metrics['dataset']} ({metrics['protocol']}), "
                 f"mAP {_fmt(metrics['map'], 4)}")
    fig.tight_layout()
    return fig


def radius_plot(metrics: dict) -> bytes:
    """:func:`radius_figure` as PNG bytes."""
    return _png(radius_figure(metrics))


def pr_figure(metrics: dict):
    """Precision against recall of hash lookup within each Hamming radius, and the fraction of queries whose ball
    is empty by radius (their precision follows ``eval.empty_policy``); None when the run has no ranking."""
    ball = metrics.get("ranking", {}).get("hamming_ball")
    if not ball:
        return None
    plt = _pyplot()
    fig, (ax, empty_ax) = plt.subplots(1, 2, figsize=(9.5, 4), gridspec_kw={"width_ratios": [1.2, 1]})
    points = [(b["recall"], b["precision"]) for b in ball]
    dots = "." if len(points) <= 65 else None  # a long code's hundreds of radii: a line, not a smear of dots
    ax.plot(*zip(*points), marker=dots)
    for i in spaced(points, min_gap=0.1):  # both axes span 0..1: labels a tenth of the plot apart
        ax.annotate(f"r={ball[i]['radius']}", points[i], fontsize=7, xytext=(4, 4), textcoords="offset points")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("Hamming-ball precision-recall", fontsize=9)
    ax.grid(alpha=0.3)

    # up to the first radius where no ball is empty (at least the sweep's radii), where the fraction stays 0
    last = next((b["radius"] for b in ball if b["empty_fraction"] == 0), ball[-1]["radius"])
    shown = [b for b in ball if b["radius"] <= max(last, len(metrics.get("radius", [])) - 1)]
    empty_ax.plot([b["radius"] for b in shown], [b["empty_fraction"] for b in shown], marker=dots, color="tab:red")
    empty_ax.set_ylim(0, 1.02)
    empty_ax.set_xlabel("Hamming radius")
    empty_ax.set_ylabel("fraction of queries with an empty ball")
    empty_ax.set_title(f"empty balls (eval.empty_policy={metrics.get('eval', {}).get('empty_policy', 'skip')})",
                       fontsize=9)
    integer_ticks(empty_ax)
    empty_ax.grid(alpha=0.3)
    fig.suptitle(f"{metrics['model']}, {metrics['bits']} bits, {metrics['dataset']}", fontsize=10)
    fig.tight_layout()
    return fig


def pr_plot(metrics: dict) -> bytes | None:
    """:func:`pr_figure` as PNG bytes; None when the run has no ranking."""
    fig = pr_figure(metrics)
    return None if fig is None else _png(fig)
