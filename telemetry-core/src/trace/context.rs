//! [`SpanContext`]: the identity of a span as it propagates, and the W3C
//! `traceparent` header format (parsed from untrusted text by bytes only).

use std::fmt;

use crate::trace::{SpanId, TraceId};

/// The identity of a span as it propagates: ids, whether it is sampled, and
/// the inclusion probability of its trace.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct SpanContext {
    /// The trace this span belongs to.
    pub trace_id: TraceId,
    /// This span's id.
    pub span_id: SpanId,
    /// Whether the trace is sampled (recorded). Children follow it.
    pub sampled: bool,
    /// The probability with which the trace's root was kept (1.0 when not
    /// known, e.g. from a remote parent).
    pub probability: f64,
    /// Whether this context came from another process (`traceparent`).
    pub remote: bool,
}

impl SpanContext {
    /// A span context with these ids and flags, its probability unknown
    /// (1.0, as for a remote parent): for bridges from other tracing
    /// systems.
    pub fn new(trace_id: TraceId, span_id: SpanId, sampled: bool, remote: bool) -> SpanContext {
        SpanContext {
            trace_id,
            span_id,
            sampled,
            probability: 1.0,
            remote,
        }
    }
}

/// Why a `traceparent` header could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceparentError(&'static str);

impl fmt::Display for TraceparentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid traceparent header: {}", self.0)
    }
}
impl std::error::Error for TraceparentError {}

impl SpanContext {
    /// Parses a W3C `traceparent` header
    /// (`00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`).
    ///
    /// Follows the W3C rules: version `ff` and all-zero ids are invalid;
    /// a future version may carry more fields after the flags.
    pub fn from_traceparent(header: &str) -> Result<SpanContext, TraceparentError> {
        // Byte positions only: the header is untrusted and may hold
        // multi-byte characters anywhere; nothing here slices a `str`.
        let bytes = header.trim().as_bytes();
        if bytes.len() < 55 {
            return Err(TraceparentError("too short; expected 55 characters"));
        }
        let field = |range: std::ops::Range<usize>| bytes.get(range).unwrap_or_default();
        let version = parse_hex_u8(field(0..2)).ok_or(TraceparentError("version is not hex"))?;
        if version == 0xff {
            return Err(TraceparentError("version ff is forbidden"));
        }
        if version == 0 && bytes.len() != 55 {
            return Err(TraceparentError("version 00 must be exactly 55 characters"));
        }
        if version != 0 && bytes.len() > 55 && bytes.get(55) != Some(&b'-') {
            return Err(TraceparentError("unexpected data after the flags"));
        }
        if [2, 35, 52].iter().any(|&i| bytes.get(i) != Some(&b'-')) {
            return Err(TraceparentError("fields must be separated by '-'"));
        }
        let trace = parse_hex_lower(field(3..35)).ok_or(TraceparentError(
            "trace id must be 32 lower-case hex digits",
        ))?;
        let span = parse_hex_lower(field(36..52)).ok_or(TraceparentError(
            "parent id must be 16 lower-case hex digits",
        ))?;
        let flags = parse_hex_u8(field(53..55)).ok_or(TraceparentError("flags are not hex"))?;
        if trace == 0 {
            return Err(TraceparentError("trace id is all zeros"));
        }
        if span == 0 {
            return Err(TraceparentError("parent id is all zeros"));
        }
        Ok(SpanContext {
            trace_id: TraceId(trace),
            span_id: SpanId(span as u64),
            sampled: flags & 1 == 1,
            probability: 1.0,
            remote: true,
        })
    }

    /// Formats this context as a version-00 `traceparent` header.
    pub fn to_traceparent(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            self.trace_id,
            self.span_id,
            u8::from(self.sampled)
        )
    }
}

/// Hex digits (at most 32) as a number; upper-case digits only when
/// `upper_ok` (W3C ids must be lower-case).
fn parse_hex(digits: &[u8], upper_ok: bool) -> Option<u128> {
    if digits.is_empty() || digits.len() > 32 {
        return None;
    }
    digits.iter().try_fold(0u128, |acc, &b| {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' if upper_ok => b - b'A' + 10,
            _ => return None,
        };
        Some((acc << 4) | u128::from(d))
    })
}

fn parse_hex_lower(digits: &[u8]) -> Option<u128> {
    parse_hex(digits, false)
}

/// Two hex digits of either case as a byte.
fn parse_hex_u8(digits: &[u8]) -> Option<u8> {
    if digits.len() != 2 {
        return None;
    }
    parse_hex(digits, true).and_then(|v| u8::try_from(v).ok())
}

/// What [`Telemetry::decide_span`](crate::Telemetry::decide_span) decided.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct SpanDecision {
    /// Whether to record the span.
    pub keep: bool,
    /// The inclusion probability to record on it.
    pub probability: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trip() {
        let h = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let c = SpanContext::from_traceparent(h).unwrap();
        assert_eq!(c.trace_id, TraceId(0x4bf92f3577b34da6a3ce929d0e0e4736));
        assert_eq!(c.span_id, SpanId(0x00f067aa0ba902b7));
        assert!(c.sampled && c.remote);
        assert_eq!(c.to_traceparent(), h);
        let unsampled = SpanContext::from_traceparent(&h.replace("-01", "-00")).unwrap();
        assert!(!unsampled.sampled);
    }

    #[test]
    fn traceparent_rejects_bad_headers() {
        let cases = [
            ("", "too short"),
            (
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "ff is forbidden",
            ),
            (
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                "trace id is all zeros",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                "parent id is all zeros",
            ),
            (
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                "lower-case hex",
            ),
            (
                "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "separated by",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
                "exactly 55",
            ),
        ];
        for (h, want) in cases {
            let err = SpanContext::from_traceparent(h).unwrap_err().to_string();
            assert!(err.contains(want), "{h:?}: {err}");
        }
        // Untrusted text with multi-byte characters anywhere is an error,
        // never a panic (slicing inside a character used to panic).
        for h in [
            "é0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "0é-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473é-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0é",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01é",
            "ééééééééééééééééééééééééééééééééééééééééééééééééééééééé",
        ] {
            assert!(SpanContext::from_traceparent(h).is_err(), "{h:?}");
        }
        // A future version may append fields.
        let future = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra";
        assert!(SpanContext::from_traceparent(future).is_ok());
    }
}
