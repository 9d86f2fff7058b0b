//! `#[instrument_event]` against `tracing::instrument` (no subscriber, and
//! with a `fmt` subscriber writing to a sink) and autometrics, in the same
//! run. Ratios are printed at the end.
//!
//! ```text
//! cargo bench -p telemetry-macros-tests --bench instrument
//! ```
//!
//! - `denied`: the call's category needs consent the current context does
//!   not have. Target: ≤ 2× a `tracing::instrument` call with no subscriber.
//! - `sampled_out`: consent allows it, the sampler drops it (probability 0);
//!   the call is still counted. Target: ≤ 3× an uncontended atomic add
//!   (`atomic_add`, a relaxed `fetch_add` on a static).
//! - `recorded`: a span with one recorded argument, the call counter and the
//!   duration histogram, to a null exporter. Target: ≤ 0.2× autometrics.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use criterion::Criterion;
use telemetry_core::export::*;
use telemetry_core::*;

struct NullExporter;
impl Exporter for NullExporter {
    fn export(&mut self, _: &Batch<'_>) -> Result<(), ExportError> {
        Ok(())
    }
}

#[instrument_event(name = "bench.denied", category = business, fields(n))]
fn ours_denied(n: u64) -> u64 {
    n.wrapping_mul(3)
}

#[instrument_event(name = "bench.sampled_out", category = resource, fields(n))]
fn ours_sampled_out(n: u64) -> u64 {
    n.wrapping_mul(3)
}

#[instrument_event(name = "bench.recorded", category = performance, fields(n))]
fn ours_recorded(n: u64) -> u64 {
    n.wrapping_mul(3)
}

#[tracing::instrument(fields(n))]
fn tracing_instrumented(n: u64) -> u64 {
    n.wrapping_mul(3)
}

#[autometrics::autometrics]
fn autometrics_instrumented(n: u64) -> u64 {
    n.wrapping_mul(3)
}

fn criterion_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target")))
        .join("criterion")
}

fn median_ns(group: &str, function: &str, since: SystemTime) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(function)
        .join("new")
        .join("estimates.json");
    if std::fs::metadata(&path).ok()?.modified().ok()? < since {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    json.get("median")?.get("point_estimate")?.as_f64()
}

fn main() {
    let start = SystemTime::now();
    let t = Telemetry::builder()
        .service("bench", "1")
        .env(Environment::from_pairs::<&str, &str>([]))
        .consent(
            ConsentPolicy::opt_in()
                .require(Category::BUSINESS)
                .exempt(Category::PERFORMANCE)
                .exempt(Category::RESOURCE),
        )
        .sampler(Sampler::per_category([(Category::RESOURCE, 0.0)]))
        .queue_capacity(1 << 16)
        .batch_size(4096)
        .flush_interval(Duration::from_millis(20))
        .exporter(NullExporter)
        .install()
        .unwrap();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args();

    let mut g = c.benchmark_group("instrument");
    g.bench_function("ours_denied", |b| b.iter(|| ours_denied(black_box(7))));
    g.bench_function("ours_sampled_out", |b| {
        b.iter(|| ours_sampled_out(black_box(7)))
    });
    g.bench_function("ours_recorded", |b| b.iter(|| ours_recorded(black_box(7))));
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    g.bench_function("atomic_add", |b| {
        b.iter(|| CALLS.fetch_add(black_box(1), std::sync::atomic::Ordering::Relaxed))
    });
    g.bench_function("tracing_no_subscriber", |b| {
        b.iter(|| tracing_instrumented(black_box(7)))
    });
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::sink)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        g.bench_function("tracing_fmt_subscriber", |b| {
            b.iter(|| tracing_instrumented(black_box(7)))
        });
    });
    g.bench_function("autometrics", |b| {
        b.iter(|| autometrics_instrumented(black_box(7)))
    });
    g.finish();
    c.final_summary();

    let m = |f: &str| median_ns("instrument", f, start);
    let rows = [
        (
            "call, consent denied",
            "ours_denied",
            "tracing_no_subscriber",
            "tracing::instrument, no subscriber",
            "≤ 2×",
            2.0,
        ),
        (
            "call, sampled out (counted)",
            "ours_sampled_out",
            "atomic_add",
            "atomic add (relaxed fetch_add)",
            "≤ 3×",
            3.0,
        ),
        (
            "call, recorded with metrics",
            "ours_recorded",
            "autometrics",
            "autometrics",
            "≤ 0.2×",
            0.2,
        ),
        (
            "call, recorded with metrics",
            "ours_recorded",
            "tracing_fmt_subscriber",
            "tracing::instrument + fmt subscriber",
            "(context)",
            f64::INFINITY,
        ),
    ];
    println!("\n## #[instrument_event] vs peers (criterion medians, this run)\n");
    println!("| call | ours (ns) | peer | peer (ns) | ratio | target | met |");
    println!("|---|---:|---|---:|---:|---|:---:|");
    for (what, ours, peer, peer_name, target, limit) in rows {
        match (m(ours), m(peer)) {
            (Some(o), Some(p)) => println!(
                "| {what} | {o:.1} | {peer_name} | {p:.1} | {:.2}× | {target} | {} |",
                o / p,
                if limit.is_infinite() {
                    ""
                } else if o / p <= limit {
                    "yes"
                } else {
                    "**no**"
                }
            ),
            _ => println!("| {what} | n/a | {peer_name} | n/a | — | {target} | |"),
        }
    }
    let drops = t.drops();
    println!(
        "\nours, recorded calls dropped by a full queue: {}",
        drops.by_cause(DropCause::QueueFull)
    );
    t.shutdown(Duration::from_secs(10));
}
