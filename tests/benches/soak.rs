//! A soak test of the export pipeline under collector outages: two threads
//! record at a steady rate (spans, events, counter adds under subject scopes,
//! with grant/revoke churn) into a `Telemetry` exporting over OTLP/HTTP to a
//! real rotel collector on 127.0.0.1, which is killed and restarted on the
//! same ports every few minutes. Once a second it logs the process's RSS,
//! the export queue length, the drops by cause and the callers' latency to
//! a CSV file; at the end it shuts down with a 3 s deadline and writes a
//! summary.
//!
//! Not part of CI, and `cargo bench` alone skips it (it runs for 30
//! minutes). Run `scripts/soak.sh [secs]`, which also plots the log, or:
//!
//! `cargo bench -p telemetry-tests --bench soak -- --soak [--secs N]`
//!
//! Settings (environment): `SOAK_SECS` (default 1800), `SOAK_PERIOD` and
//! `SOAK_DOWN` (an outage of `SOAK_DOWN` seconds in the middle of every
//! `SOAK_PERIOD` seconds; defaults 180 and 60), `SOAK_RATE` (records per
//! second over all threads, default 2000), `SOAK_THREADS` (default 2),
//! `SOAK_KILL` (`kill`: SIGKILL, the default; `term`: stop.sh's SIGTERM),
//! `SOAK_OUT` (default `target/soak/<UTC time>/`). See docs/soak.md.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::hash_map::RandomState;
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use telemetry_core::{
    Category, ConsentPolicy, Counter, DropCause, Environment, KeyId, ShutdownReport, Telemetry,
    Value,
};
use telemetry_exporters::otlp::{OtlpExporter, OtlpStats};
use telemetry_tests::collector_scripts;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Subjects whose consent to business and interaction data churns.
const SUBJECTS: [&str; 8] = [
    "soak-ann", "soak-bob", "soak-cid", "soak-dee", "soak-eve", "soak-fay", "soak-gus", "soak-hal",
];
/// Records per iteration of a recording thread: a span, two events, a counter add.
const RECORDS_PER_ITERATION: u64 = 4;

// ---------------------------------------------------------------- settings

#[derive(Clone, Debug)]
struct Settings {
    secs: u64,
    period: u64,
    down: u64,
    rate: u64,
    threads: usize,
    sigkill: bool,
    out: PathBuf,
}

fn env_u64(name: &str, default: u64) -> Result<u64, Error> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => {
            Ok(v.trim().parse().map_err(|e| format!("{name}={v:?}: {e}"))?)
        }
        _ => Ok(default),
    }
}

impl Settings {
    fn load(args: &[String]) -> Result<Settings, Error> {
        let mut secs = env_u64("SOAK_SECS", 1800)?;
        if let Some(i) = args.iter().position(|a| a == "--secs") {
            let v = args.get(i + 1).ok_or("--secs needs a value")?;
            secs = v.parse().map_err(|e| format!("--secs {v:?}: {e}"))?;
        }
        let period = env_u64("SOAK_PERIOD", 180)?.max(2);
        let down = env_u64("SOAK_DOWN", 60)?.min(period - 1);
        let kill = std::env::var("SOAK_KILL").unwrap_or_else(|_| "kill".into());
        let sigkill = match kill.as_str() {
            "kill" | "" => true,
            "term" => false,
            other => return Err(format!("SOAK_KILL={other:?}: use kill or term").into()),
        };
        let out = match std::env::var_os("SOAK_OUT") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/soak")
                .join(utc_stamp(SystemTime::now())),
        };
        Ok(Settings {
            secs: secs.max(1),
            period,
            down,
            rate: env_u64("SOAK_RATE", 2000)?.max(1),
            threads: env_u64("SOAK_THREADS", 2)?.clamp(1, 64) as usize,
            sigkill,
            out,
        })
    }

    /// Outages as (start, end) in seconds from the start: one of `down`
    /// seconds in the middle of every period, ending at least 5 s before
    /// the run does (the run ends with the collector up).
    fn outages(&self) -> Vec<(u64, u64)> {
        let mut v = Vec::new();
        if self.down == 0 {
            return v;
        }
        let mut start = (self.period - self.down) / 2;
        while start + self.down + 5 <= self.secs {
            v.push((start, start + self.down));
            start += self.period;
        }
        v
    }
}

/// `YYYYMMDD-HHMMSS` in UTC.
fn utc_stamp(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

// --------------------------------------------------------------- collector

/// A free port on 127.0.0.1 below the ephemeral range: the ports stay the
/// same across restarts, and while the collector is down no outgoing
/// connection (ours, or another process's test picking port 0) can be
/// given one of them, so the restart finds them free and the exporter
/// never connects to itself.
fn stable_port(avoid: u16) -> Result<u16, Error> {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    let (low, high) = (20_000u16, ephemeral_low.saturating_sub(1).max(20_001));
    for _ in 0..200 {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(u64::from(avoid));
        let port = low + (h.finish() % u64::from(high - low)) as u16;
        if port != avoid && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err("no free port on 127.0.0.1 below the ephemeral range".into())
}

/// The rotel collector, started with tests/collector/start.sh on fixed
/// ports; stopped when dropped (also on a panic), and by start.sh's
/// watchdog if this process dies.
struct CollectorGuard {
    dir: PathBuf,
    grpc_port: u16,
    http_port: u16,
}

impl CollectorGuard {
    fn install() -> Result<(), Error> {
        let out = Command::new("bash")
            .arg(collector_scripts().join("install.sh"))
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "tests/collector/install.sh failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(())
    }

    fn start(&self) -> Result<(), Error> {
        let out = Command::new("bash")
            .arg(collector_scripts().join("start.sh"))
            .arg(&self.dir)
            .arg(self.grpc_port.to_string())
            .arg(self.http_port.to_string())
            .env("COLLECTOR_PARENT_PID", std::process::id().to_string())
            .output()?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "start.sh failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
            .into())
        }
    }

    /// Stops the collector: SIGKILL (a crash) or stop.sh's SIGTERM.
    fn kill(&self, sigkill: bool) {
        if sigkill {
            let pid = std::fs::read_to_string(self.dir.join("collector.pid")).unwrap_or_default();
            let pid = pid.trim();
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if !pid.is_empty() && String::from_utf8_lossy(&cmdline).contains("rotel-agent") {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
        // Also stops the watchdog and removes the pid file.
        self.stop();
    }

    fn stop(&self) {
        let _ = Command::new("bash")
            .arg(collector_scripts().join("stop.sh"))
            .arg(&self.dir)
            .output();
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }
}

impl Drop for CollectorGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Counts what arrived at the collector since the last call: takes each
/// output file away (rename, read, delete), so the collector's files do
/// not grow for the whole run. Returns (spans, log records).
fn take_arrivals(dir: &Path) -> (u64, u64) {
    let take = |name: &str, needle: &str| -> u64 {
        let from = dir.join(name);
        let to = dir.join(format!("{name}.counting"));
        if std::fs::rename(&from, &to).is_err() {
            return 0;
        }
        let n = std::fs::read_to_string(&to)
            .map(|s| s.matches(needle).count() as u64)
            .unwrap_or(0);
        let _ = std::fs::remove_file(&to);
        n
    };
    // One `"spanId"` per span (`parentSpanId` does not match; no links);
    // one `"observedTimeUnixNano"` per log record.
    (
        take("traces.jsonl", "\"spanId\""),
        take("logs.jsonl", "\"observedTimeUnixNano\""),
    )
}

// ------------------------------------------------------------ measurements

/// A log-linear histogram of nanoseconds (16 sub-buckets per power of two,
/// under 6.3 % relative error), for the whole run's percentiles without
/// keeping every sample (which would show up in the RSS being measured).
struct LogHist {
    buckets: Vec<u64>,
    count: u64,
    max: u64,
}

impl LogHist {
    const SUB: u32 = 4;

    fn new() -> Self {
        LogHist {
            buckets: vec![0; 64 << Self::SUB],
            count: 0,
            max: 0,
        }
    }

    fn index(v: u64) -> usize {
        if v < (1 << Self::SUB) {
            return v as usize;
        }
        let e = 63 - v.leading_zeros();
        let sub = (v >> (e - Self::SUB)) & ((1 << Self::SUB) - 1);
        (((e - Self::SUB + 1) << Self::SUB) as u64 + sub) as usize
    }

    /// The lowest value of bucket `i`.
    fn low(i: usize) -> u64 {
        let i = i as u64;
        if i < (1 << Self::SUB) {
            return i;
        }
        let e = (i >> Self::SUB) + u64::from(Self::SUB) - 1;
        let sub = i & ((1 << Self::SUB) - 1);
        (1 << e) | (sub << (e - u64::from(Self::SUB)))
    }

    fn add(&mut self, v: u64) {
        self.buckets[Self::index(v)] += 1;
        self.count += 1;
        self.max = self.max.max(v);
    }

    fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((self.count as f64 * q).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Self::low(i).min(self.max);
            }
        }
        self.max
    }
}

fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Process figures from /proc.
#[derive(Clone, Copy, Default)]
struct ProcFigures {
    rss_kib: u64,
    threads: u64,
    fds: u64,
    /// User plus system CPU time, in clock ticks.
    cpu_ticks: u64,
    /// Minor page faults.
    minflt: u64,
    /// Involuntary context switches of the recording threads (preemptions).
    record_nvcsw: u64,
}

fn status_field(status: &str, name: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn proc_self() -> ProcFigures {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is the
    // first, minflt the 8th, utime and stime the 12th and 13th.
    let fields: Vec<u64> = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .map(|v| v.parse().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default();
    let get = |i: usize| fields.get(i).copied().unwrap_or(0);
    let record_nvcsw = std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .flatten()
                .filter(|task| {
                    std::fs::read_to_string(task.path().join("comm"))
                        .is_ok_and(|c| c.starts_with("soak-record"))
                })
                .map(|task| {
                    let status =
                        std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
                    status_field(&status, "nonvoluntary_ctxt_switches:")
                })
                .sum()
        })
        .unwrap_or(0);
    ProcFigures {
        rss_kib: status_field(&status, "VmRSS:"),
        threads: status_field(&status, "Threads:"),
        fds,
        cpu_ticks: get(11) + get(12),
        minflt: get(7),
        record_nvcsw,
    }
}

/// The machine's 1-minute load average.
fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

fn clock_ticks_per_sec() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100)
}

// --------------------------------------------------------------- the load

/// What the threads share with the sampler.
struct Shared {
    stop: AtomicBool,
    collector_up: AtomicBool,
    /// Caller latencies (ns) since the last sample, one vector per thread.
    latencies: Vec<Mutex<Vec<u64>>>,
    /// Grant/revoke latencies (ns) since the last sample.
    consent_latencies: Mutex<Vec<u64>>,
    records: AtomicU64,
    started: Instant,
    /// (seconds since start, what happened) for the collector.
    events: Mutex<Vec<(f64, String)>>,
}

impl Shared {
    fn event(&self, what: String) {
        let t = self.started.elapsed().as_secs_f64();
        eprintln!("soak: t={t:7.1}s {what}");
        if let Ok(mut e) = self.events.lock() {
            e.push((t, what));
        }
    }
}

/// One recording thread: `iterations_per_sec` iterations of a span holding
/// a business event, a counter add and an interaction event (and every
/// tenth time an error event), under a subject scope. Every call is timed.
fn record(t: Telemetry, orders: Counter, me: usize, shared: Arc<Shared>, iterations_per_sec: f64) {
    let interval = Duration::from_secs_f64(1.0 / iterations_per_sec);
    let mut next = Instant::now();
    let mut local = Vec::with_capacity(8);
    let mut visitor = String::new();
    let mut n: u64 = 0;
    while !shared.stop.load(Ordering::Relaxed) {
        // Every 100th iteration comes from a new visitor, seen once (no
        // consent recorded): the library must let such subjects go.
        let subject = if n % 100 == 99 {
            visitor.clear();
            let _ = write!(visitor, "soak-visitor-{me}-{n}");
            visitor.as_str()
        } else {
            SUBJECTS[(n as usize + me * 3) % SUBJECTS.len()]
        };
        let scope = t.subject(subject);
        let t0 = Instant::now();
        let span = t.span("soak.request", Category::PERFORMANCE);
        let t1 = Instant::now();
        let entered = span.enter();
        let t2 = Instant::now();
        t.event("soak.purchase", Category::BUSINESS)
            .public("n", n)
            .hashed("email", "soak@example.com")
            .emit();
        let t3 = Instant::now();
        orders.add(1, &[("outcome", Value::Str("ok"))]);
        let t4 = Instant::now();
        t.event("soak.click", Category::INTERACTION)
            .public("button", "buy")
            .emit();
        let t5 = Instant::now();
        if n.is_multiple_of(10) {
            t.event("soak.failure", Category::ERRORS)
                .public("code", "E42")
                .emit();
            local.push(t5.elapsed().as_nanos() as u64);
        }
        let t6 = Instant::now();
        drop(entered);
        span.end();
        let t7 = Instant::now();
        drop(scope);
        local.extend([t1 - t0, t3 - t2, t4 - t3, t5 - t4, t7 - t6].map(|d| d.as_nanos() as u64));
        if let Ok(mut v) = shared.latencies[me].lock() {
            v.append(&mut local);
        }
        local.clear();
        shared.records.fetch_add(
            RECORDS_PER_ITERATION + u64::from(n.is_multiple_of(10)),
            Ordering::Relaxed,
        );
        n += 1;
        next += interval;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else if now - next > Duration::from_secs(1) {
            // Far behind (the machine was busy): do not burst to catch up.
            next = now;
        }
    }
}

/// Grant/revoke churn: every 250 ms one of the subjects grants or revokes
/// business and interaction data (one call for both), in turn; each
/// subject's answer flips every round.
fn churn(t: Telemetry, shared: Arc<Shared>) {
    let both = [Category::BUSINESS, Category::INTERACTION];
    for s in SUBJECTS.iter().step_by(2) {
        let _ = t.consent().grant(s, both);
    }
    let mut i = 0usize;
    while !shared.stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(250));
        let subject = SUBJECTS[i % SUBJECTS.len()];
        // Even subjects start granted: they revoke in even rounds.
        let subject_odd = !i.is_multiple_of(2);
        let round_odd = !(i / SUBJECTS.len()).is_multiple_of(2);
        let start = Instant::now();
        let _ = if subject_odd != round_odd {
            t.consent().grant(subject, both)
        } else {
            t.consent().revoke(subject, both)
        };
        let ns = start.elapsed().as_nanos() as u64;
        if let Ok(mut v) = shared.consent_latencies.lock() {
            v.push(ns);
        }
        i += 1;
    }
}

/// Kills the collector at the start of every outage and starts it again on
/// the same ports at its end.
fn control(
    collector: &CollectorGuard,
    outages: &[(u64, u64)],
    sigkill: bool,
    shared: &Shared,
) -> Vec<(f64, f64)> {
    let mut done = Vec::new();
    let wait_until = |t: u64| -> bool {
        let at = shared.started + Duration::from_secs(t);
        while Instant::now() < at {
            if shared.stop.load(Ordering::Relaxed) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50).min(at - Instant::now()));
        }
        true
    };
    for &(down_at, up_at) in outages {
        if !wait_until(down_at) {
            break;
        }
        let t_down = shared.started.elapsed().as_secs_f64();
        collector.kill(sigkill);
        shared.collector_up.store(false, Ordering::SeqCst);
        shared.event(format!(
            "collector {} (pid gone in {:.2} s)",
            if sigkill {
                "SIGKILLed"
            } else {
                "stopped (SIGTERM)"
            },
            shared.started.elapsed().as_secs_f64() - t_down
        ));
        // Come back up even when the run is stopping, so that shutdown is
        // measured against a live collector.
        let _ = wait_until(up_at);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let began = Instant::now();
            match collector.start() {
                Ok(()) => {
                    shared.collector_up.store(true, Ordering::SeqCst);
                    shared.event(format!(
                        "collector restarted on the same ports (start.sh took {:.2} s, attempt {attempt})",
                        began.elapsed().as_secs_f64()
                    ));
                    break;
                }
                Err(e) if attempt < 10 => {
                    shared.event(format!("restart attempt {attempt} failed: {e}"));
                    std::thread::sleep(Duration::from_secs(2));
                }
                Err(e) => {
                    shared.event(format!("giving up restarting the collector: {e}"));
                    break;
                }
            }
        }
        done.push((t_down, shared.started.elapsed().as_secs_f64()));
    }
    done
}

// ------------------------------------------------------------------ sample

const DROP_COLUMNS: [(DropCause, &str); 9] = [
    (DropCause::Consent, "drop_consent"),
    (DropCause::Sampling, "drop_sampling"),
    (DropCause::RateLimit, "drop_rate_limit"),
    (DropCause::QueueFull, "drop_queue_full"),
    (DropCause::ExporterFailure, "drop_exporter_failure"),
    (DropCause::Limits, "drop_limits"),
    (DropCause::Revoked, "drop_revoked"),
    (DropCause::Disabled, "drop_disabled"),
    (DropCause::Anonymized, "withheld_anonymized"),
];

const HEADER: &str = "t,rss_kib,queue_len,drop_consent,drop_sampling,drop_rate_limit,\
drop_queue_full,drop_exporter_failure,drop_limits,drop_revoked,drop_disabled,\
withheld_anonymized,lat_p50_ns,lat_p99_ns,lat_max_ns,calls,records,collector_up,\
otlp_requests,otlp_failed,otlp_retries,consent_ops,consent_max_ns,subjects,threads,fds,\
cpu_pct,rx_spans,rx_logs,minflt,record_nvcsw,load1";

/// One second of the log.
#[derive(Clone, Debug, Default)]
struct Row {
    t: u64,
    rss_kib: u64,
    queue_len: u64,
    drops: [u64; 9],
    lat: (u64, u64, u64),
    calls: u64,
    records: u64,
    collector_up: bool,
    otlp: (u64, u64, u64),
    consent_ops: u64,
    consent_max_ns: u64,
    subjects: u64,
    threads: u64,
    fds: u64,
    cpu_pct: f64,
    rx: (u64, u64),
    minflt: u64,
    record_nvcsw: u64,
    load1: f64,
}

impl Row {
    fn csv(&self) -> String {
        let mut s = format!("{},{},{}", self.t, self.rss_kib, self.queue_len);
        for d in self.drops {
            let _ = write!(s, ",{d}");
        }
        let _ = write!(
            s,
            ",{},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.1},{},{},{},{},{:.2}",
            self.lat.0,
            self.lat.1,
            self.lat.2,
            self.calls,
            self.records,
            u8::from(self.collector_up),
            self.otlp.0,
            self.otlp.1,
            self.otlp.2,
            self.consent_ops,
            self.consent_max_ns,
            self.subjects,
            self.threads,
            self.fds,
            self.cpu_pct,
            self.rx.0,
            self.rx.1,
            self.minflt,
            self.record_nvcsw,
            self.load1
        );
        s
    }
}

/// Latency histograms of the whole run: all, collector up, collector down.
struct Hists {
    all: LogHist,
    up: LogHist,
    down: LogHist,
    consent_up: LogHist,
    consent_down: LogHist,
}

struct Sampler<'a> {
    t: &'a Telemetry,
    stats: &'a OtlpStats,
    shared: &'a Shared,
    collector_dir: &'a Path,
    ticks_per_sec: u64,
    last: ProcFigures,
    last_records: u64,
    batch: Vec<u64>,
    hists: Hists,
}

impl Sampler<'_> {
    fn sample(&mut self, t: u64, interval: f64) -> Row {
        let up = self.shared.collector_up.load(Ordering::SeqCst);
        let now = proc_self();
        let queue_len = self.t.queued() as u64;
        let drops = self.t.drops();
        self.batch.clear();
        for slot in &self.shared.latencies {
            if let Ok(mut v) = slot.lock() {
                self.batch.append(&mut v);
            }
        }
        self.batch.sort_unstable();
        let hist = if up {
            &mut self.hists.up
        } else {
            &mut self.hists.down
        };
        for &ns in &self.batch {
            hist.add(ns);
            self.hists.all.add(ns);
        }
        let consent: Vec<u64> = self
            .shared
            .consent_latencies
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default();
        for &ns in &consent {
            if up {
                self.hists.consent_up.add(ns)
            } else {
                self.hists.consent_down.add(ns)
            }
        }
        let records = self.shared.records.load(Ordering::Relaxed);
        let row = Row {
            t,
            rss_kib: now.rss_kib,
            queue_len,
            drops: DROP_COLUMNS.map(|(c, _)| drops.by_cause(c)),
            lat: (
                percentile(&self.batch, 0.5),
                percentile(&self.batch, 0.99),
                self.batch.last().copied().unwrap_or(0),
            ),
            calls: self.batch.len() as u64,
            records: records - self.last_records,
            collector_up: up,
            otlp: (
                self.stats.requests(),
                self.stats.failed(),
                self.stats.retries(),
            ),
            consent_ops: consent.len() as u64,
            consent_max_ns: consent.iter().copied().max().unwrap_or(0),
            subjects: self.t.consent().subjects_in_memory() as u64,
            threads: now.threads,
            fds: now.fds,
            cpu_pct: now.cpu_ticks.saturating_sub(self.last.cpu_ticks) as f64 * 100.0
                / (self.ticks_per_sec as f64 * interval.max(1e-3)),
            rx: take_arrivals(self.collector_dir),
            minflt: now.minflt.saturating_sub(self.last.minflt),
            record_nvcsw: now.record_nvcsw.saturating_sub(self.last.record_nvcsw),
            load1: load1(),
        };
        self.last = now;
        self.last_records = records;
        row
    }
}

// ----------------------------------------------------------------- summary

fn fmt_ns(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.1} µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.2} ms", ns as f64 / 1e6),
        _ => format!("{:.2} s", ns as f64 / 1e9),
    }
}

fn hist_line(name: &str, h: &LogHist) -> String {
    format!(
        "{name:<28} n={:<10} p50={:<10} p99={:<10} p99.9={:<10} max={}",
        h.count,
        fmt_ns(h.quantile(0.5)),
        fmt_ns(h.quantile(0.99)),
        fmt_ns(h.quantile(0.999)),
        fmt_ns(h.max)
    )
}

/// Least-squares slope of RSS (KiB per minute) over rows with t >= from.
fn rss_slope(rows: &[Row], from: u64) -> f64 {
    let pts: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.t >= from)
        .map(|r| (r.t as f64 / 60.0, r.rss_kib as f64))
        .collect();
    let n = pts.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (mx, my) = (
        pts.iter().map(|p| p.0).sum::<f64>() / n,
        pts.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 { 0.0 } else { sxy / sxx }
}

struct Outcome<'a> {
    settings: &'a Settings,
    rows: &'a [Row],
    hists: &'a Hists,
    outages: &'a [(f64, f64)],
    events: &'a [(f64, String)],
    report: &'a ShutdownReport,
    shutdown_took: Duration,
    final_drops: [u64; 9],
    final_queue: u64,
    rx_total: (u64, u64),
    otlp: (u64, u64, u64),
    processor_errors: String,
}

fn summary(o: &Outcome<'_>) -> String {
    let s = o.settings;
    let rows = o.rows;
    let mut out = String::new();
    let _ = writeln!(out, "soak summary ({})", utc_stamp(SystemTime::now()));
    let _ = writeln!(
        out,
        "settings: {} s, {} recording threads, target {} records/s, outage {} s every {} s ({}), \
         queue capacity 16384, batch 512, export timeout 10 s (library defaults), OTLP/HTTP protobuf",
        s.secs,
        s.threads,
        s.rate,
        s.down,
        s.period,
        if s.sigkill {
            "SIGKILL"
        } else {
            "SIGTERM via stop.sh"
        },
    );
    let _ = writeln!(
        out,
        "samples: {}; records attempted: {}",
        rows.len(),
        rows.iter().map(|r| r.records).sum::<u64>()
    );
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        let max = rows.iter().max_by_key(|r| r.rss_kib).unwrap_or(first);
        let at = |t: u64| {
            rows.iter()
                .find(|r| r.t >= t)
                .map_or(0, |r| r.rss_kib)
                .to_string()
        };
        let third = rows.len() / 3;
        let max_of = |rs: &[Row]| rs.iter().map(|r| r.rss_kib).max().unwrap_or(0);
        let _ = writeln!(
            out,
            "RSS KiB: start {} (t={}), t=60 {}, end {} (t={}), max {} (t={}); \
             max in first third {}, in last third {}; slope after t=60: {:+.1} KiB/min",
            first.rss_kib,
            first.t,
            at(60),
            last.rss_kib,
            last.t,
            max.rss_kib,
            max.t,
            max_of(&rows[..third.max(1).min(rows.len())]),
            max_of(&rows[rows.len() - third.max(1).min(rows.len())..]),
            rss_slope(rows, 60)
        );
        let maxq = rows.iter().max_by_key(|r| r.queue_len).unwrap_or(first);
        let _ = writeln!(
            out,
            "queue length: max {} (t={}), at end of run {}, after shutdown {}",
            maxq.queue_len, maxq.t, last.queue_len, o.final_queue
        );
        let _ = writeln!(
            out,
            "threads: min {} max {}; open fds: min {} max {}; subjects in memory: max {}, end {}",
            rows.iter().map(|r| r.threads).min().unwrap_or(0),
            rows.iter().map(|r| r.threads).max().unwrap_or(0),
            rows.iter().map(|r| r.fds).min().unwrap_or(0),
            rows.iter().map(|r| r.fds).max().unwrap_or(0),
            rows.iter().map(|r| r.subjects).max().unwrap_or(0),
            last.subjects
        );
        let cpu: f64 = rows.iter().map(|r| r.cpu_pct).sum::<f64>() / rows.len() as f64;
        let _ = writeln!(out, "soak process CPU: mean {cpu:.1} % of one core");
    }
    let _ = writeln!(out, "drops by cause (cumulative, after shutdown):");
    for (i, (_, name)) in DROP_COLUMNS.iter().enumerate() {
        let _ = writeln!(out, "  {name:<24} {}", o.final_drops[i]);
    }
    let _ = writeln!(
        out,
        "OTLP exporter: {} requests accepted, {} given up, {} retries",
        o.otlp.0, o.otlp.1, o.otlp.2
    );
    let _ = writeln!(
        out,
        "arrived at the collector: {} spans, {} log records (events, audit entries, deletion requests)",
        o.rx_total.0, o.rx_total.1
    );
    let _ = writeln!(
        out,
        "caller latency (every recording call, log-linear histogram, ~6 % bucket error; max exact):"
    );
    let _ = writeln!(out, "  {}", hist_line("all", &o.hists.all));
    let _ = writeln!(out, "  {}", hist_line("collector up", &o.hists.up));
    let _ = writeln!(out, "  {}", hist_line("collector down", &o.hists.down));
    let _ = writeln!(
        out,
        "  {}",
        hist_line("grant or revoke, up", &o.hists.consent_up)
    );
    let _ = writeln!(
        out,
        "  {}",
        hist_line("grant or revoke, down", &o.hists.consent_down)
    );
    let worst: Vec<String> = {
        let mut r: Vec<&Row> = rows.iter().collect();
        r.sort_by_key(|r| std::cmp::Reverse(r.lat.2));
        r.iter()
            .take(5)
            .map(|r| {
                format!(
                    "t={} {} ({}, {} preemptions of the recording threads, {} page faults, load {:.1})",
                    r.t,
                    fmt_ns(r.lat.2),
                    if r.collector_up { "up" } else { "down" },
                    r.record_nvcsw,
                    r.minflt,
                    r.load1
                )
            })
            .collect()
    };
    let _ = writeln!(out, "  worst seconds by max:");
    for w in worst {
        let _ = writeln!(out, "    {w}");
    }
    let _ = writeln!(
        out,
        "shutdown(3 s) took {:.3} s: exported {}, failed {}, undelivered {}, timed_out {}, complete {}",
        o.shutdown_took.as_secs_f64(),
        o.report.exported,
        o.report.failed,
        o.report.undelivered,
        o.report.timed_out,
        o.report.is_complete()
    );
    for e in &o.report.errors {
        let _ = writeln!(out, "  shutdown error: {e}");
    }
    let _ = writeln!(
        out,
        "outages: killed at, back up at (s); RSS KiB just before, max until the next outage; \
         max queue; queue_full and exporter_failure added until the next outage; worst p99 and max while down"
    );
    for (i, &(a, b)) in o.outages.iter().enumerate() {
        let next = o.outages.get(i + 1).map_or(u64::MAX, |n| n.0 as u64);
        let (a_s, b_s) = (a as u64, b.ceil() as u64);
        let before = rows.iter().rfind(|r| r.t <= a_s);
        let after: Vec<&Row> = rows.iter().filter(|r| r.t > a_s && r.t <= next).collect();
        let down: Vec<&Row> = after.iter().copied().filter(|r| r.t <= b_s).collect();
        let delta = |col: usize| {
            let start = before.map_or(0, |r| r.drops[col]);
            after
                .last()
                .map_or(0, |r| r.drops[col].saturating_sub(start))
        };
        let _ = writeln!(
            out,
            "  {a:7.1} {b:7.1}  rss {} -> max {}  queue max {}  queue_full +{}  exporter_failure +{}  p99 {}  max {}",
            before.map_or(0, |r| r.rss_kib),
            after.iter().map(|r| r.rss_kib).max().unwrap_or(0),
            down.iter().map(|r| r.queue_len).max().unwrap_or(0),
            delta(3),
            delta(4),
            fmt_ns(down.iter().map(|r| r.lat.1).max().unwrap_or(0)),
            fmt_ns(down.iter().map(|r| r.lat.2).max().unwrap_or(0)),
        );
    }
    let _ = writeln!(out, "collector events:");
    for (t, what) in o.events {
        let _ = writeln!(out, "  {t:8.1} {what}");
    }
    if o.processor_errors.trim().is_empty() {
        let _ = writeln!(out, "collector processor errors: none");
    } else {
        let _ = writeln!(out, "collector processor errors:\n{}", o.processor_errors);
    }
    out
}

/// Samples once a second until the run's end; writes the CSV log as it goes.
fn sample_loop(
    settings: &Settings,
    out: &Path,
    t: &Telemetry,
    stats: &OtlpStats,
    shared: &Shared,
    collector_dir: &Path,
) -> Result<(Vec<Row>, Hists), Error> {
    let mut csv = std::io::BufWriter::new(std::fs::File::create(out.join("soak.csv"))?);
    writeln!(csv, "{HEADER}")?;
    csv.flush()?;
    let mut sampler = Sampler {
        t,
        stats,
        shared,
        collector_dir,
        ticks_per_sec: clock_ticks_per_sec(),
        last: proc_self(),
        last_records: 0,
        batch: Vec::new(),
        hists: Hists {
            all: LogHist::new(),
            up: LogHist::new(),
            down: LogHist::new(),
            consent_up: LogHist::new(),
            consent_down: LogHist::new(),
        },
    };
    let mut rows = Vec::with_capacity(settings.secs as usize + 1);
    let mut last = shared.started;
    for second in 1..=settings.secs {
        let at = shared.started + Duration::from_secs(second);
        if let Some(wait) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let now = Instant::now();
        let row = sampler.sample(second, (now - last).as_secs_f64());
        last = now;
        writeln!(csv, "{}", row.csv())?;
        csv.flush()?;
        if second % 30 == 0 {
            eprintln!(
                "soak: t={second}s rss={} KiB queue={} queue_full={} exporter_failure={} p99={} max={} up={}",
                row.rss_kib,
                row.queue_len,
                row.drops[3],
                row.drops[4],
                fmt_ns(row.lat.1),
                fmt_ns(row.lat.2),
                row.collector_up
            );
        }
        rows.push(row);
    }
    Ok((rows, sampler.hists))
}

// -------------------------------------------------------------------- main

fn run(settings: &Settings) -> Result<(), Error> {
    std::fs::create_dir_all(&settings.out)?;
    let out = settings.out.canonicalize()?;
    eprintln!("soak: writing to {}", out.display());
    CollectorGuard::install()?;
    let grpc_port = stable_port(0)?;
    let http_port = stable_port(grpc_port)?;
    let collector = CollectorGuard {
        dir: out.join("collector"),
        grpc_port,
        http_port,
    };
    std::fs::create_dir_all(&collector.dir)?;
    collector.start()?;

    let no_env = || Environment::from_pairs::<&str, &str>([]);
    let otlp = OtlpExporter::builder()
        .endpoint(collector.url())
        .env(no_env())
        .build()?;
    let stats = otlp.stats();
    let t = Telemetry::builder()
        .service("soak", env!("CARGO_PKG_VERSION"))
        .env(no_env())
        .consent(
            ConsentPolicy::opt_in()
                .require(Category::BUSINESS)
                .require(Category::INTERACTION)
                .exempt(Category::PERFORMANCE)
                .exempt(Category::ERRORS)
                .exempt(Category::RESOURCE),
        )
        .hash_key(KeyId(1), b"soak test key material 0123456789abcdef")
        .exporter(otlp)
        .build()?;
    let orders = t
        .counter("soak.orders", Category::BUSINESS)
        .attribute("outcome")
        .build()?;

    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        collector_up: AtomicBool::new(true),
        latencies: (0..settings.threads)
            .map(|_| Mutex::new(Vec::new()))
            .collect(),
        consent_latencies: Mutex::new(Vec::new()),
        records: AtomicU64::new(0),
        started: Instant::now(),
        events: Mutex::new(Vec::new()),
    });
    shared.event(format!(
        "collector up: http 127.0.0.1:{http_port}, grpc 127.0.0.1:{grpc_port}"
    ));
    let iterations = settings.rate as f64 / RECORDS_PER_ITERATION as f64 / settings.threads as f64;
    let recorders: Vec<_> = (0..settings.threads)
        .map(|me| {
            let (t, orders, shared) = (t.clone(), orders.clone(), shared.clone());
            std::thread::Builder::new()
                .name(format!("soak-record-{me}"))
                .spawn(move || record(t, orders, me, shared, iterations.max(0.1)))
        })
        .collect::<Result<_, _>>()?;
    let churner = {
        let (t, shared) = (t.clone(), shared.clone());
        std::thread::Builder::new()
            .name("soak-churn".into())
            .spawn(move || churn(t, shared))?
    };
    let outages = settings.outages();
    let controller_result = std::thread::scope(|scope| -> Result<_, Error> {
        let controller = scope.spawn(|| control(&collector, &outages, settings.sigkill, &shared));
        let sampled = sample_loop(settings, &out, &t, &stats, &shared, &collector.dir);
        // Stop the load and the controller whatever happened.
        shared.stop.store(true, Ordering::SeqCst);
        let done = controller.join().map_err(|_| "the controller panicked")?;
        let (rows, hists) = sampled?;
        Ok((rows, hists, done))
    });
    shared.stop.store(true, Ordering::SeqCst);
    for r in recorders {
        let _ = r.join();
    }
    let _ = churner.join();
    let (rows, hists, done) = controller_result?;

    let began = Instant::now();
    let report = t.shutdown(Duration::from_secs(3));
    let shutdown_took = began.elapsed();
    eprintln!("soak: shutdown(3 s) took {shutdown_took:.2?}: {report:?}");
    let final_drops = {
        let d = t.drops();
        DROP_COLUMNS.map(|(c, _)| d.by_cause(c))
    };
    let final_queue = t.queued() as u64;
    // What was exported at shutdown may still be in rotel's 50 ms batch.
    std::thread::sleep(Duration::from_millis(500));
    let tail = take_arrivals(&collector.dir);
    let rx_total = rows
        .iter()
        .fold(tail, |acc, r| (acc.0 + r.rx.0, acc.1 + r.rx.1));
    let processor_errors =
        std::fs::read_to_string(collector.dir.join("processor-errors.log")).unwrap_or_default();
    let events = shared.events.lock().map(|e| e.clone()).unwrap_or_default();
    let text = summary(&Outcome {
        settings,
        rows: &rows,
        hists: &hists,
        outages: &done,
        events: &events,
        report: &report,
        shutdown_took,
        final_drops,
        final_queue,
        rx_total,
        otlp: (stats.requests(), stats.failed(), stats.retries()),
        processor_errors,
    });
    std::fs::write(out.join("summary.txt"), &text)?;
    let mut ev = String::from("t,event\n");
    for (t, what) in &events {
        let _ = writeln!(ev, "{t:.3},\"{}\"", what.replace('"', "'"));
    }
    std::fs::write(out.join("events.csv"), ev)?;
    print!("{text}");
    println!("soak: log {}", out.join("soak.csv").display());
    drop(collector);
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--soak") {
        // `cargo bench` runs every bench; this one takes 30 minutes.
        if !args.iter().any(|a| a == "--list") {
            eprintln!("soak: skipped (run scripts/soak.sh, or pass -- --soak)");
        }
        return;
    }
    let settings = match Settings::load(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("soak: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&settings) {
        eprintln!("soak: {e}");
        std::process::exit(1);
    }
}
