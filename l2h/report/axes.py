"""Axis rules the run and summary plots share: a log scale only where values span more than a decade, value axes
that start at 0, whole-number radius ticks, error bars clipped to a metric's range, models side by side at the
same x, and point labels that do not pile up."""

from __future__ import annotations

import math

import numpy as np


def _finite(values) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def value_scale(values) -> str:
    """``log`` where the positive values span more than a decade, ``symlog`` when zeros sit among such values (a
    log scale would drop them), else ``linear``: 154 to 157 candidates read best as the near-flat line they are."""
    finite = _finite(values)
    positive = [v for v in finite if v > 0]
    if len(positive) < 2 or max(positive) <= 10 * min(positive):
        return "linear"
    return "symlog" if len(positive) < len(finite) else "log"


def set_value_axis(ax, values, tops=()) -> str:
    """Scale the y axis for non-negative values (counts, times) by :func:`value_scale` of the values themselves;
    a linear axis starts at 0 and reaches the highest of the values and ``tops`` (error bars' upper ends)."""
    finite = _finite(values)
    scale = value_scale(finite)
    if scale == "symlog":
        ax.set_yscale("symlog", linthresh=min(v for v in finite if v > 0))
        ax.set_ylim(bottom=0)
    elif scale == "log":
        ax.set_yscale("log")
    else:
        highest = max(finite + _finite(tops), default=0)
        ax.set_ylim(0, 1.08 * highest if highest > 0 else 1)
    return scale


def integer_ticks(ax, axis: str = "x") -> None:
    """Ticks at whole numbers only (radii, seeds): no tick at radius 0.5."""
    from matplotlib.ticker import MaxNLocator

    (ax.xaxis if axis == "x" else ax.yaxis).set_major_locator(MaxNLocator(integer=True))


def clipped_errors(means, halves, low: float = 0.0, high: float = math.inf) -> np.ndarray:
    """Error-bar lengths below and above each mean (matplotlib's ``yerr`` of shape (2, n)) for the interval
    ``mean ± half`` clipped to the metric's range [low, high]: a precision's interval never goes below 0."""
    means, halves = np.asarray(means, dtype=float), np.nan_to_num(np.asarray(halves, dtype=float))
    return np.vstack([means - np.maximum(means - halves, low), np.minimum(means + halves, high) - means])


def dodge(position: int, count: int, spread: float = 0.4) -> float:
    """The x offset of series ``position`` of ``count`` drawn at the same x values, so their bars stand apart."""
    step = min(0.1, spread / max(count, 1))
    return (position - (count - 1) / 2) * step


def spaced(points, min_gap: float) -> list[int]:
    """Indices of the points to label, in order: each at least ``min_gap`` (in the points' units) from every
    point already labelled, so that labels never pile up where the points crowd."""
    chosen: list[int] = []
    for i, (x, y) in enumerate(points):
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        if all(math.hypot(x - points[j][0], y - points[j][1]) >= min_gap for j in chosen):
            chosen.append(i)
    return chosen
