//! Consent changes and shutdown while the collector is up, down (closed
//! port) or hung (accepts, never answers): the latency of `revoke` and
//! `grant` (p50, p99, max) while a thread records steadily, and how long
//! `shutdown(3 s)` and `force_flush_within(1 s)` take.
//!
//! `cargo bench -p telemetry-tests --bench outage`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use telemetry_core::*;
use telemetry_exporters::otlp::OtlpExporter;
use telemetry_tests::Collector;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn silent_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    url
}

fn run(case: &str, url: &str) {
    let otlp = OtlpExporter::builder()
        .endpoint(url)
        .env(Environment::from_pairs::<&str, &str>([]))
        .build()
        .unwrap();
    let t = Telemetry::builder()
        .service("outage-bench", "1")
        .env(Environment::from_pairs::<&str, &str>([]))
        .consent(
            ConsentPolicy::opt_in()
                .require(Category::BUSINESS)
                .exempt(Category::PERFORMANCE),
        )
        .hash_key(KeyId(1), b"outage bench key material 0123456789")
        .exporter(otlp)
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let recorder = {
        let (t, stop) = (t.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let _s = t.subject(if i.is_multiple_of(2) { "ann" } else { "bob" });
                t.event("bench.step", Category::BUSINESS)
                    .public("i", i)
                    .emit();
                t.event("bench.timing", Category::PERFORMANCE)
                    .public("i", i)
                    .emit();
                i += 1;
                if i.is_multiple_of(100) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        })
    };
    t.consent().grant("bob", Category::BUSINESS).unwrap();
    let (mut revokes, mut grants) = (Vec::new(), Vec::new());
    for _ in 0..1000 {
        let start = Instant::now();
        t.consent().grant("ann", Category::BUSINESS).unwrap();
        grants.push(start.elapsed());
        std::thread::sleep(Duration::from_micros(500));
        let start = Instant::now();
        t.consent().revoke("ann", Category::BUSINESS).unwrap();
        revokes.push(start.elapsed());
        std::thread::sleep(Duration::from_micros(500));
    }
    stop.store(true, Ordering::Relaxed);
    recorder.join().unwrap();
    revokes.sort();
    grants.sort();
    let start = Instant::now();
    let flushed = t.force_flush_within(Duration::from_secs(1));
    let flush = start.elapsed();
    let start = Instant::now();
    let report = t.shutdown(Duration::from_secs(3));
    let shutdown = start.elapsed();
    println!(
        "| {case:<22} | {:>8.1?} | {:>8.1?} | {:>8.1?} | {:>8.1?} | {:>8.1?} | {:>7.2?} {:<5} | {:>7.2?} ({} undelivered) |",
        percentile(&revokes, 0.5),
        percentile(&revokes, 0.99),
        revokes.last().copied().unwrap_or_default(),
        percentile(&grants, 0.5),
        percentile(&grants, 0.99),
        flush,
        if flushed.is_ok() { "ok" } else { "error" },
        shutdown,
        report.undelivered,
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it as a
    // smoke test with fewer rounds would be nicer, but one run is short.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!(
        "| collector              | revoke p50 | revoke p99 | revoke max | grant p50 | grant p99 | force_flush_within(1 s) | shutdown(3 s) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let up = Collector::start().expect("the test collector (run tests/collector/install.sh)");
    run("up (rotel)", &up.http_url());
    drop(up);
    let closed = format!("http://127.0.0.1:{}", telemetry_tests::free_port());
    run("down (closed port)", &closed);
    run("hung (never answers)", &silent_server());
}
