//! Quickstart: a small simulated checkout service that records consent-aware
//! telemetry to OTLP/JSON files. No collector needed.
//!
//! ```text
//! cargo run --example quickstart              # writes ./telemetry-out/
//! cargo run --example quickstart -- /tmp/out  # writes /tmp/out/
//! DO_NOT_TRACK=1 cargo run --example quickstart
//! ```
//!
//! Four customers shop: alice consented to business and interaction data,
//! bob to business only, carol to both but revokes mid-run, dave was never
//! asked. Performance, error and resource data need no consent (they carry
//! no personal data beyond a pseudonymous subject key). One payment fails.
//!
//! The service itself (`examples/src/checkout.rs`) uses `#[derive(TelemetryEvent)]`
//! for its events and `#[instrument_event]` for its functions.

use std::error::Error;
use std::path::PathBuf;
use std::time::Duration;

use telemetry_core::export::Signal;
use telemetry_core::*;
use telemetry_exporters::file::{ExportRequest, FileExporter, files, parse_line, read_lines};

use examples::checkout;

fn main() -> Result<(), Box<dyn Error>> {
    let out: PathBuf = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("telemetry-out"), PathBuf::from);
    // A real service loads its key from a secret store.
    let key = std::env::var("TELEMETRY_HASH_KEY")
        .unwrap_or_else(|_| "quickstart demo key, not a secret!".into());

    // Files of earlier runs in the same directory: the summary leaves them out.
    let earlier: Vec<PathBuf> = Signal::ALL
        .iter()
        .flat_map(|signal| files(&out, *signal).unwrap_or_default())
        .collect();

    let telemetry = Telemetry::builder()
        .service("checkout", env!("CARGO_PKG_VERSION"))
        .environment("demo")
        .consent(
            ConsentPolicy::opt_in()
                .require(Category::INTERACTION)
                .require(Category::BUSINESS)
                .exempt(Category::PERFORMANCE)
                .exempt(Category::ERRORS)
                .exempt(Category::RESOURCE),
        )
        .sampler(Sampler::per_category([(Category::PERFORMANCE, 1.0)]).keep_errors())
        .hash_key(KeyId(1), key.as_bytes())
        .exporter(FileExporter::builder(&out).build()?)
        .install()?;

    checkout::simulate(&telemetry)?;

    let report = telemetry.shutdown(Duration::from_secs(5));
    if !report.is_complete() {
        eprintln!("shutdown incomplete: {report:?}");
    }
    let drops = telemetry.drops();
    summarize(&out, &earlier, &telemetry, &drops)
}

/// Reads this run's files back (not those in `earlier`) and prints what
/// was written.
fn summarize(
    out: &std::path::Path,
    earlier: &[PathBuf],
    telemetry: &Telemetry,
    drops: &DropCounts,
) -> Result<(), Box<dyn Error>> {
    use std::collections::BTreeMap;
    let mut per_category: BTreeMap<(&str, String), u64> = BTreeMap::new();
    let mut deletions = 0;
    let mut file_count = 0;
    let category_of =
        |attrs: &[telemetry_exporters::opentelemetry_proto::tonic::common::v1::KeyValue]| {
            attrs
            .iter()
            .find(|kv| kv.key == "telemetry.category")
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| match &v.value {
                Some(telemetry_exporters::opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_else(|| "-".into())
        };
    for signal in Signal::ALL {
        for path in files(out, signal)? {
            if earlier.contains(&path) {
                continue;
            }
            file_count += 1;
            for line in read_lines(&path)?.lines {
                match parse_line(&line)? {
                    ExportRequest::Traces(r) => {
                        for s in r
                            .resource_spans
                            .iter()
                            .flat_map(|r| &r.scope_spans)
                            .flat_map(|s| &s.spans)
                        {
                            *per_category
                                .entry(("spans", category_of(&s.attributes)))
                                .or_default() += 1;
                        }
                    }
                    ExportRequest::Logs(r) => {
                        for l in r
                            .resource_logs
                            .iter()
                            .flat_map(|r| &r.scope_logs)
                            .flat_map(|s| &s.log_records)
                        {
                            if l.event_name == consent::DELETION_REQUEST_EVENT {
                                deletions += 1;
                            }
                            *per_category
                                .entry(("events", category_of(&l.attributes)))
                                .or_default() += 1;
                        }
                    }
                    ExportRequest::Metrics(r) => {
                        for m in r
                            .resource_metrics
                            .iter()
                            .flat_map(|r| &r.scope_metrics)
                            .flat_map(|s| &s.metrics)
                        {
                            *per_category
                                .entry(("metric exports", m.name.clone()))
                                .or_default() += 1;
                        }
                    }
                }
            }
        }
    }
    println!(
        "telemetry written to {} ({file_count} files)",
        out.display()
    );
    if !earlier.is_empty() {
        println!(
            "({} files of earlier runs in that directory are not counted)",
            earlier.len()
        );
    }
    if telemetry.consent().do_not_track() {
        println!("DO_NOT_TRACK is set: every category that requires consent is denied");
    }
    println!("\nrecords written, by signal and category:");
    for ((signal, category), n) in &per_category {
        println!("  {signal:<15} {category:<32} {n:>5}");
    }
    for required in ["business", "interaction"] {
        let n: u64 = per_category
            .iter()
            .filter(|((_, c), _)| c == required)
            .map(|(_, n)| n)
            .sum();
        println!("  => {required} records (need consent): {n}");
    }
    println!("\nrecords dropped, by cause:");
    for cause in DropCause::ALL {
        let n = drops.by_cause(cause);
        if n > 0 {
            println!("  {:<17} {n:>5}", cause.as_str());
        }
    }
    println!("\ndeletion requests exported: {deletions}");
    println!("\nread them with any OpenTelemetry tool, e.g. POST each line to a collector's");
    println!("OTLP/HTTP endpoint (/v1/traces, /v1/logs, /v1/metrics) as application/json.");
    Ok(())
}
