//! Telemetry for the service: consent policy, OTLP exporter, the `tracing`
//! layer beside a console `fmt` layer, and process metrics.

use std::time::Duration;

use telemetry_core::process_metrics::ProcessMetrics;
use telemetry_core::tracing_layer::TracingLayer;
use telemetry_core::{Category, ConsentPolicy, FieldClass, KeyId, Sampler, Telemetry};
use telemetry_exporters::otlp::OtlpExporter;
use tracing::Level;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

use crate::consent_store::StoreChoice;
use crate::secrets::HashKey;

/// What runs for the life of the process.
pub struct Instrumentation {
    /// The pipeline (also installed globally for `#[instrument_event]`).
    pub telemetry: Telemetry,
    /// The resource metrics collector; stops when dropped.
    pub process: ProcessMetrics,
}

/// Builds and installs the telemetry of the service named `service`, with
/// `hash_key` for pseudonyms and hashed fields (every instance needs the
/// same key for a customer to have the same pseudonym in all of them).
/// The OTLP endpoint comes from `OTEL_EXPORTER_OTLP_ENDPOINT` (default
/// `http://localhost:4318`, HTTP/protobuf). Consent is kept in `store`
/// (see [`StoreChoice`]); with a shared store, `max_staleness` bounds how
/// old this replica's view of it may get.
pub fn install(
    service: &str,
    hash_key: &HashKey,
    store: &StoreChoice,
    max_staleness: Duration,
) -> Result<Instrumentation, Box<dyn std::error::Error>> {
    let exporter = OtlpExporter::builder().build()?;
    let builder = store.configure(Telemetry::builder(), max_staleness)?;
    let telemetry = builder
        .service(service, env!("CARGO_PKG_VERSION"))
        .consent(
            ConsentPolicy::opt_in()
                // Business data only with the customer's grant.
                .require(Category::BUSINESS)
                // Interaction data unless the customer says no.
                .require_opt_out(Category::INTERACTION)
                .exempt(Category::PERFORMANCE)
                .exempt(Category::ERRORS)
                .exempt(Category::RESOURCE),
        )
        .sampler(Sampler::always().keep_errors())
        .hash_key(KeyId(1), hash_key.material())
        .exporter(exporter)
        .flush_interval(Duration::from_millis(200))
        .metric_interval(Duration::from_secs(1))
        .install()?;
    let layer = TracingLayer::builder(&telemetry)
        // This crate's logs: performance data, errors as errors.
        .route("web_service_example", Level::INFO, Category::PERFORMANCE)
        .route("web_service_example", Level::ERROR, Category::ERRORS)
        .fields(
            [
                "message",
                "sku",
                "quantity",
                "reserved",
                "amount_cents",
                "category",
                "allowed",
            ],
            FieldClass::Public,
        )
        .build()?;
    tracing_subscriber::registry()
        .with(layer)
        .with(tracing_subscriber::fmt::layer().with_filter(LevelFilter::INFO))
        .try_init()?;
    let process = ProcessMetrics::builder(&telemetry)
        .interval(Duration::from_secs(1))
        .start()?;
    Ok(Instrumentation { telemetry, process })
}
