//! The in-process pipeline: a bounded lock-free queue from the recording
//! threads to one background worker, which batches, re-checks consent,
//! collects metrics and hands everything to the exporters.
//!
//! The hot path only pushes into the queue (never blocks; a full queue drops
//! and counts). Everything else happens under the `gate` lock, which the
//! worker, `force_flush`, `shutdown` and consent revocation share: so a
//! revocation can purge what is buffered and knows no export is in flight.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::thread::Thread;
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;

use crate::category::Category;
use crate::drops::DropCause;
use crate::exporter::{Batch, Exporter};
use crate::metrics::MetricData;
use crate::record::{LogRecord, Record, SpanRecord};
use crate::telemetry::Inner;

/// Most control records (audit entries, deletion requests) held between flushes.
const MAX_CONTROL: usize = 65_536;

/// What the worker owns; locked by whoever exports.
struct Gate {
    exporters: Vec<Box<dyn Exporter>>,
    spans: Vec<SpanRecord>,
    logs: Vec<LogRecord>,
    last_flush: Instant,
    last_metrics: Instant,
    shut_down: bool,
}

/// Timing and sizing of the pipeline.
#[derive(Copy, Clone, Debug)]
pub(crate) struct PipelineConfig {
    pub(crate) queue_capacity: usize,
    pub(crate) batch_size: usize,
    pub(crate) flush_interval: Duration,
    pub(crate) metric_interval: Duration,
}

pub(crate) struct Pipeline {
    queue: ArrayQueue<Record>,
    control: Mutex<Vec<LogRecord>>,
    gate: Mutex<Gate>,
    config: PipelineConfig,
    worker: OnceLock<Thread>,
    notified: AtomicBool,
    stop: AtomicBool,
    join: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// What a shutdown achieved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Spans and log records handed to the exporters during shutdown.
    pub exported: u64,
    /// Records that could not be exported (exporter errors), by cause.
    pub failed: u64,
    /// Exporter errors, as messages.
    pub errors: Vec<String>,
    /// Whether the deadline passed before everything was done.
    pub timed_out: bool,
}

impl ShutdownReport {
    /// Whether everything buffered was exported.
    pub fn is_complete(&self) -> bool {
        self.failed == 0 && self.errors.is_empty() && !self.timed_out
    }
}

impl Pipeline {
    pub(crate) fn new(config: PipelineConfig, exporters: Vec<Box<dyn Exporter>>) -> Self {
        let now = Instant::now();
        Pipeline {
            queue: ArrayQueue::new(config.queue_capacity),
            control: Mutex::new(Vec::new()),
            gate: Mutex::new(Gate {
                exporters,
                spans: Vec::new(),
                logs: Vec::new(),
                last_flush: now,
                last_metrics: now,
                shut_down: false,
            }),
            config,
            worker: OnceLock::new(),
            notified: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            join: Mutex::new(None),
        }
    }

    /// Starts the background worker.
    pub(crate) fn start(inner: &Arc<Inner>) -> std::io::Result<()> {
        let weak = Arc::downgrade(inner);
        let handle = std::thread::Builder::new()
            .name("telemetry-export".into())
            .spawn(move || {
                // Nothing the exporters log may feed back into the pipeline.
                let _suppressed = crate::context::Context::suppress();
                worker(weak)
            })?;
        let _ = inner.pipeline.worker.set(handle.thread().clone());
        if let Ok(mut j) = inner.pipeline.join.lock() {
            *j = Some(handle);
        }
        Ok(())
    }

    /// Hands a record to the worker. Never blocks.
    #[inline]
    pub(crate) fn push(&self, inner: &Inner, record: Record) {
        let category = record.category();
        match self.queue.push(record) {
            Ok(()) => {
                if self.queue.len() >= self.config.batch_size
                    && !self.notified.swap(true, Ordering::AcqRel)
                    && let Some(t) = self.worker.get()
                {
                    t.unpark();
                }
            }
            Err(_) => inner.drops.count(DropCause::QueueFull, category, 1),
        }
    }

    /// Queues a control record (audit entry, deletion request): never lost to
    /// a full data queue, bounded separately.
    pub(crate) fn push_control(&self, inner: &Inner, record: LogRecord) {
        match self.control.lock() {
            Ok(mut c) if c.len() < MAX_CONTROL => c.push(record),
            _ => inner
                .drops
                .count(DropCause::QueueFull, Category::TELEMETRY, 1),
        }
    }

    fn lock_gate(&self) -> MutexGuard<'_, Gate> {
        // A poisoned gate means an exporter panicked; keep going with its state.
        self.gate.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a record may still be exported under the subject's current
    /// consent. A record that passed consent when captured and fails now was
    /// revoked in between.
    fn still_allowed(inner: &Inner, record: &Record) -> bool {
        let category = record.category();
        if inner.consent.policy.keep_on_revoke_set().contains(category) {
            return true;
        }
        match record.subject() {
            None => true,
            Some(key) => inner.consent.mask_of(key) & category.mask() != 0,
        }
    }

    /// Moves queued records into the gate's buffers, dropping revoked ones.
    /// Takes at most one queue's worth, so producers that keep the queue full
    /// cannot keep the worker draining: the records held in memory are at
    /// most twice the queue capacity (the queue plus one drained batch).
    fn drain(&self, inner: &Inner, gate: &mut Gate) {
        let room = self
            .queue
            .capacity()
            .saturating_sub(gate.spans.len() + gate.logs.len());
        for _ in 0..room {
            let Some(record) = self.queue.pop() else {
                break;
            };
            if !Self::still_allowed(inner, &record) {
                inner.drops.count(DropCause::Revoked, record.category(), 1);
                continue;
            }
            match record {
                Record::Span(s) => gate.spans.push(s),
                Record::Log(l) => gate.logs.push(l),
            }
        }
    }

    /// Purges everything buffered that consent no longer allows. Called by a
    /// revocation after the subject's mask changed; waits for an export in
    /// flight, so once it returns no purged record can be exported.
    pub(crate) fn purge(&self, inner: &Inner) -> u64 {
        let mut gate = self.lock_gate();
        self.drain(inner, &mut gate);
        let mut purged = 0u64;
        let mut keep = |r: Record| -> Option<Record> {
            if Self::still_allowed(inner, &r) {
                Some(r)
            } else {
                inner.drops.count(DropCause::Revoked, r.category(), 1);
                purged += 1;
                None
            }
        };
        let spans = std::mem::take(&mut gate.spans);
        gate.spans = spans
            .into_iter()
            .filter_map(|s| match keep(Record::Span(s)) {
                Some(Record::Span(s)) => Some(s),
                _ => None,
            })
            .collect();
        let logs = std::mem::take(&mut gate.logs);
        gate.logs = logs
            .into_iter()
            .filter_map(|l| match keep(Record::Log(l)) {
                Some(Record::Log(l)) => Some(l),
                _ => None,
            })
            .collect();
        purged
    }

    /// One round of work: drain, and export what is due (everything when
    /// `force`). Returns records exported and records that failed.
    fn cycle(&self, inner: &Inner, force: bool, with_metrics: bool) -> (u64, u64, Vec<String>) {
        let (mut exported, mut failed, mut errors) = self.cycle_once(inner, force, with_metrics);
        // A forced cycle empties the queue, even if it holds more than one
        // drain's worth (bounded, in case producers keep filling it).
        let mut rounds = 0;
        while force && !self.queue.is_empty() && rounds < 64 {
            let (e, f, errs) = self.cycle_once(inner, true, false);
            exported += e;
            failed += f;
            errors.extend(errs);
            rounds += 1;
        }
        (exported, failed, errors)
    }

    fn cycle_once(
        &self,
        inner: &Inner,
        force: bool,
        with_metrics: bool,
    ) -> (u64, u64, Vec<String>) {
        let mut gate = self.lock_gate();
        if gate.shut_down {
            return (0, 0, Vec::new());
        }
        self.notified.store(false, Ordering::Release);
        self.drain(inner, &mut gate);
        if let Ok(mut c) = self.control.lock() {
            gate.logs.append(&mut c);
        }
        let now = Instant::now();
        let records_due = force
            || gate.spans.len() + gate.logs.len() >= self.config.batch_size
            || now.duration_since(gate.last_flush) >= self.config.flush_interval;
        let metrics_due = with_metrics
            && (force || now.duration_since(gate.last_metrics) >= self.config.metric_interval);
        let metrics: Vec<MetricData> = if metrics_due {
            gate.last_metrics = now;
            inner.collect_metrics()
        } else {
            Vec::new()
        };
        if !records_due && metrics.is_empty() {
            return (0, 0, Vec::new());
        }
        // Take the buffers and give them back (emptied) after the export, so
        // their capacity is reused instead of regrown every cycle.
        let mut spans = if records_due {
            std::mem::take(&mut gate.spans)
        } else {
            Vec::new()
        };
        let mut logs = if records_due {
            std::mem::take(&mut gate.logs)
        } else {
            Vec::new()
        };
        gate.last_flush = now;
        if spans.is_empty() && logs.is_empty() && metrics.is_empty() {
            return (0, 0, Vec::new());
        }
        let mut totals = (0u64, 0u64, Vec::new());
        // Batches hold at most `batch_size` spans and `batch_size` log
        // records; metrics go with the first batch.
        let size = self.config.batch_size;
        let rounds = spans
            .len()
            .div_ceil(size)
            .max(logs.len().div_ceil(size))
            .max(1);
        for round in 0..rounds {
            let part = |len: usize| (round * size).min(len)..((round + 1) * size).min(len);
            let batch = Batch {
                resource: &inner.resource,
                categories: &inner.names,
                spans: &spans[part(spans.len())],
                logs: &logs[part(logs.len())],
                metrics: if round == 0 { &metrics } else { &[] },
            };
            let (exported, failed, errors) = Self::export_batch(inner, &mut gate.exporters, &batch);
            totals.0 += exported;
            totals.1 += failed;
            totals.2.extend(errors);
        }
        spans.clear();
        logs.clear();
        if gate.spans.is_empty() {
            gate.spans = spans;
        }
        if gate.logs.is_empty() {
            gate.logs = logs;
        }
        totals
    }

    /// Hands one batch to every exporter, counting what fails.
    fn export_batch(
        inner: &Inner,
        exporters: &mut [Box<dyn Exporter>],
        batch: &Batch<'_>,
    ) -> (u64, u64, Vec<String>) {
        // Exports may run on a caller's thread (flush, shutdown).
        let _suppressed = crate::context::Context::suppress();
        let mut failed = 0u64;
        let mut errors = Vec::new();
        for exporter in exporters.iter_mut() {
            if let Err(e) = exporter.export(batch) {
                errors.push(e.to_string());
                let [failed_spans, failed_logs, failed_metrics] = e.failed();
                let cause = DropCause::ExporterFailure;
                if failed_spans {
                    failed += batch.spans.len() as u64;
                    batch
                        .spans
                        .iter()
                        .for_each(|s| inner.drops.count(cause, s.category, 1));
                }
                if failed_logs {
                    failed += batch.logs.len() as u64;
                    batch
                        .logs
                        .iter()
                        .for_each(|l| inner.drops.count(cause, l.category, 1));
                }
                if failed_metrics {
                    batch
                        .metrics
                        .iter()
                        .for_each(|m| inner.drops.count(cause, m.category, m.point_count() as u64));
                }
            }
        }
        (batch.record_count() as u64, failed, errors)
    }

    /// Exports everything buffered now, metrics included.
    pub(crate) fn force_flush(&self, inner: &Inner) -> Result<(), crate::error::ExportError> {
        let (_, _, errors) = self.cycle(inner, true, true);
        let mut flush_errors = Vec::new();
        {
            let mut gate = self.lock_gate();
            let _suppressed = crate::context::Context::suppress();
            for e in gate.exporters.iter_mut() {
                if let Err(err) = e.force_flush() {
                    flush_errors.push(err.to_string());
                }
            }
        }
        match errors.into_iter().chain(flush_errors).next() {
            None => Ok(()),
            Some(first) => Err(crate::error::ExportError::new(
                crate::error::ExportErrorKind::Other,
                first,
            )),
        }
    }

    /// Stops the worker, exports everything still buffered and shuts the
    /// exporters down within `timeout`.
    pub(crate) fn shutdown(&self, inner: &Inner, timeout: Duration) -> ShutdownReport {
        let deadline = Instant::now() + timeout;
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.worker.get() {
            t.unpark();
        }
        let join = self.join.lock().ok().and_then(|mut j| j.take());
        // The last handle may be dropped on the worker itself: never wait for oneself.
        let on_worker = self
            .worker
            .get()
            .is_some_and(|w| w.id() == std::thread::current().id());
        if let Some(j) = join.filter(|_| !on_worker) {
            // The worker finishes its current round and exits; do not wait
            // past the deadline (it is detached then).
            while !j.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            if j.is_finished() {
                let _ = j.join();
            }
        }
        let (exported, failed, mut errors) = self.cycle(inner, true, true);
        let mut report = ShutdownReport {
            exported,
            failed,
            errors: Vec::new(),
            timed_out: false,
        };
        {
            let mut gate = self.lock_gate();
            gate.shut_down = true;
            let _suppressed = crate::context::Context::suppress();
            for e in gate.exporters.iter_mut() {
                let left = deadline.saturating_duration_since(Instant::now());
                if let Err(err) = e.shutdown(left) {
                    errors.push(err.to_string());
                }
            }
        }
        report.errors = errors;
        report.timed_out = Instant::now() > deadline;
        report
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    pub(crate) fn queue_len(&self) -> usize {
        self.queue.len()
    }
}

fn worker(weak: Weak<Inner>) {
    let mut last_maintenance = Instant::now();
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let pipeline = &inner.pipeline;
        if pipeline.stop.load(Ordering::SeqCst) {
            return;
        }
        let wait = pipeline
            .config
            .flush_interval
            .min(pipeline.config.metric_interval);
        drop(inner);
        std::thread::park_timeout(wait);
        let Some(inner) = weak.upgrade() else { return };
        if inner.pipeline.stop.load(Ordering::SeqCst) {
            return;
        }
        inner.clock.reanchor();
        inner.pipeline.cycle(&inner, false, true);
        if last_maintenance.elapsed() >= Duration::from_secs(10) {
            last_maintenance = Instant::now();
            inner.consent.evict_idle();
        }
    }
}
