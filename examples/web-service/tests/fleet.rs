//! Three replicas of the frontend and one inventory service, sharing one
//! real PostgreSQL consent store, against the real collector, driven with
//! real HTTP requests as a round-robin load balancer would spread them:
//! a choice made on one replica holds on every other, across a restart and
//! a SIGKILL; deletion requests and audit records arrive once per change;
//! with the database stopped every replica fails closed (and says so on
//! `/healthz`) while exempt data keeps flowing, and catches up when it is
//! back, a revocation made during the outage included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use telemetry_tests::Collector;
use telemetry_tests::postgres::Postgres;

/// How old a replica's view of the store may get (the test's bound).
const MAX_STALENESS_MS: &str = "1000";

/// Starts a replica named `instance` (its `service.instance.id`, also its
/// name in the store's replica table). `frontend-b` is given the store
/// with `--consent-store`, the others with `CONSENT_STORE_URL`: both ways
/// run here end to end (a replica that ignored its flag would have a
/// memory store, and `wait=1` would count three replicas, not four).
fn replica(
    service: &str,
    instance: &str,
    collector: &Collector,
    pg: &Postgres,
    downstream: Option<&str>,
) -> Instance {
    let resource = format!("service.instance.id={instance}");
    let by_flag = instance == "frontend-b";
    let mut args = vec!["--max-staleness-ms", MAX_STALENESS_MS];
    let mut vars = vec![("OTEL_RESOURCE_ATTRIBUTES", resource.as_str())];
    if by_flag {
        args.extend(["--consent-store", pg.url.as_str()]);
    } else {
        vars.push(("CONSENT_STORE_URL", pg.url.as_str()));
    }
    Instance::start_with(service, &collector.http_url(), downstream, &args, &vars)
}

/// Sends a request as `user`; gives the status and the JSON body (`null`
/// if the body is not JSON).
fn call(method: &str, url: &str, user: &str, body: Option<Value>) -> (u16, Value) {
    let agent = agent();
    let auth = format!("Bearer token-{user}");
    let response = match (method, body) {
        ("POST", Some(b)) => agent.post(url).header("Authorization", &auth).send_json(b),
        ("POST", None) => agent.post(url).header("Authorization", &auth).send_empty(),
        ("DELETE", _) => agent.delete(url).header("Authorization", &auth).call(),
        _ => agent.get(url).header("Authorization", &auth).call(),
    };
    let mut response = response.unwrap();
    let status = response.status().as_u16();
    let body = response.body_mut().read_json().unwrap_or(Value::Null);
    (status, body)
}

/// A consent change that every live replica must have applied before it
/// answers; gives the response body.
fn change_everywhere(method: &str, replica: &Instance, user: &str, category: &str) -> Value {
    let url = format!("{}/consent/{category}?wait=1", replica.url);
    let (status, body) = call(method, &url, user, None);
    assert_eq!(status, 200, "{method} {category} for {user}: {body}");
    assert!(
        body["change"].as_u64().is_some(),
        "no change number: {body}"
    );
    body
}

fn checkout(replica: &Instance, user: &str, sku: &str) -> u16 {
    let order = json!({ "sku": sku, "quantity": 1, "email": format!("{user}@example.com") });
    call(
        "POST",
        &format!("{}/checkout", replica.url),
        user,
        Some(order),
    )
    .0
}

fn allowed(replica: &Instance, user: &str) -> Vec<String> {
    let (status, body) = call("GET", &format!("{}/consent", replica.url), user, None);
    assert_eq!(status, 200, "{body}");
    body["allowed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn health(replica: &Instance) -> u16 {
    call("GET", &format!("{}/healthz", replica.url), "nobody", None).0
}

/// Waits until `check` holds (at most `timeout`).
fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}

/// The events named `name` about `user` the collector holds.
fn events(c: &Collector, name: &str, user: &str) -> usize {
    let key = subject_key(user);
    seen(c)
        .logs
        .iter()
        .filter(|l| l.name == name && l.subject.as_deref() == Some(key.as_str()))
        .count()
}

/// Every `POST /checkout` server span the collector holds.
fn checkout_spans(c: &Collector) -> usize {
    seen(c)
        .spans
        .iter()
        .filter(|s| s.name == "POST /checkout")
        .count()
}

const ORDER: &str = "shop.order_placed";
const INTEREST: &str = "shop.product_interest";
const DELETION: &str = "telemetry.consent.deletion_request";
const AUDIT: &str = "telemetry.consent.changed";
const WAIT: Duration = Duration::from_secs(10);

#[test]
fn consent_holds_across_three_replicas_a_restart_and_a_database_outage() {
    let pg = Postgres::start().expect("PostgreSQL");
    let collector = Collector::start().expect("collector");
    let inventory = replica("inventory", "inventory", &collector, &pg, None);
    let inv = inventory.url.clone();
    // Three replicas starting at the same moment: the schema is migrated
    // once.
    let (a, b, c) = std::thread::scope(|s| {
        let start = |name: &'static str| {
            let (collector, pg, inv) = (&collector, &pg, inv.as_str());
            s.spawn(move || replica("frontend", name, collector, pg, Some(inv)))
        };
        let (a, b, c) = (
            start("frontend-a"),
            start("frontend-b"),
            start("frontend-c"),
        );
        (a.join().unwrap(), b.join().unwrap(), c.join().unwrap())
    });
    assert_eq!(
        pg.psql("SELECT count(*) FROM telemetry_consent.migrations")
            .unwrap(),
        "1",
        "the schema was migrated more than once"
    );

    // alice allows business data and refuses interaction data on A; bob
    // allows business data on B. Each change is applied by all four
    // processes before the call answers.
    let granted = change_everywhere("POST", &a, "alice", "business");
    assert_eq!(granted["replicas"], 4, "{granted}");
    change_everywhere("DELETE", &a, "alice", "interaction");
    change_everywhere("POST", &b, "bob", "business");

    // Her checkouts through B and C: orders recorded, and no product
    // interest (the inventory, which records it, obeys the refusal she
    // made on A). bob keeps the opt-out default: his interest is recorded.
    assert_eq!(checkout(&b, "alice", "A-1"), 200);
    assert_eq!(checkout(&c, "alice", "A-2"), 200);
    assert_eq!(checkout(&c, "bob", "B-1"), 200);
    assert!(
        collector.wait_for(WAIT, |c| events(c, ORDER, "alice") == 2
            && events(c, ORDER, "bob") == 1
            && events(c, INTEREST, "bob") == 1),
        "the orders did not arrive"
    );
    assert_eq!(
        events(&collector, INTEREST, "alice"),
        0,
        "alice's refusal on A was not honoured by B and C"
    );

    // alice revokes business data on B; A then records no order of hers.
    // bob's order through A shows that A exported meanwhile.
    let revoked = change_everywhere("DELETE", &b, "alice", "business");
    assert_eq!(revoked["replicas"], 4, "{revoked}");
    assert_eq!(checkout(&a, "alice", "A-3"), 200);
    assert_eq!(checkout(&a, "bob", "B-2"), 200);
    assert!(collector.wait_for(WAIT, |c| events(c, ORDER, "bob") == 2));
    assert_eq!(
        events(&collector, ORDER, "alice"),
        2,
        "A recorded an order after alice revoked on B"
    );

    // SIGKILL and restart C: it forgets nothing, and loads a customer's
    // choices before it records consent-requiring data for them (bob's
    // first order through the new process is kept, alice's refusals hold).
    drop(c);
    let c = replica("frontend", "frontend-c", &collector, &pg, Some(&inv));
    assert_eq!(checkout(&c, "bob", "B-3"), 200);
    assert_eq!(checkout(&c, "alice", "A-4"), 200);
    assert!(
        collector.wait_for(WAIT, |c| events(c, ORDER, "bob") == 3),
        "the restarted replica lost bob's first order"
    );
    assert_eq!(
        allowed(&c, "alice"),
        ["performance", "errors", "resource"],
        "the restarted replica forgot alice's choices"
    );

    // One deletion request and one audit record per change, although four
    // processes applied each: grant and two refusals for alice.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(events(&collector, ORDER, "alice"), 2);
    assert_eq!(events(&collector, INTEREST, "alice"), 0);
    assert_eq!(
        events(&collector, DELETION, "alice"),
        2,
        "a deletion request per revocation (interaction, business), sent once"
    );
    assert_eq!(
        events(&collector, AUDIT, "alice"),
        3,
        "an audit record per change, sent once"
    );

    // The database goes away: after max_staleness every replica refuses
    // consent-requiring data, says so on /healthz, and counts the drops;
    // exempt data (the server spans) keeps flowing.
    pg.stop().unwrap();
    for r in [&a, &b, &c, &inventory] {
        assert!(
            eventually(WAIT, || health(r) == 503),
            "{} did not turn stale",
            r.url
        );
    }
    let spans_before = checkout_spans(&collector);
    assert_eq!(checkout(&a, "bob", "B-4"), 200);
    // A grant cannot be made without the store; a revocation is applied
    // here at once and committed when the store is back.
    let (status, body) = call(
        "POST",
        &format!("{}/consent/business", b.url),
        "carol",
        None,
    );
    assert_eq!(status, 503, "{body}");
    let (status, body) = call(
        "DELETE",
        &format!("{}/consent/interaction", b.url),
        "carol",
        None,
    );
    assert_eq!(status, 503, "{body}");
    assert!(
        collector.wait_for(WAIT, |c| {
            let s = seen(c);
            s.dropped("frontend-a", "unconfirmed") > 0 && checkout_spans(c) > spans_before
        }),
        "no unconfirmed drops counted on A, or its exempt spans stopped"
    );
    assert_eq!(
        events(&collector, ORDER, "bob"),
        3,
        "a stale replica recorded business data"
    );

    // The database is back: every replica catches up by itself, records
    // again, and the revocation made during the outage reaches the others.
    pg.start_again().unwrap();
    for r in [&a, &b, &c, &inventory] {
        assert!(
            eventually(Duration::from_secs(15), || health(r) == 200),
            "{} did not recover",
            r.url
        );
    }
    assert_eq!(checkout(&b, "bob", "B-5"), 200);
    assert!(
        collector.wait_for(WAIT, |c| events(c, ORDER, "bob") == 4),
        "bob's order after the outage did not arrive"
    );
    assert!(
        eventually(WAIT, || !allowed(&c, "carol")
            .contains(&"interaction".to_owned())),
        "carol's revocation during the outage did not reach C"
    );
    assert!(
        collector.wait_for(WAIT, |c| events(c, DELETION, "carol") == 1),
        "carol's deletion request did not arrive"
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(events(&collector, DELETION, "carol"), 1);
    assert_eq!(events(&collector, ORDER, "alice"), 2);

    for r in [a, b, c, inventory] {
        r.stop();
    }
}
