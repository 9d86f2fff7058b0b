//! What the file exporter writes reads back: every double (finite ones bit
//! for bit, NaN and the infinities as such) in every place a double goes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use proptest::prelude::*;
use telemetry_core::export::Signal;
use telemetry_core::export::*;
use telemetry_core::export::{
    HistogramPoint, MetricData, MetricPoints, Number, NumberPoint, Temporality,
};
use telemetry_core::testing::InMemoryExporter;
use telemetry_core::trace::*;
use telemetry_core::*;
use telemetry_exporters::file::{ExportRequest, FileExporter, files, parse_line, read_lines};

/// A resource as the pipeline builds it (it has no public constructor).
fn resource() -> &'static Resource {
    static RESOURCE: OnceLock<Resource> = OnceLock::new();
    RESOURCE.get_or_init(|| {
        let mem = InMemoryExporter::new();
        let t = Telemetry::builder()
            .service("fidelity-test", "0.1.0")
            .env(Environment::from_pairs::<&str, &str>([]))
            .consent(ConsentPolicy::opt_in().exempt(Category::PERFORMANCE))
            .exporter(mem.clone())
            .build()
            .unwrap();
        t.event("e", Category::PERFORMANCE).emit();
        t.shutdown(Duration::from_secs(5));
        mem.resource().unwrap()
    })
}

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

/// One span, one log record and three metrics, each holding `v` in every
/// place a double can go.
fn records(v: f64) -> (Vec<SpanRecord>, Vec<LogRecord>, Vec<MetricData>) {
    let attrs = vec![Attribute::new("x", AttrValue::F64(v))];
    let span = SpanRecord {
        trace_id: TraceId(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
        span_id: SpanId(0x00f0_67aa_0ba9_02b7),
        parent_span_id: None,
        parent_remote: false,
        name: "op".into(),
        category: Category::PERFORMANCE,
        start: at(0),
        end: at(1),
        status: SpanStatus::Unset,
        kind: SpanKind::Internal,
        attributes: attrs.clone().into(),
        events: vec![SpanEvent {
            time: at(0),
            name: "step".into(),
            attributes: attrs.clone().into(),
        }],
        dropped_attributes: 0,
        probability: 1.0,
        subject: None,
        key_id: None,
    };
    let log = LogRecord {
        time: at(0),
        event_name: "e".into(),
        category: Category::PERFORMANCE,
        severity: Severity::Info,
        body: None,
        schema_version: 0,
        attributes: attrs.clone().into(),
        dropped_attributes: 0,
        trace: None,
        probability: 1.0,
        subject: None,
        key_id: None,
    };
    let number = |name: &'static str, gauge: bool| MetricData {
        name: name.into(),
        description: "".into(),
        unit: "".into(),
        category: Category::PERFORMANCE,
        points: {
            let points = vec![NumberPoint {
                attributes: attrs.clone(),
                start: at(0),
                time: at(1),
                value: Number::F64(v),
                exemplars: Vec::new(),
            }];
            if gauge {
                MetricPoints::Gauge { points }
            } else {
                MetricPoints::Sum {
                    monotonic: false,
                    temporality: Temporality::Cumulative,
                    points,
                }
            }
        },
    };
    let histogram = MetricData {
        name: "h".into(),
        description: "".into(),
        unit: "".into(),
        category: Category::PERFORMANCE,
        points: MetricPoints::Histogram {
            temporality: Temporality::Delta,
            points: vec![HistogramPoint {
                attributes: attrs.clone(),
                start: at(0),
                time: at(1),
                count: 1,
                sum: v,
                min: Some(v),
                max: Some(v),
                bounds: Arc::from([v]),
                bucket_counts: vec![1, 0],
                exemplars: Vec::new(),
            }],
        },
    };
    (
        vec![span],
        vec![log],
        vec![number("g", true), number("s", false), histogram],
    )
}

/// Every double read back from the files, labelled with where it was.
fn write_and_read_back(v: f64) -> Result<Vec<(&'static str, Option<f64>)>, String> {
    let dir = tempfile::tempdir().unwrap();
    let mut exporter = FileExporter::builder(dir.path()).build().unwrap();
    let (spans, logs, metrics) = records(v);
    let names = CategoryNames::default();
    exporter
        .export(&Batch::new(resource(), &names, &spans, &logs, &metrics))
        .map_err(|e| e.to_string())?;
    exporter
        .shutdown(std::time::Instant::now() + Duration::from_secs(5))
        .unwrap();
    let double = |attrs: &[KeyValue]| {
        attrs
            .iter()
            .find(|kv| kv.key == "x")
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
            .and_then(|v| match v {
                any_value::Value::DoubleValue(d) => Some(*d),
                _ => None,
            })
    };
    let mut out = Vec::new();
    for signal in Signal::ALL {
        for path in files(dir.path(), signal).unwrap() {
            let content = read_lines(&path).unwrap();
            assert!(content.partial_tail.is_none());
            for line in &content.lines {
                match parse_line(line).map_err(|e| format!("{e} in {line}"))? {
                    ExportRequest::Traces(t) => {
                        let span = &t.resource_spans[0].scope_spans[0].spans[0];
                        out.push(("span attribute", double(&span.attributes)));
                        out.push(("span event attribute", double(&span.events[0].attributes)));
                    }
                    ExportRequest::Logs(l) => {
                        let log = &l.resource_logs[0].scope_logs[0].log_records[0];
                        out.push(("log attribute", double(&log.attributes)));
                    }
                    ExportRequest::Metrics(m) => {
                        for metric in &m.resource_metrics[0].scope_metrics[0].metrics {
                            match metric.data.as_ref().unwrap() {
                                metric::Data::Gauge(g) => {
                                    let p = &g.data_points[0];
                                    out.push(("gauge point attribute", double(&p.attributes)));
                                    out.push(("gauge value", as_double(p.value)));
                                }
                                metric::Data::Sum(s) => {
                                    let p = &s.data_points[0];
                                    out.push(("sum value", as_double(p.value)));
                                }
                                metric::Data::Histogram(h) => {
                                    let p = &h.data_points[0];
                                    out.push(("histogram point attribute", double(&p.attributes)));
                                    out.push(("histogram sum", p.sum));
                                    out.push(("histogram min", p.min));
                                    out.push(("histogram max", p.max));
                                    out.push((
                                        "histogram bound",
                                        p.explicit_bounds.first().copied(),
                                    ));
                                }
                                other => panic!("unexpected metric data {other:?}"),
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(out.len(), 11, "every place read back: {out:?}");
    Ok(out)
}

fn as_double(v: Option<number_data_point::Value>) -> Option<f64> {
    match v {
        Some(number_data_point::Value::AsDouble(d)) => Some(d),
        _ => None,
    }
}

/// Bit-identical, or both NaN (JSON keeps no NaN payload or sign).
fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn check_round_trip(v: f64) -> Result<(), String> {
    for (place, read) in write_and_read_back(v)? {
        match read {
            Some(r) if same(r, v) => {}
            _ => {
                return Err(format!(
                    "{place}: wrote {v:e} ({:#x}), read back {read:?} ({:?})",
                    v.to_bits(),
                    read.map(f64::to_bits)
                ));
            }
        }
    }
    Ok(())
}

fn check_all(cases: &[f64]) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|&v| check_round_trip(v).err())
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Finite doubles at the edges read back bit-identical.
#[test]
fn edge_doubles_read_back_bit_identical() {
    check_all(&[
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.1,
        0.5,
        1e-7,
        1e16,
        123_456_789.123_456_79,
        229_093_591.767_705_14, // read back 1 ulp off without float_roundtrip
        f64::MAX,               // was written as 309 digits, then "out of range"
        f64::MIN,
        f64::MIN_POSITIVE,
        f64::MIN_POSITIVE / 3.0, // subnormal
        f64::from_bits(1),       // the smallest subnormal
        -f64::from_bits(1),
        f64::EPSILON,
        9_007_199_254_740_993.0,
    ]);
}

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>()
            .prop_map(f64::from_bits)
            .prop_filter("finite", |v| v.is_finite()),
        prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO,
        -1e9..1e9f64,
    ]
}

fn any_double() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        // NaNs with any payload and sign.
        any::<u64>().prop_map(|b| f64::from_bits(b | 0x7ff0_0000_0000_0001)),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        prop::num::f64::SUBNORMAL | prop::num::f64::ZERO,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any finite double written as an attribute, a gauge or sum value or a
    /// histogram's sum, min, max or bound reads back bit-identical.
    #[test]
    fn any_finite_double_reads_back_bit_identical(v in finite()) {
        prop_assert_eq!(check_round_trip(v), Ok(()));
    }

    /// Any double at all (any bit pattern, with NaNs, infinities,
    /// subnormals and zeros drawn often): the lines we write parse back,
    /// with the value kept.
    #[test]
    fn a_line_with_any_double_parses_back(v in any_double()) {
        prop_assert_eq!(check_round_trip(v), Ok(()));
    }
}
