//! The integration tests of `telemetry-core` that need no process-wide
//! state, in one test binary (one link step). The tests that install a
//! global (`tracing_instrumented.rs`) or count allocations with a global
//! allocator (`allocations.rs`) are binaries of their own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

mod architecture;
mod async_scopes;
mod concurrency;
mod config_errors;
mod consent;
mod fleet;
mod gate;
mod metrics;
mod pipeline;
mod process_metrics;
mod propagation;
mod properties;
mod traces;
mod tracing_layer;
