//! The quickstart's simulated checkout flow, exported over OTLP to a
//! collector configured by the standard environment variables.
//!
//! ```text
//! cargo run --example otlp     # gRPC to http://localhost:4317
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4317 cargo run --example otlp
//! OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 cargo run --example otlp
//! ```
//!
//! With no collector listening, the exports fail after their retries and
//! the records are counted as dropped; the flow itself is not slowed.

use std::error::Error;
use std::time::Duration;

use telemetry_core::*;
use telemetry_exporters::otlp::{OtlpExporter, Protocol};

use examples::checkout;

fn main() -> Result<(), Box<dyn Error>> {
    let key = std::env::var("TELEMETRY_HASH_KEY")
        .unwrap_or_else(|_| "otlp demo key, not a secret!!".into());
    // The environment (OTEL_EXPORTER_OTLP_*) overrides these defaults.
    let exporter = OtlpExporter::builder()
        .protocol(Protocol::Grpc)
        .timeout(Duration::from_secs(3))
        .build()?;
    let urls: Vec<String> = telemetry_core::export::Signal::ALL
        .iter()
        .map(|s| exporter.signal_config(*s).url.clone())
        .collect();
    let stats = exporter.stats();
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
        .hash_key(KeyId(1), key.as_bytes())
        .exporter(exporter)
        .install()?;

    checkout::simulate(&telemetry)?;

    let report = telemetry.shutdown(Duration::from_secs(15));
    println!("exported over OTLP to:");
    for url in &urls {
        println!("  {url}");
    }
    println!(
        "\nrequests accepted: {}, failed after retries: {}, retries: {}",
        stats.requests(),
        stats.failed(),
        stats.retries()
    );
    println!("\nrecords dropped, by cause:");
    let drops = telemetry.drops();
    for cause in DropCause::ALL {
        let n = drops.by_cause(cause);
        if n > 0 {
            println!("  {:<17} {n:>5}", cause.as_str());
        }
    }
    if !report.is_complete() {
        let errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
        println!(
            "\nshutdown: {} records failed and {} were never handed over ({})",
            report.failed,
            report.undelivered,
            errors.join("; ")
        );
    }
    Ok(())
}
