//! Trace identity: trace and span ids, span contexts, and the W3C
//! `traceparent` header format.

use std::cell::Cell;
use std::fmt;
use std::hash::{BuildHasher, Hasher};

/// A 16-byte trace id. The zero id is invalid.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(pub u128);

/// An 8-byte span id. The zero id is invalid.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId(pub u64);

impl TraceId {
    /// The 16 bytes, big-endian (as in `traceparent` and OTLP).
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }
    /// Whether the id is valid (non-zero).
    pub fn is_valid(self) -> bool {
        self.0 != 0
    }
    /// A new random trace id.
    pub fn random() -> TraceId {
        loop {
            let id = (u128::from(next_random()) << 64) | u128::from(next_random());
            if id != 0 {
                return TraceId(id);
            }
        }
    }
}

impl SpanId {
    /// The 8 bytes, big-endian.
    pub fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }
    /// Whether the id is valid (non-zero).
    pub fn is_valid(self) -> bool {
        self.0 != 0
    }
    /// A new random span id.
    pub fn random() -> SpanId {
        loop {
            let id = next_random();
            if id != 0 {
                return SpanId(id);
            }
        }
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}
impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}
impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}
impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

impl serde::Serialize for TraceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl serde::Serialize for SpanId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

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

/// A new trace id and span id from one 64-bit random draw: the halves are
/// spread by the SplitMix64 finaliser (a bijection, so distinct draws give
/// distinct ids). The trace id's low 56 bits, which sampling reads, are
/// uniformly distributed.
#[inline]
pub(crate) fn ids_from(r: u64) -> (TraceId, SpanId) {
    let hi = splitmix(r ^ 0x6a09_e667_f3bc_c908);
    let lo = splitmix(r);
    let span = splitmix(r ^ 0xbb67_ae85_84ca_a73b);
    let trace = (u128::from(hi) << 64) | u128::from(lo);
    (
        TraceId(if trace == 0 { 1 } else { trace }),
        SpanId(if span == 0 { 1 } else { span }),
    )
}

#[inline]
fn splitmix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

thread_local! {
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// A fast thread-local pseudo-random u64 (wyrand), seeded per thread from the
/// OS-seeded `RandomState`. Not for cryptography: for ids and sampling.
#[inline]
pub(crate) fn next_random() -> u64 {
    RNG.with(|state| {
        let mut s = state.get();
        if s == 0 {
            s = seed();
        }
        s = s.wrapping_add(0xa076_1d64_78bd_642f);
        state.set(s);
        let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    })
}

fn seed() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    h.finish() | 1
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

    #[test]
    fn random_ids_are_valid_and_differ() {
        let a = TraceId::random();
        let b = TraceId::random();
        assert!(a.is_valid() && b.is_valid() && a != b);
        assert_eq!(format!("{}", SpanId(0xab)), "00000000000000ab");
    }
}
