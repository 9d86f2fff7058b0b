#!/usr/bin/env bash
# Installs the rotel OTLP collector (PyPI package `rotel`, pinned) into the
# virtual environment tests/.venv and prints the path of the rotel-agent binary
# on stdout (the only thing printed on stdout; notes go to stderr).
# Idempotent: a second run with everything in place does no network access.
set -euo pipefail
. "$(dirname "$0")/common.sh"

note() { echo "collector/install: $*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else return 1; fi
}

apt_install() {
    # apt_install PKG...: installs Debian packages that are not already installed.
    local missing=() p
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 || { note "need ${missing[*]} but apt-get is unavailable"; return 1; }
    note "apt-get install -y ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
        { as_root apt-get update -qq >/dev/null 2>&1 && as_root apt-get install -y -qq "${missing[@]}" >/dev/null; }
}

# The wheel is cp311-only (rotel-agent links libpython3.11), so the venv must be 3.11.
is_py311() { "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' >/dev/null 2>&1; }

venv_ok() {
    [ -x "$COLLECTOR_VENV/bin/python" ] && is_py311 "$COLLECTOR_VENV/bin/python" &&
        "$COLLECTOR_VENV/bin/python" -m pip --version >/dev/null 2>&1
}

if ! venv_ok; then
    PY=""
    for cand in python3.11 python3 /usr/bin/python3.11; do
        if command -v "$cand" >/dev/null 2>&1 && is_py311 "$cand"; then PY="$cand"; break; fi
    done
    if [ -z "$PY" ]; then
        apt_install python3.11 python3.11-venv
        PY=/usr/bin/python3.11
    fi
    # Debian's own python3.11 needs python3.11-venv for ensurepip.
    if ! "$PY" -c 'import ensurepip' >/dev/null 2>&1; then
        apt_install python3.11-venv
    fi
    rm -rf "$COLLECTOR_VENV"
    note "creating venv $COLLECTOR_VENV with $("$PY" -c 'import sys; print(sys.executable)')"
    "$PY" -m venv "$COLLECTOR_VENV"
fi

installed="$("$COLLECTOR_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("rotel"))' 2>/dev/null || true)"
if [ "$installed" != "$ROTEL_VERSION" ] || ! rotel_agent_path >/dev/null; then
    note "pip install --pre rotel==$ROTEL_VERSION"
    "$COLLECTOR_VENV/bin/python" -m pip install -q --disable-pip-version-check --pre "rotel==$ROTEL_VERSION" >&2
fi

AGENT="$(rotel_agent_path)" || { note "rotel-agent not found in $COLLECTOR_VENV"; exit 1; }

if ! rotel_fix_libpython "$AGENT"; then
    # Neither the system nor the venv's Python provides libpython3.11.so.1.0.
    apt_install libpython3.11
    rotel_fix_libpython "$AGENT" || { note "rotel-agent still cannot find libpython3.11:"; ldd "$AGENT" >&2; exit 1; }
fi

"$AGENT" --version >/dev/null 2>&1 || { note "rotel-agent does not run:"; "$AGENT" --version >&2 || true; exit 1; }

printf '%s\n' "$AGENT"
