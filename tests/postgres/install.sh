#!/usr/bin/env bash
# Makes sure the PostgreSQL server binaries (initdb, pg_ctl, postgres) and psql are
# available and prints their directory on stdout (the only thing printed on stdout;
# notes go to stderr). Prefers Debian's /usr/lib/postgresql/<major>/bin, highest major
# first; PG_BIN_DIR overrides the search. When nothing is found and apt-get exists, runs
# `apt-get install -y --no-install-recommends postgresql` (after `apt-get update` if that
# fails), as root or through `sudo -n` (never prompts for a password).
# Idempotent: with the binaries present it does no network access (~20-100 ms).
# Exit: 0 ok; 1 not installed and not installable; 2 bad arguments.
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

note() { echo "postgres/install: $*" >&2; }

as_root() {
    if pg_is_root; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"; else return 1; fi
}

if [ "$#" -ne 0 ]; then
    echo "usage: $0" >&2
    exit 2
fi

if ! BIN="$(pg_find_bin_dir "")"; then
    if [ -n "${PG_BIN_DIR:-}" ]; then
        note "PG_BIN_DIR=$PG_BIN_DIR does not contain initdb, pg_ctl and postgres"
        exit 1
    fi
    command -v apt-get >/dev/null 2>&1 || { note "no PostgreSQL server binaries found and apt-get is unavailable; install PostgreSQL (initdb, pg_ctl, postgres) or set PG_BIN_DIR"; exit 1; }
    if ! pg_is_root && ! command -v sudo >/dev/null 2>&1; then
        note "no PostgreSQL server binaries found; installing needs root (no sudo here): apt-get install -y --no-install-recommends postgresql"
        exit 1
    fi
    note "apt-get install -y --no-install-recommends postgresql"
    # Debian's package also creates and starts its own cluster "main" on port 5432;
    # these scripts never use it.
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null 2>&1; then
        note "install failed; apt-get update and retry"
        as_root apt-get update -qq >&2 || { note "apt-get update failed"; exit 1; }
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2 || { note "apt-get install postgresql failed"; exit 1; }
    fi
    BIN="$(pg_find_bin_dir "")" || { note "postgresql installed, but no directory with initdb, pg_ctl and postgres found"; exit 1; }
fi

"$BIN/postgres" --version >/dev/null 2>&1 || { note "$BIN/postgres does not run:"; "$BIN/postgres" --version >&2 || true; exit 1; }
if ! pg_psql_path "$BIN" >/dev/null; then
    # The server package depends on the client; this only happens with a partial install.
    if command -v apt-get >/dev/null 2>&1 && { pg_is_root || command -v sudo >/dev/null 2>&1; }; then
        note "psql missing; apt-get install -y --no-install-recommends postgresql-client"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-client >&2 || true
    fi
    pg_psql_path "$BIN" >/dev/null || { note "psql not found (neither in $BIN nor on PATH)"; exit 1; }
fi

printf '%s\n' "$BIN"
