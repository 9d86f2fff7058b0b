//! The pipeline: bounded queue (drop and count, never block), batching,
//! flush, shutdown with nothing lost, exporter failures, limits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use telemetry_core::consent::shared::{
    Committed, Feed, OutboxEntry, OutboxId, StoreChange, Stored,
};
use telemetry_core::consent::{ChangeId, FleetAck, SharedConsentStore};
use telemetry_core::export::*;
use telemetry_core::testing::{InMemoryExporter, SharedMemoryStore};
use telemetry_core::*;

/// An exporter that blocks until released, counting records.
#[derive(Clone, Default)]
struct Stalled {
    release: Arc<AtomicBool>,
    records: Arc<AtomicUsize>,
}

impl Exporter for Stalled {
    fn export(&mut self, batch: &Batch<'_>) -> Result<(), ExportError> {
        while !self.release.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.records
            .fetch_add(batch.record_count(), Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn stalled_exporter_never_blocks_the_caller_and_memory_stays_bounded() {
    let stalled = Stalled::default();
    let t = builder()
        .consent(policy())
        .queue_capacity(1000)
        .buffer_capacity(1000)
        .batch_size(100)
        .flush_interval(Duration::from_millis(5))
        .exporter(stalled.clone())
        .build()
        .unwrap();
    let offered = 200_000u64;
    let start = Instant::now();
    for i in 0..offered {
        t.event("perf.op", Category::PERFORMANCE)
            .public("i", i)
            .emit();
        assert!(t.queued() <= 1000, "queue bound exceeded");
    }
    let elapsed = start.elapsed();
    // 200k records against a stalled exporter: the caller was never blocked.
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    let queue_full = t.drops().get(DropCause::QueueFull, Category::PERFORMANCE);
    // Held in memory at most: the queue, the buffer (which the recording
    // thread fills when the queue is full) and the batch being exported.
    assert!(
        queue_full >= offered - (1000 + 1000 + 100),
        "dropped {queue_full}"
    );
    stalled.release.store(true, Ordering::SeqCst);
    let report = t.shutdown(Duration::from_secs(10));
    assert!(report.is_complete(), "{report:?}");
    let exported = stalled.records.load(Ordering::SeqCst) as u64;
    // Every record is either exported or counted as dropped.
    assert_eq!(
        exported + queue_full,
        offered,
        "exported {exported} dropped {queue_full}"
    );
}

#[test]
fn graceful_shutdown_exports_everything_buffered() {
    let exp = InMemoryExporter::new();
    let t = builder()
        .consent(policy())
        .batch_size(10_000)
        .exporter(exp.clone())
        .build()
        .unwrap();
    for i in 0..5000u64 {
        t.event("perf.op", Category::PERFORMANCE)
            .public("i", i)
            .emit();
    }
    let c = t.counter("n", Category::PERFORMANCE).build().unwrap();
    c.add(7, &[]);
    let report = t.shutdown(Duration::from_secs(10));
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(exp.events_named("perf.op").len(), 5000);
    assert_eq!(exp.sum_value("n", &[]), Some(7));
    assert!(exp.is_shut_down());
    // After shutdown, records are dropped as `disabled`, not exported.
    t.event("perf.late", Category::PERFORMANCE).emit();
    assert_eq!(t.drops().get(DropCause::Disabled, Category::PERFORMANCE), 1);
    assert!(
        t.shutdown(Duration::from_secs(1)).is_complete(),
        "second shutdown is harmless"
    );
}

/// How many `perf.op` events `exp` received once it has `n` of them, or
/// when `wait` has passed.
fn perf_ops_within(exp: &InMemoryExporter, n: usize, wait: Duration) -> usize {
    let deadline = Instant::now() + wait;
    while exp.events_named("perf.op").len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    exp.events_named("perf.op").len()
}

#[test]
fn batches_are_exported_by_size_and_by_interval() {
    let exp = InMemoryExporter::new();
    let t = builder()
        .consent(policy())
        .batch_size(50)
        .flush_interval(Duration::from_millis(50))
        .exporter(exp.clone())
        .build()
        .unwrap();
    for _ in 0..10 {
        t.event("perf.op", Category::PERFORMANCE).emit();
    }
    assert_eq!(
        perf_ops_within(&exp, 10, Duration::from_secs(10)),
        10,
        "flushed by the interval without force_flush"
    );
}

#[test]
fn a_full_batch_wakes_the_worker_long_before_the_interval() {
    let exp = InMemoryExporter::new();
    // A recording thread looks at the queue once in batch/32 pushes (20
    // here), so a batch of 640 is seen by push 660 at the latest.
    let t = builder()
        .consent(policy())
        .batch_size(640)
        .flush_interval(Duration::from_secs(3600))
        .exporter(exp.clone())
        .build()
        .unwrap();
    // Let the worker finish its first rounds and park for the interval.
    t.force_flush().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..700 {
        t.event("perf.op", Category::PERFORMANCE).emit();
    }
    assert!(
        perf_ops_within(&exp, 640, Duration::from_secs(10)) >= 640,
        "a batch went out without force_flush and an hour before the interval"
    );
}

#[test]
fn exporter_failures_drop_the_batch_and_count_it() {
    let exp = InMemoryExporter::new();
    let t = builder()
        .consent(policy())
        .exporter(exp.clone())
        .build()
        .unwrap();
    exp.set_failing(true);
    for _ in 0..4 {
        t.event("perf.op", Category::PERFORMANCE).emit();
    }
    assert!(t.force_flush().is_err());
    assert_eq!(
        t.drops()
            .get(DropCause::ExporterFailure, Category::PERFORMANCE),
        4
    );
    exp.set_failing(false);
    t.event("perf.op", Category::PERFORMANCE).emit();
    t.force_flush().unwrap();
    assert_eq!(exp.events_named("perf.op").len(), 1, "export resumes");
}

#[test]
fn failed_exports_warn_at_a_bounded_rate_and_show_in_stats() {
    let exp = InMemoryExporter::new();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = {
        let lines = lines.clone();
        move |l: &str| lines.lock().unwrap().push(l.to_owned())
    };
    let t = builder()
        .consent(policy())
        .exporter(exp.clone())
        .export_warnings(sink, Duration::from_secs(3600))
        .build()
        .unwrap();
    t.event("perf.op", Category::PERFORMANCE).emit();
    t.force_flush().unwrap();
    let before = t.stats();
    assert_eq!((before.exported, before.export_errors), (1, 0));
    exp.set_failing(true);
    for round in 0..3 {
        for _ in 0..2 {
            t.event("perf.op", Category::PERFORMANCE).emit();
        }
        assert!(t.force_flush().is_err(), "round {round}");
    }
    let lines = lines.lock().unwrap().clone();
    assert_eq!(lines.len(), 1, "one warning per interval: {lines:?}");
    assert!(lines[0].contains("export failed") && lines[0].contains("2 records dropped"));
    let stats = t.stats();
    assert_eq!(stats.export_errors, 3);
    assert_eq!(stats.queued, 0);
    assert_eq!(
        stats
            .dropped
            .get(DropCause::ExporterFailure, Category::PERFORMANCE),
        6
    );
    // None of it went through the pipeline as telemetry.
    exp.set_failing(false);
    t.force_flush().unwrap();
    assert!(exp.logs().iter().all(|l| !l.event_name.contains("export")));
    let quiet = builder()
        .consent(policy())
        .quiet_export_failures()
        .build()
        .unwrap();
    assert_eq!(quiet.stats().export_errors, 0);
}

#[test]
fn limits_truncate_strings_and_cap_attributes() {
    let exp = InMemoryExporter::new();
    let t = builder()
        .consent(policy())
        .limits(Limits {
            max_attributes: 3,
            max_string_len: 8,
            ..Limits::default()
        })
        .exporter(exp.clone())
        .build()
        .unwrap();
    t.event("perf.op", Category::PERFORMANCE)
        .public("a", "0123456789abcdef")
        .public("b", 1u64)
        .public("c", 2u64)
        .public("d", 3u64)
        .public("e", 4u64)
        .emit();
    t.force_flush().unwrap();
    let e = &exp.events_named("perf.op")[0];
    assert_eq!(e.attributes.len(), 3);
    assert_eq!(e.dropped_attributes, 2);
    assert_eq!(
        attr(e, "a"),
        Some(&AttrValue::Str(format!("01234567{TRUNCATED}").into()))
    );
    assert_eq!(t.drops().get(DropCause::Limits, Category::PERFORMANCE), 1);
}

#[test]
fn typed_events_keep_schema_metadata_and_apply_classes() {
    let (t, exp) = setup();
    t.consent().grant("uma", Category::BUSINESS).unwrap();
    {
        let _s = t.subject("uma");
        t.emit(&purchase("uma@example.com"));
    }
    t.force_flush().unwrap();
    let e = &exp.events_named("checkout.purchase_completed")[0];
    assert_eq!(e.schema_version, 2);
    assert_eq!(e.category, Category::BUSINESS);
    assert_eq!(e.probability, 1.0);
    assert_eq!(e.key_id, Some(KeyId(1)));
    assert_eq!(attr(e, "amount_cents"), Some(&AttrValue::U64(1299)));
    assert_eq!(attr(e, "currency"), Some(&AttrValue::from("EUR")));
    assert_eq!(attr(e, "card_last4"), Some(&AttrValue::Redacted));
    assert_eq!(attr(e, "note"), None, "dropped fields leave no trace");
    let Some(AttrValue::Hashed(h1)) = attr(e, "email") else {
        panic!()
    };
    // Same value, same key: same hash. Rotation changes it and the key id.
    t.emit(&Purchase {
        customer: Some("uma"),
        ..purchase("uma@example.com")
    });
    t.force_flush().unwrap();
    let again = exp.events_named("checkout.purchase_completed");
    assert_eq!(attr(&again[1], "email"), Some(&AttrValue::Hashed(*h1)));
}

#[test]
fn key_rotation_changes_hashes_and_the_recorded_key_id() {
    let exp = InMemoryExporter::new();
    let t = builder()
        .hash_key(KeyId(2), b"fedcba9876543210fedcba9876543210")
        .consent(policy())
        .exporter(exp.clone())
        .build()
        .unwrap();
    t.consent().grant("ivy", Category::BUSINESS).unwrap();
    let emit = || {
        let _s = t.subject("ivy");
        t.event("perf.op", Category::BUSINESS)
            .hashed("ip", "203.0.113.9")
            .emit()
    };
    emit();
    t.rotate_hash_key(KeyId(1)).unwrap();
    emit();
    t.force_flush().unwrap();
    let e = exp.events_named("perf.op");
    assert_eq!((e[0].key_id, e[1].key_id), (Some(KeyId(2)), Some(KeyId(1))));
    assert_ne!(attr(&e[0], "ip"), attr(&e[1], "ip"));
    // Subject pseudonyms come from the first key and survive the rotation.
    assert_eq!(t.consent().subject_key("x"), t.consent().subject_key("x"));
}

/// An exporter that records in which order batches arrive.
#[derive(Clone, Default)]
struct Ordered(Arc<Mutex<Vec<usize>>>);
impl Exporter for Ordered {
    fn export(&mut self, b: &Batch<'_>) -> Result<(), ExportError> {
        self.0.lock().unwrap().push(b.record_count());
        Ok(())
    }
}

#[test]
fn every_exporter_receives_every_batch() {
    let a = InMemoryExporter::new();
    let b = Ordered::default();
    let t = builder()
        .consent(policy())
        .exporter(a.clone())
        .exporter(b.clone())
        .build()
        .unwrap();
    t.event("perf.op", Category::PERFORMANCE).emit();
    t.force_flush().unwrap();
    assert_eq!(a.events_named("perf.op").len(), 1);
    assert_eq!(b.0.lock().unwrap().iter().sum::<usize>(), 1);
}

#[test]
fn dropping_the_last_handle_exports_what_is_buffered() {
    let exp = InMemoryExporter::new();
    let t = builder()
        .consent(policy())
        .exporter(exp.clone())
        .build()
        .unwrap();
    for _ in 0..10 {
        t.event("perf.op", Category::PERFORMANCE).emit();
    }
    let clone = t.clone();
    drop(t);
    assert!(
        exp.events_named("perf.op").is_empty(),
        "a clone still holds the instance"
    );
    drop(clone);
    assert_eq!(exp.events_named("perf.op").len(), 10);
    assert!(exp.is_shut_down());
}

/// What a delivery attempt saw: whether the batch was current, and the
/// subjects of its data records.
type Seen = (bool, Vec<Option<SubjectKey>>);

/// An exporter that, once armed, stops inside `export` until released and
/// says when it got there; it ignores deadlines, as a hung collector
/// connection would.
#[derive(Clone, Default)]
struct Hung {
    armed: Arc<AtomicBool>,
    inside: Arc<AtomicBool>,
    release: Arc<AtomicBool>,
    batches: Arc<Mutex<Vec<Seen>>>,
}

impl Hung {
    fn wait_inside(&self) {
        let start = Instant::now();
        while !self.inside.load(Ordering::SeqCst) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the exporter was never called"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Exporter for Hung {
    fn export(&mut self, batch: &Batch<'_>) -> Result<(), ExportError> {
        if self.armed.swap(false, Ordering::SeqCst) {
            self.inside.store(true, Ordering::SeqCst);
            while !self.release.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let current = batch.is_current();
        // The data records' subjects (audit entries and deletion requests
        // name subjects too, in the library's own category).
        let subjects = batch
            .logs
            .iter()
            .filter(|l| l.category != Category::TELEMETRY)
            .map(|l| l.subject)
            .collect();
        self.batches.lock().unwrap().push((current, subjects));
        if !current {
            return Err(ExportError::stale());
        }
        Ok(())
    }
}

/// How much longer than its deadline a bounded call may take on a loaded
/// two-core CI machine: thread start-up, scheduling, the fleet threads'
/// stop grace.
const MARGIN: Duration = Duration::from_millis(1500);

/// Runs `f` on another thread and waits (generously, so a failure is an
/// assertion rather than a hung test) for it: `Some` with how long `f`
/// took if it returned while the test still holds the exporter hung.
fn returns_while_hung<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> Option<(R, Duration)> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let start = Instant::now();
        let r = f();
        let _ = tx.send((r, start.elapsed()));
    });
    rx.recv_timeout(Duration::from_secs(60)).ok()
}

fn hung_instance() -> (Telemetry, Hung) {
    let hung = Hung::default();
    let t = builder()
        .consent(policy())
        .flush_interval(Duration::from_millis(5))
        .exporter(hung.clone())
        .build()
        .unwrap();
    (t, hung)
}

#[test]
fn revoke_grant_flush_and_shutdown_never_wait_for_a_hung_export() {
    let (t, hung) = hung_instance();
    t.consent().grant("ann", Category::BUSINESS).unwrap();
    t.force_flush().unwrap();
    hung.armed.store(true, Ordering::SeqCst);
    t.event("perf.op", Category::PERFORMANCE).emit();
    hung.wait_inside();
    // The worker is stuck inside the exporter. None of these waits for it.
    for _ in 0..100 {
        t.event("perf.op", Category::PERFORMANCE).emit();
    }
    let t2 = t.clone();
    let (revoked, took) =
        returns_while_hung(move || t2.consent().revoke("ann", Category::BUSINESS))
            .expect("revoke waited for the export");
    assert!(revoked.is_ok(), "{revoked:?}");
    assert!(took < MARGIN, "revoke took {took:?}");
    let t2 = t.clone();
    let (granted, took) = returns_while_hung(move || t2.consent().grant("bea", Category::BUSINESS))
        .expect("grant waited for the export");
    assert!(granted.is_ok(), "{granted:?}");
    assert!(took < MARGIN, "grant took {took:?}");
    let t2 = t.clone();
    let flush_deadline = Duration::from_millis(50);
    let (flushed, took) = returns_while_hung(move || t2.force_flush_within(flush_deadline))
        .expect("force_flush waited past its deadline");
    let err = flushed.unwrap_err();
    assert_eq!(err.kind(), ExportErrorKind::Timeout, "{err}");
    assert!(
        took < flush_deadline + MARGIN,
        "force_flush_within({flush_deadline:?}) took {took:?}"
    );
    let t2 = t.clone();
    let shutdown_deadline = Duration::from_millis(100);
    let (report, took) = returns_while_hung(move || t2.shutdown(shutdown_deadline))
        .expect("shutdown waited past its deadline");
    assert!(
        took < shutdown_deadline + MARGIN,
        "shutdown({shutdown_deadline:?}) took {took:?}"
    );
    assert!(hung.inside.load(Ordering::SeqCst) && !hung.release.load(Ordering::SeqCst));
    assert!(report.timed_out, "{report:?}");
    assert!(report.undelivered >= 100, "{report:?}");
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.kind() == ExportErrorKind::Timeout),
        "{report:?}"
    );
    hung.release.store(true, Ordering::SeqCst);
}

#[test]
fn dropping_the_last_handle_returns_even_when_the_exporter_hangs() {
    let (t, hung) = hung_instance();
    hung.armed.store(true, Ordering::SeqCst);
    t.event("perf.op", Category::PERFORMANCE).emit();
    hung.wait_inside();
    // Dropping the last handle shuts down within five seconds.
    let ((), took) = returns_while_hung(move || drop(t)).expect("dropping waited for the export");
    assert!(
        took < Duration::from_secs(5) + MARGIN,
        "dropping the last handle took {took:?}"
    );
    assert!(!hung.release.load(Ordering::SeqCst));
    hung.release.store(true, Ordering::SeqCst);
}

/// A shared consent store whose `commit` and `claim_undelivered` (which
/// the upkeep thread calls right after start) block while `hang` is set,
/// ignoring every deadline, as a database that accepted the connection
/// and never answers would. Everything else goes to an in-memory store.
#[derive(Clone, Default)]
struct HungStore {
    store: SharedMemoryStore,
    hang: Arc<AtomicBool>,
    inside: Arc<AtomicBool>,
}

impl HungStore {
    fn block(&self) {
        if self.hang.load(Ordering::SeqCst) {
            self.inside.store(true, Ordering::SeqCst);
            while self.hang.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

impl SharedConsentStore for HungStore {
    fn start(&self, feed: Feed) -> Result<(), ConsentError> {
        self.store.start(feed)
    }
    fn request_load(&self, subject: SubjectKey) -> bool {
        self.store.request_load(subject)
    }
    fn load(&self, subject: SubjectKey, timeout: Duration) -> Result<Stored, ConsentError> {
        self.store.load(subject, timeout)
    }
    fn commit(&self, change: &StoreChange<'_>) -> Result<Committed, ConsentError> {
        self.block();
        self.store.commit(change)
    }
    fn wait_applied(&self, change: ChangeId, timeout: Duration) -> Result<FleetAck, ConsentError> {
        self.store.wait_applied(change, timeout)
    }
    fn claim_undelivered(&self) -> Result<Vec<OutboxEntry>, ConsentError> {
        self.block();
        self.store.claim_undelivered()
    }
    fn delivered(&self, outbox: OutboxId) {
        self.store.delivered(outbox);
    }
    fn stop(&self) {
        // Returns promptly, as the trait asks; the hung calls go on.
        self.store.stop();
    }
}

#[test]
fn shutdown_and_drop_never_wait_for_a_hung_consent_store() {
    for by_drop in [false, true] {
        let store = HungStore::default();
        store.hang.store(true, Ordering::SeqCst);
        let t = builder()
            .consent(policy())
            .exporter(InMemoryExporter::new())
            .shared_consent_store(store.clone())
            .build()
            .unwrap();
        // The upkeep thread is stuck inside the store.
        let start = Instant::now();
        while !store.inside.load(Ordering::SeqCst) {
            assert!(start.elapsed() < Duration::from_secs(30), "never called");
            std::thread::sleep(Duration::from_millis(1));
        }
        let deadline = Duration::from_millis(200);
        let returned = if by_drop {
            // Dropping the last handle runs shutdown(5 s) and stops the
            // store's threads.
            returns_while_hung(move || drop(t)).map(|((), took)| took)
        } else {
            returns_while_hung(move || {
                let report = t.shutdown(deadline);
                assert!(report.is_complete(), "{report:?}");
            })
            .map(|((), took)| took)
        };
        let still_hung = store.inside.load(Ordering::SeqCst) && store.hang.load(Ordering::SeqCst);
        // Let the stuck thread go (it ends on its own once the call returns).
        store.hang.store(false, Ordering::SeqCst);
        let took = returned.expect("shutdown waited for the hung consent store");
        assert!(
            still_hung,
            "the store was released before shutdown returned"
        );
        let bound = if by_drop {
            Duration::from_secs(5)
        } else {
            deadline
        };
        assert!(took < bound + MARGIN, "by_drop={by_drop}: took {took:?}");
    }
}

#[test]
fn a_batch_raced_by_a_revocation_is_filtered_again_before_delivery() {
    let (t, hung) = hung_instance();
    t.consent().grant("cal", Category::BUSINESS).unwrap();
    t.consent().grant("dee", Category::BUSINESS).unwrap();
    // The audit entries of the grants go out first.
    t.force_flush().unwrap();
    hung.armed.store(true, Ordering::SeqCst);
    for who in ["cal", "dee"] {
        let _s = t.subject(who);
        t.event("checkout.step", Category::BUSINESS).emit();
    }
    hung.wait_inside();
    // The batch holding cal's record is in the exporter's hands: revoking
    // does not wait for it, and makes it stale.
    t.consent().revoke("cal", Category::BUSINESS).unwrap();
    hung.release.store(true, Ordering::SeqCst);
    t.force_flush().unwrap();
    let cal = t.consent().subject_key("cal");
    let dee = t.consent().subject_key("dee");
    let batches = hung.batches.lock().unwrap().clone();
    let stale = batches
        .iter()
        .position(|(current, _)| !current)
        .expect("the batch went stale");
    assert!(batches[stale].1.contains(&Some(cal)));
    let delivered: Vec<_> = batches
        .iter()
        .filter(|(c, _)| *c)
        .flat_map(|(_, s)| s.clone())
        .collect();
    assert!(
        !delivered.contains(&Some(cal)),
        "cal's record went out after revoke returned"
    );
    assert!(delivered.contains(&Some(dee)), "dee's record was delivered");
    assert!(t.drops().get(DropCause::Revoked, Category::BUSINESS) >= 1);
}

#[test]
fn records_captured_before_a_revocation_stay_out_after_a_quick_regrant() {
    let exp = InMemoryExporter::new();
    let t = builder()
        .consent(policy())
        .exporter(exp.clone())
        .build()
        .unwrap();
    t.consent().grant("eve", Category::BUSINESS).unwrap();
    let before_span = {
        let _s = t.subject("eve");
        // A span open across the revocation, and an event still queued.
        let span = t.span("checkout", Category::BUSINESS);
        t.event("checkout.before", Category::BUSINESS).emit();
        span
    };
    t.consent().revoke("eve", Category::BUSINESS).unwrap();
    t.consent().grant("eve", Category::BUSINESS).unwrap();
    {
        let _s = t.subject("eve");
        t.event("checkout.after", Category::BUSINESS).emit();
    }
    drop(before_span);
    t.force_flush().unwrap();
    assert!(exp.events_named("checkout.before").is_empty());
    assert!(
        exp.spans().is_empty(),
        "the span began before the revocation"
    );
    assert_eq!(exp.events_named("checkout.after").len(), 1);
}

#[test]
fn deletion_requests_are_kept_until_delivered() {
    let exp = InMemoryExporter::new();
    let t = builder()
        .consent(policy())
        .exporter(exp.clone())
        .build()
        .unwrap();
    t.consent().grant("fay", Category::BUSINESS).unwrap();
    exp.set_failing(true);
    t.consent().revoke("fay", Category::BUSINESS).unwrap();
    assert!(t.force_flush().is_err(), "the collector is down");
    assert!(t.force_flush().is_err(), "still down");
    exp.set_failing(false);
    t.force_flush().unwrap();
    t.force_flush().unwrap();
    let deletions = exp.events_named(telemetry_core::consent::DELETION_REQUEST_EVENT);
    assert_eq!(deletions.len(), 1, "delivered once, after the outage");
    assert_eq!(deletions[0].subject, Some(t.consent().subject_key("fay")));
}

/// An exporter slower than the recording thread: each batch takes 2 ms.
#[derive(Clone, Default)]
struct Slow {
    records: Arc<AtomicUsize>,
}

impl Exporter for Slow {
    fn export(&mut self, batch: &Batch<'_>) -> Result<(), ExportError> {
        std::thread::sleep(Duration::from_millis(2));
        self.records
            .fetch_add(batch.record_count(), Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn a_burst_waits_for_room_in_categories_that_must_not_lose_events() {
    let burst = |wait: Option<Duration>| {
        let slow = Slow::default();
        let mut b = builder()
            .consent(ConsentPolicy::opt_in().exempt(Category::BUSINESS))
            .queue_capacity(64)
            .buffer_capacity(64)
            .batch_size(16)
            .exporter(slow.clone());
        if let Some(w) = wait {
            b = b.wait_when_full(Category::BUSINESS, w);
        }
        let t = b.build().unwrap();
        for _ in 0..2_000 {
            t.event("shop.order_placed", Category::BUSINESS).emit();
        }
        t.shutdown(Duration::from_secs(10));
        (
            slow.records.load(Ordering::SeqCst),
            t.drops().get(DropCause::QueueFull, Category::BUSINESS),
        )
    };
    // Drop and count (the default): part of the burst is lost (most of it,
    // unless the machine is slow enough to let the exporter keep up).
    let (kept, dropped) = burst(None);
    assert!(dropped > 0, "{kept} kept, {dropped} dropped");
    assert_eq!(kept as u64 + dropped, 2_000);
    // Wait when full: every event of the burst is exported.
    let (kept, dropped) = burst(Some(Duration::from_secs(1)));
    assert_eq!((kept, dropped), (2_000, 0));
}

#[test]
fn a_burst_beyond_the_queue_spills_into_the_buffer_up_to_its_bound() {
    // No export round takes anything during the burst (a long flush
    // interval, batches larger than the burst): what is kept is exactly
    // what the queue and the buffer hold.
    let burst = |buffer: usize| {
        let exp = InMemoryExporter::new();
        let t = builder()
            .consent(ConsentPolicy::opt_in().exempt(Category::BUSINESS))
            .queue_capacity(64)
            .buffer_capacity(buffer)
            .batch_size(100_000)
            .flush_interval(Duration::from_secs(3600))
            .metric_interval(Duration::from_secs(3600))
            .exporter(exp.clone())
            .build()
            .unwrap();
        for i in 0..5_000u64 {
            t.event("shop.order_placed", Category::BUSINESS)
                .public("seq", i)
                .emit();
        }
        let dropped = t.drops().get(DropCause::QueueFull, Category::BUSINESS);
        t.force_flush().unwrap();
        let orders = exp.events_named("shop.order_placed");
        // Oldest first: what the burst spilled into the buffer, then what
        // the queue still held.
        let seq: Vec<u64> = orders
            .iter()
            .map(|o| match o.attributes.iter().find(|a| a.key == "seq") {
                Some(Attribute {
                    value: AttrValue::U64(n),
                    ..
                }) => *n,
                _ => panic!("an order without its seq"),
            })
            .collect();
        assert!(seq.windows(2).all(|w| w[0] < w[1]), "{seq:?}");
        (orders.len() as u64, dropped)
    };
    assert_eq!(
        burst(10_000),
        (5_000, 0),
        "the buffer holds the whole burst"
    );
    assert_eq!(
        burst(1_000),
        (1_064, 5_000 - 1_064),
        "queue + buffer, the rest counted"
    );
}

#[test]
fn a_revocation_purges_records_spilled_into_the_buffer() {
    let exp = InMemoryExporter::new();
    let t = builder()
        .consent(policy())
        .queue_capacity(16)
        .batch_size(100_000)
        .flush_interval(Duration::from_secs(3600))
        .metric_interval(Duration::from_secs(3600))
        .exporter(exp.clone())
        .build()
        .unwrap();
    t.consent().grant("gus", Category::BUSINESS).unwrap();
    t.consent().grant("ida", Category::BUSINESS).unwrap();
    for i in 0..1_000 {
        let _s = t.subject(if i % 2 == 0 { "gus" } else { "ida" });
        t.event("shop.order_placed", Category::BUSINESS).emit();
    }
    assert_eq!(t.drops().get(DropCause::QueueFull, Category::BUSINESS), 0);
    t.consent().revoke("gus", Category::BUSINESS).unwrap();
    t.force_flush().unwrap();
    let gus = t.consent().subject_key("gus");
    let orders = exp.events_named("shop.order_placed");
    assert_eq!(orders.len(), 500, "ida's records only");
    assert!(orders.iter().all(|o| o.subject != Some(gus)));
    assert_eq!(t.drops().get(DropCause::Revoked, Category::BUSINESS), 500);
}

#[test]
fn waiting_when_full_is_bounded() {
    let e = builder()
        .wait_when_full(Category::BUSINESS, Duration::from_secs(6))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("longer than 5 s"), "{e}");
    assert!(e.to_string().contains("`business`"), "{e}");
    // A stalled exporter: the caller waits at most its bound per record,
    // then the record is dropped and counted.
    let stalled = Stalled::default();
    let t = builder()
        .consent(ConsentPolicy::opt_in().exempt(Category::BUSINESS))
        .queue_capacity(4)
        .buffer_capacity(4)
        .batch_size(2)
        .wait_when_full(Category::BUSINESS, Duration::from_millis(20))
        .exporter(stalled.clone())
        .build()
        .unwrap();
    let start = Instant::now();
    for _ in 0..20 {
        t.event("shop.order_placed", Category::BUSINESS).emit();
    }
    let took = start.elapsed();
    // It gave up: the records that found no room were dropped and counted
    // (a wait without bound would never get here; the check below only
    // turns such a hang into a failure, it measures nothing).
    assert!(t.drops().get(DropCause::QueueFull, Category::BUSINESS) > 0);
    assert!(took < Duration::from_secs(60), "{took:?}");
    stalled.release.store(true, Ordering::SeqCst);
    t.shutdown(Duration::from_secs(5));
}

/// An exporter whose collector is down for records (spans, logs and the
/// control records) while `down` is set; batches of metrics alone always
/// go through, so every record it loses is one the pipeline gave up on.
#[derive(Clone, Default)]
struct Outage {
    down: Arc<AtomicBool>,
    /// The subjects of the deletion requests delivered, in order.
    deletions: Arc<Mutex<Vec<Option<SubjectKey>>>>,
}

impl Exporter for Outage {
    fn export(&mut self, batch: &Batch<'_>) -> Result<(), ExportError> {
        if batch.spans.is_empty() && batch.logs.is_empty() {
            return Ok(());
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(ExportError::new(
                ExportErrorKind::Unavailable,
                "collector down",
            ));
        }
        self.deletions.lock().unwrap().extend(
            batch
                .logs
                .iter()
                .filter(|l| l.event_name == telemetry_core::consent::DELETION_REQUEST_EVENT)
                .map(|l| l.subject),
        );
        Ok(())
    }
}

#[test]
fn undelivered_deletion_requests_beyond_the_bound_drop_the_oldest_and_count_them() {
    // Per exporter the pipeline keeps at most this many control records
    // (audit entries and deletion requests) across failed exports.
    const BOUND: usize = 65_536;
    // Each revocation of a new subject queues two: its audit entry, then
    // its deletion request.
    const SUBJECTS: usize = 40_000;
    let outage = Outage::default();
    let t = builder()
        .consent(policy())
        .exporter(outage.clone())
        .build()
        .unwrap();
    outage.down.store(true, Ordering::SeqCst);
    let start = Instant::now();
    for i in 0..SUBJECTS {
        t.consent()
            .revoke(&format!("user-{i}"), Category::BUSINESS)
            .unwrap();
        // A failed round now and then moves what is queued to what the
        // exporter owes, where the bound under test applies (the queue
        // for control records has a bound of its own).
        if i % 10_000 == 9_999 {
            assert!(t.force_flush().is_err(), "the collector is down");
        }
    }
    assert!(t.force_flush().is_err(), "still down");
    let revoking = start.elapsed();
    let excess = 2 * SUBJECTS - BOUND;
    assert_eq!(
        t.drops()
            .get(DropCause::ExporterFailure, Category::TELEMETRY),
        excess as u64,
        "the overflow is dropped and counted as exporter_failure"
    );
    assert_eq!(t.drops().get(DropCause::QueueFull, Category::TELEMETRY), 0);
    // The collector comes back: the newest requests are delivered, once.
    outage.down.store(false, Ordering::SeqCst);
    t.force_flush().unwrap();
    t.force_flush().unwrap();
    let delivered = outage.deletions.lock().unwrap().clone();
    // The oldest pairs went first: the first `excess / 2` subjects lost
    // their deletion requests, every later one is delivered, in order.
    let expected: Vec<_> = (excess / 2..SUBJECTS)
        .map(|i| Some(t.consent().subject_key(&format!("user-{i}"))))
        .collect();
    assert_eq!(delivered.len(), expected.len(), "took {revoking:?}");
    assert!(delivered == expected, "not the newest, in order, once each");
    assert_eq!(
        t.drops()
            .get(DropCause::ExporterFailure, Category::TELEMETRY),
        excess as u64,
        "nothing more was lost once the collector came back"
    );
}
