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
//!
//! A second table gives the bytes on disk per event of each file format:
//! `BYTES_EVENTS` events of the same shape written with no drops (a queue
//! that holds them all, full batches of 512) as JSON lines and as protobuf,
//! each plain and gzip-rotated, next to `tracing-appender`'s JSON. For the
//! gzip-rotated series, the steady-state figure counts only the rotated
//! (compressed) files: the file still open at the end stays plain.
//! `FILE_BENCH_BYTES_ONLY=1` prints only that table.
//!
//! `FILE_BENCH_BURST=1` instead records a burst of 1,000,000 events with
//! the default queue and buffer sizes and prints how many reached the disk
//! and the process's peak memory growth.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::BufRead;
use std::path::Path;
use std::time::{Duration, Instant};

use telemetry_core::export::Signal;
use telemetry_core::*;
use telemetry_exporters::file::{
    ExportRequest, FileExporter, FileFormat, Fsync, files, parse_line, read_lines, read_messages,
};

const EVENTS: u64 = 300_000;
const ROUNDS: usize = 5;
const BYTES_EVENTS: u64 = 100_000;
/// The rotation size of the gzip-rotated series in the bytes table.
const BYTES_ROTATE_AT: u64 = 1 << 20;

struct Run {
    written: u64,
    seconds: f64,
    bytes: u64,
    /// CPU time of the whole process over the round (every thread), ns.
    cpu_ns: f64,
    /// CPU time of the recording thread over the round, ns.
    recording_cpu_ns: f64,
}

/// CPU time used so far by `clock` (`CLOCK_PROCESS_CPUTIME_ID`: every
/// thread of the process, those that exited too; `CLOCK_THREAD_CPUTIME_ID`:
/// the calling thread), in ns.
fn cpu_ns(clock: libc::clockid_t) -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec to write into.
    assert_eq!(unsafe { libc::clock_gettime(clock, &mut t) }, 0);
    t.tv_sec as f64 * 1e9 + t.tv_nsec as f64
}

/// CPU time measured from its creation.
struct CpuClock {
    process: f64,
    thread: f64,
}

impl CpuClock {
    fn start() -> Self {
        CpuClock {
            process: cpu_ns(libc::CLOCK_PROCESS_CPUTIME_ID),
            thread: cpu_ns(libc::CLOCK_THREAD_CPUTIME_ID),
        }
    }

    /// Process and this thread's CPU time since `start`, ns.
    fn elapsed(&self) -> (f64, f64) {
        (
            cpu_ns(libc::CLOCK_PROCESS_CPUTIME_ID) - self.process,
            cpu_ns(libc::CLOCK_THREAD_CPUTIME_ID) - self.thread,
        )
    }
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

fn ours(dir: &Path, format: FileFormat) -> Run {
    let t = Telemetry::builder()
        .service("bench", "1")
        .env(Environment::from_pairs::<&str, &str>([]))
        .consent(ConsentPolicy::opt_in().exempt(Category::PERFORMANCE))
        .exporter(
            FileExporter::builder(dir)
                .format(format)
                .fsync(Fsync::Never)
                .max_file_bytes(1 << 30)
                .build()
                .unwrap(),
        )
        .flush_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    let cpu = CpuClock::start();
    let start = Instant::now();
    for i in 0..EVENTS {
        emit(&t, i);
    }
    let produced = start.elapsed().as_secs_f64();
    let (_, recording_cpu_ns) = cpu.elapsed();
    t.shutdown(Duration::from_secs(60));
    let seconds = start.elapsed().as_secs_f64();
    let (cpu_ns, _) = cpu.elapsed();
    let dropped = t.drops().total();
    if std::env::var_os("FILE_BENCH_DETAIL").is_some() {
        eprintln!("ours: producer {produced:.3}s, total {seconds:.3}s, dropped {dropped}");
    }
    // Check the count against the file: records, not lines or messages
    // (each is a batch).
    let records: u64 = files(dir, Signal::Logs)
        .unwrap()
        .iter()
        .map(|p| file_bytes_and_records(p).1)
        .sum();
    assert_eq!(
        records + dropped,
        EVENTS,
        "every event is on disk or counted as dropped"
    );
    Run {
        written: records,
        seconds,
        bytes: dir_bytes(dir),
        cpu_ns,
        recording_cpu_ns,
    }
}

/// The bench's event, `i`-th of a run.
fn emit(t: &Telemetry, i: u64) {
    t.event("checkout.step", Category::PERFORMANCE)
        .public("step", i)
        .public("route", "/checkout/payment")
        .public("items", 3u64)
        .public("ok", true)
        .emit();
}

/// Bytes on disk and log records of one file.
fn file_bytes_and_records(path: &Path) -> (u64, u64) {
    let bytes = std::fs::metadata(path).unwrap().len();
    let requests: Vec<ExportRequest> = match FileFormat::of_path(path) {
        Some(FileFormat::JsonLines) => read_lines(path)
            .unwrap()
            .lines
            .iter()
            .map(|l| parse_line(l).unwrap())
            .collect(),
        Some(FileFormat::Protobuf) => read_messages(path).unwrap().requests,
        other => panic!("{}: {other:?}", path.display()),
    };
    let records = requests
        .iter()
        .map(|r| match r {
            ExportRequest::Logs(l) => l
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .map(|s| s.log_records.len() as u64)
                .sum(),
            _ => 0,
        })
        .sum();
    (bytes, records)
}

/// Bytes per event of one format: over every file, and over the rotated
/// (compressed) files alone when there are some.
struct Footprint {
    events: u64,
    per_event: f64,
    rotated_per_event: Option<f64>,
}

fn footprint(dir: &Path, events: u64, format: FileFormat, gzip: bool) -> Footprint {
    let mut builder = FileExporter::builder(dir)
        .format(format)
        .fsync(Fsync::Never)
        .max_files(100_000);
    builder = if gzip {
        builder
            .max_file_bytes(BYTES_ROTATE_AT)
            .compress_rotated(true)
    } else {
        builder.max_file_bytes(1 << 30)
    };
    let t = Telemetry::builder()
        .service("bench", "1")
        .env(Environment::from_pairs::<&str, &str>([]))
        .consent(ConsentPolicy::opt_in().exempt(Category::PERFORMANCE))
        .exporter(builder.build().unwrap())
        .queue_capacity(events as usize + 1)
        .flush_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    for i in 0..events {
        emit(&t, i);
    }
    assert!(t.shutdown(Duration::from_secs(120)).is_complete());
    assert_eq!(t.drops().total(), 0, "{:?}", t.drops());
    let (mut bytes, mut records, mut gz_bytes, mut gz_records) = (0, 0, 0, 0);
    for path in files(dir, Signal::Logs).unwrap() {
        let (b, r) = file_bytes_and_records(&path);
        bytes += b;
        records += r;
        if path.extension().is_some_and(|e| e == "gz") {
            gz_bytes += b;
            gz_records += r;
        }
    }
    assert_eq!(records, events, "every event is on disk");
    assert_eq!(
        bytes,
        dir_bytes(dir),
        "only log files (no metrics, no traces)"
    );
    Footprint {
        events: records,
        per_event: bytes as f64 / records as f64,
        rotated_per_event: (gz_records > 0).then(|| gz_bytes as f64 / gz_records as f64),
    }
}

fn bytes_table(events: u64) {
    println!("\n## Bytes on disk per event ({events} events, one shape: 4 fields)\n");
    println!("| format | bytes/event, all files | bytes/event, rotated .gz files only |");
    println!("|---|---:|---:|");
    let mb = BYTES_ROTATE_AT >> 20;
    for (name, format, gzip) in [
        ("OTLP/JSON lines (`.jsonl`)", FileFormat::JsonLines, false),
        (
            "OTLP/JSON lines, gzip-rotated (`.jsonl.gz`)",
            FileFormat::JsonLines,
            true,
        ),
        ("OTLP protobuf (`.otlp.pb`)", FileFormat::Protobuf, false),
        (
            "OTLP protobuf, gzip-rotated (`.otlp.pb.gz`)",
            FileFormat::Protobuf,
            true,
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let f = footprint(dir.path(), events, format, gzip);
        assert_eq!(f.events, events);
        let rotated = match f.rotated_per_event {
            Some(b) => format!("{b:.1} (rotated at {mb} MiB)"),
            None => "-".to_owned(),
        };
        println!("| {name} | {:.1} | {rotated} |", f.per_event);
    }
    let dir = tempfile::tempdir().unwrap();
    let a = appender_events(dir.path(), events);
    println!(
        "| tracing-appender + fmt JSON (peer, {} of {events} events kept) | {:.1} | - |",
        a.written,
        a.bytes as f64 / a.written.max(1) as f64
    );
}

fn appender(dir: &Path) -> Run {
    appender_events(dir, EVENTS)
}

fn appender_events(dir: &Path, events: u64) -> Run {
    use tracing_subscriber::layer::SubscriberExt;
    let file = tracing_appender::rolling::never(dir, "tracing.jsonl");
    let (writer, guard) = tracing_appender::non_blocking(file);
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(writer)
            .with_ansi(false),
    );
    let cpu = CpuClock::start();
    let start = Instant::now();
    let mut recording_cpu_ns = 0.0;
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..events {
            tracing::info!(
                step = i,
                route = "/checkout/payment",
                items = 3u64,
                ok = true,
                "checkout.step"
            );
        }
        recording_cpu_ns = cpu.elapsed().1;
    });
    drop(guard); // flushes everything accepted
    let seconds = start.elapsed().as_secs_f64();
    let (cpu_ns, _) = cpu.elapsed();
    let f = std::fs::File::open(dir.join("tracing.jsonl")).unwrap();
    let written = std::io::BufReader::new(f).lines().count() as u64;
    Run {
        written,
        seconds,
        bytes: dir_bytes(dir),
        cpu_ns,
        recording_cpu_ns,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Peak resident memory of this process so far, in KiB (Linux).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// A burst of `events` with the default configuration (only the file
/// exporter and a 20 ms flush interval set): how many reach the disk, and
/// the process's peak memory.
fn burst(events: u64) {
    let dir = tempfile::tempdir().unwrap();
    let before = peak_rss_kib();
    let mut builder = Telemetry::builder();
    // FILE_BENCH_BUFFER=n: a buffer_capacity other than the default.
    if let Some(n) = std::env::var("FILE_BENCH_BUFFER")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        builder = builder.buffer_capacity(n);
    }
    let t = builder
        .service("bench", "1")
        .env(Environment::from_pairs::<&str, &str>([]))
        .consent(ConsentPolicy::opt_in().exempt(Category::PERFORMANCE))
        .exporter(
            FileExporter::builder(dir.path())
                .fsync(Fsync::Never)
                .max_file_bytes(1 << 30)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let start = Instant::now();
    for i in 0..events {
        emit(&t, i);
    }
    let produced = start.elapsed().as_secs_f64();
    t.shutdown(Duration::from_secs(120));
    let seconds = start.elapsed().as_secs_f64();
    let dropped = t.drops().total();
    let peak = peak_rss_kib();
    println!("\n## A burst of {events} events, default configuration\n");
    println!("| kept | dropped (queue_full) | recording took | on disk after | peak RSS growth |");
    println!("|---:|---:|---:|---:|---:|");
    println!(
        "| {:.1}% | {dropped} | {produced:.2} s | {seconds:.2} s | {:.0} MiB |",
        100.0 * (events - dropped) as f64 / events as f64,
        (peak.saturating_sub(before)) as f64 / 1024.0
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would pass
    // nothing: run a single small round then.
    let quick = !std::env::args().any(|a| a == "--bench");
    if std::env::var_os("FILE_BENCH_BURST").is_some() {
        burst(if quick { 20_000 } else { 1_000_000 });
        return;
    }
    if std::env::var_os("FILE_BENCH_BYTES_ONLY").is_some() {
        bytes_table(if quick { 2_000 } else { BYTES_EVENTS });
        return;
    }
    let rounds = if quick { 1 } else { ROUNDS };
    let (mut o, mut p, mut a) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let d1 = tempfile::tempdir().unwrap();
        o.push(ours(d1.path(), FileFormat::JsonLines));
        let d3 = tempfile::tempdir().unwrap();
        p.push(ours(d3.path(), FileFormat::Protobuf));
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
    let (ro, rp, ra) = (rate(&o), rate(&p), rate(&a));
    println!("\n## File export throughput ({EVENTS} events x {rounds} rounds, medians)\n");
    println!("| pipeline | events/s on disk | bytes/event | share of events kept |");
    println!("|---|---:|---:|---:|");
    println!(
        "| telemetry-exporters FileExporter (OTLP/JSON lines) | {ro:.0} | {:.0} | {:.1}% |",
        per_event(&o),
        100.0 * kept(&o)
    );
    println!(
        "| telemetry-exporters FileExporter (OTLP protobuf) | {rp:.0} | {:.0} | {:.1}% |",
        per_event(&p),
        100.0 * kept(&p)
    );
    println!(
        "| tracing-appender non-blocking + fmt JSON | {ra:.0} | {:.0} | {:.1}% |",
        per_event(&a),
        100.0 * kept(&a)
    );
    println!(
        "\nratio ours / tracing-appender: {:.2}x with OTLP/JSON, {:.2}x with protobuf (target >= 4x)",
        ro / ra,
        rp / ra
    );
    cpu_table(&o, &p, &a, ra);
    bytes_table(if quick { 2_000 } else { BYTES_EVENTS });
}

/// Where the CPU time of a round goes, per event on disk, and the rate
/// the machine's cores could reach at that cost if none of them ever
/// waited: the bound on any scheduling of the same work.
fn cpu_table(o: &[Run], p: &[Run], a: &[Run], peer_rate: f64) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    println!("\n## CPU time per event on disk (medians; {cores} cores)\n");
    println!(
        "| pipeline | all threads | recording thread | other threads | {cores}-core bound | bound / peer's rate |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, runs) in [
        ("FileExporter, OTLP/JSON lines", o),
        ("FileExporter, OTLP protobuf", p),
        ("tracing-appender + fmt JSON", a),
    ] {
        let per = |f: &dyn Fn(&Run) -> f64| {
            median(
                runs.iter()
                    .map(|r| f(r) / r.written.max(1) as f64)
                    .collect(),
            )
        };
        let all = per(&|r| r.cpu_ns);
        let recording = per(&|r| r.recording_cpu_ns);
        let bound = cores * 1e9 / all;
        println!(
            "| {name} | {all:.0} ns | {recording:.0} ns | {:.0} ns | {bound:.0} events/s | {:.2}x |",
            all - recording,
            bound / peer_rate
        );
    }
    println!(
        "\nA rate of 4x the peer's on {cores} cores needs at most {:.0} ns of CPU time per event, all threads together.",
        cores * 1e9 / (4.0 * peer_rate)
    );
}
