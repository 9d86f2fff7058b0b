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
//! Values read with the `sysinfo` crate. What it cannot read
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
//!
//! [`FloatCounter`]: crate::FloatCounter
//! [`Gauge`]: crate::Gauge

mod collector;

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::category::Category;
use crate::error::{ConfigError, ConfigErrorKind};
use crate::telemetry::Telemetry;

use collector::{Collector, Instruments, Tick};

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
}
