//! The records that reach exporters: spans and log records (events, consent
//! audit, deletion requests), each already consented, sampled and redacted.

use std::borrow::Cow;
use std::fmt;
use std::time::SystemTime;

use crate::category::Category;
use crate::privacy::KeyId;
use crate::trace::{SpanId, TraceId};
use crate::value::{AttrValue, hex16};

/// A record's attributes: up to four kept inline in the record, more on
/// the heap. A typical event or span therefore needs no allocation for
/// them, and the export worker frees none (it reads like a `Vec`: a slice,
/// `push`, `iter`; build one with `smallvec::smallvec![..]` or `.into()`
/// from a `Vec`).
pub type Attributes = smallvec::SmallVec<[Attribute; 4]>;

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
    pub attributes: Attributes,
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
    pub attributes: Attributes,
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
    pub attributes: Attributes,
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

/// The pseudonymous key of a data subject: the first 16 bytes of a keyed
/// BLAKE3 hash of the subject id. The raw id is never stored.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubjectKey(pub [u8; 16]);

impl SubjectKey {
    /// The key as 32 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        hex16(&self.0)
    }

    /// Parses 32 hex digits (either case; nothing else, no sign).
    pub fn from_hex(s: &str) -> Option<SubjectKey> {
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(SubjectKey(out))
    }
}

impl fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SubjectKey({})", self.to_hex())
    }
}

impl fmt::Display for SubjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl serde::Serialize for SubjectKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let k = SubjectKey([0x0f; 16]);
        assert_eq!(k.to_hex(), "0f".repeat(16));
        assert_eq!(SubjectKey::from_hex(&k.to_hex()), Some(k));
        assert_eq!(SubjectKey::from_hex("zz"), None);
        assert_eq!(SubjectKey::from_hex(&"g".repeat(32)), None);
        assert_eq!(SubjectKey::from_hex(&format!("+f{}", "0".repeat(30))), None);
    }
}
