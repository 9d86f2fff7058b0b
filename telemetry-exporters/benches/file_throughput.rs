//! End-to-end file export throughput: events per second from the recording
//! thread to bytes on disk, against `tracing-appender`'s non-blocking JSON
//! writer, in the same process.
//!
//! ```text
//! cargo bench -p telemetry-exporters --bench file_throughput
//! ```
//!
//! Each round records `EVENTS` events with four fields as fast as one thread
//! can, then waits until everything accepted is on disk (our `shutdown`; the
//! appender's guard drop). Both pipelines are lossy when their queue is
//! full, so the rate counts only events that reached the file, and the drop
//! share is printed. Rounds alternate between the two; medians are reported.
//! This is a throughput measurement of an asynchronous, lossy pipeline,
//! which criterion's per-iteration model does not fit, hence a custom harness.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::BufRead;
use std::path::Path;
use std::time::{Duration, Instant};

use telemetry_core::export::Signal;
use telemetry_core::*;
use telemetry_exporters::file::{FileExporter, Fsync, files};

const EVENTS: u64 = 300_000;
const ROUNDS: usize = 5;

struct Run {
    written: u64,
    seconds: f64,
    bytes: u64,
}

impl Run {
    fn rate(&self) -> f64 {
        self.written as f64 / self.seconds
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

fn ours(dir: &Path) -> Run {
    let t = Telemetry::builder()
        .service("bench", "1")
        .env(Environment::from_pairs::<&str, &str>([]))
        .consent(ConsentPolicy::opt_in().exempt(Category::PERFORMANCE))
        .exporter(
            FileExporter::builder(dir)
                .fsync(Fsync::Never)
                .max_file_bytes(1 << 30)
                .build()
                .unwrap(),
        )
        .flush_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    let start = Instant::now();
    for i in 0..EVENTS {
        t.event("checkout.step", Category::PERFORMANCE)
            .public("step", i)
            .public("route", "/checkout/payment")
            .public("items", 3u64)
            .public("ok", true)
            .emit();
    }
    let produced = start.elapsed().as_secs_f64();
    t.shutdown(Duration::from_secs(60));
    let seconds = start.elapsed().as_secs_f64();
    let dropped = t.drops().total();
    if std::env::var_os("FILE_BENCH_DETAIL").is_some() {
        eprintln!("ours: producer {produced:.3}s, total {seconds:.3}s, dropped {dropped}");
    }
    // Check the count against the file: records, not lines (a line is a batch).
    let mut records = 0u64;
    for path in files(dir, Signal::Logs).unwrap() {
        let text = std::fs::read_to_string(path).unwrap();
        records += text.matches("\"eventName\":\"checkout.step\"").count() as u64;
    }
    assert_eq!(
        records + dropped,
        EVENTS,
        "every event is on disk or counted as dropped"
    );
    Run {
        written: records,
        seconds,
        bytes: dir_bytes(dir),
    }
}

fn appender(dir: &Path) -> Run {
    use tracing_subscriber::layer::SubscriberExt;
    let file = tracing_appender::rolling::never(dir, "tracing.jsonl");
    let (writer, guard) = tracing_appender::non_blocking(file);
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(writer)
            .with_ansi(false),
    );
    let start = Instant::now();
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..EVENTS {
            tracing::info!(
                step = i,
                route = "/checkout/payment",
                items = 3u64,
                ok = true,
                "checkout.step"
            );
        }
    });
    drop(guard); // flushes everything accepted
    let seconds = start.elapsed().as_secs_f64();
    let f = std::fs::File::open(dir.join("tracing.jsonl")).unwrap();
    let written = std::io::BufReader::new(f).lines().count() as u64;
    Run {
        written,
        seconds,
        bytes: dir_bytes(dir),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would pass
    // nothing: run a single small round then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rounds = if quick { 1 } else { ROUNDS };
    let (mut o, mut a) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let d1 = tempfile::tempdir().unwrap();
        o.push(ours(d1.path()));
        if std::env::var_os("FILE_BENCH_OURS_ONLY").is_some() {
            continue;
        }
        let d2 = tempfile::tempdir().unwrap();
        a.push(appender(d2.path()));
    }
    if a.is_empty() {
        return;
    }
    let rate = |v: &[Run]| median(v.iter().map(Run::rate).collect());
    let per_event = |v: &[Run]| {
        median(
            v.iter()
                .map(|r| r.bytes as f64 / r.written.max(1) as f64)
                .collect(),
        )
    };
    let kept = |v: &[Run]| median(v.iter().map(|r| r.written as f64 / EVENTS as f64).collect());
    let (ro, ra) = (rate(&o), rate(&a));
    println!("\n## File export throughput ({EVENTS} events x {rounds} rounds, medians)\n");
    println!("| pipeline | events/s on disk | bytes/event | share of events kept |");
    println!("|---|---:|---:|---:|");
    println!(
        "| telemetry-exporters FileExporter (OTLP/JSON lines) | {ro:.0} | {:.0} | {:.1}% |",
        per_event(&o),
        100.0 * kept(&o)
    );
    println!(
        "| tracing-appender non-blocking + fmt JSON | {ra:.0} | {:.0} | {:.1}% |",
        per_event(&a),
        100.0 * kept(&a)
    );
    println!(
        "\nratio ours / tracing-appender: {:.2}x (target >= 4x)",
        ro / ra
    );
}
