//! Spans and log records written straight into OTLP protobuf bytes: the
//! same bytes `prost` writes for the messages of [`crate::proto`] (a test
//! holds every field and value kind to that), without building those
//! messages first.
//!
//! Why not `prost` alone: going through `opentelemetry-proto`'s message
//! types copies every key and string value into a `String` of its own and
//! every id into a `Vec`, a few allocations per attribute, on the export
//! worker; the protobuf file format measured slower than our JSON lines
//! with it (0.93 M events/s against 1.59 M, `file_throughput` bench).
//! Metrics (a few points a collection) still go through `prost`.
//!
//! Encoding follows proto3 as `prost` does: fields in tag order, scalars
//! equal to their default left out, `oneof` members and present messages
//! always written, lengths as minimal varints. A message's length comes
//! before its bytes, so each span or log record is written into a scratch
//! buffer first and copied in behind its length; the small messages inside
//! it (values, attributes, events) have their lengths computed.

use telemetry_core::export::keys;
use telemetry_core::export::{
    AttrValue, Attribute, CategoryNames, LogRecord, REDACTED, Resource, SpanRecord, SpanStatus,
    SubjectKey, unix_nanos,
};
use telemetry_core::{Category, KeyId};

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    // 1 byte per 7 bits, at least 1.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn key(out: &mut Vec<u8>, field: u32, wire: u32) {
    varint(out, u64::from(field << 3 | wire));
}

fn key_len(field: u32) -> usize {
    varint_len(u64::from(field << 3))
}

/// A length-delimited field of `len` bytes: its key and length.
fn len_prefix(out: &mut Vec<u8>, field: u32, len: usize) {
    key(out, field, LEN);
    varint(out, len as u64);
}

fn len_field_len(field: u32, len: usize) -> usize {
    key_len(field) + varint_len(len as u64) + len
}

/// A `string` or `bytes` field, left out when empty.
fn bytes_field(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    if !b.is_empty() {
        len_prefix(out, field, b.len());
        out.extend_from_slice(b);
    }
}

fn fixed64_field(out: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        key(out, field, FIXED64);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn fixed32_field(out: &mut Vec<u8>, field: u32, v: u32) {
    if v != 0 {
        key(out, field, FIXED32);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// A `uint32`, `int32` or enum field (negative numbers as ten bytes, as
/// protobuf sign-extends them), left out when zero.
fn int_field(out: &mut Vec<u8>, field: u32, v: i64) {
    if v != 0 {
        key(out, field, VARINT);
        varint(out, v as u64);
    }
}

// --- AnyValue (common.v1): string 1, bool 2, int64 3, double 4,
// ArrayValue 5 (values 1), KeyValueList 6 (values 1); exactly one is set.

/// How a value is written: as `crate::proto::any_value` maps it.
enum Scalar<'a> {
    Str(&'a [u8]),
    Hex([u8; 32]),
    /// A string made for the purpose (a number too large for `int64`, a
    /// subject key's hex).
    Decimal(String),
    Bool(bool),
    Int(i64),
    Double(f64),
}

fn scalar(v: &AttrValue) -> Option<Scalar<'_>> {
    Some(match v {
        AttrValue::Bool(b) => Scalar::Bool(*b),
        AttrValue::I64(i) => Scalar::Int(*i),
        AttrValue::U64(u) => match i64::try_from(*u) {
            Ok(i) => Scalar::Int(i),
            Err(_) => Scalar::Decimal(u.to_string()),
        },
        AttrValue::F64(f) => Scalar::Double(*f),
        AttrValue::Str(s) => Scalar::Str(s.as_bytes()),
        AttrValue::Hashed(d) => Scalar::Hex(hex(d)),
        AttrValue::Redacted => Scalar::Str(REDACTED.as_bytes()),
        AttrValue::Array(_) | AttrValue::Map(_) => return None,
    })
}

fn hex(d: &[u8; 16]) -> [u8; 32] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 32];
    for (pair, b) in out.chunks_exact_mut(2).zip(d) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0xf)];
    }
    out
}

/// The length of an `AnyValue` message holding scalar `v`.
fn scalar_len(v: &Scalar<'_>) -> usize {
    match v {
        Scalar::Str(s) => len_field_len(1, s.len()),
        Scalar::Hex(_) => len_field_len(1, 32),
        Scalar::Decimal(s) => len_field_len(1, s.len()),
        Scalar::Bool(_) => 2,
        Scalar::Int(i) => 1 + varint_len(*i as u64),
        Scalar::Double(_) => 9,
    }
}

/// Writes the `AnyValue` message holding scalar `v` (without its length).
fn write_scalar(out: &mut Vec<u8>, v: &Scalar<'_>) {
    match v {
        Scalar::Str(s) => {
            len_prefix(out, 1, s.len());
            out.extend_from_slice(s);
        }
        Scalar::Hex(h) => {
            len_prefix(out, 1, h.len());
            out.extend_from_slice(h);
        }
        Scalar::Decimal(s) => {
            len_prefix(out, 1, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        Scalar::Bool(b) => {
            key(out, 2, VARINT);
            out.push(u8::from(*b));
        }
        Scalar::Int(i) => {
            key(out, 3, VARINT);
            varint(out, *i as u64);
        }
        Scalar::Double(f) => {
            key(out, 4, FIXED64);
            out.extend_from_slice(&f.to_le_bytes());
        }
    }
}

/// The length of an `AnyValue` message holding `v`.
fn any_len(v: &AttrValue) -> usize {
    match (scalar(v), v) {
        (Some(s), _) => scalar_len(&s),
        (None, AttrValue::Array(items)) => len_field_len(5, array_len(items)),
        (None, AttrValue::Map(pairs)) => len_field_len(6, kvlist_len(pairs)),
        (None, _) => 0,
    }
}

fn array_len(items: &[AttrValue]) -> usize {
    items.iter().map(|v| len_field_len(1, any_len(v))).sum()
}

fn kvlist_len(pairs: &[(std::borrow::Cow<'static, str>, AttrValue)]) -> usize {
    pairs
        .iter()
        .map(|(k, v)| len_field_len(1, kv_len(k, v)))
        .sum()
}

fn write_any(out: &mut Vec<u8>, v: &AttrValue) {
    match (scalar(v), v) {
        (Some(s), _) => write_scalar(out, &s),
        (None, AttrValue::Array(items)) => {
            len_prefix(out, 5, array_len(items));
            for item in items {
                len_prefix(out, 1, any_len(item));
                write_any(out, item);
            }
        }
        (None, AttrValue::Map(pairs)) => {
            len_prefix(out, 6, kvlist_len(pairs));
            for (k, v) in pairs {
                len_prefix(out, 1, kv_len(k, v));
                kv(out, k, v);
            }
        }
        (None, _) => {}
    }
}

// --- KeyValue (common.v1): key 1, value 2 (always present here).

fn kv_len(k: &str, v: &AttrValue) -> usize {
    let key_part = if k.is_empty() {
        0
    } else {
        len_field_len(1, k.len())
    };
    key_part + len_field_len(2, any_len(v))
}

fn kv(out: &mut Vec<u8>, k: &str, v: &AttrValue) {
    bytes_field(out, 1, k.as_bytes());
    len_prefix(out, 2, any_len(v));
    write_any(out, v);
}

/// Repeated `KeyValue` field `field` of `attrs`.
fn attributes(out: &mut Vec<u8>, field: u32, attrs: &[Attribute]) {
    for a in attrs {
        len_prefix(out, field, kv_len(&a.key, &a.value));
        kv(out, &a.key, &a.value);
    }
}

/// One attribute with a scalar value (the record metadata).
fn attribute(out: &mut Vec<u8>, field: u32, k: &str, v: &Scalar<'_>) {
    let value = scalar_len(v);
    len_prefix(
        out,
        field,
        len_field_len(1, k.len()) + len_field_len(2, value),
    );
    bytes_field(out, 1, k.as_bytes());
    len_prefix(out, 2, value);
    write_scalar(out, v);
}

/// The record-level attributes of `crate::proto::record_metadata`, in the
/// same order.
fn record_metadata(
    out: &mut Vec<u8>,
    field: u32,
    names: &CategoryNames,
    category: Category,
    probability: f64,
    key_id: Option<KeyId>,
    subject: Option<SubjectKey>,
) {
    let name = names.name(category);
    attribute(out, field, keys::CATEGORY, &Scalar::Str(name.as_bytes()));
    attribute(
        out,
        field,
        keys::SAMPLE_PROBABILITY,
        &Scalar::Double(probability),
    );
    if let Some(id) = key_id {
        attribute(out, field, keys::HASH_KEY_ID, &Scalar::Int(i64::from(id.0)));
    }
    if let Some(s) = subject {
        attribute(out, field, keys::SUBJECT, &Scalar::Decimal(s.to_hex()));
    }
}

// --- The envelope: request { resource_x 1 { resource 1, scope_x 2 {
// scope 1, records 2 } } }, written around the records' bytes.

/// The `Resource` message (attributes 1) and the `InstrumentationScope`
/// message (name 1, version 2), each with its length.
fn resource_and_scope(res: &Resource) -> (Vec<u8>, Vec<u8>) {
    let mut resource = Vec::new();
    attributes(&mut resource, 1, res.attributes());
    let mut scope = Vec::new();
    bytes_field(&mut scope, 1, telemetry_core::export::SDK_NAME.as_bytes());
    bytes_field(
        &mut scope,
        2,
        telemetry_core::export::SDK_VERSION.as_bytes(),
    );
    (resource, scope)
}

/// How a request is framed on its way out.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// The message alone (an HTTP body).
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    Bare,
    /// Its length as a varint first, as `prost`'s
    /// `encode_length_delimited` writes it (the protobuf file format);
    /// refused when the message is over `max` bytes.
    #[cfg_attr(not(feature = "file"), allow(dead_code))]
    Delimited { max: usize },
}

/// A request over its size limit: its length in bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TooLarge(pub(crate) usize);

/// Appends the request around `records` (each already a field 2 of the
/// scope message, with its key and length), framed as `framing` says.
fn envelope(
    out: &mut Vec<u8>,
    res: &Resource,
    records: &[u8],
    framing: Framing,
) -> Result<(), TooLarge> {
    let (resource, scope) = resource_and_scope(res);
    let scope_x = len_field_len(1, scope.len()) + records.len();
    let resource_x = len_field_len(1, resource.len()) + len_field_len(2, scope_x);
    let total = len_field_len(1, resource_x);
    if let Framing::Delimited { max } = framing {
        if total > max {
            return Err(TooLarge(total));
        }
        out.reserve(varint_len(total as u64) + total);
        varint(out, total as u64);
    } else {
        out.reserve(total);
    }
    len_prefix(out, 1, resource_x);
    len_prefix(out, 1, resource.len());
    out.extend_from_slice(&resource);
    len_prefix(out, 2, scope_x);
    len_prefix(out, 1, scope.len());
    out.extend_from_slice(&scope);
    out.extend_from_slice(records);
    Ok(())
}

/// Reused buffers: the records of one request, and one record's body.
#[derive(Default)]
pub(crate) struct Scratch {
    records: Vec<u8>,
    body: Vec<u8>,
}

impl Scratch {
    /// Appends `body` to the records as field 2 (a span or a log record).
    fn push_body(&mut self) {
        len_prefix(&mut self.records, 2, self.body.len());
        self.records.extend_from_slice(&self.body);
        self.body.clear();
    }
}

/// Appends the bytes of `crate::proto::logs_request(res, names, logs)`,
/// framed as `framing` says.
pub(crate) fn logs_request(
    out: &mut Vec<u8>,
    scratch: &mut Scratch,
    framing: Framing,
    res: &Resource,
    names: &CategoryNames,
    logs: &[LogRecord],
) -> Result<(), TooLarge> {
    scratch.records.clear();
    for l in logs {
        log(&mut scratch.body, l, names);
        scratch.push_body();
    }
    envelope(out, res, &scratch.records, framing)
}

/// Appends the bytes of `crate::proto::trace_request(res, names, spans)`,
/// framed as `framing` says.
pub(crate) fn trace_request(
    out: &mut Vec<u8>,
    scratch: &mut Scratch,
    framing: Framing,
    res: &Resource,
    names: &CategoryNames,
    spans: &[SpanRecord],
) -> Result<(), TooLarge> {
    scratch.records.clear();
    for s in spans {
        span(&mut scratch.body, s, names);
        scratch.push_body();
    }
    envelope(out, res, &scratch.records, framing)
}

// --- LogRecord (logs.v1): time 1 (fixed64), severity_number 2,
// severity_text 3, body 5, attributes 6, dropped_attributes_count 7,
// flags 8 (fixed32), trace_id 9, span_id 10, observed_time 11 (fixed64),
// event_name 12.

fn log(out: &mut Vec<u8>, l: &LogRecord, names: &CategoryNames) {
    let time = unix_nanos(l.time);
    fixed64_field(out, 1, time);
    int_field(out, 2, l.severity as i64);
    bytes_field(out, 3, l.severity.text().as_bytes());
    if let Some(body) = &l.body {
        // An AnyValue holding a string (1).
        let len = len_field_len(1, body.len());
        len_prefix(out, 5, len);
        len_prefix(out, 1, body.len());
        out.extend_from_slice(body.as_bytes());
    }
    attributes(out, 6, &l.attributes);
    record_metadata(
        out,
        6,
        names,
        l.category,
        l.probability,
        l.key_id,
        l.subject,
    );
    if l.schema_version > 0 {
        attribute(
            out,
            6,
            keys::SCHEMA_VERSION,
            &Scalar::Int(i64::from(l.schema_version)),
        );
    }
    int_field(out, 7, i64::from(l.dropped_attributes));
    fixed32_field(out, 8, l.trace.map_or(0, |t| u32::from(t.sampled)));
    if let Some(t) = l.trace {
        bytes_field(out, 9, &t.trace_id.to_bytes());
        bytes_field(out, 10, &t.span_id.to_bytes());
    }
    fixed64_field(out, 11, time);
    bytes_field(out, 12, l.event_name.as_bytes());
}

// --- Span (trace.v1): trace_id 1, span_id 2, parent_span_id 4, name 5,
// kind 6, start 7 (fixed64), end 8 (fixed64), attributes 9,
// dropped_attributes_count 10, events 11 { time 1 (fixed64), name 2,
// attributes 3 }, status 15 { message 2, code 3 }, flags 16 (fixed32).

fn span(out: &mut Vec<u8>, s: &SpanRecord, names: &CategoryNames) {
    bytes_field(out, 1, &s.trace_id.to_bytes());
    bytes_field(out, 2, &s.span_id.to_bytes());
    if let Some(p) = s.parent_span_id {
        bytes_field(out, 4, &p.to_bytes());
    }
    bytes_field(out, 5, s.name.as_bytes());
    int_field(out, 6, crate::proto::span_kind(s.kind) as i64);
    fixed64_field(out, 7, unix_nanos(s.start));
    fixed64_field(out, 8, unix_nanos(s.end));
    attributes(out, 9, &s.attributes);
    record_metadata(
        out,
        9,
        names,
        s.category,
        s.probability,
        s.key_id,
        s.subject,
    );
    int_field(out, 10, i64::from(s.dropped_attributes));
    for e in &s.events {
        let time = unix_nanos(e.time);
        let attrs: usize = e
            .attributes
            .iter()
            .map(|a| len_field_len(3, kv_len(&a.key, &a.value)))
            .sum();
        let name = if e.name.is_empty() {
            0
        } else {
            len_field_len(2, e.name.len())
        };
        let len = if time != 0 { 9 } else { 0 } + name + attrs;
        len_prefix(out, 11, len);
        fixed64_field(out, 1, time);
        bytes_field(out, 2, e.name.as_bytes());
        attributes(out, 3, &e.attributes);
    }
    let (code, message): (i64, &str) = match &s.status {
        SpanStatus::Unset => (0, ""),
        SpanStatus::Ok => (1, ""),
        SpanStatus::Error { description } => (2, description),
    };
    let message_len = if message.is_empty() {
        0
    } else {
        len_field_len(2, message.len())
    };
    let code_len = if code != 0 { 2 } else { 0 };
    len_prefix(out, 15, message_len + code_len);
    bytes_field(out, 2, message.as_bytes());
    int_field(out, 3, code);
    fixed32_field(
        out,
        16,
        crate::proto::span_flags(true, s.parent_span_id.map(|_| s.parent_remote)),
    );
}

#[cfg(test)]
mod tests {
    //! The bytes written here are the bytes `prost` writes for the messages
    //! of [`crate::proto`], for every kind of value and every optional
    //! part of a record.
    #![allow(clippy::unwrap_used)]

    use std::borrow::Cow;
    use std::sync::OnceLock;
    use std::time::{Duration, SystemTime};

    use proptest::prelude::*;
    use prost::Message;
    use telemetry_core::export::{SpanEvent, TraceLink};
    use telemetry_core::testing::InMemoryExporter;
    use telemetry_core::trace::{SpanId, TraceId};
    use telemetry_core::{ConsentPolicy, Environment, Severity, SpanKind, Telemetry};

    use super::*;

    /// A resource as the pipeline builds it (it has no public constructor).
    fn resource() -> &'static Resource {
        static RESOURCE: OnceLock<Resource> = OnceLock::new();
        RESOURCE.get_or_init(|| {
            let mem = InMemoryExporter::new();
            let t = Telemetry::builder()
                .service("wire-test", "0.1.0")
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

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "[a-z.]{1,12}",
            "\\PC{0,40}",
            "[a-z]{130,200}",
        ]
    }

    fn value() -> impl Strategy<Value = AttrValue> {
        let leaf = prop_oneof![
            any::<bool>().prop_map(AttrValue::Bool),
            any::<i64>().prop_map(AttrValue::I64),
            any::<u64>().prop_map(AttrValue::U64),
            prop_oneof![
                any::<f64>(),
                Just(0.0),
                Just(-0.0),
                Just(f64::NAN),
                Just(f64::INFINITY)
            ]
            .prop_map(AttrValue::F64),
            text().prop_map(|s| AttrValue::Str(s.into())),
            any::<[u8; 16]>().prop_map(AttrValue::Hashed),
            Just(AttrValue::Redacted),
        ];
        leaf.prop_recursive(2, 12, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(AttrValue::Array),
                prop::collection::vec((text(), inner), 0..4).prop_map(|pairs| {
                    AttrValue::Map(pairs.into_iter().map(|(k, v)| (Cow::Owned(k), v)).collect())
                }),
            ]
        })
    }

    fn attributes() -> impl Strategy<Value = Vec<Attribute>> {
        prop::collection::vec(
            (text(), value()).prop_map(|(k, v)| Attribute::new(Cow::Owned(k), v)),
            0..6,
        )
    }

    fn time() -> impl Strategy<Value = SystemTime> {
        prop_oneof![
            Just(SystemTime::UNIX_EPOCH),
            (0u64..4_000_000_000_000_000_000)
                .prop_map(|n| SystemTime::UNIX_EPOCH + Duration::from_nanos(n)),
        ]
    }

    fn category() -> impl Strategy<Value = Category> {
        prop_oneof![
            Just(Category::PERFORMANCE),
            Just(Category::BUSINESS),
            (0u8..Category::CUSTOM_COUNT).prop_map(Category::custom),
        ]
    }

    fn common() -> impl Strategy<
        Value = (
            Category,
            Vec<Attribute>,
            u32,
            f64,
            Option<SubjectKey>,
            Option<KeyId>,
        ),
    > {
        (
            category(),
            attributes(),
            prop_oneof![Just(0u32), any::<u32>()],
            prop_oneof![Just(0.0), Just(1.0), 0.0..1.0f64],
            prop::option::of(any::<[u8; 16]>().prop_map(SubjectKey)),
            prop::option::of(any::<u32>().prop_map(KeyId)),
        )
    }

    fn log() -> impl Strategy<Value = LogRecord> {
        (
            common(),
            time(),
            text(),
            prop_oneof![
                Just(Severity::Trace),
                Just(Severity::Debug),
                Just(Severity::Info),
                Just(Severity::Warn),
                Just(Severity::Error),
                Just(Severity::Fatal)
            ],
            prop::option::of(text()),
            prop_oneof![Just(0u32), any::<u32>()],
            prop::option::of((any::<u128>(), any::<u64>(), any::<bool>())),
        )
            .prop_map(
                |(
                    (category, attrs, dropped, probability, subject, key_id),
                    time,
                    name,
                    severity,
                    body,
                    schema_version,
                    trace,
                )| {
                    LogRecord {
                        time,
                        event_name: Cow::Owned(name),
                        category,
                        severity,
                        body: body.map(Cow::Owned),
                        schema_version,
                        attributes: attrs.into(),
                        dropped_attributes: dropped,
                        trace: trace.map(|(t, s, sampled)| TraceLink {
                            trace_id: TraceId(t),
                            span_id: SpanId(s),
                            sampled,
                        }),
                        probability,
                        subject,
                        key_id,
                    }
                },
            )
    }

    fn span() -> impl Strategy<Value = SpanRecord> {
        (
            common(),
            (
                any::<u128>(),
                any::<u64>(),
                prop::option::of(any::<u64>()),
                any::<bool>(),
            ),
            (text(), time(), time()),
            prop_oneof![
                Just(SpanStatus::Unset),
                Just(SpanStatus::Ok),
                text().prop_map(|d| SpanStatus::Error {
                    description: Cow::Owned(d)
                }),
            ],
            prop_oneof![
                Just(SpanKind::Internal),
                Just(SpanKind::Server),
                Just(SpanKind::Client),
                Just(SpanKind::Producer),
                Just(SpanKind::Consumer)
            ],
            prop::collection::vec((text(), time(), attributes()), 0..3),
        )
            .prop_map(
                |(
                    (category, attrs, dropped, probability, subject, key_id),
                    (trace, id, parent, remote),
                    (name, start, end),
                    status,
                    kind,
                    events,
                )| {
                    SpanRecord {
                        trace_id: TraceId(trace),
                        span_id: SpanId(id),
                        parent_span_id: parent.map(SpanId),
                        parent_remote: remote,
                        name: Cow::Owned(name),
                        category,
                        start,
                        end,
                        status,
                        kind,
                        attributes: attrs.into(),
                        events: events
                            .into_iter()
                            .map(|(name, time, attrs)| SpanEvent {
                                name: Cow::Owned(name),
                                time,
                                attributes: attrs.into(),
                            })
                            .collect(),
                        dropped_attributes: dropped,
                        probability,
                        subject,
                        key_id,
                    }
                },
            )
    }

    fn names() -> CategoryNames {
        CategoryNames::default()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn logs_are_the_bytes_prost_writes(logs in prop::collection::vec(log(), 0..5)) {
            let names = names();
            let mut direct = Vec::new();
            let mut scratch = Scratch::default();
            logs_request(&mut direct, &mut scratch, Framing::Bare, resource(), &names, &logs).unwrap();
            let message = crate::proto::logs_request(resource(), &names, &logs);
            prop_assert_eq!(&direct, &message.encode_to_vec());
            let mut framed = Vec::new();
            logs_request(&mut framed, &mut scratch, Framing::Delimited { max: usize::MAX }, resource(), &names, &logs).unwrap();
            prop_assert_eq!(framed, message.encode_length_delimited_to_vec());
        }

        #[test]
        fn spans_are_the_bytes_prost_writes(spans in prop::collection::vec(span(), 0..5)) {
            let names = names();
            let mut direct = Vec::new();
            let mut scratch = Scratch::default();
            trace_request(&mut direct, &mut scratch, Framing::Bare, resource(), &names, &spans).unwrap();
            let message = crate::proto::trace_request(resource(), &names, &spans);
            prop_assert_eq!(&direct, &message.encode_to_vec());
            let mut framed = Vec::new();
            trace_request(&mut framed, &mut scratch, Framing::Delimited { max: usize::MAX }, resource(), &names, &spans).unwrap();
            prop_assert_eq!(framed, message.encode_length_delimited_to_vec());
        }
    }

    /// A log record with no attributes and a body of `body` bytes (none
    /// for 0).
    fn log_of_body(body: usize) -> LogRecord {
        LogRecord {
            time: SystemTime::UNIX_EPOCH,
            event_name: Cow::Borrowed("e"),
            category: Category::PERFORMANCE,
            severity: Severity::Info,
            body: (body > 0).then(|| Cow::Owned("x".repeat(body))),
            schema_version: 0,
            attributes: Default::default(),
            dropped_attributes: 0,
            trace: None,
            probability: 1.0,
            subject: None,
            key_id: None,
        }
    }

    #[test]
    fn a_request_over_the_limit_is_refused_and_nothing_is_written() {
        let log = log_of_body(1000);
        let names = names();
        let mut out = b"kept".to_vec();
        let refused = logs_request(
            &mut out,
            &mut Scratch::default(),
            Framing::Delimited { max: 500 },
            resource(),
            &names,
            &[log],
        );
        assert!(
            matches!(refused, Err(TooLarge(n)) if n > 1000),
            "{refused:?}"
        );
        assert_eq!(out, b"kept");
    }

    /// Records whose length prefix takes one, two, three and four bytes.
    #[test]
    fn records_of_every_length_prefix_size_are_the_bytes_prost_writes() {
        let names = names();
        let logs: Vec<LogRecord> = [0, 10, 100, 200, 16_200, 16_400, 70_000, 3_000_000]
            .into_iter()
            .map(log_of_body)
            .collect();
        let mut scratch = Scratch::default();
        for take in [1, logs.len()] {
            let logs = &logs[logs.len() - take..];
            let mut direct = Vec::new();
            logs_request(
                &mut direct,
                &mut scratch,
                Framing::Bare,
                resource(),
                &names,
                logs,
            )
            .unwrap();
            let message = crate::proto::logs_request(resource(), &names, logs);
            assert_eq!(direct, message.encode_to_vec());
        }
        let lengths: Vec<usize> = logs
            .iter()
            .map(|l| {
                let mut one = Vec::new();
                log_body(&mut one, l, &names);
                varint_len(one.len() as u64)
            })
            .collect();
        assert_eq!(lengths, [1, 1, 2, 2, 2, 3, 3, 4]);
    }

    fn log_body(out: &mut Vec<u8>, l: &LogRecord, names: &CategoryNames) {
        super::log(out, l, names);
    }

    #[test]
    fn varint_lengths_match_what_is_written() {
        for v in [
            0u64,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
        }
    }
}
