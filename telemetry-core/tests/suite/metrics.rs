//! Metric instruments: values, attributes, privacy rules for attributes,
//! cardinality limits, consent, and the library's own metrics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use crate::common::*;
use telemetry_core::event::*;
use telemetry_core::export::{MetricPoints, Number, Temporality};
use telemetry_core::*;

fn attrs<'a>(region: &'a str, method: &'a str, ok: bool) -> [(&'static str, Value<'a>); 3] {
    [
        ("region", Value::Str(region)),
        ("method", Value::Str(method)),
        ("ok", Value::Bool(ok)),
    ]
}

#[test]
fn counter_up_down_gauge_and_histogram_values() {
    let (t, exp) = setup();
    let orders = t
        .counter("checkout.orders", Category::PERFORMANCE)
        .unit("{order}")
        .attribute("region")
        .attribute("method")
        .attribute("ok")
        .build()
        .unwrap();
    let inflight = t
        .up_down_counter("http.inflight", Category::PERFORMANCE)
        .build()
        .unwrap();
    let pool = t.gauge("db.pool.size", Category::RESOURCE).build().unwrap();
    let latency = t
        .histogram("checkout.latency", Category::PERFORMANCE)
        .unit("ms")
        .boundaries(vec![10.0, 100.0])
        .attribute("region")
        .build()
        .unwrap();
    orders.add(2, &attrs("eu", "card", true));
    orders.add(3, &attrs("eu", "card", true));
    orders.add(1, &attrs("us", "card", false));
    inflight.add(5, &[]);
    inflight.add(-7, &[]);
    pool.record(4.0, &[]);
    pool.record(9.5, &[]);
    for v in [5.0, 50.0, 500.0, 20.0] {
        latency.record(v, &[("region", Value::Str("eu"))]);
    }
    t.force_flush().unwrap();
    assert_eq!(
        exp.sum_value("checkout.orders", &[("region", "eu"), ("ok", "true")]),
        Some(5)
    );
    assert_eq!(
        exp.sum_value("checkout.orders", &[("region", "us")]),
        Some(1)
    );
    assert_eq!(exp.sum_value("http.inflight", &[]), Some(-2));
    let m = exp.last_metric("checkout.orders").unwrap();
    assert_eq!(m.unit, "{order}");
    assert!(matches!(
        m.points,
        MetricPoints::Sum {
            monotonic: true,
            temporality: Temporality::Cumulative,
            ..
        }
    ));
    let MetricPoints::Gauge { points } = exp.last_metric("db.pool.size").unwrap().points else {
        panic!()
    };
    assert_eq!(points[0].value, Number::F64(9.5));
    let MetricPoints::Histogram { points, .. } =
        exp.last_metric("checkout.latency").unwrap().points
    else {
        panic!()
    };
    assert_eq!(points[0].bucket_counts, vec![1, 2, 1]);
    assert_eq!((points[0].count, points[0].sum), (4, 575.0));
    assert_eq!(&*points[0].bounds, &[10.0, 100.0]);
}

#[test]
fn bound_instruments_record_to_their_series() {
    let (t, exp) = setup();
    let c = t
        .counter("calls", Category::PERFORMANCE)
        .attribute("fn")
        .attribute("outcome")
        .build()
        .unwrap();
    let ok = c.bind(&[
        ("fn", Value::Str("place_order")),
        ("outcome", Value::Str("ok")),
    ]);
    for _ in 0..10 {
        ok.add(1);
    }
    c.add(
        1,
        &[
            ("outcome", Value::Str("ok")),
            ("fn", Value::Str("place_order")),
        ],
    );
    t.force_flush().unwrap();
    assert_eq!(
        exp.sum_value("calls", &[("fn", "place_order"), ("outcome", "ok")]),
        Some(11)
    );
    assert_eq!(c.series_count(), 1);
}

/// Bound instruments add into per-thread cells (no locked instruction);
/// what every thread added, and what unbound calls on the same attribute
/// set added to the shared cells, is reported together, cumulative and
/// delta, including threads that exited before the collection.
#[test]
fn bound_instruments_on_many_threads_sum_with_unbound_ones_cumulative_and_delta() {
    let (t, exp) = setup();
    let attrs = [("fn", Value::Str("pay"))];
    let calls = t
        .counter("bound.calls", Category::PERFORMANCE)
        .attribute("fn")
        .build()
        .unwrap();
    let cost = t
        .float_counter("bound.cost", Category::PERFORMANCE)
        .attribute("fn")
        .build()
        .unwrap();
    let depth = t
        .up_down_counter("bound.depth", Category::PERFORMANCE)
        .attribute("fn")
        .build()
        .unwrap();
    let latency = t
        .histogram("bound.latency", Category::PERFORMANCE)
        .boundaries(vec![1.0, 10.0])
        .attribute("fn")
        .temporality(Temporality::Delta)
        .build()
        .unwrap();
    let run = |rounds: u64| {
        std::thread::scope(|s| {
            for _ in 0..4 {
                let (c, f, d, h) = (
                    calls.bind(&attrs),
                    cost.bind(&attrs),
                    depth.bind(&attrs),
                    latency.bind(&attrs),
                );
                s.spawn(move || {
                    for _ in 0..rounds {
                        c.add(1);
                        f.add(0.5);
                        d.add(2);
                        d.add(-1);
                        h.record(0.5);
                        h.record(5.0);
                        h.record(50.0);
                    }
                });
            }
        });
        // The same attribute set, unbound, on this thread.
        calls.add(1, &attrs);
        latency.record(5.0, &attrs);
    };
    run(1000);
    t.force_flush().unwrap();
    assert_eq!(exp.sum_value("bound.calls", &[("fn", "pay")]), Some(4001));
    assert_eq!(exp.sum_value("bound.depth", &[("fn", "pay")]), Some(4000));
    let MetricPoints::Sum { points, .. } = exp.last_metric("bound.cost").unwrap().points else {
        panic!()
    };
    assert_eq!(points[0].value, Number::F64(2000.0));
    let MetricPoints::Histogram { points, .. } = exp.last_metric("bound.latency").unwrap().points
    else {
        panic!()
    };
    assert_eq!(points[0].bucket_counts, vec![4000, 4001, 4000]);
    assert_eq!(points[0].count, 12001);
    assert_eq!(points[0].sum, 4000.0 * 55.5 + 5.0);
    assert_eq!((points[0].min, points[0].max), (Some(0.5), Some(50.0)));

    // Delta: the second collection reports only the second round.
    run(10);
    t.force_flush().unwrap();
    assert_eq!(exp.sum_value("bound.calls", &[("fn", "pay")]), Some(4042));
    let MetricPoints::Histogram { points, .. } = exp.last_metric("bound.latency").unwrap().points
    else {
        panic!()
    };
    assert_eq!(points[0].bucket_counts, vec![40, 41, 40]);
    assert_eq!(points[0].sum, 40.0 * 55.5 + 5.0);
}

/// More threads alive at once than there are per-thread slots: the ones
/// without a slot add into the shared cells, and nothing is lost.
#[test]
fn bound_counters_on_more_live_threads_than_slots_lose_nothing() {
    let (t, exp) = setup();
    let calls = t
        .counter("bound.many", Category::PERFORMANCE)
        .build()
        .unwrap();
    let threads = 80;
    let barrier = std::sync::Barrier::new(threads);
    std::thread::scope(|s| {
        for _ in 0..threads {
            let c = calls.bind(&[]);
            let barrier = &barrier;
            s.spawn(move || {
                c.add(1);
                // All alive at once, each holding its slot if it got one.
                barrier.wait();
                c.add(2);
            });
        }
    });
    t.force_flush().unwrap();
    assert_eq!(exp.sum_value("bound.many", &[]), Some(3 * threads as i64));
}

/// With delta temporality a bound instrument keeps float sums in the
/// shared cells, reset at each collection: an infinite measurement spoils
/// only its own interval's sum, and a small amount after a large one is
/// reported exactly (a difference of ever-growing totals would lose it).
#[test]
fn bound_delta_float_sums_are_exact_and_recover_from_an_infinite_value() {
    let (t, exp) = setup();
    let latency = t
        .histogram("bound.delta.latency", Category::PERFORMANCE)
        .boundaries(vec![1.0])
        .temporality(Temporality::Delta)
        .build()
        .unwrap();
    let cost = t
        .float_counter("bound.delta.cost", Category::PERFORMANCE)
        .temporality(Temporality::Delta)
        .build()
        .unwrap();
    let (h, c) = (latency.bind(&[]), cost.bind(&[]));
    h.record(f64::INFINITY);
    h.record(0.5);
    c.add(1e16);
    t.force_flush().unwrap();
    h.record(0.25);
    h.record(0.25);
    c.add(1.0);
    t.force_flush().unwrap();
    let MetricPoints::Histogram { points, .. } =
        exp.last_metric("bound.delta.latency").unwrap().points
    else {
        panic!()
    };
    assert_eq!((points[0].count, points[0].sum), (2, 0.5));
    assert_eq!(points[0].bucket_counts, vec![2, 0]);
    let MetricPoints::Sum { points, .. } = exp.last_metric("bound.delta.cost").unwrap().points
    else {
        panic!()
    };
    assert_eq!(points[0].value, Number::F64(1.0));
}

static SIGNUP: EventSchema = EventSchema {
    name: "signup",
    category: Category::BUSINESS,
    version: 1,
    description: "",
    fields: &[
        FieldSchema {
            name: "plan",
            ty: FieldType::String,
            class: FieldClass::Public,
        },
        FieldSchema {
            name: "email",
            ty: FieldType::String,
            class: FieldClass::Hashed,
        },
        FieldSchema {
            name: "card",
            ty: FieldType::String,
            class: FieldClass::Redacted,
        },
    ],
};

#[test]
fn hashed_or_redacted_fields_cannot_become_metric_attributes() {
    let (t, _exp) = setup();
    assert!(
        t.counter("signups", Category::BUSINESS)
            .attributes_from(&SIGNUP, &["plan"])
            .build()
            .is_ok()
    );
    for field in ["email", "card"] {
        let e = t
            .counter("signups.bad", Category::BUSINESS)
            .attributes_from(&SIGNUP, &[field])
            .build()
            .unwrap_err();
        assert_eq!(e.kind(), ConfigErrorKind::InvalidMetric);
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("field `{field}`"))
                && msg.contains("cannot be a metric attribute"),
            "{msg}"
        );
    }
    let e = t
        .counter("signups.x", Category::BUSINESS)
        .attributes_from(&SIGNUP, &["nope"])
        .build()
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("has no field `nope`; its fields are: plan, email, card"),
        "{e}"
    );
}

#[test]
fn invalid_instruments_are_rejected() {
    let (t, _exp) = setup();
    let e = t
        .histogram("h", Category::PERFORMANCE)
        .boundaries(vec![5.0, 1.0])
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("must increase strictly"), "{e}");
    let e = t
        .histogram("h", Category::PERFORMANCE)
        .boundaries(vec![f64::NAN])
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("finite"), "{e}");
    let e = t.counter("", Category::PERFORMANCE).build().unwrap_err();
    assert!(e.to_string().contains("metric name is empty"), "{e}");
    let e = t
        .counter("c", Category::PERFORMANCE)
        .attribute("a")
        .attribute("a")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("`a` is declared twice"), "{e}");
    t.counter("same", Category::PERFORMANCE).build().unwrap();
    assert!(
        t.counter("same", Category::PERFORMANCE).build().is_ok(),
        "same instrument is shared"
    );
    let e = t.gauge("same", Category::PERFORMANCE).build().unwrap_err();
    assert!(e.to_string().contains("already exists as a counter"), "{e}");
    // One name in another category is another part of the same family
    // (its own consent check): allowed when kind, unit and attributes agree.
    let business = t.counter("same", Category::BUSINESS).build().unwrap();
    assert_eq!(business.name(), "same");
    let e = t
        .counter("same", Category::ERRORS)
        .unit("ms")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("with unit ``"), "{e}");
    let e = t
        .counter("same", Category::ERRORS)
        .attribute("route")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
}

#[test]
fn undeclared_attributes_are_ignored_and_counted() {
    let (t, exp) = setup();
    let c = t
        .counter("c", Category::PERFORMANCE)
        .attribute("route")
        .build()
        .unwrap();
    c.add(
        1,
        &[
            ("route", Value::Str("/a")),
            ("user_id", Value::Str("u-123")),
        ],
    );
    t.force_flush().unwrap();
    assert_eq!(exp.sum_value("c", &[("route", "/a")]), Some(1));
    assert!(!exp.exported_json().contains("u-123"));
    assert_eq!(t.drops().get(DropCause::Limits, Category::PERFORMANCE), 1);
}

#[test]
fn cardinality_overflow_goes_to_one_series_and_is_counted() {
    let exp = telemetry_core::testing::InMemoryExporter::new();
    let t = builder()
        .consent(policy())
        .limits(Limits {
            max_series_per_metric: 5,
            ..Limits::default()
        })
        .exporter(exp.clone())
        .build()
        .unwrap();
    let c = t
        .counter("by_item", Category::PERFORMANCE)
        .attribute("item")
        .build()
        .unwrap();
    for i in 0..20u64 {
        c.add(1, &[("item", Value::U64(i))]);
    }
    t.force_flush().unwrap();
    assert_eq!(c.series_count(), 5);
    assert_eq!(
        exp.sum_value("by_item", &[("otel.metric.overflow", "true")]),
        Some(15)
    );
    assert_eq!(t.drops().get(DropCause::Limits, Category::PERFORMANCE), 15);
}

#[test]
fn metrics_obey_consent() {
    let (t, exp) = setup();
    let revenue = t.counter("revenue", Category::BUSINESS).build().unwrap();
    t.consent().grant("sam", Category::BUSINESS).unwrap();
    {
        let _s = t.subject("sam");
        revenue.add(100, &[]);
    }
    {
        let _s = t.subject("tess");
        revenue.add(50, &[]);
    }
    revenue.add(25, &[]); // no subject: opt-in category, denied
    t.force_flush().unwrap();
    assert_eq!(exp.sum_value("revenue", &[]), Some(100));
    assert_eq!(t.drops().get(DropCause::Consent, Category::BUSINESS), 2);
}

#[test]
fn drops_are_exported_as_metrics_by_cause_and_category() {
    let (t, exp) = setup();
    for _ in 0..3 {
        t.event("x", Category::BUSINESS).emit();
    }
    t.force_flush().unwrap();
    assert_eq!(
        exp.sum_value(
            "telemetry.records.dropped",
            &[("cause", "consent"), ("telemetry.category", "business")]
        ),
        Some(3)
    );
}

#[test]
fn delta_temporality_resets_between_exports() {
    let (t, exp) = setup();
    let c = t
        .counter("d", Category::PERFORMANCE)
        .temporality(Temporality::Delta)
        .build()
        .unwrap();
    c.add(4, &[]);
    t.force_flush().unwrap();
    assert_eq!(exp.sum_value("d", &[]), Some(4));
    c.add(1, &[]);
    t.force_flush().unwrap();
    assert_eq!(exp.sum_value("d", &[]), Some(1));
}

#[test]
fn float_counters_sum_fractions_and_ignore_what_is_not_an_amount() {
    let (t, exp) = setup();
    let cpu = t
        .float_counter("job.cpu.seconds", Category::RESOURCE)
        .unit("s")
        .attribute("job")
        .build()
        .unwrap();
    let job = [("job", Value::Str("resize"))];
    for v in [0.25, 0.5, -3.0, f64::NAN, f64::INFINITY, 0.125] {
        cpu.add(v, &job);
    }
    let bound = cpu.bind(&job);
    bound.add(1.0);
    t.force_flush().unwrap();
    let m = exp.last_metric("job.cpu.seconds").unwrap();
    let MetricPoints::Sum {
        monotonic, points, ..
    } = m.points
    else {
        panic!("not a sum: {m:?}");
    };
    assert!(monotonic);
    assert_eq!(points.len(), 1);
    assert!(matches!(points[0].value, Number::F64(v) if (v - 1.875).abs() < 1e-12));
    // The same name as another kind is refused.
    assert!(
        t.counter("job.cpu.seconds", Category::RESOURCE)
            .build()
            .is_err()
    );
}

#[test]
fn the_metrics_facade_records_through_consent_and_routes() {
    use telemetry_core::metrics_recorder::MetricsRecorder;
    let exp = telemetry_core::testing::InMemoryExporter::new();
    let t = builder()
        .consent(policy())
        .exporter(exp.clone())
        .build()
        .unwrap();
    t.consent().grant("mia", Category::BUSINESS).unwrap();
    let recorder = MetricsRecorder::builder(&t)
        .route("shop.orders", Category::BUSINESS)
        .build();
    ::metrics::with_local_recorder(&recorder, || {
        ::metrics::describe_histogram!(
            "http.latency",
            ::metrics::Unit::Seconds,
            "Request latency."
        );
        {
            let _s = t.subject("mia");
            ::metrics::counter!("shop.orders.placed", "plan" => "pro").increment(2);
        }
        {
            // No consent: not counted.
            let _s = t.subject("noah");
            ::metrics::counter!("shop.orders.placed", "plan" => "pro").increment(5);
        }
        ::metrics::histogram!("http.latency", "route" => "/items/{id}").record(0.25);
        let g = ::metrics::gauge!("pool.size");
        g.set(10.0);
        g.increment(2.0);
        g.decrement(5.0);
    });
    t.force_flush().unwrap();
    assert_eq!(
        exp.sum_value("shop.orders.placed", &[("plan", "pro")]),
        Some(2),
        "only the consented subject's increment"
    );
    let placed = exp.last_metric("shop.orders.placed").unwrap();
    assert_eq!(placed.category, Category::BUSINESS, "routed by prefix");
    assert!(t.drops().get(DropCause::Consent, Category::BUSINESS) >= 1);
    let latency = exp.last_metric("http.latency").unwrap();
    assert_eq!(
        (latency.unit.as_ref(), latency.category),
        ("s", Category::PERFORMANCE)
    );
    let MetricPoints::Histogram { points, .. } = &latency.points else {
        panic!("{latency:?}")
    };
    assert_eq!(points[0].count, 1);
    assert!(
        points[0]
            .attributes
            .iter()
            .any(|a| a.key == "route" && a.value.render() == "/items/{id}")
    );
    let pool = exp.last_metric("pool.size").unwrap();
    let MetricPoints::Gauge { points } = &pool.points else {
        panic!("{pool:?}")
    };
    assert_eq!(points[0].value, Number::F64(7.0));
}
