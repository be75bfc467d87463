"""`python -m msgmetrics.report WAREHOUSE [OUT] [--env NAME]`: the report without the CLI wiring."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import build_report


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m msgmetrics.report",
                                     description="Write the msgmetrics HTML report for a DuckDB warehouse.")
    parser.add_argument("warehouse", type=Path, help="the warehouse's DuckDB file")
    parser.add_argument("out", type=Path, nargs="?", help="HTML file to write (default: report.html beside it)")
    parser.add_argument("--env", metavar="NAME", default=None,
                        help="Amplitude environment whose pushes the report shows (default: the one "
                             "`msgmetrics push` would use)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help gives 0, a usage error 2
        return int(exc.code or 0)
    out = args.out or args.warehouse.expanduser().resolve().parent / "report.html"
    try:
        print(build_report(args.warehouse, out, environment=args.env))
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
