//! Trace and span ids, and the fast thread-local generator they (and the
//! random sampling decisions) come from.

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

/// A new trace id and span id from one 64-bit random draw: the draw is
/// the trace id's low half (so distinct draws give distinct trace ids, and
/// the low 56 bits sampling reads are as uniform as the generator), and the
/// SplitMix64 finaliser spreads it into the high half and the span id.
#[inline]
pub(crate) fn ids_from(r: u64) -> (TraceId, SpanId) {
    let hi = splitmix(r ^ 0x6a09_e667_f3bc_c908);
    let lo = r;
    let span = splitmix(r ^ 0xbb67_ae85_84ca_a73b);
    let trace = (u128::from(hi) << 64) | u128::from(lo);
    (
        TraceId(if trace == 0 { 1 } else { trace }),
        SpanId(if span == 0 { 1 } else { span }),
    )
}

/// A sampled-out span's context with its ids not drawn yet: the random
/// draw they come from (see [`ids_from`]), the parent's trace if any, and
/// the probability it carries. Nothing reads a sampled-out span's ids
/// unless it is entered (children follow it) or propagated, so they are
/// made only then, always the same from the same draw.
#[derive(Copy, Clone, Debug)]
pub(crate) struct UnsampledContext {
    pub(crate) draw: u64,
    pub(crate) trace: Option<TraceId>,
    pub(crate) probability: f64,
}

impl UnsampledContext {
    /// The context, ids made from the draw.
    #[inline]
    pub(crate) fn get(&self) -> crate::trace::SpanContext {
        let (trace, span) = ids_from(self.draw);
        crate::trace::SpanContext {
            trace_id: self.trace.unwrap_or(trace),
            span_id: span,
            sampled: false,
            probability: self.probability,
            remote: false,
        }
    }
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

/// How a trace id and a probability decide whether a trace is kept. Every
/// process that uses the same rule and probability keeps the same traces;
/// two rules agree only by chance.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum TraceIdRule {
    /// OpenTelemetry's consistent probability sampling (the default): keep
    /// when the trace id's low 56 bits reach the rejection threshold
    /// 2⁵⁶·(1 − p). A service with a higher probability keeps every trace
    /// one with a lower probability keeps. Samplers that apply this
    /// threshold rule to the same 56 bits agree with it.
    #[default]
    Consistent,
    /// As the OpenTelemetry Rust SDK's `TraceIdRatioBased` (0.33) decides:
    /// keep when the low 64 bits, shifted right by one, are below p·2⁶³.
    /// Choose it when OpenTelemetry SDKs in the same traces sample with
    /// that sampler, so both keep the same traces.
    OtelRustSdk,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_valid_and_differ() {
        let a = TraceId::random();
        let b = TraceId::random();
        assert!(a.is_valid() && b.is_valid() && a != b);
        assert_eq!(format!("{}", SpanId(0xab)), "00000000000000ab");
    }
}
