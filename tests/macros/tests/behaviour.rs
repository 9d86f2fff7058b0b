//! What the macros do at run time: consent and sampling decided before any
//! field or argument is read; spans, errors, metrics, subject scopes, return
//! values; async spans across `.await` on a multi-threaded runtime.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::OnceLock;
use std::time::Duration;

use telemetry_core::catalogue::*;
use telemetry_core::export::*;
use telemetry_core::testing::InMemoryExporter;
use telemetry_core::*;

/// The test binary's one global instance.
fn exporter() -> &'static InMemoryExporter {
    static EXPORTER: OnceLock<InMemoryExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let exporter = InMemoryExporter::new();
        Telemetry::builder()
            .service("macro-tests", "1")
            .env(Environment::from_pairs::<&str, &str>([]))
            .consent(
                ConsentPolicy::opt_in()
                    .require(Category::BUSINESS)
                    .exempt(Category::PERFORMANCE)
                    .exempt(Category::ERRORS)
                    .exempt(Category::RESOURCE),
            )
            .sampler(Sampler::per_category([(Category::RESOURCE, 0.0)]).sample_errors())
            .hash_key(KeyId(1), b"macro test key material 0123456789")
            .flush_interval(Duration::from_secs(3600))
            .metric_interval(Duration::from_secs(3600))
            .exporter(exporter.clone())
            .install()
            .unwrap();
        exporter
    })
}

fn t() -> &'static Telemetry {
    exporter();
    Telemetry::global().unwrap()
}

/// A macro call finds the installed instance through the pointer
/// `install` sets (the fast path a denied call takes), and only that one.
#[test]
fn the_installed_instance_is_the_one_the_fast_path_finds() {
    assert!(telemetry_core::__private::found_installed(t()));
    let other = Telemetry::builder()
        .service("not-installed", "1")
        .env(Environment::from_pairs::<&str, &str>([]))
        .hash_key(KeyId(1), b"macro test key material 0123456789")
        .build()
        .unwrap();
    assert!(!telemetry_core::__private::found_installed(&other));
}

/// A value whose conversion panics: proves a field or argument was not read.
struct Bomb;
impl TelemetryValue for Bomb {
    const TYPE: FieldType = FieldType::String;
    fn to_value(&self) -> Value<'_> {
        panic!("this value must not be read")
    }
}
impl std::fmt::Debug for Bomb {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("this value must not be formatted")
    }
}

/// A customer completed a purchase.
#[derive(TelemetryEvent)]
#[telemetry(name = "macro.purchase_completed", category = business, version = 2)]
struct Purchase<'a> {
    #[telemetry(subject)]
    customer_id: &'a str,
    #[telemetry(hash)]
    email: &'a str,
    #[telemetry(public, label)]
    currency: &'a str,
    #[telemetry(public)]
    amount_cents: u64,
    #[telemetry(redact)]
    card_last4: Bomb,
    #[telemetry(skip)]
    #[allow(dead_code)]
    note: String,
}

#[derive(TelemetryEvent)]
#[telemetry(category = business)]
struct Probe {
    #[telemetry(public)]
    value: Bomb,
}

#[test]
fn derived_events_obey_consent_and_classes_and_read_nothing_when_denied() {
    let t = t();
    t.consent()
        .grant("derive-alice", Category::BUSINESS)
        .unwrap();
    let p = |who| Purchase {
        customer_id: who,
        email: "alice@example.com",
        currency: "EUR",
        amount_cents: 1299,
        card_last4: Bomb,
        note: "secret note".into(),
    };
    t.emit(&p("derive-alice"));
    t.emit(&p("derive-bob")); // not consented: nothing read (the redacted Bomb is never read anyway)
    {
        let _s = t.subject("derive-bob");
        t.emit(&Probe { value: Bomb }); // denied: the Bomb field is never read
    }
    t.force_flush().unwrap();
    let got = exporter().events_named("macro.purchase_completed");
    let mine: Vec<_> = got
        .iter()
        .filter(|e| e.subject == Some(t.consent().subject_key("derive-alice")))
        .collect();
    assert_eq!(mine.len(), 1);
    assert!(
        got.iter()
            .all(|e| e.subject != Some(t.consent().subject_key("derive-bob")))
    );
    let e = mine[0];
    assert_eq!(e.schema_version, 2);
    let attr = |k: &str| {
        e.attributes
            .iter()
            .find(|a| a.key == k)
            .map(|a| a.value.clone())
    };
    assert!(matches!(attr("email"), Some(AttrValue::Hashed(_))));
    assert_eq!(attr("card_last4"), Some(AttrValue::Redacted));
    assert_eq!(attr("amount_cents"), Some(AttrValue::U64(1299)));
    assert_eq!(attr("note"), None);
    assert_eq!(
        attr("customer_id"),
        None,
        "the subject is a key, not a field"
    );
    assert!(!exporter().exported_json().contains("alice@example.com"));
    assert_eq!(
        <Probe as TelemetryEvent>::SCHEMA.name,
        "probe",
        "default name: snake case of the type"
    );
    assert_eq!(
        <Purchase<'_> as TelemetryEvent>::SCHEMA.description,
        "A customer completed a purchase."
    );
}

#[derive(Debug)]
struct PaymentDeclined;
impl std::fmt::Display for PaymentDeclined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("card 4242 declined")
    }
}

/// Places an order.
#[instrument_event(name = "macro.place_order", category = performance, fields(customer = hash, total_cents), err)]
fn place_order(customer: &str, total_cents: u64, fail: bool) -> Result<u64, PaymentDeclined> {
    if fail {
        return Err(PaymentDeclined);
    }
    Ok(total_cents)
}

/// Charges a card; its error message is recorded where the subject consented.
#[instrument_event(name = "macro.charge", category = performance, fields(customer = hash), err(message = public))]
fn charge(customer: &str) -> Result<(), PaymentDeclined> {
    let _ = customer;
    Err(PaymentDeclined)
}

#[instrument_event(name = "macro.with_message", err(message = public))]
fn with_message() -> Result<(), PaymentDeclined> {
    Err(PaymentDeclined)
}

#[instrument_event(name = "macro.denied", category = business, fields(arg))]
fn denied(arg: Bomb) -> u32 {
    let _ = &arg;
    7
}

#[instrument_event(name = "macro.sampled_out", category = resource, fields(arg))]
fn sampled_out(arg: Bomb) -> u32 {
    let _ = &arg;
    8
}

#[test]
fn consent_denied_or_sampled_out_calls_record_nothing_and_read_no_argument() {
    let t = t();
    let drops_before = t.drops();
    {
        let _s = t.subject("macro-nobody");
        assert_eq!(denied(Bomb), 7);
    }
    assert_eq!(sampled_out(Bomb), 8);
    t.force_flush().unwrap();
    assert!(
        exporter()
            .spans()
            .iter()
            .all(|s| s.name != "macro.denied" && s.name != "macro.sampled_out")
    );
    assert_eq!(
        exporter().sum_value("function.calls", &[("function", "macro.denied")]),
        None,
        "no metric for a denied call"
    );
    let drops = t.drops();
    assert!(
        drops.get(DropCause::Consent, Category::BUSINESS)
            > drops_before.get(DropCause::Consent, Category::BUSINESS)
    );
    assert!(
        drops.get(DropCause::Sampling, Category::RESOURCE)
            > drops_before.get(DropCause::Sampling, Category::RESOURCE)
    );
}

/// Whether `span` has attribute `key`.
fn has_attr(attributes: &[Attribute], key: &str) -> bool {
    attributes.iter().any(|a| a.key == key)
}

#[test]
fn errors_are_recorded_with_their_type_on_span_event_and_metrics() {
    let t = t();
    assert_eq!(place_order("macro-carol", 500, false).unwrap(), 500);
    assert!(place_order("macro-carol", 900, true).is_err());
    assert!(with_message().is_err());
    t.force_flush().unwrap();
    // Anonymous calls (another test records identified ones at the same time).
    let spans: Vec<_> = exporter()
        .spans()
        .into_iter()
        .filter(|s| s.name == "macro.place_order" && s.subject.is_none())
        .collect();
    assert_eq!(spans.len(), 2);
    let failed = spans
        .iter()
        .find(|s| matches!(s.status, SpanStatus::Error { .. }))
        .unwrap();
    let SpanStatus::Error { description } = &failed.status else {
        panic!()
    };
    assert!(description.ends_with("PaymentDeclined"), "{description}");
    // Performance is exempt: the call is recorded anonymously, without the
    // hashed customer (left out and counted) or any subject key.
    assert!(!has_attr(&failed.attributes, "customer"), "{failed:?}");
    assert_eq!(failed.subject, None);
    assert!(
        failed
            .attributes
            .iter()
            .any(|a| a.key == "total_cents" && a.value == AttrValue::U64(900))
    );
    assert!(t.drops().get(DropCause::Anonymized, Category::PERFORMANCE) >= 2);
    let exceptions = exporter().events_named("exception");
    let function = |e: &&LogRecord, f: &str| {
        e.attributes
            .iter()
            .any(|a| a.key == "code.function" && a.value.render() == f)
    };
    let mine: Vec<_> = exceptions
        .iter()
        .filter(|e| function(e, "macro.place_order") && e.subject.is_none())
        .collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].category, Category::ERRORS);
    assert_eq!(
        mine[0].trace.unwrap().span_id,
        failed.span_id,
        "the error event is in the call's span"
    );
    assert!(
        !has_attr(&mine[0].attributes, "exception.message"),
        "no message unless asked"
    );
    // Asked for, but the event is anonymous (errors are exempt): the
    // message, which may name a person, is not exported.
    let with_msg = exceptions
        .iter()
        .find(|e| function(e, "macro.with_message") && e.subject.is_none())
        .unwrap();
    assert!(!has_attr(&with_msg.attributes, "exception.message"));
    assert_eq!(
        exporter().sum_value(
            "function.calls",
            &[("function", "macro.place_order"), ("outcome", "ok")]
        ),
        Some(1)
    );
    assert_eq!(
        exporter().sum_value(
            "function.calls",
            &[("function", "macro.place_order"), ("outcome", "error")]
        ),
        Some(1)
    );
    assert!(
        exporter()
            .histogram_point("function.duration", &[("function", "macro.place_order")])
            .is_some()
    );
    assert!(!exporter().exported_json().contains("macro-carol"));
}

#[test]
fn a_subject_who_granted_an_exempt_category_is_identified_in_it() {
    let t = t();
    // Granting exempt categories explicitly lets their records identify
    // the subject: the hashed argument and the error message are kept.
    t.consent()
        .grant(
            "macro-gil",
            CategorySet::from([Category::PERFORMANCE, Category::ERRORS]),
        )
        .unwrap();
    {
        let _s = t.subject("macro-gil");
        assert!(charge("macro-gil").is_err());
    }
    t.force_flush().unwrap();
    let gil = t.consent().subject_key("macro-gil");
    let span = exporter()
        .spans()
        .into_iter()
        .find(|s| s.name == "macro.charge")
        .expect("the call's span");
    assert_eq!(span.subject, Some(gil), "identified");
    assert!(matches!(
        span.attributes
            .iter()
            .find(|a| a.key == "customer")
            .map(|a| &a.value),
        Some(AttrValue::Hashed(_))
    ));
    let message = exporter()
        .events_named("exception")
        .into_iter()
        .filter(|e| e.subject == Some(gil))
        .find_map(|e| {
            e.attributes
                .iter()
                .find(|a| a.key == "exception.message")
                .map(|a| a.value.render().into_owned())
        });
    assert_eq!(message.as_deref(), Some("card 4242 declined"));
}

#[instrument_event(name = "macro.lookup", category = business, subject = user, fields(user = hash), ret)]
fn lookup(user: &str) -> u64 {
    t().event("macro.inside_lookup", Category::BUSINESS).emit();
    42
}

#[test]
fn subject_argument_opens_the_consent_scope_and_ret_is_recorded() {
    let t = t();
    t.consent().grant("macro-dora", Category::BUSINESS).unwrap();
    assert_eq!(lookup("macro-dora"), 42);
    assert_eq!(lookup("macro-eve"), 42); // no consent: nothing recorded, still runs
    t.force_flush().unwrap();
    let spans: Vec<_> = exporter()
        .spans()
        .into_iter()
        .filter(|s| s.name == "macro.lookup")
        .collect();
    assert_eq!(spans.len(), 1);
    assert_eq!(
        spans[0].subject,
        Some(t.consent().subject_key("macro-dora"))
    );
    assert!(
        spans[0]
            .attributes
            .iter()
            .any(|a| a.key == "return" && a.value == AttrValue::U64(42))
    );
    let inside = exporter().events_named("macro.inside_lookup");
    assert_eq!(inside.len(), 1);
    assert_eq!(inside[0].trace.unwrap().span_id, spans[0].span_id);
}

#[instrument_event(name = "macro.outer", category = performance)]
async fn outer(n: u64) -> u64 {
    let mut total = 0;
    for i in 0..3 {
        tokio::time::sleep(Duration::from_millis(1)).await;
        total += inner(n, i).await;
    }
    total
}

#[instrument_event(name = "macro.inner", category = performance, fields(i))]
async fn inner(n: u64, i: u64) -> u64 {
    tokio::task::yield_now().await;
    n * 10 + i
}

#[instrument_event(name = "macro.returns_future", category = performance)]
fn returns_future(n: u64) -> impl std::future::Future<Output = u64> + Send {
    async move {
        tokio::task::yield_now().await;
        n + 1
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn async_spans_stay_correct_across_await_on_a_multi_threaded_runtime() {
    let t = t();
    let handles: Vec<_> = (0..8u64).map(|n| tokio::spawn(outer(n))).collect();
    for (n, h) in handles.into_iter().enumerate() {
        assert_eq!(h.await.unwrap(), 30 * n as u64 + 3);
    }
    assert_eq!(returns_future(1).await, 2);
    t.force_flush().unwrap();
    let spans = exporter().spans();
    let outers: Vec<_> = spans.iter().filter(|s| s.name == "macro.outer").collect();
    let inners: Vec<_> = spans.iter().filter(|s| s.name == "macro.inner").collect();
    assert_eq!((outers.len(), inners.len()), (8, 24));
    for i in &inners {
        let parent = outers
            .iter()
            .find(|o| Some(o.span_id) == i.parent_span_id)
            .expect("inner's parent is an outer span");
        assert_eq!(parent.trace_id, i.trace_id);
    }
    assert_eq!(
        spans
            .iter()
            .filter(|s| s.name == "macro.returns_future")
            .count(),
        1
    );
    let returned = spans
        .iter()
        .find(|s| s.name == "macro.returns_future")
        .unwrap();
    assert!(returned.end > returned.start);
}

#[test]
fn the_catalogue_lists_events_and_functions() {
    let catalogue = Catalogue::collect();
    let purchase = catalogue.event("macro.purchase_completed").unwrap();
    assert_eq!(
        purchase.fields.len(),
        5,
        "subject not listed; skipped field listed as dropped"
    );
    assert!(
        purchase
            .fields
            .iter()
            .any(|f| f.name == "note" && f.class == FieldClass::Dropped)
    );
    let f = catalogue.function("macro.place_order").unwrap();
    assert_eq!(f.description, "Places an order.");
    assert!(f.records_errors);
    assert_eq!(f.objective, None);
    assert_eq!(f.fields[0].ty, FieldType::String);
    assert_eq!(f.fields[1].ty, FieldType::UInt);
    let md = catalogue.to_markdown();
    assert!(md.contains("### `macro.purchase_completed` (v2)"), "{md}");
    assert!(md.contains("| `email` | string | hashed |"), "{md}");
    let json = catalogue.to_json();
    assert!(json.contains("\"name\": \"macro.lookup\""), "{json}");
}

struct Doc {
    title: String,
}

impl Doc {
    /// A `&mut` return: the body is a `FnOnce` closure.
    #[instrument_event(name = "macro.title_mut")]
    fn title_mut(&mut self) -> &mut String {
        &mut self.title
    }
}

#[instrument_event(fields(r#type, r#match))]
fn r#raw_kind(r#type: &str, r#match: u64) -> usize {
    r#type.len() + usize::try_from(r#match).unwrap_or(0)
}

macro_rules! instrumented_in_a_macro {
    ($name:ident, $arg:ident) => {
        #[instrument_event(name = "macro.from_macro_rules", fields($arg))]
        fn $name($arg: u64) -> u64 {
            $arg * 2
        }
    };
}

instrumented_in_a_macro!(doubled, amount);

#[test]
fn forms_that_once_failed_record_their_calls() {
    let t = t();
    let mut d = Doc {
        title: "draft".into(),
    };
    d.title_mut().push_str(" 2");
    assert_eq!(d.title, "draft 2");
    assert_eq!(r#raw_kind("ab", 3), 5);
    assert_eq!(doubled(21), 42);
    t.force_flush().unwrap();
    let spans = exporter().spans();
    let span = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no span {name}"))
            .clone()
    };
    span("macro.title_mut");
    // Raw identifiers are exported without `r#`, as the function's name.
    let raw = span("raw_kind");
    assert!(has_attr(&raw.attributes, "type"), "{:?}", raw.attributes);
    assert!(has_attr(&raw.attributes, "match"));
    assert!(!raw.attributes.iter().any(|a| a.key.starts_with("r#")));
    // An argument named inside a macro_rules! expansion is recorded.
    let from_macro = span("macro.from_macro_rules");
    assert!(
        from_macro
            .attributes
            .iter()
            .any(|a| a.key == "amount" && a.value == AttrValue::U64(21)),
        "{:?}",
        from_macro.attributes
    );
}

#[instrument_event(name = "macro.panics")]
fn panics(who: &str) -> u32 {
    panic!("cannot serve {who}@example.com")
}

#[instrument_event(name = "macro.slow")]
async fn slow() -> u32 {
    tokio::time::sleep(Duration::from_secs(5)).await;
    1
}

#[tokio::test]
async fn panics_and_cancellations_are_outcomes_of_their_own() {
    let t = t();
    let caught = std::panic::catch_unwind(|| panics("macro-pia"));
    assert!(caught.is_err());
    // The future is dropped at the timeout: cancelled.
    assert!(
        tokio::time::timeout(Duration::from_millis(20), slow())
            .await
            .is_err()
    );
    t.force_flush().unwrap();
    let spans = exporter().spans();
    let status = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no span {name}"))
            .status
            .clone()
    };
    assert_eq!(
        status("macro.panics"),
        SpanStatus::Error {
            description: "panic".into()
        }
    );
    assert_eq!(
        status("macro.slow"),
        SpanStatus::Error {
            description: "cancelled".into()
        }
    );
    let panic_event = exporter()
        .events_named("exception")
        .into_iter()
        .find(|e| {
            e.attributes
                .iter()
                .any(|a| a.key == "code.function" && a.value.render() == "macro.panics")
        })
        .expect("the panic's exception event");
    assert!(
        panic_event
            .attributes
            .iter()
            .any(|a| a.key == "exception.type" && a.value.render() == "panic")
    );
    assert!(
        !exporter().exported_json().contains("example.com"),
        "the panic message is not exported"
    );
    assert_eq!(
        exporter().sum_value(
            "function.calls",
            &[("function", "macro.panics"), ("outcome", "panic")]
        ),
        Some(1)
    );
    assert_eq!(
        exporter().sum_value(
            "function.calls",
            &[("function", "macro.slow"), ("outcome", "cancelled")]
        ),
        Some(1)
    );
    assert!(
        exporter()
            .histogram_point("function.duration", &[("function", "macro.slow")])
            .is_some(),
        "a cancelled call's duration is recorded"
    );
}

#[async_trait::async_trait]
trait Store {
    async fn fetch(&self, id: u64) -> Result<u64, PaymentDeclined>;
}

struct Db;

#[instrument_event(name = "macro.store_child")]
async fn store_child() {
    tokio::time::sleep(Duration::from_millis(5)).await;
}

#[async_trait::async_trait]
impl Store for Db {
    #[instrument_event(name = "macro.async_trait_fetch", fields(id), err)]
    async fn fetch(&self, id: u64) -> Result<u64, PaymentDeclined> {
        tokio::time::sleep(Duration::from_millis(20)).await;
        store_child().await;
        if id == 0 {
            Err(PaymentDeclined)
        } else {
            Ok(id)
        }
    }
}

#[tokio::test]
async fn async_trait_methods_are_measured_to_completion_with_their_children() {
    let t = t();
    assert_eq!(Db.fetch(7).await.unwrap(), 7);
    assert!(Db.fetch(0).await.is_err());
    t.force_flush().unwrap();
    let spans = exporter().spans();
    let fetches: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "macro.async_trait_fetch")
        .collect();
    assert_eq!(fetches.len(), 2);
    for f in &fetches {
        // The whole call, not only building the boxed future.
        let took = f.end.duration_since(f.start).unwrap_or_default();
        assert!(took >= Duration::from_millis(20), "span of {took:?}");
        let child = spans
            .iter()
            .find(|c| c.name == "macro.store_child" && c.parent_span_id == Some(f.span_id))
            .expect("the child span is attached to the call");
        assert_eq!(child.trace_id, f.trace_id);
    }
    assert!(
        fetches
            .iter()
            .any(|f| matches!(f.status, SpanStatus::Error { .. }))
    );
    assert_eq!(
        exporter().sum_value(
            "function.calls",
            &[
                ("function", "macro.async_trait_fetch"),
                ("outcome", "error")
            ]
        ),
        Some(1)
    );
}

#[test]
fn a_program_that_hashes_values_cannot_build_an_instance_without_a_hash_key() {
    // This test binary links events and functions with hashed fields
    // (`Purchase`, `macro.place_order`): without a key they could only be
    // redacted, so building fails and names one of them.
    let e = Telemetry::builder()
        .service("no-key", "1")
        .env(Environment::from_pairs::<&str, &str>([]))
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ConfigErrorKind::MissingHashKey);
    let text = e.to_string();
    assert!(
        text.contains("hashes") && text.contains("hash_key"),
        "{text}"
    );
    assert!(
        [
            "macro.purchase_completed",
            "macro.place_order",
            "macro.charge",
            "macro.lookup"
        ]
        .iter()
        .any(|n| text.contains(n)),
        "{text}"
    );
    assert!(text.contains(".rs:"), "names where it is defined: {text}");
}

#[derive(TelemetryValue)]
struct AccountId(u128);

#[derive(TelemetryValue)]
enum Tier {
    Gold,
}

#[derive(TelemetryEvent)]
#[telemetry(name = "macro.value_types", category = performance)]
struct ValueTypes<'a> {
    #[telemetry(public)]
    account: AccountId,
    #[telemetry(public)]
    small: i128,
    #[telemetry(public)]
    tier: Tier,
    #[telemetry(public)]
    grade: char,
    #[telemetry(public)]
    digest: &'a [u8],
}

#[test]
fn new_value_types_are_exported_as_their_values() {
    let t = t();
    t.emit(&ValueTypes {
        account: AccountId(u128::MAX),
        small: -3,
        tier: Tier::Gold,
        grade: 'A',
        digest: &[0xca, 0xfe],
    });
    t.force_flush().unwrap();
    let e = exporter()
        .events_named("macro.value_types")
        .pop()
        .expect("the event");
    let attr = |k: &str| {
        e.attributes
            .iter()
            .find(|a| a.key == k)
            .map(|a| a.value.clone())
    };
    assert_eq!(
        attr("account").map(|v| v.render().into_owned()),
        Some(u128::MAX.to_string())
    );
    assert_eq!(attr("small"), Some(AttrValue::I64(-3)));
    assert_eq!(
        attr("tier").map(|v| v.render().into_owned()),
        Some("Gold".into())
    );
    assert_eq!(
        attr("grade").map(|v| v.render().into_owned()),
        Some("A".into())
    );
    assert_eq!(
        attr("digest").map(|v| v.render().into_owned()),
        Some("cafe".into())
    );
}

#[instrument_event(name = "macro.with_backtrace", err(backtrace))]
fn with_backtrace() -> Result<(), PaymentDeclined> {
    Err(PaymentDeclined)
}

#[test]
fn err_backtrace_records_the_services_own_frames_only() {
    let t = t();
    assert!(with_backtrace().is_err());
    t.force_flush().unwrap();
    let e = exporter()
        .events_named("exception")
        .into_iter()
        .find(|e| {
            e.attributes
                .iter()
                .any(|a| a.key == "code.function" && a.value.render() == "macro.with_backtrace")
        })
        .expect("the error event");
    let trace = e
        .attributes
        .iter()
        .find(|a| a.key == "exception.stacktrace")
        .map(|a| a.value.render().into_owned())
        .expect("a stack trace");
    assert!(trace.contains("behaviour::with_backtrace"), "{trace}");
    assert!(
        trace.contains("src/") || trace.contains("tests/"),
        "{trace}"
    );
    for line in trace.lines() {
        assert!(
            line.starts_with("behaviour::"),
            "a frame of another crate: {line}"
        );
    }
    assert!(
        !trace.contains("/root/") && !trace.contains("/home/"),
        "{trace}"
    );
}

#[derive(TelemetryEvent)]
#[telemetry(name = "macro.numeric_subject", category = business)]
struct NumericSubject {
    #[telemetry(subject)]
    user: u64,
    #[telemetry(public)]
    plan: &'static str,
}

#[instrument_event(name = "macro.numeric_subject_call", category = business, subject = user)]
fn numeric_subject_call(user: u64) -> u64 {
    user
}

#[test]
fn integer_subject_ids_are_the_same_subject_as_their_digits() {
    let t = t();
    t.consent().grant("4242", Category::BUSINESS).unwrap();
    t.emit(&NumericSubject {
        user: 4242,
        plan: "pro",
    });
    t.emit(&NumericSubject {
        user: 4243,
        plan: "free",
    }); // no consent: dropped
    assert_eq!(numeric_subject_call(4242), 4242);
    assert_eq!(numeric_subject_call(4243), 4243);
    t.force_flush().unwrap();
    let key = t.consent().subject_key("4242");
    let events = exporter().events_named("macro.numeric_subject");
    assert_eq!(events.len(), 1, "only the consented subject");
    assert_eq!(events[0].subject, Some(key));
    let calls: Vec<_> = exporter()
        .spans()
        .into_iter()
        .filter(|s| s.name == "macro.numeric_subject_call")
        .collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].subject, Some(key));
}

/// Looks a price up, with an objective.
#[instrument_event(
    name = "macro.with_objective",
    category = performance,
    objective(success = 99.9, latency_ms = 250, latency_percentile = 95)
)]
fn with_objective(fail: bool) -> Result<u32, PaymentDeclined> {
    if fail { Err(PaymentDeclined) } else { Ok(7) }
}

/// Only a success objective.
#[instrument_event(name = "macro.latency_default", objective(latency_ms = 100))]
fn latency_default() {}

#[test]
fn every_function_records_into_one_family_with_exemplars_and_objectives() {
    let t = t();
    assert!(with_objective(false).is_ok());
    assert!(with_objective(true).is_err());
    latency_default();
    t.force_flush().unwrap();
    let catalogue = Catalogue::collect();
    let f = catalogue.function("macro.with_objective").unwrap();
    let objective = f.objective.expect("declared objective");
    assert_eq!(objective.success, Some(99.9));
    assert_eq!(objective.latency_ms, Some(250.0));
    assert_eq!(objective.latency_percentile, Some(95.0));
    // latency_percentile defaults to 99 with a latency threshold.
    let d = catalogue
        .function("macro.latency_default")
        .unwrap()
        .objective
        .unwrap();
    assert_eq!(
        (d.success, d.latency_ms, d.latency_percentile),
        (None, Some(100.0), Some(99.0))
    );
    assert!(
        catalogue
            .to_markdown()
            .contains("objective: 99.9 % of calls succeed; 95 % of calls finish within 250 ms")
    );
    // One family, told apart by the `function` and `module` attributes.
    let module = module_path!();
    assert_eq!(
        exporter().sum_value(
            "function.calls",
            &[
                ("function", "macro.with_objective"),
                ("module", module),
                ("outcome", "ok")
            ]
        ),
        Some(1)
    );
    assert_eq!(
        exporter().sum_value(
            "function.calls",
            &[
                ("function", "macro.with_objective"),
                ("outcome", "error"),
                ("error.type", std::any::type_name::<PaymentDeclined>())
            ]
        ),
        Some(1)
    );
    // The duration's exemplar links to the call's recorded span.
    let spans: Vec<_> = exporter()
        .spans()
        .into_iter()
        .filter(|s| s.name == "macro.with_objective")
        .collect();
    assert_eq!(spans.len(), 2);
    for outcome in ["ok", "error"] {
        let point = exporter()
            .histogram_point(
                "function.duration",
                &[("function", "macro.with_objective"), ("outcome", outcome)],
            )
            .expect("a duration point");
        assert_eq!(point.exemplars.len(), 1, "{outcome}");
        let e = point.exemplars[0];
        assert!(
            spans
                .iter()
                .any(|s| s.trace_id == e.trace_id && s.span_id == e.span_id),
            "the exemplar names a span that was exported"
        );
        assert!(e.value >= 0.0 && e.value <= point.sum);
    }
}

struct Document;
struct Folder;

#[instrument_event]
impl Document {
    /// Gets a document.
    #[instrument_event]
    fn get(&self) -> u32 {
        1
    }

    /// Named by its own attribute.
    #[instrument_event(name = "macro.document_put", fields(n))]
    fn put(&self, n: u32) -> u32 {
        n
    }

    /// Not instrumented.
    fn plain(&self) -> u32 {
        3
    }
}

#[instrument_event]
impl Folder {
    /// Gets a folder.
    #[telemetry_core::instrument_event(category = performance)]
    fn get(&self) -> u32 {
        2
    }
}

#[test]
fn methods_in_an_annotated_impl_are_named_type_method() {
    let t = t();
    assert_eq!(
        Document.get() + Folder.get() + Document.put(4) + Document.plain(),
        10
    );
    t.force_flush().unwrap();
    let names: Vec<String> = exporter()
        .spans()
        .into_iter()
        .map(|s| s.name.into_owned())
        .collect();
    for name in ["Document::get", "Folder::get", "macro.document_put"] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
    let catalogue = Catalogue::collect();
    assert!(catalogue.function("Document::get").is_some());
    assert!(catalogue.function("Folder::get").is_some());
    assert!(catalogue.function("get").is_none());
    assert_eq!(
        exporter().sum_value(
            "function.calls",
            &[("function", "Folder::get"), ("outcome", "ok")]
        ),
        Some(1)
    );
}

/// Tags an order.
#[instrument_event(name = "macro.tag_order", fields(tags, sizes, attrs))]
fn tag_order(
    tags: &Vec<String>,
    sizes: [u32; 2],
    attrs: std::collections::BTreeMap<String, i64>,
) -> usize {
    tags.len() + sizes.len() + attrs.len()
}

/// An event with a list and a map.
#[derive(TelemetryEvent)]
#[telemetry(name = "macro.tagged", category = performance)]
struct Tagged {
    #[telemetry(public)]
    tags: Vec<String>,
    #[telemetry(public)]
    counts: std::collections::HashMap<String, u64>,
    #[telemetry(redact)]
    secrets: Vec<String>,
}

#[test]
fn sequences_and_maps_are_recorded_as_lists_and_maps() {
    let t = t();
    let mut attrs = std::collections::BTreeMap::new();
    attrs.insert("priority".to_owned(), 2i64);
    assert_eq!(tag_order(&vec!["gift".to_owned()], [1, 2], attrs), 4);
    t.emit(&Tagged {
        tags: vec!["a".into(), "b".into()],
        counts: [("x".to_owned(), 1u64)].into_iter().collect(),
        secrets: vec!["hunter2".into()],
    });
    t.force_flush().unwrap();
    let span = exporter()
        .spans()
        .into_iter()
        .find(|s| s.name == "macro.tag_order")
        .unwrap();
    let get =
        |attrs: &[Attribute], k: &str| attrs.iter().find(|a| a.key == k).map(|a| a.value.clone());
    assert_eq!(
        get(&span.attributes, "tags"),
        Some(AttrValue::Array(vec![AttrValue::from("gift")]))
    );
    assert_eq!(
        get(&span.attributes, "sizes"),
        Some(AttrValue::Array(vec![AttrValue::U64(1), AttrValue::U64(2)]))
    );
    assert_eq!(
        get(&span.attributes, "attrs"),
        Some(AttrValue::Map(vec![("priority".into(), AttrValue::I64(2))]))
    );
    let event = exporter().events_named("macro.tagged").pop().unwrap();
    assert_eq!(
        get(&event.attributes, "tags"),
        Some(AttrValue::Array(vec![
            AttrValue::from("a"),
            AttrValue::from("b")
        ]))
    );
    assert_eq!(get(&event.attributes, "secrets"), Some(AttrValue::Redacted));
    assert!(!exporter().exported_json().contains("hunter2"));
    let catalogue = Catalogue::collect();
    let f = catalogue.function("macro.tag_order").unwrap();
    assert_eq!(
        f.fields.iter().map(|f| f.ty).collect::<Vec<_>>(),
        [FieldType::List, FieldType::List, FieldType::Map]
    );
    let e = catalogue.event("macro.tagged").unwrap();
    assert_eq!(e.fields[0].ty, FieldType::List);
    assert_eq!(e.fields[1].ty, FieldType::Map);
}

/// A performance (exempt) call that returns a value: recorded for anyone,
/// but its return value only when the record may identify its subject.
#[instrument_event(name = "macro.quota_left", category = performance, ret)]
fn quota_left(used: u64) -> u64 {
    1000 - used
}

#[test]
fn a_return_value_is_left_out_of_an_anonymous_record() {
    let t = t();
    let before = t.drops().get(DropCause::Anonymized, Category::PERFORMANCE);
    {
        // dana granted nothing: performance is exempt, so her call is
        // recorded, anonymously, and its return value is left out.
        let _scope = t.subject("macro-dana");
        assert_eq!(quota_left(1), 999);
    }
    t.consent()
        .grant("macro-erin", Category::PERFORMANCE)
        .unwrap();
    {
        // erin granted performance: her record identifies her and keeps it.
        let _scope = t.subject("macro-erin");
        assert_eq!(quota_left(2), 998);
    }
    t.force_flush().unwrap();
    let spans: Vec<_> = exporter()
        .spans()
        .into_iter()
        .filter(|s| s.name == "macro.quota_left")
        .collect();
    assert_eq!(spans.len(), 2, "{spans:?}");
    let anonymous = spans.iter().find(|s| s.subject.is_none()).unwrap();
    assert!(!has_attr(&anonymous.attributes, "return"), "{anonymous:?}");
    let identified = spans.iter().find(|s| s.subject.is_some()).unwrap();
    assert!(
        identified
            .attributes
            .iter()
            .any(|a| a.key == "return" && a.value == AttrValue::U64(998)),
        "{identified:?}"
    );
    assert!(t.drops().get(DropCause::Anonymized, Category::PERFORMANCE) > before);
}
