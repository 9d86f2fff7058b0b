#!/usr/bin/env bash
# Makes sure headless Chromium, its WebDriver server and axe-core are available and prints
# their paths on stdout, one KEY=PATH line each (the only thing printed on stdout; notes go
# to stderr):
#   CHROMIUM=/usr/bin/chromium
#   CHROMEDRIVER=/usr/bin/chromedriver
#   AXE=<this directory>/node_modules/axe-core/axe.min.js
# CHROMIUM_BIN and CHROMEDRIVER_BIN override the search (nothing is installed for them
# then). Missing browser binaries are installed from Debian with
# `apt-get install -y --no-install-recommends chromium chromium-driver` (after
# `apt-get update` if that fails), as root or through `sudo -n` (never prompts); apt waits
# up to 600 s for dpkg's lock (another install may be running). axe-core comes from the npm
# registry with `npm ci` from the checked-in package.json + package-lock.json (the version
# is pinned there); npm itself, if missing, from Debian (`nodejs npm`).
#
# Idempotent: with everything present it does no network access and needs no root
# (~0.1 s). Concurrent runs wait for each other (flock).
# Exit: 0 ok; 1 not installed and not installable; 2 bad arguments.
set -euo pipefail

DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PACKAGES=(chromium chromium-driver)
AXE="$DIR/node_modules/axe-core/axe.min.js"
APT_LOCK_TIMEOUT=600

note() { echo "browser/install: $*" >&2; }
is_root() { [ "$(id -u)" = 0 ]; }
as_root() {
    if is_root; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"; else return 1; fi
}

if [ "$#" -ne 0 ]; then
    echo "usage: $0" >&2
    exit 2
fi

for v in CHROMIUM_BIN CHROMEDRIVER_BIN; do
    if [ -n "${!v:-}" ] && [ ! -x "${!v}" ]; then
        note "$v=${!v} is not an executable file"
        exit 1
    fi
done

# The dpkg status of a package: "install ok installed" once it is fully there;
# "install ok unpacked" / "half-configured" while an install is under way.
pkg_status() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true; }
pkg_installed() { case "$(pkg_status "$1")" in *" ok installed") return 0 ;; *) return 1 ;; esac; }

# find_bin <override> <name> <package>: the override, else <name> from PATH. A binary of
# the Debian package must belong to a fully installed package: one that is being
# unpacked or configured right now by another apt run does not count yet.
find_bin() {
    local override="$1" name="$2" pkg="$3" p
    if [ -n "$override" ]; then
        [ -x "$override" ] || return 1
        printf '%s\n' "$override"
        return 0
    fi
    p="$(command -v "$name" 2>/dev/null || true)"
    case "$p" in /*) [ -x "$p" ] || return 1 ;; *) return 1 ;; esac
    if [ "$p" = "/usr/bin/$name" ] && command -v dpkg-query >/dev/null 2>&1 &&
        [ -n "$(pkg_status "$pkg")" ]; then
        pkg_installed "$pkg" || return 1
    fi
    printf '%s\n' "$p"
}

browser_found() {
    CHROMIUM="$(find_bin "${CHROMIUM_BIN:-}" chromium chromium)" &&
        CHROMEDRIVER="$(find_bin "${CHROMEDRIVER_BIN:-}" chromedriver chromium-driver)"
}

# The version pinned in package-lock.json and the installed one must agree.
json_version() { sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$1" 2>/dev/null | head -n 1; }
locked_axe() {
    # The first "version" after the "node_modules/axe-core" key.
    sed -n '/"node_modules\/axe-core"/,/"version"/{s/.*"version": *"\([^"]*\)".*/\1/p}' \
        "$DIR/package-lock.json" 2>/dev/null | head -n 1
}
axe_found() {
    [ -s "$AXE" ] || return 1
    local want have
    want="$(locked_axe)"
    have="$(json_version "$DIR/node_modules/axe-core/package.json")"
    [ -n "$want" ] && [ "$want" = "$have" ]
}

print_paths() {
    "$CHROMIUM" --version >/dev/null 2>&1 || { note "$CHROMIUM does not run:"; "$CHROMIUM" --version >&2 || true; exit 1; }
    "$CHROMEDRIVER" --version >/dev/null 2>&1 || { note "$CHROMEDRIVER does not run:"; "$CHROMEDRIVER" --version >&2 || true; exit 1; }
    printf 'CHROMIUM=%s\nCHROMEDRIVER=%s\nAXE=%s\n' "$CHROMIUM" "$CHROMEDRIVER" "$AXE"
}

# Fast path: everything there, no lock, no root, no network.
if browser_found && axe_found; then
    print_paths
    exit 0
fi

# Several tests may call this at once on a fresh machine: one installs, the others wait.
LOCK="${TMPDIR:-/tmp}/telemetry-browser-install.lock"
# (Best effort: a lock file of another user that we may not open is skipped.)
if command -v flock >/dev/null 2>&1 && { [ -w "$LOCK" ] || [ ! -e "$LOCK" ]; }; then
    exec 9>>"$LOCK"
    flock -w 900 9 || { note "waited 900 s for $LOCK"; exit 1; }
    if browser_found && axe_found; then
        print_paths
        exit 0
    fi
fi

apt_ready() {
    command -v apt-get >/dev/null 2>&1 || {
        note "$1 missing and apt-get is unavailable; $2"
        return 1
    }
    if ! is_root && ! command -v sudo >/dev/null 2>&1; then
        note "$1 missing; installing needs root (no sudo here): apt-get install -y --no-install-recommends $3"
        return 1
    fi
    as_root true || { note "installing $1 needs root, and sudo -n does not work without a password"; return 1; }
}

# apt_install [--reinstall] <package>...: waits for dpkg's lock (a running install
# finishes first), runs `apt-get update` and retries once if the install fails.
apt_install() {
    local run=(as_root env DEBIAN_FRONTEND=noninteractive apt-get -o "DPkg::Lock::Timeout=$APT_LOCK_TIMEOUT"
        install -y -qq --no-install-recommends
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    note "apt-get install -y --no-install-recommends $* (waits up to ${APT_LOCK_TIMEOUT} s for dpkg's lock)"
    if ! "${run[@]}" "$@" >/dev/null 2>&1; then
        note "install failed; apt-get update and retry"
        as_root apt-get -o "DPkg::Lock::Timeout=$APT_LOCK_TIMEOUT" update -qq >&2 || { note "apt-get update failed"; return 1; }
        "${run[@]}" "$@" >&2 || { note "apt-get install $* failed"; return 1; }
    fi
}

# ---- chromium, chromedriver (Debian) ----------------------------------------------------------
if ! browser_found; then
    apt_ready "chromium or chromedriver" "install them or set CHROMIUM_BIN, CHROMEDRIVER_BIN" "${PACKAGES[*]}" || exit 1
    MISSING=()
    for p in "${PACKAGES[@]}"; do
        pkg_installed "$p" || MISSING+=("$p")
    done
    # A package being unpacked or configured by another apt run counts as missing: apt
    # waits for that run's lock, then finds it installed and does nothing.
    REINSTALL=()
    if [ "${#MISSING[@]}" -eq 0 ]; then
        # Installed, yet a binary is missing (removed by hand?): reinstall both.
        MISSING=("${PACKAGES[@]}")
        REINSTALL=(--reinstall)
    fi
    apt_install "${REINSTALL[@]}" "${MISSING[@]}" || exit 1
    browser_found || { note "${MISSING[*]} installed, but chromium or chromedriver is still not found"; exit 1; }
fi

# ---- axe-core (npm registry) ------------------------------------------------------------------
if ! axe_found; then
    if ! command -v npm >/dev/null 2>&1; then
        apt_ready npm "install Node.js with npm" "nodejs npm" || exit 1
        apt_install nodejs npm || exit 1
        command -v npm >/dev/null 2>&1 || { note "nodejs and npm installed, but npm is still not found"; exit 1; }
    fi
    note "npm ci in $DIR (axe-core $(locked_axe))"
    (cd "$DIR" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2) ||
        { note "npm ci in $DIR failed"; exit 1; }
    axe_found || { note "npm ci ran, but $AXE is missing or not the version of package-lock.json"; exit 1; }
fi

print_paths
