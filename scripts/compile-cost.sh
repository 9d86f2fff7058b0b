#!/usr/bin/env bash
# Compile cost of the macros: generates two crates with 200 annotated
# functions each (#[instrument_event] and #[tracing::instrument], each
# recording one argument and errors), builds their dependencies once, then
# times a clean build of each crate alone (debug, then release).
#
#   scripts/compile-cost.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out="$root/target/compile-cost"
rm -rf "$out/ours" "$out/tracing"
mkdir -p "$out"
export CARGO_TARGET_DIR="$out/target"

gen() { # name dependency-line attribute-template
  local dir="$out/$1"
  mkdir -p "$dir/src"
  cat > "$dir/Cargo.toml" <<TOML
[package]
name = "compile-cost-$1"
version = "0.0.0"
edition = "2024"
publish = false

[workspace]

[dependencies]
$2
TOML
  {
    echo '#![allow(dead_code)]'
    echo '#[derive(Debug)] pub struct E;'
    echo 'impl std::fmt::Display for E { fn fmt(&self, f: &mut std::fmt::Formatter<'"'"'_>) -> std::fmt::Result { f.write_str("e") } }'
    for i in $(seq 1 200); do
      printf "$3\n" "$i"
      echo "pub fn f$i(n: u64, s: &str) -> Result<u64, E> { if n == 0 { return Err(E); } Ok(n + s.len() as u64 + $i) }"
    done
  } > "$dir/src/lib.rs"
}

gen ours "telemetry-core = { path = \"$root/telemetry-core\" }" \
  '#[telemetry_core::instrument_event(name = "f%s", fields(n), err)]'
gen tracing 'tracing = "0.1.44"' \
  '#[tracing::instrument(skip(s), fields(f = %s), err)]'

for profile in debug release; do
  flag=""; [ "$profile" = release ] && flag="--release"
  for c in ours tracing; do
    (cd "$out/$c" && cargo build -q $flag >/dev/null 2>&1)   # dependencies
    (cd "$out/$c" && touch src/lib.rs && cargo clean -q $flag -p "compile-cost-$c" >/dev/null 2>&1 || true)
    start=$(date +%s.%N)
    (cd "$out/$c" && cargo build -q $flag)
    end=$(date +%s.%N)
    awk -v p="$profile" -v c="$c" -v s="$start" -v e="$end" 'BEGIN { printf "%-8s %-8s %6.2f s\n", p, c, e - s }'
  done
done
