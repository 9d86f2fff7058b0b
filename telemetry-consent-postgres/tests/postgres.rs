//! The PostgreSQL consent store against a real PostgreSQL server (started
//! by `tests/postgres/start.sh` on 127.0.0.1, a free port, a throw-away
//! data directory): replicas are telemetry instances in this process, each
//! with its own store and connections. Every test uses its own schema, so
//! they share one server; the outage test has a server of its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use rand::Rng;
use telemetry_consent_postgres::{
    PostgresConsentStore, PostgresConsentStoreBuilder, SCHEMA_VERSION,
};
use telemetry_core::consent::*;
use telemetry_core::testing::InMemoryExporter;
use telemetry_core::*;
use telemetry_tests::postgres::Postgres;
use telemetry_tests::proxy::TcpProxy;

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

fn server() -> &'static Postgres {
    static SERVER: OnceLock<Postgres> = OnceLock::new();
    SERVER.get_or_init(|| Postgres::start().expect("PostgreSQL did not start"))
}

fn policy() -> ConsentPolicy {
    ConsentPolicy::opt_in()
        .require(Category::BUSINESS)
        .require(Category::INTERACTION)
        .exempt(Category::PERFORMANCE)
        .exempt(Category::ERRORS)
        .exempt(Category::RESOURCE)
}

struct Replica {
    t: Telemetry,
    exp: InMemoryExporter,
    store_status: Box<dyn Fn() -> telemetry_consent_postgres::StoreStatus + Send + Sync>,
}

/// The tests' store settings, to build or to change first.
fn store_builder(url: &str, schema: &str) -> PostgresConsentStoreBuilder {
    PostgresConsentStore::builder(url)
        .schema(schema)
        .poll_interval(Duration::from_millis(100))
        .connect_timeout(Duration::from_secs(1))
        .statement_timeout(Duration::from_secs(2))
        .liveness(Duration::from_secs(3))
}

fn store(url: &str, schema: &str) -> PostgresConsentStore {
    store_builder(url, schema).build().unwrap()
}

fn replica_with(url: &str, schema: &str, max_staleness: Duration) -> Replica {
    replica_on(store(url, schema), max_staleness)
}

fn replica_on(store: PostgresConsentStore, max_staleness: Duration) -> Replica {
    let exp = InMemoryExporter::new();
    // The status is read through a clone the test keeps.
    let for_status = store.clone();
    let t = Telemetry::builder()
        .service("pg-test", "1")
        .env(Environment::from_pairs::<&str, &str>([]))
        .hash_key(KeyId(1), KEY)
        .consent(policy())
        .flush_interval(Duration::from_secs(3600))
        .metric_interval(Duration::from_secs(3600))
        .exporter(exp.clone())
        .shared_consent_store(store)
        .max_staleness(max_staleness)
        .build()
        .unwrap();
    Replica {
        t,
        exp,
        store_status: Box::new(move || for_status.status()),
    }
}

fn replica(schema: &str) -> Replica {
    replica_with(&server().url, schema, Duration::from_secs(1))
}

fn eventually(what: &str, timeout: Duration, f: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn business(r: &Replica, subject: &str) {
    let _s = r.t.subject(subject);
    r.t.event("shop.order_placed", Category::BUSINESS).emit();
}

fn sql(query: &str) -> String {
    server().psql(query).unwrap()
}

#[test]
fn replicas_starting_together_migrate_once() {
    let threads: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(|| store(&server().url, "t_migrate")))
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(sql("SELECT count(*) FROM t_migrate.migrations"), "1");
    assert_eq!(
        sql("SELECT schema_version FROM t_migrate.meta"),
        SCHEMA_VERSION.to_string()
    );
}

#[test]
fn a_schema_written_by_a_newer_version_is_refused() {
    store(&server().url, "t_newer");
    sql("UPDATE t_newer.meta SET schema_version = 99");
    let e = PostgresConsentStore::builder(&server().url)
        .schema("t_newer")
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("version 99") && e.contains("newer"), "{e}");
}

#[test]
fn bad_settings_and_credentials_are_clear_errors_without_the_password() {
    let e = PostgresConsentStore::connect("postgres://u:pw-S3cret@127.0.0.1:notaport/db")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("connection string is invalid") && !e.contains("pw-S3cret"),
        "{e}"
    );
    let wrong = server().url_as("postgres", "wrong-S3cret");
    let e = PostgresConsentStore::connect(wrong)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("authentication failed") && !e.contains("wrong-S3cret"),
        "{e}"
    );
    let e = PostgresConsentStore::builder(&server().url)
        .schema("Bad-Name")
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot name the consent schema"), "{e}");
    // A role without permissions: it cannot create the schema...
    sql(
        "DO $$ BEGIN CREATE ROLE limited LOGIN PASSWORD 'limited'; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
    );
    let limited = server().url_as("limited", "limited");
    let e = PostgresConsentStore::builder(&limited)
        .schema("t_limited")
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("lacks a permission") && e.contains("CREATE on the database"),
        "{e}"
    );
    // ... nor use one that exists without grants.
    store(&server().url, "t_limited2");
    let e = PostgresConsentStore::builder(&limited)
        .schema("t_limited2")
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("lacks a permission"), "{e}");
    // Telemetry's build reports a store that cannot start.
    let e = Telemetry::builder()
        .service("s", "1")
        .hash_key(KeyId(1), KEY)
        .shared_consent_store(store(&server().url, "t_double"))
        .consent_store(MemoryConsentStore::new())
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ConfigErrorKind::ConsentStore);
}

#[test]
fn changes_reach_every_replica_purge_their_buffers_and_are_audited_once() {
    let a = replica("t_changes");
    let b = replica("t_changes");
    let key = a.t.consent().subject_key("alice");
    let r = a.t.consent().grant("alice", Category::BUSINESS).unwrap();
    let ack =
        a.t.consent()
            .wait_applied(&r, Duration::from_secs(5))
            .unwrap();
    assert_eq!(ack.replicas, 2);
    b.t.consent()
        .prefetch_within("alice", Duration::from_secs(2))
        .unwrap();
    business(&b, "alice");
    business(&b, "alice");
    let r = a.t.consent().revoke("alice", Category::BUSINESS).unwrap();
    a.t.consent()
        .wait_applied(&r, Duration::from_secs(5))
        .unwrap();
    assert!(!b.t.consent().allows("alice", Category::BUSINESS));
    business(&b, "alice");
    a.t.force_flush().unwrap();
    b.t.force_flush().unwrap();
    assert!(b.exp.events_named("shop.order_placed").is_empty());
    assert_eq!(b.t.drops().get(DropCause::Revoked, Category::BUSINESS), 2);
    // Audit and deletion request: once, by the replica that made the change.
    assert_eq!(a.exp.events_named(CONSENT_CHANGED_EVENT).len(), 2);
    assert_eq!(a.exp.events_named(DELETION_REQUEST_EVENT).len(), 1);
    assert!(b.exp.events_named(CONSENT_CHANGED_EVENT).is_empty());
    assert!(b.exp.events_named(DELETION_REQUEST_EVENT).is_empty());
    let hex = key.to_hex();
    assert_eq!(
        sql(&format!(
            "SELECT string_agg(old_choice || '>' || new_choice || ':' || category || ':' || source, ',' ORDER BY id)
             FROM t_changes.audit WHERE subject_key = '\\x{hex}'"
        )),
        "none>granted:business:user,granted>denied:business:user"
    );
    assert_eq!(
        sql("SELECT count(*) FROM t_changes.audit WHERE replica = ''"),
        "0"
    );
    eventually(
        "the outbox entry is marked delivered",
        Duration::from_secs(5),
        || sql("SELECT count(*) FROM t_changes.outbox WHERE delivered_at IS NOT NULL") == "1",
    );
    // No raw id anywhere in the store.
    let dump = sql("SELECT string_agg(t::text, ' ') FROM (SELECT * FROM t_changes.audit) t");
    assert!(!dump.contains("alice"), "{dump}");
}

/// Changes are pushed (`LISTEN`/`NOTIFY`), not only polled: with a poll
/// interval of 10 s, each change committed on one replica is applied on
/// another within a second.
#[test]
fn changes_are_pushed_to_the_other_replicas_without_waiting_for_the_poll() {
    // A view confirmed only every 10 s must not turn stale meanwhile.
    let slow = || {
        let store = store_builder(&server().url, "t_notify")
            .poll_interval(Duration::from_secs(10))
            .build()
            .unwrap();
        replica_on(store, Duration::from_secs(60))
    };
    let (a, b) = (slow(), slow());
    b.t.consent()
        .prefetch_within("nina", Duration::from_secs(2))
        .unwrap();
    for grant in [true, false, true] {
        // b has read the log and waits for a notification (or the poll).
        std::thread::sleep(Duration::from_millis(300));
        let receipt = if grant {
            a.t.consent().grant("nina", Category::BUSINESS)
        } else {
            a.t.consent().revoke("nina", Category::BUSINESS)
        }
        .unwrap();
        let change = receipt.change().unwrap();
        let committed = Instant::now();
        eventually(
            &format!("b applies change {change:?} (grant: {grant})"),
            Duration::from_secs(1),
            || {
                b.t.consent().freshness().applied >= change
                    && b.t.consent().allows("nina", Category::BUSINESS) == grant
            },
        );
        assert!(committed.elapsed() < Duration::from_secs(1));
    }
    assert!(!b.t.consent().freshness().stale);
}

/// A replica revokes and stops before its exporter took the deletion
/// request: the same replica restarted (or any other) sends it once its
/// lease ran out, exactly once.
#[test]
fn a_deletion_request_left_behind_is_sent_once_after_a_restart() {
    let lease = Duration::from_secs(1);
    let start = |name: &str| {
        let store = store_builder(&server().url, "t_outbox")
            .replica(name)
            .outbox_lease(lease)
            .build()
            .unwrap();
        replica_on(store, Duration::from_secs(1))
    };
    let delivered = || sql("SELECT count(*) FROM t_outbox.outbox WHERE delivered_at IS NOT NULL");
    let a = start("replica-a");
    a.exp.set_failing(true);
    let key = a.t.consent().subject_key("dan");
    a.t.consent().grant("dan", Category::BUSINESS).unwrap();
    a.t.consent().revoke("dan", Category::BUSINESS).unwrap();
    let _ = a.t.force_flush_within(Duration::from_millis(200));
    a.t.shutdown(Duration::from_millis(200));
    drop(a);
    assert_eq!(sql("SELECT count(*) FROM t_outbox.outbox"), "1");
    assert_eq!(delivered(), "0", "delivered through a failing exporter");

    // Restarted after the lease ran out: it claims the entry and sends it.
    eventually("a's lease runs out", Duration::from_secs(5), || {
        sql("SELECT count(*) FROM t_outbox.outbox WHERE claimed_until < now()") == "1"
    });
    let a = start("replica-a");
    eventually(
        "the restarted replica delivers it",
        Duration::from_secs(10),
        || {
            let _ = a.t.force_flush_within(Duration::from_millis(100));
            delivered() == "1"
        },
    );
    let sent = a.exp.events_named(DELETION_REQUEST_EVENT);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].subject, Some(key));
    let categories = sent[0]
        .attributes
        .iter()
        .find(|at| at.key == "telemetry.deletion.categories")
        .map(|at| format!("{:?}", at.value));
    assert!(
        categories
            .as_deref()
            .is_some_and(|c| c.contains("business")),
        "{categories:?}"
    );

    // Delivered is final: another replica, started after every lease ran
    // out, sends nothing, and the first sends it no second time.
    std::thread::sleep(lease + Duration::from_millis(300));
    let b = start("replica-b");
    std::thread::sleep(Duration::from_millis(500));
    b.t.force_flush().unwrap();
    a.t.force_flush().unwrap();
    assert!(b.exp.events_named(DELETION_REQUEST_EVENT).is_empty());
    assert_eq!(a.exp.events_named(DELETION_REQUEST_EVENT).len(), 1);
    assert_eq!(delivered(), "1");
}

#[test]
fn a_subjects_history_comes_from_the_shared_audit_trail_of_every_replica() {
    let a = replica("t_history");
    let b = replica("t_history");
    let start = SystemTime::now() - Duration::from_secs(60);
    a.t.consent().grant("alice", Category::BUSINESS).unwrap();
    b.t.consent()
        .revoke_with("alice", Category::BUSINESS, ConsentSource::Operator)
        .unwrap();
    a.t.consent().grant("alice", Category::INTERACTION).unwrap();
    a.t.consent().grant("bob", Category::INTERACTION).unwrap();
    // Read on a replica that made none of alice's changes to business.
    let history = b.t.consent().history("alice", 10).unwrap();
    let summary: Vec<(Category, ConsentState, ConsentState, &str)> = history
        .iter()
        .map(|c| (c.category, c.old, c.new, c.source.as_str()))
        .collect();
    let none = ConsentState::NoAnswer {
        default_granted: false,
    };
    assert_eq!(
        summary,
        [
            (Category::BUSINESS, none, ConsentState::Granted, "user"),
            (
                Category::BUSINESS,
                ConsentState::Granted,
                ConsentState::Denied,
                "operator"
            ),
            (Category::INTERACTION, none, ConsentState::Granted, "user"),
        ]
    );
    let alice = a.t.consent().subject_key("alice");
    assert!(history.iter().all(|c| c.subject == alice && c.time > start));
    // The most recent `limit`, oldest first.
    let last = b.t.consent().history("alice", 2).unwrap();
    assert_eq!(last, history[1..].to_vec());
    assert!(b.t.consent().history("carol", 10).unwrap().is_empty());
}

#[test]
fn a_restarted_replica_keeps_every_choice_and_loads_lazily() {
    let a = replica("t_restart");
    a.t.consent()
        .grant("bob", [Category::BUSINESS, Category::INTERACTION])
        .unwrap();
    a.t.consent().revoke("bob", Category::INTERACTION).unwrap();
    a.t.shutdown(Duration::from_secs(2));
    drop(a);
    // Many subjects in the table: nothing is loaded at start.
    sql(
        "INSERT INTO t_restart.subjects (subject_key, granted, denied, change)
         SELECT decode(lpad(to_hex(i), 32, '0'), 'hex'), 8, 0, 0 FROM generate_series(1, 20000) i",
    );
    let b = replica("t_restart");
    assert_eq!(b.t.consent().subjects_in_memory(), 0);
    assert_eq!(
        b.t.consent().state("bob", Category::BUSINESS),
        ConsentState::Granted
    );
    assert_eq!(
        b.t.consent().state("bob", Category::INTERACTION),
        ConsentState::Denied
    );
    assert_eq!(b.t.consent().subjects_in_memory(), 1);
}

#[test]
fn a_partitioned_replica_fails_closed_and_catches_up() {
    let proxy = TcpProxy::start(server().port).unwrap();
    let a = replica("t_partition");
    let b = replica_with(
        &server().url_via(proxy.port),
        "t_partition",
        Duration::from_millis(600),
    );
    let r = a.t.consent().grant("cat", Category::BUSINESS).unwrap();
    a.t.consent()
        .wait_applied(&r, Duration::from_secs(5))
        .unwrap();
    b.t.consent()
        .prefetch_within("cat", Duration::from_secs(2))
        .unwrap();
    business(&b, "cat");
    proxy.cut();
    eventually("b's view turns stale", Duration::from_secs(3), || {
        b.t.consent().freshness().stale
    });
    assert!(b.t.consent().freshness().age.unwrap() <= Duration::from_millis(700));
    business(&b, "cat");
    {
        let _s = b.t.subject("cat");
        b.t.event("perf.tick", Category::PERFORMANCE).emit();
    }
    // A revocation elsewhere meanwhile; b cannot be reached, so waiting
    // for every live replica times out and says so.
    let r = a.t.consent().revoke("cat", Category::BUSINESS).unwrap();
    let e =
        a.t.consent()
            .wait_applied(&r, Duration::from_millis(300))
            .unwrap_err()
            .to_string();
    assert!(e.contains("1 of 2 live replicas"), "{e}");
    proxy.restore();
    eventually("b is fresh again", Duration::from_secs(10), || {
        !b.t.consent().freshness().stale
    });
    assert!(!b.t.consent().allows("cat", Category::BUSINESS));
    assert!((b.store_status)().reconnects >= 1);
    business(&b, "cat");
    b.t.force_flush().unwrap();
    assert!(b.exp.events_named("shop.order_placed").is_empty());
    assert_eq!(b.exp.events_named("perf.tick").len(), 1);
    // Three refused, each once: the one while stale as unconfirmed; the
    // one recorded before the cut as unconfirmed (if it was held when the
    // view turned stale) or as revoked (if it was still queued when the
    // revocation arrived); the one after the view was fresh again as
    // consent, or as unconfirmed if the subject's choices were still being
    // set when it came.
    let unconfirmed = b.t.drops().get(DropCause::Unconfirmed, Category::BUSINESS);
    let revoked = b.t.drops().get(DropCause::Revoked, Category::BUSINESS);
    let consent = b.t.drops().get(DropCause::Consent, Category::BUSINESS);
    assert!(
        unconfirmed >= 1 && revoked <= 1 && consent <= 1 && unconfirmed + revoked + consent == 3,
        "unconfirmed {unconfirmed}, revoked {revoked}, consent {consent}"
    );
}

#[test]
fn a_database_outage_fails_closed_keeps_revocations_and_recovers() {
    let pg = Postgres::start().unwrap();
    let mk = || replica_with(&pg.url, "t_outage", Duration::from_millis(600));
    let (a, b) = (mk(), mk());
    let r =
        a.t.consent()
            .grant("dee", [Category::BUSINESS, Category::INTERACTION])
            .unwrap();
    a.t.consent()
        .wait_applied(&r, Duration::from_secs(5))
        .unwrap();
    pg.stop().unwrap();
    eventually("both views turn stale", Duration::from_secs(3), || {
        a.t.consent().freshness().stale && b.t.consent().freshness().stale
    });
    business(&a, "dee");
    business(&b, "dee");
    for r in [&a, &b] {
        assert_eq!(
            r.t.drops().get(DropCause::Unconfirmed, Category::BUSINESS),
            1
        );
    }
    // A revocation during the outage is in force here and committed later.
    let e =
        a.t.consent()
            .revoke("dee", Category::INTERACTION)
            .unwrap_err();
    assert!(e.to_string().contains("will be committed"), "{e}");
    // A grant cannot be made.
    assert!(a.t.consent().grant("eve", Category::BUSINESS).is_err());
    pg.start_again().unwrap();
    eventually(
        "both views are fresh again",
        Duration::from_secs(15),
        || !a.t.consent().freshness().stale && !b.t.consent().freshness().stale,
    );
    eventually(
        "b applies the revocation made during the outage",
        Duration::from_secs(10),
        || {
            !b.t.consent().allows("dee", Category::INTERACTION)
                && b.t.consent().allows("dee", Category::BUSINESS)
        },
    );
    let key = a.t.consent().subject_key("dee").to_hex();
    let denied = pg
        .psql(&format!(
            "SELECT denied FROM t_outage.subjects WHERE subject_key = '\\x{key}'"
        ))
        .unwrap();
    assert_eq!(denied, (1u64 << Category::INTERACTION.bit()).to_string());
}

/// The synchronous client drives a runtime of its own, which tokio forbids
/// on a thread already running one: building, changing consent, waiting
/// and dropping the last handle from async code (an `async fn main`, a
/// handler) must neither panic nor fail.
#[test]
fn the_store_works_from_inside_an_async_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let a = replica("in_runtime");
        let b = replica("in_runtime");
        let receipt = a.t.consent().grant("rita", Category::BUSINESS).unwrap();
        a.t.consent()
            .wait_applied(&receipt, Duration::from_secs(5))
            .unwrap();
        assert_eq!(
            b.t.consent().state("rita", Category::BUSINESS),
            ConsentState::Granted
        );
        b.t.consent()
            .prefetch_within("sam", Duration::from_secs(2))
            .unwrap();
        a.t.consent().revoke("rita", Category::BUSINESS).unwrap();
        drop(a);
        drop(b);
    });
}

#[test]
fn malformed_rows_from_the_database_are_counted_not_fatal() {
    let a = replica("t_malformed");
    sql("ALTER TABLE t_malformed.changes DROP CONSTRAINT changes_subject_key_check");
    sql("UPDATE t_malformed.meta SET last_change = last_change + 1");
    sql(
        "INSERT INTO t_malformed.changes (change, subject_key, granted, denied, replica)
         SELECT last_change, '\\x0102'::bytea, -1, 0, 'intruder' FROM t_malformed.meta",
    );
    sql("NOTIFY t_malformed_changes");
    eventually("the feed skips the bad row", Duration::from_secs(5), || {
        (a.store_status)().malformed_rows == 1
    });
    // Still working.
    let r = a.t.consent().grant("fay", Category::BUSINESS).unwrap();
    a.t.consent()
        .wait_applied(&r, Duration::from_secs(5))
        .unwrap();
    assert!(!a.t.consent().freshness().stale);
}

#[test]
fn sync_jobs_change_consent_by_key_and_random_changes_never_let_a_record_contradict_them() {
    let replicas: Vec<Replica> = (0..3).map(|_| replica("t_random")).collect();
    let key = replicas[0].t.consent().subject_key("gil");
    let r = replicas[0]
        .t
        .consent()
        .grant_key(key, Category::BUSINESS, ConsentSource::Import)
        .unwrap();
    replicas[0]
        .t
        .consent()
        .wait_applied(&r, Duration::from_secs(5))
        .unwrap();
    assert!(
        replicas[2].t.consent().allows("gil", Category::BUSINESS) || {
            replicas[2]
                .t
                .consent()
                .prefetch_within("gil", Duration::from_secs(2))
                .unwrap();
            replicas[2].t.consent().allows("gil", Category::BUSINESS)
        }
    );
    assert_eq!(
        sql(&format!(
            "SELECT source FROM t_random.audit WHERE subject_key = '\\x{}'",
            key.to_hex()
        )),
        "import"
    );

    // Random grants and revocations on random replicas while all record.
    let subjects: Vec<String> = (0..6).map(|i| format!("r{i}")).collect();
    let start = SystemTime::now();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    std::thread::scope(|scope| {
        for r in &replicas {
            let (stop, subjects) = (stop.clone(), &subjects);
            scope.spawn(move || {
                let mut rng = rand::rng();
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let s = &subjects[rng.random_range(0..subjects.len())];
                    r.t.consent().prefetch(s);
                    let _scope = r.t.subject(s);
                    let category = if rng.random_bool(0.5) {
                        Category::BUSINESS
                    } else {
                        Category::INTERACTION
                    };
                    r.t.event("random.event", category).emit();
                    std::thread::sleep(Duration::from_micros(500));
                }
            });
        }
        let mut rng = rand::rng();
        let until = Instant::now() + Duration::from_secs(6);
        while Instant::now() < until {
            let r = &replicas[rng.random_range(0..replicas.len())];
            let s = &subjects[rng.random_range(0..subjects.len())];
            let c = if rng.random_bool(0.5) {
                Category::BUSINESS
            } else {
                Category::INTERACTION
            };
            if rng.random_bool(0.5) {
                let _ = r.t.consent().grant(s, c);
            } else {
                let _ = r.t.consent().revoke(s, c);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    for r in &replicas {
        r.t.force_flush().unwrap();
    }
    // The committed history, with commit times on the server's clock.
    let history: Vec<(String, u64, u64, f64)> = sql(
        "SELECT encode(c.subject_key, 'hex') || '|' || c.granted || '|' || c.denied || '|' ||
                extract(epoch FROM c.committed_at)
         FROM t_random.changes c ORDER BY c.change",
    )
    .lines()
    .map(|l| {
        let f: Vec<&str> = l.split('|').collect();
        (
            f[0].to_owned(),
            f[1].parse::<i64>().unwrap() as u64,
            f[2].parse::<i64>().unwrap() as u64,
            f[3].parse().unwrap(),
        )
    })
    .collect();
    // A record captured at t may reflect any state committed in
    // [t - max_staleness - slack, t]: it contradicts the history only if
    // none of those states allowed its category.
    let bound = 1.0 + 0.25;
    let mut checked = 0;
    for r in &replicas {
        for e in r.exp.events_named("random.event") {
            let t = e
                .time
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64();
            let hex = e.subject.unwrap().to_hex();
            let bit = 1u64 << e.category.bit();
            let changes: Vec<&(String, u64, u64, f64)> =
                history.iter().filter(|h| h.0 == hex).collect();
            let before = changes.iter().rev().find(|h| h.3 <= t - bound);
            let window = changes
                .iter()
                .filter(|h| h.3 > t - bound && h.3 <= t + 0.05);
            let allowed = before
                .into_iter()
                .chain(window)
                .any(|h| h.1 & bit != 0 && h.2 & bit == 0);
            assert!(
                allowed,
                "a record of {hex} in {:?} captured at {t} contradicts every state committed within the bound",
                e.category
            );
            checked += 1;
        }
    }
    assert!(
        checked > 100,
        "too few records to mean anything: {checked} (since {start:?})"
    );
    let refused: u64 = replicas
        .iter()
        .map(|r| r.t.drops().get(DropCause::Consent, Category::BUSINESS))
        .sum();
    assert!(
        refused > 0,
        "no record was refused: the test proves nothing"
    );
}
