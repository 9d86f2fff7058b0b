//! The records that reach exporters: spans and log records (events, consent
//! audit, deletion requests), each already consented, sampled and redacted.

use std::borrow::Cow;
use std::time::SystemTime;

use crate::category::Category;
use crate::privacy::KeyId;
use crate::subject::SubjectKey;
use crate::trace::{SpanId, TraceId};
use crate::value::AttrValue;

/// One attribute of a record.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Attribute {
    /// Attribute key.
    pub key: Cow<'static, str>,
    /// Attribute value, after privacy transforms.
    pub value: AttrValue,
}

impl Attribute {
    /// A new attribute.
    pub fn new(key: impl Into<Cow<'static, str>>, value: impl Into<AttrValue>) -> Self {
        Attribute {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// Attribute keys the library puts on records for analysts.
pub mod keys {
    /// The record's category name.
    pub const CATEGORY: &str = "telemetry.category";
    /// The record's inclusion probability (0..=1]: weight each record by its
    /// inverse to estimate totals from sampled data.
    pub const SAMPLE_PROBABILITY: &str = "telemetry.sample.probability";
    /// The id of the key hashed fields were hashed with.
    pub const HASH_KEY_ID: &str = "telemetry.hash.key_id";
    /// The pseudonymous subject key (keyed hash of the subject id).
    pub const SUBJECT: &str = "telemetry.subject";
    /// An event's schema version.
    pub const SCHEMA_VERSION: &str = "telemetry.event.version";
}

/// Where the record came from in a trace.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TraceLink {
    /// Trace id.
    pub trace_id: TraceId,
    /// Span id.
    pub span_id: SpanId,
    /// Whether the trace is sampled.
    pub sampled: bool,
}

/// What a span stands for in a call between services (OpenTelemetry's
/// `SpanKind`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    /// Work inside the service (the default).
    #[default]
    Internal,
    /// Handling an incoming request.
    Server,
    /// An outgoing request to another service.
    Client,
    /// Sending a message to be handled later.
    Producer,
    /// Handling a message sent earlier.
    Consumer,
}

/// The status of a finished span.
#[derive(Clone, Debug, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanStatus {
    /// Not set.
    #[default]
    Unset,
    /// Explicitly ok.
    Ok,
    /// Failed; the description is the error's type name unless the service
    /// chose to record more.
    Error {
        /// Short description (an error type name, never a raw message by default).
        description: Cow<'static, str>,
    },
}

/// An event that happened during a span.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SpanEvent {
    /// Event name.
    pub name: Cow<'static, str>,
    /// When it happened.
    pub time: SystemTime,
    /// Its attributes.
    pub attributes: Vec<Attribute>,
}

/// A finished span.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SpanRecord {
    /// Trace id.
    pub trace_id: TraceId,
    /// Span id.
    pub span_id: SpanId,
    /// Parent span id, if any.
    pub parent_span_id: Option<SpanId>,
    /// Whether the parent came from another process.
    pub parent_remote: bool,
    /// Span name.
    pub name: Cow<'static, str>,
    /// Category whose consent and sampling applied.
    pub category: Category,
    /// Start time.
    pub start: SystemTime,
    /// End time.
    pub end: SystemTime,
    /// Status.
    pub status: SpanStatus,
    /// The span's kind.
    pub kind: SpanKind,
    /// Attributes, after privacy transforms.
    pub attributes: Vec<Attribute>,
    /// Events.
    pub events: Vec<SpanEvent>,
    /// Attributes and events dropped by limits.
    pub dropped_attributes: u32,
    /// Inclusion probability of this span's trace.
    pub probability: f64,
    /// Pseudonymous key of the subject whose consent applied, if any.
    pub subject: Option<SubjectKey>,
    /// Id of the key hashed attributes were hashed with, if any.
    pub key_id: Option<KeyId>,
}

/// Severity of a log record, as OpenTelemetry numbers it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Severity {
    /// Trace (1).
    Trace = 1,
    /// Debug (5).
    Debug = 5,
    /// Info (9).
    Info = 9,
    /// Warn (13).
    Warn = 13,
    /// Error (17).
    Error = 17,
    /// Fatal (21).
    Fatal = 21,
}

impl Severity {
    /// The OpenTelemetry severity text.
    pub const fn text(self) -> &'static str {
        match self {
            Severity::Trace => "TRACE",
            Severity::Debug => "DEBUG",
            Severity::Info => "INFO",
            Severity::Warn => "WARN",
            Severity::Error => "ERROR",
            Severity::Fatal => "FATAL",
        }
    }
}

/// An event or log record. Typed events, ad-hoc events, consent audit
/// entries and deletion requests are all log records with an event name.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LogRecord {
    /// When it happened.
    pub time: SystemTime,
    /// Event name (OpenTelemetry `event_name`).
    pub event_name: Cow<'static, str>,
    /// Category whose consent and sampling applied.
    pub category: Category,
    /// Severity.
    pub severity: Severity,
    /// Optional body (a log message; never filled from hashed or redacted data).
    pub body: Option<Cow<'static, str>>,
    /// Schema version of a typed event (0 for ad-hoc records).
    pub schema_version: u32,
    /// Attributes, after privacy transforms.
    pub attributes: Vec<Attribute>,
    /// Attributes dropped by limits.
    pub dropped_attributes: u32,
    /// The span it happened in, if any.
    pub trace: Option<TraceLink>,
    /// Inclusion probability.
    pub probability: f64,
    /// Pseudonymous key of the subject whose consent applied, if any.
    pub subject: Option<SubjectKey>,
    /// Id of the key hashed attributes were hashed with, if any.
    pub key_id: Option<KeyId>,
}

/// A record on its way to the exporters.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub enum Record {
    /// A finished span.
    Span(SpanRecord),
    /// An event or log record.
    Log(LogRecord),
}

impl Record {
    /// The subject whose consent applied, if any.
    pub fn subject(&self) -> Option<SubjectKey> {
        match self {
            Record::Span(s) => s.subject,
            Record::Log(l) => l.subject,
        }
    }

    /// The record's category.
    pub fn category(&self) -> Category {
        match self {
            Record::Span(s) => s.category,
            Record::Log(l) => l.category,
        }
    }
}

/// Builds the attribute list of a record under the configured limits and
/// the record's privacy: every captured value goes through
/// [`capture`](Self::capture).
pub(crate) struct AttrBuilder {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) dropped: u32,
    pub(crate) limited: bool,
    /// Whether any kept value is a keyed hash (the record then carries the key id).
    pub(crate) hashed: bool,
    /// Hashed values left out because the record is anonymous.
    pub(crate) withheld: u32,
    anonymous: bool,
    bytes: usize,
    max_attrs: usize,
    max_bytes: usize,
    max_string: usize,
}

impl AttrBuilder {
    /// A builder for a record; `anonymous` records keep no hashed value.
    pub(crate) fn new(limits: &crate::privacy::Limits, capacity: usize, anonymous: bool) -> Self {
        AttrBuilder {
            attrs: Vec::with_capacity(capacity.min(limits.max_attributes)),
            dropped: 0,
            limited: false,
            hashed: false,
            withheld: 0,
            anonymous,
            bytes: 0,
            max_attrs: limits.max_attributes,
            max_bytes: limits.max_record_bytes,
            max_string: limits.max_string_len,
        }
    }

    /// Captures one value as its class says: public (cut to the string
    /// limit), keyed hash, redaction marker, or nothing. In an anonymous
    /// record a hashed value is left out and counted.
    pub(crate) fn capture(
        &mut self,
        key: Cow<'static, str>,
        class: crate::privacy::FieldClass,
        value: crate::value::Value<'_>,
        keys: &crate::privacy::KeyRing,
    ) {
        if self.anonymous && class == crate::privacy::FieldClass::Hashed {
            self.withheld += 1;
            return;
        }
        if let Some((v, cut)) = crate::privacy::transform_value(class, value, keys, self.max_string)
        {
            self.push(key, v, cut);
        }
    }

    /// Captures a value that may identify the subject whatever its class
    /// (an error message, a return value): only in a record that is not
    /// anonymous; otherwise it is left out and counted. `value` is called
    /// only when the value is kept.
    pub(crate) fn capture_identifying<'v>(
        &mut self,
        key: Cow<'static, str>,
        class: crate::privacy::FieldClass,
        value: impl FnOnce() -> crate::value::Value<'v>,
        keys: &crate::privacy::KeyRing,
    ) {
        if self.anonymous {
            self.withheld += 1;
        } else {
            self.capture(key, class, value(), keys);
        }
    }

    pub(crate) fn push(&mut self, key: Cow<'static, str>, value: AttrValue, truncated: bool) {
        let size = key.len() + value.approx_size();
        if self.attrs.len() >= self.max_attrs || self.bytes + size > self.max_bytes {
            self.dropped += 1;
            self.limited = true;
            return;
        }
        self.limited |= truncated;
        self.hashed |= matches!(value, AttrValue::Hashed(_));
        self.bytes += size;
        self.attrs.push(Attribute { key, value });
    }

    /// Counts what the limits cut and what anonymity withheld, for a record
    /// of `category`.
    pub(crate) fn count_cuts(&self, drops: &crate::drops::DropCounters, category: Category) {
        if self.limited {
            drops.count(crate::drops::DropCause::Limits, category, 1);
        }
        if self.withheld > 0 {
            drops.count(
                crate::drops::DropCause::Anonymized,
                category,
                u64::from(self.withheld),
            );
        }
    }
}
