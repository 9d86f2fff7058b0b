#!/usr/bin/env bash
# scripts/soak.sh [secs]
#
# The soak test of the export pipeline under collector outages (not part of
# CI or scripts/test-all.sh): builds and runs tests/benches/soak.rs in
# release mode for [secs] seconds (default 1800, or SOAK_SECS), then plots
# the log with scripts/soak_plot.py. Writes into SOAK_OUT (default
# target/soak/<UTC time>/): soak.csv (one row a second), summary.txt,
# events.csv, run.log, soak.png. See docs/soak.md for the settings
# (SOAK_PERIOD, SOAK_DOWN, SOAK_RATE, SOAK_THREADS, SOAK_KILL).
#
# Python dependencies (matplotlib) go into a venv of their own,
# target/soak/.venv, created on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS="${1:-${SOAK_SECS:-1800}}"
case "$SECS" in ''|*[!0-9]*) echo "usage: $0 [secs]" >&2; exit 2;; esac
TARGET="${CARGO_TARGET_DIR:-target}"
OUT="${SOAK_OUT:-$TARGET/soak/$(date -u +%Y%m%d-%H%M%S)}"
VENV="$TARGET/soak/.venv"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

note() { printf '==> %s\n' "$*" >&2; }

# The plotting venv first, so that a missing dependency shows up before a
# 30-minute run rather than after it.
if ! "$VENV/bin/python" -c 'import matplotlib' >/dev/null 2>&1; then
    note "creating $VENV and installing matplotlib"
    if [ ! -x "$VENV/bin/python" ]; then
        rm -rf "$VENV"
        python3 -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check matplotlib
fi

note "building the soak binary (release)"
# Run the binary itself rather than through `cargo bench`, so that no cargo
# process (and no lock on the target directory) lives for the whole run.
BIN="$(cargo bench -p telemetry-tests --bench soak --no-run --message-format=json-render-diagnostics |
    "$VENV/bin/python" -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "soak" and m.get("executable"):
        print(m["executable"])
')"
[ -x "$BIN" ] || { echo "soak: the soak binary was not built" >&2; exit 1; }

note "soaking for ${SECS}s with $BIN; output in $OUT"
status=0
SOAK_SECS="$SECS" SOAK_OUT="$OUT" "$BIN" --soak 2>&1 | tee "$OUT/run.log" || status=$?

if [ -s "$OUT/soak.csv" ]; then
    note "plotting"
    "$VENV/bin/python" scripts/soak_plot.py "$OUT/soak.csv"
fi
if [ "$status" -ne 0 ]; then
    echo "soak: the run failed (exit $status); see $OUT/run.log" >&2
fi
exit "$status"
