//! The `tracing` layer: routes, consent before anything is built, field
//! classes, span trees shared with the library's own spans, suppression and
//! configuration errors. Each test installs its subscriber for its own
//! thread only.
#![cfg(feature = "tracing")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::data_logs;
use telemetry_core::export::*;
use telemetry_core::testing::InMemoryExporter;
use telemetry_core::tracing_layer::TracingLayer;
use telemetry_core::*;
use tracing::Level;
use tracing_subscriber::prelude::*;

fn attr<'a>(attrs: &'a [Attribute], key: &str) -> Option<&'a AttrValue> {
    attrs.iter().find(|a| a.key == key).map(|a| &a.value)
}

/// A value whose `Debug` counts how often it is formatted.
struct Counted(Arc<AtomicUsize>);

impl fmt::Debug for Counted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fetch_add(1, Ordering::SeqCst);
        f.write_str("counted")
    }
}

fn layer_for(t: &Telemetry) -> telemetry_core::tracing_layer::TracingLayerBuilder {
    TracingLayer::builder(t)
        .route("shop", Level::INFO, Category::BUSINESS)
        .route("shop", Level::ERROR, Category::ERRORS)
        .route("shop::db", Level::DEBUG, Category::PERFORMANCE)
        .field("message", FieldClass::Public)
        .field("order_id", FieldClass::Public)
        .field("email", FieldClass::Hashed)
        .field("card", FieldClass::Dropped)
}

fn with_layer<R>(t: &Telemetry, f: impl FnOnce() -> R) -> R {
    let layer = layer_for(t).build().unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, f)
}

fn with_exclusive_layer<R>(t: &Telemetry, f: impl FnOnce() -> R) -> R {
    let layer = layer_for(t).build_exclusive().unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, f)
}

#[test]
fn routes_decide_what_is_collected_and_as_which_category() {
    let (t, exp) = crate::common::setup();
    t.consent().grant("u1", Category::BUSINESS).unwrap();
    with_layer(&t, || {
        let _s = t.subject("u1");
        tracing::info!(target: "shop::cart", order_id = 7u64, "added to cart");
        tracing::error!(target: "shop::cart", "payment failed");
        tracing::debug!(target: "shop::cart", "too verbose for the shop route");
        tracing::debug!(target: "shop::db", "query done");
        tracing::info!(target: "shopping", "not inside shop");
        tracing::warn!(target: "elsewhere", "no route at all");
        tracing::info!(target: "hyper::client", "internal: never collected");
    });
    t.force_flush().unwrap();
    let logs = data_logs(&exp);
    let bodies: Vec<_> = logs
        .iter()
        .map(|l| l.body.as_deref().unwrap_or(""))
        .collect();
    assert_eq!(bodies, ["added to cart", "payment failed", "query done"]);
    assert_eq!(logs[0].category, Category::BUSINESS);
    assert_eq!(logs[0].severity, Severity::Info);
    assert_eq!(
        attr(&logs[0].attributes, "order_id"),
        Some(&AttrValue::U64(7))
    );
    assert_eq!(logs[1].category, Category::ERRORS);
    assert_eq!(logs[1].severity, Severity::Error);
    assert_eq!(logs[2].category, Category::PERFORMANCE);
    assert_eq!(logs[2].severity, Severity::Debug);
    // The business record identifies u1; the exempt ones are anonymous.
    assert_eq!(logs[0].subject, Some(t.consent().subject_key("u1")));
    assert!(logs[1..].iter().all(|l| l.subject.is_none()));
}

#[test]
fn denied_consent_drops_before_any_field_is_formatted() {
    for exclusive in [false, true] {
        let (t, exp) = crate::common::setup();
        let formatted = Arc::new(AtomicUsize::new(0));
        let run = || {
            // u2 never granted business (opt-in): nothing is built.
            let _s = t.subject("u2");
            tracing::info!(target: "shop", value = ?Counted(formatted.clone()), "denied");
            let span = tracing::info_span!(target: "shop", "denied.span", value = ?Counted(formatted.clone()));
            // Exclusive: not even `tracing` creates the span.
            assert_eq!(span.is_disabled(), exclusive);
            // Performance is exempt: recorded, and its field is read.
            tracing::debug!(target: "shop::db", order_id = ?Counted(formatted.clone()), "kept");
        };
        if exclusive {
            with_exclusive_layer(&t, run);
        } else {
            with_layer(&t, run);
        }
        t.force_flush().unwrap();
        assert_eq!(
            formatted.load(Ordering::SeqCst),
            1,
            "only the kept event's field"
        );
        assert_eq!(exp.logs().len(), 1);
        assert!(exp.spans().is_empty());
        assert_eq!(t.drops().get(DropCause::Consent, Category::BUSINESS), 2);
    }
}

#[test]
fn fields_are_classified_and_raw_values_never_leave() {
    let (t, exp) = crate::common::setup();
    // Errors are exempt: hashed values appear only for a subject who
    // granted the category explicitly.
    t.consent().grant("ada", Category::ERRORS).unwrap();
    with_layer(&t, || {
        let _s = t.subject("ada");
        tracing::error!(
            target: "shop",
            order_id = 9u64,
            email = "ada@example.com",
            card = "4111111111111111",
            unlisted = "secret-value",
            "checkout failed"
        );
    });
    t.force_flush().unwrap();
    let log = &exp.logs()[0];
    assert_eq!(log.body.as_deref(), Some("checkout failed"));
    assert_eq!(attr(&log.attributes, "order_id"), Some(&AttrValue::U64(9)));
    assert!(matches!(
        attr(&log.attributes, "email"),
        Some(AttrValue::Hashed(_))
    ));
    assert_eq!(attr(&log.attributes, "card"), None, "dropped");
    assert_eq!(
        attr(&log.attributes, "unlisted"),
        Some(&AttrValue::Redacted),
        "unlisted fields get the default class"
    );
    assert!(log.key_id.is_some(), "a hashed field names its key");
    let json = exp.exported_json();
    for raw in ["ada@example.com", "4111111111111111", "secret-value"] {
        assert!(!json.contains(raw), "{raw} leaked");
    }
}

#[test]
fn spans_nest_with_the_librarys_own_spans_and_events_carry_them() {
    let (t, exp) = crate::common::setup();
    with_layer(&t, || {
        let outer = tracing::info_span!(target: "shop::db", "db.transaction", order_id = 3u64);
        let _o = outer.enter();
        // The library's own span inside a `tracing` span is its child ...
        t.in_span("own.step", Category::PERFORMANCE, |_| {
            // ... and a `tracing` span inside it is the own span's child.
            let inner = tracing::debug_span!(target: "shop::db", "db.query", otel.kind = "client");
            let _i = inner.enter();
            tracing::debug!(target: "shop::db", "row fetched");
        });
    });
    t.force_flush().unwrap();
    let spans = exp.spans();
    let by_name = |n: &str| spans.iter().find(|s| s.name == n).unwrap().clone();
    let (outer, own, inner) = (
        by_name("db.transaction"),
        by_name("own.step"),
        by_name("db.query"),
    );
    assert_eq!(outer.parent_span_id, None);
    assert_eq!(own.parent_span_id, Some(outer.span_id));
    assert_eq!(inner.parent_span_id, Some(own.span_id));
    assert!(spans.iter().all(|s| s.trace_id == outer.trace_id));
    assert_eq!(inner.kind, SpanKind::Client);
    assert_eq!(
        attr(&outer.attributes, "order_id"),
        Some(&AttrValue::U64(3))
    );
    let log = &exp.logs()[0];
    let link = log.trace.as_ref().expect("the event is in a span");
    assert_eq!(
        (link.trace_id, link.span_id),
        (inner.trace_id, inner.span_id)
    );
    // Leaving the spans restores the context.
    assert_eq!(Context::current().span_context(), None);
}

#[test]
fn children_of_a_sampled_out_span_are_never_built() {
    let exp = InMemoryExporter::new();
    let t = crate::common::builder()
        .consent(crate::common::policy())
        .sampler(Sampler::per_category([(Category::PERFORMANCE, 0.0)]))
        .exporter(exp.clone())
        .build()
        .unwrap();
    let formatted = Arc::new(AtomicUsize::new(0));
    with_exclusive_layer(&t, || {
        let root = tracing::debug_span!(target: "shop::db", "root");
        let _r = root.enter();
        for _ in 0..10 {
            let child =
                tracing::debug_span!(target: "shop::db", "child", v = ?Counted(formatted.clone()));
            assert!(child.is_disabled());
        }
    });
    t.force_flush().unwrap();
    assert!(exp.spans().is_empty());
    assert_eq!(formatted.load(Ordering::SeqCst), 0);
    assert_eq!(
        t.drops().get(DropCause::Sampling, Category::PERFORMANCE),
        11
    );
}

#[test]
fn suppressed_threads_are_never_collected() {
    let (t, exp) = crate::common::setup();
    with_layer(&t, || {
        let _quiet = Context::suppress();
        assert!(Context::is_suppressed());
        tracing::error!(target: "shop", "inside an exporter");
    });
    assert!(!Context::is_suppressed());
    t.force_flush().unwrap();
    assert!(exp.logs().is_empty());
}

#[test]
fn explicit_parents_and_late_fields_are_followed() {
    let (t, exp) = crate::common::setup();
    with_layer(&t, || {
        let parent =
            tracing::debug_span!(target: "shop::db", "parent", order_id = tracing::field::Empty);
        parent.record("order_id", 11u64);
        // Created outside the parent, attached to it explicitly.
        let child = tracing::debug_span!(target: "shop::db", parent: &parent, "child");
        drop(child);
        tracing::debug!(target: "shop::db", parent: &parent, "explicit");
        tracing::debug!(target: "shop::db", parent: None, "root event");
    });
    t.force_flush().unwrap();
    let spans = exp.spans();
    let parent = spans.iter().find(|s| s.name == "parent").unwrap();
    let child = spans.iter().find(|s| s.name == "child").unwrap();
    assert_eq!(child.parent_span_id, Some(parent.span_id));
    assert_eq!(
        attr(&parent.attributes, "order_id"),
        Some(&AttrValue::U64(11))
    );
    let logs = exp.logs();
    assert_eq!(logs[0].trace.as_ref().unwrap().span_id, parent.span_id);
    assert!(logs[1].trace.is_none());
}

#[test]
fn bad_configuration_is_a_clear_error() {
    type S = tracing_subscriber::Registry;
    let (t, _exp) = crate::common::setup();
    let cases: Vec<(telemetry_core::tracing_layer::TracingLayerBuilder, &str)> = vec![
        (TracingLayer::builder(&t), "no routes"),
        (
            TracingLayer::builder(&t).route("hyper", Level::INFO, Category::PERFORMANCE),
            "feed back",
        ),
        (
            TracingLayer::builder(&t).route("tonic::transport", Level::INFO, Category::PERFORMANCE),
            "feed back",
        ),
        (
            TracingLayer::builder(&t).route("shop::", Level::INFO, Category::PERFORMANCE),
            "not a module path",
        ),
        (
            TracingLayer::builder(&t).route("shop", Level::INFO, Category::TELEMETRY),
            "reserved",
        ),
        (
            TracingLayer::builder(&t)
                .route("shop", Level::INFO, Category::BUSINESS)
                .route("shop", Level::INFO, Category::PERFORMANCE),
            "given twice",
        ),
        (
            TracingLayer::builder(&t)
                .route("shop", Level::INFO, Category::BUSINESS)
                .field("email", FieldClass::Public)
                .field("email", FieldClass::Hashed),
            "classified twice",
        ),
    ];
    for (builder, expected) in cases {
        let Err(err) = builder.build::<S>() else {
            panic!("accepted, expected an error: {expected}");
        };
        assert_eq!(err.kind(), ConfigErrorKind::InvalidRoute);
        assert!(
            err.message().contains(expected),
            "{expected}: {}",
            err.message()
        );
    }
}

#[test]
fn otel_status_fields_set_the_status_but_a_private_message_stays_private() {
    let (t, exp) = crate::common::setup();
    with_layer(&t, || {
        let span = tracing::debug_span!(
            target: "shop::db",
            "failing",
            otel.kind = "server",
            otel.status_code = "ERROR",
            otel.status_message = "lookup for ada@example.com failed"
        );
        drop(span);
    });
    t.force_flush().unwrap();
    let span = &exp.spans()[0];
    assert_eq!(
        span.kind,
        SpanKind::Server,
        "kind is read whatever its class"
    );
    assert_eq!(
        span.status,
        SpanStatus::Error {
            description: "error".into()
        }
    );
    assert!(!exp.exported_json().contains("ada@example.com"));
}

#[test]
fn an_unclassified_message_is_redacted_so_interpolated_values_never_leave() {
    let (t, exp) = crate::common::setup();
    t.consent().grant("ada", Category::BUSINESS).unwrap();
    // The default: `message` is not classified (unlike `layer_for`, which
    // makes it public for the other tests).
    let layer = TracingLayer::builder(&t)
        .route("shop", Level::INFO, Category::BUSINESS)
        .field("order_id", FieldClass::Public)
        .build()
        .unwrap();
    let email = "ada@example.com";
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let _s = t.subject("ada");
        tracing::info!(target: "shop", order_id = 5u64, "login {}", email);
    });
    t.force_flush().unwrap();
    let logs = data_logs(&exp);
    assert_eq!(logs.len(), 1, "the consented event is recorded");
    let log = &logs[0];
    assert_eq!(log.category, Category::BUSINESS);
    assert_eq!(log.subject, Some(t.consent().subject_key("ada")));
    assert_eq!(log.body, None, "a message that is not public is no body");
    assert_eq!(
        attr(&log.attributes, "message"),
        Some(&AttrValue::Redacted),
        "the message keeps its name, never its value"
    );
    assert_eq!(attr(&log.attributes, "order_id"), Some(&AttrValue::U64(5)));
    let json = exp.exported_json();
    assert!(!json.contains(email), "the interpolated email leaked");
    assert!(!json.contains("login"), "the message text leaked");
}
