"""python -m l2h.summary RUN_FOLDER [...] [--out FOLDER]: one report over many runs' metrics.json.

Writes summary.md, summary.csv, tests.csv (paired tests between models over seeds) and plots, and prints the
Markdown table."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from l2h.errors import L2HError
from l2h.eval import summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m l2h.summary", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="folders holding metrics.json files (searched recursively)")
    parser.add_argument("--out", type=Path, help="where to write the report (default: the first folder)")
    args = parser.parse_args(argv)
    try:
        runs = summary.gather(args.runs)
    except L2HError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out or Path(args.runs[0])
    out.mkdir(parents=True, exist_ok=True)
    rows, tests = summary.summarise(runs), summary.paired_tests(runs)
    text = summary.markdown(rows, tests)
    (out / "summary.md").write_text(text)
    summary.write_csv(rows, out / "summary.csv")
    if tests:
        with open(out / "tests.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(tests[0]))
            writer.writeheader()
            writer.writerows(tests)
    summary.plot(rows, out)
    print(text)
    print(f"report: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
