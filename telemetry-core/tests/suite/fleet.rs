//! A shared consent store, with in-memory replicas (telemetry instances in
//! one process sharing `testing::SharedMemoryStore`): changes reach every
//! replica and purge their buffers, audit and deletion requests go out once
//! per change, unknown subjects and stale views fail closed (counted as
//! `unconfirmed`), revocations the store cannot take are retried, the cache
//! is bounded. The same against a real PostgreSQL is in
//! `telemetry-consent-postgres`'s tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use crate::common::*;
use telemetry_core::consent::*;
use telemetry_core::testing::{InMemoryExporter, SharedMemoryStore};
use telemetry_core::*;

/// One replica: its telemetry, exporter and store handle.
struct Replica {
    t: Telemetry,
    exp: InMemoryExporter,
    store: SharedMemoryStore,
}

fn replica(store: SharedMemoryStore) -> Replica {
    replica_with(store, |b| b)
}

fn replica_with(
    store: SharedMemoryStore,
    configure: impl FnOnce(TelemetryBuilder) -> TelemetryBuilder,
) -> Replica {
    let exp = InMemoryExporter::new();
    let t = configure(
        builder()
            .consent(policy())
            .exporter(exp.clone())
            .shared_consent_store(store.clone())
            .max_staleness(Duration::from_millis(400)),
    )
    .build()
    .unwrap();
    Replica { t, exp, store }
}

/// Waits until `f` holds (at most 5 s).
fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn business(r: &Replica, subject: &str) {
    let _s = r.t.subject(subject);
    r.t.event("shop.order_placed", Category::BUSINESS).emit();
}

/// Emits a business event for `subject` once its choices are loaded.
fn business_loaded(r: &Replica, subject: &str) {
    r.t.consent()
        .prefetch_within(subject, Duration::from_secs(5))
        .unwrap();
    business(r, subject);
}

#[test]
fn a_grant_on_one_replica_is_in_force_on_the_others() {
    let a = replica(SharedMemoryStore::new());
    let b = replica(a.store.replica());
    business_loaded(&b, "alice");
    a.t.consent().grant("alice", Category::BUSINESS).unwrap();
    eventually("b applies the grant", || {
        b.t.consent().allows("alice", Category::BUSINESS)
    });
    business(&b, "alice");
    b.t.force_flush().unwrap();
    assert_eq!(b.exp.events_named("shop.order_placed").len(), 1);
    assert_eq!(b.t.drops().get(DropCause::Consent, Category::BUSINESS), 1);
}

#[test]
fn a_revocation_on_one_replica_purges_what_the_others_buffer() {
    let a = replica(SharedMemoryStore::new());
    let b = replica(a.store.replica());
    let receipt = a.t.consent().grant("alice", Category::BUSINESS).unwrap();
    a.t.consent()
        .wait_applied(&receipt, Duration::from_secs(5))
        .unwrap();
    // Buffered on B (the flush interval is an hour).
    business_loaded(&b, "alice");
    business(&b, "alice");
    assert!(b.t.queued() + 1 > 1);
    let receipt = a.t.consent().revoke("alice", Category::BUSINESS).unwrap();
    assert!(receipt.change().is_some());
    let ack =
        a.t.consent()
            .wait_applied(&receipt, Duration::from_secs(5))
            .unwrap();
    assert_eq!(ack.replicas, 2);
    assert!(!b.t.consent().allows("alice", Category::BUSINESS));
    business(&b, "alice");
    b.t.force_flush().unwrap();
    assert!(
        b.exp.events_named("shop.order_placed").is_empty(),
        "B exported records of a revoked subject"
    );
    assert_eq!(b.t.drops().get(DropCause::Revoked, Category::BUSINESS), 2);
    assert_eq!(b.t.drops().get(DropCause::Consent, Category::BUSINESS), 1);
}

#[test]
fn audit_entries_and_deletion_requests_go_out_once_per_change() {
    let a = replica(SharedMemoryStore::new());
    let b = replica(a.store.replica());
    let key = a.t.consent().subject_key("carol");
    let r =
        a.t.consent()
            .grant("carol", [Category::BUSINESS, Category::INTERACTION])
            .unwrap();
    a.t.consent()
        .wait_applied(&r, Duration::from_secs(5))
        .unwrap();
    let r = a.t.consent().revoke("carol", Category::BUSINESS).unwrap();
    a.t.consent()
        .wait_applied(&r, Duration::from_secs(5))
        .unwrap();
    a.t.force_flush().unwrap();
    b.t.force_flush().unwrap();
    assert_eq!(a.exp.events_named(CONSENT_CHANGED_EVENT).len(), 3);
    assert_eq!(a.exp.events_named(DELETION_REQUEST_EVENT).len(), 1);
    assert!(b.exp.events_named(CONSENT_CHANGED_EVENT).is_empty());
    assert!(b.exp.events_named(DELETION_REQUEST_EVENT).is_empty());
    assert_eq!(a.t.consent().change_counts().len(), 2);
    assert!(b.t.consent().change_counts().is_empty());
    // The store's audit: one row per category whose recorded choice changed.
    let rows = a.store.audit();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows.iter().all(|r| r.subject == key && r.source == "user"));
    assert_eq!(
        (rows[2].category, rows[2].old, rows[2].new),
        (Category::BUSINESS.bit(), "granted", "denied")
    );
    // The deletion request went through the outbox and was delivered.
    let outbox = a.store.outbox();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].0.categories, vec!["business".to_owned()]);
    assert!(outbox[0].1, "the outbox entry was not reported delivered");
}

#[test]
fn a_deletion_request_left_behind_is_sent_by_another_replica() {
    let a = replica(SharedMemoryStore::new());
    a.exp.set_failing(true);
    a.t.consent().grant("dan", Category::BUSINESS).unwrap();
    a.t.consent().revoke("dan", Category::BUSINESS).unwrap();
    let _ = a.t.force_flush_within(Duration::from_millis(200));
    a.t.shutdown(Duration::from_millis(200));
    assert!(!a.store.outbox()[0].1);
    drop(a.t);
    // A replica that starts later claims it and sends it.
    let c = replica(a.store.replica());
    eventually("c delivers the deletion request", || {
        let _ = c.t.force_flush_within(Duration::from_millis(100));
        c.store.outbox()[0].1
    });
    let sent = c.exp.events_named(DELETION_REQUEST_EVENT);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].subject, Some(c.t.consent().subject_key("dan")));
}

#[test]
fn a_subject_whose_choices_are_loading_gets_exempt_categories_only() {
    let a = replica(SharedMemoryStore::new());
    a.t.consent().grant("erin", Category::BUSINESS).unwrap();
    let b = replica(a.store.replica());
    b.store.hold_loads(true);
    {
        let _s = b.t.subject("erin");
        b.t.event("shop.order_placed", Category::BUSINESS).emit();
        b.t.event("perf.tick", Category::PERFORMANCE).emit();
    }
    assert_eq!(
        b.t.drops().get(DropCause::Unconfirmed, Category::BUSINESS),
        1
    );
    b.store.hold_loads(false);
    eventually("b loads erin", || {
        b.t.consent().allows("erin", Category::BUSINESS)
    });
    business(&b, "erin");
    b.t.force_flush().unwrap();
    assert_eq!(b.exp.events_named("shop.order_placed").len(), 1);
    let perf = b.exp.events_named("perf.tick");
    assert_eq!(perf.len(), 1);
    assert_eq!(perf[0].subject, None, "an unconfirmed subject is anonymous");
}

#[test]
fn prefetch_loads_before_the_first_record() {
    let a = replica(SharedMemoryStore::new());
    a.t.consent().grant("fay", Category::BUSINESS).unwrap();
    let b = replica(a.store.replica());
    b.store.hold_loads(true);
    // Not known yet: prefetch says so (and asks for a load) without
    // blocking, so a request handler knows when to wait.
    assert!(!b.t.consent().prefetch("fay"));
    assert!(!b.t.consent().prefetch("fay"));
    b.store.hold_loads(false);
    b.t.consent()
        .prefetch_within("fay", Duration::from_secs(1))
        .unwrap();
    assert!(b.t.consent().prefetch("fay"), "loaded, but not known");
    // A local store holds every subject.
    let local = builder().consent(policy()).build().unwrap();
    assert!(local.consent().prefetch("fay"));
    business(&b, "fay");
    b.t.force_flush().unwrap();
    assert_eq!(b.exp.events_named("shop.order_placed").len(), 1);
    assert_eq!(
        b.t.consent().state("fay", Category::BUSINESS),
        ConsentState::Granted
    );
}

#[test]
fn a_stale_view_refuses_required_categories_and_drops_their_buffered_records() {
    let a = replica(SharedMemoryStore::new());
    a.t.consent().grant("gus", Category::BUSINESS).unwrap();
    business(&a, "gus");
    a.t.event("perf.tick", Category::PERFORMANCE).emit();
    assert!(!a.t.consent().freshness().stale);
    a.store.set_connected(false);
    eventually("a's view turns stale", || a.t.consent().freshness().stale);
    // Within max_staleness of the last confirmation (400 ms here).
    let age = a.t.consent().freshness().age.unwrap();
    assert!(age <= Duration::from_millis(500), "{age:?}");
    business(&a, "gus");
    {
        let _s = a.t.subject("gus");
        a.t.event("perf.tick", Category::PERFORMANCE).emit();
    }
    a.t.force_flush().unwrap();
    assert!(a.exp.events_named("shop.order_placed").is_empty());
    assert_eq!(a.exp.events_named("perf.tick").len(), 2, "exempt flows on");
    assert_eq!(
        a.t.drops().get(DropCause::Unconfirmed, Category::BUSINESS),
        2,
        "one buffered, one refused"
    );
    let stale = a.exp.last_metric("telemetry.consent.stale").unwrap();
    assert!(format!("{stale:?}").contains("I64(1)"), "{stale:?}");
    // Back: fresh again by itself.
    a.store.set_connected(true);
    eventually("a's view is fresh again", || {
        !a.t.consent().freshness().stale
    });
    business(&a, "gus");
    a.t.force_flush().unwrap();
    assert_eq!(a.exp.events_named("shop.order_placed").len(), 1);
}

/// `max_staleness` defaults to 2 s: a view cut off from its store turns
/// stale once it is about that old (the watchdog declares it one tick,
/// 200 ms, early), not sooner.
#[test]
fn a_view_turns_stale_after_the_default_max_staleness() {
    let store = SharedMemoryStore::new();
    let exp = InMemoryExporter::new();
    let t = builder()
        .consent(policy())
        .exporter(exp)
        .shared_consent_store(store.clone())
        .build()
        .unwrap();
    eventually("the view is fresh", || !t.consent().freshness().stale);
    store.set_connected(false);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !t.consent().freshness().stale {
        assert!(Instant::now() < deadline, "the view never turned stale");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The age is counted from the last confirmation, so when the test
    // thread runs does not matter for the lower bound.
    let age = t.consent().freshness().age.unwrap();
    assert!(
        age >= Duration::from_millis(1700),
        "stale after {age:?}: the default is under 2 s"
    );
    assert!(
        age <= Duration::from_millis(3500),
        "stale only after {age:?}: the default is over 2 s"
    );
}

#[test]
fn a_revocation_the_store_cannot_take_is_in_force_and_committed_later() {
    let a = replica(SharedMemoryStore::new());
    let b = replica(a.store.replica());
    let r = a.t.consent().grant("hal", Category::BUSINESS).unwrap();
    a.t.consent()
        .wait_applied(&r, Duration::from_secs(5))
        .unwrap();
    a.store.set_connected(false);
    let e = a.t.consent().revoke("hal", Category::BUSINESS).unwrap_err();
    assert!(e.to_string().contains("will be committed"), "{e}");
    assert!(!a.t.consent().allows("hal", Category::BUSINESS));
    a.store.set_connected(true);
    let key = a.t.consent().subject_key("hal");
    eventually("the store takes the revocation", || {
        a.store
            .stored(key)
            .choices
            .denied
            .contains(Category::BUSINESS)
    });
    eventually("b applies it", || {
        !b.t.consent().allows("hal", Category::BUSINESS)
    });
    assert!(!a.t.consent().allows("hal", Category::BUSINESS));
}

#[test]
fn sync_jobs_change_consent_by_subject_key() {
    let a = replica(SharedMemoryStore::new());
    let b = replica(a.store.replica());
    let key = a.t.consent().subject_key("ivy");
    let r =
        a.t.consent()
            .grant_key(key, Category::BUSINESS, ConsentSource::Import)
            .unwrap();
    a.t.consent()
        .wait_applied(&r, Duration::from_secs(5))
        .unwrap();
    business_loaded(&b, "ivy");
    let r =
        a.t.consent()
            .revoke_key(key, Category::BUSINESS, ConsentSource::Import)
            .unwrap();
    a.t.consent()
        .wait_applied(&r, Duration::from_secs(5))
        .unwrap();
    business(&b, "ivy");
    b.t.force_flush().unwrap();
    assert!(b.exp.events_named("shop.order_placed").is_empty());
    assert!(a.store.audit().iter().all(|r| r.source == "import"));
}

#[test]
fn the_cache_is_bounded_and_an_evicted_subject_is_loaded_again() {
    let a = replica(SharedMemoryStore::new());
    // Records stay buffered (the flush interval is an hour), so the cache
    // lets go only at twice its size, dropping those subjects' records.
    // A view that turns stale under a loaded machine would drop records for
    // that reason too: this test is about the cache, so staleness is ruled
    // out.
    let b = replica_with(a.store.replica(), |b| {
        b.consent_cache(16).max_staleness(Duration::from_secs(60))
    });
    for i in 0..40 {
        a.t.consent()
            .grant(&format!("user-{i}"), Category::BUSINESS)
            .unwrap();
    }
    for i in 0..40 {
        business_loaded(&b, &format!("user-{i}"));
        assert!(b.t.consent().subjects_in_memory() <= 32);
    }
    // user-0 was let go; seen again, it is loaded again with its grant.
    business_loaded(&b, "user-0");
    b.t.force_flush().unwrap();
    let exported = b.exp.events_named("shop.order_placed");
    // Every record is exported or counted, and every subject granted
    // business data: a record dropped as a subject churns through the cache
    // (let go with its records, or refused while its choices were arriving)
    // is `unconfirmed`, never `consent`.
    let drops = b.t.drops();
    let dropped = drops.get(DropCause::Unconfirmed, Category::BUSINESS);
    assert_eq!(
        drops.get(DropCause::Consent, Category::BUSINESS),
        0,
        "{drops:?}"
    );
    assert_eq!(exported.len() as u64 + dropped, 41, "{drops:?}");
    assert!(dropped > 0 && exported.len() >= 16, "{dropped}");
    let user0 = b.t.consent().subject_key("user-0");
    assert!(exported.iter().any(|e| e.subject == Some(user0)));
}

#[test]
fn an_idle_subject_leaves_a_full_cache_after_its_records_are_out() {
    let a = replica(SharedMemoryStore::new());
    let b = replica_with(a.store.replica(), |b| {
        b.consent_cache(8)
            .flush_interval(Duration::from_millis(20))
            .export_timeout(Duration::from_millis(100))
    });
    for i in 0..24 {
        let subject = format!("user-{i}");
        a.t.consent().grant(&subject, Category::BUSINESS).unwrap();
        business_loaded(&b, &subject);
        // Longer than the flush interval plus the export timeout.
        std::thread::sleep(Duration::from_millis(130));
    }
    b.t.force_flush().unwrap();
    assert!(b.t.consent().subjects_in_memory() <= 8);
    assert_eq!(b.exp.events_named("shop.order_placed").len(), 24);
    assert_eq!(
        b.t.drops().get(DropCause::Unconfirmed, Category::BUSINESS),
        0
    );
}

#[test]
fn a_store_that_cannot_start_fails_the_build() {
    let store = SharedMemoryStore::new();
    store.set_connected(false);
    let e = builder()
        .consent(policy())
        .shared_consent_store(store)
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ConfigErrorKind::ConsentStore);
    assert!(e.to_string().contains("did not start"), "{e}");
}

#[test]
fn shared_store_settings_are_checked() {
    let e = builder()
        .consent_store(MemoryConsentStore::new())
        .shared_consent_store(SharedMemoryStore::new())
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("not both"), "{e}");
    let e = builder()
        .shared_consent_store(SharedMemoryStore::new())
        .max_staleness(Duration::from_millis(5))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("at least 100 ms"), "{e}");
    let e = builder()
        .shared_consent_store(SharedMemoryStore::new())
        .consent_cache(0)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("consent_cache is 0"), "{e}");
}
