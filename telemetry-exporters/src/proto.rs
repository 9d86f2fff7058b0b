//! Conversion of `telemetry-core` records into OpenTelemetry protocol
//! messages (`opentelemetry-proto`), shared by the exporters.
//!
//! Every span and log record carries its category, its inclusion probability
//! and, when it holds hashed values, the id of the hash key, as attributes
//! (see [`telemetry_core::export::keys`]).

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord as PLogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar as PExemplar, Gauge as PGauge, Histogram as PHistogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum as PSum,
    exemplar, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource as PResource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span as PSpan, Status, span, status,
};
use telemetry_core::export::keys;
use telemetry_core::export::{
    AttrValue, Attribute, CategoryNames, LogRecord, REDACTED, Resource, SpanRecord, SpanStatus,
    SubjectKey,
};
use telemetry_core::export::{MetricData, MetricPoints, Number, NumberPoint, Temporality};
use telemetry_core::{Category, KeyId, SpanKind};

use telemetry_core::export::unix_nanos as nanos;

fn any(value: any_value::Value) -> Option<AnyValue> {
    Some(AnyValue { value: Some(value) })
}

fn kv(key: impl Into<String>, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: any(value),
        ..Default::default()
    }
}

/// An attribute value as an OTLP `AnyValue`: hashed values as 32 hex
/// digits, redacted ones as the redaction marker.
pub fn any_value(value: &AttrValue) -> any_value::Value {
    use any_value::Value as V;
    match value {
        AttrValue::Bool(b) => V::BoolValue(*b),
        AttrValue::I64(i) => V::IntValue(*i),
        AttrValue::U64(u) => match i64::try_from(*u) {
            Ok(i) => V::IntValue(i),
            Err(_) => V::StringValue(u.to_string()),
        },
        AttrValue::F64(f) => V::DoubleValue(*f),
        AttrValue::Str(s) => V::StringValue(s.to_string()),
        AttrValue::Hashed(_) => V::StringValue(value.render().into_owned()),
        AttrValue::Redacted => V::StringValue(REDACTED.to_owned()),
        AttrValue::Array(items) => V::ArrayValue(ArrayValue {
            values: items
                .iter()
                .map(|v| AnyValue {
                    value: Some(any_value(v)),
                })
                .collect(),
        }),
        AttrValue::Map(pairs) => V::KvlistValue(KeyValueList {
            values: pairs
                .iter()
                .map(|(k, v)| kv(k.to_string(), any_value(v)))
                .collect(),
        }),
    }
}

fn attributes(attrs: &[Attribute]) -> Vec<KeyValue> {
    attrs
        .iter()
        .map(|a| kv(a.key.to_string(), any_value(&a.value)))
        .collect()
}

/// The record-level attributes analysts need: category, inclusion
/// probability, hash key id, pseudonymous subject.
fn record_metadata(
    out: &mut Vec<KeyValue>,
    names: &CategoryNames,
    category: Category,
    probability: f64,
    key_id: Option<KeyId>,
    subject: Option<SubjectKey>,
) {
    out.push(kv(
        keys::CATEGORY,
        any_value::Value::StringValue(names.name(category).into_owned()),
    ));
    out.push(kv(
        keys::SAMPLE_PROBABILITY,
        any_value::Value::DoubleValue(probability),
    ));
    if let Some(id) = key_id {
        out.push(kv(
            keys::HASH_KEY_ID,
            any_value::Value::IntValue(i64::from(id.0)),
        ));
    }
    if let Some(s) = subject {
        out.push(kv(keys::SUBJECT, any_value::Value::StringValue(s.to_hex())));
    }
}

/// The resource as an OTLP message.
pub fn resource(resource: &Resource) -> PResource {
    PResource {
        attributes: attributes(resource.attributes()),
        ..Default::default()
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: telemetry_core::export::SDK_NAME.to_owned(),
        version: telemetry_core::export::SDK_VERSION.to_owned(),
        ..Default::default()
    }
}

/// W3C trace flags plus the OTLP "has is-remote / is-remote" bits.
pub(crate) fn span_flags(sampled: bool, remote_parent: Option<bool>) -> u32 {
    let mut flags = u32::from(sampled);
    if let Some(remote) = remote_parent {
        flags |= 0x100;
        if remote {
            flags |= 0x200;
        }
    }
    flags
}

/// One span as an OTLP span.
pub fn span(s: &SpanRecord, names: &CategoryNames) -> PSpan {
    let mut attrs = attributes(&s.attributes);
    record_metadata(
        &mut attrs,
        names,
        s.category,
        s.probability,
        s.key_id,
        s.subject,
    );
    let (code, message) = match &s.status {
        SpanStatus::Unset => (status::StatusCode::Unset, String::new()),
        SpanStatus::Ok => (status::StatusCode::Ok, String::new()),
        SpanStatus::Error { description } => (status::StatusCode::Error, description.to_string()),
    };
    PSpan {
        trace_id: s.trace_id.to_bytes().to_vec(),
        span_id: s.span_id.to_bytes().to_vec(),
        parent_span_id: s
            .parent_span_id
            .map(|p| p.to_bytes().to_vec())
            .unwrap_or_default(),
        flags: span_flags(true, s.parent_span_id.map(|_| s.parent_remote)),
        name: s.name.to_string(),
        kind: span_kind(s.kind) as i32,
        start_time_unix_nano: nanos(s.start),
        end_time_unix_nano: nanos(s.end),
        attributes: attrs,
        dropped_attributes_count: s.dropped_attributes,
        events: s
            .events
            .iter()
            .map(|e| span::Event {
                time_unix_nano: nanos(e.time),
                name: e.name.to_string(),
                attributes: attributes(&e.attributes),
                dropped_attributes_count: 0,
            })
            .collect(),
        status: Some(Status {
            message,
            code: code as i32,
        }),
        ..Default::default()
    }
}

/// Our span kind as the OTLP one.
pub(crate) fn span_kind(kind: SpanKind) -> span::SpanKind {
    match kind {
        SpanKind::Internal => span::SpanKind::Internal,
        SpanKind::Server => span::SpanKind::Server,
        SpanKind::Client => span::SpanKind::Client,
        SpanKind::Producer => span::SpanKind::Producer,
        SpanKind::Consumer => span::SpanKind::Consumer,
    }
}

/// One log record (event) as an OTLP log record.
pub fn log(l: &LogRecord, names: &CategoryNames) -> PLogRecord {
    let mut attrs = attributes(&l.attributes);
    record_metadata(
        &mut attrs,
        names,
        l.category,
        l.probability,
        l.key_id,
        l.subject,
    );
    if l.schema_version > 0 {
        attrs.push(kv(
            keys::SCHEMA_VERSION,
            any_value::Value::IntValue(i64::from(l.schema_version)),
        ));
    }
    let time = nanos(l.time);
    PLogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: time,
        severity_number: l.severity as i32,
        severity_text: l.severity.text().to_owned(),
        body: l
            .body
            .as_ref()
            .and_then(|b| any(any_value::Value::StringValue(b.to_string()))),
        attributes: attrs,
        dropped_attributes_count: l.dropped_attributes,
        flags: l.trace.map_or(0, |t| u32::from(t.sampled)),
        trace_id: l
            .trace
            .map(|t| t.trace_id.to_bytes().to_vec())
            .unwrap_or_default(),
        span_id: l
            .trace
            .map(|t| t.span_id.to_bytes().to_vec())
            .unwrap_or_default(),
        event_name: l.event_name.to_string(),
    }
}

/// Our temporality as the OTLP `AggregationTemporality` number.
pub(crate) fn temporality(t: Temporality) -> i32 {
    match t {
        Temporality::Cumulative => AggregationTemporality::Cumulative as i32,
        Temporality::Delta => AggregationTemporality::Delta as i32,
    }
}

/// Point attributes plus the instrument's category, unless the point
/// already names a category (the library's own metrics count categories).
fn point_attributes(attrs: &[Attribute], category: &str) -> Vec<KeyValue> {
    let mut out = attributes(attrs);
    if !attrs.iter().any(|a| a.key == keys::CATEGORY) {
        out.push(kv(
            keys::CATEGORY,
            any_value::Value::StringValue(category.to_owned()),
        ));
    }
    out
}

/// Exemplars as OTLP exemplars (the trace and span they link to).
fn exemplars(all: &[telemetry_core::export::Exemplar]) -> Vec<PExemplar> {
    all.iter()
        .map(|e| PExemplar {
            time_unix_nano: nanos(e.time),
            value: Some(exemplar::Value::AsDouble(e.value)),
            trace_id: e.trace_id.to_bytes().to_vec(),
            span_id: e.span_id.to_bytes().to_vec(),
            ..Default::default()
        })
        .collect()
}

fn number_point(p: &NumberPoint, category: &str) -> NumberDataPoint {
    NumberDataPoint {
        attributes: point_attributes(&p.attributes, category),
        start_time_unix_nano: nanos(p.start),
        time_unix_nano: nanos(p.time),
        value: Some(match p.value {
            Number::I64(i) => number_data_point::Value::AsInt(i),
            Number::F64(f) => number_data_point::Value::AsDouble(f),
        }),
        exemplars: exemplars(&p.exemplars),
        ..Default::default()
    }
}

/// One metric as an OTLP metric.
pub fn metric(m: &MetricData, names: &CategoryNames) -> Metric {
    let category = names.name(m.category);
    let data = match &m.points {
        MetricPoints::Sum {
            monotonic,
            temporality: t,
            points,
        } => metric::Data::Sum(PSum {
            data_points: points.iter().map(|p| number_point(p, &category)).collect(),
            aggregation_temporality: temporality(*t),
            is_monotonic: *monotonic,
        }),
        MetricPoints::Gauge { points } => metric::Data::Gauge(PGauge {
            data_points: points.iter().map(|p| number_point(p, &category)).collect(),
        }),
        MetricPoints::Histogram {
            temporality: t,
            points,
        } => metric::Data::Histogram(PHistogram {
            data_points: points
                .iter()
                .map(|p| HistogramDataPoint {
                    attributes: point_attributes(&p.attributes, &category),
                    start_time_unix_nano: nanos(p.start),
                    time_unix_nano: nanos(p.time),
                    count: p.count,
                    sum: Some(p.sum),
                    bucket_counts: p.bucket_counts.clone(),
                    explicit_bounds: p.bounds.to_vec(),
                    min: p.min,
                    max: p.max,
                    exemplars: exemplars(&p.exemplars),
                    ..Default::default()
                })
                .collect(),
            aggregation_temporality: temporality(*t),
        }),
    };
    Metric {
        name: m.name.to_string(),
        description: m.description.to_string(),
        unit: m.unit.to_string(),
        data: Some(data),
        ..Default::default()
    }
}

/// Spans as one OTLP trace export request.
pub fn trace_request(
    res: &Resource,
    names: &CategoryNames,
    spans: &[SpanRecord],
) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource(res)),
            scope_spans: vec![ScopeSpans {
                scope: Some(scope()),
                spans: spans.iter().map(|s| span(s, names)).collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// Log records as one OTLP logs export request.
pub fn logs_request(
    res: &Resource,
    names: &CategoryNames,
    logs: &[LogRecord],
) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource(res)),
            scope_logs: vec![ScopeLogs {
                scope: Some(scope()),
                log_records: logs.iter().map(|l| log(l, names)).collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// Metrics as one OTLP metrics export request.
pub fn metrics_request(
    res: &Resource,
    names: &CategoryNames,
    metrics: &[MetricData],
) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource(res)),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(scope()),
                metrics: metrics.iter().map(|m| metric(m, names)).collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}
