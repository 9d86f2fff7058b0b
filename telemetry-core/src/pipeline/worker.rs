//! The export worker: the only thread that calls exporters. Each round it
//! takes batches from the held buffers, then from the queue (the held lock
//! is released before any export), delivers control records
//! (audit entries, deletion requests) until every exporter took them, then
//! the data, then metrics when they are due.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::held::Outgoing;
use super::{Control, Exporters, Host, MAX_CONTROL, Pipeline, ShutdownReport};
use crate::category::Category;
use crate::export::LogRecord;
use crate::export::MetricData;
use crate::export::{Batch, Exporter};
use crate::export::{ExportError, ExportErrorKind, Signal};
use crate::health::drops::DropCause;

/// A batch found stale this many times in a row (revocations racing it) is
/// given up as failed.
const MAX_STALE_ROUNDS: usize = 16;
/// Batches exported per round before the worker looks at requests again.
const MAX_BATCHES_PER_ROUND: usize = 64;

/// What a round achieved.
#[derive(Default)]
struct Totals {
    exported: u64,
    failed: u64,
    errors: Vec<ExportError>,
}

/// Which records a round exports.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Scope {
    /// Full batches, and everything once the flush interval passed.
    Due,
    /// Everything held and queued (flush, shutdown), metrics included.
    All,
}

/// The worker thread's loop, until a shutdown is asked for; returns the
/// shutdown's report, for the thread to publish.
pub(super) fn run(host: &dyn Host) -> ShutdownReport {
    let mut last_maintenance = Instant::now();
    let mut last_metrics = Instant::now();
    let pipeline = host.pipeline();
    loop {
        if let Some(deadline) = pipeline.requests.shutdown_deadline() {
            return last_round(pipeline, host, deadline);
        }
        if let Some(job) = pipeline.requests.take_flush() {
            let totals = round(pipeline, host, Scope::All, job.deadline, true);
            last_metrics = Instant::now();
            let mut errors = totals.errors;
            errors.extend(flush_exporters(pipeline, job.deadline));
            pipeline.requests.flush_done(job.ticket, errors);
            continue;
        }
        let config = pipeline.config;
        let metrics_due = last_metrics.elapsed() >= config.metric_interval;
        if metrics_due {
            last_metrics = Instant::now();
        }
        host.maintain(false);
        round(
            pipeline,
            host,
            Scope::Due,
            Instant::now() + config.export_timeout,
            metrics_due,
        );
        if last_maintenance.elapsed() >= Duration::from_secs(10) {
            last_maintenance = Instant::now();
            host.maintain(true);
        }
        let wait = config
            .flush_interval
            .min(
                config
                    .metric_interval
                    .saturating_sub(last_metrics.elapsed()),
            )
            .max(Duration::from_millis(1));
        if pipeline.requests.shutdown_deadline().is_none() && !pipeline.requests.flush_waiting() {
            std::thread::park_timeout(wait);
        }
    }
}

/// The last round: everything still held is exported within `deadline`,
/// then the exporters are shut down. Returns the report (the caller
/// publishes it).
pub(super) fn last_round(
    pipeline: &Pipeline,
    host: &dyn Host,
    deadline: Instant,
) -> ShutdownReport {
    let totals = round(pipeline, host, Scope::All, deadline, true);
    let mut errors = totals.errors;
    {
        let mut exporters = pipeline.lock_exporters();
        if !exporters.shut_down {
            exporters.shut_down = true;
            let _suppressed = crate::subject::context::Context::suppress();
            for exporter in exporters.list.iter_mut() {
                if let Err(e) = guarded(|| exporter.shutdown(deadline)) {
                    errors.push(e);
                }
            }
        }
    }
    let undelivered = pipeline.undelivered();
    ShutdownReport {
        exported: totals.exported,
        failed: totals.failed,
        undelivered,
        errors,
        timed_out: Instant::now() > deadline || undelivered > 0,
    }
}

/// Calls every exporter's `force_flush`; returns the errors.
fn flush_exporters(pipeline: &Pipeline, deadline: Instant) -> Vec<ExportError> {
    let mut exporters = pipeline.lock_exporters();
    let _suppressed = crate::subject::context::Context::suppress();
    exporters
        .list
        .iter_mut()
        .filter_map(|e| guarded(|| e.force_flush(deadline)).err())
        .collect()
}

/// Runs an exporter call, turning a panic into an error.
fn guarded(f: impl FnOnce() -> Result<(), ExportError>) -> Result<(), ExportError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(ExportError::new(
            ExportErrorKind::Other,
            "the exporter panicked; its batch was dropped",
        ))
    })
}

/// One round of work; see [`Scope`].
fn round(
    pipeline: &Pipeline,
    host: &dyn Host,
    scope: Scope,
    deadline: Instant,
    with_metrics: bool,
) -> Totals {
    let mut totals = Totals::default();
    let mut exporters = pipeline.lock_exporters();
    if exporters.shut_down {
        return totals;
    }
    let mut metrics: Vec<MetricData> = if with_metrics {
        host.collect_metrics()
    } else {
        Vec::new()
    };
    // While a spill holds the buffer, control records wait for the next
    // round, unless some are there: then the round waits for the spill.
    let control = match scope {
        Scope::Due => pipeline
            .try_lock_held()
            .or_else(|| {
                pipeline
                    .control_pending
                    .load(Ordering::Acquire)
                    .then(|| pipeline.lock_held())
            })
            .map(|mut h| h.take_control(&pipeline.control_pending))
            .unwrap_or_default(),
        Scope::All => pipeline.lock_held().take_control(&pipeline.control_pending),
    };
    deliver_control(host, &mut exporters, control, deadline, &mut totals);
    // A regular round stops after a while to look at requests again; a
    // flush or the last round goes on until everything is out or the
    // deadline passed.
    let max_batches = match scope {
        Scope::Due => MAX_BATCHES_PER_ROUND,
        Scope::All => usize::MAX,
    };
    for _ in 0..max_batches {
        // Read before any record is taken (see `Outgoing::seal`).
        let revision = pipeline.revocations.revision();
        let spare = std::mem::take(&mut exporters.spare);
        let mut outgoing = next_batch(pipeline, host, scope, spare);
        outgoing.seal(revision);
        if outgoing.is_empty() && metrics.is_empty() {
            exporters.spare = outgoing;
            break;
        }
        let _suppressed = crate::subject::context::Context::suppress();
        let Exporters { list, .. } = &mut *exporters;
        let count = outgoing.len() as u64;
        let mut failed_spans = 0u64;
        let mut failed_logs = 0u64;
        for exporter in list.iter_mut() {
            if let Err(e) = deliver(pipeline, host, exporter, &mut outgoing, &metrics, deadline) {
                let (spans, logs, metric_points) = (
                    e.failed(Signal::Traces),
                    e.failed(Signal::Logs),
                    e.failed(Signal::Metrics),
                );
                if spans {
                    failed_spans = outgoing.spans.len() as u64;
                    outgoing
                        .spans
                        .iter()
                        .for_each(|s| host.count_drop(DropCause::ExporterFailure, s.category, 1));
                }
                if logs {
                    failed_logs = outgoing.logs.len() as u64;
                    outgoing
                        .logs
                        .iter()
                        .for_each(|l| host.count_drop(DropCause::ExporterFailure, l.category, 1));
                }
                if metric_points {
                    metrics.iter().for_each(|m| {
                        host.count_drop(
                            DropCause::ExporterFailure,
                            m.category,
                            m.point_count() as u64,
                        )
                    });
                }
                let lost = if spans { outgoing.spans.len() } else { 0 }
                    + if logs { outgoing.logs.len() } else { 0 };
                pipeline.stats.failed(&e, lost as u64);
                totals.errors.push(e);
            }
        }
        totals.exported += count;
        pipeline
            .stats
            .exported
            .fetch_add(count, std::sync::atomic::Ordering::Relaxed);
        totals.failed += failed_spans + failed_logs;
        metrics.clear();
        outgoing.clear();
        exporters.spare = outgoing;
        if Instant::now() >= deadline {
            break;
        }
        // Another batch is due when a batch is waiting, or while a spill
        // holds the buffer (the queue was full).
        if scope == Scope::Due
            && pipeline
                .try_lock_held()
                .is_some_and(|h| h.len() + pipeline.queue.len() < pipeline.config.batch_size)
        {
            break;
        }
    }
    totals
}

/// Takes the next batch into `spare` (emptied): oldest first, what a burst
/// spilled into the held buffers, then the queue, read without the
/// buffers' lock (so neither a recording thread spilling nor a revocation
/// purging waits for its consent checks; a spill racing this may move
/// some records of the same moment into the buffers, to leave in the next
/// batch). The worker itself never moves the queue into the buffers: a
/// worker that fell behind would copy every record twice and stay behind.
///
/// In a regular round it does not wait for a recording thread spilling
/// the full queue into the buffers either (it holds their lock for up to
/// a chunk of records; the worker slept through most of a burst that
/// way): the batch comes from the queue beside it, newer records than
/// those held, so during a spill a batch may leave before older ones. It
/// does so only when the queue holds a full batch (a batch is due then);
/// else, or when the spill took the queue first, it waits for the lock, so
/// a batch is never sent early and what the spill moved is not left until
/// the flush interval.
fn next_batch(pipeline: &Pipeline, host: &dyn Host, scope: Scope, spare: Outgoing) -> Outgoing {
    let size = pipeline.config.batch_size;
    pipeline.notified.store(false, Ordering::Release);
    let held = match scope {
        Scope::Due => pipeline.try_lock_held(),
        Scope::All => Some(pipeline.lock_held()),
    };
    let held = match held {
        Some(held) => held,
        // A full batch waits in the queue: take it beside the spill.
        None if pipeline.queue.len() >= size => {
            let mut beside = spare;
            beside.clear();
            beside.take_queued(host, &pipeline.queue, size);
            if !beside.is_empty() {
                return beside;
            }
            let held = pipeline.lock_held();
            return take_from(pipeline, host, scope, held, beside);
        }
        None => pipeline.lock_held(),
    };
    take_from(pipeline, host, scope, held, spare)
}

/// The batch from the held buffers (locked) and, once they are empty,
/// the queue; a regular round takes only when a batch is due.
fn take_from(
    pipeline: &Pipeline,
    host: &dyn Host,
    scope: Scope,
    mut held: std::sync::MutexGuard<'_, super::held::Held>,
    spare: Outgoing,
) -> Outgoing {
    let size = pipeline.config.batch_size;
    let due = match scope {
        Scope::All => true,
        Scope::Due => {
            held.len() + pipeline.queue.len() >= size
                || held.last_flush.elapsed() >= pipeline.config.flush_interval
        }
    };
    if due {
        held.last_flush = Instant::now();
    }
    let mut outgoing = held.take(if due { size } else { 0 }, spare);
    let from_queue = due && held.len() == 0;
    drop(held);
    if from_queue {
        outgoing.take_queued(host, &pipeline.queue, size);
    }
    outgoing
}

/// Hands one batch to one exporter. A batch a revocation made stale (the
/// exporter saw [`Batch::is_current`] turn false) is filtered again and the
/// parts the exporter did not deliver are handed over again.
fn deliver(
    pipeline: &Pipeline,
    host: &dyn Host,
    exporter: &mut Box<dyn Exporter>,
    outgoing: &mut Outgoing,
    metrics: &[MetricData],
    deadline: Instant,
) -> Result<(), ExportError> {
    // Spans, logs, metrics: which parts are still to be delivered.
    let mut parts = [true; 3];
    for _ in 0..MAX_STALE_ROUNDS {
        if !outgoing.is_current(&pipeline.revocations) {
            outgoing.refilter(host, &pipeline.revocations);
        }
        let spans: &[_] = if parts[0] { &outgoing.spans } else { &[] };
        let logs: &[_] = if parts[1] { &outgoing.logs } else { &[] };
        let metrics: &[_] = if parts[2] { metrics } else { &[] };
        if spans.is_empty() && logs.is_empty() && metrics.is_empty() {
            return Ok(());
        }
        let current = || outgoing.is_current(&pipeline.revocations);
        let batch = Batch::new(host.resource(), host.categories(), spans, logs, metrics)
            .with_deadline(deadline)
            .with_currency(&current);
        match guarded(|| exporter.export(&batch)) {
            Err(e) if e.kind() == ExportErrorKind::Stale => {
                for (part, signal) in parts.iter_mut().zip(Signal::ALL) {
                    *part &= e.failed(signal);
                }
            }
            other => return other,
        }
    }
    Err(ExportError::new(
        ExportErrorKind::Stale,
        "consent revocations kept racing this batch; it was dropped",
    ))
}

/// Delivers control records to every exporter, each getting first what it
/// failed to take before. What an exporter does not take is kept for it
/// (up to a bound; overflow is counted) and sent again next round.
fn deliver_control(
    host: &dyn Host,
    exporters: &mut Exporters,
    control: Vec<Control>,
    deadline: Instant,
    totals: &mut Totals,
) {
    let Exporters {
        list,
        pending_control,
        ..
    } = exporters;
    let _suppressed = crate::subject::context::Context::suppress();
    for (exporter, pending) in list.iter_mut().zip(pending_control.iter_mut()) {
        pending.extend(control.iter().cloned());
        if pending.is_empty() {
            continue;
        }
        let records: Vec<LogRecord> = pending.iter().map(|c| c.record.clone()).collect();
        let batch = Batch::new(host.resource(), host.categories(), &[], &records, &[])
            .with_deadline(deadline);
        match guarded(|| exporter.export(&batch)) {
            Ok(()) => {
                for c in pending.drain(..) {
                    c.taken(host);
                }
            }
            Err(e) => {
                let excess = pending.len().saturating_sub(MAX_CONTROL);
                if excess > 0 {
                    pending.drain(..excess);
                    host.count_drop(
                        DropCause::ExporterFailure,
                        Category::TELEMETRY,
                        excess as u64,
                    );
                }
                totals.errors.push(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use crate::export::{Batch, ExportError, Exporter};
    use crate::{Category, ConsentPolicy, Environment, Telemetry};

    /// Counts the log records it is handed.
    struct CountingExporter(Arc<AtomicU64>);

    impl Exporter for CountingExporter {
        fn export(&mut self, batch: &Batch<'_>) -> Result<(), ExportError> {
            self.0.fetch_add(batch.logs.len() as u64, Ordering::Relaxed);
            Ok(())
        }
    }

    /// An instance with batches of 8 and no flush before an hour, a
    /// regular round every `rounds` (for the metrics), and its count of
    /// exported log records.
    fn instance(rounds: Duration) -> (Telemetry, Arc<AtomicU64>) {
        let exported = Arc::new(AtomicU64::new(0));
        let t = Telemetry::builder()
            .service("test", "1")
            .env(Environment::from_pairs::<&str, &str>([]))
            .consent(ConsentPolicy::opt_in().exempt(Category::BUSINESS))
            .batch_size(8)
            .flush_interval(Duration::from_secs(3600))
            .metric_interval(rounds)
            .exporter(CountingExporter(exported.clone()))
            .build()
            .unwrap();
        (t, exported)
    }

    fn record(t: &Telemetry, n: u64) {
        for i in 0..n {
            t.event("shop.order_placed", Category::BUSINESS)
                .public("seq", i)
                .emit();
        }
    }

    #[test]
    fn a_full_batch_is_exported_while_a_spill_holds_the_buffer() {
        let (t, exported) = instance(Duration::from_secs(3600));
        // A recording thread spilling the queue holds the buffer's lock;
        // hold it here for as long as the test waits.
        let held = t.inner.pipeline().lock_held();
        record(&t, 8);
        let deadline = Instant::now() + Duration::from_secs(10);
        while exported.load(Ordering::Relaxed) < 8 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            exported.load(Ordering::Relaxed),
            8,
            "the worker took the batch from the queue instead of waiting for the buffer"
        );
        drop(held);
    }

    #[test]
    fn beside_a_spill_only_a_full_batch_leaves_early() {
        // Regular rounds every 20 ms.
        let (t, exported) = instance(Duration::from_millis(20));
        let held = t.inner.pipeline().lock_held();
        record(&t, 3);
        // Several rounds pass; three records are not a batch, and the
        // flush interval is far off.
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(exported.load(Ordering::Relaxed), 0, "a batch left early");
        drop(held);
        t.force_flush().unwrap();
        assert_eq!(exported.load(Ordering::Relaxed), 3);
    }
}
