//! # telemetry-fuzz
//!
//! The bodies of the fuzz targets for every parser in this workspace that
//! takes outside input: W3C `traceparent`, `tracestate` and `baggage` (with
//! its consent member), the OTLP/JSON line reader, the consent file and the
//! `OTEL_*` environment.
//!
//! Each `pub fn <target>(data: &[u8])` runs one parser on `data` and checks
//! properties beyond "no panic" (round trips, our own output accepted by our
//! own parser, incoming consent never widening), panicking when one fails:
//! that is what the fuzzer detects. The same functions serve twice:
//!
//! - `fuzz/fuzz_targets/<target>.rs` (cargo-fuzz, nightly) calls them with
//!   generated inputs: `scripts/fuzz.sh [seconds] [target...]`;
//! - `tests/replay.rs` (stable, `cargo test -p telemetry-fuzz`) calls them
//!   with every file of `fuzz/corpus/<target>/` and
//!   `fuzz/regressions/<target>/`, so a fixed crash stays fixed in CI.
//!
//! Private parsers are reached through `telemetry_core::fuzzing`, which the
//! internal `fuzzing` feature of `telemetry-core` enables; it is not a
//! public API. Not published.

mod baggage;
mod consent_file;
mod input;
mod names;
mod otel_env;
mod otlp_json_line;
mod traceparent;
mod tracestate;

pub use baggage::baggage;
pub use consent_file::consent_file;
pub use otel_env::otel_env;
pub use otlp_json_line::otlp_json_line;
pub use traceparent::traceparent;
pub use tracestate::tracestate;

/// A fuzz target: runs one parser on the input, panics if a property fails.
pub type Target = fn(&[u8]);

/// Every target by name, as `fuzz/fuzz_targets/` and the corpus folders
/// name them.
pub const TARGETS: [(&str, Target); 6] = [
    ("traceparent", traceparent),
    ("tracestate", tracestate),
    ("baggage", baggage),
    ("otlp_json_line", otlp_json_line),
    ("consent_file", consent_file),
    ("otel_env", otel_env),
];
