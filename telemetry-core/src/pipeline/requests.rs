//! Flush and shutdown as requests to the export worker, each with a
//! deadline the caller waits no longer than, and the report a shutdown
//! gives back.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::export::{ExportError, ExportErrorKind};

/// What a shutdown achieved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Spans and log records handed to the exporters during shutdown.
    pub exported: u64,
    /// Records the exporters failed to deliver during shutdown.
    pub failed: u64,
    /// Records still queued or buffered when the deadline passed: never
    /// handed to an exporter.
    pub undelivered: u64,
    /// What went wrong, exporter by exporter (the messages name no secret).
    pub errors: Vec<ExportError>,
    /// Whether the deadline passed before everything was done.
    pub timed_out: bool,
}

impl ShutdownReport {
    /// Whether everything buffered was exported.
    pub fn is_complete(&self) -> bool {
        self.failed == 0 && self.undelivered == 0 && self.errors.is_empty() && !self.timed_out
    }

    /// The report of a shutdown whose deadline passed before the worker
    /// finished its last round.
    pub(super) fn timed_out(undelivered: u64, timeout: Duration) -> Self {
        ShutdownReport {
            undelivered,
            errors: vec![ExportError::new(
                ExportErrorKind::Timeout,
                format!(
                    "shutdown did not finish within {timeout:?}: the exporters were still busy \
                     (a collector that is down or does not answer); {undelivered} records were \
                     not delivered"
                ),
            )],
            timed_out: true,
            ..ShutdownReport::default()
        }
    }
}

#[derive(Default)]
struct State {
    /// Flush tickets handed out and completed.
    flush_asked: u64,
    flush_done: u64,
    /// The earliest deadline of the flushes waiting.
    flush_deadline: Option<Instant>,
    /// What the last completed flush ran into.
    flush_errors: Vec<ExportError>,
    shutdown_deadline: Option<Instant>,
    report: Option<ShutdownReport>,
}

/// The requests waiting for the worker.
#[derive(Default)]
pub(super) struct Requests {
    state: Mutex<State>,
    done: Condvar,
}

/// A flush the worker is to run: the ticket it completes and its deadline.
pub(super) struct FlushJob {
    pub(super) ticket: u64,
    pub(super) deadline: Instant,
}

impl Requests {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks for a flush; returns its ticket.
    pub(super) fn ask_flush(&self, deadline: Instant) -> u64 {
        let mut s = self.lock();
        s.flush_asked += 1;
        s.flush_deadline = Some(s.flush_deadline.map_or(deadline, |d| d.min(deadline)));
        s.flush_asked
    }

    /// Waits until flush `ticket` is done or `deadline` passes.
    pub(super) fn wait_flush(&self, ticket: u64, deadline: Instant) -> Result<(), ExportError> {
        let mut s = self.lock();
        loop {
            if s.flush_done >= ticket {
                return match s.flush_errors.first() {
                    None => Ok(()),
                    Some(e) => Err(e.clone()),
                };
            }
            if s.report.is_some() {
                return Err(ExportError::new(
                    ExportErrorKind::Other,
                    "telemetry was shut down before the flush ran",
                ));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ExportError::new(
                    ExportErrorKind::Timeout,
                    "force_flush did not finish in time: the exporters were still busy \
                     (a collector that is down or does not answer)",
                ));
            }
            s = match self.done.wait_timeout(s, left) {
                Ok((s, _)) => s,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// The flush to run now, if one is waiting.
    pub(super) fn take_flush(&self) -> Option<FlushJob> {
        let mut s = self.lock();
        if s.flush_asked > s.flush_done {
            let deadline = s.flush_deadline.take().unwrap_or_else(Instant::now);
            Some(FlushJob {
                ticket: s.flush_asked,
                deadline,
            })
        } else {
            None
        }
    }

    /// Whether a flush is waiting to run.
    pub(super) fn flush_waiting(&self) -> bool {
        let s = self.lock();
        s.flush_asked > s.flush_done
    }

    /// Marks flushes up to `ticket` done.
    pub(super) fn flush_done(&self, ticket: u64, errors: Vec<ExportError>) {
        let mut s = self.lock();
        s.flush_done = s.flush_done.max(ticket);
        s.flush_errors = errors;
        self.done.notify_all();
    }

    /// Asks for a shutdown.
    pub(super) fn ask_shutdown(&self, deadline: Instant) {
        let mut s = self.lock();
        s.shutdown_deadline = Some(s.shutdown_deadline.map_or(deadline, |d| d.min(deadline)));
    }

    /// The deadline of the shutdown asked for, if any.
    pub(super) fn shutdown_deadline(&self) -> Option<Instant> {
        self.lock().shutdown_deadline
    }

    /// Waits for the shutdown report until `deadline`.
    pub(super) fn wait_shutdown(&self, deadline: Instant) -> Option<ShutdownReport> {
        let mut s = self.lock();
        loop {
            if let Some(report) = &s.report {
                return Some(report.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            s = match self.done.wait_timeout(s, left) {
                Ok((s, _)) => s,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Publishes the shutdown report (the first one stands).
    pub(super) fn finish(&self, report: ShutdownReport) {
        let mut s = self.lock();
        s.report.get_or_insert(report);
        self.done.notify_all();
    }
}
