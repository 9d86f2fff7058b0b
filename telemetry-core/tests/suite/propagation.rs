//! Propagation between two in-process services over real `http::HeaderMap`s:
//! the trace continues, the sampling probability and decision travel, the
//! upstream consent narrows (never widens) the downstream, and bad headers
//! are ignored and counted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use http::{HeaderMap, HeaderValue};
use telemetry_core::propagation::{BAGGAGE, TRACEPARENT, TRACESTATE};
use telemetry_core::testing::InMemoryExporter;
use telemetry_core::*;
use telemetry_http::HeaderPropagation;

/// Interaction is opt-out (allowed unless revoked), business opt-in.
fn service(sampler: Sampler) -> (Telemetry, InMemoryExporter) {
    let exp = InMemoryExporter::new();
    let t = crate::common::builder()
        .consent(
            ConsentPolicy::opt_in()
                .require_opt_out(Category::INTERACTION)
                .require(Category::BUSINESS)
                .exempt(Category::PERFORMANCE)
                .exempt(Category::ERRORS),
        )
        .sampler(sampler)
        .exporter(exp.clone())
        .build()
        .unwrap();
    (t, exp)
}

/// Runs `f` in the downstream context made from `headers` for `user`.
fn downstream<R>(t: &Telemetry, headers: &HeaderMap, user: &str, f: impl FnOnce() -> R) -> R {
    let incoming = t.extract_headers(headers);
    let _g = incoming.apply(t.subject_context(user)).attach();
    f()
}

fn interaction_events(exp: &InMemoryExporter) -> usize {
    exp.logs()
        .iter()
        .filter(|l| l.category == Category::INTERACTION)
        .count()
}

#[test]
fn a_trace_continues_across_services() {
    let (a, a_exp) = service(Sampler::always());
    let (b, b_exp) = service(Sampler::always());
    let mut headers = HeaderMap::new();
    {
        let span = a.span("frontend.request", Category::PERFORMANCE);
        let _e = span.enter();
        a.inject_headers(&mut headers);
    }
    downstream(&b, &headers, "u1", || {
        b.in_span("backend.handle", Category::PERFORMANCE, |_| {});
    });
    a.force_flush().unwrap();
    b.force_flush().unwrap();
    let up = &a_exp.spans()[0];
    let down = &b_exp.spans()[0];
    assert_eq!(down.trace_id, up.trace_id);
    assert_eq!(down.parent_span_id, Some(up.span_id));
    assert!(down.parent_remote);
    assert_eq!(
        headers[TRACEPARENT].to_str().unwrap(),
        format!("00-{}-{}-01", up.trace_id, up.span_id)
    );
}

#[test]
fn the_sampling_decision_and_probability_travel() {
    let (a, _a_exp) = service(Sampler::per_category([(Category::PERFORMANCE, 0.25)]));
    let (b, b_exp) = service(Sampler::always());
    let (mut kept, mut dropped) = (0, 0);
    for _ in 0..400 {
        let mut headers = HeaderMap::new();
        let span = a.span("frontend.request", Category::PERFORMANCE);
        let sampled = span.context().unwrap().sampled;
        {
            let _e = span.enter();
            a.inject_headers(&mut headers);
        }
        let before = b_exp.spans().len();
        b.force_flush().unwrap();
        downstream(&b, &headers, "u1", || {
            b.in_span("backend.handle", Category::PERFORMANCE, |_| {});
        });
        b.force_flush().unwrap();
        let recorded = b_exp.spans().len() > before;
        assert_eq!(
            recorded, sampled,
            "downstream follows the upstream decision"
        );
        if sampled {
            kept += 1;
            assert_eq!(
                headers[TRACESTATE].to_str().unwrap(),
                "ot=th:c",
                "threshold for p = 0.25"
            );
            let last = b_exp.spans().pop().unwrap();
            assert_eq!(last.probability, 0.25, "downstream records p");
        } else {
            dropped += 1;
        }
    }
    assert!(kept > 50 && dropped > 200, "kept {kept}, dropped {dropped}");
}

#[test]
fn upstream_revocation_narrows_the_downstream() {
    let (a, _) = service(Sampler::always());
    let (b, b_exp) = service(Sampler::always());
    a.consent().revoke("alice", Category::INTERACTION).unwrap();
    let headers_for = |user: &str| {
        let _s = a.subject(user);
        let mut h = HeaderMap::new();
        a.inject_headers(&mut h);
        h
    };
    let alice = headers_for("alice");
    let bob = headers_for("bob");
    assert!(!alice[BAGGAGE].to_str().unwrap().contains("interaction"));
    assert!(bob[BAGGAGE].to_str().unwrap().contains("interaction"));
    for (headers, user) in [(&alice, "alice"), (&bob, "bob")] {
        downstream(&b, headers, user, || {
            b.event("page.viewed", Category::INTERACTION).emit();
            b.event("page.timing", Category::PERFORMANCE).emit();
        });
    }
    b.force_flush().unwrap();
    // B never heard of alice's revocation, yet honours it; bob is recorded.
    assert_eq!(interaction_events(&b_exp), 1);
    assert_eq!(b_exp.events_named("page.timing").len(), 2);
    assert_eq!(b.drops().get(DropCause::Consent, Category::INTERACTION), 1);
    // Narrowing carries on to the next hop.
    let mut next = HeaderMap::new();
    downstream(&b, &alice, "alice", || b.inject_headers(&mut next));
    assert!(!next[BAGGAGE].to_str().unwrap().contains("interaction"));
}

#[test]
fn upstream_consent_never_widens_the_downstream() {
    let (a, _) = service(Sampler::always());
    let (b, b_exp) = service(Sampler::always());
    // alice granted business upstream only; B's own policy needs a grant.
    a.consent().grant("alice", Category::BUSINESS).unwrap();
    let mut headers = HeaderMap::new();
    {
        let _s = a.subject("alice");
        a.inject_headers(&mut headers);
    }
    assert!(headers[BAGGAGE].to_str().unwrap().contains("business"));
    // A forged header that claims everything widens nothing either.
    let mut forged = HeaderMap::new();
    forged.insert(
        BAGGAGE,
        HeaderValue::from_static("telemetry.consent=business|interaction|performance"),
    );
    for h in [&headers, &forged] {
        downstream(&b, h, "alice", || {
            b.event("order.placed", Category::BUSINESS).emit();
        });
    }
    b.force_flush().unwrap();
    assert!(b_exp.events_named("order.placed").is_empty());
}

#[test]
fn bad_headers_are_ignored_and_counted() {
    let (b, b_exp) = service(Sampler::always());
    let cases: Vec<(&str, String)> = vec![
        (TRACEPARENT, "00-zz".into()),
        (TRACEPARENT, format!("00-{}", "a".repeat(600))),
        (TRACESTATE, "Bad Key=1".into()),
        (BAGGAGE, "telemetry.consent".into()),
        (BAGGAGE, format!("k={}", "v".repeat(9000))),
    ];
    let good_parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    for (name, value) in &cases {
        let mut h = HeaderMap::new();
        if *name == TRACESTATE {
            h.insert(TRACEPARENT, HeaderValue::from_static(good_parent));
        }
        h.insert(*name, HeaderValue::from_str(value).unwrap());
        let incoming = b.extract_headers(&h);
        if *name == TRACEPARENT {
            assert!(incoming.span_context().is_none(), "{value}");
        }
        assert!(incoming.tracestate().is_none());
        if *name == BAGGAGE {
            // Unreadable consent fails closed: nothing is allowed.
            assert_eq!(incoming.upstream_consent(), Some(CategorySet::EMPTY));
        } else {
            assert!(incoming.upstream_consent().is_none());
        }
    }
    // Two traceparent headers: neither is trusted.
    let mut two = HeaderMap::new();
    two.append(TRACEPARENT, HeaderValue::from_static(good_parent));
    two.append(
        TRACEPARENT,
        HeaderValue::from_static("00-11111111111111111111111111111111-2222222222222222-01"),
    );
    assert!(b.extract_headers(&two).span_context().is_none());
    // An unreadable consent member fails closed: interaction, allowed by the
    // local (opt-out) policy, is not recorded for this request ...
    let mut bad = HeaderMap::new();
    bad.insert(BAGGAGE, HeaderValue::from_static("telemetry.consent=a b"));
    downstream(&b, &bad, "carol", || {
        b.event("page.viewed", Category::INTERACTION).emit();
    });
    // ... while a bad unrelated member leaves a good consent member in force.
    let mut noisy = HeaderMap::new();
    noisy.insert(
        BAGGAGE,
        HeaderValue::from_static("note=a b,telemetry.consent=interaction"),
    );
    downstream(&b, &noisy, "carol", || {
        b.event("page.viewed", Category::INTERACTION).emit();
        b.event("page.timing", Category::PERFORMANCE).emit();
    });
    b.force_flush().unwrap();
    assert_eq!(interaction_events(&b_exp), 1);
    assert_eq!(
        b_exp.events_named("page.timing").len(),
        1,
        "an exempt category is never withheld by a caller"
    );
    let count = |header: &str, reason: &str| {
        b_exp
            .sum_value(
                "telemetry.propagation.rejected",
                &[("header", header), ("reason", reason)],
            )
            .unwrap_or(0)
    };
    assert_eq!(count("traceparent", "malformed"), 2);
    assert_eq!(count("traceparent", "oversized"), 1);
    assert_eq!(count("tracestate", "malformed"), 1);
    assert_eq!(count("baggage", "malformed"), 3);
    assert_eq!(count("baggage", "oversized"), 1);
}

#[test]
fn no_consent_member_without_a_subject_and_other_baggage_is_kept() {
    let (a, _) = service(Sampler::always());
    let mut h = HeaderMap::new();
    h.insert(BAGGAGE, HeaderValue::from_static("tenant=acme"));
    a.inject_headers(&mut h);
    assert_eq!(h[BAGGAGE], "tenant=acme", "no subject: nothing added");
    {
        let _s = a.subject("dave");
        a.inject_headers(&mut h);
    }
    let baggage = h[BAGGAGE].to_str().unwrap();
    assert!(
        baggage.starts_with("tenant=acme,telemetry.consent="),
        "{baggage}"
    );
    assert!(!baggage.contains("dave"), "the subject never travels");
}

#[test]
fn exempt_categories_are_never_withheld_by_a_caller() {
    let (b, b_exp) = service(Sampler::always());
    // Consent `-` (nothing), a malformed member (fails closed to nothing),
    // and oversized baggage: each withholds the required categories only.
    let oversized = format!("k={}", "v".repeat(9000));
    for baggage in [
        "telemetry.consent=-",
        "telemetry.consent=a b",
        oversized.as_str(),
    ] {
        let mut h = HeaderMap::new();
        h.insert(BAGGAGE, HeaderValue::from_str(baggage).unwrap());
        downstream(&b, &h, "erin", || {
            b.event("page.viewed", Category::INTERACTION).emit();
            b.event("checkout.failed", Category::ERRORS).emit();
            b.event("page.timing", Category::PERFORMANCE).emit();
        });
    }
    b.force_flush().unwrap();
    assert_eq!(
        interaction_events(&b_exp),
        0,
        "required categories narrowed"
    );
    assert_eq!(b_exp.events_named("checkout.failed").len(), 3);
    assert_eq!(b_exp.events_named("page.timing").len(), 3);
}

#[test]
fn untrusted_callers_start_their_own_trace_under_local_consent() {
    let (b, b_exp) = service(Sampler::per_category([(Category::PERFORMANCE, 0.0)]));
    let mut h = HeaderMap::new();
    let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    h.insert(TRACEPARENT, HeaderValue::from_static(parent));
    // A caller claims a tiny probability and withholds interaction.
    h.insert(TRACESTATE, HeaderValue::from_static("ot=th:ffffffffffffff"));
    h.insert(BAGGAGE, HeaderValue::from_static("telemetry.consent=-"));
    let incoming = b.extract_headers(&h);
    assert!(incoming.span_context().is_some(), "read, but not believed");
    let untrusted = incoming.untrusted();
    assert!(untrusted.span_context().is_none());
    assert!(untrusted.tracestate().is_none());
    assert!(untrusted.upstream_consent().is_none());
    {
        let _g = untrusted.apply(b.subject_context("frank")).attach();
        // The caller's "sampled" flag does not force recording: this
        // service's sampler (0 for performance) decides.
        b.in_span("backend.handle", Category::PERFORMANCE, |_| {});
        // Its consent member does not narrow: interaction is opt-out here.
        b.event("page.viewed", Category::INTERACTION).emit();
    }
    b.force_flush().unwrap();
    assert!(
        b_exp.spans().is_empty(),
        "sampled by this service, not the caller"
    );
    assert_eq!(interaction_events(&b_exp), 1);
    // A trusted caller's tiny probability is kept finite.
    let (c, c_exp) = service(Sampler::always());
    downstream(&c, &h, "frank", || {
        c.in_span("backend.handle", Category::PERFORMANCE, |_| {});
    });
    c.force_flush().unwrap();
    let p = c_exp.spans()[0].probability;
    assert!(p > 0.0 && (1.0 / p).is_finite(), "{p}");
}

#[test]
fn opt_out_policies_propagate_only_categories_a_peer_can_name() {
    // Under opt-out every bit is allowed, the two reserved ones included:
    // formatting the context and injecting it must neither panic nor send
    // them.
    let exp = InMemoryExporter::new();
    let t = crate::common::builder()
        .consent(ConsentPolicy::opt_out().exempt(Category::PERFORMANCE))
        .category(Category::custom(2), "fraud")
        .exporter(exp)
        .build()
        .unwrap();
    let _s = t.subject("gina");
    let debug = format!("{:?}", Context::current());
    assert!(debug.contains("Context"), "{debug}");
    let mut h = HeaderMap::new();
    t.inject_headers(&mut h);
    let baggage = h[BAGGAGE].to_str().unwrap();
    assert!(!baggage.contains("reserved"), "{baggage}");
    assert!(
        !baggage.contains("custom-"),
        "unnamed categories stay home: {baggage}"
    );
    assert!(baggage.contains("fraud"), "{baggage}");
    // What we send, we read back.
    let back = t.extract_headers(&h).upstream_consent().unwrap();
    assert!(back.contains(Category::custom(2)) && back.contains(Category::BUSINESS));
}
