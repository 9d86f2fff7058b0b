//! A direct OTLP/JSON encoder for spans, log records and metrics.
//!
//! Encoding through `opentelemetry-proto`'s serde types first builds a
//! message tree (a `String` per key and value, a `Vec` per attribute list);
//! the file-throughput benchmark showed that conversion to be the file
//! exporter's bottleneck. This encoder writes the same JSON straight from
//! the records. Tests check that both encodings parse to identical messages
//! (for finite doubles: see below).
//!
//! The encoding follows the OTLP/JSON rules: lower-camel-case field names,
//! trace and span ids as hex, 64-bit integers as strings, enums as numbers,
//! default values omitted.
//!
//! A NaN or infinite double is written as the proto3 JSON mapping writes
//! it, the string `"NaN"`, `"Infinity"` or `"-Infinity"`, wherever it is (an
//! attribute, a gauge or sum value, a histogram's sum, min, max or bound).
//! That is what the Collector reads. `opentelemetry-proto`'s serde
//! encoding differs here: it writes `null`, which loses the value and which
//! its own deserializer rejects for a gauge value. Its deserializer also
//! rejects the strings in most double fields; the file reader
//! ([`crate::file::parse_line`]) reads them anyway, so no line is lost.

use std::io::Write;

use telemetry_core::export::keys;
use telemetry_core::export::{
    AttrValue, Attribute, CategoryNames, LogRecord, REDACTED, Resource, SDK_NAME, SDK_VERSION,
    SpanRecord, SpanStatus, SubjectKey, unix_nanos,
};
use telemetry_core::export::{HistogramPoint, MetricData, MetricPoints, Number, NumberPoint};
use telemetry_core::{Category, KeyId};

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex(out: &mut Vec<u8>, bytes: &[u8]) {
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xf)]);
    }
}

#[inline]
fn needs_escape(b: u8) -> bool {
    ESCAPED[usize::from(b)]
}

/// The bytes a JSON string escapes: control characters, `"` and `\`
/// (one lookup a byte instead of three comparisons).
static ESCAPED: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Whether any byte of `w` is a control character, `"` or `\`: the
/// zero-byte test of each comparison, eight bytes at once (exact for
/// "any"; bytes of 0x80 and above never match).
#[inline]
fn word_needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let control = w.wrapping_sub(ONES * 0x20) & !w;
    let q = w ^ (ONES * u64::from(b'"'));
    let quote = q.wrapping_sub(ONES) & !q;
    let b = w ^ (ONES * u64::from(b'\\'));
    let backslash = b.wrapping_sub(ONES) & !b;
    (control | quote | backslash) & HIGH != 0
}

/// Where the first byte to escape is, if any: eight bytes a step while
/// none is, then byte by byte.
#[inline]
fn first_to_escape(bytes: &[u8]) -> Option<usize> {
    let mut skipped = 0;
    let mut words = bytes.chunks_exact(8);
    for word in words.by_ref() {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        if word_needs_escape(u64::from_le_bytes(w)) {
            break;
        }
        skipped += 8;
    }
    bytes
        .get(skipped..)?
        .iter()
        .position(|&b| needs_escape(b))
        .map(|i| skipped + i)
}

/// A JSON string literal, escaped. Runs of plain bytes are copied at once.
fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let mut rest = s.as_bytes();
    while let Some(i) = first_to_escape(rest) {
        out.extend_from_slice(&rest[..i]);
        match rest[i] {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b => {
                out.extend_from_slice(b"\\u00");
                hex(out, &[b]);
            }
        }
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

fn uint(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

fn int(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// A 64-bit integer as OTLP/JSON writes it: a quoted decimal.
fn quoted_uint(out: &mut Vec<u8>, v: u64) {
    out.push(b'"');
    uint(out, v);
    out.push(b'"');
}

/// A double, as the proto3 JSON mapping writes it (non-finite values as
/// strings: see the [module docs](self)). Finite values in Rust's shortest form that parses back to the
/// same bits, as plain decimals from 1e-6 to 1e21 (where JavaScript writes
/// them so) and in exponent form outside, so `f64::MAX` takes 23 bytes
/// rather than 309 digits. Reading them back bit-identical needs a parser
/// that rounds correctly: this crate enables `serde_json/float_roundtrip`.
fn double(out: &mut Vec<u8>, v: f64) {
    if v == 1.0 {
        // The usual inclusion probability.
        out.push(b'1');
    } else if v.is_finite() {
        // Writing to a `Vec` cannot fail.
        let _ = if v == 0.0 || (1e-6..1e21).contains(&v.abs()) {
            write!(out, "{v}")
        } else {
            write!(out, "{v:e}")
        };
    } else if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if v > 0.0 {
        out.extend_from_slice(b"\"Infinity\"");
    } else {
        out.extend_from_slice(b"\"-Infinity\"");
    }
}

fn value(out: &mut Vec<u8>, v: &AttrValue) {
    match v {
        AttrValue::Bool(b) => out.extend_from_slice(if *b {
            b"{\"boolValue\":true}"
        } else {
            b"{\"boolValue\":false}"
        }),
        AttrValue::I64(i) => {
            out.extend_from_slice(b"{\"intValue\":\"");
            int(out, *i);
            out.extend_from_slice(b"\"}");
        }
        AttrValue::U64(u) => match i64::try_from(*u) {
            Ok(i) => {
                out.extend_from_slice(b"{\"intValue\":\"");
                int(out, i);
                out.extend_from_slice(b"\"}");
            }
            Err(_) => {
                out.extend_from_slice(b"{\"stringValue\":\"");
                uint(out, *u);
                out.extend_from_slice(b"\"}");
            }
        },
        AttrValue::F64(f) => {
            out.extend_from_slice(b"{\"doubleValue\":");
            double(out, *f);
            out.push(b'}');
        }
        AttrValue::Str(s) => {
            out.extend_from_slice(b"{\"stringValue\":");
            string(out, s);
            out.push(b'}');
        }
        AttrValue::Hashed(d) => {
            out.extend_from_slice(b"{\"stringValue\":\"");
            hex(out, d);
            out.extend_from_slice(b"\"}");
        }
        AttrValue::Redacted => {
            out.extend_from_slice(b"{\"stringValue\":");
            string(out, REDACTED);
            out.push(b'}');
        }
        AttrValue::Array(items) => {
            out.extend_from_slice(b"{\"arrayValue\":{\"values\":[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                value(out, item);
            }
            out.extend_from_slice(b"]}}");
        }
        AttrValue::Map(pairs) => {
            out.extend_from_slice(b"{\"kvlistValue\":{\"values\":[");
            let mut first = true;
            for (k, v) in pairs {
                key_value(out, &mut first, k, v);
            }
            out.extend_from_slice(b"]}}");
        }
    }
}

/// Writes `"key":` and the value of one attribute as a `KeyValue` object.
fn key_value(out: &mut Vec<u8>, first: &mut bool, key: &str, v: &AttrValue) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    out.extend_from_slice(b"{\"key\":");
    string(out, key);
    out.extend_from_slice(b",\"value\":");
    value(out, v);
    out.push(b'}');
}

fn attributes(out: &mut Vec<u8>, attrs: &[Attribute], first: &mut bool) {
    for a in attrs {
        key_value(out, first, &a.key, &a.value);
    }
}

fn metadata(
    out: &mut Vec<u8>,
    first: &mut bool,
    names: &CategoryNames,
    category: Category,
    probability: f64,
    key_id: Option<KeyId>,
    subject: Option<SubjectKey>,
) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    out.extend_from_slice(b"{\"key\":\"");
    out.extend_from_slice(keys::CATEGORY.as_bytes());
    out.extend_from_slice(b"\",\"value\":{\"stringValue\":");
    string(out, &names.name(category));
    out.extend_from_slice(b"}}");
    key_value(
        out,
        first,
        keys::SAMPLE_PROBABILITY,
        &AttrValue::F64(probability),
    );
    if let Some(id) = key_id {
        key_value(
            out,
            first,
            keys::HASH_KEY_ID,
            &AttrValue::I64(i64::from(id.0)),
        );
    }
    if let Some(s) = subject {
        key_value(out, first, keys::SUBJECT, &AttrValue::Hashed(s.0));
    }
}

fn resource_and_scope_open(out: &mut Vec<u8>, resource: &Resource, outer: &str, inner: &str) {
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(outer.as_bytes());
    out.extend_from_slice(b"\":[{\"resource\":{\"attributes\":[");
    let mut first = true;
    attributes(out, resource.attributes(), &mut first);
    out.extend_from_slice(b"]},\"");
    out.extend_from_slice(inner.as_bytes());
    out.extend_from_slice(b"\":[{\"scope\":{\"name\":");
    string(out, SDK_NAME);
    out.extend_from_slice(b",\"version\":");
    string(out, SDK_VERSION);
    out.push(b'}');
}

/// Appends one `ExportTraceServiceRequest` (without a newline).
pub fn encode_traces(
    out: &mut Vec<u8>,
    resource: &Resource,
    names: &CategoryNames,
    spans: &[SpanRecord],
) {
    resource_and_scope_open(out, resource, "resourceSpans", "scopeSpans");
    out.extend_from_slice(b",\"spans\":[");
    for (i, s) in spans.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        span(out, s, names);
    }
    out.extend_from_slice(b"]}]}]}");
}

fn span(out: &mut Vec<u8>, s: &SpanRecord, names: &CategoryNames) {
    out.extend_from_slice(b"{\"traceId\":\"");
    hex(out, &s.trace_id.to_bytes());
    out.extend_from_slice(b"\",\"spanId\":\"");
    hex(out, &s.span_id.to_bytes());
    out.push(b'"');
    let mut flags = 1u64; // sampled: only sampled spans are recorded
    if let Some(parent) = s.parent_span_id {
        out.extend_from_slice(b",\"parentSpanId\":\"");
        hex(out, &parent.to_bytes());
        out.push(b'"');
        flags |= 0x100 | if s.parent_remote { 0x200 } else { 0 };
    }
    out.extend_from_slice(b",\"flags\":");
    uint(out, flags);
    out.extend_from_slice(b",\"name\":");
    string(out, &s.name);
    out.extend_from_slice(b",\"kind\":");
    uint(out, crate::proto::span_kind(s.kind) as u64);
    out.extend_from_slice(b",\"startTimeUnixNano\":");
    quoted_uint(out, unix_nanos(s.start));
    out.extend_from_slice(b",\"endTimeUnixNano\":");
    quoted_uint(out, unix_nanos(s.end));
    out.extend_from_slice(b",\"attributes\":[");
    let mut first = true;
    attributes(out, &s.attributes, &mut first);
    metadata(
        out,
        &mut first,
        names,
        s.category,
        s.probability,
        s.key_id,
        s.subject,
    );
    out.push(b']');
    if s.dropped_attributes > 0 {
        out.extend_from_slice(b",\"droppedAttributesCount\":");
        uint(out, u64::from(s.dropped_attributes));
    }
    if !s.events.is_empty() {
        out.extend_from_slice(b",\"events\":[");
        for (i, e) in s.events.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"timeUnixNano\":");
            quoted_uint(out, unix_nanos(e.time));
            out.extend_from_slice(b",\"name\":");
            string(out, &e.name);
            if !e.attributes.is_empty() {
                out.extend_from_slice(b",\"attributes\":[");
                let mut first = true;
                attributes(out, &e.attributes, &mut first);
                out.push(b']');
            }
            out.push(b'}');
        }
        out.push(b']');
    }
    match &s.status {
        SpanStatus::Unset => out.extend_from_slice(b",\"status\":{}"),
        SpanStatus::Ok => out.extend_from_slice(b",\"status\":{\"code\":1}"),
        SpanStatus::Error { description } => {
            out.extend_from_slice(b",\"status\":{\"message\":");
            string(out, description);
            out.extend_from_slice(b",\"code\":2}");
        }
    }
    out.push(b'}');
}

/// Appends one `ExportLogsServiceRequest` (without a newline).
pub fn encode_logs(
    out: &mut Vec<u8>,
    resource: &Resource,
    names: &CategoryNames,
    logs: &[LogRecord],
) {
    resource_and_scope_open(out, resource, "resourceLogs", "scopeLogs");
    out.extend_from_slice(b",\"logRecords\":[");
    for (i, l) in logs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        log(out, l, names);
    }
    out.extend_from_slice(b"]}]}]}");
}

fn log(out: &mut Vec<u8>, l: &LogRecord, names: &CategoryNames) {
    let mut digits = itoa::Buffer::new();
    let time = digits.format(unix_nanos(l.time)).as_bytes();
    out.extend_from_slice(b"{\"timeUnixNano\":\"");
    out.extend_from_slice(time);
    out.extend_from_slice(b"\",\"observedTimeUnixNano\":\"");
    out.extend_from_slice(time);
    out.push(b'"');
    out.extend_from_slice(b",\"severityNumber\":");
    uint(out, l.severity as u64);
    out.extend_from_slice(b",\"severityText\":");
    string(out, l.severity.text());
    if let Some(body) = &l.body {
        out.extend_from_slice(b",\"body\":{\"stringValue\":");
        string(out, body);
        out.push(b'}');
    }
    out.extend_from_slice(b",\"attributes\":[");
    let mut first = true;
    attributes(out, &l.attributes, &mut first);
    metadata(
        out,
        &mut first,
        names,
        l.category,
        l.probability,
        l.key_id,
        l.subject,
    );
    if l.schema_version > 0 {
        key_value(
            out,
            &mut first,
            keys::SCHEMA_VERSION,
            &AttrValue::I64(i64::from(l.schema_version)),
        );
    }
    out.push(b']');
    if l.dropped_attributes > 0 {
        out.extend_from_slice(b",\"droppedAttributesCount\":");
        uint(out, u64::from(l.dropped_attributes));
    }
    if let Some(t) = l.trace {
        if t.sampled {
            out.extend_from_slice(b",\"flags\":1");
        }
        out.extend_from_slice(b",\"traceId\":\"");
        hex(out, &t.trace_id.to_bytes());
        out.extend_from_slice(b"\",\"spanId\":\"");
        hex(out, &t.span_id.to_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b",\"eventName\":");
    string(out, &l.event_name);
    out.push(b'}');
}

/// Appends one `ExportMetricsServiceRequest` (without a newline).
pub fn encode_metrics(
    out: &mut Vec<u8>,
    resource: &Resource,
    names: &CategoryNames,
    metrics: &[MetricData],
) {
    resource_and_scope_open(out, resource, "resourceMetrics", "scopeMetrics");
    out.extend_from_slice(b",\"metrics\":[");
    for (i, m) in metrics.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        metric(out, m, names);
    }
    out.extend_from_slice(b"]}]}]}");
}

fn metric(out: &mut Vec<u8>, m: &MetricData, names: &CategoryNames) {
    let category = names.name(m.category);
    out.extend_from_slice(b"{\"name\":");
    string(out, &m.name);
    out.extend_from_slice(b",\"description\":");
    string(out, &m.description);
    out.extend_from_slice(b",\"unit\":");
    string(out, &m.unit);
    match &m.points {
        MetricPoints::Sum {
            monotonic,
            temporality,
            points,
        } => {
            out.extend_from_slice(b",\"sum\":{\"dataPoints\":[");
            number_points(out, points, &category);
            out.extend_from_slice(b"],\"aggregationTemporality\":");
            int(out, i64::from(crate::proto::temporality(*temporality)));
            out.extend_from_slice(if *monotonic {
                b",\"isMonotonic\":true}"
            } else {
                b",\"isMonotonic\":false}"
            });
        }
        MetricPoints::Gauge { points } => {
            out.extend_from_slice(b",\"gauge\":{\"dataPoints\":[");
            number_points(out, points, &category);
            out.extend_from_slice(b"]}");
        }
        MetricPoints::Histogram {
            temporality,
            points,
        } => {
            out.extend_from_slice(b",\"histogram\":{\"dataPoints\":[");
            for (i, p) in points.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                histogram_point(out, p, &category);
            }
            out.extend_from_slice(b"],\"aggregationTemporality\":");
            int(out, i64::from(crate::proto::temporality(*temporality)));
            out.push(b'}');
        }
    }
    out.push(b'}');
}

/// Opens a data point: its attributes (plus the instrument's category,
/// unless the point names one, as [`crate::proto`] does) and times.
fn point_open(
    out: &mut Vec<u8>,
    attrs: &[Attribute],
    category: &str,
    start: std::time::SystemTime,
    time: std::time::SystemTime,
) {
    out.extend_from_slice(b"{\"attributes\":[");
    let mut first = true;
    attributes(out, attrs, &mut first);
    if !attrs.iter().any(|a| a.key == keys::CATEGORY) {
        if !first {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"key\":\"");
        out.extend_from_slice(keys::CATEGORY.as_bytes());
        out.extend_from_slice(b"\",\"value\":{\"stringValue\":");
        string(out, category);
        out.extend_from_slice(b"}}");
    }
    out.extend_from_slice(b"],\"startTimeUnixNano\":");
    quoted_uint(out, unix_nanos(start));
    out.extend_from_slice(b",\"timeUnixNano\":");
    quoted_uint(out, unix_nanos(time));
}

fn number_points(out: &mut Vec<u8>, points: &[NumberPoint], category: &str) {
    for (i, p) in points.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        point_open(out, &p.attributes, category, p.start, p.time);
        match p.value {
            Number::I64(v) => {
                out.extend_from_slice(b",\"asInt\":\"");
                int(out, v);
                out.push(b'"');
            }
            Number::F64(v) => {
                out.extend_from_slice(b",\"asDouble\":");
                double(out, v);
            }
        }
        out.push(b'}');
    }
}

fn histogram_point(out: &mut Vec<u8>, p: &HistogramPoint, category: &str) {
    point_open(out, &p.attributes, category, p.start, p.time);
    out.extend_from_slice(b",\"count\":");
    quoted_uint(out, p.count);
    out.extend_from_slice(b",\"sum\":");
    double(out, p.sum);
    out.extend_from_slice(b",\"bucketCounts\":[");
    for (i, c) in p.bucket_counts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        quoted_uint(out, *c);
    }
    out.extend_from_slice(b"],\"explicitBounds\":[");
    for (i, b) in p.bounds.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        double(out, *b);
    }
    out.push(b']');
    if let Some(min) = p.min {
        out.extend_from_slice(b",\"min\":");
        double(out, min);
    }
    if let Some(max) = p.max {
        out.extend_from_slice(b",\"max\":");
        double(out, max);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        let mut out = Vec::new();
        string(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(String::from_utf8(out).unwrap(), r#""a\"b\\c\nd\u0001é""#);
    }

    #[test]
    fn the_word_scan_finds_every_byte_to_escape_at_every_place() {
        // Each byte value at each position of strings 1 to 19 bytes long
        // (across and past an eight-byte word), in plain ASCII and in
        // bytes of 0x80 and above: the scan agrees with the byte test.
        for len in 1..20 {
            for at in 0..len {
                for b in 0..=255u8 {
                    for fill in [b'x', 0xC3] {
                        let mut bytes = vec![fill; len];
                        bytes[at] = b;
                        let expected = bytes.iter().position(|&b| needs_escape(b));
                        assert_eq!(first_to_escape(&bytes), expected, "{bytes:?}");
                    }
                }
            }
        }
        assert_eq!(first_to_escape(b""), None);
    }

    #[test]
    fn numbers() {
        let mut out = Vec::new();
        int(&mut out, i64::MIN);
        out.push(b' ');
        uint(&mut out, 0);
        out.push(b' ');
        double(&mut out, f64::NAN);
        out.push(b' ');
        double(&mut out, 0.25);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "-9223372036854775808 0 \"NaN\" 0.25"
        );
    }

    #[test]
    fn doubles_are_short_and_exact() {
        let cases: [(f64, &str); 12] = [
            (1.0, "1"),
            (0.0, "0"),
            (-0.0, "-0"),
            (123.5, "123.5"),
            (1e20, "100000000000000000000"),
            (1e21, "1e21"),
            (1e-6, "0.000001"),
            (1.5e-7, "1.5e-7"),
            (f64::MAX, "1.7976931348623157e308"),
            (f64::MIN, "-1.7976931348623157e308"),
            (f64::from_bits(1), "5e-324"),
            (0.1 + 0.2, "0.30000000000000004"),
        ];
        for (v, text) in cases {
            let mut out = Vec::new();
            double(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), text);
            let back: f64 = text.parse().unwrap();
            assert_eq!(back.to_bits(), v.to_bits(), "{text}");
        }
    }
}
