#!/usr/bin/env bash
# stop.sh <out_dir>
# Stops the collector started by start.sh for <out_dir>: SIGTERM to the pid in
# <out_dir>/collector.pid, waits up to 10 s for it to exit, then SIGKILL.
# Succeeds (exit 0) when nothing is running.
set -euo pipefail

if [ "$#" -ne 1 ]; then
    echo "usage: $0 <out_dir>" >&2
    exit 2
fi
OUT_DIR="$1"
PID_FILE="$OUT_DIR/collector.pid"
WATCHDOG_FILE="$OUT_DIR/collector.watchdog.pid"

if [ -f "$WATCHDOG_FILE" ]; then
    kill "$(cat "$WATCHDOG_FILE")" 2>/dev/null || true
    rm -f "$WATCHDOG_FILE"
fi

[ -f "$PID_FILE" ] || exit 0
PID="$(cat "$PID_FILE")"
case "$PID" in ''|*[!0-9]*) rm -f "$PID_FILE"; exit 0;; esac

# Only signal the pid if it still is a rotel-agent (guards against pid reuse).
if kill -0 "$PID" 2>/dev/null && grep -q 'rotel-agent' "/proc/$PID/cmdline" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$PID" 2>/dev/null || break
        # A zombie (exited, not yet reaped by its parent) counts as stopped.
        [ "$(awk '{print $3}' "/proc/$PID/stat" 2>/dev/null)" = Z ] && break
        sleep 0.1
    done
    if kill -0 "$PID" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$PID/stat" 2>/dev/null)" != Z ]; then
        echo "collector/stop: pid $PID did not exit after SIGTERM; sending SIGKILL" >&2
        kill -KILL "$PID" 2>/dev/null || true
        sleep 0.2
    fi
fi
rm -f "$PID_FILE"
