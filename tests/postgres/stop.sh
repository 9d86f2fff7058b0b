#!/usr/bin/env bash
# stop.sh [--remove] <data_dir>
# Stops the server that start.sh started on <data_dir>: ends the watchdog, then
# `pg_ctl stop -m fast` (≤ PG_STOP_TIMEOUT s, default 10), then `-m immediate` (≤ 5 s), then
# SIGKILL to the postmaster and every postgres process of the data dir (children left by a
# killed postmaster included). Succeeds (exit 0) when nothing is running.
# The data dir is kept, so start.sh can start the same cluster again, unless --remove is
# given: then it is deleted (with the /tmp directories start.sh may have used for it).
# A non-empty directory that start.sh did not create is left alone (exit 0, or exit 1 with
# --remove).
# Exit: 0 stopped or nothing to stop; 1 the server could not be stopped or removed;
# 2 bad arguments.
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

note() { echo "postgres/stop: $*" >&2; }
usage() { echo "usage: $0 [--remove] <data_dir>" >&2; exit 2; }

REMOVE=0
DATA_DIR=""
for arg in "$@"; do
    case "$arg" in
        --remove) REMOVE=1 ;;
        -*) usage ;;
        *) [ -z "$DATA_DIR" ] || usage; DATA_DIR="$arg" ;;
    esac
done
[ -n "$DATA_DIR" ] || usage
DATA_DIR="$(pg_abs_path "$DATA_DIR")"
[ "$DATA_DIR" != / ] || usage
STOP_TIMEOUT="${PG_STOP_TIMEOUT:-10}"
case "$STOP_TIMEOUT" in '' | *[!0-9]* | 0) note "bad PG_STOP_TIMEOUT '$STOP_TIMEOUT'"; exit 2 ;; esac

# Nothing there: nothing to do.
if [ ! -e "$DATA_DIR" ] && [ ! -L "$DATA_DIR" ]; then exit 0; fi
if [ -L "$DATA_DIR" ] && [ ! -e "$DATA_DIR" ]; then
    # Dangling symlink left by a relocated cluster whose /tmp target is gone.
    if [ "$REMOVE" = 1 ]; then rm -f "$DATA_DIR"; fi
    exit 0
fi
REAL="$(readlink -f "$DATA_DIR")"
[ -d "$REAL" ] || { note "$DATA_DIR is not a directory"; exit 1; }
if [ ! -f "$REAL/$PG_INFO_NAME" ]; then
    # Not a cluster of start.sh (or an empty dir): never stop or delete anything in it.
    if [ -n "$(ls -A "$REAL" 2>/dev/null)" ]; then
        if [ "$REMOVE" = 1 ]; then
            note "not removing $DATA_DIR: not a data dir created by start.sh"
            exit 1
        fi
        note "$DATA_DIR is not a data dir created by start.sh; nothing to stop"
        exit 0
    fi
    if [ "$REMOVE" = 1 ]; then
        rmdir -- "$REAL" 2>/dev/null || true
        if [ -L "$DATA_DIR" ]; then rm -f -- "$DATA_DIR"; fi
    fi
    exit 0
fi

WATCHDOG_FILE="$REAL/$PG_WATCHDOG_NAME"
if [ -f "$WATCHDOG_FILE" ]; then
    wd="$(cat "$WATCHDOG_FILE" 2>/dev/null || true)"
    # Only a process that still is start.sh's watchdog subshell (guards against pid reuse).
    if pid_alive "$wd" && grep -q 'postgres/start\.sh' "/proc/$wd/cmdline" 2>/dev/null; then
        kill "$wd" 2>/dev/null || true
    fi
    rm -f "$WATCHDOG_FILE"
fi

PID="$(head -n 1 "$REAL/postmaster.pid" 2>/dev/null || true)"
pg_is_postmaster "$PID" "$REAL" || PID="$(cat "$REAL/$PG_PID_NAME" 2>/dev/null || true)"
if pg_is_postmaster "$PID" "$REAL"; then
    if pg_is_root; then
        PG_OS_USER="$(stat -c %U "$REAL")"
    fi
    BIN=""
    MAJOR="$(cat "$REAL/PG_VERSION" 2>/dev/null || true)"
    case "$MAJOR" in '' | *[!0-9.]*) ;; *) BIN="$(pg_find_bin_dir "$MAJOR" || true)" ;; esac
    if [ -n "$BIN" ] && [ "$PG_OS_USER" != root ]; then
        if ! as_pg "$BIN/pg_ctl" stop -D "$REAL" -m fast -w -t "$STOP_TIMEOUT" -s </dev/null >/dev/null 2>&1; then
            note "pg_ctl stop -m fast did not stop pid $PID within ${STOP_TIMEOUT}s; trying -m immediate"
            as_pg "$BIN/pg_ctl" stop -D "$REAL" -m immediate -w -t 5 -s </dev/null >/dev/null 2>&1 || true
        fi
        # pg_ctl returns once postmaster.pid is gone; the process may take a moment more.
        for _ in $(seq 1 50); do
            pg_is_postmaster "$PID" "$REAL" || break
            sleep 0.1
        done
        if pg_is_postmaster "$PID" "$REAL"; then
            note "pid $PID still running; sending SIGKILL to it and its children"
            pg_signal_stop "$PID" "$REAL" KILL || true
        fi
    else
        # No pg_ctl (or no usable user): the same sequence by signals.
        pg_signal_stop "$PID" "$REAL" INT || true
    fi
    if pg_is_postmaster "$PID" "$REAL"; then
        note "could not stop PostgreSQL pid $PID"
        exit 1
    fi
fi
# Children of a postmaster that was killed earlier, and its stale lock files.
if ! pg_reap_orphans "$REAL"; then
    note "processes of $DATA_DIR do not exit: $(pg_dir_pids "$REAL" | tr '\n' ' ')"
    exit 1
fi
SOCK=""
if pg_read_info "$REAL/$PG_INFO_NAME" 2>/dev/null; then SOCK="$INFO_SOCKET_DIR"; fi
pg_clear_stale_locks "$REAL" "${SOCK:-$REAL}"
rm -f "$REAL/$PG_PID_NAME"

if [ "$REMOVE" = 1 ]; then
    case "$SOCK" in
        /tmp/telemetry-pg-sock.*/* | */../*) ;;
        /tmp/telemetry-pg-sock.*) rm -rf -- "$SOCK" ;;
    esac
    rm -rf -- "$REAL"
    if [ -L "$DATA_DIR" ]; then rm -f -- "$DATA_DIR"; fi
    if [ -e "$DATA_DIR" ]; then
        note "could not remove $DATA_DIR"
        exit 1
    fi
fi
exit 0
