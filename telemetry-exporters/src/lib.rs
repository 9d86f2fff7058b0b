//! # telemetry-exporters
//!
//! Exporters for [`telemetry_core`]: they receive batches of consented,
//! sampled and redacted records and ship them somewhere.
//!
//! - [`file::FileExporter`] (feature `file`, on by default): OTLP/JSON lines
//!   on local disk, one file series per signal, rotated by size and age,
//!   with retention. The embedded default: useful telemetry with no
//!   collector running, and files any OpenTelemetry backend can ingest
//!   later (the Collector's `otlpjsonfile` receiver, or a POST to an
//!   OTLP/HTTP endpoint with `Content-Type: application/json`).
//!
//! ```no_run
//! use telemetry_core::{Category, ConsentPolicy, KeyId, Telemetry};
//! use telemetry_exporters::file::FileExporter;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let telemetry = Telemetry::builder()
//!     .service("checkout", env!("CARGO_PKG_VERSION"))
//!     .consent(ConsentPolicy::opt_in().exempt(Category::PERFORMANCE))
//!     .hash_key(KeyId(1), std::env::var("TELEMETRY_HASH_KEY")?)
//!     .exporter(FileExporter::builder("./telemetry-out").build()?)
//!     .install()?;
//! # Ok(()) }
//! ```
//!
//! - [`otlp::OtlpExporter`] (feature `otlp`): OTLP/HTTP (protobuf or JSON)
//!   to a collector, configured from code or the standard
//!   `OTEL_EXPORTER_OTLP_*` variables, with retries and backoff.
//!
//! ## Crate features
//!
//! - `file` (default): the file exporter.
//! - `otlp`: the OTLP exporter over HTTP (protobuf or JSON).
//! - `otlp-grpc`: OTLP over gRPC as well (tonic, on a runtime the exporter
//!   owns: works whether or not the service runs tokio).
//! - `otlp-tls`: `https://` endpoints (rustls, webpki roots, and a private CA
//!   from `OTEL_EXPORTER_OTLP_CERTIFICATE`), for HTTP and gRPC.
//! - `otel-sampler`: `otel_sampler::ConsentSampler`, the consent-aware
//!   sampler as an OpenTelemetry `ShouldSample`.
//! - `console`: `console::ConsoleExporter`, readable lines on stderr for
//!   local development.
//! - `otel-bridge`: `otel_bridge`, one trace with the OpenTelemetry SDK in
//!   the same process (library spans join the current SDK span and the
//!   other way round).
//! - `prometheus`: `prometheus::PrometheusExporter`, a `/metrics` endpoint
//!   (Prometheus text format and OpenMetrics with exemplars) on its own
//!   listener or in the service's router.
//!
//! With `otlp` or `console`, [`from_env::exporters_from_env`] builds the
//! exporters `OTEL_TRACES_EXPORTER`, `OTEL_METRICS_EXPORTER` and
//! `OTEL_LOGS_EXPORTER` ask for (`otlp`, `console`, `none`).
//!
//! Every record keeps its category (`telemetry.category`), its inclusion
//! probability (`telemetry.sample.probability`) and, where it holds hashed
//! values, the hash key id (`telemetry.hash.key_id`); see [`proto`].
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "console")]
#[cfg_attr(docsrs, doc(cfg(feature = "console")))]
pub mod console;
#[cfg(feature = "file")]
#[cfg_attr(docsrs, doc(cfg(feature = "file")))]
pub mod file;
#[cfg(any(feature = "otlp", feature = "console"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "otlp", feature = "console"))))]
pub mod from_env;
#[cfg(feature = "otel-bridge")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel-bridge")))]
pub mod otel_bridge;
#[cfg(feature = "otel-sampler")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel-sampler")))]
pub mod otel_sampler;
#[cfg(feature = "otlp")]
#[cfg_attr(docsrs, doc(cfg(feature = "otlp")))]
pub mod otlp;
#[cfg(any(feature = "file", feature = "otlp"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "file", feature = "otlp"))))]
pub mod otlp_json;
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub mod prometheus;
#[cfg(any(feature = "file", feature = "otlp"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "file", feature = "otlp"))))]
pub mod proto;
#[cfg(any(feature = "file", feature = "otlp"))]
mod proto_wire;

/// The OTLP message types the exporters produce (re-exported so readers of
/// the files need no extra dependency).
#[cfg(any(feature = "file", feature = "otlp"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "file", feature = "otlp"))))]
pub use opentelemetry_proto;
