//! What an operator asks when data does not arrive: export counts
//! ([`TelemetryStats`]) and a rate-limited warning when exports fail,
//! written to stderr by default and never fed back into the pipeline.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::health::DropCounts;

/// Where export warnings go (stderr unless the service says otherwise).
pub(crate) type WarningSink = Arc<dyn Fn(&str) + Send + Sync>;

/// The default sink: one line on stderr.
pub(crate) fn stderr_sink() -> WarningSink {
    Arc::new(|line| eprintln!("{line}"))
}

/// A snapshot of the pipeline's counts (see
/// [`Telemetry::stats`](crate::Telemetry::stats)): for a health or debug
/// endpoint.
#[derive(Clone, Debug)]
pub struct TelemetryStats {
    /// Records waiting in the export queue now.
    pub queued: usize,
    /// Records handed to the exporters so far.
    pub exported: u64,
    /// Export attempts that failed (after their retries), over every
    /// exporter; what they lost is in `dropped` as `exporter_failure`.
    pub export_errors: u64,
    /// Records dropped so far, by cause and category.
    pub dropped: DropCounts,
}

/// The pipeline's export counts and its warning state.
pub(crate) struct ExportStats {
    pub(crate) exported: AtomicU64,
    pub(crate) errors: AtomicU64,
    /// Failures since the last warning.
    unreported: AtomicU64,
    /// When the last warning went out (ms since `start`, plus one; 0: never).
    last_warning: AtomicU64,
    start: Instant,
    interval: Duration,
    sink: Option<WarningSink>,
}

impl ExportStats {
    /// Warnings go to `sink` (none: no warnings), at most one per `interval`.
    pub(crate) fn new(sink: Option<WarningSink>, interval: Duration) -> Self {
        ExportStats {
            exported: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            unreported: AtomicU64::new(0),
            last_warning: AtomicU64::new(0),
            start: Instant::now(),
            interval,
            sink,
        }
    }

    /// An export attempt failed with `error` (its `Display`, which never
    /// holds a credential), losing `lost` records.
    pub(crate) fn failed(&self, error: &dyn std::fmt::Display, lost: u64) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let Some(sink) = &self.sink else {
            return;
        };
        let unreported = self.unreported.fetch_add(1, Ordering::Relaxed) + 1;
        let now = u64::try_from(self.start.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let last = self.last_warning.load(Ordering::Relaxed);
        let interval = u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX);
        if last != 0 && now.saturating_sub(last) < interval {
            return;
        }
        if self
            .last_warning
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        self.unreported.store(0, Ordering::Relaxed);
        let earlier = unreported.saturating_sub(1);
        let also = if earlier > 0 {
            format!(" ({earlier} more failed exports since the last warning)")
        } else {
            String::new()
        };
        sink(&format!(
            "telemetry: export failed: {error}; {lost} records dropped{also}. Counted in \
             telemetry.records.dropped{{cause=\"exporter_failure\"}}; this warning repeats at \
             most every {}s",
            self.interval.as_secs()
        ));
    }

    /// Writes the export failures into `out` (always for a scrape, so an
    /// alert has a series; else only once there are some).
    pub(crate) fn report(&self, out: &mut crate::health::own_metrics::OwnMetrics<'_>) {
        let failures = self.errors.load(Ordering::Relaxed);
        if failures > 0 || out.for_scrape() {
            out.counts(
                (
                    "telemetry.export.failures",
                    "Export attempts that failed (each drops or defers its batch).",
                    "{failure}",
                ),
                [(Vec::new(), failures)],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn warnings_are_rate_limited_and_count_what_they_left_out() {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink: WarningSink = {
            let lines = lines.clone();
            Arc::new(move |l| {
                lines
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(l.to_owned())
            })
        };
        let stats = ExportStats::new(Some(sink), Duration::from_millis(50));
        stats.failed(&"connection refused", 10);
        stats.failed(&"connection refused", 10);
        stats.failed(&"connection refused", 10);
        std::thread::sleep(Duration::from_millis(60));
        stats.failed(&"timed out", 4);
        let lines = lines.lock().unwrap_or_else(|p| p.into_inner()).clone();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("connection refused") && lines[0].contains("10 records"));
        assert!(lines[1].contains("timed out") && lines[1].contains("2 more failed exports"));
        assert_eq!(stats.errors.load(Ordering::Relaxed), 4);
        let silent = ExportStats::new(None, Duration::from_millis(1));
        silent.failed(&"x", 1);
        assert_eq!(silent.errors.load(Ordering::Relaxed), 1);
    }
}
