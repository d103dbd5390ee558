"""Gather the ``metrics.json`` of many runs (a multirun sweep) into one report: mean and 95% interval over
seeds, paired significance tests between models, CSV, Markdown, plots.

Runs are pooled only when they differ in nothing but the seed: same dataset file (by content), protocol, model,
bits and every other setting. Groups of the same (dataset, protocol, model, bits) that differ in some setting
are shown apart, labelled by the settings that tell them apart (``model.alpha=0.6``)."""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import stats

from l2h import atomic
from l2h.errors import L2HError
from l2h.report.axes import clipped_errors, dodge, integer_ticks, set_value_axis

GROUP = ("dataset", "protocol", "model", "bits")
REQUIRED = {"model": str, "bits": int, "dataset": str, "protocol": str, "seed": int, "map": (int, float, type(None)),
            "train_seconds": (int, float, type(None)), "radius": list}
# settings that do not change a run's result, or that stand for the data file, whose content is compared instead
NOT_SETTINGS = ("hydra", "ckpt_path", "optimized_metric", "data.path", "data.labels_path", "data.queries_path",
                "data.ground_truth_path", "data.example", "eval.device", "eval.save_codes",
                "trainer.enable_progress_bar", "trainer.enable_model_summary")


def gather(paths: list[str | Path]) -> list[dict]:
    """Every metrics.json under the given folders (or the files themselves), each checked to be an l2h run's."""
    found = []
    for path in map(Path, paths):
        if not path.exists():
            raise L2HError(f"{path} does not exist: pass the folder of a (multi)run")
        files = [path] if path.is_file() else sorted(path.rglob("metrics.json"))
        for f in files:
            try:
                metrics = json.loads(f.read_text())
            except (OSError, ValueError) as exc:
                raise L2HError(f"{f} is not a readable metrics.json ({exc}): remove it or rerun that job") from None
            wrong = [k for k, kind in REQUIRED.items()
                     if not isinstance(metrics, dict) or not isinstance(metrics.get(k), kind)]
            if wrong:
                raise L2HError(f"{f} is not an l2h run's metrics.json (no valid {', '.join(wrong)}): remove it or "
                               "pass only l2h run folders")
            metrics["_source"] = str(f)
            found.append(metrics)
    if not found:
        raise L2HError(f"no metrics.json under {', '.join(map(str, paths))}: pass the folder of a (multi)run")
    return found


def _flatten(node, prefix: str = "") -> dict:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: json.dumps(node, sort_keys=True)}


def settings_of(run: dict) -> dict[str, str]:
    """The run's settings, flattened, without the seed (wherever the config repeats it) and what does not change
    the result; with the data file's content hash."""
    flat = _flatten(run.get("config") or {})
    seed = json.dumps(run["seed"])
    kept = {k: v for k, v in flat.items()
            if not any(k == n or k.startswith(n + ".") for n in NOT_SETTINGS)
            and not (k.split(".")[-1] == "seed" and v == seed)}
    kept["data_sha256"] = json.dumps(run.get("data_sha256"))
    return kept


def label_groups(runs: list[dict]) -> dict[int, str]:
    """For each run, its group's label: the model, plus the settings that set its group apart from the other
    groups of the same dataset, protocol, model and bits (empty when there is one group)."""
    settings = [settings_of(r) for r in runs]
    labels = {}
    families = defaultdict(list)
    for i, r in enumerate(runs):
        families[tuple(r[k] for k in GROUP)].append(i)
    for members in families.values():
        keys = sorted(set().union(*(settings[i] for i in members)))
        varying = [k for k in keys if len({settings[i].get(k) for i in members}) > 1]
        for i in members:
            shown = [f"{k}={json.loads(settings[i][k]) if k in settings[i] else 'unset'}" for k in varying
                     if k != "data_sha256"]
            if "data_sha256" in varying:
                shown.append(f"data {json.loads(settings[i]['data_sha256'] or 'null') or 'unknown'}"[:21])
            labels[i] = runs[i]["model"] + (f" ({', '.join(shown)})" if shown else "")
    return labels


def interval(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% Student-t interval (0 for a single value)."""
    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], dtype=float)
    if v.size == 0:
        return float("nan"), float("nan")
    if v.size == 1:
        return float(v[0]), 0.0
    return float(v.mean()), float(stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))


def _finite_mean(values) -> float:
    """The mean of the values that are numbers; nan when none is (every seed's ball empty at that radius)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def precision_field(run: dict) -> str:
    return f"precision_at_{run.get('eval', {}).get('k', 10)}"


def summarise(runs: list[dict]) -> list[dict]:
    """One row per group of runs that differ only in their seed: seeds, mAP and, for each radius, precision@k,
    candidates, query ms and empty fraction as mean and interval."""
    labels = label_groups(runs)
    groups = defaultdict(list)
    for i, m in enumerate(runs):
        groups[(m["dataset"], m["protocol"], labels[i], m["bits"])].append(m)
    rows = []
    for (dataset, protocol, label, bits), members in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
        row = {"dataset": dataset, "protocol": protocol, "model": label, "bits": bits}
        row["seeds"] = sorted(m["seed"] for m in members)
        row["runs"] = len(members)
        row["map"] = interval([m["map"] for m in members])
        row["train_seconds"] = interval([m["train_seconds"] for m in members])
        radii = min(len(m["radius"]) for m in members)
        row["precision_at"] = precision_field(members[0]).replace("precision_at_", "")
        row["radius"] = [
            {"precision": interval([m["radius"][r].get(precision_field(m), float("nan")) for m in members]),
             **{field: interval([m["radius"][r][field] for m in members])
                for field in ("mean_candidates", "mean_query_ms", "empty_fraction")}}
            for r in range(radii)
        ]
        balls = [m["ranking"]["hamming_ball"] for m in members if m.get("ranking", {}).get("hamming_ball")]
        if balls:
            row["pr_curve"] = [{"precision": _finite_mean([b[r]["precision"] for b in balls]),
                                "recall": _finite_mean([b[r]["recall"] for b in balls])}
                               for r in range(min(len(b) for b in balls))]
        rows.append(row)
    return rows


def wilcoxon_smallest_p(pairs: int) -> float:
    """The smallest two-sided p the exact Wilcoxon signed-rank test can give over ``pairs`` pairs (every difference
    of one sign): 2 / 2^n, 0.5 at 2 seeds, 0.0625 at 5. Below 6 seeds it cannot reach 0.05 whatever the data."""
    return 2.0 / 2 ** pairs


def paired_tests(runs: list[dict], metric: str = "map") -> list[dict]:
    """Wilcoxon signed-rank and paired t-test between every two models of the same dataset, protocol and bits,
    paired by seed."""
    labels = label_groups(runs)
    by_setting = defaultdict(lambda: defaultdict(dict))
    for i, m in enumerate(runs):
        by_setting[(m["dataset"], m["protocol"], m["bits"])][labels[i]][m["seed"]] = m[metric]
    tests = []
    for (dataset, protocol, bits), models in sorted(by_setting.items(), key=lambda kv: tuple(map(str, kv[0]))):
        for a, b in itertools.combinations(sorted(models), 2):
            seeds = sorted(set(models[a]) & set(models[b]))
            if len(seeds) < 2:
                continue
            x, y = np.array([models[a][s] for s in seeds]), np.array([models[b][s] for s in seeds])
            diff = x - y
            wilcoxon_p = float(stats.wilcoxon(x, y).pvalue) if np.any(diff != 0) else 1.0
            t_p = float(stats.ttest_rel(x, y).pvalue) if np.std(diff) > 0 else (1.0 if diff.mean() == 0 else 0.0)
            tests.append({"dataset": dataset, "protocol": protocol, "bits": bits, "a": a, "b": b,
                          "seeds": len(seeds), f"mean_{metric}_a": float(x.mean()), f"mean_{metric}_b": float(y.mean()),
                          "wilcoxon_p": wilcoxon_p, "paired_t_p": t_p,
                          "wilcoxon_min_p": wilcoxon_smallest_p(len(seeds))})
    return tests


def _cell(mean_half: tuple[float, float], digits: int = 3) -> str:
    mean, half = mean_half
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.{digits}f} ± {half:.{digits}f}" if half else f"{mean:.{digits}f}"


def markdown(rows: list[dict], tests: list[dict]) -> str:
    radii = max(len(r["radius"]) for r in rows)
    k = rows[0].get("precision_at", "10")
    lines = ["| dataset | protocol | model | bits | seeds | mAP | " + " | ".join(f"P@{k} r≤{i}" for i in range(radii))
             + " | " + " | ".join(f"candidates r≤{i}" for i in range(radii)) + " |",
             "|" + "---|" * (6 + 2 * radii)]
    for r in rows:
        p = [_cell(x["precision"]) for x in r["radius"]] + [""] * (radii - len(r["radius"]))
        c = [_cell(x["mean_candidates"], 0) for x in r["radius"]] + [""] * (radii - len(r["radius"]))
        lines.append(f"| {r['dataset']} | {r['protocol']} | {r['model']} | {r['bits']} | {len(r['seeds'])} | "
                     f"{_cell(r['map'], 4)} | " + " | ".join(p) + " | " + " | ".join(c) + " |")
    lines.append("")
    lines.append("Mean ± half-width of the 95% Student-t interval over seeds. Each row pools runs that differ only "
                 "in their seed (same data file, protocol, model, bits and every other setting); rows of one model "
                 "that differ in a setting are labelled by it.")
    if tests:
        lines += ["", "| dataset | protocol | bits | model A | model B | seeds | mAP A | mAP B | Wilcoxon p | paired t p |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for t in tests:
            mark = " †" if t["wilcoxon_min_p"] > 0.05 else ""
            lines.append(f"| {t['dataset']} | {t['protocol']} | {t['bits']} | {t['a']} | {t['b']} | {t['seeds']} | "
                         f"{t['mean_map_a']:.4f} | {t['mean_map_b']:.4f} | {t['wilcoxon_p']:.3g}{mark} | "
                         f"{t['paired_t_p']:.3g} |")
        few = sorted({t["seeds"] for t in tests if t["wilcoxon_min_p"] > 0.05})
        if few:
            lines += ["", "† With " + " or ".join(f"{n} seeds" for n in few) + " the Wilcoxon signed-rank test "
                      "cannot give a p below " + " or ".join(f"{wilcoxon_smallest_p(n):.3g}" for n in few)
                      + ", whatever the differences: it cannot show a difference at the 0.05 level; 6 seeds or more "
                      "can. The paired t-test can, if the differences are roughly normal."]
    return "\n".join(lines) + "\n"


def write_csv(rows: list[dict], path: Path) -> None:
    with io.StringIO(newline="") as f:
        out = csv.writer(f)
        out.writerow([*GROUP, "seeds", "radius", "map", "map_ci95", "precision", "precision_ci95",
                      "mean_candidates", "mean_candidates_ci95", "mean_query_ms", "mean_query_ms_ci95",
                      "empty_fraction"])
        for r in rows:
            for i, x in enumerate(r["radius"]):
                out.writerow([*(r[k] for k in GROUP), len(r["seeds"]), i, *r["map"], *x["precision"],
                              *x["mean_candidates"], *x["mean_query_ms"], x["empty_fraction"][0]])
        atomic.write_text(path, f.getvalue())


def write_tests_csv(tests: list[dict], path: Path) -> None:
    with io.StringIO(newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(tests[0]))
        writer.writeheader()
        writer.writerows(tests)
        atomic.write_text(path, f.getvalue())


def pareto_frontier(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not beaten on both axes (higher is better on each), sorted by the first axis."""
    frontier, best = [], -math.inf
    for x, y in sorted(points, key=lambda p: (-p[0], -p[1])):
        if y > best:
            frontier.append((x, y))
            best = y
    return sorted(frontier)


FIGURES = ("precision_by_radius.png", "time_by_radius.png", "candidates_by_radius.png", "map_by_bits.png",
           "pr_curves.png", "quality_vs_qps.png")


def _finish(fig, ax, xlabel: str, ylabel: str):
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _series_label(row: dict) -> str:
    return f"{row['model']} {row['bits']}b ({row['dataset']})"


def figures(rows: list[dict]) -> dict:
    """The summary's figures by file name: each radius metric against radius (models side by side, 95% intervals
    clipped to the metric's range), mAP against bits, the precision-recall curves, and quality against queries
    per second with each point's radius."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = {}
    k = rows[0].get("precision_at", "10") if rows else "10"
    for field, label, name, high in (("precision", f"precision@{k}", FIGURES[0], 1.0),
                                     ("mean_query_ms", "mean query time (ms)", FIGURES[1], math.inf),
                                     ("mean_candidates", "mean candidates", FIGURES[2], math.inf)):
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        values, tops = [], []
        for i, r in enumerate(rows):
            means = [x[field][0] for x in r["radius"]]
            errors = clipped_errors(means, [x[field][1] for x in r["radius"]], 0.0, high)
            ax.errorbar([radius + dodge(i, len(rows)) for radius in range(len(means))], means, yerr=errors,
                        marker="o", ms=4, capsize=3, label=_series_label(r))
            values += means
            tops += list(np.asarray(means) + errors[1])
        if high == 1.0:
            ax.set_ylim(0, 1.02)
        else:
            set_value_axis(ax, values, tops)
        integer_ticks(ax)
        made[name] = _finish(fig, ax, "Hamming radius", label)

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    models = sorted({(r["model"], r["dataset"]) for r in rows})
    for i, (model, dataset) in enumerate(models):
        mine = sorted((r for r in rows if r["model"] == model and r["dataset"] == dataset), key=lambda r: r["bits"])
        means = [r["map"][0] for r in mine]
        ax.errorbar([r["bits"] * 2 ** dodge(i, len(models), spread=0.15) for r in mine], means,
                    yerr=clipped_errors(means, [r["map"][1] for r in mine], 0.0, 1.0), marker="o", ms=4, capsize=3,
                    label=f"{model} ({dataset})")
    bits = sorted({r["bits"] for r in rows})
    ax.set_xscale("log", base=2)
    ax.set_xticks(bits, [str(b) for b in bits])
    ax.minorticks_off()
    made[FIGURES[3]] = _finish(fig, ax, "bits", "mAP (Hamming ranking)")

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for r in rows:
        if "pr_curve" in r:
            ax.plot([p["recall"] for p in r["pr_curve"]], [p["precision"] for p in r["pr_curve"]],
                    marker="." if len(r["pr_curve"]) <= 65 else None, label=_series_label(r))
    ax.set_title("Hamming-ball precision-recall (mean over seeds)", fontsize=9)
    made[FIGURES[4]] = _finish(fig, ax, "recall", "precision")

    # quality against queries per second, every (model, bits, radius) a point, as ann-benchmarks draws it
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    points = []
    for r in rows:
        xs = [x["precision"][0] for x in r["radius"]]
        qps = [1000 / x["mean_query_ms"][0] if x["mean_query_ms"][0] > 0 else float("nan") for x in r["radius"]]
        dots = ax.scatter(xs, qps, s=14, label=f"{r['model']} {r['bits']}b")
        for radius, (x, q) in enumerate(zip(xs, qps)):
            if not (math.isnan(x) or math.isnan(q)):
                ax.annotate(f"r{radius}", (x, q), fontsize=6, xytext=(3, 2), textcoords="offset points",
                            color=dots.get_facecolor()[0])
        points += [(x, q) for x, q in zip(xs, qps) if not (math.isnan(x) or math.isnan(q))]
    frontier = pareto_frontier(points)
    if frontier:
        ax.plot(*zip(*frontier), color="black", lw=1, label="Pareto frontier")
    set_value_axis(ax, [q for _, q in points])
    ax.set_title("each point: one Hamming radius (r0 = the code's own bucket)", fontsize=9)
    made[FIGURES[5]] = _finish(fig, ax, f"precision@{k}", "queries per second")
    return made


def plot(rows: list[dict], folder: Path) -> list[Path]:
    """Write :func:`figures` into ``folder`` as PNG files."""
    import matplotlib.pyplot as plt

    written = []
    for name, fig in figures(rows).items():
        atomic.write_with(folder / name, lambda f, fig=fig: fig.savefig(f, format="png", dpi=110))
        plt.close(fig)
        written.append(folder / name)
    return written
