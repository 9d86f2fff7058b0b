//! Resource metrics of the current process, sampled on a background thread
//! (cargo feature `process-metrics`).
//!
//! ```
//! use std::time::Duration;
//! use telemetry_core::process_metrics::ProcessMetrics;
//! use telemetry_core::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let telemetry = Telemetry::builder()
//!     .service("checkout", "1.4.2")
//!     // Measurements made outside any subject scope, as these are, obey the
//!     // policy's default: make RESOURCE exempt (or opt-out) to collect them.
//!     .consent(ConsentPolicy::opt_in().exempt(Category::RESOURCE))
//!     .build()?;
//! let metrics = ProcessMetrics::builder(&telemetry)
//!     .interval(Duration::from_secs(10))
//!     .start()?;
//! // ... serve ...
//! metrics.stop();
//! telemetry.shutdown(Duration::from_secs(5));
//! # Ok(()) }
//! ```
//!
//! # Metrics
//!
//! Named after the OpenTelemetry semantic conventions for processes, in the
//! configured category ([`Category::RESOURCE`] by default), with no
//! attributes:
//!
//! | name | instrument | unit | value |
//! |---|---|---|---|
//! | `process.cpu.time` | [`FloatCounter`] | `s` | CPU time (user and system) used since the process started |
//! | `process.cpu.utilization` | [`Gauge`] | `1` | CPU time used since the previous sample, divided by the wall time elapsed and the CPUs available to the process ([`std::thread::available_parallelism`]); `0..=1` |
//! | `process.memory.usage` | [`Gauge`] | `By` | resident set size |
//! | `process.memory.virtual` | [`Gauge`] | `By` | virtual memory size |
//! | `process.thread.count` | [`Gauge`] | `{thread}` | threads of the process |
//! | `process.unix.file_descriptor.count` | [`Gauge`] | `{file_descriptor}` | open file descriptors (Unix only) |
//! | `process.uptime` | [`Gauge`] | `s` | time since the process started, in whole seconds |
//!
//! `process.cpu.time` has the millisecond resolution sysinfo reads (the
//! operating system counts in clock ticks, 10 ms on Linux).
//! `process.cpu.utilization` needs two samples, so the first has none.
//!
//! Values read with [`sysinfo`](https://docs.rs/sysinfo). What it cannot read
//! on a platform is left out rather than recorded as zero: the thread count
//! exists on Linux and Android only; the file-descriptor count on Unix
//! except NetBSD (on Windows sysinfo counts handles, which are not file
//! descriptors). On Linux the count includes one descriptor of the
//! collector's own: sysinfo keeps `/proc/self/stat` open between samples.
//!
//! # Consent
//!
//! Each measurement goes through the same consent check as any other. The
//! collector thread has no subject scope, so the policy's rule for records
//! without a subject decides: an exempt category is collected; a category
//! that requires consent is collected only if its default is opt-out, and
//! not at all when `DO_NOT_TRACK` is set. A denied measurement is dropped
//! and counted in `telemetry.records.dropped` with cause `consent`, like
//! any other record.
//!
//! # The collector thread
//!
//! [`ProcessMetricsBuilder::start`] spawns one thread, named
//! `telemetry-process-metrics`, which takes a sample at once and then one
//! per interval. It ends when the [`ProcessMetrics`] handle is dropped or
//! [stopped](ProcessMetrics::stop) (at once, even in the middle of a long
//! interval), when recording is disabled (after
//! [`Telemetry::shutdown`]), or when every handle to the telemetry instance
//! is gone: the thread holds no strong reference, so it never keeps the
//! instance alive. Run one collector per telemetry instance; a second one
//! on the same instance only duplicates work (`process.cpu.time` is not
//! counted twice).

use std::collections::BTreeMap;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use crate::category::Category;
use crate::error::{ConfigError, ConfigErrorKind};
use crate::instance::Inner;
use crate::metrics::instrument::{FloatCounter, Gauge};
use crate::telemetry::Telemetry;

/// The default sampling interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// The longest sampling interval accepted.
pub const MAX_INTERVAL: Duration = Duration::from_secs(3600);

/// The name of the collector thread.
const THREAD_NAME: &str = "telemetry-process-metrics";

/// A running process-metrics collector. Dropping it stops the collector
/// thread and waits for it to end (see [`stop`](Self::stop)).
#[must_use = "the collector stops when this handle is dropped"]
pub struct ProcessMetrics {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ProcessMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessMetrics")
            .field(
                "running",
                &self.thread.as_ref().is_some_and(|t| !t.is_finished()),
            )
            .finish()
    }
}

impl ProcessMetrics {
    /// Starts configuring a collector that records into `telemetry`.
    pub fn builder(telemetry: &Telemetry) -> ProcessMetricsBuilder<'_> {
        ProcessMetricsBuilder {
            telemetry,
            interval: DEFAULT_INTERVAL,
            category: Category::RESOURCE,
        }
    }

    /// Stops the collector and waits for its thread to end; the same as
    /// dropping the handle. A sample in progress is finished first (it
    /// reads a few files under `/proc` on Linux).
    pub fn stop(self) {
        drop(self);
    }

    fn stop_and_join(&mut self) {
        // Closing the channel wakes the thread from `recv_timeout` at once.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // The collector has no panicking path; had it panicked anyway,
            // its thread would be over, which is all stopping asks.
            let _ = thread.join();
        }
    }
}

impl Drop for ProcessMetrics {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Configures a [`ProcessMetrics`] collector.
#[must_use = "call .start() to start the collector"]
pub struct ProcessMetricsBuilder<'t> {
    telemetry: &'t Telemetry,
    interval: Duration,
    category: Category,
}

impl std::fmt::Debug for ProcessMetricsBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessMetricsBuilder")
            .field("interval", &self.interval)
            .field("category", &self.category)
            .finish_non_exhaustive()
    }
}

impl ProcessMetricsBuilder<'_> {
    /// How often to sample (default 10 seconds). It must be more than zero
    /// and at most an hour.
    pub fn interval(mut self, every: Duration) -> Self {
        self.interval = every;
        self
    }

    /// The category the metrics are recorded in (default
    /// [`Category::RESOURCE`]); consent is checked against it.
    pub fn category(mut self, category: Category) -> Self {
        self.category = category;
        self
    }

    /// Registers the instruments and spawns the collector thread, which
    /// takes its first sample at once.
    ///
    /// Fails if the interval is zero or longer than an hour, if one of the
    /// metric names is already registered as a different instrument, or if
    /// the thread cannot be spawned.
    pub fn start(self) -> Result<ProcessMetrics, ConfigError> {
        validate_interval(self.interval)?;
        // Registers the instruments now so that a conflict is reported here.
        Instruments::build(self.telemetry, self.category)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let weak = Arc::downgrade(&self.telemetry.inner);
        let (interval, category) = (self.interval, self.category);
        let thread = std::thread::Builder::new()
            .name(THREAD_NAME.to_owned())
            .spawn(move || {
                let mut collector = Collector::new(category);
                // Between samples, wait for the handle to go (the channel
                // closes) rather than sleep, so that stopping is immediate.
                while let Tick::Continue = collector.tick(&weak) {
                    match stopped.recv_timeout(interval) {
                        Err(RecvTimeoutError::Timeout) => {}
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
            })
            .map_err(|e| {
                ConfigError::new(
                    ConfigErrorKind::InvalidLimit,
                    format!(
                        "could not spawn the `{THREAD_NAME}` thread: {e}; the process may have \
                         reached its thread limit (`ulimit -u`)"
                    ),
                )
            })?;
        Ok(ProcessMetrics {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

fn validate_interval(interval: Duration) -> Result<(), ConfigError> {
    if interval.is_zero() {
        return Err(ConfigError::new(
            ConfigErrorKind::InvalidLimit,
            "the process metrics interval is zero; use a positive duration such as \
             `Duration::from_secs(10)`",
        ));
    }
    if interval > MAX_INTERVAL {
        return Err(ConfigError::new(
            ConfigErrorKind::InvalidLimit,
            format!(
                "the process metrics interval is {interval:?}, longer than an hour; sample at \
                 least once an hour (`Duration::from_secs(10)` is the default)"
            ),
        ));
    }
    Ok(())
}

/// The instruments, looked up in the instance's registry (instruments with
/// the same name, kind and category are shared).
struct Instruments {
    cpu_time: FloatCounter,
    cpu_utilization: Gauge,
    memory_usage: Gauge,
    memory_virtual: Gauge,
    thread_count: Gauge,
    fd_count: Gauge,
    uptime: Gauge,
}

impl Instruments {
    fn build(t: &Telemetry, c: Category) -> Result<Self, ConfigError> {
        Ok(Instruments {
            cpu_time: t
                .float_counter("process.cpu.time", c)
                .unit("s")
                .description("Total CPU seconds (user and system) used by the process.")
                .build()?,
            cpu_utilization: t
                .gauge("process.cpu.utilization", c)
                .unit("1")
                .description(
                    "Difference in process.cpu.time since the last measurement, divided by \
                     the elapsed time and number of CPUs available to the process.",
                )
                .build()?,
            memory_usage: t
                .gauge("process.memory.usage", c)
                .unit("By")
                .description("The amount of physical memory in use.")
                .build()?,
            memory_virtual: t
                .gauge("process.memory.virtual", c)
                .unit("By")
                .description("The amount of committed virtual memory.")
                .build()?,
            thread_count: t
                .gauge("process.thread.count", c)
                .unit("{thread}")
                .description("Process threads count.")
                .build()?,
            fd_count: t
                .gauge("process.unix.file_descriptor.count", c)
                .unit("{file_descriptor}")
                .description("Number of file descriptors in use by the process.")
                .build()?,
            uptime: t
                .gauge("process.uptime", c)
                .unit("s")
                .description("The time the process has been running.")
                .build()?,
        })
    }
}

/// CPU milliseconds already added to `process.cpu.time`, per telemetry
/// instance, so that a restarted (or second) collector continues the count
/// instead of adding the process's CPU time again.
static CPU_MS_ADDED: Mutex<BTreeMap<u64, u64>> = Mutex::new(BTreeMap::new());

/// Adds to `counter` the part of `cpu_ms` not yet added for instance `id`,
/// in seconds.
fn add_cpu_time(id: u64, cpu_ms: u64, counter: &FloatCounter) {
    let mut added = CPU_MS_ADDED.lock().unwrap_or_else(PoisonError::into_inner);
    let done = added.entry(id).or_insert(0);
    let total = cpu_ms;
    let new = total.saturating_sub(*done);
    // Recorded before the counter is updated, under the lock: two
    // collectors cannot both add the same second. A denied measurement
    // still advances the count: that time was not exported, and exporting
    // it later would put it in the wrong interval.
    *done = (*done).max(total);
    // Even a zero is added: the series then exists from the first sample.
    counter.add(new as f64 / 1000.0, &[]);
}

fn forget_instance(id: u64) {
    let mut added = CPU_MS_ADDED.lock().unwrap_or_else(PoisonError::into_inner);
    added.remove(&id);
}

enum Tick {
    Continue,
    Stop,
}

/// The collector thread's state.
struct Collector {
    category: Category,
    system: System,
    pid: Pid,
    /// Accumulated CPU milliseconds and when they were read.
    last: Option<(u64, Instant)>,
    /// The instance's id, once seen (to forget it when the instance is gone).
    instance: Option<u64>,
}

impl Collector {
    fn new(category: Category) -> Self {
        Collector {
            category,
            system: System::new(),
            pid: Pid::from_u32(std::process::id()),
            last: None,
            instance: None,
        }
    }

    /// One sample, unless the instance is gone or disabled.
    fn tick(&mut self, weak: &Weak<Inner>) -> Tick {
        let Some(inner) = weak.upgrade() else {
            if let Some(id) = self.instance {
                forget_instance(id);
            }
            return Tick::Stop;
        };
        self.instance = Some(inner.id());
        if inner.check_enabled().is_err() {
            // Shut down for good: nothing more will be recorded.
            forget_instance(inner.id());
            return Tick::Stop;
        }
        let telemetry = Telemetry::internal(inner);
        // Cannot fail after `start` built the same instruments, but if it
        // does, skipping a sample is the right answer.
        if let Ok(instruments) = Instruments::build(&telemetry, self.category) {
            self.sample(&telemetry, &instruments);
        }
        // `telemetry` is dropped here: between samples the thread holds
        // only the weak reference.
        Tick::Continue
    }

    fn sample(&mut self, telemetry: &Telemetry, m: &Instruments) {
        let refresh = ProcessRefreshKind::nothing()
            .with_cpu()
            .with_memory()
            .with_tasks();
        self.system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[self.pid]),
            true,
            refresh,
        );
        let now = Instant::now();
        let Some(process) = self.system.process(self.pid) else {
            // Not readable on this platform (or not permitted): nothing to record.
            return;
        };

        let cpu_ms = process.accumulated_cpu_time();
        add_cpu_time(telemetry.inner.id(), cpu_ms, &m.cpu_time);
        if let Some((last_ms, last_at)) = self.last {
            let wall = now.duration_since(last_at).as_secs_f64();
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
            if wall > 0.0 {
                let used = cpu_ms.saturating_sub(last_ms) as f64 / 1000.0;
                // CPU time is counted in clock ticks (10 ms on Linux), so a
                // short interval can read slightly above 1.
                m.cpu_utilization
                    .record((used / (wall * cpus)).clamp(0.0, 1.0), &[]);
            }
        }
        self.last = Some((cpu_ms, now));

        // sysinfo reports 0 where it cannot read memory; a running process
        // always has some.
        let resident = process.memory();
        if resident > 0 {
            m.memory_usage.record(resident as f64, &[]);
        }
        let virt = process.virtual_memory();
        if virt > 0 {
            m.memory_virtual.record(virt as f64, &[]);
        }
        // sysinfo lists the threads other than the main one.
        if let Some(tasks) = process.tasks() {
            m.thread_count.record((tasks.len() + 1) as f64, &[]);
        }
        // On Windows, sysinfo counts handles: not file descriptors.
        if cfg!(unix)
            && let Some(fds) = process.open_files()
        {
            m.fd_count.record(fds as f64, &[]);
        }
        m.uptime.record(process.run_time() as f64, &[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_must_be_positive_and_at_most_an_hour() {
        let zero = validate_interval(Duration::ZERO).err();
        let long = validate_interval(MAX_INTERVAL + Duration::from_millis(1)).err();
        for (err, words) in [(zero, "zero"), (long, "longer than an hour")] {
            let err = err.expect("an invalid interval was accepted");
            assert_eq!(err.kind(), ConfigErrorKind::InvalidLimit);
            assert!(err.message().contains(words), "{err}");
            assert!(err.message().contains("Duration::from_secs(10)"), "{err}");
        }
        assert!(validate_interval(Duration::from_nanos(1)).is_ok());
        assert!(validate_interval(MAX_INTERVAL).is_ok());
        assert!(validate_interval(DEFAULT_INTERVAL).is_ok());
    }

    #[test]
    fn sysinfo_leaves_the_main_thread_out_of_tasks() {
        // The collector adds 1 to `tasks().len()` for the main thread, whose
        // thread id is the process id. If sysinfo ever lists it, this fails
        // instead of the thread count being one too high.
        let pid = Pid::from_u32(std::process::id());
        let mut system = System::new();
        system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[pid]),
            true,
            ProcessRefreshKind::nothing().with_tasks(),
        );
        let Some(tasks) = system.process(pid).and_then(|p| p.tasks()) else {
            return; // not Linux or Android: no thread count at all
        };
        assert!(
            !tasks.contains(&pid),
            "{tasks:?} lists the main thread {pid}"
        );
    }
}
