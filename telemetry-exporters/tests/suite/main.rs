//! The integration tests of `telemetry-exporters`, in one test binary (one
//! link step). `file_permissions.rs` is a binary of its own: it sets the
//! process umask.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod file;
mod file_fidelity;
mod file_protobuf;
mod file_reader;
mod otel_bridge;
mod otel_sampler;
mod prometheus;
