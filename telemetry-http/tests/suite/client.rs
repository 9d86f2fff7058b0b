//! Outgoing calls: a client span whose context is what the headers carry,
//! the subject's consent passed on, and the duration recorded by outcome.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use http::{HeaderMap, Method};
use telemetry_core::export::{MetricPoints, SpanStatus};
use telemetry_core::testing::InMemoryExporter;
use telemetry_core::*;
use telemetry_http::HeaderPropagation;
use telemetry_http::client::HttpClientTelemetry;

#[test]
fn calls_carry_their_span_and_consent_and_are_measured_by_outcome() {
    let exporter = InMemoryExporter::new();
    let t = Telemetry::builder()
        .service("frontend", "1")
        .env(Environment::from_pairs::<&str, &str>([]))
        .hash_key(KeyId(1), b"client telemetry test key 0123456789")
        .consent(
            ConsentPolicy::opt_in()
                .require(Category::BUSINESS)
                .exempt(Category::PERFORMANCE),
        )
        .exporter(exporter.clone())
        .flush_interval(Duration::from_secs(3600))
        .metric_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    t.consent().grant("cy", Category::BUSINESS).unwrap();
    let calls = HttpClientTelemetry::new(&t);
    let mut headers = HeaderMap::new();
    {
        let _scope = t.subject("cy");
        calls
            .start(&Method::POST, "/reserve", "inventory", 8080, &mut headers)
            .finish(200);
    }
    let mut failed_headers = HeaderMap::new();
    calls
        .start(
            &Method::GET,
            "/items/{id}",
            "inventory",
            8080,
            &mut failed_headers,
        )
        .finish(503);
    calls
        .start(
            &Method::GET,
            "/items/{id}",
            "inventory",
            8080,
            &mut HeaderMap::new(),
        )
        .fail("timeout");
    t.force_flush().unwrap();

    let spans = exporter.spans();
    let reserve = spans.iter().find(|s| s.name == "POST /reserve").unwrap();
    // What the headers carry is this span: the server's span will be its child.
    let incoming = t.extract_headers(&headers);
    let carried = incoming.span_context().expect("a traceparent");
    assert_eq!(carried.span_id, reserve.span_id);
    assert_eq!(carried.trace_id, reserve.trace_id);
    // cy's consent travels with the call.
    let baggage = headers.get("baggage").unwrap().to_str().unwrap();
    assert!(baggage.contains("business"), "{baggage}");
    let statuses: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "GET /items/{id}")
        .map(|s| s.status.clone())
        .collect();
    assert!(statuses.contains(&SpanStatus::Error {
        description: "503".into()
    }));
    assert!(statuses.contains(&SpanStatus::Error {
        description: "timeout".into()
    }));
    let m = exporter
        .last_metric("http.client.request.duration")
        .expect("the duration histogram");
    let MetricPoints::Histogram { points, .. } = &m.points else {
        panic!("{m:?}")
    };
    let has = |p: &telemetry_core::export::HistogramPoint, k: &str, v: &str| {
        p.attributes
            .iter()
            .any(|a| a.key == k && a.value.render() == v)
    };
    assert_eq!(points.len(), 3, "ok, 503 and timeout: one series each");
    assert!(points.iter().any(|p| {
        has(p, "error.type", "timeout")
            && !p
                .attributes
                .iter()
                .any(|a| a.key == "http.response.status_code")
    }));
    assert!(
        points
            .iter()
            .any(|p| has(p, "http.response.status_code", "503") && has(p, "error.type", "503"))
    );
}
