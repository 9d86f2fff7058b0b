//! One trace with the OpenTelemetry SDK in the same process, at a real
//! collector: the SDK exports with `opentelemetry-otlp`, the library with
//! its own OTLP exporter, and the spans of both, nested both ways, arrive
//! in one trace, each with the parent the bridge documents.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::time::Duration;

use opentelemetry::trace::{Tracer, TracerProvider};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::trace::{Sampler as SdkSampler, SdkTracerProvider};
use telemetry_core::trace::TraceIdRule;
use telemetry_core::*;
use telemetry_exporters::file::{ExportRequest, parse_line};
use telemetry_exporters::otel_bridge::{BridgedTracerProvider, join_otel_traces};
use telemetry_exporters::otlp::OtlpExporter;
use telemetry_tests::Collector;

/// A span as it arrived: (service, trace id, span id, parent span id).
type Arrived = (String, Vec<u8>, Vec<u8>, Vec<u8>);

/// Every span that arrived, by name.
fn arrived(c: &Collector) -> BTreeMap<String, Arrived> {
    let mut out = BTreeMap::new();
    for line in c.lines("traces") {
        let Ok(ExportRequest::Traces(t)) = parse_line(&line) else {
            continue;
        };
        for rs in t.resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref())
                .map(|v| format!("{:?}", v.value))
                .unwrap_or_default();
            for s in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
                out.insert(
                    s.name.clone(),
                    (service.clone(), s.trace_id, s.span_id, s.parent_span_id),
                );
            }
        }
    }
    out
}

#[test]
fn sdk_and_library_spans_share_one_trace_at_the_collector() {
    let collector = Collector::start().unwrap();
    let otlp = OtlpExporter::builder()
        .endpoint(collector.http_url())
        .env(Environment::from_pairs::<&str, &str>([]))
        .build()
        .unwrap();
    let t = join_otel_traces(
        Telemetry::builder()
            .service("bridge-library", "1")
            .env(Environment::from_pairs::<&str, &str>([]))
            .sampler(Sampler::ratio(1.0).trace_id_rule(TraceIdRule::OtelRustSdk))
            .exporter(otlp),
    )
    .build()
    .unwrap();
    let sdk_exporter = SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("{}/v1/traces", collector.http_url()))
        .build()
        .unwrap();
    let provider = BridgedTracerProvider::new(
        SdkTracerProvider::builder()
            .with_simple_exporter(sdk_exporter)
            .with_sampler(SdkSampler::TraceIdRatioBased(1.0))
            .build(),
    );
    let tracer = provider.tracer("bridge-sdk");

    // SDK root → library child → SDK grandchild.
    tracer.in_span("sdk.root", |_| {
        let lib = t.span("library.middle", Category::PERFORMANCE);
        let _g = lib.enter();
        tracer.in_span("sdk.leaf", |_| {});
    });
    // Library root → SDK child.
    {
        let lib = t.span("library.root", Category::PERFORMANCE);
        let _g = lib.enter();
        tracer.in_span("sdk.under_library", |_| {});
    }
    t.force_flush().unwrap();
    provider.inner().force_flush().unwrap();

    let names = [
        "sdk.root",
        "library.middle",
        "sdk.leaf",
        "library.root",
        "sdk.under_library",
    ];
    assert!(
        collector.wait_for(Duration::from_secs(20), |c| {
            let a = arrived(c);
            names.iter().all(|n| a.contains_key(*n))
        }),
        "{:?}",
        arrived(&collector).keys().collect::<Vec<_>>()
    );
    let a = arrived(&collector);
    let (root, middle, leaf) = (&a["sdk.root"], &a["library.middle"], &a["sdk.leaf"]);
    assert_eq!(
        middle.1, root.1,
        "the library span is in the SDK span's trace"
    );
    assert_eq!(leaf.1, root.1, "so is the SDK span inside it");
    assert_eq!(middle.3, root.2, "library.middle's parent is sdk.root");
    // Each system parents its own spans on its own innermost span: the
    // SDK's current span is still sdk.root (the bridge crosses over only
    // when a system has no current span of its own).
    assert_eq!(
        leaf.3, root.2,
        "sdk.leaf's parent is the SDK's current span"
    );
    assert!(middle.0.contains("bridge-library") && !root.0.contains("bridge-library"));
    let (lroot, under) = (&a["library.root"], &a["sdk.under_library"]);
    assert_eq!(under.1, lroot.1);
    assert_eq!(under.3, lroot.2);
    assert_ne!(lroot.1, root.1, "two traces, not one");
    let _ = provider.inner().shutdown();
    t.shutdown(Duration::from_secs(5));
}
