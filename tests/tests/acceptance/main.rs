//! Cross-crate acceptance tests against real parts (the OpenTelemetry
//! collector rotel started on 127.0.0.1, real TLS, real files, the
//! quickstart run as a process, Prometheus and Alertmanager, headless
//! Chromium), in one test binary (one link step).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod browser_harness;
mod docs_links;
mod file_replay;
mod otel_bridge;
mod otlp;
mod otlp_mtls;
mod otlp_tls;
mod prometheus_harness;
mod quickstart;
mod tls_servers;
