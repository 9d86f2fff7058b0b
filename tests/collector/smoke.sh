#!/usr/bin/env bash
# Smoke test of the collector set-up: install, start on 127.0.0.1
# (SMOKE_GRPC_PORT/SMOKE_HTTP_PORT, default 14317/14318), send OTLP traces, logs
# and metrics as OTLP/JSON over HTTP, OTLP/protobuf over HTTP and OTLP/gRPC,
# check what the processors wrote, stop. Exit 0 only if everything arrived
# intact. SMOKE_KEEP_OUT=1 keeps the temporary output directory.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
GRPC_PORT="${SMOKE_GRPC_PORT:-14317}"
HTTP_PORT="${SMOKE_HTTP_PORT:-14318}"
BASE="http://127.0.0.1:$HTTP_PORT"

t0=$SECONDS
AGENT="$(bash "$HERE/install.sh")"
echo "install: $((SECONDS - t0))s, rotel-agent at $AGENT"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/collector-smoke.XXXXXX")"
OUT="$WORK/out"
BODIES="$WORK/bodies"
cleanup() {
    bash "$HERE/stop.sh" "$OUT" || true
    if [ "${SMOKE_KEEP_OUT:-0}" = 1 ]; then echo "output kept in $OUT"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

bash "$HERE/start.sh" "$OUT" "$GRPC_PORT" "$HTTP_PORT"
PID="$(cat "$OUT/collector.pid")"
python3 "$HERE/smoke_check.py" bodies "$BODIES"

fail=0
# post <label> <expected status|any> <curl args...>: prints the status code.
post() {
    local label="$1" want="$2"; shift 2
    local code
    code="$(curl -sS -o "$WORK/resp" -w '%{http_code}' "$@" || echo "curl-error")"
    printf '  %-52s HTTP %s\n' "$label" "$code"
    if [ "$want" != any ] && [ "$code" != "$want" ]; then
        echo "  -> expected $want; response: $(head -c 300 "$WORK/resp" 2>/dev/null)" >&2
        fail=1
    fi
}

echo "OTLP/JSON over HTTP (Content-Type: application/json):"
for sig in traces logs metrics; do
    post "POST /v1/$sig" 200 -H 'Content-Type: application/json' --data-binary "@$BODIES/$sig.json" "$BASE/v1/$sig"
done
post "POST /v1/metrics (int64s as strings, quirk probe)" 200 \
    -H 'Content-Type: application/json' --data-binary "@$BODIES/metrics_quirk.json" "$BASE/v1/metrics"

echo "OTLP/protobuf over HTTP (Content-Type: application/x-protobuf):"
for sig in traces logs metrics; do
    python3 "$HERE/otlp_json2pb.py" "$sig" < "$BODIES/${sig}_pb.json" > "$WORK/$sig.pb"
    post "POST /v1/$sig" 200 -H 'Content-Type: application/x-protobuf' --data-binary "@$WORK/$sig.pb" "$BASE/v1/$sig"
done

echo "OTLP/gRPC on 127.0.0.1:$GRPC_PORT:"
if (exec 3<>"/dev/tcp/127.0.0.1/$GRPC_PORT") 2>/dev/null; then
    echo "  port $GRPC_PORT accepts TCP connections"
else
    echo "  port $GRPC_PORT does not listen" >&2; fail=1
fi
if curl -V | grep -qw HTTP2; then
    for pair in traces:trace.v1.TraceService logs:logs.v1.LogsService metrics:metrics.v1.MetricsService; do
        sig="${pair%%:*}"; svc="${pair#*:}"
        python3 "$HERE/otlp_json2pb.py" "$sig" --grpc < "$BODIES/${sig}_grpc.json" > "$WORK/$sig.grpc"
        # grpc-status arrives as an HTTP/2 trailer, which curl writes to -D.
        post "gRPC $svc/Export" 200 --http2-prior-knowledge -D "$WORK/$sig.hdr" \
            -H 'content-type: application/grpc' -H 'te: trailers' --data-binary "@$WORK/$sig.grpc" \
            "http://127.0.0.1:$GRPC_PORT/opentelemetry.proto.collector.$svc/Export"
        st="$(tr -d '\r' < "$WORK/$sig.hdr" | awk -F': ' 'tolower($1)=="grpc-status"{print $2}')"
        echo "    grpc-status: ${st:-<none>}"
        [ "$st" = 0 ] || fail=1
    done
else
    echo "  (curl without HTTP/2: gRPC requests skipped; smoke_check will report them missing)" >&2
    fail=1
fi

echo "Content-Type variants (informative):"
post "application/json; charset=utf-8" any -H 'Content-Type: application/json; charset=utf-8' \
    --data-binary "@$BODIES/traces.json" "$BASE/v1/traces"

python3 "$HERE/smoke_check.py" wait "$OUT" || fail=1
python3 "$HERE/smoke_check.py" check "$OUT" || fail=1

echo "line counts: $(wc -l < "$OUT/traces.jsonl") traces, $(wc -l < "$OUT/logs.jsonl") logs, $(wc -l < "$OUT/metrics.jsonl") metrics"
if [ "${SMOKE_SHOW:-0}" = 1 ]; then
    for f in traces logs metrics; do echo "--- first line of $f.jsonl"; head -n 1 "$OUT/$f.jsonl"; done
fi

bash "$HERE/stop.sh" "$OUT"
if kill -0 "$PID" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$PID/stat" 2>/dev/null)" != Z ]; then
    echo "collector pid $PID still running after stop.sh" >&2; fail=1
fi

if [ "$fail" = 0 ]; then
    echo "collector smoke test: OK"
else
    echo "collector smoke test: FAILED" >&2
    echo "---- collector log tail ----" >&2; tail -n 20 "$OUT/collector.log" >&2 || true
    exit 1
fi
