//! Spans and trace context: parents, W3C traceparent, status, attributes,
//! sampling (deterministic, parent-based, inclusion probability), events
//! correlated with spans, and context across threads and `.await`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use crate::common::*;
use telemetry_core::export::*;
use telemetry_core::testing::InMemoryExporter;
use telemetry_core::trace::*;
use telemetry_core::*;

#[test]
fn nested_spans_share_the_trace_and_link_parents() {
    let (t, exp) = setup();
    t.in_span("root", Category::PERFORMANCE, |root| {
        root.set_attribute("http.route", "/checkout");
        t.in_span("child", Category::PERFORMANCE, |child| {
            child.set_attribute("items", 3u64);
            t.in_span("grandchild", Category::PERFORMANCE, |_| {});
        });
    });
    t.force_flush().unwrap();
    let spans = exp.spans();
    let by = |n: &str| spans.iter().find(|s| s.name == n).unwrap().clone();
    let (root, child, grand) = (by("root"), by("child"), by("grandchild"));
    assert_eq!(root.parent_span_id, None);
    assert_eq!(child.parent_span_id, Some(root.span_id));
    assert_eq!(grand.parent_span_id, Some(child.span_id));
    assert!(root.trace_id == child.trace_id && child.trace_id == grand.trace_id);
    assert!(root.start <= child.start && child.end <= root.end);
    assert_eq!(
        span_attr(&root, "http.route"),
        Some(&AttrValue::from("/checkout"))
    );
    assert_eq!(span_attr(&child, "items"), Some(&AttrValue::U64(3)));
    assert_eq!(root.probability, 1.0);
}

#[test]
fn events_inside_a_span_carry_its_trace_and_span_id() {
    let (t, exp) = setup();
    let span = t.span("op", Category::PERFORMANCE);
    let ctx = span.context().unwrap();
    {
        let _e = span.enter();
        t.event("perf.step", Category::PERFORMANCE).emit();
    }
    drop(span);
    t.event("perf.outside", Category::PERFORMANCE).emit();
    t.force_flush().unwrap();
    let inside = &exp.events_named("perf.step")[0];
    let link = inside.trace.unwrap();
    assert_eq!((link.trace_id, link.span_id), (ctx.trace_id, ctx.span_id));
    assert!(exp.events_named("perf.outside")[0].trace.is_none());
}

#[test]
fn error_results_set_the_span_status() {
    #[derive(Debug)]
    struct PaymentDeclined;
    let (t, exp) = setup();
    t.in_span("pay", Category::PERFORMANCE, |s| {
        let r: Result<(), PaymentDeclined> = Err(PaymentDeclined);
        s.record_result(&r);
    });
    t.in_span("ok", Category::PERFORMANCE, |s| {
        s.record_result(&Ok::<u8, PaymentDeclined>(1))
    });
    t.force_flush().unwrap();
    let spans = exp.spans();
    let pay = spans.iter().find(|s| s.name == "pay").unwrap();
    match &pay.status {
        SpanStatus::Error { description } => {
            assert!(description.ends_with("PaymentDeclined"), "{description}")
        }
        other => panic!("unexpected status {other:?}"),
    }
    assert_eq!(
        spans.iter().find(|s| s.name == "ok").unwrap().status,
        SpanStatus::Unset
    );
}

#[test]
fn span_attributes_obey_field_classes_and_span_events_are_kept() {
    let (t, exp) = setup();
    // Performance is exempt: its records identify a subject (with hashed
    // values) only where the subject granted it explicitly.
    t.consent().grant("zoe", Category::PERFORMANCE).unwrap();
    let _s = t.subject("zoe");
    t.in_span("login", Category::PERFORMANCE, |s| {
        s.record("user.email", FieldClass::Hashed, "zoe@example.com");
        s.record("password", FieldClass::Redacted, "hunter2");
        s.record("token", FieldClass::Dropped, "tok_secret");
        s.add_event("cache.miss", &[("key_len", Value::U64(12))]);
    });
    t.force_flush().unwrap();
    let span = &exp.spans()[0];
    assert!(matches!(
        span_attr(span, "user.email"),
        Some(AttrValue::Hashed(_))
    ));
    assert_eq!(span_attr(span, "password"), Some(&AttrValue::Redacted));
    assert_eq!(span_attr(span, "token"), None);
    assert_eq!(span.key_id, Some(KeyId(1)));
    assert_eq!(span.events.len(), 1);
    assert_eq!(span.events[0].name, "cache.miss");
    let json = exp.exported_json();
    for secret in ["zoe@example.com", "hunter2", "tok_secret"] {
        assert!(!json.contains(secret));
    }
}

#[test]
fn traceparent_continues_a_remote_trace() {
    let (t, exp) = setup();
    let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let remote = SpanContext::from_traceparent(header).unwrap();
    let outgoing;
    {
        let _g = Context::current().with_span_context(remote).attach();
        let span = t.span("server", Category::PERFORMANCE);
        outgoing = span.context().unwrap().to_traceparent();
    }
    t.force_flush().unwrap();
    let s = &exp.spans()[0];
    assert_eq!(s.trace_id, remote.trace_id);
    assert_eq!(s.parent_span_id, Some(remote.span_id));
    assert!(s.parent_remote);
    assert!(outgoing.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
    assert!(outgoing.ends_with("-01"));
    // An unsampled remote parent: the local span follows it.
    let unsampled = SpanContext::from_traceparent(&header.replace("-01", "-00")).unwrap();
    let _g = Context::current().with_span_context(unsampled).attach();
    assert!(!t.span("server", Category::PERFORMANCE).is_recording());
}

#[test]
fn sampling_is_parent_based_and_records_the_probability() {
    let exp = InMemoryExporter::new();
    let t = builder()
        .consent(policy())
        .sampler(Sampler::per_category([(Category::PERFORMANCE, 0.5)]))
        .exporter(exp.clone())
        .build()
        .unwrap();
    let mut kept_roots = 0;
    for _ in 0..400 {
        t.in_span("root", Category::PERFORMANCE, |root| {
            kept_roots += usize::from(root.is_recording());
            let child = t.span("child", Category::PERFORMANCE);
            assert_eq!(
                child.is_recording(),
                root.is_recording(),
                "children follow the root"
            );
        });
    }
    t.force_flush().unwrap();
    assert!(
        (120..280).contains(&kept_roots),
        "kept {kept_roots} of 400 at 0.5"
    );
    let spans = exp.spans();
    assert_eq!(spans.len(), 2 * kept_roots);
    assert!(spans.iter().all(|s| s.probability == 0.5));
    assert_eq!(
        t.drops().get(DropCause::Sampling, Category::PERFORMANCE),
        2 * (400 - kept_roots) as u64
    );
}

#[test]
fn sampling_is_deterministic_per_trace_across_instances() {
    let make = || {
        builder()
            .consent(policy())
            .sampler(Sampler::per_category([(Category::PERFORMANCE, 0.3)]))
            .build()
            .unwrap()
    };
    let (a, b) = (make(), make());
    for i in 1..300u128 {
        let remote = SpanContext {
            trace_id: TraceId(i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)),
            span_id: SpanId(7),
            sampled: true,
            probability: 1.0,
            remote: true,
        };
        // Events in that trace: both services decide the same way.
        let _g = Context::current().with_span_context(remote).attach();
        assert_eq!(
            a.event("perf.x", Category::PERFORMANCE).is_kept(),
            b.event("perf.x", Category::PERFORMANCE).is_kept()
        );
    }
}

#[test]
fn errors_are_kept_whatever_the_probability_unless_configured() {
    for (sampler, kept) in [
        (Sampler::ratio(0.0), 50),
        (Sampler::ratio(0.0).sample_errors(), 0),
    ] {
        let exp = InMemoryExporter::new();
        let t = builder()
            .consent(policy())
            .sampler(sampler)
            .exporter(exp.clone())
            .build()
            .unwrap();
        for _ in 0..50 {
            t.event("payment.failed", Category::ERRORS)
                .public("code", "declined")
                .emit();
            t.event("perf.op", Category::PERFORMANCE).emit();
        }
        t.force_flush().unwrap();
        let errors = exp.events_named("payment.failed");
        assert_eq!(errors.len(), kept);
        assert!(
            errors
                .iter()
                .all(|e| e.probability == 1.0 && e.severity == Severity::Error)
        );
        assert!(exp.events_named("perf.op").is_empty());
    }
}

#[test]
fn rate_limit_caps_records_per_second() {
    let exp = InMemoryExporter::new();
    let t = builder()
        .consent(policy())
        .sampler(Sampler::always().rate_limit(Category::PERFORMANCE, 10))
        .exporter(exp.clone())
        .build()
        .unwrap();
    let start = std::time::Instant::now();
    for _ in 0..100 {
        t.event("perf.op", Category::PERFORMANCE).emit();
    }
    // The limiter uses one-second windows: the loop touched at most this many.
    let windows = start.elapsed().as_secs() as usize + 2;
    t.force_flush().unwrap();
    let kept = exp.events_named("perf.op").len();
    assert!(
        kept >= 10 && kept <= 10 * windows,
        "kept {kept} over {windows} windows"
    );
    assert_eq!(
        t.drops().get(DropCause::RateLimit, Category::PERFORMANCE),
        100 - kept as u64
    );
}

#[test]
fn context_follows_work_into_threads_only_when_propagated() {
    let (t, exp) = setup();
    t.consent().grant("pia", Category::BUSINESS).unwrap();
    let _s = t.subject("pia");
    let span = t.span("parent", Category::PERFORMANCE);
    let parent = span.context().unwrap();
    let _e = span.enter();
    let ctx = Context::current();
    let t2 = t.clone();
    std::thread::spawn(move || {
        t2.event("lost", Category::BUSINESS).emit(); // no context: no subject, dropped
        let _g = ctx.attach();
        t2.event("carried", Category::BUSINESS).emit();
    })
    .join()
    .unwrap();
    drop(_e);
    drop(span);
    t.force_flush().unwrap();
    assert!(exp.events_named("lost").is_empty());
    let carried = &exp.events_named("carried")[0];
    assert_eq!(carried.subject, Some(t.consent().subject_key("pia")));
    assert_eq!(carried.trace.unwrap().span_id, parent.span_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn async_spans_stay_correct_across_await_on_a_multi_threaded_runtime() {
    let (t, exp) = setup();
    t.consent().grant("quinn", Category::BUSINESS).unwrap();
    let mut handles = Vec::new();
    for i in 0..16u64 {
        let t = t.clone();
        let ctx = t.subject_context(if i % 2 == 0 { "quinn" } else { "rex" });
        let task = async move {
            let span = t.span("request", Category::PERFORMANCE);
            let span_id = span.context().unwrap().span_id;
            let work = {
                let t = t.clone();
                async move {
                    for step in 0..5u64 {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        tokio::task::yield_now().await;
                        t.event("step", Category::BUSINESS)
                            .public("task", i)
                            .public("step", step)
                            .emit();
                    }
                }
            };
            span.wrap(work).await;
            span_id
        };
        handles.push(tokio::spawn(ctx.wrap(task)));
    }
    let mut ids = Vec::new();
    for h in handles {
        ids.push(h.await.unwrap());
    }
    t.force_flush().unwrap();
    let steps = exp.events_named("step");
    assert_eq!(
        steps.len(),
        8 * 5,
        "only quinn's tasks (even i) record business events"
    );
    let quinn = t.consent().subject_key("quinn");
    for e in &steps {
        let Some(AttrValue::U64(i)) = attr(e, "task") else {
            panic!()
        };
        assert_eq!(i % 2, 0);
        assert_eq!(e.subject, Some(quinn));
        assert_eq!(
            e.trace.unwrap().span_id,
            ids[*i as usize],
            "event of task {i} in its own span"
        );
    }
    assert_eq!(exp.spans().len(), 16);
}

#[test]
fn resource_attributes_follow_semantic_conventions() {
    let exp = InMemoryExporter::new();
    let t = builder()
        .environment("staging")
        .resource_attribute("cloud.region", "eu-west-1")
        .exporter(exp.clone())
        .build()
        .unwrap();
    t.event("perf.op", Category::TELEMETRY).emit();
    t.force_flush().unwrap();
    let r = exp.resource().unwrap();
    assert_eq!(r.service_name(), "test-service");
    assert_eq!(r.get("service.version"), Some(&AttrValue::from("1.2.3")));
    assert_eq!(
        r.get("deployment.environment.name"),
        Some(&AttrValue::from("staging"))
    );
    assert_eq!(r.get("cloud.region"), Some(&AttrValue::from("eu-west-1")));
    assert_eq!(
        r.get("telemetry.sdk.language"),
        Some(&AttrValue::from("rust"))
    );
    assert!(matches!(r.get("service.instance.id"), Some(AttrValue::Str(s)) if s.len() == 32));
}

#[test]
fn resource_attributes_keep_their_type_and_the_host_is_detected() {
    let t = builder()
        .resource_value("host.cpu.count", 8_i64)
        .resource_value("sampling.ratio", 0.25)
        .resource_value("feature.canary", true)
        .resource_value("host.name", "set-in-code")
        .detect_host()
        .detect_container()
        .build()
        .unwrap();
    let r = t.resource();
    assert_eq!(r.get("host.cpu.count"), Some(&AttrValue::I64(8)));
    assert_eq!(r.get("sampling.ratio"), Some(&AttrValue::F64(0.25)));
    assert_eq!(r.get("feature.canary"), Some(&AttrValue::Bool(true)));
    // Code wins over detection; the architecture is detected.
    assert_eq!(r.get("host.name"), Some(&AttrValue::from("set-in-code")));
    let arch = r.get("host.arch").expect("host.arch").render().into_owned();
    assert!(!arch.is_empty());
    if cfg!(target_arch = "x86_64") {
        assert_eq!(arch, "amd64");
    }
    // Without detection, nothing of the host is added.
    let plain = builder().build().unwrap();
    assert!(plain.resource().get("host.arch").is_none());
    assert!(plain.resource().get("container.id").is_none());
    let detected = builder().detect_host().build().unwrap();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok();
    if let Some(kernel) = kernel {
        assert_eq!(
            detected.resource().get("host.name"),
            Some(&AttrValue::from(kernel))
        );
    }
}

/// A thread reuses its last span's open state for its next span: nothing
/// of one span (attributes, events, status, kind, name) reaches the next,
/// across instances. (That the kept state holds no instance is a unit
/// test in `trace::span`.)
#[test]
fn spans_reusing_open_state_carry_nothing_over() {
    let (a, exp_a) = setup();
    let (b, exp_b) = setup();
    {
        let mut s = a.span("wide", Category::PERFORMANCE);
        for i in 0..6u64 {
            s.set_attribute(["k0", "k1", "k2", "k3", "k4", "k5"][i as usize], i);
        }
        s.set_kind(SpanKind::Server);
        s.add_event("step", &[("n", Value::U64(1))]);
        s.set_error("Timeout");
        s.end();
    }
    {
        let mut s = b.span("narrow", Category::PERFORMANCE);
        s.set_attribute("only", true);
        s.end();
    }
    {
        let outer = a.span("outer", Category::PERFORMANCE);
        let _g = outer.enter();
        let inner = a.span("inner", Category::PERFORMANCE);
        drop(inner);
        drop(_g);
        drop(outer);
    }
    a.force_flush().unwrap();
    b.force_flush().unwrap();
    let spans = exp_a.spans();
    let names: Vec<&str> = spans.iter().map(|s| &*s.name).collect();
    assert_eq!(names, ["wide", "inner", "outer"]);
    assert_eq!(spans[0].attributes.len(), 6);
    assert_eq!(spans[0].events.len(), 1);
    assert_eq!(spans[0].kind, SpanKind::Server);
    assert!(matches!(spans[0].status, SpanStatus::Error { .. }));
    for s in &spans[1..] {
        assert!(s.attributes.is_empty(), "{:?}", s.attributes);
        assert!(s.events.is_empty());
        assert_eq!(s.kind, SpanKind::Internal);
        assert_eq!(s.status, SpanStatus::Unset);
    }
    let b_spans = exp_b.spans();
    assert_eq!(b_spans.len(), 1);
    assert_eq!(b_spans[0].attributes.len(), 1);
    assert!(b_spans[0].events.is_empty());
    assert_eq!(b_spans[0].status, SpanStatus::Unset);
}
