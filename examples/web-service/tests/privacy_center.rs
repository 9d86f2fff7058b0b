//! The privacy center and the demo page in a real headless Chromium
//! (Debian's, driven over WebDriver; installed by tests/browser/install.sh),
//! against the example service and a real collector on 127.0.0.1: a person
//! signs in, sees what is collected, switches interaction data off and on
//! (the choice persists across reloads, the browser's click obeys it, the
//! history shows both changes), and asks for deletion; the page lists
//! exactly the catalogue and passes an axe-core accessibility check. A
//! screenshot is written to the test's temporary target directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use telemetry_tests::Collector;
use telemetry_tests::browser::Browser;

const WAIT: Duration = Duration::from_secs(15);

fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn logs_named<'s>(s: &'s Seen, name: &str) -> Vec<&'s LogSeen> {
    s.logs.iter().filter(|l| l.name == name).collect()
}

/// `name|field:class,...` for every item, as the page shows them.
const PAGE_ITEMS: &str = "return Array.from(document.querySelectorAll('[data-item]')).map(e => \
    e.getAttribute('data-item') + '|' + Array.from(e.querySelectorAll('[data-field]')).map(f => \
    f.getAttribute('data-field') + ':' + f.getAttribute('data-class')).join(','));";

/// The same from the catalogue the service serves.
fn catalogue_items(catalogue: &Value) -> BTreeSet<String> {
    ["events", "functions"]
        .iter()
        .flat_map(|kind| catalogue[kind].as_array().cloned().unwrap_or_default())
        .map(|item| {
            let fields: Vec<String> = item["fields"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|f| {
                    format!(
                        "{}:{}",
                        f["name"].as_str().unwrap(),
                        f["class"].as_str().unwrap()
                    )
                })
                .collect();
            format!("{}|{}", item["name"].as_str().unwrap(), fields.join(","))
        })
        .collect()
}

fn checkbox_checked(b: &Browser, css: &str) -> bool {
    b.find(css).unwrap().property("checked").unwrap() == json!(true)
}

/// Clicks the switch and waits for the page's script to say it was saved.
fn switch(b: &Browser, css: &str) {
    b.execute("document.getElementById('status').textContent = '';", &[])
        .unwrap();
    b.find(css).unwrap().click().unwrap();
    eventually("the choice is saved", || {
        let text = b.find("#status").ok()?.text().ok()?;
        text.starts_with("Saved").then_some(())
    });
}

#[test]
fn a_person_sees_changes_and_deletes_what_is_collected_in_a_real_browser() {
    let collector = Collector::start().expect("collector");
    let shop = Instance::start("frontend", &collector.http_url(), None);
    let url = &shop.url;
    let b = Browser::start().expect("headless Chromium");

    // Sign in through the demo form: the token becomes an HttpOnly cookie.
    b.goto(&format!("{url}/login")).unwrap();
    b.find("#token").unwrap().send_keys("token-alice").unwrap();
    b.find("button[type=submit]").unwrap().click().unwrap();
    b.wait_for("#allow-interaction", WAIT).unwrap();
    assert!(
        b.url().unwrap().ends_with("/privacy"),
        "{}",
        b.url().unwrap()
    );
    assert_eq!(b.title().unwrap(), "Your privacy");

    // The page lists exactly what the catalogue holds, each field with its
    // class, in the open details.
    let catalogue: Value = agent()
        .get(format!("{url}/privacy/catalogue.json"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    let on_page: BTreeSet<String> = b
        .execute(PAGE_ITEMS, &[])
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(on_page, catalogue_items(&catalogue));
    assert!(
        on_page
            .iter()
            .any(|i| i.starts_with("shop.order_placed|") && i.contains("email:hashed"))
    );

    // Accessible: no serious or critical axe-core violation, with every
    // section opened.
    b.execute(
        "document.querySelectorAll('details').forEach(d => d.open = true);",
        &[],
    )
    .unwrap();
    let violations = b.axe().unwrap();
    let serious: Vec<_> = violations
        .iter()
        .filter(|v| matches!(v.impact.as_deref(), Some("serious" | "critical")))
        .collect();
    assert!(serious.is_empty(), "{serious:#?}");
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("privacy-center.png");
    let png = b.screenshot_png(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    eprintln!("privacy center screenshot: {}", shot.display());

    // Interaction data is opt-out: allowed. Switch it off; a reload shows
    // the choice kept.
    assert!(checkbox_checked(&b, "#allow-interaction"));
    assert!(!checkbox_checked(&b, "#allow-business"));
    switch(&b, "#allow-interaction");
    b.goto(&format!("{url}/privacy")).unwrap();
    b.wait_for("#allow-interaction", WAIT).unwrap();
    assert!(!checkbox_checked(&b, "#allow-interaction"));
    assert_eq!(
        b.find("#state-interaction").unwrap().text().unwrap(),
        "You do not allow this."
    );

    // The demo page: the snippet sends nothing for interaction now, and
    // what a page sends anyway is dropped by the server.
    b.goto(&format!("{url}/demo")).unwrap();
    b.wait_for("#add-to-cart", WAIT).unwrap();
    b.find("#add-to-cart").unwrap().click().unwrap();
    let tracked = b
        .execute(
            "return window.telemetry.track('shop.click', {target: 'x', page: 'demo'});",
            &[],
        )
        .unwrap();
    assert_eq!(
        tracked,
        json!(false),
        "the snippet must not queue a refused category"
    );
    let forged = b
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/privacy/events', {method: 'POST', body: JSON.stringify({events: [
               {name: 'shop.click', fields: {target: 'forged', page: 'demo'}}]})})
               .then(r => r.json()).then(done, e => done(String(e)));",
            &[],
        )
        .unwrap();
    assert_eq!(
        forged["accepted"], 1,
        "valid, so handed to the gate: {forged}"
    );

    // Back on: the click is recorded, once, for alice, in its request's trace.
    b.goto(&format!("{url}/privacy")).unwrap();
    b.wait_for("#allow-interaction", WAIT).unwrap();
    switch(&b, "#allow-interaction");
    b.goto(&format!("{url}/demo")).unwrap();
    b.wait_for("#add-to-cart", WAIT).unwrap();
    b.find("#add-to-cart").unwrap().click().unwrap();
    b.execute("window.telemetry.flush();", &[]).unwrap();
    // Leaving the page reports its web vitals.
    b.goto(&format!("{url}/privacy")).unwrap();
    b.wait_for("#allow-interaction", WAIT).unwrap();
    let alice = subject_key("alice");
    let s = eventually("the click and the web vitals reach the collector", || {
        let s = seen(&collector);
        (!logs_named(&s, "shop.click").is_empty() && !logs_named(&s, "web.vital").is_empty())
            .then_some(s)
    });
    let clicks = logs_named(&s, "shop.click");
    assert_eq!(clicks.len(), 1, "{clicks:#?}");
    assert_eq!(clicks[0].subject.as_deref(), Some(alice.as_str()));
    assert_eq!(
        string_attr(&clicks[0].attributes, "target").as_deref(),
        Some("add-to-cart")
    );
    assert!(
        s.spans
            .iter()
            .any(|sp| sp.name == "POST /privacy/events" && sp.trace == clicks[0].trace),
        "the click is recorded within its request's trace"
    );
    let vitals = logs_named(&s, "web.vital");
    assert!(
        vitals.iter().all(|v| v.subject.is_none()),
        "exempt means anonymous"
    );
    let metrics: BTreeSet<String> = vitals
        .iter()
        .filter_map(|v| string_attr(&v.attributes, "metric"))
        .collect();
    assert!(
        metrics.contains("TTFB") || metrics.contains("FCP"),
        "{metrics:?}"
    );
    assert!(
        vitals
            .iter()
            .all(|v| string_attr(&v.attributes, "page").as_deref() == Some("demo"))
    );

    // The history shows both changes, oldest first.
    let rows = b
        .execute(
            "return Array.from(document.querySelectorAll('#history tr[data-category=interaction]'))
                 .map(r => r.getAttribute('data-choice'));",
            &[],
        )
        .unwrap();
    assert_eq!(rows, json!(["denied", "granted"]));

    // Delete: one deletion request per category that needs consent
    // (business and interaction), for alice's pseudonym only. (Switching
    // interaction off above made one already.)
    let before = logs_named(&seen(&collector), "telemetry.consent.deletion_request").len();
    assert_eq!(before, 1, "switching interaction off asked for deletion");
    b.find("#delete-confirm").unwrap().click().unwrap();
    b.find("#delete button").unwrap().click().unwrap();
    eventually("the deletion is confirmed on the page", || {
        let text = b.find("#status").ok()?.text().ok()?;
        (text == "Deletion requested for 2 categories.").then_some(())
    });
    let s = eventually("the deletion requests reach the collector", || {
        let s = seen(&collector);
        (logs_named(&s, "telemetry.consent.deletion_request").len() >= before + 2).then_some(s)
    });
    let deletions = logs_named(&s, "telemetry.consent.deletion_request");
    assert_eq!(deletions.len(), before + 2, "{deletions:#?}");
    let categories: Vec<String> = deletions
        .iter()
        .map(|d| {
            assert_eq!(d.subject.as_deref(), Some(alice.as_str()));
            string_attr(&d.attributes, "telemetry.deletion.categories").unwrap()
        })
        .collect();
    let mut requested = categories.clone();
    requested.sort();
    assert_eq!(
        requested,
        ["business", "interaction", "interaction"],
        "{categories:?}"
    );
    assert!(!checkbox_checked(&b, "#allow-interaction"));
    // Nothing in any record or page is alice's raw id.
    assert!(!s.logs.iter().any(|l| l.subject.as_deref() == Some("alice")));
    shop.stop();
}

#[test]
fn keyboard_alone_switches_a_category() {
    let shop = Instance::start("frontend", NO_COLLECTOR, None);
    let b = Browser::start().expect("headless Chromium");
    b.goto(&format!("{}/login", shop.url)).unwrap();
    b.find("#token").unwrap().send_keys("token-bob").unwrap();
    b.find("#token").unwrap().press_key("\u{E007}").unwrap(); // Enter submits
    b.wait_for("#allow-business", WAIT).unwrap();
    // Tab until the business switch has the focus, then Space.
    let mut found = false;
    for _ in 0..40 {
        b.press_key("\u{E004}").unwrap(); // Tab
        if b.active_element()
            .unwrap()
            .attribute("id")
            .unwrap()
            .as_deref()
            == Some("allow-business")
        {
            found = true;
            break;
        }
    }
    assert!(found, "the business switch is reachable with Tab");
    b.press_key(" ").unwrap();
    eventually("the grant is saved", || {
        let text = b.find("#status").ok()?.text().ok()?;
        (text == "Saved: business.").then_some(())
    });
    b.goto(&format!("{}/privacy", shop.url)).unwrap();
    b.wait_for("#allow-business", WAIT).unwrap();
    assert!(checkbox_checked(&b, "#allow-business"));
}
