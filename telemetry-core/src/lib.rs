//! # telemetry-core
//!
//! Consent-aware instrumentation for Rust services: events, metrics and
//! traces that obey each data subject's consent *before* any value is built,
//! with every captured field classified (public, hashed with a keyed hash,
//! redacted, dropped), sampling that records its inclusion probability on
//! every record, and revocation that purges what is still buffered.
//!
//! ```
//! use telemetry_core::*;
//! use telemetry_core::testing::InMemoryExporter;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let exporter = InMemoryExporter::new();
//! let telemetry = Telemetry::builder()
//!     .service("checkout", "1.4.2")
//!     .consent(
//!         ConsentPolicy::opt_in()
//!             .require(Category::INTERACTION)
//!             .require(Category::BUSINESS)
//!             .exempt(Category::PERFORMANCE)
//!             .exempt(Category::RESOURCE),
//!     )
//!     .sampler(Sampler::per_category([(Category::PERFORMANCE, 0.1)]).keep_errors())
//!     .hash_key(KeyId(1), b"32 bytes of secret key material!")
//!     .exporter(exporter.clone())
//!     .build()?;
//!
//! telemetry.consent().grant("user-42", Category::BUSINESS)?;
//! {
//!     let _scope = telemetry.subject("user-42");
//!     telemetry
//!         .event("checkout.purchase_completed", Category::BUSINESS)
//!         .public("amount_cents", 1299u64)
//!         .hashed("email", "ada@example.com")
//!         .emit();
//! }
//! telemetry.shutdown(std::time::Duration::from_secs(5));
//! let purchase = &exporter.events_named("checkout.purchase_completed")[0];
//! assert_eq!(purchase.attributes.len(), 2);
//! assert!(!exporter.exported_json().contains("ada@example.com"));
//! # Ok(()) }
//! ```
//!
//! ## How a record travels
//!
//! 1. **The gate** (one module for every record path) — consent first: the
//!    current subject scope (or the event's own subject) gives an atomic
//!    mask of allowed categories; a record of any other category is dropped
//!    and counted before any field is read, formatted or allocated. Then
//!    enabled, sampling (per category, from the trace id, parent-based,
//!    errors kept) and a per-category rate limit. A record admitted only
//!    because its category is exempt is anonymous: no subject key, no
//!    hashed value.
//! 2. **Capture** — fields are transformed by class: hashed with keyed
//!    BLAKE3 (the record carries the key id), redacted to a marker, or
//!    dropped; strings and attribute counts are bounded by [`Limits`].
//! 3. **Queue** — a bounded lock-free queue to one export worker. A full
//!    queue drops and counts; the caller never blocks.
//! 4. **Export** — the worker batches, re-checks consent (a revocation
//!    purges what is held and makes batches in flight stale), aggregates
//!    metrics, and calls each [`Exporter`](export::Exporter) with a deadline.
//!    Nothing anyone else calls (`revoke`, `force_flush`, `shutdown`) waits
//!    for the network past its bound.
//!
//! Every drop is counted by cause ([`DropCause`]) and category, and exported
//! as the metric `telemetry.records.dropped`. The repository's
//! `docs/architecture.md` walks through the modules in this order.
//!
//! ## Modules
//!
//! The root holds what instrumenting code types. Less common items live in
//! [`consent`] (the consent handle, stores, audit), [`export`] (everything an
//! exporter author needs), [`trace`] (ids and span contexts), [`event`]
//! (event schemas), [`metrics`] (instrument builders), [`catalogue`] and
//! [`propagation`] (W3C trace and consent fields on any carrier).
//!
//! ## Crate features
//!
//! - `macros` (default): `#[instrument_event]` and `#[derive(TelemetryEvent)]`,
//!   re-exported from `telemetry-macros`.
//! - `instrument` (default): `#[instrument_event]` records. A library
//!   that depends on this crate with `default-features = false, features =
//!   ["macros"]` compiles its instrumentation out (each function exactly as
//!   written) unless the application enables `instrument`, as fastrace's
//!   `enable` works.
//! - `testing`: the `testing::InMemoryExporter`, for unit tests.
//! - `tracing`: `tracing_layer::TracingLayer`, a `tracing-subscriber`
//!   layer that records the service's `tracing` spans and events under the
//!   same consent, sampling and privacy rules; `#[instrument_event]`
//!   functions also open `tracing` spans for other layers to see.
//! - `process-metrics`: `process_metrics::ProcessMetrics`, a background
//!   collector of the process's CPU, memory, thread and file-descriptor metrics.
//! - `metrics-recorder`: `metrics_recorder::MetricsRecorder`, a recorder for
//!   the `metrics` facade (`metrics::counter!` and friends through consent
//!   and the exporters, names routed to categories by prefix).
//! - `chrono`, `time`: `TelemetryValue` for their date-time types.
//!
//! Exporters for OTLP and files live in the `telemetry-exporters` crate; W3C
//! propagation over `http::HeaderMap` in `telemetry-http`.

#![cfg_attr(docsrs, feature(doc_cfg))]

// The handle and how it is built.
mod builder;
mod instance;
mod owned_cell;
mod telemetry;

// The record path, in order: the subject and context a record is made in,
// the gate, sampling, privacy, the pipeline, and what exporters receive.
pub mod consent;
pub mod export;
mod pipeline;
mod privacy;
mod sampler;
mod subject;

// What users record.
pub mod catalogue;
mod category;
mod clock;
mod error;
pub mod event;
pub mod metrics;
#[cfg(feature = "metrics-recorder")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics-recorder")))]
pub mod metrics_recorder;
pub mod panic_hook;
pub mod trace;
mod value;

// The library watching itself.
mod health;

// Integrations, one feature each.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "process-metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "process-metrics")))]
pub mod process_metrics;
pub mod propagation;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub mod tracing_layer;

// What generated code calls.
mod macro_support;
#[doc(hidden)]
pub mod __private {
    pub use crate::macro_support::*;
}

pub use builder::{Environment, TelemetryBuilder};
pub use category::{Category, CategorySet};
pub use consent::policy::ConsentPolicy;
pub use error::{ConfigError, ConfigErrorKind, ConsentError};
pub use event::builder::EventBuilder;
pub use event::schema::TelemetryEvent;
pub use export::records::{Severity, SpanKind};
pub use health::{DropCause, DropCounts};
pub use metrics::instrument::{Counter, FloatCounter, Gauge, Histogram, UpDownCounter};
pub use pipeline::{ShutdownReport, TelemetryStats};
pub use privacy::{FieldClass, KeyId, Limits};
pub use sampler::Sampler;
pub use subject::context::Context;
pub use subject::future::FutureExt;
pub use subject::id::SubjectId;
pub use telemetry::Telemetry;
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use telemetry_macros::{TelemetryEvent, TelemetryValue, instrument_event};
pub use trace::span::Span;
pub use value::{FieldType, Seq, TelemetryValue, Value};

/// Sequences and maps recorded as values (OTLP arrays and key-value
/// lists): the element trait, the borrowed form and the size limit. A
/// slice is recorded as [`Seq`]; `Vec`, arrays and maps are values as
/// they are.
pub mod list {
    pub use crate::value::{ListElement, ListRef, MAX_LIST_LEN, ValueList};
}

/// The guards and adapters that keep a subject, a span or an instance
/// current, as the methods that make them return them. Hold a guard only
/// where no `.await` follows; across `.await`, use the future adapters
/// ([`Telemetry::in_subject`], [`FutureExt`]).
pub mod scope {
    pub use crate::subject::context::{ContextGuard, SuppressGuard};
    pub use crate::subject::future::WithContext;
    pub use crate::telemetry::DefaultGuard;
    pub use crate::trace::span::Entered;
}
