# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables are used by the scripts that source this file
# Sourced by install.sh / start.sh / stop.sh / psql.sh / smoke.sh. Not meant to be run.
# Defines:
#   PG_SCRIPTS_DIR          absolute path of tests/postgres
#   PG_INFO_NAME, ...       names of the files start.sh keeps in the data dir
#   pg_find_bin_dir [major] prints the PostgreSQL server bin dir (highest version, or that major)
#   pg_bin_major <bin_dir>  prints the major version of the binaries in <bin_dir> (15, 9.6, ...)
#   pg_psql_path <bin_dir>  prints a psql binary (the one in <bin_dir> if present)
#   pg_is_root              true when running as root
#   as_pg <cmd...>          runs cmd as $PG_OS_USER when root (cwd /), else as is
#   pg_abs_path <path>      absolute path (symlinks not resolved), trailing slashes removed
#   pg_read_info <file>     sets INFO_PORT, INFO_DATABASE, INFO_SUPERUSER, INFO_PASSWORD,
#                           INFO_SOCKET_DIR, INFO_SETUP_DONE from start.sh's info file
#   pid_alive <pid>         the pid exists and is not a zombie
#   pg_is_postmaster <pid> <real_data_dir>
#                           the pid is a live postgres whose cwd is that data dir
#   pg_dir_pids <real_data_dir>
#                           live postgres processes (postmaster and children) of that data dir
#   pg_reap_orphans <real_data_dir>
#                           ends children left behind by a killed postmaster (they hold
#                           the shared memory, which blocks a restart)
#   pg_signal_stop <pid> <real_data_dir> [first_signal]
#                           SIGINT (fast shutdown), SIGQUIT (immediate), then SIGKILL to the
#                           postmaster and every process of the data dir; 0 once all are gone
#   pg_clear_stale_locks <real_data_dir> <socket_dir>
#                           removes postmaster.pid and socket lock files of a dead postmaster

PG_SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Files that start.sh writes next to PostgreSQL's own files in the data dir.
PG_INFO_NAME="telemetry-pg.info"        # port, database, password, socket dir (KEY=VALUE lines)
PG_CONF_NAME="telemetry-pg.conf"        # settings, rewritten on every start; included by postgresql.conf
PG_PID_NAME="postgres.pid"              # postmaster pid (also in PostgreSQL's postmaster.pid)
PG_WATCHDOG_NAME="postgres.watchdog.pid"
PG_LOG_NAME="postgres.log"
PG_URL_NAME="postgres.url"
PG_DEFAULT_RUN_USER="telemetry-pg"

# libpq reads PGHOST, PGPORT, PGUSER, PGPASSWORD, PGSERVICE, PGOPTIONS, PGSSLMODE, ...
# and pg_ctl reads PGDATA: a value inherited from the caller would redirect or alter
# our own client calls, so drop them all (our own variables are spelled PG_*).
for _pg_var in $(compgen -e); do
    case "$_pg_var" in
        PG_*) ;;
        PG[A-Z]*) unset "$_pg_var" ;;
    esac
done
unset _pg_var

pg_is_root() { [ "$(id -u)" = 0 ]; }

# The OS user that owns the cluster and runs initdb/pg_ctl/postgres. PostgreSQL refuses
# to run as root, so root uses an unprivileged system user; anyone else runs it as themselves.
if pg_is_root; then
    PG_OS_USER="${PG_RUN_USER:-$PG_DEFAULT_RUN_USER}"
else
    PG_OS_USER="$(id -un)"
fi

as_pg() {
    if ! pg_is_root; then
        "$@"
        return
    fi
    # cd /: the caller's cwd (e.g. /root) may not be accessible to that user.
    if command -v runuser >/dev/null 2>&1; then
        (cd / && runuser -u "$PG_OS_USER" -- "$@")
    else
        # shellcheck disable=SC2016 # $@ is expanded by the inner shell
        (cd / && su -s /bin/sh "$PG_OS_USER" -c 'exec "$@"' sh "$@")
    fi
}

pg_bin_ok() {
    [ -n "$1" ] && [ -x "$1/initdb" ] && [ -x "$1/pg_ctl" ] && [ -x "$1/postgres" ]
}

pg_bin_major() {
    # "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" -> 15; "9.6.24" -> 9.6
    local v
    v="$("$1/postgres" --version 2>/dev/null | awk '{print $3}')"
    case "$v" in
        9.*) printf '%s\n' "$(printf '%s' "$v" | cut -d. -f1,2)" ;;
        '') return 1 ;;
        *) printf '%s\n' "${v%%[!0-9]*}" ;;
    esac
}

pg_find_bin_dir() {
    local want="${1:-}" d v cands=() best p
    if [ -n "${PG_BIN_DIR:-}" ]; then
        pg_bin_ok "$PG_BIN_DIR" || return 1
        if [ -n "$want" ] && [ "$(pg_bin_major "$PG_BIN_DIR")" != "$want" ]; then return 1; fi
        printf '%s\n' "$PG_BIN_DIR"
        return 0
    fi
    # Debian/Ubuntu: one directory per major version.
    for d in /usr/lib/postgresql/*/bin; do
        v="${d#/usr/lib/postgresql/}"
        v="${v%/bin}"
        case "$v" in '' | *[!0-9.]*) continue ;; esac
        if [ -n "$want" ] && [ "$v" != "$want" ]; then continue; fi
        pg_bin_ok "$d" && cands+=("$v")
    done
    if [ "${#cands[@]}" -gt 0 ]; then
        best="$(printf '%s\n' "${cands[@]}" | sort -V | tail -n 1)"
        printf '%s\n' "/usr/lib/postgresql/$best/bin"
        return 0
    fi
    # Elsewhere (or a source build): whatever pg_ctl is on PATH, symlinks resolved.
    p="$(command -v pg_ctl 2>/dev/null || true)"
    [ -n "$p" ] || return 1
    d="$(dirname "$(readlink -f "$p")")"
    pg_bin_ok "$d" || return 1
    if [ -n "$want" ] && [ "$(pg_bin_major "$d")" != "$want" ]; then return 1; fi
    printf '%s\n' "$d"
}

pg_psql_path() {
    if [ -x "$1/psql" ]; then
        printf '%s\n' "$1/psql"
    else
        command -v psql
    fi
}

pg_abs_path() {
    local p="$1"
    case "$p" in /*) ;; *) p="$PWD/$p" ;; esac
    while [ "$p" != / ] && [ "${p%/}" != "$p" ]; do p="${p%/}"; done
    printf '%s\n' "$p"
}

pg_read_info() {
    INFO_PORT=""; INFO_DATABASE=""; INFO_SUPERUSER=""; INFO_PASSWORD=""; INFO_SOCKET_DIR=""; INFO_SETUP_DONE=""
    local line k v
    [ -r "$1" ] || return 1
    # KEY=VALUE lines, never evaluated.
    while IFS= read -r line || [ -n "$line" ]; do
        case "$line" in '#'* | '') continue ;; esac
        k="${line%%=*}"
        v="${line#*=}"
        case "$k" in
            PORT) INFO_PORT="$v" ;;
            DATABASE) INFO_DATABASE="$v" ;;
            SUPERUSER) INFO_SUPERUSER="$v" ;;
            PASSWORD) INFO_PASSWORD="$v" ;;
            SOCKET_DIR) INFO_SOCKET_DIR="$v" ;;
            SETUP_DONE) INFO_SETUP_DONE="$v" ;;
        esac
    done < "$1"
    case "$INFO_PORT" in '' | *[!0-9]*) return 1 ;; esac
    [ -n "$INFO_DATABASE" ] && [ -n "$INFO_SUPERUSER" ] && [ -n "$INFO_SOCKET_DIR" ]
}

pid_alive() {
    case "$1" in '' | *[!0-9]*) return 1 ;; esac
    kill -0 "$1" 2>/dev/null || return 1
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

pg_is_postmaster() {
    # Guards against pid reuse: the postmaster chdirs into its data directory.
    pid_alive "$1" || return 1
    [ "$(cat "/proc/$1/comm" 2>/dev/null)" = postgres ] || return 1
    [ "$(readlink "/proc/$1/cwd" 2>/dev/null)" = "$2" ]
}

pg_dir_pids() {
    # Every postgres process (the postmaster and each child) has its cwd in the data dir.
    # Each child calls setsid(), so they cannot be found through the postmaster's
    # process group. Processes of other users are invisible here unless run as root.
    local d comm
    for d in /proc/[0-9]*; do
        comm=""
        { read -r comm < "$d/comm"; } 2>/dev/null || continue
        [ "$comm" = postgres ] || continue
        [ "$(readlink "$d/cwd" 2>/dev/null)" = "$1" ] || continue
        pid_alive "${d#/proc/}" && printf '%s\n' "${d#/proc/}"
    done
    return 0
}

pg_kill_dir() {
    # pg_kill_dir <real_data_dir> <signal> <tenths of a second to wait>
    local p pids
    pids="$(pg_dir_pids "$1")"
    [ -n "$pids" ] || return 0
    for p in $pids; do kill "-$2" "$p" 2>/dev/null || true; done
    for _ in $(seq 1 "$3"); do
        [ -n "$(pg_dir_pids "$1")" ] || return 0
        sleep 0.1
    done
    [ -z "$(pg_dir_pids "$1")" ]
}

pg_reap_orphans() {
    # Children notice the postmaster's death and exit within moments; give them 2 s,
    # then SIGQUIT, then SIGKILL.
    [ -n "$(pg_dir_pids "$1")" ] || return 0
    pg_kill_dir "$1" 0 20 || pg_kill_dir "$1" QUIT 20 || pg_kill_dir "$1" KILL 50
}

pg_clear_stale_locks() {
    # PostgreSQL decides that a lock file is stale with kill(pid, 0), which succeeds for a
    # zombie: a postmaster that was SIGKILLed and not yet reaped (an init that reaps
    # lazily) blocks the restart with 'lock file "postmaster.pid" already exists'.
    local dir="$1" sock="$2" pid f
    if [ -f "$dir/postmaster.pid" ]; then
        pid="$(head -n 1 "$dir/postmaster.pid" 2>/dev/null || true)"
        pg_is_postmaster "$pid" "$dir" || rm -f "$dir/postmaster.pid"
    fi
    for f in "$sock"/.s.PGSQL.*.lock; do
        [ -f "$f" ] || continue
        pid="$(head -n 1 "$f" 2>/dev/null || true)"
        pg_is_postmaster "$pid" "$dir" || rm -f "$f"
    done
}

pg_signal_stop() {
    local pid="$1" dir="$2" first="${3:-INT}" step sig n
    for step in INT:100 QUIT:50; do
        sig="${step%%:*}"
        n="${step#*:}"
        [ "$sig" = INT ] && [ "$first" != INT ] && continue
        [ "$first" = KILL ] && continue
        pg_is_postmaster "$pid" "$dir" || break
        kill "-$sig" "$pid" 2>/dev/null || true
        for _ in $(seq 1 "$n"); do
            pg_is_postmaster "$pid" "$dir" || break
            sleep 0.1
        done
    done
    if pg_is_postmaster "$pid" "$dir"; then
        kill -KILL "$pid" 2>/dev/null || true
        pg_kill_dir "$dir" KILL 50 || true
    fi
    pg_reap_orphans "$dir" || true
    ! pg_is_postmaster "$pid" "$dir" && [ -z "$(pg_dir_pids "$dir")" ]
}
