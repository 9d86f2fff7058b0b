#!/usr/bin/env bash
# start.sh <out_dir> <grpc_port> <http_port>
#
# Starts rotel-agent in the background on 127.0.0.1 (OTLP/gRPC on grpc_port,
# OTLP/HTTP on http_port) with the three processors of processors/, which
# append what the collector receives to <out_dir>/{traces,logs,metrics}.jsonl.
# Writes <out_dir>/collector.pid and <out_dir>/collector.log, waits (bounded)
# until both ports accept TCP connections, and exits non-zero with the log tail
# if the collector does not come up. Run install.sh first.
#
# Environment (optional):
#   COLLECTOR_BATCH_TIMEOUT   rotel --batch-timeout (default 50ms)
#   COLLECTOR_START_TIMEOUT   seconds to wait for the ports (default 20)
#   COLLECTOR_PARENT_PID      if set, a watchdog stops the collector once this
#                             pid is gone (guards against leaked collectors)
set -euo pipefail
. "$(dirname "$0")/common.sh"

if [ "$#" -ne 3 ]; then
    echo "usage: $0 <out_dir> <grpc_port> <http_port>" >&2
    exit 2
fi
OUT_DIR="$1"; GRPC_PORT="$2"; HTTP_PORT="$3"
for p in "$GRPC_PORT" "$HTTP_PORT"; do
    case "$p" in ''|*[!0-9]*) echo "collector/start: bad port '$p' (rotel needs a fixed port, not 0)" >&2; exit 2;; esac
    if [ "$p" -lt 1 ] || [ "$p" -gt 65535 ]; then echo "collector/start: bad port '$p'" >&2; exit 2; fi
done
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
PID_FILE="$OUT_DIR/collector.pid"
LOG_FILE="$OUT_DIR/collector.log"
BATCH_TIMEOUT="${COLLECTOR_BATCH_TIMEOUT:-50ms}"
START_TIMEOUT="${COLLECTOR_START_TIMEOUT:-20}"

AGENT="$(rotel_agent_path)" || { echo "collector/start: rotel-agent not installed; run $COLLECTOR_DIR/install.sh" >&2; exit 1; }
rotel_fix_libpython "$AGENT" || { echo "collector/start: rotel-agent cannot find libpython3.11; run install.sh" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
    echo "collector/start: a collector is already running for $OUT_DIR (pid $(cat "$PID_FILE")); run stop.sh first" >&2
    exit 1
fi
for p in "$GRPC_PORT" "$HTTP_PORT"; do
    if port_open "$p"; then
        echo "collector/start: port 127.0.0.1:$p is already in use" >&2
        exit 1
    fi
done

# Start from empty output files so a test only sees this run's data.
: > "$OUT_DIR/traces.jsonl"
: > "$OUT_DIR/logs.jsonl"
: > "$OUT_DIR/metrics.jsonl"
rm -f "$OUT_DIR/processor-errors.log"

PROC_DIR="$COLLECTOR_DIR/processors"
ARGS=(start
    --otlp-grpc-endpoint "127.0.0.1:$GRPC_PORT"
    --otlp-http-endpoint "127.0.0.1:$HTTP_PORT"
    --exporter blackhole
    --otlp-with-trace-processor "$PROC_DIR/traces.py"
    --otlp-with-logs-processor "$PROC_DIR/logs.py"
    --otlp-with-metrics-processor "$PROC_DIR/metrics.py"
    --log-format text)
HELP="$("$AGENT" start --help 2>/dev/null || true)"
if [[ "$HELP" == *"--batch-timeout"* ]]; then
    ARGS+=(--batch-timeout "$BATCH_TIMEOUT")
fi

# stdin/stdout/stderr are detached so a caller that captures this script's
# output (e.g. std::process::Command::output) is not kept waiting.
COLLECTOR_OUT_DIR="$OUT_DIR" PYTHONDONTWRITEBYTECODE=1 NO_COLOR=1 RUST_LOG="${RUST_LOG:-info}" \
    nohup "$AGENT" "${ARGS[@]}" </dev/null >"$LOG_FILE" 2>&1 &
PID=$!
echo "$PID" > "$PID_FILE"

fail() {
    echo "collector/start: $*" >&2
    echo "---- last lines of $LOG_FILE ----" >&2
    tail -n 40 "$LOG_FILE" >&2 || true
    if kill -0 "$PID" 2>/dev/null; then
        kill "$PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$PID" 2>/dev/null || true
    fi
    rm -f "$PID_FILE"
    exit 1
}

deadline=$((SECONDS + START_TIMEOUT))
while :; do
    kill -0 "$PID" 2>/dev/null || fail "rotel-agent (pid $PID) exited during startup"
    if port_open "$GRPC_PORT" && port_open "$HTTP_PORT"; then
        break
    fi
    [ "$SECONDS" -lt "$deadline" ] || fail "ports $GRPC_PORT/$HTTP_PORT not listening after ${START_TIMEOUT}s"
    sleep 0.1
done

if [ -n "${COLLECTOR_PARENT_PID:-}" ]; then
    # Watchdog: stop the collector when the parent disappears.
    (
        while kill -0 "$COLLECTOR_PARENT_PID" 2>/dev/null && kill -0 "$PID" 2>/dev/null; do sleep 1; done
        kill "$PID" 2>/dev/null || true
    ) </dev/null >/dev/null 2>&1 &
    echo "$!" > "$OUT_DIR/collector.watchdog.pid"
fi

echo "collector/start: rotel-agent pid $PID, grpc 127.0.0.1:$GRPC_PORT, http 127.0.0.1:$HTTP_PORT, out $OUT_DIR" >&2
