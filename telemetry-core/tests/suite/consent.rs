//! Consent: opt-in and opt-out, immediate effect, revocation with purge and
//! deletion requests, stores, audit, counts, DO_NOT_TRACK and OTEL_SDK_DISABLED.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use crate::common::*;
use telemetry_core::consent::*;
use telemetry_core::export::*;
use telemetry_core::testing::InMemoryExporter;
use telemetry_core::*;

#[test]
fn opt_in_drops_until_granted_then_keeps() {
    let (t, exp) = setup();
    {
        let _s = t.subject("alice");
        t.emit(&purchase("alice@example.com"));
    }
    t.consent().grant("alice", Category::BUSINESS).unwrap();
    {
        let _s = t.subject("alice");
        t.emit(&purchase("alice@example.com"));
    }
    t.force_flush().unwrap();
    let got = exp.events_named("checkout.purchase_completed");
    assert_eq!(got.len(), 1, "only the event after the grant");
    assert_eq!(got[0].subject, Some(t.consent().subject_key("alice")));
    assert_eq!(t.drops().get(DropCause::Consent, Category::BUSINESS), 1);
}

#[test]
fn no_subject_scope_fails_closed_for_opt_in_categories() {
    let (t, exp) = setup();
    t.emit(&purchase("x@example.com"));
    t.event("perf.tick", Category::PERFORMANCE).emit();
    t.force_flush().unwrap();
    assert!(exp.events_named("checkout.purchase_completed").is_empty());
    assert_eq!(
        exp.events_named("perf.tick").len(),
        1,
        "exempt categories need no subject"
    );
}

#[test]
fn opt_out_keeps_until_revoked() {
    let exp = InMemoryExporter::new();
    let t = builder()
        .consent(ConsentPolicy::opt_out().require(Category::INTERACTION))
        .exporter(exp.clone())
        .build()
        .unwrap();
    let _s = t.subject("bob");
    t.event("ui.click", Category::INTERACTION).emit();
    t.consent().revoke("bob", Category::INTERACTION).unwrap();
    t.event("ui.click", Category::INTERACTION).emit();
    t.force_flush().unwrap();
    assert!(
        exp.events_named("ui.click").is_empty(),
        "the first click was purged by the revocation"
    );
    assert_eq!(exp.events_named(consent::DELETION_REQUEST_EVENT).len(), 1);
}

#[test]
fn explicit_subject_field_decides_consent() {
    let (t, exp) = setup();
    t.consent().grant("carol", Category::BUSINESS).unwrap();
    // No scope open: the event's own subject field decides.
    t.emit(&Purchase {
        customer: Some("carol"),
        ..purchase("c@example.com")
    });
    t.emit(&Purchase {
        customer: Some("dave"),
        ..purchase("d@example.com")
    });
    t.force_flush().unwrap();
    let got = exp.events_named("checkout.purchase_completed");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].subject, Some(t.consent().subject_key("carol")));
}

#[test]
fn grant_and_revoke_take_effect_for_the_next_record_on_another_thread() {
    let (t, exp) = setup();
    let t2 = t.clone();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<&'static str>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let worker = std::thread::spawn(move || {
        let _s = t2.subject("erin");
        for name in go_rx {
            t2.event(name, Category::BUSINESS).emit();
            done_tx.send(()).unwrap();
        }
    });
    let step = |name| {
        go_tx.send(name).unwrap();
        done_rx.recv().unwrap();
    };
    step("before_grant");
    t.consent().grant("erin", Category::BUSINESS).unwrap();
    step("after_grant");
    t.consent().revoke("erin", Category::BUSINESS).unwrap();
    step("after_revoke");
    drop(go_tx);
    worker.join().unwrap();
    t.force_flush().unwrap();
    assert!(exp.events_named("before_grant").is_empty());
    assert!(exp.events_named("after_revoke").is_empty());
    // "after_grant" was buffered and then purged by the revocation.
    assert!(exp.events_named("after_grant").is_empty());
    assert_eq!(t.drops().get(DropCause::Revoked, Category::BUSINESS), 1);
    assert_eq!(t.drops().get(DropCause::Consent, Category::BUSINESS), 2);
}

#[test]
fn revocation_purges_buffered_records_and_exports_a_deletion_request() {
    let (t, exp) = setup();
    t.consent()
        .grant("frank", [Category::BUSINESS, Category::INTERACTION])
        .unwrap();
    t.consent().grant("gina", Category::BUSINESS).unwrap();
    for who in ["frank", "gina"] {
        let _s = t.subject(who);
        t.emit(&purchase("p@example.com"));
        t.event("ui.view", Category::INTERACTION).emit();
        t.event("perf.op", Category::PERFORMANCE).emit();
    }
    t.consent().revoke("frank", Category::BUSINESS).unwrap();
    t.force_flush().unwrap();
    let frank = t.consent().subject_key("frank");
    let gina = t.consent().subject_key("gina");
    let purchases = exp.events_named("checkout.purchase_completed");
    assert_eq!(
        purchases.iter().map(|l| l.subject).collect::<Vec<_>>(),
        vec![Some(gina)]
    );
    // Other categories of the same subject are untouched.
    assert_eq!(
        exp.events_named("ui.view")
            .iter()
            .filter(|l| l.subject == Some(frank))
            .count(),
        1
    );
    assert_eq!(exp.events_named("perf.op").len(), 2);
    let deletions = exp.events_named(consent::DELETION_REQUEST_EVENT);
    assert_eq!(deletions.len(), 1);
    let d = &deletions[0];
    assert_eq!(d.subject, Some(frank));
    assert_eq!(d.category, Category::TELEMETRY);
    assert_eq!(
        attr(d, "telemetry.deletion.categories"),
        Some(&AttrValue::from("business"))
    );
    assert_eq!(
        attr(d, "telemetry.deletion.reason"),
        Some(&AttrValue::from("consent_revoked"))
    );
    assert_eq!(t.drops().get(DropCause::Revoked, Category::BUSINESS), 1);
}

#[test]
fn keep_on_revoke_exports_what_was_captured_while_consented() {
    let exp = InMemoryExporter::new();
    let t = builder()
        .consent(policy().keep_on_revoke(Category::BUSINESS))
        .exporter(exp.clone())
        .build()
        .unwrap();
    t.consent().grant("hana", Category::BUSINESS).unwrap();
    {
        let _s = t.subject("hana");
        t.emit(&purchase("h@example.com"));
        t.consent().revoke("hana", Category::BUSINESS).unwrap();
        t.emit(&purchase("h@example.com"));
    }
    t.force_flush().unwrap();
    assert_eq!(
        exp.events_named("checkout.purchase_completed").len(),
        1,
        "kept the one from before"
    );
    assert!(
        exp.events_named(consent::DELETION_REQUEST_EVENT).is_empty(),
        "nothing to delete"
    );
    assert_eq!(t.drops().get(DropCause::Consent, Category::BUSINESS), 1);
}

#[test]
fn audit_trail_and_identifier_free_counts() {
    let (t, exp) = setup();
    let c = t.consent();
    c.grant("ivan", Category::BUSINESS).unwrap();
    c.grant("ivan", Category::BUSINESS).unwrap(); // no change: not audited twice
    c.grant_with(
        "judy",
        [Category::BUSINESS, Category::INTERACTION],
        ConsentSource::Operator,
    )
    .unwrap();
    c.revoke("ivan", Category::BUSINESS).unwrap();
    let trail = c.audit_trail();
    assert_eq!(trail.len(), 4);
    assert_eq!(trail[0].subject, c.subject_key("ivan"));
    assert_eq!(
        trail[0].old,
        ConsentState::NoAnswer {
            default_granted: false
        }
    );
    assert_eq!(trail[0].new, ConsentState::Granted);
    assert_eq!(trail[1].source, ConsentSource::Operator);
    assert_eq!(trail[3].new, ConsentState::Denied);
    assert_eq!(trail[3].policy_version, 1);
    let counts = c.change_counts();
    assert!(counts.contains(&(Category::BUSINESS, 2, 1)), "{counts:?}");
    assert!(
        counts.contains(&(Category::INTERACTION, 1, 0)),
        "{counts:?}"
    );

    // Coverage: three subjects seen, one of them consenting to business.
    for who in ["ivan", "judy", "kim"] {
        let _s = t.subject(who);
    }
    let cov = c.coverage();
    assert_eq!(cov.subjects_seen, 3);
    assert!(
        (cov.ratio(Category::BUSINESS) - 1.0 / 3.0).abs() < 1e-9,
        "{cov:?}"
    );
    assert!(
        (cov.ratio(Category::INTERACTION) - 1.0 / 3.0).abs() < 1e-9,
        "{cov:?}"
    );

    t.force_flush().unwrap();
    assert_eq!(exp.events_named(consent::CONSENT_CHANGED_EVENT).len(), 4);
    assert_eq!(
        exp.sum_value(
            "telemetry.consent.grants",
            &[("telemetry.category", "business")]
        ),
        Some(2)
    );
    assert_eq!(
        exp.sum_value(
            "telemetry.consent.revocations",
            &[("telemetry.category", "business")]
        ),
        Some(1)
    );
    // Exported as counts that add up across replicas.
    let seen = exp
        .last_metric("telemetry.consent.subjects_seen")
        .expect("subjects seen exported");
    let json = serde_json::to_string(&seen).unwrap();
    assert!(json.contains("\"I64\":3"), "{json}");
    let allowing = exp
        .last_metric("telemetry.consent.subjects_allowing")
        .expect("subjects allowing exported");
    let json = serde_json::to_string(&allowing).unwrap();
    assert!(json.contains("business"), "{json}");
    // Counts carry no subject.
    let all = exp.exported_json();
    for line in all
        .lines()
        .filter(|l| l.contains("telemetry.consent.grants"))
    {
        assert!(!line.contains(&c.subject_key("ivan").to_hex()), "{line}");
    }
}

#[test]
fn raw_subject_ids_never_leave_the_process() {
    let (t, exp) = setup();
    let raw = "customer-8f3e-raw-id@example.com";
    t.consent()
        .grant(raw, [Category::BUSINESS, Category::INTERACTION])
        .unwrap();
    {
        let _s = t.subject(raw);
        t.emit(&purchase("e@example.com"));
        t.in_span("op", Category::PERFORMANCE, |_| {});
    }
    t.consent().revoke(raw, Category::INTERACTION).unwrap();
    t.force_flush().unwrap();
    let all = exp.exported_json();
    assert!(all.contains(&t.consent().subject_key(raw).to_hex()));
    assert!(!all.contains(raw));
    assert!(!format!("{:?}", exp.logs()).contains(raw));
    assert!(!format!("{:?}", t.consent().audit_trail()).contains(raw));
}

#[test]
fn do_not_track_denies_required_categories_unless_code_overrides() {
    for (honor, kept) in [(true, 0), (false, 1)] {
        let exp = InMemoryExporter::new();
        let t = builder()
            .env(Environment::from_pairs([("DO_NOT_TRACK", "1")]))
            .honor_do_not_track(honor)
            .consent(policy())
            .exporter(exp.clone())
            .build()
            .unwrap();
        t.consent().grant("lia", Category::BUSINESS).unwrap();
        let _s = t.subject("lia");
        t.emit(&purchase("l@example.com"));
        t.event("perf.op", Category::PERFORMANCE).emit();
        t.force_flush().unwrap();
        assert_eq!(
            exp.events_named("checkout.purchase_completed").len(),
            kept,
            "honor={honor}"
        );
        assert_eq!(
            exp.events_named("perf.op").len(),
            1,
            "exempt categories are unaffected"
        );
        assert_eq!(t.consent().do_not_track(), honor);
        if honor {
            assert_eq!(
                t.consent().state("lia", Category::BUSINESS),
                ConsentState::Denied
            );
        }
    }
}

#[test]
fn otel_sdk_disabled_turns_off_all_export() {
    for (value, honor, exported) in [
        ("true", true, false),
        ("TRUE", true, false),
        ("false", true, true),
        ("true", false, true),
    ] {
        let exp = InMemoryExporter::new();
        let t = builder()
            .env(Environment::from_pairs([("OTEL_SDK_DISABLED", value)]))
            .honor_sdk_disabled(honor)
            .consent(policy())
            .exporter(exp.clone())
            .build()
            .unwrap();
        t.event("perf.op", Category::PERFORMANCE).emit();
        t.in_span("op", Category::PERFORMANCE, |_| {});
        let report = t.shutdown(Duration::from_secs(5));
        assert!(report.is_complete());
        assert_eq!(
            !exp.logs().is_empty(),
            exported,
            "OTEL_SDK_DISABLED={value} honor={honor}"
        );
        assert_eq!(exp.batches() > 0, exported);
        if !exported {
            assert_eq!(t.drops().by_cause(DropCause::Disabled), 2);
        }
    }
}

/// An instance with the test policy, its choices kept in the consent file
/// at `path`.
fn on_file(path: &std::path::Path) -> TelemetryBuilder {
    builder()
        .consent(policy())
        .consent_store(FileConsentStore::open(path).expect("the consent file opens"))
}

#[test]
fn file_store_survives_restart_and_corruption_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("consent.json");
    {
        let t = on_file(&path).build().unwrap();
        t.consent().grant("mia", Category::BUSINESS).unwrap();
        t.consent().revoke("nils", Category::INTERACTION).unwrap();
        t.shutdown(Duration::from_secs(5));
    }
    let exp = InMemoryExporter::new();
    let t = on_file(&path).exporter(exp.clone()).build().unwrap();
    assert_eq!(
        t.consent().state("mia", Category::BUSINESS),
        ConsentState::Granted
    );
    assert_eq!(
        t.consent().state("nils", Category::INTERACTION),
        ConsentState::Denied
    );
    {
        let _s = t.subject("mia");
        t.emit(&purchase("m@example.com"));
    }
    t.force_flush().unwrap();
    assert_eq!(exp.events_named("checkout.purchase_completed").len(), 1);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("mia"), "the store holds pseudonyms only");
    // The file serves one process: the instance holds it until it is gone.
    let err = FileConsentStore::open(&path).unwrap_err();
    assert!(err.to_string().contains("in use"), "{err}");
    drop(t);

    std::fs::write(&path, "{ not json").unwrap();
    let err = FileConsentStore::open(&path).unwrap_err();
    assert!(err.to_string().contains("is corrupt"), "{err}");
}

/// What an instance holds outside memory (here a consent file's lock) is
/// let go when the service's last handle goes, even after spans were
/// recorded on threads that are still running: a thread keeps its last
/// span's open state for the next span, but not the instance. A rebuilt
/// instance (a restart in the same process, a reload) opens the same file.
#[test]
fn a_rebuilt_instance_opens_the_file_its_predecessor_recorded_under() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("consent.json");
    let t = on_file(&path).build().unwrap();
    t.consent().grant("mia", Category::BUSINESS).unwrap();
    {
        let _s = t.subject("mia");
        let outer = t.span("outer", Category::BUSINESS);
        assert!(outer.is_recording());
        drop(t.span("inner", Category::BUSINESS));
        drop(outer);
        t.emit(&purchase("m@example.com"));
    }
    // A thread that recorded a span and stays alive, as a pool's would.
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let (recorded_tx, recorded_rx) = std::sync::mpsc::channel::<()>();
    let pooled = {
        let t = t.clone();
        std::thread::spawn(move || {
            assert!(t.span("pooled", Category::PERFORMANCE).is_recording());
            drop(t);
            recorded_tx.send(()).unwrap();
            done_rx.recv().unwrap();
        })
    };
    recorded_rx.recv().unwrap();
    drop(t);
    // The lock was let go: the file opens again.
    let again = on_file(&path).build().unwrap();
    assert_eq!(
        again.consent().state("mia", Category::BUSINESS),
        ConsentState::Granted
    );
    done_tx.send(()).unwrap();
    pooled.join().unwrap();
}

#[test]
fn persistent_store_needs_a_stable_key() {
    let dir = tempfile::tempdir().unwrap();
    let err = Telemetry::builder()
        .service("s", "1")
        .env(Environment::from_pairs::<&str, &str>([]))
        .consent_store(FileConsentStore::open(dir.path().join("c.json")).unwrap())
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ConfigErrorKind::MissingHashKey);
    assert!(err.to_string().contains(".subject_key(key)"), "{err}");
}

/// A store whose writes fail: a grant must not take effect, a revocation must.
struct BrokenStore;
impl ConsentStore for BrokenStore {
    fn load(&self) -> Result<Vec<(SubjectKey, Choices)>, ConsentError> {
        Ok(Vec::new())
    }
    fn save(&self, _s: SubjectKey, _c: Choices) -> Result<(), ConsentError> {
        Err(ConsentError::new("disk on fire"))
    }
}

#[test]
fn store_failures_never_grant_but_always_revoke() {
    let t = builder()
        .consent(ConsentPolicy::opt_out())
        .consent_store(BrokenStore)
        .build()
        .unwrap();
    let c = t.consent();
    assert!(c.grant("olga", Category::BUSINESS).is_err());
    assert_eq!(
        c.state("olga", Category::BUSINESS),
        ConsentState::NoAnswer {
            default_granted: true
        }
    );
    let err = c.revoke("olga", Category::BUSINESS).unwrap_err();
    assert!(err.to_string().contains("disk on fire"));
    assert!(
        !c.allows("olga", Category::BUSINESS),
        "the revocation applies in memory"
    );
}

#[test]
fn unreadable_store_is_a_build_error() {
    struct Unreadable;
    impl ConsentStore for Unreadable {
        fn load(&self) -> Result<Vec<(SubjectKey, Choices)>, ConsentError> {
            Err(ConsentError::new(
                "permission denied reading /var/lib/consent.json",
            ))
        }
        fn save(&self, _s: SubjectKey, _c: Choices) -> Result<(), ConsentError> {
            Ok(())
        }
    }
    let err = builder().consent_store(Unreadable).build().unwrap_err();
    assert_eq!(err.kind(), ConfigErrorKind::ConsentStore);
    assert!(err.to_string().contains("permission denied"), "{err}");
}

#[test]
fn idle_subjects_are_evicted_but_subjects_with_choices_and_open_scopes_are_kept() {
    let exp = InMemoryExporter::new();
    let t = builder()
        .consent(policy())
        .coverage_period(Duration::from_secs(1))
        .exporter(exp.clone())
        .build()
        .unwrap();
    t.consent().grant("keep-me", Category::BUSINESS).unwrap();
    for i in 0..50 {
        let _s = t.subject(&format!("visitor-{i}"));
    }
    let open = t.subject("still-here");
    // A subject with no choice leaves memory when its last scope closes:
    // ids a caller chooses cannot grow it.
    assert_eq!(
        t.consent().subjects_in_memory(),
        2,
        "the granted subject and the open scope remain"
    );
    t.consent().evict_idle();
    assert_eq!(t.consent().subjects_in_memory(), 2);
    // Coverage still counts the visitors, in fixed memory.
    assert_eq!(t.consent().coverage().subjects_seen, 52);
    assert!(t.consent().allows("keep-me", Category::BUSINESS));
    // The open scope still sees changes made after the eviction pass.
    t.consent().grant("still-here", Category::BUSINESS).unwrap();
    t.event("after", Category::BUSINESS).emit();
    drop(open);
    t.force_flush().unwrap();
    assert_eq!(exp.events_named("after").len(), 1);
}

#[test]
fn distinct_ids_a_caller_chooses_do_not_grow_memory() {
    let (t, _exp) = setup();
    for i in 0..100_000u32 {
        let _s = t.subject(&format!("probe-{i}"));
    }
    // Nothing is held for subjects without a choice once their scope ends,
    // and coverage still counts them (within its error bound).
    assert_eq!(t.consent().subjects_in_memory(), 0);
    let seen = t.consent().coverage().subjects_seen as f64;
    assert!((seen / 100_000.0 - 1.0).abs() < 0.07, "{seen}");
}
