#!/usr/bin/env bash
# start.sh <data_dir> <port>
#
# Starts a throw-away PostgreSQL server listening only on 127.0.0.1:<port> and prints its
# connection URL on stdout (the only thing printed on stdout), e.g.
#   postgres://postgres:postgres@127.0.0.1:54321/telemetry
#
# <data_dir> missing or empty: a fresh cluster (initdb -U postgres -E UTF8 --locale=C,
#   local socket trust, 127.0.0.1 scram-sha-256), password of role postgres set, database
#   "telemetry" created.
# <data_dir> a cluster that this script created before (stopped with stop.sh, or killed):
#   started again as it is (no initdb; the database is created only if it is missing),
#   same URL. Anything else in <data_dir> is refused (exit 2).
#
# The unix socket lives in the data dir, the server log in <data_dir>/postgres.log, the
# postmaster pid in <data_dir>/postgres.pid. Waits (bounded) until the URL accepts a
# query. When run as root, the cluster belongs to and runs as an unprivileged system user
# (PG_RUN_USER, default telemetry-pg, created if missing): PostgreSQL refuses to run as
# root. If that user cannot traverse the parents of <data_dir> (a 0700 tempdir, /root),
# the cluster goes to /tmp/telemetry-pg.XXXXXX and <data_dir> becomes a symlink to it
# (stop.sh --remove deletes both). Run install.sh first.
#
# Exit: 0 started; 1 failed (port taken, already running, server did not come up: the
# log tail goes to stderr); 2 bad arguments or environment.
#
# Environment (all optional):
#   PG_PARENT_PID        a watchdog stops the server once this pid is gone
#   PG_START_TIMEOUT     seconds to wait for the server (default 30)
#   PG_MAX_CONNECTIONS   max_connections (default 300), applied on every start
#   PG_PASSWORD          password of role postgres (default postgres)      } fresh cluster
#   PG_DATABASE          database to create (default telemetry)            } only; kept
#   PG_HOST_AUTH         auth for 127.0.0.1: scram-sha-256 (default), md5,  } in the data
#                        password or trust                                  } dir after
#   PG_RUN_USER          OS user for the server when run as root (default telemetry-pg)
#   PG_BIN_DIR           PostgreSQL bin dir (default: see install.sh)
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

T0="$EPOCHREALTIME"
note() { echo "postgres/start: $*" >&2; }
bad() { note "$*"; exit 2; }
die() { note "$*"; exit 1; }

if [ "$#" -ne 2 ] || [ -z "$1" ]; then
    echo "usage: $0 <data_dir> <port>" >&2
    exit 2
fi
PORT="$2"
case "$PORT" in '' | *[!0-9]*) bad "bad port '$PORT' (a fixed port 1..65535; 0 is not accepted)" ;; esac
if [ "${#PORT}" -gt 5 ] || [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then bad "bad port '$PORT'"; fi
PORT="$((10#$PORT))"
case "$1" in *$'\n'*) bad "the data dir path contains a newline" ;; esac
DATA_DIR="$(pg_abs_path "$1")"
[ "$DATA_DIR" != / ] || bad "refusing / as data dir"

START_TIMEOUT="${PG_START_TIMEOUT:-30}"
case "$START_TIMEOUT" in '' | *[!0-9]* | 0) bad "bad PG_START_TIMEOUT '$START_TIMEOUT'" ;; esac
MAX_CONN="${PG_MAX_CONNECTIONS:-300}"
case "$MAX_CONN" in '' | *[!0-9]* | 0) bad "bad PG_MAX_CONNECTIONS '$MAX_CONN'" ;; esac
PARENT_PID="${PG_PARENT_PID:-}"
case "$PARENT_PID" in *[!0-9]*) bad "bad PG_PARENT_PID '$PARENT_PID'" ;; esac
if [ -n "$PARENT_PID" ] && ! pid_alive "$PARENT_PID"; then bad "PG_PARENT_PID $PARENT_PID is not running"; fi
HOST_AUTH="${PG_HOST_AUTH:-scram-sha-256}"
case "$HOST_AUTH" in scram-sha-256 | md5 | password | trust) ;; *) bad "bad PG_HOST_AUTH '$HOST_AUTH' (scram-sha-256, md5, password or trust)" ;; esac
NEW_PASSWORD="${PG_PASSWORD-postgres}"
NEW_DATABASE="${PG_DATABASE:-telemetry}"
case "$NEW_PASSWORD$NEW_DATABASE" in *$'\n'* | *$'\r'*) bad "PG_PASSWORD/PG_DATABASE must not contain line breaks" ;; esac
[ "${#NEW_DATABASE}" -le 63 ] || bad "PG_DATABASE is longer than 63 bytes"
SUPERUSER=postgres

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---- what is in <data_dir>? -------------------------------------------------------------
MODE=fresh
REAL=""
if [ -L "$DATA_DIR" ] && [ ! -e "$DATA_DIR" ]; then
    die "$DATA_DIR is a symlink to the missing $(readlink "$DATA_DIR") (was /tmp cleaned?); remove the symlink"
fi
if [ -e "$DATA_DIR" ]; then
    [ -d "$DATA_DIR" ] || bad "$DATA_DIR exists and is not a directory"
    REAL="$(readlink -f "$DATA_DIR")"
    if [ -f "$REAL/PG_VERSION" ] && [ -f "$REAL/$PG_INFO_NAME" ]; then
        MODE=restart
    elif [ -n "$(ls -A "$REAL")" ]; then
        bad "$DATA_DIR is neither empty nor a data dir created by this script"
    fi
fi

if [ "$MODE" = restart ]; then
    pg_read_info "$REAL/$PG_INFO_NAME" || bad "$REAL/$PG_INFO_NAME is unreadable or incomplete"
    if pg_is_root; then
        # The cluster's owner runs it, whatever PG_RUN_USER says now.
        PG_OS_USER="$(stat -c %U "$REAL")"
        [ "$PG_OS_USER" != root ] || die "$REAL belongs to root; PostgreSQL cannot run as root"
    fi
    OLD_PID="$(head -n 1 "$REAL/postmaster.pid" 2>/dev/null || true)"
    if pg_is_postmaster "$OLD_PID" "$REAL"; then
        die "a server is already running on $DATA_DIR (pid $OLD_PID); run stop.sh first"
    fi
    # Children of a postmaster that was killed (SIGKILL) keep its shared memory attached,
    # which makes the new postmaster refuse to start; they exit by themselves within moments.
    pg_reap_orphans "$REAL" || die "processes of a previous server on $DATA_DIR do not exit: $(pg_dir_pids "$REAL" | tr '\n' ' ')"
    MAJOR="$(cat "$REAL/PG_VERSION")"
    case "$MAJOR" in '' | *[!0-9.]*) bad "unexpected $REAL/PG_VERSION '$MAJOR'" ;; esac
    BIN="$(pg_find_bin_dir "$MAJOR")" || die "no PostgreSQL $MAJOR binaries (initdb, pg_ctl, postgres) for this cluster; run $PG_SCRIPTS_DIR/install.sh or set PG_BIN_DIR"
else
    BIN="$(pg_find_bin_dir "")" || die "no PostgreSQL server binaries found; run $PG_SCRIPTS_DIR/install.sh"
fi
PSQL="$(pg_psql_path "$BIN")" || die "psql not found; run $PG_SCRIPTS_DIR/install.sh"

if port_open "$PORT"; then
    die "port 127.0.0.1:$PORT is already in use"
fi

# ---- the unprivileged user (root only) ----------------------------------------------------
if pg_is_root && [ "$MODE" = fresh ]; then
    [ "$PG_OS_USER" != root ] || bad "PG_RUN_USER=root: PostgreSQL refuses to run as root"
    if ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
        command -v useradd >/dev/null 2>&1 || die "user $PG_OS_USER is missing and useradd is unavailable"
        shell=/usr/sbin/nologin
        [ -x "$shell" ] || shell=/bin/false
        note "creating system user $PG_OS_USER"
        # A concurrent start.sh may create it at the same moment: only the outcome counts.
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell "$shell" --comment "throw-away PostgreSQL for tests" "$PG_OS_USER" 2>/dev/null || true
        id -u "$PG_OS_USER" >/dev/null 2>&1 || die "could not create system user $PG_OS_USER"
    fi
fi

# ---- fresh cluster: directory, initdb ------------------------------------------------------
if [ "$MODE" = fresh ]; then
    mkdir -p "$DATA_DIR"
    REAL="$(readlink -f "$DATA_DIR")"
    if pg_is_root && ! as_pg test -x "$(dirname "$REAL")"; then
        # The server user cannot traverse a parent directory (e.g. a target dir under
        # /root). Rather than loosening permissions on the caller's directories, put the
        # cluster under /tmp and leave a symlink at <data_dir>.
        [ ! -L "$DATA_DIR" ] || die "user $PG_OS_USER cannot reach $REAL (the target of the symlink $DATA_DIR)"
        as_pg test -x /tmp || die "user $PG_OS_USER can reach neither $(dirname "$REAL") nor /tmp"
        rmdir "$DATA_DIR"
        REAL="$(mktemp -d /tmp/telemetry-pg.XXXXXX)"
        ln -s "$REAL" "$DATA_DIR"
        note "user $PG_OS_USER cannot traverse $(dirname "$DATA_DIR"): cluster placed in $REAL, $DATA_DIR is a symlink to it (stop.sh --remove deletes both)"
    fi
    if pg_is_root; then chown "$PG_OS_USER:" "$REAL"; fi
    chmod 700 "$REAL"
    INITDB_ARGS=(-D "$REAL" -U "$SUPERUSER" -E UTF8 --locale=C
        --auth-local=trust "--auth-host=$HOST_AUTH" --no-sync)
    if "$BIN/initdb" --help 2>/dev/null | grep -q -- --no-instructions; then
        INITDB_ARGS+=(--no-instructions)
    fi
    if ! initdb_out="$(as_pg "$BIN/initdb" "${INITDB_ARGS[@]}" 2>&1)"; then
        printf '%s\n' "$initdb_out" >&2
        die "initdb failed for $REAL"
    fi
    printf '%s\n' "$initdb_out" > "$REAL/initdb.log"
    printf "\n# Added by tests/postgres/start.sh: the test settings, rewritten on every start.\ninclude_if_exists = '%s'\n" \
        "$PG_CONF_NAME" >> "$REAL/postgresql.conf"
    INFO_PORT="$PORT"
    INFO_DATABASE="$NEW_DATABASE"
    INFO_SUPERUSER="$SUPERUSER"
    INFO_PASSWORD="$NEW_PASSWORD"
    INFO_SOCKET_DIR="$REAL"
    INFO_SETUP_DONE=0
fi

# ---- socket dir ---------------------------------------------------------------------------
# A unix socket path holds at most 107 bytes, and unix_socket_directories is a list (a
# comma or space would split it). Fall back to a short private dir under /tmp.
SOCK="$REAL"
sock_path="$SOCK/.s.PGSQL.$PORT"
case "$SOCK" in *[!A-Za-z0-9/._+@=-]*) sock_path="" ;; esac
if [ -z "$sock_path" ] || [ "${#sock_path}" -gt 107 ]; then
    case "$INFO_SOCKET_DIR" in
        /tmp/telemetry-pg-sock.*) SOCK="$INFO_SOCKET_DIR" ;;
        *) SOCK="" ;;
    esac
    if [ -z "$SOCK" ] || [ ! -d "$SOCK" ]; then
        SOCK="$(mktemp -d /tmp/telemetry-pg-sock.XXXXXX)"
        if pg_is_root; then chown "$PG_OS_USER:" "$SOCK"; fi
    fi
    note "socket path under $REAL would be too long or not plain: socket dir $SOCK"
fi

if [ "$MODE" = restart ]; then
    pg_clear_stale_locks "$REAL" "$SOCK"
    if [ "$INFO_SOCKET_DIR" != "$SOCK" ] && [ -d "$INFO_SOCKET_DIR" ]; then pg_clear_stale_locks "$REAL" "$INFO_SOCKET_DIR"; fi
fi

write_info() {
    {
        echo "# Written by tests/postgres/start.sh; read by stop.sh and psql.sh (never evaluated)."
        echo "PORT=$PORT"
        echo "DATABASE=$INFO_DATABASE"
        echo "SUPERUSER=$INFO_SUPERUSER"
        echo "PASSWORD=$INFO_PASSWORD"
        echo "SOCKET_DIR=$SOCK"
        echo "SETUP_DONE=$INFO_SETUP_DONE"
    } > "$REAL/$PG_INFO_NAME.tmp"
    mv -f "$REAL/$PG_INFO_NAME.tmp" "$REAL/$PG_INFO_NAME"
}
write_info

conf_quote() { printf "'%s'" "${1//\'/\'\'}"; }
{
    echo "# Written by tests/postgres/start.sh on every start; edits here are overwritten."
    echo "# For per-test changes use ALTER SYSTEM (postgresql.auto.conf is read after this file)."
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $PORT"
    echo "unix_socket_directories = $(conf_quote "$SOCK")"
    echo "unix_socket_permissions = 0700"
    echo "max_connections = $MAX_CONN"
    echo "password_encryption = 'scram-sha-256'"
    echo "logging_collector = off"
    echo "log_destination = 'stderr'"
    echo "log_line_prefix = '%m [%p] %q%u@%d '"
    echo "log_timezone = 'UTC'"
    echo "timezone = 'UTC'"
    echo "jit = off"
} > "$REAL/$PG_CONF_NAME.tmp"
mv -f "$REAL/$PG_CONF_NAME.tmp" "$REAL/$PG_CONF_NAME"
chmod 644 "$REAL/$PG_CONF_NAME"

# ---- start --------------------------------------------------------------------------------
LOG_FILE="$REAL/$PG_LOG_NAME"
PM_PID=""
OK=0
stop_started_server() {
    local pid
    pid="${PM_PID:-$(head -n 1 "$REAL/postmaster.pid" 2>/dev/null || true)}"
    pg_is_postmaster "$pid" "$REAL" || return 0
    as_pg "$BIN/pg_ctl" stop -D "$REAL" -m immediate -w -t 10 -s >/dev/null 2>&1 || true
    pg_signal_stop "$pid" "$REAL" KILL || true
}
fail() {
    note "$*"
    if [ -f "$LOG_FILE" ]; then
        echo "---- last lines of $LOG_FILE ----" >&2
        tail -n 40 "$LOG_FILE" >&2 || true
    fi
    exit 1
}
on_exit() {
    # Any failure after pg_ctl start (fail, or an unexpected error under set -e)
    # leaves no server behind.
    if [ "$OK" != 1 ]; then
        stop_started_server
        rm -f "$REAL/$PG_PID_NAME"
    fi
}
trap on_exit EXIT

# A watchdog left over from a server that died on its own: stop it.
if [ -f "$REAL/$PG_WATCHDOG_NAME" ]; then
    wd="$(cat "$REAL/$PG_WATCHDOG_NAME" 2>/dev/null || true)"
    if pid_alive "$wd" && grep -q 'postgres/start\.sh' "/proc/$wd/cmdline" 2>/dev/null; then
        kill "$wd" 2>/dev/null || true
    fi
    rm -f "$REAL/$PG_WATCHDOG_NAME"
fi

# pg_ctl starts the postmaster in its own session with stdin from /dev/null and
# stdout/stderr appended to the log, so nothing keeps this script's output open.
if ! as_pg "$BIN/pg_ctl" start -D "$REAL" -l "$LOG_FILE" -w -t "$START_TIMEOUT" -s </dev/null >&2; then
    if port_open "$PORT" && ! pg_is_postmaster "$(head -n 1 "$REAL/postmaster.pid" 2>/dev/null || true)" "$REAL"; then
        fail "pg_ctl start failed: port 127.0.0.1:$PORT was taken meanwhile"
    fi
    fail "pg_ctl start failed (it waits at most ${START_TIMEOUT}s)"
fi
PM_PID="$(head -n 1 "$REAL/postmaster.pid" 2>/dev/null || true)"
pg_is_postmaster "$PM_PID" "$REAL" || fail "pg_ctl reported success but no postmaster runs for $REAL"
echo "$PM_PID" > "$REAL/$PG_PID_NAME"

# ---- role password, database ----------------------------------------------------------------
sql() { "$PSQL" -X -q -A -t -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U "$INFO_SUPERUSER" -d postgres "$@"; }
sql_literal() { printf "'%s'" "${1//\'/\'\'}"; }
sql_ident() { printf '"%s"' "${1//\"/\"\"}"; }

if [ "$INFO_SETUP_DONE" != 1 ]; then
    # Through stdin, not argv: ps shows no password.
    printf 'ALTER ROLE %s PASSWORD %s;\n' "$(sql_ident "$INFO_SUPERUSER")" "$(sql_literal "$INFO_PASSWORD")" |
        sql -f - >&2 || fail "could not set the password of role $INFO_SUPERUSER"
fi
exists="$(sql -c "SELECT 1 FROM pg_database WHERE datname = $(sql_literal "$INFO_DATABASE")" </dev/null)" ||
    fail "could not query pg_database"
if [ "$exists" != 1 ]; then
    sql -c "CREATE DATABASE $(sql_ident "$INFO_DATABASE")" </dev/null >&2 || fail "could not create database $INFO_DATABASE"
fi
if [ "$INFO_SETUP_DONE" != 1 ]; then
    INFO_SETUP_DONE=1
    write_info
fi

# ---- the URL, checked over TCP as a client would use it ---------------------------------
pct() {
    local LC_ALL=C s="$1" out="" c i
    for ((i = 0; i < ${#s}; i++)); do
        c="${s:i:1}"
        case "$c" in
            [A-Za-z0-9._~-]) out+="$c" ;;
            *) out+="$(printf '%%%02X' "'$c")" ;;
        esac
    done
    printf '%s' "$out"
}
URL="postgres://$(pct "$INFO_SUPERUSER"):$(pct "$INFO_PASSWORD")@127.0.0.1:$PORT/$(pct "$INFO_DATABASE")"
deadline=$((SECONDS + START_TIMEOUT))
while ! check_err="$(PGCONNECT_TIMEOUT=5 "$PSQL" -X -q -A -t -c 'SELECT 1' "$URL" </dev/null 2>&1 >/dev/null)"; do
    pg_is_postmaster "$PM_PID" "$REAL" || fail "the server (pid $PM_PID) exited during startup"
    [ "$SECONDS" -lt "$deadline" ] || fail "$URL does not accept queries after ${START_TIMEOUT}s: $check_err"
    sleep 0.1
done
printf '%s\n' "$URL" > "$REAL/$PG_URL_NAME"

# ---- watchdog -------------------------------------------------------------------------------
if [ -n "$PARENT_PID" ]; then
    (
        # Survives a terminal hangup or Ctrl-C aimed at the test's process group (the
        # server, in its own session, would survive those too); stop.sh ends it with SIGTERM.
        trap '' HUP INT QUIT
        while pid_alive "$PARENT_PID" && pg_is_postmaster "$PM_PID" "$REAL"; do sleep 1; done
        if pg_is_postmaster "$PM_PID" "$REAL"; then
            pg_signal_stop "$PM_PID" "$REAL" INT || true
            rm -f "$REAL/$PG_PID_NAME"
        fi
        if [ "$(cat "$REAL/$PG_WATCHDOG_NAME" 2>/dev/null)" = "$BASHPID" ]; then rm -f "$REAL/$PG_WATCHDOG_NAME"; fi
    ) </dev/null >/dev/null 2>&1 &
    echo "$!" > "$REAL/$PG_WATCHDOG_NAME"
fi

OK=1
version="$("$BIN/postgres" --version 2>/dev/null | awk '{print $3}')"
elapsed="$(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')"
if [ "$MODE" = fresh ]; then what="new cluster"; else what="existing cluster"; fi
note "PostgreSQL $version pid $PM_PID on 127.0.0.1:$PORT as $PG_OS_USER, $what in $REAL${PARENT_PID:+, watchdog on pid $PARENT_PID} (${elapsed}s)"
printf '%s\n' "$URL"
