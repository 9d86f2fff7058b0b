//! What the pipeline holds between the queue and the exporters, and how a
//! revocation reaches it: the held buffers (purged in place), the batches
//! taken for export (filtered again when a revocation raced them), and the
//! log of recent revocations that tells the two apart.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use super::Host;
use super::Queued;
use super::queue::{Queue, Taken};
use crate::export::{LogRecord, Record, SpanRecord};
use crate::health::drops::DropCause;
use crate::subject::SubjectKey;

/// Revocations remembered to tell a taken batch whether it is stale. When
/// more than this many happen during one export, the batch is filtered
/// again whatever it holds.
const REVOCATION_LOG: usize = 256;

/// The most records one [`Held::drain`] moves from the queue: about 100 µs
/// under the buffer's lock.
const DRAIN_CHUNK: usize = 1024;

/// A held record's consent version at capture and its subject, beside the
/// record: a purge after one subject's revocation compares these (dense,
/// 32 bytes each) instead of reading every record.
type Tag = (u64, Option<SubjectKey>);

/// Records a burst spilled out of the full queue, waiting for the export
/// worker, each with its tag (the consent version it was captured at, its
/// subject).
pub(super) struct Held {
    // Ring buffers: a batch is taken from the front of up to
    // `buffer_capacity` records without moving the rest.
    spans: VecDeque<SpanRecord>,
    span_versions: VecDeque<Tag>,
    logs: VecDeque<LogRecord>,
    log_versions: VecDeque<Tag>,
    /// New control records (audit entries, deletion requests).
    pub(super) control: Vec<super::Control>,
    pub(super) last_flush: Instant,
    capacity: usize,
}

/// Whether a captured record may still be exported under consent now (its
/// subject's, captured before no revocation of its category; and, with a
/// shared store, a view that is current), or why not.
fn export_check(
    host: &dyn Host,
    subject: Option<SubjectKey>,
    record: &impl Categorised,
    version: u64,
) -> Result<(), DropCause> {
    host.export_check(subject, record.category(), version)
}

/// Where records taken out of the queue go: the held buffers (a spill) or
/// a batch (the worker).
trait Destination {
    /// Moves the record out of its queue slot.
    fn put(&mut self, queued: Taken<'_, Queued>);
}

/// Moves up to `n` records from `queue` to `to`, each checked against
/// consent (captured at consent `version`): those it no longer allows are
/// counted by cause and dropped.
fn move_allowed(host: &dyn Host, queue: &Queue<Queued>, n: usize, to: &mut impl Destination) {
    for _ in 0..n {
        let Some(queued) = queue.take() else {
            break;
        };
        let category = queued.record.category();
        match host.export_check(queued.record.subject(), category, queued.version) {
            Ok(()) => to.put(queued),
            Err(cause) => {
                drop(queued);
                host.count_drop(cause, category, 1);
            }
        }
    }
}

impl Destination for Held {
    fn put(&mut self, queued: Taken<'_, Queued>) {
        // A spill (rare): the ring buffers take values, not places.
        let Queued { record, version } = queued.into_inner();
        match record {
            Record::Span(s) => {
                self.span_versions.push_back((version, s.subject));
                self.spans.push_back(s);
            }
            Record::Log(l) => {
                self.log_versions.push_back((version, l.subject));
                self.logs.push_back(l);
            }
        }
    }
}

impl Destination for Outgoing {
    fn put(&mut self, queued: Taken<'_, Queued>) {
        queued.into_batch(
            &mut self.spans,
            &mut self.span_versions,
            &mut self.logs,
            &mut self.log_versions,
        );
    }
}

/// What the consent re-check needs of a record.
trait Categorised {
    fn category(&self) -> crate::category::Category;
}
impl Categorised for SpanRecord {
    fn category(&self) -> crate::category::Category {
        self.category
    }
}
impl Categorised for LogRecord {
    fn category(&self) -> crate::category::Category {
        self.category
    }
}

/// Keeps the records (and their versions) that consent still allows;
/// counts the others by cause. Returns how many were dropped. With `only`,
/// just that subject's records are checked again (a revocation of one
/// subject changes nothing for the others), and a buffer that holds none
/// of them is left as it is after one pass of comparisons.
fn retain_allowed<R: Categorised>(
    host: &dyn Host,
    records: &mut VecDeque<R>,
    versions: &mut VecDeque<Tag>,
    only: Option<SubjectKey>,
) -> u64 {
    let concerned = |t: &Tag| only.is_none() || t.1 == only;
    let Some(first) = versions.iter().position(concerned) else {
        return 0;
    };
    let mut keep = Vec::with_capacity(records.len());
    keep.resize(first, Ok(()));
    for (r, tag) in records.iter().zip(versions.iter()).skip(first) {
        if !concerned(tag) {
            keep.push(Ok(()));
            continue;
        }
        keep.push(export_check(host, tag.1, r, tag.0));
    }
    let mut dropped = 0u64;
    let mut flags = keep.iter();
    records.retain(|r| match flags.next() {
        Some(Ok(())) => true,
        Some(Err(cause)) => {
            host.count_drop(*cause, r.category(), 1);
            dropped += 1;
            false
        }
        None => {
            host.count_drop(DropCause::Revoked, r.category(), 1);
            dropped += 1;
            false
        }
    });
    let mut flags = keep.iter();
    versions.retain(|_| flags.next().is_some_and(Result::is_ok));
    dropped
}

impl Held {
    pub(super) fn new(capacity: usize) -> Self {
        Held {
            spans: VecDeque::new(),
            span_versions: VecDeque::new(),
            logs: VecDeque::new(),
            log_versions: VecDeque::new(),
            control: Vec::new(),
            last_flush: Instant::now(),
            capacity,
        }
    }

    /// The control records waiting, taken out; clears `pending` (the
    /// caller holds the lock they are pushed under).
    pub(super) fn take_control(&mut self, pending: &AtomicBool) -> Vec<super::Control> {
        pending.store(false, Ordering::Release);
        std::mem::take(&mut self.control)
    }

    /// Spans and log records held (control records aside).
    pub(super) fn len(&self) -> usize {
        self.spans.len() + self.logs.len()
    }

    /// Moves queued records into the buffers, dropping those consent no
    /// longer allows: a recording thread that found the queue full spills
    /// it here. Takes at most the room left under the buffer's capacity,
    /// so what is held in memory is at most the queue plus
    /// `buffer_capacity` records.
    ///
    /// Moves at most [`DRAIN_CHUNK`] records a call, so that the spilling
    /// thread holds the buffer's lock briefly: a revocation waits for one
    /// chunk at most.
    pub(super) fn drain(&mut self, host: &dyn Host, queue: &Queue<Queued>) {
        let room = self.capacity.saturating_sub(self.len()).min(DRAIN_CHUNK);
        move_allowed(host, queue, room, self);
    }

    /// Drops every held record consent no longer allows; returns how many.
    /// With `only`, the records of that subject alone (after its
    /// revocation); else every record (after a change for everyone).
    pub(super) fn purge(&mut self, host: &dyn Host, only: Option<SubjectKey>) -> u64 {
        retain_allowed(host, &mut self.spans, &mut self.span_versions, only)
            + retain_allowed(host, &mut self.logs, &mut self.log_versions, only)
    }

    /// Takes up to `max` spans and `max` log records, oldest first, into
    /// `reuse` (a batch already exported: its vectors are reused, so a
    /// batch costs no allocation; fresh ones of a few hundred kilobytes
    /// came from `mmap` and were faulted in page by page every time).
    /// Once the buffers are empty they start again at their front, so a
    /// buffer that grew in a burst is not walked end to end (out of the
    /// cache) ever after. The caller fills the rest of the batch from the
    /// queue ([`Outgoing::take_queued`]) and seals it
    /// ([`Outgoing::seal`]).
    pub(super) fn take(&mut self, max: usize, mut reuse: Outgoing) -> Outgoing {
        reuse.clear();
        let n = max.min(self.spans.len());
        reuse.spans.extend(self.spans.drain(..n));
        reuse
            .span_versions
            .extend(self.span_versions.drain(..n).map(|t| t.0));
        let n = max.min(self.logs.len());
        reuse.logs.extend(self.logs.drain(..n));
        reuse
            .log_versions
            .extend(self.log_versions.drain(..n).map(|t| t.0));
        if self.len() == 0 {
            // Empty: `clear` moves a ring's start back to its front.
            self.spans.clear();
            self.span_versions.clear();
            self.logs.clear();
            self.log_versions.clear();
        }
        reuse
    }
}

/// A batch taken for export: owned by the worker, out of the held
/// buffers' reach, so it is checked against the revocation log instead.
#[derive(Default)]
pub(super) struct Outgoing {
    pub(super) spans: Vec<SpanRecord>,
    span_versions: Vec<u64>,
    pub(super) logs: Vec<LogRecord>,
    log_versions: Vec<u64>,
    /// The subjects it holds records of, sorted.
    subjects: Vec<SubjectKey>,
    /// The revocation log's revision when it was last filtered.
    revision: u64,
}

impl Outgoing {
    /// Empties it, keeping its vectors' room.
    pub(super) fn clear(&mut self) {
        self.spans.clear();
        self.span_versions.clear();
        self.logs.clear();
        self.log_versions.clear();
        self.subjects.clear();
    }

    pub(super) fn is_empty(&self) -> bool {
        self.spans.is_empty() && self.logs.is_empty()
    }

    pub(super) fn len(&self) -> usize {
        self.spans.len() + self.logs.len()
    }

    /// Takes up to `max` records from `queue` into the batch, dropping (and
    /// counting) those consent no longer allows. Needs no lock: a
    /// revocation logged after the batch's revision was read makes the
    /// batch stale (see [`seal`](Self::seal)).
    pub(super) fn take_queued(&mut self, host: &dyn Host, queue: &Queue<Queued>, max: usize) {
        move_allowed(host, queue, max, self);
    }

    /// Notes the subjects the batch holds and `revision`, the revocation
    /// log's revision read before any of its records was taken: a
    /// revocation logged after that makes the batch stale if it concerns
    /// one of them; one logged before was seen by the purge of the held
    /// buffers (which it runs under their lock before the batch took from
    /// them) or by the consent checks of the records taken from the queue.
    pub(super) fn seal(&mut self, revision: u64) {
        self.subjects.extend(
            self.spans
                .iter()
                .filter_map(|s| s.subject)
                .chain(self.logs.iter().filter_map(|l| l.subject)),
        );
        self.subjects.sort_unstable();
        self.subjects.dedup();
        self.revision = revision;
    }

    /// Whether no revocation since it was filtered concerns its subjects.
    pub(super) fn is_current(&self, log: &RevocationLog) -> bool {
        !log.affects(self.revision, &self.subjects)
    }

    /// Filters it again under consent as it is now.
    pub(super) fn refilter(&mut self, host: &dyn Host, log: &RevocationLog) {
        self.revision = log.revision();
        refilter(host, &mut self.spans, &mut self.span_versions, |s| {
            s.subject
        });
        refilter(host, &mut self.logs, &mut self.log_versions, |l| l.subject);
    }
}

/// [`retain_allowed`] on a taken batch's vectors (a batch, so the moves
/// in and out of a ring buffer are cheap).
fn refilter<R: Categorised>(
    host: &dyn Host,
    records: &mut Vec<R>,
    versions: &mut Vec<u64>,
    subject: impl Fn(&R) -> Option<SubjectKey>,
) {
    let mut v: VecDeque<Tag> = versions
        .iter()
        .zip(records.iter())
        .map(|(v, r)| (*v, subject(r)))
        .collect();
    let mut r = VecDeque::from(std::mem::take(records));
    retain_allowed(host, &mut r, &mut v, None);
    *records = Vec::from(r);
    *versions = v.into_iter().map(|t| t.0).collect();
}

/// The recent revocations, numbered.
#[derive(Default)]
pub(super) struct RevocationLog {
    revision: AtomicU64,
    recent: Mutex<VecDeque<(u64, SubjectKey)>>,
}

impl RevocationLog {
    /// Logs a revocation of `subject`'s consent (after its mask changed).
    pub(super) fn record(&self, subject: SubjectKey) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let revision = self.revision.fetch_add(1, Ordering::SeqCst) + 1;
        if recent.len() == REVOCATION_LOG {
            recent.pop_front();
        }
        recent.push_back((revision, subject));
    }

    /// Logs a change that concerns every subject (a shared store's view
    /// turned stale): every batch taken before it is filtered again.
    pub(super) fn record_all(&self) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        self.revision.fetch_add(1, Ordering::SeqCst);
        // An empty log with a newer revision reaches back nowhere: every
        // batch is stale.
        recent.clear();
    }

    /// The number of the latest revocation.
    pub(super) fn revision(&self) -> u64 {
        self.revision.load(Ordering::SeqCst)
    }

    /// Whether a revocation after `since` concerns one of `subjects`
    /// (sorted), or the log no longer reaches back that far.
    pub(super) fn affects(&self, since: u64, subjects: &[SubjectKey]) -> bool {
        if self.revision.load(Ordering::SeqCst) == since {
            return false;
        }
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        match recent.front() {
            Some(&(oldest, _)) if oldest <= since + 1 => recent
                .iter()
                .filter(|(r, _)| *r > since)
                .any(|(_, key)| subjects.binary_search(key).is_ok()),
            _ => true,
        }
    }
}
