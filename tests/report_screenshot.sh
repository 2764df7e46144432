#!/bin/sh
# report_screenshot.sh [FINSCOPE [OUT.png]] - look at `finscope report --html` in a real browser.
#
# Not run in CI (it installs a browser; tests/golden/check_report_browser.py measures the same
# page there).  Forges two mixes of scenarios, analyzes them into one database (two captures:
# the captures table and the capture columns show), writes the HTML report and renders it with
# headless Chromium into a PNG, then prints where the PNG is.
# Installs chromium with apt-get when it is missing (needs root).  Open the PNG and check: the
# tables line up, the bar charts and dwell histograms are drawn with their labels, nothing
# overflows, and every section (captures, close kinds ... example flows) is there; each close
# kind, cause and state in its own colour (the same in every report), the CLOSE_WAIT histogram
# with a server-side and a client-side bar per bucket.  The census charts
# (under "sockets per host") stand two to a row: bands stacked per state, each state always in
# its colour, the time and count labels and the legend clear of each other.  The window is
# tall enough to reach the census sections (headless Chromium does not scroll to an anchor).
#
#   tests/report_screenshot.sh                       # build/src/finscope, /tmp/finscope-report.png
#   tests/report_screenshot.sh build/src/finscope out.png
set -eu

FSC=${1:-build/src/finscope}
OUT=${2:-/tmp/finscope-report.png}
case $FSC in /*) ;; *) FSC=$(pwd)/$FSC ;; esac
case $OUT in /*) ;; *) OUT=$(pwd)/$OUT ;; esac

if ! command -v chromium >/dev/null 2>&1; then
    echo "installing chromium" >&2
    apt-get install -y chromium >/dev/null
fi

WORK=$(mktemp -d)
PROFILE=$(mktemp -d)
trap 'rm -rf "$WORK" "$PROFILE"' EXIT

"$FSC" forge mix --flows 300 --seed 4 -o "$WORK/mix.pcap" >/dev/null
"$FSC" forge mix --flows 60 --seed 9 -o "$WORK/mix2.pcap" >/dev/null
"$FSC" analyze -q -o "$WORK/mix.db" "$WORK/mix.pcap" "$WORK/mix2.pcap"
"$FSC" report "$WORK/mix.db" --html "$WORK/report.html" 2>/dev/null

chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --user-data-dir="$PROFILE" \
    --screenshot="$OUT" --window-size=1200,5600 "file://$WORK/report.html" >/dev/null 2>&1

test -s "$OUT"
echo "$OUT"
