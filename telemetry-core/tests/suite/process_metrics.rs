//! The process-metrics collector: every metric with its unit and category,
//! values that follow what the process does (memory, threads, file
//! descriptors, CPU), consent, and the collector thread's lifetime.
//!
//! The tests measure the whole process, so they take turns (`serial`), and
//! they wait for a condition with a generous deadline instead of sleeping a
//! fixed time.
#![cfg(feature = "process-metrics")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::{Arc, Barrier, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::*;
use telemetry_core::export::{MetricData, MetricPoints, Number, Temporality};
use telemetry_core::process_metrics::ProcessMetrics;
use telemetry_core::testing::InMemoryExporter;
use telemetry_core::*;

const INTERVAL: Duration = Duration::from_millis(50);
const DEADLINE: Duration = Duration::from_secs(20);

const GAUGES: [(&str, &str); 6] = [
    ("process.cpu.utilization", "1"),
    ("process.memory.usage", "By"),
    ("process.memory.virtual", "By"),
    ("process.thread.count", "{thread}"),
    ("process.unix.file_descriptor.count", "{file_descriptor}"),
    ("process.uptime", "s"),
];

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

fn start(t: &Telemetry) -> ProcessMetrics {
    ProcessMetrics::builder(t)
        .interval(INTERVAL)
        .start()
        .unwrap()
}

/// Flushes until `done` holds or the deadline passes; whether it held.
fn poll(
    t: &Telemetry,
    exp: &InMemoryExporter,
    mut done: impl FnMut(&InMemoryExporter) -> bool,
) -> bool {
    let begin = Instant::now();
    loop {
        t.force_flush().unwrap();
        if done(exp) {
            return true;
        }
        if begin.elapsed() > DEADLINE {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// The latest exported value of the gauge `name`.
fn gauge(exp: &InMemoryExporter, name: &str) -> Option<f64> {
    match exp.last_metric(name)?.points {
        MetricPoints::Gauge { points } => match points.first()?.value {
            Number::F64(v) => Some(v),
            Number::I64(v) => Some(v as f64),
        },
        _ => None,
    }
}

/// The value of the gauge `name` in a sample taken after this call.
fn fresh_gauge(t: &Telemetry, exp: &InMemoryExporter, name: &str) -> f64 {
    // A few intervals, so that a sample starts (and ends) after the call.
    thread::sleep(INTERVAL * 4);
    assert!(poll(t, exp, |e| gauge(e, name).is_some()), "no {name}");
    gauge(exp, name).unwrap()
}

fn cpu_seconds(exp: &InMemoryExporter) -> Option<f64> {
    let m = exp.last_metric("process.cpu.time")?;
    let MetricPoints::Sum { points, .. } = m.points else {
        return None;
    };
    match points.first()?.value {
        Number::F64(v) => Some(v),
        Number::I64(_) => None,
    }
}

fn has_thread_count() -> bool {
    cfg!(any(target_os = "linux", target_os = "android"))
}

fn has_fd_count() -> bool {
    cfg!(unix) && !cfg!(target_os = "netbsd")
}

/// Threads of this process named like the collector thread (Linux keeps the
/// first 15 bytes of a thread name).
#[cfg(target_os = "linux")]
fn collector_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim_end() == "telemetry-proce")
        .count()
}

fn denying_resource() -> (Telemetry, InMemoryExporter) {
    let exp = InMemoryExporter::new();
    let t = builder()
        .consent(ConsentPolicy::opt_in().require(Category::RESOURCE))
        .exporter(exp.clone())
        .build()
        .unwrap();
    (t, exp)
}

fn consent_drops(t: &Telemetry) -> u64 {
    t.drops().get(DropCause::Consent, Category::RESOURCE)
}

#[test]
fn every_metric_arrives_with_its_unit_category_and_kind() {
    let _serial = serial();
    let (t, exp) = setup();
    let _m = start(&t);
    let expected: Vec<&str> = GAUGES
        .iter()
        .map(|g| g.0)
        .filter(|n| has_thread_count() || *n != "process.thread.count")
        .filter(|n| has_fd_count() || *n != "process.unix.file_descriptor.count")
        .chain(["process.cpu.time"])
        .collect();
    assert!(
        poll(&t, &exp, |e| expected
            .iter()
            .all(|n| e.last_metric(n).is_some())),
        "missing: {:?}",
        expected
            .iter()
            .filter(|n| exp.last_metric(n).is_none())
            .collect::<Vec<_>>()
    );
    let one_point = |m: &MetricData| match &m.points {
        MetricPoints::Sum { points, .. } | MetricPoints::Gauge { points } => {
            assert_eq!(points.len(), 1, "{}", m.name);
            assert!(points[0].attributes.is_empty(), "{}", m.name);
        }
        MetricPoints::Histogram { .. } => panic!("{} is a histogram", m.name),
    };
    let cpu = exp.last_metric("process.cpu.time").unwrap();
    assert_eq!(cpu.unit, "s");
    assert_eq!(cpu.category, Category::RESOURCE);
    assert!(matches!(
        cpu.points,
        MetricPoints::Sum {
            monotonic: true,
            temporality: Temporality::Cumulative,
            ..
        }
    ));
    one_point(&cpu);
    for (name, unit) in GAUGES {
        let Some(m) = exp.last_metric(name) else {
            continue; // where the platform has none, as checked above
        };
        assert_eq!(m.unit, unit, "{name}");
        assert_eq!(m.category, Category::RESOURCE, "{name}");
        assert!(matches!(m.points, MetricPoints::Gauge { .. }), "{name}");
        assert!(!m.description.is_empty(), "{name}");
        one_point(&m);
    }
    assert!(gauge(&exp, "process.memory.usage").unwrap() > 0.0);
    assert!(
        gauge(&exp, "process.memory.virtual").unwrap()
            >= gauge(&exp, "process.memory.usage").unwrap()
    );
    let utilization = gauge(&exp, "process.cpu.utilization").unwrap();
    assert!((0.0..=1.0).contains(&utilization), "{utilization}");
    if has_thread_count() {
        // At least the main thread, the export worker and the collector.
        assert!(gauge(&exp, "process.thread.count").unwrap() >= 3.0);
    }
    if has_fd_count() {
        // stdin, stdout, stderr at least.
        assert!(gauge(&exp, "process.unix.file_descriptor.count").unwrap() >= 3.0);
    }
    assert!(gauge(&exp, "process.uptime").unwrap() >= 0.0);
}

#[test]
fn metrics_are_recorded_in_the_configured_category() {
    let _serial = serial();
    let (t, exp) = setup();
    let _m = ProcessMetrics::builder(&t)
        .interval(INTERVAL)
        .category(Category::PERFORMANCE)
        .start()
        .unwrap();
    assert!(poll(&t, &exp, |e| e
        .last_metric("process.uptime")
        .is_some()
        && e.last_metric("process.cpu.time").is_some()));
    for name in ["process.cpu.time", "process.uptime"] {
        assert_eq!(
            exp.last_metric(name).unwrap().category,
            Category::PERFORMANCE
        );
    }
}

#[test]
fn resident_memory_grows_with_64_mib_held() {
    let _serial = serial();
    let (t, exp) = setup();
    let _m = start(&t);
    let before = fresh_gauge(&t, &exp, "process.memory.usage");
    assert!(before > 0.0);
    // Every byte written, so every page is resident.
    let block = vec![0x5a_u8; 64 << 20];
    let grown = poll(&t, &exp, |e| {
        gauge(e, "process.memory.usage").is_some_and(|now| now >= before + (48 << 20) as f64)
    });
    let after = gauge(&exp, "process.memory.usage").unwrap();
    assert_eq!(std::hint::black_box(&block)[12345], 0x5a);
    drop(block);
    assert!(grown, "resident memory went from {before} to {after} bytes");
}

#[test]
fn thread_count_rises_with_four_parked_threads() {
    if !has_thread_count() {
        return;
    }
    let _serial = serial();
    let (t, exp) = setup();
    let _m = start(&t);
    // The test harness may still be ending the previous test's thread or
    // starting the next one's, which moves the count by one; so a rise of
    // four is looked for up to three times.
    let mut seen = Vec::new();
    for _ in 0..3 {
        let before = fresh_gauge(&t, &exp, "process.thread.count");
        let barrier = Arc::new(Barrier::new(5));
        let parked: Vec<_> = (0..4)
            .map(|_| {
                let b = barrier.clone();
                thread::spawn(move || {
                    b.wait();
                })
            })
            .collect();
        let risen = poll(&t, &exp, |e| {
            gauge(e, "process.thread.count").is_some_and(|n| n >= before + 4.0)
        });
        seen.push((before, gauge(&exp, "process.thread.count")));
        barrier.wait();
        for p in parked {
            p.join().unwrap();
        }
        if risen {
            return;
        }
    }
    panic!("the thread count did not rise by 4 (before, with the threads): {seen:?}");
}

#[test]
fn file_descriptor_count_rises_with_20_open_files() {
    if !has_fd_count() {
        return;
    }
    let _serial = serial();
    let (t, exp) = setup();
    let _m = start(&t);
    let before = fresh_gauge(&t, &exp, "process.unix.file_descriptor.count");
    let files: Vec<std::fs::File> = (0..20).map(|_| tempfile::tempfile().unwrap()).collect();
    let risen = poll(&t, &exp, |e| {
        gauge(e, "process.unix.file_descriptor.count").is_some_and(|n| n >= before + 20.0)
    });
    let with_files = gauge(&exp, "process.unix.file_descriptor.count");
    drop(files);
    assert!(risen, "from {before} to {with_files:?}");
    let closed = poll(&t, &exp, |e| {
        gauge(e, "process.unix.file_descriptor.count").is_some_and(|n| n <= before)
    });
    assert!(
        closed,
        "the count did not fall back after closing the files"
    );
}

/// This process's CPU time (user and system) in seconds, from /proc.
#[cfg(target_os = "linux")]
fn proc_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15; `fields[0]` is field 3. In clock
    // ticks, which are 100 a second on Linux.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

#[test]
fn cpu_time_and_utilization_follow_a_busy_loop() {
    let _serial = serial();
    let (t, exp) = setup();
    let _m = start(&t);
    assert!(poll(&t, &exp, |e| cpu_seconds(e).is_some()));
    let before = cpu_seconds(&exp).unwrap();
    // Spin until a tenth of a second more is counted (the counter has the
    // operating system's tick resolution).
    let mut utilization = Vec::new();
    let begin = Instant::now();
    let mut spins = 0u64;
    let mut risen = false;
    while begin.elapsed() < DEADLINE {
        let until = Instant::now() + Duration::from_millis(200);
        while Instant::now() < until {
            spins = std::hint::black_box(spins.wrapping_mul(31).wrapping_add(7));
        }
        t.force_flush().unwrap();
        utilization.extend(gauge(&exp, "process.cpu.utilization"));
        if cpu_seconds(&exp).unwrap() >= before + 0.1 {
            risen = true;
            break;
        }
    }
    assert!(
        risen,
        "process.cpu.time stayed at {before} s while spinning"
    );
    assert!(
        utilization.iter().all(|u| (0.0..=1.0).contains(u)),
        "{utilization:?}"
    );
    assert!(
        utilization.iter().any(|u| *u > 0.0),
        "no CPU use seen while spinning: {utilization:?}"
    );
    // The counter is the process's total since it started, as of the last
    // sample (a few intervals ago at most).
    #[cfg(target_os = "linux")]
    {
        let counted = cpu_seconds(&exp).unwrap();
        let total = proc_cpu_seconds();
        assert!(counted <= total + 0.02, "counted {counted} s of {total} s");
        assert!(counted > total - 1.0, "counted {counted} s of {total} s");
    }
}

#[test]
fn uptime_advances() {
    let _serial = serial();
    let (t, exp) = setup();
    let _m = start(&t);
    let before = fresh_gauge(&t, &exp, "process.uptime");
    assert!(poll(&t, &exp, |e| gauge(e, "process.uptime")
        .is_some_and(|u| u >= before + 1.0)));
}

#[test]
fn a_denied_category_records_nothing_and_counts_consent_drops() {
    let _serial = serial();
    let (t, exp) = denying_resource();
    let _m = start(&t);
    // Two samples or more (the first has no utilization yet).
    assert!(poll(&t, &exp, |_| consent_drops(&t) >= 13));
    t.force_flush().unwrap();
    let exported: Vec<_> = exp
        .metrics()
        .into_iter()
        .filter(|m| m.name.starts_with("process."))
        .map(|m| m.name)
        .collect();
    assert!(exported.is_empty(), "{exported:?}");
    assert!(
        exp.sum_value(
            "telemetry.records.dropped",
            &[("cause", "consent"), ("telemetry.category", "resource")]
        )
        .is_some_and(|n| n >= 13)
    );
}

#[test]
fn dropping_the_handle_stops_sampling() {
    let _serial = serial();
    let (t, exp) = denying_resource();
    let m = start(&t);
    // Each sample is visible as consent drops.
    assert!(poll(&t, &exp, |_| consent_drops(&t) >= 13));
    #[cfg(target_os = "linux")]
    assert_eq!(collector_threads(), 1);
    drop(m);
    #[cfg(target_os = "linux")]
    assert_eq!(collector_threads(), 0);
    let after_drop = consent_drops(&t);
    thread::sleep(INTERVAL * 6);
    assert_eq!(consent_drops(&t), after_drop, "sampled after the drop");
}

#[test]
fn stop_is_prompt_during_a_long_interval() {
    let _serial = serial();
    let (t, exp) = setup();
    let m = ProcessMetrics::builder(&t)
        .interval(Duration::from_secs(3600))
        .start()
        .unwrap();
    // The first sample is taken at once.
    assert!(poll(&t, &exp, |e| e
        .last_metric("process.uptime")
        .is_some()));
    let begin = Instant::now();
    m.stop();
    assert!(
        begin.elapsed() < Duration::from_secs(2),
        "{:?}",
        begin.elapsed()
    );
    #[cfg(target_os = "linux")]
    assert_eq!(collector_threads(), 0);
}

#[test]
fn a_leaked_handle_stops_after_shutdown() {
    let _serial = serial();
    let (t, exp) = setup();
    let m = start(&t);
    assert!(poll(&t, &exp, |e| e
        .last_metric("process.uptime")
        .is_some()));
    std::mem::forget(m);
    t.shutdown(Duration::from_secs(5));
    #[cfg(target_os = "linux")]
    {
        let begin = Instant::now();
        while collector_threads() > 0 && begin.elapsed() < DEADLINE {
            thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            collector_threads(),
            0,
            "the collector outlived the shutdown"
        );
    }
}

#[test]
fn the_collector_does_not_keep_the_instance_alive() {
    let _serial = serial();
    let (t, exp) = setup();
    let m = start(&t);
    assert!(poll(&t, &exp, |e| e
        .last_metric("process.uptime")
        .is_some()));
    // The last handle goes: the instance shuts down (exporting what is
    // buffered) although the collector is still running.
    drop(t);
    let begin = Instant::now();
    while !exp.is_shut_down() && begin.elapsed() < DEADLINE {
        thread::sleep(Duration::from_millis(10));
    }
    assert!(exp.is_shut_down(), "the collector kept the instance alive");
    // And the collector ends by itself.
    #[cfg(target_os = "linux")]
    {
        let begin = Instant::now();
        while collector_threads() > 0 && begin.elapsed() < DEADLINE {
            thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(collector_threads(), 0);
    }
    drop(m);
}

#[test]
fn invalid_configuration_is_reported_at_start() {
    let _serial = serial();
    let (t, _exp) = setup();
    for (interval, says) in [
        (Duration::ZERO, "zero"),
        (Duration::from_secs(3601), "longer than an hour"),
    ] {
        let err = ProcessMetrics::builder(&t)
            .interval(interval)
            .start()
            .unwrap_err();
        assert_eq!(err.kind(), ConfigErrorKind::InvalidLimit);
        assert!(err.message().contains(says), "{err}");
        assert!(err.message().contains("Duration::from_secs(10)"), "{err}");
    }
    // A metric name already taken by another kind of instrument.
    t.gauge("process.cpu.time", Category::RESOURCE)
        .build()
        .unwrap();
    let err = ProcessMetrics::builder(&t).start().unwrap_err();
    assert_eq!(err.kind(), ConfigErrorKind::InvalidMetric);
    assert!(err.message().contains("process.cpu.time"), "{err}");
    #[cfg(target_os = "linux")]
    assert_eq!(collector_threads(), 0, "a thread was started anyway");
}
