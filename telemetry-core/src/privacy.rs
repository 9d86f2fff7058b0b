//! Privacy transforms: field classes, keyed hashing with rotatable keys, and
//! the limits that bound what a record can hold.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::value::{AttrValue, Value};

/// How a captured field is treated before it leaves the process.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldClass {
    /// Exported as is (strings truncated at the configured limit).
    Public,
    /// Replaced by a keyed hash (keyed BLAKE3, 128 bits); the record carries
    /// the key id. Equal values hash equally under one key, so hashed fields
    /// can still be counted and joined, but not reversed without the key.
    Hashed,
    /// The field name is kept, the value becomes [`REDACTED`](crate::REDACTED).
    /// The value is never copied.
    Redacted,
    /// Never captured: the field is not read and leaves no trace.
    Dropped,
}

impl FieldClass {
    /// The lower-case name used in the catalogue (`public`, `hashed`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            FieldClass::Public => "public",
            FieldClass::Hashed => "hashed",
            FieldClass::Redacted => "redacted",
            FieldClass::Dropped => "dropped",
        }
    }
}

/// Identifies a hash key, so that hashed values can be matched to the key
/// that produced them after a rotation.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct KeyId(pub u32);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Minimum length of key material accepted by the builder.
pub const MIN_KEY_BYTES: usize = 16;

/// A derived 32-byte keyed-BLAKE3 key. Its `Debug` never shows the bytes.
#[derive(Clone)]
pub(crate) struct HashKey {
    pub(crate) id: KeyId,
    key: [u8; 32],
}

impl HashKey {
    pub(crate) fn derive(id: KeyId, material: &[u8], context: &str) -> Self {
        HashKey {
            id,
            key: blake3::derive_key(context, material),
        }
    }

    /// The first 16 bytes of the keyed hash of `bytes`.
    #[inline]
    pub(crate) fn digest(&self, bytes: &[u8]) -> [u8; 16] {
        let hash = blake3::keyed_hash(&self.key, bytes);
        let mut out = [0u8; 16];
        out.copy_from_slice(&hash.as_bytes()[..16]);
        out
    }

    /// The keyed hash of a field value (`None` for an absent value).
    pub(crate) fn hash_value(&self, value: Value<'_>) -> Option<[u8; 16]> {
        let mut buf = [0u8; 17];
        let bytes: &[u8] = match value {
            Value::Str(s) => return Some(self.digest(s.as_bytes())),
            Value::Absent => return None,
            Value::Bool(v) => {
                buf[0] = 1;
                buf[1] = u8::from(v);
                &buf[..2]
            }
            Value::I64(v) => {
                buf[0] = 2;
                buf[1..9].copy_from_slice(&v.to_le_bytes());
                &buf[..9]
            }
            Value::U64(v) => {
                buf[0] = 3;
                buf[1..9].copy_from_slice(&v.to_le_bytes());
                &buf[..9]
            }
            Value::F64(v) => {
                buf[0] = 4;
                buf[1..9].copy_from_slice(&v.to_le_bytes());
                &buf[..9]
            }
            Value::Duration(d) => {
                buf[0] = 5;
                buf[1..17].copy_from_slice(&d.as_nanos().to_le_bytes());
                &buf[..17]
            }
            Value::Timestamp(t) => {
                buf[0] = 6;
                buf[1..9].copy_from_slice(&crate::value::unix_nanos(t).to_le_bytes());
                &buf[..9]
            }
        };
        Some(self.digest(bytes))
    }
}

impl fmt::Debug for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HashKey({}, <secret>)", self.id.0)
    }
}

/// The configured hash keys; one is active. Rotation switches the active key
/// without a lock.
#[derive(Debug)]
pub(crate) struct KeyRing {
    keys: Vec<HashKey>,
    active: AtomicUsize,
}

pub(crate) const FIELD_KEY_CONTEXT: &str = "consent-telemetry 2026 field hash v1";
pub(crate) const SUBJECT_KEY_CONTEXT: &str = "consent-telemetry 2026 subject key v1";

impl KeyRing {
    pub(crate) fn new(keys: Vec<HashKey>) -> Self {
        let active = keys.len().saturating_sub(1);
        KeyRing {
            keys,
            active: AtomicUsize::new(active),
        }
    }

    /// The key new values are hashed with, if any key is configured.
    #[inline]
    pub(crate) fn active(&self) -> Option<&HashKey> {
        self.keys.get(self.active.load(Ordering::Relaxed))
    }

    /// Makes `id` the active key. Returns false if no such key is configured.
    pub(crate) fn rotate_to(&self, id: KeyId) -> bool {
        match self.keys.iter().position(|k| k.id == id) {
            Some(i) => {
                self.active.store(i, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }
}

/// Limits that bound what one record can hold and how many series a metric
/// can have. Every limit that is hit is counted as a drop with cause
/// [`DropCause::Limits`](crate::DropCause::Limits).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Attributes per record (span, event or span event). Default 64.
    pub max_attributes: usize,
    /// Bytes per string value; longer strings are cut at a character boundary
    /// and end with [`TRUNCATED`](crate::TRUNCATED). Default 1024.
    pub max_string_len: usize,
    /// Approximate bytes of attribute data per record; attributes past it are
    /// dropped (and counted on the record). Default 32 KiB.
    pub max_record_bytes: usize,
    /// Events per span. Default 128.
    pub max_span_events: usize,
    /// Distinct attribute sets per metric; past it, values go to one overflow
    /// series with `otel.metric.overflow = true`. Default 2000.
    pub max_series_per_metric: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_attributes: 64,
            max_string_len: 1024,
            max_record_bytes: 32 * 1024,
            max_span_events: 128,
            max_series_per_metric: 2000,
        }
    }
}

/// Applies a field class to a value, producing what the record keeps.
///
/// Returns `None` when nothing is kept (dropped class, absent value). The
/// second element says whether a limit changed the value (truncation, or a
/// missing hash key, in which case the value is redacted instead of hashed).
pub(crate) fn transform_value(
    class: FieldClass,
    value: Value<'_>,
    keys: &KeyRing,
    max_string_len: usize,
) -> Option<(AttrValue, bool)> {
    match class {
        FieldClass::Dropped => None,
        FieldClass::Redacted => Some((AttrValue::Redacted, false)),
        FieldClass::Public => crate::value::own_public(value, max_string_len),
        FieldClass::Hashed => match keys.active() {
            Some(key) => key.hash_value(value).map(|d| (AttrValue::Hashed(d), false)),
            None => Some((AttrValue::Redacted, true)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> KeyRing {
        KeyRing::new(vec![
            HashKey::derive(KeyId(1), b"0123456789abcdef0123", FIELD_KEY_CONTEXT),
            HashKey::derive(KeyId(2), b"another key material!", FIELD_KEY_CONTEXT),
        ])
    }

    #[test]
    fn hashing_is_keyed_deterministic_and_rotates() {
        let keys = ring();
        let l = Limits::default();
        assert_eq!(keys.active().map(|k| k.id), Some(KeyId(2)));
        let a = transform_value(
            FieldClass::Hashed,
            Value::Str("a@b.c"),
            &keys,
            l.max_string_len,
        );
        let b = transform_value(
            FieldClass::Hashed,
            Value::Str("a@b.c"),
            &keys,
            l.max_string_len,
        );
        assert_eq!(a, b);
        assert!(keys.rotate_to(KeyId(1)));
        let c = transform_value(
            FieldClass::Hashed,
            Value::Str("a@b.c"),
            &keys,
            l.max_string_len,
        );
        assert_ne!(a, c, "another key gives another digest");
        assert!(!keys.rotate_to(KeyId(9)));
        assert_ne!(
            transform_value(FieldClass::Hashed, Value::U64(1), &keys, l.max_string_len),
            transform_value(FieldClass::Hashed, Value::I64(1), &keys, l.max_string_len),
            "types are domain-separated"
        );
    }

    #[test]
    fn missing_key_redacts_instead_of_leaking() {
        let keys = KeyRing::new(vec![]);
        let got = transform_value(
            FieldClass::Hashed,
            Value::Str("secret"),
            &keys,
            Limits::default().max_string_len,
        );
        assert_eq!(got, Some((AttrValue::Redacted, true)));
    }

    #[test]
    fn redacted_and_dropped_keep_no_value() {
        let keys = ring();
        let l = Limits::default();
        let got = transform_value(
            FieldClass::Redacted,
            Value::Str("4242"),
            &keys,
            l.max_string_len,
        );
        assert_eq!(got, Some((AttrValue::Redacted, false)));
        assert_eq!(
            transform_value(
                FieldClass::Dropped,
                Value::Str("x"),
                &keys,
                l.max_string_len
            ),
            None
        );
    }

    #[test]
    fn key_debug_hides_material() {
        let k = HashKey::derive(KeyId(7), b"super secret key material", FIELD_KEY_CONTEXT);
        let d = format!("{k:?}");
        assert_eq!(d, "HashKey(7, <secret>)");
    }
}
