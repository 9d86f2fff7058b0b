//! `#[instrument_event]` with the `tracing` layer installed globally beside
//! a `fmt` layer: logs carry the function's span, `fmt` shows the function,
//! nothing is reported twice, and what exporters log never feeds back.
//! One test: it installs global state.
#![cfg(feature = "tracing")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "suite/common/mod.rs"]
mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use telemetry_core::export::*;
use telemetry_core::testing::InMemoryExporter;
use telemetry_core::tracing_layer::TracingLayer;
use telemetry_core::*;
use tracing::Level;
use tracing_subscriber::prelude::*;

/// An exporter that logs through `tracing` while exporting, the way HTTP
/// and gRPC clients do.
struct Chatty(InMemoryExporter);

impl Exporter for Chatty {
    fn export(&mut self, batch: &Batch<'_>) -> Result<(), ExportError> {
        tracing::error!(target: "shop", "exporter chatter");
        tracing::info!(target: "hyper::client::pool", "connection reused");
        self.0.export(batch)
    }
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[telemetry_core::instrument_event(category = performance, fields(order_id = public))]
fn reserve_stock(order_id: u64) -> Result<u32, std::io::Error> {
    tracing::info!(target: "shop::stock", order_id, "reserving");
    Ok(3)
}

#[telemetry_core::instrument_event(category = performance)]
async fn ship(order_id: u64) {
    tokio::task::yield_now().await;
    tracing::info!(target: "shop::shipping", order_id, "shipped");
}

#[test]
fn instrumented_functions_and_tracing_share_one_trace() {
    let exp = InMemoryExporter::new();
    let t = common::builder()
        .consent(common::policy())
        .exporter(Chatty(exp.clone()))
        .flush_interval(Duration::from_millis(20))
        .install()
        .unwrap();
    let out = Captured::default();
    let writer = out.clone();
    let layer = TracingLayer::builder(&t)
        .route("shop", Level::INFO, Category::PERFORMANCE)
        .route("shop", Level::ERROR, Category::ERRORS)
        .fields(["message", "order_id"], FieldClass::Public)
        .build()
        .unwrap();
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(move || writer.clone())
        .with_ansi(false);
    tracing_subscriber::registry().with(layer).with(fmt).init();
    // `log` records, bridged by `tracing-log`, are routed by their own target.
    tracing_log::LogTracer::init().unwrap();
    log::warn!(target: "shop::legacy", "from the log crate");
    log::warn!(target: "rustls::client", "internal, even through log");
    log::warn!(target: "elsewhere", "unrouted");

    assert_eq!(reserve_stock(41).unwrap(), 3);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(ship(42));
    // Let the worker export a few times (each export logs chatter).
    for _ in 0..3 {
        t.force_flush().unwrap();
        std::thread::sleep(Duration::from_millis(40));
    }
    t.force_flush().unwrap();

    let spans = exp.spans();
    let logs = exp.logs();
    for (function, body) in [("reserve_stock", "reserving"), ("ship", "shipped")] {
        let recorded: Vec<_> = spans.iter().filter(|s| s.name == function).collect();
        assert_eq!(recorded.len(), 1, "{function} recorded once, not twice");
        let log = logs
            .iter()
            .find(|l| l.body.as_deref() == Some(body))
            .unwrap_or_else(|| panic!("the {body:?} log"));
        let link = log.trace.as_ref().expect("the log carries its span");
        assert_eq!(
            (link.trace_id, link.span_id),
            (recorded[0].trace_id, recorded[0].span_id),
            "{body:?} is correlated with {function}"
        );
    }
    assert!(
        !logs
            .iter()
            .any(|l| l.body.as_deref() == Some("exporter chatter")),
        "what the exporter logs never feeds back"
    );
    assert!(!exp.exported_json().contains("connection reused"));
    let bridged: Vec<(String, Severity)> = logs
        .iter()
        .filter(|l| l.event_name == "log")
        .map(|l| (l.body.as_deref().unwrap_or("").to_owned(), l.severity))
        .collect();
    assert_eq!(
        bridged,
        [("from the log crate".to_owned(), Severity::Warn)],
        "only the routed log record"
    );

    // The fmt layer saw the functions' spans (the mirrors) around the logs.
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("reserve_stock: shop::stock: reserving"),
        "{text}"
    );
    assert!(text.contains("ship: shop::shipping: shipped"), "{text}");
    // ... and the chatter too: suppression is for this library only.
    assert!(text.contains("exporter chatter"), "{text}");
    t.shutdown(Duration::from_secs(5));
}
