"""l2h-summary (python -m l2h.summary) RUN_FOLDER [...] [--out FOLDER]: one report over many runs' metrics.json.

Writes summary.md, summary.csv, tests.csv (paired tests between models over seeds) and plots, and prints the
Markdown table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from l2h import atomic
from l2h.errors import L2HError
from l2h.report import summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="l2h-summary", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="folders holding metrics.json files (searched recursively)")
    parser.add_argument("--out", type=Path, help="where to write the report (default: the first folder)")
    args = parser.parse_args(argv)
    try:
        runs = summary.gather(args.runs)
        out = atomic.ensure_folder(args.out or Path(args.runs[0]))
        rows, tests = summary.summarise(runs), summary.paired_tests(runs)
        text = summary.markdown(rows, tests)
        atomic.write_text(out / "summary.md", text)
        summary.write_csv(rows, out / "summary.csv")
        if tests:
            summary.write_tests_csv(tests, out / "tests.csv")
        summary.plot(rows, out)
    except L2HError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(text)
    print(f"report: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
