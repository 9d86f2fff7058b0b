//! The privacy center in a real axum server on 127.0.0.1, driven over
//! HTTP: the page against the catalogue, choices and history, deletion,
//! cross-site refusal, and client events through the consent gate, the
//! sampler and the fields' privacy classes. (The real browser runs in the
//! web-service example's tests.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use axum::Router;
use proptest::prelude::*;
use telemetry_core::catalogue::{Catalogue, CatalogueItem};
use telemetry_core::consent::DELETION_REQUEST_EVENT;
use telemetry_core::testing::InMemoryExporter;
use telemetry_core::*;
use telemetry_privacy_center::events::WebVital;
use telemetry_privacy_center::{IngestLimits, PrivacyCenter, Rejection};

/// A product card the person clicked (interaction: needs consent).
#[derive(TelemetryEvent)]
#[telemetry(name = "test.card_clicked", category = interaction)]
pub struct CardClicked<'a> {
    /// Which card.
    #[telemetry(public)]
    pub card: &'a str,
    /// What the person typed in the search box: kept only as a hash.
    #[telemetry(hash)]
    pub query: &'a str,
    /// Position in the list.
    #[telemetry(public)]
    pub position: u64,
    /// Never collected.
    #[telemetry(drop)]
    pub note: &'a str,
}

/// Loads the cart (an instrumented operation, for the page's list).
#[instrument_event(name = "test.load_cart", category = performance, fields(items))]
fn load_cart(items: u64) -> u64 {
    items
}

const KEY: &[u8] = b"privacy center test key 0123456789abc";

fn instance(exporter: &InMemoryExporter, sampler: Sampler) -> Telemetry {
    Telemetry::builder()
        .service("shop", "1")
        .env(Environment::from_pairs::<&str, &str>([]))
        .hash_key(KeyId(1), KEY)
        .consent(
            ConsentPolicy::opt_out()
                .exempt(Category::PERFORMANCE)
                .exempt(Category::ERRORS)
                .require_opt_in(Category::BUSINESS),
        )
        .sampler(sampler)
        .exporter(exporter.clone())
        .flush_interval(Duration::from_secs(3600))
        .metric_interval(Duration::from_secs(3600))
        .build()
        .unwrap()
}

fn center(telemetry: &Telemetry) -> PrivacyCenter {
    PrivacyCenter::builder(telemetry)
        .identify(|parts| Some(parts.headers.get("x-user")?.to_str().ok()?.to_owned()))
        .purpose(
            Category::INTERACTION,
            "Which cards you open, to order them better.",
        )
        .accept::<WebVital<'static>>()
        .accept::<CardClicked<'static>>()
        .limits(IngestLimits {
            max_body_bytes: 8 * 1024,
            max_events: 10,
            max_string_bytes: 64,
        })
        .build()
        .unwrap()
}

/// Serves `app` on a free port of 127.0.0.1 on a runtime of its own.
fn serve(app: Router) -> (String, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, app).await });
    (url, rt)
}

struct Reply {
    status: u16,
    location: Option<String>,
    body: String,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn reply(r: Result<http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut r = r.unwrap();
    Reply {
        status: r.status().as_u16(),
        location: r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned()),
        body: r.body_mut().read_to_string().unwrap(),
    }
}

fn get(url: &str, user: Option<&str>) -> Reply {
    let mut req = agent().get(url);
    if let Some(u) = user {
        req = req.header("x-user", u);
    }
    reply(req.call())
}

fn post(url: &str, user: Option<&str>, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut req = agent()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(u) = user {
        req = req.header("x-user", u);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    reply(req.send(body))
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn the_page_lists_exactly_what_the_catalogue_holds() {
    assert_eq!(load_cart(2), 2);
    let exporter = InMemoryExporter::new();
    let telemetry = instance(&exporter, Sampler::always());
    let page = center(&telemetry).render(None);
    let catalogue = Catalogue::collect();
    assert!(catalogue.items().len() >= 3, "{:?}", catalogue.items());
    assert_eq!(
        count(&page, "data-item=\""),
        catalogue.items().len(),
        "one entry per catalogue item"
    );
    for item in catalogue.items() {
        let (name, fields, category) = match item {
            CatalogueItem::Event { schema, .. } => (schema.name, schema.fields, schema.category),
            CatalogueItem::Function { schema, .. } => (schema.name, schema.fields, schema.category),
        };
        let start = page
            .find(&format!("data-item=\"{name}\""))
            .unwrap_or_else(|| panic!("{name} is missing from the page"));
        let end = start + page[start..].find("</li>").unwrap();
        let entry = &page[start..end];
        assert_eq!(
            count(entry, "data-field=\""),
            fields.len(),
            "{name}: {entry}"
        );
        for f in fields {
            assert!(
                entry.contains(&format!(
                    "data-field=\"{}\" data-class=\"{}\"",
                    f.name,
                    f.class.name()
                )),
                "{name}.{} with class {}: {entry}",
                f.name,
                f.class.name()
            );
        }
        // In its category's section.
        let section = page[..start].rfind("data-category=\"").unwrap();
        let category_name = telemetry.categories().name(category).into_owned();
        assert!(
            page[section..].starts_with(&format!("data-category=\"{category_name}\"")),
            "{name} is listed under the wrong category"
        );
    }
    // Treatments in words, the purpose the service wrote, exempt noted.
    assert!(page.contains("replaced by a keyed hash"));
    assert!(page.contains("never collected"));
    assert!(page.contains("Which cards you open, to order them better."));
    assert!(page.contains("Always collected, anonymously"));
    // Nobody signed in: no switch, no history, no deletion.
    assert!(page.contains("Sign in to see and change your choices."));
    assert_eq!(count(&page, "type=\"checkbox\""), 0);
    assert!(!page.contains("id=\"delete\""));
}

#[test]
fn translated_texts_replace_the_english_ones() {
    let exporter = InMemoryExporter::new();
    let telemetry = instance(&exporter, Sampler::always());
    let texts = telemetry_privacy_center::Texts {
        lang: "de".into(),
        title: "Ihre Privatsphäre".into(),
        allow_label: "{category}-Daten erlauben".into(),
        ..Default::default()
    };
    let center = PrivacyCenter::builder(&telemetry)
        .identify(|_| Some("alice".into()))
        .texts(texts)
        .build()
        .unwrap();
    let page = center.render(Some("alice"));
    assert!(page.contains("<html lang=\"de\">"));
    assert!(page.contains("<h1>Ihre Privatsphäre</h1>"));
    assert!(page.contains("interaction-Daten erlauben"));
}

#[test]
fn bad_settings_are_build_errors_that_say_how_to_fix_them() {
    let exporter = InMemoryExporter::new();
    let telemetry = instance(&exporter, Sampler::always());
    let err = PrivacyCenter::builder(&telemetry).build().unwrap_err();
    assert!(err.to_string().contains(".identify("), "{err}");
    for base in [
        "privacy",
        "/privacy/",
        "/",
        "/a b",
        "//x",
        "/a/../b",
        "/./x",
    ] {
        let err = PrivacyCenter::builder(&telemetry)
            .identify(|_| None)
            .base_path(base)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("base path"), "{base}: {err}");
    }
}

#[test]
fn choices_history_and_deletion_over_http() {
    let exporter = InMemoryExporter::new();
    let telemetry = instance(&exporter, Sampler::always());
    let (url, _rt) = serve(center(&telemetry).router());
    let page_url = format!("{url}/privacy");

    let page = get(&page_url, Some("alice"));
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("id=\"allow-interaction\" name=\"allow\" value=\"true\" checked"),
        "interaction is opt-out: allowed by default"
    );
    assert!(
        page.body
            .contains("id=\"allow-business\" name=\"allow\" value=\"true\" aria")
    );
    assert!(
        !page.body.contains("id=\"allow-performance\""),
        "exempt: no switch"
    );
    assert!(page.body.contains("id=\"history-empty\""));

    // A plain form without the box ticked: revoke, then back to the page.
    let r = post(
        &format!("{url}/privacy/consent"),
        Some("alice"),
        &[],
        "category=interaction",
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location.as_deref(), Some("/privacy?saved=interaction"));
    assert!(!telemetry.consent().allows("alice", Category::INTERACTION));
    let page = get(&format!("{page_url}?saved=interaction"), Some("alice"));
    assert!(page.body.contains("Saved: interaction."));
    assert!(
        page.body
            .contains("id=\"allow-interaction\" name=\"allow\" value=\"true\" aria")
    );
    assert_eq!(
        count(&page.body, "data-choice=\"denied\""),
        1,
        "{}",
        page.body
    );

    // The page's script: JSON.
    let r = post(
        &format!("{url}/privacy/consent"),
        Some("alice"),
        &[("accept", "application/json")],
        "category=interaction&allow=true",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, r#"{"allowed":true,"category":"interaction"}"#);
    let page = get(&page_url, Some("alice"));
    assert_eq!(count(&page.body, "<tr data-category=\"interaction\""), 2);
    assert!(page.body.contains("data-choice=\"granted\""));

    // Refused: another site, nobody signed in, unknown or exempt category.
    let r = post(
        &format!("{url}/privacy/consent"),
        Some("alice"),
        &[("origin", "https://evil.example")],
        "category=interaction",
    );
    assert_eq!(r.status, 403);
    // Nobody signed in: a plain form goes back to the page, which says to
    // sign in; the script gets 401.
    let r = post(
        &format!("{url}/privacy/consent"),
        None,
        &[],
        "category=interaction",
    );
    assert_eq!(r.location.as_deref(), Some("/privacy?failed=signin"));
    assert!(
        get(&format!("{url}/privacy?failed=signin"), None)
            .body
            .contains("class=\"status error\" role=\"status\" aria-live=\"polite\">Sign in")
    );
    let r = post(
        &format!("{url}/privacy/consent"),
        None,
        &[("accept", "application/json")],
        "category=interaction",
    );
    assert_eq!(r.status, 401);
    // A body that is not a form: a clear 400.
    let r = post(
        &format!("{url}/privacy/consent"),
        Some("alice"),
        &[],
        "allow=true",
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("the form could not be read"), "{}", r.body);
    for c in ["nonsense", "performance", "telemetry"] {
        let r = post(
            &format!("{url}/privacy/consent"),
            Some("alice"),
            &[],
            &format!("category={c}"),
        );
        assert_eq!(r.status, 400, "{c}");
    }
    assert!(telemetry.consent().allows("alice", Category::INTERACTION));

    // Deletion needs the box ticked; then one request per category that
    // needs consent.
    let r = post(&format!("{url}/privacy/delete"), Some("alice"), &[], "");
    assert_eq!(r.location.as_deref(), Some("/privacy?failed=unconfirmed"));
    telemetry.force_flush().unwrap();
    assert!(exporter.events_named(DELETION_REQUEST_EVENT).len() <= 1);
    exporter.clear();
    let r = post(
        &format!("{url}/privacy/delete"),
        Some("alice"),
        &[],
        "confirm=yes",
    );
    assert_eq!(r.status, 303);
    let required: Vec<Category> = [
        Category::INTERACTION,
        Category::BUSINESS,
        Category::RESOURCE,
    ]
    .into();
    assert_eq!(
        r.location.as_deref(),
        Some(format!("/privacy?deleted={}", required.len()).as_str())
    );
    telemetry.force_flush().unwrap();
    let deletions = exporter.events_named(DELETION_REQUEST_EVENT);
    assert_eq!(deletions.len(), required.len(), "{deletions:?}");
    let alice = telemetry.consent().subject_key("alice");
    assert!(deletions.iter().all(|d| d.subject == Some(alice)));
    for c in required {
        assert!(!telemetry.consent().allows("alice", c), "{c:?}");
    }
    // The success notice shows only when the page agrees: not for someone
    // whose categories are still on (a crafted link), nor for a bad value.
    let notice = "Deletion requested for 3 categories.";
    assert!(
        get(&format!("{page_url}?deleted=3"), Some("alice"))
            .body
            .contains(notice)
    );
    assert!(
        !get(&format!("{page_url}?deleted=3"), Some("bob"))
            .body
            .contains(notice)
    );
    assert_eq!(
        get(&format!("{page_url}?deleted=abc"), Some("alice")).status,
        200
    );
}

#[test]
fn named_custom_categories_are_shown_and_deleted_with_ids_that_cannot_clash() {
    let exporter = InMemoryExporter::new();
    let fraud = Category::custom(3);
    let odd = Category::custom(4);
    let telemetry = Telemetry::builder()
        .service("shop", "1")
        .env(Environment::from_pairs::<&str, &str>([]))
        .hash_key(KeyId(1), KEY)
        .category(fraud, "fraud")
        .category(odd, "History")
        .consent(
            ConsentPolicy::opt_out()
                .exempt(Category::PERFORMANCE)
                .exempt(Category::ERRORS),
        )
        .exporter(exporter.clone())
        .flush_interval(Duration::from_secs(3600))
        .metric_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let center = center(&telemetry);
    let page = center.render(Some("alice"));
    assert!(
        page.contains("id=\"allow-fraud\""),
        "a plain name gives its own id"
    );
    assert!(
        page.contains(&format!("id=\"allow-c{}\"", odd.bit())),
        "a name with capitals gets the category's bit"
    );
    // Every id on the page is unique.
    let mut ids: Vec<&str> = page
        .split(" id=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    let all = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all, "duplicate ids on the page");
    let (url, _rt) = serve(center.router());
    let r = post(
        &format!("{url}/privacy/delete"),
        Some("alice"),
        &[],
        "confirm=yes",
    );
    // interaction, resource, business and the two named custom categories.
    assert_eq!(r.location.as_deref(), Some("/privacy?deleted=5"));
    assert!(!telemetry.consent().allows("alice", fraud));
    assert!(!telemetry.consent().allows("alice", odd));
}

fn ingest(url: &str, user: Option<&str>, body: &str) -> Reply {
    let mut req = agent()
        .post(format!("{url}/privacy/events"))
        .header("content-type", "text/plain;charset=UTF-8");
    if let Some(u) = user {
        req = req.header("x-user", u);
    }
    reply(req.send(body))
}

#[test]
fn client_events_pass_the_same_gate_schemas_and_classes() {
    let exporter = InMemoryExporter::new();
    let telemetry = instance(&exporter, Sampler::always());
    let center = center(&telemetry);
    let (url, _rt) = serve(center.router());

    // Valid: a vital (exempt, anonymous) and a click with a hashed field
    // sent raw.
    let r = ingest(
        &url,
        Some("bob"),
        r#"{"events":[
            {"name":"web.vital","fields":{"metric":"LCP","value":812.5,"rating":"good","page":"home"}},
            {"name":"test.card_clicked","category":"interaction",
             "fields":{"card":"c-7","query":"bob@example.com","position":3,"note":"secret note"}}]}"#,
    );
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body, r#"{"accepted":2,"rejected":{}}"#);
    telemetry.force_flush().unwrap();
    let vital = &exporter.events_named("web.vital")[0];
    assert_eq!(vital.subject, None, "exempt means anonymous");
    let click = &exporter.events_named("test.card_clicked")[0];
    assert_eq!(click.subject, Some(telemetry.consent().subject_key("bob")));
    let json = exporter.exported_json();
    assert!(
        !json.contains("bob@example.com"),
        "a hashed field never leaves raw"
    );
    assert!(
        !json.contains("secret note"),
        "a dropped field is never read"
    );
    let query = click.attributes.iter().find(|a| a.key == "query").unwrap();
    assert!(!format!("{:?}", query.value).contains("bob@"));

    // The person's consent applies: revoked, the click is dropped and
    // counted; the vital still flows.
    exporter.clear();
    telemetry
        .consent()
        .revoke("bob", Category::INTERACTION)
        .unwrap();
    let before = telemetry
        .drops()
        .get(DropCause::Consent, Category::INTERACTION);
    let r = ingest(
        &url,
        Some("bob"),
        r#"{"events":[{"name":"test.card_clicked","fields":{"card":"c-1"}},
                      {"name":"web.vital","fields":{"metric":"FCP","value":100}}]}"#,
    );
    assert_eq!(r.status, 202);
    telemetry.force_flush().unwrap();
    assert!(exporter.events_named("test.card_clicked").is_empty());
    assert_eq!(exporter.events_named("web.vital").len(), 1);
    assert_eq!(
        telemetry
            .drops()
            .get(DropCause::Consent, Category::INTERACTION),
        before + 1
    );

    // Refused events, each counted by cause; the good one in the same batch
    // still goes through.
    let r = ingest(
        &url,
        Some("carol"),
        r#"{"events":[
            {"name":"no.such_event"},
            {"name":"test.card_clicked","fields":{"card":5}},
            {"name":"test.card_clicked","fields":{"position":-1}},
            {"name":"test.card_clicked","fields":{"price":1}},
            {"name":"test.card_clicked","category":"performance","fields":{"card":"x"}},
            {"name":"test.card_clicked","fields":{"card":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}},
            {"name":"web.vital","extra":1},
            7,
            {"name":"test.card_clicked","fields":{"card":"ok","position":1}}]}"#,
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["accepted"], 1);
    assert_eq!(v["rejected"]["unknown_event"], 1);
    assert_eq!(v["rejected"]["wrong_type"], 2);
    assert_eq!(v["rejected"]["unknown_field"], 1);
    assert_eq!(v["rejected"]["forged_category"], 1);
    assert_eq!(v["rejected"]["too_long"], 1);
    assert_eq!(v["rejected"]["malformed"], 2);

    // Nobody signed in: exempt events only, anonymous even inside a
    // subject scope; the rest refused as not signed in.
    telemetry.force_flush().unwrap();
    exporter.clear();
    let r = ingest(
        &url,
        None,
        r#"{"events":[{"name":"web.vital","fields":{"metric":"INP","value":40}},
                      {"name":"test.card_clicked","fields":{"card":"c-9"}}]}"#,
    );
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["accepted"], 1, "{v}");
    assert_eq!(v["rejected"]["not_signed_in"], 1, "{v}");
    {
        let _scope = telemetry.subject("mallory");
        let outcome = center
            .ingest(
                None,
                br#"{"events":[{"name":"web.vital","fields":{"metric":"CLS","value":0.1}}]}"#,
            )
            .unwrap();
        assert_eq!(outcome.accepted, 1);
    }
    telemetry.force_flush().unwrap();
    let vitals = exporter.events_named("web.vital");
    assert_eq!(vitals.len(), 2);
    assert!(vitals.iter().all(|v| v.subject.is_none()));
    assert!(exporter.events_named("test.card_clicked").is_empty());

    // Whole batches refused.
    assert_eq!(ingest(&url, None, "{not json").status, 400);
    assert_eq!(ingest(&url, None, r#"{"events":"x"}"#).status, 400);
    let many = format!(
        r#"{{"events":[{}]}}"#,
        [r#"{"name":"web.vital"}"#; 11].join(",")
    );
    assert_eq!(ingest(&url, None, &many).status, 413);
    let big = format!(r#"{{"events":[],"pad":"{}"}}"#, "x".repeat(9000));
    assert_eq!(ingest(&url, None, &big).status, 413);
    // From another site: refused before reading.
    let r = reply(
        agent()
            .post(format!("{url}/privacy/events"))
            .header("origin", "https://evil.example")
            .send(r#"{"events":[]}"#),
    );
    assert_eq!(r.status, 403);

    let stats = center.stats();
    assert_eq!(stats.accepted, 7);
    assert_eq!(stats.events_rejected(Rejection::NotSignedIn), 1);
    assert_eq!(stats.events_rejected(Rejection::WrongType), 2);
    assert_eq!(stats.events_rejected(Rejection::ForgedCategory), 1);
    assert_eq!(stats.batches_rejected(Rejection::Malformed), 2);
    assert_eq!(stats.batches_rejected(Rejection::TooMany), 1);
    assert_eq!(stats.batches_rejected(Rejection::TooLarge), 1);
    assert_eq!(stats.batches, 9);
    // The same counts as a metric, for dashboards and alerts.
    telemetry.force_flush().unwrap();
    let metric = |outcome: &str| {
        exporter.sum_value(
            telemetry_privacy_center::CLIENT_EVENTS_METRIC,
            &[("outcome", outcome)],
        )
    };
    assert_eq!(metric("accepted"), Some(7));
    assert_eq!(metric("wrong_type"), Some(2));
    assert_eq!(metric("not_signed_in"), Some(1));
    assert_eq!(metric("batch_malformed"), Some(2));
    assert_eq!(metric("batch_too_large"), Some(1));
}

#[test]
fn the_sampler_and_the_request_trace_apply_to_client_events() {
    let exporter = InMemoryExporter::new();
    let telemetry = instance(
        &exporter,
        Sampler::always().probability(Category::INTERACTION, 0.0),
    );
    let center = center(&telemetry);
    let click = br#"{"events":[{"name":"test.card_clicked","fields":{"card":"a"}}]}"#;
    let vital = br#"{"events":[{"name":"web.vital","fields":{"metric":"TTFB","value":12}}]}"#;
    let span = telemetry.span("POST /privacy/events", Category::PERFORMANCE);
    let trace_id = span.context().map(|c| c.trace_id);
    {
        let _in = span.enter();
        assert_eq!(center.ingest(Some("dan"), click).unwrap().accepted, 1);
        assert_eq!(center.ingest(Some("dan"), vital).unwrap().accepted, 1);
    }
    drop(span);
    telemetry.force_flush().unwrap();
    assert!(exporter.events_named("test.card_clicked").is_empty());
    assert_eq!(
        telemetry
            .drops()
            .get(DropCause::Sampling, Category::INTERACTION),
        1
    );
    let vital = &exporter.events_named("web.vital")[0];
    assert!(trace_id.is_some());
    assert_eq!(vital.trace.as_ref().map(|t| t.trace_id), trace_id);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    /// Any bytes: no panic, and a batch read is fully accounted for.
    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let exporter = InMemoryExporter::new();
        let telemetry = instance(&exporter, Sampler::always());
        let center = center(&telemetry);
        let _ = center.ingest(Some("eve"), &body);
    }

    /// Random events of plausible shape: every event is accepted or
    /// refused for one cause, never lost and never a panic.
    #[test]
    fn random_events_are_all_accounted_for(
        events in proptest::collection::vec(
            (
                prop_oneof![Just("web.vital".to_string()), Just("test.card_clicked".to_string()), ".{0,12}"],
                proptest::option::of(prop_oneof![Just("interaction".to_string()), Just("performance".to_string()), ".{0,8}"]),
                proptest::collection::btree_map(
                    prop_oneof![Just("metric".to_string()), Just("value".to_string()), Just("card".to_string()), Just("position".to_string()), ".{0,6}"],
                    prop_oneof![
                        any::<i64>().prop_map(serde_json::Value::from),
                        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, serde_json::Value::Number)),
                        ".{0,80}".prop_map(serde_json::Value::from),
                        any::<bool>().prop_map(serde_json::Value::from),
                        Just(serde_json::json!([1, {"a": null}])),
                    ],
                    0..5,
                ),
            ),
            0..10,
        )
    ) {
        let exporter = InMemoryExporter::new();
        let telemetry = instance(&exporter, Sampler::always());
        let center = center(&telemetry);
        let batch: Vec<serde_json::Value> = events
            .iter()
            .map(|(name, category, fields)| {
                let mut e = serde_json::json!({ "name": name, "fields": fields });
                if let Some(c) = category {
                    e["category"] = serde_json::Value::from(c.clone());
                }
                e
            })
            .collect();
        let body = serde_json::json!({ "events": batch }).to_string();
        let outcome = center.ingest(Some("eve"), body.as_bytes()).unwrap();
        let rejected: usize = outcome.rejected.iter().map(|(_, n)| n).sum();
        prop_assert_eq!(outcome.accepted + rejected, events.len());
        telemetry.force_flush().unwrap();
        // Whatever was recorded names an accepted event type and carries
        // no raw string of a hashed field.
        for log in exporter.logs() {
            prop_assert!(log.event_name == "web.vital" || log.event_name == "test.card_clicked");
        }
    }
}
