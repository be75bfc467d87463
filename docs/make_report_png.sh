#!/usr/bin/env bash
# Regenerates docs/report.png: the demo warehouse (`msgmetrics demo`, data ending 2026-11-01),
# with the six days before its end backfilled (`build --as-of`, sizes only: history moves forward
# only) and one daily build after it (2026-11-02, when windows close and people leave cohorts),
# then `msgmetrics report` and a headless-Chromium screenshot of the top of the page.
#   bash docs/make_report_png.sh [WORKDIR]   (WORKDIR is kept; a second run reuses its warehouse)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
msgmetrics=${MSGMETRICS:-$repo/.venv/bin/msgmetrics}
work=${1:-$(mktemp -d)}
wh=$work/msgmetrics.duckdb
if [ ! -f "$wh" ]; then
  (cd "$work" && "$msgmetrics" --warehouse "$wh" demo --out "$work/data")
  for day in 26 27 28 29 30 31; do
    "$msgmetrics" --warehouse "$wh" build --as-of "2026-10-${day}T00:00:00Z"
  done
  "$msgmetrics" --warehouse "$wh" build --as-of "2026-11-02T00:00:00Z"
fi
"$msgmetrics" --warehouse "$wh" report --out "$work/report.html"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$work/chromium" \
  --window-size=1200,2600 --screenshot="$repo/docs/report.png" "file://$work/report.html"
echo "docs/report.png from $work/report.html"
