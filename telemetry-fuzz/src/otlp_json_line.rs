//! The OTLP/JSON line reader, and the encoder the file exporter uses.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use prost::Message;
use telemetry_core::export::{
    AttrValue, Attribute, LogRecord, SpanEvent, SpanRecord, SpanStatus, SubjectKey, TraceLink,
};
use telemetry_core::export::{
    HistogramPoint, MetricData, MetricPoints, Number, NumberPoint, Temporality,
};
use telemetry_core::trace::{SpanId, TraceId};
use telemetry_core::{Category, KeyId, Severity, SpanKind};
use telemetry_exporters::file::{ExportRequest, parse_line};
use telemetry_exporters::otlp_json::{encode_logs, encode_metrics, encode_traces};
use telemetry_exporters::proto::{logs_request, metrics_request, trace_request};

use crate::input::Bytes;
use crate::names::names;

/// Strings are kept short: the encoder's work is per character, and short
/// strings leave the fuzzer more records to vary.
const MAX_STR: usize = 24;

fn time(b: &mut Bytes<'_>) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_nanos(b.u64())
}

fn category(b: &mut Bytes<'_>) -> Category {
    Category::from_bit(b.u8() % 64).unwrap_or(Category::PERFORMANCE)
}

fn value(b: &mut Bytes<'_>) -> AttrValue {
    match b.u8() % 7 {
        0 => AttrValue::Bool(b.bool()),
        1 => AttrValue::I64(b.u64() as i64),
        2 => AttrValue::U64(b.u64()),
        3 => AttrValue::F64(b.f64(true)),
        4 => AttrValue::Str(b.string(MAX_STR).into()),
        5 => AttrValue::Hashed(b.u128().to_be_bytes()),
        _ => AttrValue::Redacted,
    }
}

fn attributes(b: &mut Bytes<'_>) -> Vec<Attribute> {
    (0..b.u8() % 4)
        .map(|_| Attribute::new(b.string(MAX_STR), value(b)))
        .collect()
}

fn opt<T>(b: &mut Bytes<'_>, f: impl FnOnce(&mut Bytes<'_>) -> T) -> Option<T> {
    b.bool().then(|| f(b))
}

fn span(b: &mut Bytes<'_>) -> SpanRecord {
    SpanRecord {
        trace_id: TraceId(b.u128()),
        span_id: SpanId(b.u64()),
        parent_span_id: opt(b, |b| SpanId(b.u64())),
        parent_remote: b.bool(),
        name: b.string(MAX_STR).into(),
        category: category(b),
        start: time(b),
        end: time(b),
        status: match b.u8() % 3 {
            0 => SpanStatus::Unset,
            1 => SpanStatus::Ok,
            _ => SpanStatus::Error {
                description: b.string(MAX_STR).into(),
            },
        },
        kind: match b.u8() % 5 {
            0 => SpanKind::Internal,
            1 => SpanKind::Server,
            2 => SpanKind::Client,
            3 => SpanKind::Producer,
            _ => SpanKind::Consumer,
        },
        attributes: attributes(b).into(),
        events: (0..b.u8() % 3)
            .map(|_| SpanEvent {
                name: b.string(MAX_STR).into(),
                time: time(b),
                attributes: attributes(b).into(),
            })
            .collect(),
        dropped_attributes: b.u64() as u32,
        probability: b.f64(true),
        subject: opt(b, |b| SubjectKey(b.u128().to_be_bytes())),
        key_id: opt(b, |b| KeyId(b.u64() as u32)),
    }
}

fn log(b: &mut Bytes<'_>) -> LogRecord {
    LogRecord {
        time: time(b),
        event_name: b.string(MAX_STR).into(),
        category: category(b),
        severity: match b.u8() % 6 {
            0 => Severity::Trace,
            1 => Severity::Debug,
            2 => Severity::Info,
            3 => Severity::Warn,
            4 => Severity::Error,
            _ => Severity::Fatal,
        },
        body: opt(b, |b| b.string(MAX_STR).into()),
        schema_version: b.u64() as u32,
        attributes: attributes(b).into(),
        dropped_attributes: b.u64() as u32,
        trace: opt(b, |b| TraceLink {
            trace_id: TraceId(b.u128()),
            span_id: SpanId(b.u64()),
            sampled: b.bool(),
        }),
        probability: b.f64(true),
        subject: opt(b, |b| SubjectKey(b.u128().to_be_bytes())),
        key_id: opt(b, |b| KeyId(b.u64() as u32)),
    }
}

fn temporality(b: &mut Bytes<'_>) -> Temporality {
    if b.bool() {
        Temporality::Delta
    } else {
        Temporality::Cumulative
    }
}

fn number_points(b: &mut Bytes<'_>) -> Vec<NumberPoint> {
    (0..b.u8() % 3)
        .map(|_| NumberPoint {
            attributes: attributes(b),
            start: time(b),
            time: time(b),
            value: if b.bool() {
                Number::F64(b.f64(true))
            } else {
                Number::I64(b.u64() as i64)
            },
            exemplars: Vec::new(),
        })
        .collect()
}

fn metric(b: &mut Bytes<'_>) -> MetricData {
    MetricData {
        name: b.string(MAX_STR).into(),
        description: b.string(MAX_STR).into(),
        unit: b.string(MAX_STR).into(),
        category: category(b),
        points: match b.u8() % 3 {
            0 => MetricPoints::Sum {
                monotonic: b.bool(),
                temporality: temporality(b),
                points: number_points(b),
            },
            1 => MetricPoints::Gauge {
                points: number_points(b),
            },
            _ => MetricPoints::Histogram {
                temporality: temporality(b),
                points: (0..b.u8() % 3)
                    .map(|_| {
                        let bounds: Arc<[f64]> = (0..b.u8() % 4).map(|_| b.f64(true)).collect();
                        HistogramPoint {
                            attributes: attributes(b),
                            start: time(b),
                            time: time(b),
                            count: b.u64(),
                            sum: b.f64(true),
                            min: opt(b, |b| b.f64(true)),
                            max: opt(b, |b| b.f64(true)),
                            bucket_counts: (0..=bounds.len()).map(|_| b.u64()).collect(),
                            bounds,
                            exemplars: Vec::new(),
                        }
                    })
                    .collect(),
            },
        },
    }
}

/// The encoded bytes of a message: doubles compare bit for bit.
fn wire(request: &ExportRequest) -> Vec<u8> {
    match request {
        ExportRequest::Traces(r) => r.encode_to_vec(),
        ExportRequest::Logs(r) => r.encode_to_vec(),
        ExportRequest::Metrics(r) => r.encode_to_vec(),
    }
}

/// Feeds `data` (lossy UTF-8) to the line reader, which must not panic;
/// then draws records (spans, log records or metrics, with special doubles
/// including NaN, infinities, -0 and the reader's stand-in value, and
/// strings that need escaping) from `data`, encodes them as the file
/// exporter does, and checks that the line reads back to the same message
/// as the records converted directly (doubles bit-identical; a NaN as the
/// canonical NaN).
pub fn otlp_json_line(data: &[u8]) {
    let _ = parse_line(&String::from_utf8_lossy(data));

    let mut b = Bytes::new(data);
    let extra: Vec<(String, String)> = (0..b.u8() % 3)
        .map(|_| (b.string(MAX_STR), b.string(MAX_STR)))
        .collect();
    let environment = opt(&mut b, |b| b.string(MAX_STR));
    let resource = telemetry_core::fuzzing::resource(
        &b.string(MAX_STR),
        &b.string(MAX_STR),
        environment.as_deref(),
        &extra,
    );
    let names = names();
    let mut line = Vec::new();
    let expected = match b.u8() % 3 {
        0 => {
            let spans: Vec<SpanRecord> = (0..b.u8() % 3).map(|_| span(&mut b)).collect();
            encode_traces(&mut line, &resource, names, &spans);
            ExportRequest::Traces(trace_request(&resource, names, &spans))
        }
        1 => {
            let logs: Vec<LogRecord> = (0..b.u8() % 3).map(|_| log(&mut b)).collect();
            encode_logs(&mut line, &resource, names, &logs);
            ExportRequest::Logs(logs_request(&resource, names, &logs))
        }
        _ => {
            let metrics: Vec<MetricData> = (0..b.u8() % 3).map(|_| metric(&mut b)).collect();
            encode_metrics(&mut line, &resource, names, &metrics);
            ExportRequest::Metrics(metrics_request(&resource, names, &metrics))
        }
    };
    let text = String::from_utf8(line);
    assert!(text.is_ok(), "the encoder wrote invalid UTF-8");
    let text = text.unwrap_or_default();
    assert!(!text.contains('\n'), "the encoder wrote a newline: {text}");
    let parsed = parse_line(&text);
    assert!(
        parsed.as_ref().is_ok_and(|p| wire(p) == wire(&expected)),
        "line {text}\nreads back as {parsed:?}\nexpected {expected:?}"
    );
}
