//! The in-process pipeline: a bounded lock-free queue from the recording
//! threads to one background export worker.
//!
//! - **Recording** only pushes into the queue ([`Pipeline::push_with`]); it never
//!   blocks, and a full queue drops and counts (`queue_full`).
//! - **The worker** ([`worker`]) takes batches from the held buffers (what
//!   a burst spilled there), then straight from the queue ([`queue`]: one
//!   move a record, from its slot into the batch), re-checks consent,
//!   collects metrics and calls the exporters. When a recording thread
//!   that is spilling holds the buffers and a full batch waits in the
//!   queue, it takes that batch beside it instead of waiting.
//!   It is the only thread that ever calls an exporter, and it holds no
//!   lock that anyone else needs while it does: the network never holds up
//!   a revocation, a flush or a shutdown.
//! - **Purge** ([`held`]): a revocation filters the held buffers under a
//!   short lock (memory only) and is logged, so a batch already taken for
//!   export learns it is stale ([`Batch::is_current`](crate::Batch::is_current))
//!   and is filtered again before it is delivered.
//! - **Flush and shutdown** ([`requests`]) are requests to the worker with
//!   a deadline; the caller waits at most until the deadline, whatever the
//!   exporters do, and learns what could not be delivered.
//! - **Control records** ([`control`]), audit entries and deletion
//!   requests, go apart from the data and are kept for each exporter until
//!   it takes them.

mod control;
mod held;
mod queue;
mod requests;
mod stats;
mod worker;

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use crate::category::{Category, CategoryNames};
use crate::export::Exporter;
use crate::export::{ExportError, ExportErrorKind};
use crate::export::{MetricData, Record, Resource};
use crate::health::drops::DropCause;
use crate::subject::SubjectKey;

use control::{Control, MAX_CONTROL};
use held::{Held, RevocationLog};
use queue::Queue;
use requests::Requests;
pub use requests::ShutdownReport;
pub use stats::TelemetryStats;
pub(crate) use stats::{ExportStats, WarningSink, stderr_sink};

/// What the pipeline needs of the instance it belongs to: a narrow view, so
/// the pipeline does not depend on the instance's layout.
pub(crate) trait Host: Send + Sync + 'static {
    /// The instance's pipeline.
    fn pipeline(&self) -> &Pipeline;
    /// Whether a record of `category` about `subject` (none: without a
    /// subject), captured at consent `version`, may still be exported, or
    /// the cause to count it under.
    fn export_check(
        &self,
        subject: Option<SubjectKey>,
        category: Category,
        version: u64,
    ) -> Result<(), DropCause>;
    /// A deletion request from a shared store's outbox (`outbox`) reached
    /// every exporter.
    fn delivered(&self, outbox: u64);
    /// Counts `n` records dropped for `cause`.
    fn count_drop(&self, cause: DropCause, category: Category, n: u64);
    /// The resource every batch comes from.
    fn resource(&self) -> &Resource;
    /// The category names records are labelled with.
    fn categories(&self) -> &CategoryNames;
    /// Every metric, the library's own included.
    fn collect_metrics(&self) -> Vec<MetricData>;
    /// Upkeep on the worker: every round (`thorough` false) the clock is
    /// anchored again; every ten seconds (`thorough` true) idle subjects
    /// are let go as well.
    fn maintain(&self, thorough: bool);
}

/// How often a recording thread that found the queue full tries the held
/// buffer's lock before it gives up: the first `SPILL_SPINS` times with a
/// spin between tries, then yielding the processor (a few microseconds
/// when the holder runs, never an unbounded wait).
const SPILL_TRIES: usize = 48;
const SPILL_SPINS: usize = 32;

/// Timing and sizing of the pipeline.
#[derive(Copy, Clone, Debug)]
pub(crate) struct PipelineConfig {
    pub(crate) queue_capacity: usize,
    /// Records held between the queue and the exporters, at most: a burst
    /// that fills the queue spills here (memory grows only as used).
    pub(crate) buffer_capacity: usize,
    pub(crate) batch_size: usize,
    pub(crate) flush_interval: Duration,
    pub(crate) metric_interval: Duration,
    /// Longest a regular export round may take, and how long
    /// `force_flush` waits by default.
    pub(crate) export_timeout: Duration,
    /// Per category bit: how long (microseconds) a record waits for room
    /// in a full queue before it is dropped (0: dropped at once).
    pub(crate) wait_when_full: [u32; Category::COUNT],
}

/// A record in the queue, with the consent version its subject had when
/// it was captured.
pub(crate) struct Queued {
    pub(crate) record: Record,
    pub(crate) version: u64,
}

/// The exporters and what each still owes: only the worker locks this.
struct Exporters {
    list: Vec<Box<dyn Exporter>>,
    /// Control records an exporter failed to take, per exporter, oldest
    /// first; sent again before anything else in the next round.
    pending_control: Vec<Vec<Control>>,
    shut_down: bool,
    /// The last batch, exported and emptied: the next one reuses its room.
    spare: held::Outgoing,
}

thread_local! {
    /// Records this thread pushed (wrapping), for [`due_for_wake_check`].
    static PUSHES: Cell<u32> = const { Cell::new(0) };
}

/// How often a recording thread checks whether the queue holds a batch:
/// every push for small batches, else 32 times a batch. Reading the
/// queue's length on every push missed the cache whenever the worker had
/// taken records since (the head it moves shares the line): over half of
/// ending a recorded span, in `perf annotate`. A thread that stops
/// short of its next check leaves the worker to its flush interval.
fn wake_check_every(batch_size: usize) -> u32 {
    u32::try_from(batch_size / 32).unwrap_or(u32::MAX).max(1)
}

/// Whether this push is one at which the queue's length is looked at.
#[inline]
fn due_for_wake_check(every: u32) -> bool {
    PUSHES
        .try_with(|c| {
            let n = c.get().wrapping_add(1);
            c.set(n);
            n % every == 0
        })
        .unwrap_or(true)
}

pub(crate) struct Pipeline {
    queue: Queue<Queued>,
    held: Mutex<Held>,
    revocations: RevocationLog,
    exporters: Mutex<Exporters>,
    /// Shared with the worker thread, which answers the shutdown request
    /// only after it let go of the instance.
    requests: Arc<Requests>,
    config: PipelineConfig,
    /// How many exporters there are (fixed at build).
    exporter_count: usize,
    worker: OnceLock<Thread>,
    notified: AtomicBool,
    /// Whether control records wait in the held buffers (set and cleared
    /// under their lock): a regular round that finds the lock taken by a
    /// spill waits for it only then.
    control_pending: AtomicBool,
    /// A recording thread looks at the queue's length (a cache line the
    /// worker writes as it takes records) once in this many pushes.
    wake_check_every: u32,
    stopping: AtomicBool,
    join: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Export counts and failure warnings.
    pub(crate) stats: ExportStats,
}

impl Pipeline {
    pub(crate) fn new(
        config: PipelineConfig,
        exporters: Vec<Box<dyn Exporter>>,
        stats: ExportStats,
    ) -> Self {
        let pending_control = exporters.iter().map(|_| Vec::new()).collect();
        let exporter_count = exporters.len();
        Pipeline {
            queue: Queue::new(config.queue_capacity),
            held: Mutex::new(Held::new(config.buffer_capacity)),
            revocations: RevocationLog::default(),
            exporters: Mutex::new(Exporters {
                list: exporters,
                pending_control,
                shut_down: false,
                spare: held::Outgoing::default(),
            }),
            requests: Arc::new(Requests::default()),
            exporter_count,
            worker: OnceLock::new(),
            notified: AtomicBool::new(false),
            control_pending: AtomicBool::new(false),
            wake_check_every: wake_check_every(config.batch_size),
            config,
            stopping: AtomicBool::new(false),
            join: Mutex::new(None),
            stats,
        }
    }

    /// Starts the background worker.
    /// It holds the instance until it is shut down (the last handle the
    /// service holds asks for that when it goes).
    pub(crate) fn start<H: Host>(host: &Arc<H>) -> std::io::Result<()> {
        let held = Arc::clone(host);
        let pipeline = host.pipeline();
        let requests = Arc::clone(&pipeline.requests);
        let handle = std::thread::Builder::new()
            .name("telemetry-export".into())
            .spawn(move || {
                // Nothing the exporters log may feed back into the pipeline.
                let _suppressed = crate::subject::context::Context::suppress();
                let report = worker::run(&*held);
                // Let go of the instance before saying the shutdown is done:
                // when the caller's own handles go too, what the instance
                // holds (a consent store's file lock, say) is released by
                // the time they are gone.
                drop(held);
                requests.finish(report);
            })?;
        let _ = pipeline.worker.set(handle.thread().clone());
        if let Ok(mut j) = pipeline.join.lock() {
            *j = Some(handle);
        }
        Ok(())
    }

    /// Hands the record `make` builds to the worker, building it in its
    /// queue slot (see [`Queue::push_with`]: `make` must not unwind, so it
    /// should only move values). Never blocks.
    #[inline]
    pub(crate) fn push_with(
        &self,
        host: &impl Host,
        category: Category,
        version: u64,
        make: impl FnOnce() -> Record,
    ) {
        match self.queue.push_with(move || Queued {
            record: make(),
            version,
        }) {
            Ok(()) => {
                if due_for_wake_check(self.wake_check_every)
                    && self.queue.len() >= self.config.batch_size
                    && !self.notified.swap(true, Ordering::AcqRel)
                {
                    self.wake();
                }
            }
            Err(make) => self.push_full(host, make(), category),
        }
    }

    /// The queue is full: spill it into the held buffer and push again; if
    /// that is full too, wait (the `wait_when_full` policy) or drop and
    /// count.
    #[cold]
    #[inline(never)]
    fn push_full(&self, host: &impl Host, queued: Queued, category: Category) {
        match self.spill(host, queued) {
            None => {}
            Some(queued) => {
                let wait = self
                    .config
                    .wait_when_full
                    .get(category.bit() as usize)
                    .copied()
                    .unwrap_or(0);
                if wait == 0 || !self.push_waiting(queued, wait) {
                    host.count_drop(DropCause::QueueFull, category, 1);
                }
            }
        }
    }

    /// Moves what the queue holds into the held buffer (up to
    /// `buffer_capacity`) on the recording thread, then pushes `queued`:
    /// a burst faster than the exporters is kept in memory instead of
    /// dropped, and the records are checked against consent as the worker
    /// would check them. Never waits for a lock: if the worker or another
    /// recording thread holds the buffer, the queue is tried again a
    /// bounded number of times (the holder is making room), then `queued`
    /// is given back.
    fn spill(&self, host: &impl Host, queued: Queued) -> Option<Queued> {
        let mut queued = queued;
        for attempt in 0..SPILL_TRIES {
            if let Some(mut held) = self.try_lock_held() {
                held.drain(host, &self.queue);
                drop(held);
                // The worker was woken when the queue reached a batch; it
                // exports the buffer as it exports the queue.
                return self.queue.push(queued).err();
            }
            if attempt < SPILL_SPINS {
                std::hint::spin_loop();
            } else {
                // The holder may have been preempted: let it run.
                std::thread::yield_now();
            }
            match self.queue.push(queued) {
                Ok(()) => return None,
                Err(back) => queued = back,
            }
        }
        Some(queued)
    }

    /// The `wait_when_full` policy: wakes the worker and retries until
    /// there is room, for at most `micros`. Never on the export worker
    /// itself (it is the one that makes room), nor once shut down.
    #[cold]
    fn push_waiting(&self, mut queued: Queued, micros: u32) -> bool {
        if self.is_shut_down() || self.on_worker() {
            return false;
        }
        let deadline = std::time::Instant::now() + Duration::from_micros(u64::from(micros));
        let mut pause = Duration::from_micros(20);
        loop {
            self.notified.store(true, Ordering::Release);
            self.wake();
            std::thread::sleep(pause);
            match self.queue.push(queued) {
                Ok(()) => return true,
                Err(back) => queued = back,
            }
            if self.is_shut_down() || std::time::Instant::now() >= deadline {
                return false;
            }
            pause = (pause * 2).min(Duration::from_millis(1));
        }
    }

    /// Purges what is held for export that consent no longer allows, after
    /// `subject`'s consent lost categories. Memory only: it never waits for
    /// an export. A batch already taken for export is told it is stale
    /// through the revocation log, and filtered again before delivery.
    pub(crate) fn purge(&self, host: &impl Host, subject: SubjectKey) -> u64 {
        let mut held = self.lock_held();
        self.revocations.record(subject);
        held.purge(host, Some(subject))
    }

    /// Like [`purge`](Self::purge) after a change that concerns every
    /// subject (a shared store's view turned stale).
    pub(crate) fn purge_all(&self, host: &impl Host) -> u64 {
        let mut held = self.lock_held();
        self.revocations.record_all();
        held.purge(host, None)
    }

    /// Exports everything buffered now (records and metrics), waiting at
    /// most `timeout`.
    pub(crate) fn force_flush(&self, timeout: Duration) -> Result<(), ExportError> {
        if self.on_worker() {
            return Err(ExportError::new(
                ExportErrorKind::Other,
                "force_flush was called from an exporter (the export thread); it would wait for itself",
            ));
        }
        let deadline = Instant::now() + timeout;
        let ticket = self.requests.ask_flush(deadline);
        self.wake();
        self.requests.wait_flush(ticket, deadline)
    }

    /// Stops the worker after a last round that exports everything still
    /// buffered and shuts the exporters down, all within `timeout`.
    /// Returns by the deadline whatever the exporters do.
    pub(crate) fn shutdown(&self, host: &impl Host, timeout: Duration) -> ShutdownReport {
        let deadline = Instant::now() + timeout;
        self.stopping.store(true, Ordering::SeqCst);
        if self.on_worker() {
            // The last handle was dropped on the worker itself: it holds no
            // lock here, so it can do the last round in line.
            let report = worker::last_round(self, host, deadline);
            self.requests.finish(report.clone());
            return report;
        }
        self.requests.ask_shutdown(deadline);
        self.wake();
        match self.requests.wait_shutdown(deadline) {
            Some(report) => report,
            None => ShutdownReport::timed_out(self.undelivered(), timeout),
        }
    }

    /// Records still queued or held (not handed to the exporters).
    fn undelivered(&self) -> u64 {
        (self.queue.len() + self.lock_held().len()) as u64
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    pub(crate) fn queue_len(&self) -> usize {
        self.queue.len()
    }

    fn wake(&self) {
        if let Some(t) = self.worker.get() {
            t.unpark();
        }
    }

    fn on_worker(&self) -> bool {
        self.worker
            .get()
            .is_some_and(|w| w.id() == std::thread::current().id())
    }

    fn lock_held(&self) -> MutexGuard<'_, Held> {
        // Held buffers are plain memory; a panic while they were locked
        // leaves them consistent enough to go on.
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The held buffers if no one holds them now.
    fn try_lock_held(&self) -> Option<MutexGuard<'_, Held>> {
        match self.held.try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    fn lock_exporters(&self) -> MutexGuard<'_, Exporters> {
        // A poisoned lock means an exporter panicked; go on with its state.
        self.exporters.lock().unwrap_or_else(|p| p.into_inner())
    }
}
