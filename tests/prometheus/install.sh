#!/usr/bin/env bash
# Makes sure prometheus, promtool and alertmanager are available and prints their paths on
# stdout, one KEY=PATH line each (the only thing printed on stdout; notes go to stderr):
#   PROMETHEUS=/usr/bin/prometheus
#   PROMTOOL=/usr/bin/promtool
#   ALERTMANAGER=/usr/bin/prometheus-alertmanager
# PROMETHEUS_BIN, PROMTOOL_BIN and ALERTMANAGER_BIN override the search (nothing is
# installed for them then). Anything missing is installed from Debian with
# `apt-get install -y --no-install-recommends prometheus prometheus-alertmanager` (after
# `apt-get update` if that fails), as root or through `sudo -n` (never prompts).
#
# The packages' maintainer scripts would start system services (prometheus on :9090,
# alertmanager on :9093 and :9094, and node-exporter on :9100 if it came along). During
# the install a /usr/sbin/policy-rc.d that exits 101 forbids that (an existing one is put
# back afterwards); daemons that appear anyway are stopped, and with systemd the units are
# stopped and disabled. The tests never use those ports: they run the binaries themselves
# on free ports of 127.0.0.1.
#
# Idempotent: with the binaries present it does no network access and needs no root
# (~10-50 ms). Concurrent runs wait for each other (flock).
# Exit: 0 ok; 1 not installed and not installable; 2 bad arguments.
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

note() { echo "prometheus/install: $*" >&2; }

as_root() {
    if prom_is_root; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"; else return 1; fi
}

if [ "$#" -ne 0 ]; then
    echo "usage: $0" >&2
    exit 2
fi

all_found() {
    PROMETHEUS="$(prom_find prometheus)" && PROMTOOL="$(prom_find promtool)" &&
        ALERTMANAGER="$(prom_find alertmanager)"
}

print_paths() {
    local name path
    for name in PROMETHEUS PROMTOOL ALERTMANAGER; do
        path="${!name}"
        prom_bin_runs "$path" || { note "$path does not run:"; "$path" --version >&2 || true; exit 1; }
    done
    printf 'PROMETHEUS=%s\nPROMTOOL=%s\nALERTMANAGER=%s\n' "$PROMETHEUS" "$PROMTOOL" "$ALERTMANAGER"
}

# Fast path: everything there, no lock, no root, no network.
if all_found; then
    print_paths
    exit 0
fi

for v in PROMETHEUS_BIN PROMTOOL_BIN ALERTMANAGER_BIN; do
    if [ -n "${!v:-}" ] && [ ! -x "${!v}" ]; then
        note "$v=${!v} is not an executable file"
        exit 1
    fi
done

# Several tests may call this at once on a fresh machine: one installs, the others wait
# (dpkg's own lock would make them fail instead).
LOCK="${TMPDIR:-/tmp}/telemetry-prometheus-install.lock"
# (Best effort: a lock file of another user that we may not open is skipped.)
if command -v flock >/dev/null 2>&1 && { [ -w "$LOCK" ] || [ ! -e "$LOCK" ]; }; then
    exec 9>>"$LOCK"
    flock -w 600 9 || { note "waited 600 s for $LOCK"; exit 1; }
    if all_found; then
        print_paths
        exit 0
    fi
fi

command -v apt-get >/dev/null 2>&1 || {
    note "prometheus, promtool or alertmanager missing and apt-get is unavailable; install them or set PROMETHEUS_BIN, PROMTOOL_BIN, ALERTMANAGER_BIN"
    exit 1
}
if ! prom_is_root && ! command -v sudo >/dev/null 2>&1; then
    note "prometheus, promtool or alertmanager missing; installing needs root (no sudo here): apt-get install -y --no-install-recommends ${PROM_PACKAGES[*]}"
    exit 1
fi
as_root true || { note "installing needs root, and sudo -n does not work without a password"; exit 1; }

# `dpkg -s` also succeeds for a removed package whose conffiles are left.
pkg_installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
MISSING=()
for p in "${PROM_PACKAGES[@]}"; do
    pkg_installed "$p" || MISSING+=("$p")
done
REINSTALL=()
if [ "${#MISSING[@]}" -eq 0 ]; then
    # Installed, yet a binary is missing (removed by hand?): reinstall both.
    MISSING=("${PROM_PACKAGES[@]}")
    REINSTALL=(--reinstall)
fi
# The services this install may bring: those of the packages installed now (node-exporter
# only comes with the Recommends, which are not installed, or from an unusual apt config).
UNITS=()
for p in "${MISSING[@]}"; do UNITS+=("$p.service"); done
pkg_installed prometheus-node-exporter || UNITS+=(prometheus-node-exporter.service)

# ---- no services during the install ---------------------------------------------------------
POLICY=/usr/sbin/policy-rc.d
POLICY_MARK="Written by tests/prometheus/install.sh"
POLICY_BACKUP="$POLICY.telemetry-prometheus-backup"
POLICY_STATE=none # none: nothing to undo; ours: ours written where there was none; moved: the old one is in the backup

# Left over by a run that was killed (SIGKILL) in the middle: undo it first.
if [ -f "$POLICY" ] && grep -q "$POLICY_MARK" "$POLICY" 2>/dev/null; then
    if [ -e "$POLICY_BACKUP" ]; then
        as_root mv -f "$POLICY_BACKUP" "$POLICY" || { note "could not restore $POLICY from $POLICY_BACKUP"; exit 1; }
    else
        as_root rm -f "$POLICY" || { note "could not remove a stale $POLICY"; exit 1; }
    fi
elif [ -e "$POLICY_BACKUP" ]; then
    note "$POLICY_BACKUP is left over from an earlier run, but $POLICY is not ours; leaving both alone"
    exit 1
fi

BEFORE_PIDS=" $(prom_daemon_pids | tr '\n' ' ')"
SYSTEMD=0
[ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 && SYSTEMD=1
ACTIVE_BEFORE=" "
if [ "$SYSTEMD" = 1 ]; then
    for u in "${UNITS[@]}"; do
        if systemctl is-active --quiet "$u" 2>/dev/null; then ACTIVE_BEFORE+="$u "; fi
    done
fi

restore_policy() {
    case "$POLICY_STATE" in
        ours) as_root rm -f "$POLICY" || note "could not remove $POLICY" ;;
        moved) as_root mv -f "$POLICY_BACKUP" "$POLICY" || note "could not restore $POLICY from $POLICY_BACKUP" ;;
    esac
    POLICY_STATE=none
}
trap restore_policy EXIT
trap 'exit 130' INT TERM HUP

if [ -e "$POLICY" ] || [ -L "$POLICY" ]; then
    as_root mv -f "$POLICY" "$POLICY_BACKUP" || { note "could not move $POLICY aside"; exit 1; }
    POLICY_STATE=moved
else
    POLICY_STATE=ours
fi
# invoke-rc.d and deb-systemd-invoke ask this script first; 101 = action forbidden.
printf '#!/bin/sh\n# %s for the duration of an install.\nexit 101\n' "$POLICY_MARK" |
    as_root tee "$POLICY" >/dev/null || { note "could not write $POLICY"; exit 1; }
as_root chmod 755 "$POLICY" || { note "could not chmod $POLICY"; exit 1; }

# ---- install --------------------------------------------------------------------------------
apt_install() {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${REINSTALL[@]}" "$@"
}
note "apt-get install -y --no-install-recommends ${REINSTALL[*]:+${REINSTALL[*]} }${MISSING[*]}"
if ! apt_install "${MISSING[@]}" >/dev/null 2>&1; then
    note "install failed; apt-get update and retry"
    as_root apt-get update -qq >&2 || { note "apt-get update failed"; exit 1; }
    apt_install "${MISSING[@]}" >&2 || { note "apt-get install ${MISSING[*]} failed"; exit 1; }
fi
restore_policy

# ---- whatever started anyway is stopped ---------------------------------------------------
if [ "$SYSTEMD" = 1 ]; then
    for u in "${UNITS[@]}"; do
        systemctl cat "$u" >/dev/null 2>&1 || continue
        case "$ACTIVE_BEFORE" in *" $u "*) continue ;; esac
        # Enabled by the postinst for the next boot: not wanted on a test machine either.
        as_root systemctl disable --now --quiet "$u" >/dev/null 2>&1 || note "could not stop/disable $u"
    done
fi
new_daemons() {
    local pid
    for pid in $(prom_daemon_pids); do
        case "$BEFORE_PIDS " in *" $pid "*) ;; *) printf '%s ' "$pid" ;; esac
    done
}
NEW="$(new_daemons)"
if [ -n "$NEW" ]; then
    note "stopping daemons that the packages started: $NEW"
    # shellcheck disable=SC2086 # a list of pids
    as_root kill $NEW 2>/dev/null || true
    for _ in $(seq 1 50); do
        NEW="$(new_daemons)"
        [ -n "$NEW" ] || break
        sleep 0.1
    done
    # shellcheck disable=SC2086 # a list of pids
    if [ -n "$NEW" ]; then as_root kill -KILL $NEW 2>/dev/null || true; fi
fi

all_found || { note "${MISSING[*]} installed, but prometheus, promtool or alertmanager is still not found"; exit 1; }
print_paths
