#!/usr/bin/env bash
# The whole test suite, as the README documents it and CI runs it:
# format check, clippy (all targets and features, warnings are errors),
# every test in the workspace (some against a real OpenTelemetry collector
# or a real PostgreSQL server that the tests start on 127.0.0.1), and the
# documentation build.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "install the test collector (rotel, from PyPI, into tests/.venv)"
bash tests/collector/install.sh >/dev/null

step "install Prometheus, promtool and Alertmanager (Debian packages, if missing)"
bash tests/prometheus/install.sh >/dev/null

step "install Chromium, chromedriver (Debian packages) and axe-core (npm), if missing"
bash tests/browser/install.sh >/dev/null

step "install PostgreSQL (Debian package, if missing) for the consent store's tests"
bash tests/postgres/install.sh >/dev/null

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, all features, -D warnings)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "cargo test (workspace, all features)"
cargo test --workspace --all-features

step "cargo doc (-D warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features
# And with each crate's default features: a link that resolves only when
# some feature is on must not break the docs of a default build.
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

step "all checks passed"
