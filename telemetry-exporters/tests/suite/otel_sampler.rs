//! The consent-aware sampler inside an OpenTelemetry `SdkTracerProvider`.
#![cfg(feature = "otel-sampler")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use opentelemetry::KeyValue;
use opentelemetry::trace::{Tracer, TracerProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use telemetry_core::*;
use telemetry_exporters::otel_sampler::ConsentSampler;

#[test]
fn otel_spans_obey_consent_and_sampling() {
    let t = Telemetry::builder()
        .service("otel-sampler-test", "1")
        .env(Environment::from_pairs::<&str, &str>([]))
        .consent(
            ConsentPolicy::opt_in()
                .require(Category::BUSINESS)
                .exempt(Category::PERFORMANCE)
                .exempt(Category::RESOURCE),
        )
        .sampler(Sampler::per_category([
            (Category::RESOURCE, 0.0),
            (Category::PERFORMANCE, 1.0),
        ]))
        .build()
        .unwrap();
    t.consent().grant("rosa", Category::BUSINESS).unwrap();
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_sampler(ConsentSampler::new(t.clone(), Category::BUSINESS))
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("test");
    {
        let _s = t.subject("rosa");
        tracer.in_span("granted", |_| {});
    }
    {
        let _s = t.subject("sam");
        tracer.in_span("denied", |_| {});
    }
    tracer
        .span_builder("perf")
        .with_attributes([KeyValue::new("telemetry.category", "performance")])
        .start(&tracer);
    tracer
        .span_builder("resource")
        .with_attributes([KeyValue::new("telemetry.category", "resource")])
        .start(&tracer);
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    assert!(
        names.contains(&"granted") && names.contains(&"perf"),
        "{names:?}"
    );
    assert!(!names.contains(&"denied"), "consent denied: not recorded");
    assert!(!names.contains(&"resource"), "probability 0: sampled out");
    let granted = spans.iter().find(|s| s.name == "granted").unwrap();
    assert!(
        granted
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "telemetry.sample.probability")
    );
    assert!(
        granted
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "telemetry.category" && kv.value.as_str() == "business")
    );
    let drops = t.drops();
    assert_eq!(drops.get(DropCause::Consent, Category::BUSINESS), 1);
    assert_eq!(drops.get(DropCause::Sampling, Category::RESOURCE), 1);
}
