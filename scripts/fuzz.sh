#!/usr/bin/env bash
# Fuzzes the parsers of outside input (targets in fuzz/fuzz_targets/, their
# bodies and properties in telemetry-fuzz/src/) on the nightly toolchain:
# each target runs for the given time on its corpus, then the corpus is
# minimized (cargo fuzz cmin). One target at a time.
#
#   scripts/fuzz.sh [seconds-per-target] [target...]
#
# Defaults: 600 seconds, every target. Environment:
#   FUZZ_TARGET_DIR  cargo's target directory (default fuzz/target; never
#                    the main target/, whose stable builds it would evict)
#   FUZZ_JOBS        parallel fuzzing jobs per target (default 1)
#   FUZZ_SANITIZER   address (default) or none (faster, safe code only)
#
# A crash or failed property stops that target: libFuzzer writes the input
# to fuzz/artifacts/<target>/. Minimize it (cargo +nightly fuzz tmin
# <target> <file>), fix the bug, and keep the input in
# fuzz/regressions/<target>/: `cargo test -p telemetry-fuzz` (stable)
# replays every corpus and regression file through the same functions.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

all_targets=(traceparent tracestate baggage otlp_json_line consent_file otel_env)
seconds=${1:-600}
if ! [[ $seconds =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh [seconds-per-target] [target...]" >&2
  exit 2
fi
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  if [[ ! -f fuzz/fuzz_targets/$t.rs ]]; then
    echo "unknown target '$t'; targets: ${all_targets[*]}" >&2
    exit 2
  fi
done

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "the nightly toolchain is needed: rustup toolchain install nightly" >&2
  exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$root/fuzz/target}
case $CARGO_TARGET_DIR in
  "$root/target" | "$root/target/"*)
    echo "FUZZ_TARGET_DIR must not be the main target directory" >&2
    exit 2
    ;;
esac
# The consent-file target saves real files, with fsync: keep them in memory.
if [[ -d /dev/shm && -w /dev/shm ]]; then
  export TMPDIR=/dev/shm
fi
sanitizer=${FUZZ_SANITIZER:-address}
jobs=${FUZZ_JOBS:-1}
parallel=()
if [[ $jobs -gt 1 ]]; then
  parallel=(-jobs="$jobs" -workers="$jobs")
fi

cd fuzz
failed=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "regressions/$t"
  echo "== $t: ${seconds}s"
  extra=()
  if [[ $t == otel_env ]]; then
    # Each input builds a Telemetry, whose export thread may still be
    # exiting when libFuzzer checks for leaks after the input: LeakSanitizer
    # then reports glibc's block for that thread's TLS destructors
    # (__cxa_thread_atexit_impl), not a leak of ours.
    extra=(-detect_leaks=0)
  fi
  if cargo +nightly fuzz run --debug-assertions --sanitizer "$sanitizer" "$t" "corpus/$t" \
    -- -max_total_time="$seconds" -print_final_stats=1 "${parallel[@]}" "${extra[@]}"; then
    echo "== $t: minimizing the corpus ($(find "corpus/$t" -type f | wc -l) files before)"
    cargo +nightly fuzz cmin --debug-assertions --sanitizer "$sanitizer" "$t" "corpus/$t" ${extra[@]:+-- "${extra[@]}"}
    echo "== $t: $(find "corpus/$t" -type f | wc -l) files, $(du -sh "corpus/$t" | cut -f1)"
  else
    echo "== $t: FAILED; the input is in fuzz/artifacts/$t/" >&2
    failed+=("$t")
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
