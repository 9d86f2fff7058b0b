//! The code the examples share: a small simulated checkout service,
//! instrumented with `#[derive(TelemetryEvent)]` and `#[instrument_event]`
//! ([`checkout`]). `cargo run --example quickstart` records it to files,
//! `cargo run --example catalogue` prints everything it can collect, and
//! `cargo run --example otlp --features otlp` ships it to a collector.

pub mod checkout;
