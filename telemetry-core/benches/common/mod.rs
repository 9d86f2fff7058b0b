//! Setup shared by the benchmarks: our pipeline with a counting no-op
//! exporter, the OpenTelemetry SDK's counterpart, and reading criterion's
//! results back for the summary tables.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use opentelemetry_sdk::error::OTelSdkResult;
use telemetry_core::export::*;
use telemetry_core::*;

/// A no-op exporter that counts what it receives.
#[derive(Clone, Default)]
pub struct NullExporter {
    pub spans: Arc<AtomicU64>,
    pub logs: Arc<AtomicU64>,
}

impl Exporter for NullExporter {
    fn export(&mut self, b: &Batch<'_>) -> Result<(), ExportError> {
        self.spans
            .fetch_add(b.spans.len() as u64, Ordering::Relaxed);
        self.logs.fetch_add(b.logs.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// Granted `BUSINESS`.
pub const GRANTED: &str = "user-1";
/// Granted nothing: `BUSINESS` is denied (opt-in).
pub const DENIED: &str = "user-2";
/// The hash key of [`ours`].
pub const BENCH_KEY: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

/// PERFORMANCE, RESOURCE and INTERACTION need no consent; BUSINESS requires
/// it (opt-in) and only `GRANTED` gave it. INTERACTION is sampled with
/// probability 0; everything else is kept. The same configuration as
/// `hot_path.rs`.
pub fn ours() -> (Telemetry, NullExporter) {
    let (builder, exporter) = ours_builder();
    let t = builder.build().unwrap();
    t.consent().grant(GRANTED, Category::BUSINESS).unwrap();
    (t, exporter)
}

/// [`ours`], installed as the process's instance, as a service runs it
/// (its spans refer to it instead of holding a counted handle).
pub fn ours_installed() -> (Telemetry, NullExporter) {
    let (builder, exporter) = ours_builder();
    let t = builder.install().unwrap();
    t.consent().grant(GRANTED, Category::BUSINESS).unwrap();
    (t, exporter)
}

fn ours_builder() -> (TelemetryBuilder, NullExporter) {
    let exporter = NullExporter::default();
    let b = Telemetry::builder()
        .service("bench", "1")
        .env(Environment::from_pairs::<&str, &str>([]))
        .consent(
            ConsentPolicy::opt_in()
                .require(Category::BUSINESS)
                .exempt(Category::PERFORMANCE)
                .exempt(Category::RESOURCE)
                .exempt(Category::INTERACTION),
        )
        .sampler(Sampler::per_category([(Category::INTERACTION, 0.0)]))
        .hash_key(KeyId(1), BENCH_KEY)
        .queue_capacity(1 << 16)
        .batch_size(4096)
        .flush_interval(Duration::from_millis(50))
        .exporter(exporter.clone());
    (b, exporter)
}

/// OTel span exporter that does nothing but count.
#[derive(Debug, Clone, Default)]
pub struct OtelNullSpanExporter(pub Arc<AtomicUsize>);

impl opentelemetry_sdk::trace::SpanExporter for OtelNullSpanExporter {
    fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        self.0.fetch_add(batch.len(), Ordering::Relaxed);
        std::future::ready(Ok(()))
    }
}

pub fn otel_batch_span_processor(
    exporter: OtelNullSpanExporter,
) -> opentelemetry_sdk::trace::BatchSpanProcessor {
    let config = opentelemetry_sdk::trace::BatchConfigBuilder::default()
        .with_max_queue_size(1 << 16)
        .with_max_export_batch_size(4096)
        .with_scheduled_delay(Duration::from_millis(50))
        .build();
    opentelemetry_sdk::trace::BatchSpanProcessor::builder(exporter)
        .with_batch_config(config)
        .build()
}

pub fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    target.join("criterion")
}

/// The median (ns) criterion measured in this run for `group/function`,
/// or `None` if it did not run in this process.
pub fn median_ns(group: &str, function: &str, since: SystemTime) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(function)
        .join("new")
        .join("estimates.json");
    let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
    if modified < since {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    json.get("median")?.get("point_estimate")?.as_f64()
}

pub fn fmt_ns(v: Option<f64>) -> String {
    match v {
        Some(v) if v < 10.0 => format!("{v:.2}"),
        Some(v) => format!("{v:.1}"),
        None => "n/a".to_owned(),
    }
}

/// Records produced versus received by an exporter, for the report.
#[derive(Default)]
pub struct Accounting {
    pub lines: Vec<String>,
}

impl Accounting {
    pub fn check(&mut self, what: &str, produced: u64, received: u64) {
        let lost = produced.saturating_sub(received);
        let line = if lost == 0 {
            format!("- {what}: {produced} produced, {received} exported, none lost")
        } else {
            format!(
                "- **{what}: {produced} produced, {received} exported, {lost} lost ({:.2}%)** — \
                 the lost ones were dropped (queue full or discarded), which makes that \
                 measurement look cheaper than it is",
                100.0 * lost as f64 / produced.max(1) as f64
            )
        };
        self.lines.push(line);
    }
}

/// Criterion as every benchmark here runs it: 0.5 s warm-up, 2 s of
/// measurement, 30 samples, unless the command line says otherwise.
pub fn criterion() -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args()
}
