# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables are used by the scripts that source this file
# Sourced by install.sh. Not meant to be run.
# Defines:
#   PROM_SCRIPTS_DIR        absolute path of tests/prometheus
#   PROM_PACKAGES           the Debian packages: prometheus, prometheus-alertmanager
#   PROM_DAEMON_BINS        the daemons those packages (and node-exporter, a Recommends)
#                           start as system services
#   prom_is_root            true when running as root
#   prom_find <name>        prints the path of prometheus, promtool or alertmanager:
#                           $PROMETHEUS_BIN / $PROMTOOL_BIN / $ALERTMANAGER_BIN when set
#                           (must be executable), else from PATH (alertmanager: Debian's
#                           prometheus-alertmanager first, then alertmanager)
#   prom_bin_runs <path>    the binary runs (`--version` exits 0)
#   prom_daemon_pids        live processes of user prometheus running one of
#                           PROM_DAEMON_BINS: the system services (a test's own process
#                           runs as the test's user; callers also compare before/after)

PROM_SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROM_PACKAGES=(prometheus prometheus-alertmanager)
PROM_DAEMON_BINS=(/usr/bin/prometheus /usr/bin/prometheus-alertmanager /usr/bin/prometheus-node-exporter)

prom_is_root() { [ "$(id -u)" = 0 ]; }

prom_find() {
    local override="" cand p
    case "$1" in
        prometheus) override="${PROMETHEUS_BIN:-}"; cand=(prometheus) ;;
        promtool) override="${PROMTOOL_BIN:-}"; cand=(promtool) ;;
        alertmanager) override="${ALERTMANAGER_BIN:-}"; cand=(prometheus-alertmanager alertmanager) ;;
        *) return 2 ;;
    esac
    if [ -n "$override" ]; then
        [ -x "$override" ] || return 1
        printf '%s\n' "$override"
        return 0
    fi
    for p in "${cand[@]}"; do
        p="$(command -v "$p" 2>/dev/null || true)"
        case "$p" in /*) [ -x "$p" ] && { printf '%s\n' "$p"; return 0; } ;; esac
    done
    return 1
}

prom_bin_runs() { "$1" --version >/dev/null 2>&1; }

prom_daemon_pids() {
    # argv[0] from /proc/<pid>/cmdline (readable for every user, unlike the exe link) and
    # the owner: Debian's units and init scripts run the daemons as user prometheus.
    local d argv0 b
    for d in /proc/[0-9]*; do
        argv0="$(tr '\0' '\n' < "$d/cmdline" 2>/dev/null | head -n 1 || true)"
        [ -n "$argv0" ] || continue
        for b in "${PROM_DAEMON_BINS[@]}"; do
            if [ "$argv0" = "$b" ] || [ "$argv0" = "${b##*/}" ]; then
                [ "$(stat -c %U "$d" 2>/dev/null)" = prometheus ] && printf '%s\n' "${d#/proc/}"
                break
            fi
        done
    done
    return 0
}
