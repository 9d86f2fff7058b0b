//! What one Prometheus scrape costs, at 100, 1,000 and 10,000 series,
//! against `metrics-exporter-prometheus` (the `metrics` facade's
//! Prometheus exporter) rendering the same series in the same run.
//!
//! ```text
//! cargo bench -p telemetry-exporters --features prometheus --bench prometheus_scrape
//! ```
//!
//! Each side holds one counter family with `n` series (one label, `n`
//! values) and one histogram with `n / 10` series; a scrape renders the
//! text format. Time per scrape is criterion's; allocations per scrape
//! are counted by a counting global allocator and printed first.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use ::metrics::Recorder;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use telemetry_core::*;
use telemetry_exporters::prometheus::{Format, PrometheusExporter};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SIZES: [usize; 3] = [100, 1_000, 10_000];

fn ours(n: usize) -> PrometheusExporter {
    let t = Telemetry::builder()
        .service("scrape-bench", "1")
        .env(Environment::from_pairs::<&str, &str>([]))
        .consent(ConsentPolicy::opt_in().exempt(Category::PERFORMANCE))
        .limits(Limits {
            max_series_per_metric: 20_000,
            ..Limits::default()
        })
        .build()
        .unwrap();
    let c = t
        .counter("bench.requests", Category::PERFORMANCE)
        .attribute("route")
        .build()
        .unwrap();
    let h = t
        .histogram("bench.latency", Category::PERFORMANCE)
        .unit("s")
        .attribute("route")
        .build()
        .unwrap();
    for i in 0..n {
        let route = format!("/route/{i}");
        c.add(1, &[("route", Value::Str(&route))]);
        if i % 10 == 0 {
            h.record(0.01, &[("route", Value::Str(&route))]);
        }
    }
    PrometheusExporter::new(&t)
}

fn peer(n: usize) -> metrics_exporter_prometheus::PrometheusRecorder {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let meta = ::metrics::Metadata::new("bench", ::metrics::Level::INFO, None);
    for i in 0..n {
        let labels = vec![::metrics::Label::new("route", format!("/route/{i}"))];
        let key = ::metrics::Key::from_parts("bench_requests_total", labels.clone());
        recorder.register_counter(&key, &meta).increment(1);
        if i % 10 == 0 {
            let key = ::metrics::Key::from_parts("bench_latency_seconds", labels);
            recorder.register_histogram(&key, &meta).record(0.01);
        }
    }
    recorder
}

fn allocations(f: impl FnOnce() -> usize) -> (u64, usize) {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let len = f();
    (ALLOCATIONS.load(Ordering::Relaxed) - before, len)
}

fn scrape(c: &mut Criterion) {
    let mut group = c.benchmark_group("prometheus_scrape");
    for n in SIZES {
        let ours = ours(n);
        let peer = peer(n);
        let handle = peer.handle();
        let (a_ours, len_ours) = allocations(|| ours.render(Format::Text).len());
        let (a_peer, len_peer) = allocations(|| handle.render().len());
        println!(
            "series {n}: allocations per scrape: ours {a_ours}, metrics-exporter-prometheus {a_peer}; bytes: ours {len_ours}, peer {len_peer}"
        );
        group.bench_with_input(BenchmarkId::new("ours", n), &n, |b, _| {
            b.iter(|| ours.render(Format::Text))
        });
        group.bench_with_input(
            BenchmarkId::new("metrics_exporter_prometheus", n),
            &n,
            |b, _| b.iter(|| handle.render()),
        );
    }
    group.finish();
}

criterion_group!(benches, scrape);
criterion_main!(benches);
