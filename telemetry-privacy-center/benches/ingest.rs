//! Client-event ingestion throughput: one batch of 20 events (web vitals
//! and a declared interaction event with a hashed field) parsed, checked
//! against the schemas and recorded through the gate, on one thread. The
//! exporter discards, so the number is the endpoint's own cost (JSON
//! parsing, validation, consent, sampling, capture, queue push), not the
//! network's or the collector's. Reported as events per second per core.
//!
//! `cargo bench -p telemetry-privacy-center --bench ingest`
#![allow(missing_docs, clippy::unwrap_used)]

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use telemetry_core::export::{Batch, ExportError, Exporter};
use telemetry_core::*;
use telemetry_privacy_center::PrivacyCenter;
use telemetry_privacy_center::events::WebVital;

/// A product card the person clicked.
#[derive(TelemetryEvent)]
#[telemetry(name = "bench.card_clicked", category = interaction)]
pub struct CardClicked<'a> {
    /// Which card.
    #[telemetry(public)]
    pub card: &'a str,
    /// The search that led there, hashed.
    #[telemetry(hash)]
    pub query: &'a str,
    /// Position in the list.
    #[telemetry(public)]
    pub position: u64,
}

struct Discard;

impl Exporter for Discard {
    fn export(&mut self, _batch: &Batch<'_>) -> Result<(), ExportError> {
        Ok(())
    }
}

fn batch() -> String {
    let mut events = Vec::new();
    for i in 0..10 {
        events.push(format!(
            r#"{{"name":"web.vital","fields":{{"metric":"LCP","value":{}.5,"rating":"good","page":"home"}}}}"#,
            800 + i
        ));
        events.push(format!(
            r#"{{"name":"bench.card_clicked","category":"interaction","fields":{{"card":"card-{i}","query":"red shoes {i}","position":{i}}}}}"#
        ));
    }
    format!(r#"{{"events":[{}]}}"#, events.join(","))
}

fn ingest(c: &mut Criterion) {
    let telemetry = Telemetry::builder()
        .service("bench", "1")
        .env(Environment::from_pairs::<&str, &str>([]))
        .hash_key(KeyId(1), b"ingest bench key 0123456789abcdefgh")
        .consent(ConsentPolicy::opt_out().exempt(Category::PERFORMANCE))
        .queue_capacity(1 << 16)
        .exporter(Discard)
        .flush_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    let center = PrivacyCenter::builder(&telemetry)
        .identify(|_| None)
        .accept::<WebVital<'static>>()
        .accept::<CardClicked<'static>>()
        .build()
        .unwrap();
    let body = batch();
    assert_eq!(
        center
            .ingest(Some("alice"), body.as_bytes())
            .unwrap()
            .accepted,
        20
    );
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(20));
    group.bench_function("batch of 20 events", |b| {
        b.iter(|| center.ingest(Some("alice"), body.as_bytes()))
    });
    group.finish();
    let drops = telemetry.drops();
    println!(
        "dropped while measuring: {} (queue full: {})",
        drops.total(),
        drops.by_cause(DropCause::QueueFull)
    );
}

criterion_group!(benches, ingest);
criterion_main!(benches);
