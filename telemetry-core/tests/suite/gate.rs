//! The one admission gate, tested across every record path and every reason
//! to refuse: each path drops the record for the same cause, and counts it,
//! or (where a reason does not apply to a path) keeps it, as the table says.
#![cfg(feature = "tracing")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use telemetry_core::propagation::BAGGAGE;
use telemetry_core::testing::InMemoryExporter;
use telemetry_core::tracing_layer::TracingLayer;
use telemetry_core::*;
use telemetry_http::HeaderPropagation;
use tracing_subscriber::prelude::*;

/// The record paths.
#[derive(Copy, Clone, Debug)]
enum Path {
    /// A typed event; the scope gives its subject.
    TypedEvent,
    /// A typed event naming its subject in a field.
    TypedEventWithSubject,
    AdHocEvent,
    Span,
    /// An instrumented call; the scope gives its subject.
    MacroCall,
    /// An instrumented call whose argument names its subject.
    MacroCallWithSubject,
    /// A `tracing` event through the layer.
    TracingLayer,
    /// A `tracing` span through the layer.
    TracingSpan,
    Measurement,
    /// The consent sent on to the next hop.
    Propagation,
    /// An event recorded in the context an incoming request's headers
    /// give (consent that allows business, applied to the scope).
    IncomingPropagation,
}

const PATHS: [Path; 11] = [
    Path::TypedEvent,
    Path::TypedEventWithSubject,
    Path::AdHocEvent,
    Path::Span,
    Path::MacroCall,
    Path::MacroCallWithSubject,
    Path::TracingLayer,
    Path::TracingSpan,
    Path::Measurement,
    Path::Propagation,
    Path::IncomingPropagation,
];

/// The reasons to refuse (and the baseline, which refuses nothing).
#[derive(Copy, Clone, Debug, PartialEq)]
enum Reason {
    Admitted,
    SdkDisabled,
    DoNotTrack,
    NoConsent,
    Revoked,
    NarrowedUpstream,
    SampledOut,
    RateLimited,
}

const REASONS: [Reason; 8] = [
    Reason::Admitted,
    Reason::SdkDisabled,
    Reason::DoNotTrack,
    Reason::NoConsent,
    Reason::Revoked,
    Reason::NarrowedUpstream,
    Reason::SampledOut,
    Reason::RateLimited,
];

/// What the table expects of a path under a reason.
#[derive(Copy, Clone, Debug, PartialEq)]
enum Expect {
    /// The record arrives.
    Kept,
    /// The record is dropped and counted under this cause.
    Dropped(DropCause),
}

fn expect(path: Path, reason: Reason) -> Expect {
    use Expect::*;
    match (reason, path) {
        (Reason::Admitted, _) => Kept,
        // Propagation carries consent, not whether this process records,
        // samples or limits: the next hop decides those itself.
        (Reason::SdkDisabled | Reason::SampledOut | Reason::RateLimited, Path::Propagation) => Kept,
        // Measurements are aggregated, never sampled or rate limited.
        (Reason::SampledOut | Reason::RateLimited, Path::Measurement) => Kept,
        (Reason::SdkDisabled, _) => Dropped(DropCause::Disabled),
        (
            Reason::DoNotTrack | Reason::NoConsent | Reason::Revoked | Reason::NarrowedUpstream,
            _,
        ) => Dropped(DropCause::Consent),
        (Reason::SampledOut, _) => Dropped(DropCause::Sampling),
        (Reason::RateLimited, _) => Dropped(DropCause::RateLimit),
    }
}

/// A business event with a subject field left empty (the scope decides).
#[derive(TelemetryEvent)]
#[telemetry(name = "gate.typed", category = business)]
struct Typed {
    #[telemetry(public)]
    n: u64,
}

/// The same, naming its subject.
#[derive(TelemetryEvent)]
#[telemetry(name = "gate.typed_subject", category = business)]
struct TypedWithSubject<'a> {
    #[telemetry(subject)]
    user: &'a str,
    #[telemetry(public)]
    n: u64,
}

#[instrument_event(name = "gate.call", category = business)]
fn call() -> u64 {
    7
}

#[instrument_event(name = "gate.call_subject", category = business, subject = user)]
fn call_for(user: &str) -> usize {
    user.len()
}

/// Runs `f` with the layer (business from target `gate`) as the
/// thread's subscriber.
fn with_layer(t: &Telemetry, f: impl FnOnce()) {
    let layer = TracingLayer::builder(t)
        .route("gate", tracing::Level::INFO, Category::BUSINESS)
        .field("message", FieldClass::Public)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
}

fn instance(reason: Reason) -> (Telemetry, InMemoryExporter) {
    let mut env = Vec::new();
    match reason {
        Reason::SdkDisabled => env.push(("OTEL_SDK_DISABLED", "true")),
        Reason::DoNotTrack => env.push(("DO_NOT_TRACK", "1")),
        _ => {}
    }
    let sampler = match reason {
        Reason::SampledOut => Sampler::per_category([(Category::BUSINESS, 0.0)]),
        Reason::RateLimited => Sampler::always().rate_limit(Category::BUSINESS, 1),
        _ => Sampler::always(),
    }
    .sample_errors();
    let exporter = InMemoryExporter::new();
    let t = Telemetry::builder()
        .service("gate-tests", "1")
        .env(Environment::from_pairs(env))
        .consent(crate::common::policy())
        .sampler(sampler)
        .hash_key(KeyId(1), crate::common::KEY)
        .flush_interval(Duration::from_secs(3600))
        .metric_interval(Duration::from_secs(3600))
        .exporter(exporter.clone())
        .build()
        .unwrap();
    if reason != Reason::NoConsent {
        t.consent().grant("sam", Category::BUSINESS).unwrap();
    }
    if reason == Reason::Revoked {
        t.consent().revoke("sam", Category::BUSINESS).unwrap();
    }
    (t, exporter)
}

/// The context the record is made in: sam's scope, narrowed by an upstream
/// that allowed performance only under `NarrowedUpstream`.
fn context(t: &Telemetry, reason: Reason) -> Context {
    let ctx = t.subject_context("sam");
    if reason == Reason::NarrowedUpstream {
        let mut headers = HeaderMap::new();
        headers.insert(
            BAGGAGE,
            HeaderValue::from_static("telemetry.consent=performance"),
        );
        return t.extract_headers(&headers).apply(ctx);
    }
    ctx
}

/// Makes one record on `path`; for propagation, returns whether the
/// consent member sent on names business.
fn record(t: &Telemetry, path: Path, counter: &Counter) -> Option<bool> {
    match path {
        Path::TypedEvent => t.emit(&Typed { n: 1 }),
        Path::AdHocEvent => t.event("gate.adhoc", Category::BUSINESS).emit(),
        Path::Span => t.in_span("gate.span", Category::BUSINESS, |_| {}),
        Path::MacroCall => {
            let _default = t.set_default();
            assert_eq!(call(), 7);
        }
        Path::TypedEventWithSubject => t.emit(&TypedWithSubject { user: "sam", n: 1 }),
        Path::MacroCallWithSubject => {
            let _default = t.set_default();
            assert_eq!(call_for("sam"), 3);
        }
        Path::TracingLayer => {
            with_layer(t, || tracing::info!(target: "gate", "gate.tracing"));
        }
        Path::TracingSpan => {
            with_layer(t, || {
                tracing::info_span!(target: "gate", "gate.tracing_span").in_scope(|| {});
            });
        }
        Path::IncomingPropagation => {
            let mut headers = HeaderMap::new();
            headers.insert(
                BAGGAGE,
                HeaderValue::from_static("telemetry.consent=business,performance"),
            );
            let ctx = t.extract_headers(&headers).apply(Context::current());
            let _g = ctx.attach();
            t.event("gate.incoming", Category::BUSINESS).emit();
        }
        Path::Measurement => counter.add(1, &[]),
        Path::Propagation => {
            let mut headers = HeaderMap::new();
            t.inject_headers(&mut headers);
            let allowed = t.extract_headers(&headers).upstream_consent();
            return Some(allowed.is_some_and(|c| c.contains(Category::BUSINESS)));
        }
    }
    None
}

/// How many of the path's records arrived.
fn arrived(exp: &InMemoryExporter, path: Path) -> u64 {
    match path {
        Path::TypedEvent => exp.events_named("gate.typed").len() as u64,
        Path::TypedEventWithSubject => exp.events_named("gate.typed_subject").len() as u64,
        Path::AdHocEvent => exp.events_named("gate.adhoc").len() as u64,
        Path::IncomingPropagation => exp.events_named("gate.incoming").len() as u64,
        Path::Span => exp.spans().iter().filter(|s| s.name == "gate.span").count() as u64,
        Path::MacroCall => exp.spans().iter().filter(|s| s.name == "gate.call").count() as u64,
        Path::MacroCallWithSubject => exp
            .spans()
            .iter()
            .filter(|s| s.name == "gate.call_subject")
            .count() as u64,
        Path::TracingSpan => exp
            .spans()
            .iter()
            .filter(|s| s.name == "gate.tracing_span")
            .count() as u64,
        Path::TracingLayer => exp
            .logs()
            .iter()
            .filter(|l| l.body.as_deref() == Some("gate.tracing"))
            .count() as u64,
        Path::Measurement => exp.sum_value("gate.count", &[]).unwrap_or(0) as u64,
        Path::Propagation => 0,
    }
}

#[test]
fn every_path_refuses_for_the_same_reasons_and_counts_them() {
    let mut failures = Vec::new();
    for reason in REASONS {
        for path in PATHS {
            let (t, exp) = instance(reason);
            let counter = t.counter("gate.count", Category::BUSINESS).build().unwrap();
            // Twice: the rate limit lets the first record through.
            let mut sent = Vec::new();
            {
                let _g = context(&t, reason).attach();
                for _ in 0..2 {
                    sent.push(record(&t, path, &counter));
                }
            }
            let _ = t.force_flush();
            let want = expect(path, reason);
            let got = match path {
                Path::Propagation => {
                    if sent.iter().all(|s| *s == Some(true)) {
                        Expect::Kept
                    } else {
                        Expect::Dropped(DropCause::Consent)
                    }
                }
                _ => {
                    let n = arrived(&exp, path);
                    // Of two records: both kept, or none (the rate limit
                    // keeps the first).
                    let left_when_dropped = u64::from(reason == Reason::RateLimited);
                    match want {
                        Expect::Kept if n == 2 => Expect::Kept,
                        Expect::Dropped(cause)
                            if n == left_when_dropped
                                && t.drops().get(cause, Category::BUSINESS) > 0 =>
                        {
                            Expect::Dropped(cause)
                        }
                        _ => {
                            failures.push(format!(
                                "{path:?} / {reason:?}: {n} arrived, drops {:?}",
                                t.drops()
                            ));
                            continue;
                        }
                    }
                }
            };
            if got != want {
                failures.push(format!("{path:?} / {reason:?}: got {got:?}, want {want:?}"));
            }
            t.shutdown(Duration::from_secs(5));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
