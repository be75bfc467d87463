"""`python -m msgmetrics.report WAREHOUSE [OUT]`: the report without the CLI wiring."""

from __future__ import annotations

import sys
from pathlib import Path

from . import build_report


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help") or len(argv) > 2:
        print("usage: python -m msgmetrics.report WAREHOUSE.duckdb [OUT.html]  (default: report.html beside it)")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    warehouse = Path(argv[0])
    out = Path(argv[1]) if len(argv) > 1 else warehouse.expanduser().resolve().parent / "report.html"
    try:
        print(build_report(warehouse, out))
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
