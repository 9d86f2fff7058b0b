# Sourced by install.sh / start.sh / stop.sh / smoke.sh. Not meant to be run.
# Defines:
#   COLLECTOR_DIR   absolute path of tests/collector
#   COLLECTOR_VENV  absolute path of the virtual environment (tests/.venv)
#   ROTEL_VERSION   the pinned PyPI version of rotel
#   rotel_agent_path     prints the rotel-agent binary path (empty if not installed)
#   rotel_fix_libpython  exports LD_LIBRARY_PATH if rotel-agent cannot find libpython3.11

COLLECTOR_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
COLLECTOR_VENV="${COLLECTOR_VENV:-$(cd "$COLLECTOR_DIR/.." && pwd)/.venv}"
ROTEL_VERSION="0.0.1a15"

rotel_agent_path() {
    # The wheel ships the Rust binary inside the package directory:
    #   <venv>/lib/python3.11/site-packages/rotel/rotel-agent
    local p
    for p in "$COLLECTOR_VENV"/lib/python3*/site-packages/rotel/rotel-agent; do
        if [ -x "$p" ]; then
            printf '%s\n' "$p"
            return 0
        fi
    done
    return 1
}

# rotel-agent is dynamically linked against libpython3.11.so.1.0. Debian's
# libpython3.11 package provides it in the default search path; otherwise use
# the shared library of the Python that built the venv (pyenv builds with
# --enable-shared put it in <prefix>/lib).
rotel_fix_libpython() {
    local agent="$1"
    if ! ldd "$agent" 2>/dev/null | grep -q 'libpython.*not found'; then
        return 0
    fi
    local libdir
    libdir="$("$COLLECTOR_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR") or "")' 2>/dev/null || true)"
    if [ -n "$libdir" ] && [ -e "$libdir/libpython3.11.so.1.0" ]; then
        export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    fi
    if ldd "$agent" 2>/dev/null | grep -q 'libpython.*not found'; then
        return 1
    fi
    return 0
}
