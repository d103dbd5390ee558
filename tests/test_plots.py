"""The plots' logic, read back from the figures (no pixel comparison): a log scale only where values span more
than a decade, whole-number radius ticks, intervals clipped to the metric's range, models side by side, labels
that do not pile up and are there, the empty-ball fraction shown, and the Wilcoxon caveat with few seeds."""

import math

import matplotlib
import numpy as np
import pytest
from scipy import stats

from l2h.report import summary
from l2h.report.run import pr_figure, radius_figure

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def run_metrics(candidates, times, precision=None, model="grh_mlp", seed=0, ball=None, mAP=0.4):
    precision = precision or [0.5] * len(candidates)
    return {"model": model, "bits": 32, "dataset": "cifar10_gist", "protocol": "standard", "seed": seed, "map": mAP,
            "train_seconds": 1.0, "eval": {"k": 10, "empty_policy": "skip"},
            "radius": [{"radius": r, "precision_at_10": p, "mean_candidates": c, "mean_query_ms": t,
                        "empty_fraction": 0.0, "mean_buckets_probed": 1.0}
                       for r, (c, t, p) in enumerate(zip(candidates, times, precision))],
            "ranking": {"hamming_ball": ball or []}}


def pixel_gap(ax, a, b):
    """Vertical distance in pixels between values a and b on the axis."""
    return abs(ax.transData.transform((0, a))[1] - ax.transData.transform((0, b))[1])


def texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_a_narrow_range_is_drawn_linear_from_zero_and_a_wide_one_apart():
    narrow = radius_figure(run_metrics([154.2, 155.0, 155.8, 156.4, 157.0], [0.112, 0.114, 0.116, 0.117, 0.119]))
    for ax, values in zip(narrow.axes[1:], ([0.112, 0.119], [154.2, 157.0])):
        assert ax.get_yscale() == "linear" and ax.get_ylim()[0] == 0 and ax.get_ylim()[1] >= values[1]
        # 154 against 157 on an axis from 0: a small step, not a cliff filling the panel
        assert pixel_gap(ax, *values) < 0.1 * pixel_gap(ax, *ax.get_ylim())
    wide = radius_figure(run_metrics([0.05, 0.3, 3.0, 10.0, 40.0], [0.0002, 0.003, 0.02, 0.1, 0.9]))
    for ax, (small, smaller) in zip(wide.axes[1:], ([0.003, 0.0002], [0.3, 0.05])):
        assert ax.get_yscale() == "log"
        assert pixel_gap(ax, small, smaller) > 20  # the small values stay apart, not squashed onto the axis
    with_zeros = radius_figure(run_metrics([0.0, 0.0, 3.0, 10.0, 40.0], [0.01] * 5))
    candidates = with_zeros.axes[2]
    assert candidates.get_yscale() == "symlog" and candidates.get_ylim()[0] == 0  # zeros stay on the plot
    assert pixel_gap(candidates, 0.0, 3.0) > 20


def test_radius_ticks_are_whole_numbers():
    fig = radius_figure(run_metrics([1, 2, 3, 4, 5, 6, 7], [0.1] * 7))
    for ax in fig.axes:
        assert [t for t in ax.get_xticks()] == list(range(7))
    rows = summary.summarise([run_metrics([1, 5, 20], [0.1, 0.2, 0.3], seed=s) for s in range(3)])
    figures = summary.figures(rows)
    for name in summary.FIGURES[:3]:
        ax = figures[name].axes[0]
        low, high = ax.get_xlim()
        shown = [t for t in ax.get_xticks() if low <= t <= high]
        assert shown == [0, 1, 2]


def test_an_empty_precision_panel_says_why():
    fig = radius_figure(run_metrics([0, 0, 0], [0.01] * 3, precision=[math.nan] * 3))
    assert any("no query has a candidate" in t for t in texts(fig))


def crowded_ball(bits=64):
    """Most radii crowd into the corner of high recall and low precision, as long codes do."""
    recall = 1 - np.exp(-np.arange(bits + 1) / 4)
    return [{"radius": r, "recall": float(recall[r]), "precision": float(0.1 + 0.8 * (1 - recall[r])),
             "empty_fraction": float(max(0.0, 0.6 - 0.15 * r)), "mean_candidates": 0.0} for r in range(bits + 1)]


def test_pr_labels_stand_apart_and_the_empty_fraction_is_shown():
    ball = crowded_ball()
    fig = pr_figure(run_metrics([1, 2, 3, 4, 5], [0.1] * 5, ball=ball))
    pr_ax, empty_ax = fig.axes
    labelled = [(t.xy, t.get_text()) for t in pr_ax.texts]
    assert labelled[0][1] == "r=0" and len(labelled) >= 4
    for (a, _), (b, _) in zip(labelled, labelled[1:]):
        assert math.dist(a, b) >= 0.1
    for (x, y), text in labelled:  # each label sits on its radius's point
        r = int(text[2:])
        assert (x, y) == (ball[r]["recall"], ball[r]["precision"])
    [line] = empty_ax.get_lines()
    radii, fractions = line.get_data()
    first_zero = next(b["radius"] for b in ball if b["empty_fraction"] == 0)
    assert list(radii) == list(range(first_zero + 1))
    assert list(fractions) == [b["empty_fraction"] for b in ball[:first_zero + 1]]
    assert "empty_policy=skip" in empty_ax.get_title()


def errorbar_ends(ax):
    """(x, lower end, upper end) of every error bar drawn on the axes."""
    ends = []
    for container in ax.containers:
        for segment in container.lines[2][0].get_segments():
            ends.append((segment[0][0], min(segment[:, 1]), max(segment[:, 1])))
    return ends


def test_intervals_are_clipped_to_the_metric_range():
    runs = [run_metrics([1, 2], [0.1, 0.2], precision=p, model="lsh", seed=s, mAP=m)
            for s, (p, m) in enumerate((([0.0, 1.0], 0.0), ([0.12, 0.9], 0.1)))]
    rows = summary.summarise(runs)
    mean, half = summary.interval([0.0, 0.12])
    assert mean - half < 0  # the case this test is about: Student's interval over 2 seeds reaches below 0
    figures = summary.figures(rows)
    ax = figures["precision_by_radius.png"].axes[0]
    (_, low0, high0), (_, low1, high1) = sorted(errorbar_ends(ax))
    assert low0 == 0 and high0 == pytest.approx(mean + half)
    top_mean, top_half = summary.interval([1.0, 0.9])
    assert high1 == 1 and low1 == pytest.approx(top_mean - top_half)
    map_ax = figures["map_by_bits.png"].axes[0]
    [(_, map_low, _)] = errorbar_ends(map_ax)
    assert map_low == 0


def test_models_are_drawn_side_by_side():
    runs = [run_metrics([1, 2, 3], [0.1] * 3, precision=[0.5, 0.5, 0.5], model=m, seed=s)
            for m in ("a", "b", "c") for s in range(2)]
    ax = summary.figures(summary.summarise(runs))["precision_by_radius.png"].axes[0]
    xs = sorted(x for x, _, _ in errorbar_ends(ax))
    for radius in range(3):
        at = [x for x in xs if abs(x - radius) < 0.5]  # still nearest their own radius's tick
        assert len(at) == 3 and len(set(at)) == 3 and min(np.diff(sorted(at))) >= 0.05


def test_quality_against_qps_labels_each_point_with_its_radius():
    runs = [run_metrics([1, 5, 20], [0.01, 0.1, 1.0], precision=[0.3, 0.4, 0.5], model=m, seed=s)
            for m in ("a", "b") for s in range(2)]
    fig = summary.figures(summary.summarise(runs))["quality_vs_qps.png"]
    assert sorted(texts(fig)) == sorted(["r0", "r1", "r2"] * 2)
    assert fig.axes[0].get_xlabel() == "precision@10"


@pytest.mark.parametrize("seeds", range(2, 9))
def test_the_smallest_wilcoxon_p_is_scipys(seeds):
    every_pair_higher = stats.wilcoxon(np.arange(1.0, seeds + 1), np.zeros(seeds)).pvalue
    assert summary.wilcoxon_smallest_p(seeds) == pytest.approx(every_pair_higher)


def test_few_seeds_carry_the_caveat():
    def report(seeds):
        runs = [run_metrics([1], [0.1], model=m, seed=s, mAP=v + step * s)
                for s in range(seeds) for m, v, step in (("a", 0.5, 0.01), ("b", 0.3, 0.013))]
        tests = summary.paired_tests(runs)
        return tests, summary.markdown(summary.summarise(runs), tests)

    tests, text = report(2)
    assert tests[0]["wilcoxon_p"] >= tests[0]["wilcoxon_min_p"] == 0.5
    assert "0.5 †" in text and "With 2 seeds the Wilcoxon signed-rank test cannot give a p below 0.5" in text
    tests, text = report(6)
    assert tests[0]["wilcoxon_p"] < 0.05 and "†" not in text
