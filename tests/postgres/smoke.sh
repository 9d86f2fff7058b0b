#!/usr/bin/env bash
# Smoke test of the PostgreSQL set-up: install → start a fresh cluster on a free port →
# table, rows, UTF-8, LISTEN/NOTIFY between two sessions, a role without permissions
# (psql.sh), password checks over TCP, the error exits of start.sh → stop → start again on
# the same data dir (with a watchdog) → data still there → the watchdog stops the server
# when its parent pid ends → start again → SIGKILL the postmaster → start again at once
# (crash recovery) → as root, a cluster relocated behind a symlink → stop --remove.
# Prints the timings and `postgres smoke test: OK`; exit 1 on the first failed check.
# Env: SMOKE_DATA_DIR (default <tmp>/data; must be missing or empty), SMOKE_PORT (default: a
# free port), SMOKE_KEEP=1 keeps the data dir (stopped) instead of removing it.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=common.sh
. "$HERE/common.sh"

now() { printf '%s' "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2fs", b - a }'; }
fail() {
    echo "FAILED: $*" >&2
    if [ -n "${DATA:-}" ] && [ -f "$DATA/$PG_LOG_NAME" ]; then
        echo "---- last lines of $DATA/$PG_LOG_NAME ----" >&2
        tail -n 20 "$DATA/$PG_LOG_NAME" >&2 || true
    fi
    echo "postgres smoke test: FAILED" >&2
    exit 1
}
ok() { echo "  ok: $*"; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
    if command -v python3 >/dev/null 2>&1 &&
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' 2>/dev/null; then
        return 0
    fi
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 40000))
        port_open "$p" || { echo "$p"; return 0; }
    done
    return 1
}

t=$(now)
BIN="$(bash "$HERE/install.sh")" || fail "install.sh"
echo "install: $(since "$t"), binaries in $BIN"
PSQL="$(pg_psql_path "$BIN")"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/pg-smoke.XXXXXX")"
# mktemp -d (like Rust's tempfile::tempdir) makes a 0700 dir, which the server user cannot
# traverse when this runs as root; open it so the main run uses the data dir directly
# (the relocation is checked on its own below).
chmod 755 "$WORK"
DATA="${SMOKE_DATA_DIR:-$WORK/data}"
PORT="${SMOKE_PORT:-$(free_port)}" || fail "no free port"
SLEEP_PID=""
cleanup() {
    if [ -n "$SLEEP_PID" ]; then kill "$SLEEP_PID" 2>/dev/null || true; fi
    if [ "${SMOKE_KEEP:-0}" = 1 ]; then
        bash "$HERE/stop.sh" "$DATA" || true
        echo "data dir kept: $DATA"
    else
        bash "$HERE/stop.sh" --remove "$DATA" || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
echo "data dir $DATA, port $PORT"

# q <sql>: one statement through the URL (TCP, password), unaligned tuples only.
q() { "$PSQL" -X -q -A -t -v ON_ERROR_STOP=1 -c "$1" "$URL" </dev/null; }
expect() { # expect <label> <want> <got>
    [ "$3" = "$2" ] || fail "$1: expected '$2', got '$3'"
    ok "$1 = $3"
}

echo "fresh cluster:"
t=$(now)
URL="$(bash "$HERE/start.sh" "$DATA" "$PORT")" || fail "start.sh (fresh)"
T_FRESH="$(since "$t")"
echo "  start.sh on a fresh dir: $T_FRESH -> $URL"
[[ "$URL" =~ ^postgres://postgres:postgres@127\.0\.0\.1:${PORT}/telemetry$ ]] || fail "unexpected URL '$URL'"
expect "select 1" 1 "$(q 'SELECT 1')"
expect "current_database()" telemetry "$(q 'SELECT current_database()')"
expect "listen_addresses" 127.0.0.1 "$(q 'SHOW listen_addresses')"
expect "server_encoding" UTF8 "$(q 'SHOW server_encoding')"
expect "fsync" on "$(q 'SHOW fsync')"
max_conn="$(q 'SHOW max_connections')"
[ "$max_conn" -ge 200 ] || fail "max_connections is $max_conn"
ok "max_connections = $max_conn"
sock_dir="$(q 'SHOW unix_socket_directories')"
[ "$sock_dir" = "$(readlink -f "$DATA")" ] || [[ "$sock_dir" == /tmp/telemetry-pg-sock.* ]] || fail "socket dir $sock_dir"
ok "unix socket in $sock_dir"

q "CREATE TABLE smoke_events (id bigserial PRIMARY KEY, name text NOT NULL, at timestamptz NOT NULL DEFAULT now())" >/dev/null
q "INSERT INTO smoke_events (name) VALUES ('consent.granted'), ('consent.withdrawn'), ('grüße €')" >/dev/null
expect "rows" 3 "$(q 'SELECT count(*) FROM smoke_events')"
expect "utf-8 round trip" "grüße €" "$(q 'SELECT name FROM smoke_events WHERE id = 3')"

# LISTEN in one session, NOTIFY from another. psql prints a notification after the next
# command it runs, so the listener reads its commands from a fifo.
mkfifo "$WORK/listen.in"
PGAPPNAME=smoke-listener "$PSQL" -X -q "$URL" <"$WORK/listen.in" >"$WORK/listen.out" 2>&1 &
LISTENER=$!
exec 3>"$WORK/listen.in"
echo "LISTEN smoke_channel;" >&3
deadline=$((SECONDS + 10))
until [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'smoke-listener' AND query ILIKE 'LISTEN%' AND state = 'idle'")" = 1 ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "the listener session did not LISTEN"
    sleep 0.05
done
q "NOTIFY smoke_channel, 'hello from another session'" >/dev/null
echo "SELECT 1;" >&3
exec 3>&-
wait "$LISTENER" || fail "listener psql: $(cat "$WORK/listen.out")"
grep -q 'Asynchronous notification "smoke_channel" with payload "hello from another session" received' "$WORK/listen.out" ||
    fail "no notification; listener printed: $(cat "$WORK/listen.out")"
ok "LISTEN/NOTIFY between two sessions"

# A role without permissions, created through psql.sh (unix socket, superuser).
bash "$HERE/psql.sh" "$DATA" -q -c "CREATE ROLE smoke_limited LOGIN PASSWORD 'limited pw'" || fail "psql.sh CREATE ROLE"
expect "psql.sh -U smoke_limited (socket)" smoke_limited "$(bash "$HERE/psql.sh" "$DATA" -U smoke_limited -At -c 'SELECT current_user')"
LIMITED_URL="postgres://smoke_limited:limited%20pw@127.0.0.1:$PORT/telemetry"
expect "limited role over TCP" smoke_limited "$("$PSQL" -X -At -c 'SELECT current_user' "$LIMITED_URL")"
if err="$("$PSQL" -X -At -c 'CREATE TABLE t (x int)' "$LIMITED_URL" 2>&1)"; then fail "the limited role could create a table"; fi
[[ "$err" == *"permission denied"* ]] || fail "CREATE TABLE as limited: $err"
ok "limited role: CREATE TABLE -> permission denied"
if err="$("$PSQL" -X -At -c 'SELECT 1' "postgres://smoke_limited:wrong@127.0.0.1:$PORT/telemetry" 2>&1)"; then fail "a wrong password was accepted"; fi
[[ "$err" == *"password authentication failed"* ]] || fail "wrong password: $err"
ok "wrong password -> password authentication failed"

echo "error exits of start.sh:"
rc=0; bash "$HERE/start.sh" "$DATA" "$PORT" >/dev/null 2>"$WORK/err" || rc=$?
expect "start.sh on the running dir: exit" 1 "$rc"
rc=0; bash "$HERE/start.sh" "$WORK/other" "$PORT" >/dev/null 2>"$WORK/err" || rc=$?
expect "start.sh on a taken port: exit" 1 "$rc"
grep -q 'already in use' "$WORK/err" || fail "port taken message: $(cat "$WORK/err")"
[ -z "$(ls -A "$WORK/other" 2>/dev/null)" ] || fail "start.sh on a taken port left files in $WORK/other"
rc=0; bash "$HERE/start.sh" "$WORK/other" 0 >/dev/null 2>&1 || rc=$?
expect "start.sh with port 0: exit" 2 "$rc"
rc=0; bash "$HERE/start.sh" "$WORK/other" >/dev/null 2>&1 || rc=$?
expect "start.sh with one argument: exit" 2 "$rc"
mkdir -p "$WORK/notpg" && echo x >"$WORK/notpg/file"
rc=0; bash "$HERE/start.sh" "$WORK/notpg" "$PORT" >/dev/null 2>&1 || rc=$?
expect "start.sh on a foreign non-empty dir: exit" 2 "$rc"
rc=0; bash "$HERE/stop.sh" --remove "$WORK/notpg" 2>/dev/null || rc=$?
expect "stop.sh --remove on a foreign dir: exit" 1 "$rc"
[ -f "$WORK/notpg/file" ] || fail "stop.sh --remove deleted a foreign dir"

echo "stop, start again on the same data dir:"
PID="$(cat "$DATA/$PG_PID_NAME")"
t=$(now)
bash "$HERE/stop.sh" "$DATA" || fail "stop.sh"
T_STOP="$(since "$t")"
pid_alive "$PID" && fail "postgres pid $PID still running after stop.sh"
port_open "$PORT" && fail "port $PORT still open after stop.sh"
ok "stopped in $T_STOP"
bash "$HERE/stop.sh" "$DATA" || fail "stop.sh when nothing runs"
ok "stop.sh when nothing runs: exit 0"

sleep 300 &
SLEEP_PID=$!
t=$(now)
URL2="$(PG_PARENT_PID="$SLEEP_PID" bash "$HERE/start.sh" "$DATA" "$PORT")" || fail "start.sh (restart)"
T_RESTART="$(since "$t")"
echo "  start.sh on the existing dir: $T_RESTART"
expect "URL after restart" "$URL" "$URL2"
expect "rows after restart" 3 "$(q 'SELECT count(*) FROM smoke_events')"
expect "role after restart" 1 "$(q "SELECT count(*) FROM pg_roles WHERE rolname = 'smoke_limited'")"

echo "watchdog:"
PID="$(cat "$DATA/$PG_PID_NAME")"
t=$(now)
kill "$SLEEP_PID"
wait "$SLEEP_PID" 2>/dev/null || true
SLEEP_PID=""
deadline=$((SECONDS + 15))
while pid_alive "$PID" || port_open "$PORT"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "the watchdog did not stop the server"
    sleep 0.1
done
T_WATCHDOG="$(since "$t")"
ok "server stopped ${T_WATCHDOG} after its parent pid ended"

URL3="$(bash "$HERE/start.sh" "$DATA" "$PORT")" || fail "start.sh (after the watchdog)"
expect "URL after the watchdog" "$URL" "$URL3"
expect "rows after the watchdog's shutdown" 3 "$(q 'SELECT count(*) FROM smoke_events')"

echo "crash (SIGKILL to the postmaster, a session open) and start again at once:"
PGAPPNAME=smoke-sleeper "$PSQL" -X -q -c 'SELECT pg_sleep(60)' "$URL" </dev/null >/dev/null 2>&1 &
SESSION=$!
deadline=$((SECONDS + 10))
until [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'smoke-sleeper' AND state = 'active'")" = 1 ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "the sleeping session did not start"
    sleep 0.05
done
kill -KILL "$(cat "$DATA/$PG_PID_NAME")"
t=$(now)
URL5="$(bash "$HERE/start.sh" "$DATA" "$PORT")" || fail "start.sh after a crash"
T_CRASH="$(since "$t")"
wait "$SESSION" 2>/dev/null || true
expect "URL after the crash" "$URL" "$URL5"
expect "rows after crash recovery" 3 "$(q 'SELECT count(*) FROM smoke_events')"
ok "start.sh right after the crash: $T_CRASH"

if pg_is_root; then
    echo "relocation (root, parent not traversable by $PG_OS_USER):"
    mkdir -m 700 "$WORK/private"
    PORT2="$(free_port)" || fail "no free port"
    URL4="$(bash "$HERE/start.sh" "$WORK/private/data" "$PORT2" 2>"$WORK/err")" || fail "start.sh (relocated): $(cat "$WORK/err")"
    [ -L "$WORK/private/data" ] || fail "$WORK/private/data is not a symlink"
    target="$(readlink -f "$WORK/private/data")"
    [[ "$target" == /tmp/telemetry-pg.* ]] || fail "relocated to $target"
    expect "relocated cluster: select 1" 1 "$("$PSQL" -X -q -A -t -c 'SELECT 1' "$URL4" </dev/null)"
    expect "relocated cluster: psql.sh" "$target" "$(bash "$HERE/psql.sh" "$WORK/private/data" -At -c 'SHOW data_directory')"
    bash "$HERE/stop.sh" --remove "$WORK/private/data" || fail "stop.sh --remove (relocated)"
    { [ -e "$target" ] || [ -L "$WORK/private/data" ]; } && fail "stop.sh --remove left $target or the symlink"
    ok "cluster in $target behind a symlink; stop.sh --remove deleted both"
fi

if [ "${SMOKE_KEEP:-0}" != 1 ]; then
    t=$(now)
    bash "$HERE/stop.sh" --remove "$DATA" || fail "stop.sh --remove"
    T_REMOVE="$(since "$t")"
    { [ -e "$DATA" ] || [ -L "$DATA" ]; } && fail "$DATA still exists after stop.sh --remove"
    ok "stop.sh --remove: $T_REMOVE, data dir gone"
    bash "$HERE/stop.sh" --remove "$DATA" || fail "stop.sh --remove on a missing dir"
fi

echo "timings: fresh start $T_FRESH, stop $T_STOP, restart $T_RESTART, watchdog stop $T_WATCHDOG, restart after a crash $T_CRASH"
echo "postgres smoke test: OK"
