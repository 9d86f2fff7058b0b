#!/usr/bin/env bash
# psql.sh <data_dir> [psql args...]
# Runs psql against the server that start.sh started on <data_dir>: over its unix socket
# (trust), as the superuser postgres, database telemetry, with -X (no ~/.psqlrc) and
# ON_ERROR_STOP=1 (a failing statement: exit 1 with -c, 3 with -f or stdin). psql's own
# options override those defaults, e.g. -U limited or -d postgres. Runs as the calling
# user (root reaches the socket in the server user's data dir), so -f can read the
# caller's files. Examples:
#   psql.sh "$dir" -c "CREATE ROLE limited LOGIN PASSWORD 'x'"
#   psql.sh "$dir" -At -c 'SELECT count(*) FROM events'
#   psql.sh "$dir" -U limited -c 'SELECT current_user'
# Exit: psql's (0 ok, 1 error, 2 connection failed, 3 error in a -f/stdin script); 2 also
# for bad arguments or when <data_dir> is no data dir created by start.sh.
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

if [ "$#" -lt 1 ] || [ -z "$1" ]; then
    echo "usage: $0 <data_dir> [psql args...]" >&2
    exit 2
fi
DATA_DIR="$(pg_abs_path "$1")"
shift
REAL="$(readlink -f "$DATA_DIR" 2>/dev/null || true)"
if [ -z "$REAL" ] || ! pg_read_info "$REAL/$PG_INFO_NAME"; then
    echo "postgres/psql: $DATA_DIR is not a data dir created by start.sh" >&2
    exit 2
fi

PSQL=""
MAJOR="$(cat "$REAL/PG_VERSION" 2>/dev/null || true)"
case "$MAJOR" in '' | *[!0-9.]*) ;; *) BIN="$(pg_find_bin_dir "$MAJOR" || true)"; [ -z "$BIN" ] || PSQL="$(pg_psql_path "$BIN" || true)" ;; esac
[ -n "$PSQL" ] || PSQL="$(command -v psql || true)"
[ -n "$PSQL" ] || { echo "postgres/psql: psql not found; run install.sh" >&2; exit 2; }

# Defaults through libpq's environment, so that options in "$@" take precedence.
export PGHOST="$INFO_SOCKET_DIR" PGPORT="$INFO_PORT" PGUSER="$INFO_SUPERUSER" PGDATABASE="$INFO_DATABASE"
exec "$PSQL" -X -v ON_ERROR_STOP=1 "$@"
