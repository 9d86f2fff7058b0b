//! Keyed BLAKE3 hashing: hash keys with ids, the key ring that rotates
//! them without a lock, and the derivation contexts that keep field hashes
//! and subject keys apart.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::blake3_block;
use crate::value::Value;

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
    /// The key as the one-block compression reads it.
    words: [u32; 8],
}

impl HashKey {
    pub(crate) fn derive(id: KeyId, material: &[u8], context: &str) -> Self {
        let key = blake3::derive_key(context, material);
        // The first key of the process picks the one-block code (timed
        // here, at build time, not in a capture).
        blake3_block::choose();
        HashKey {
            id,
            key,
            words: blake3_block::key_words(&key),
        }
    }

    /// The first 16 bytes of the keyed hash of `bytes`: one block or less
    /// by our own code, the faster of two on this CPU ([`blake3_block`]
    /// says why), longer inputs with the `blake3` crate.
    #[inline]
    pub(crate) fn digest(&self, bytes: &[u8]) -> [u8; 16] {
        if let Some(digest) = blake3_block::keyed_hash_16(&self.words, bytes) {
            return digest;
        }
        let hash = blake3::keyed_hash(&self.key, bytes);
        let mut out = [0u8; 16];
        out.copy_from_slice(&hash.as_bytes()[..16]);
        out
    }

    /// The keyed hash of a field value (`None` for an absent value).
    pub(crate) fn hash_value(&self, value: Value<'_>) -> Option<[u8; 16]> {
        let mut buf = [0u8; 17];
        // Equal values hash alike whatever their Rust type: a 128-bit
        // integer that fits in 64 bits as that integer, a character as its
        // one-character string, bytes as a string of the same bytes.
        let value = match value {
            Value::I128(v) => i64::try_from(v).map_or(value, Value::I64),
            Value::U128(v) => u64::try_from(v).map_or(value, Value::U64),
            other => other,
        };
        let bytes: &[u8] = match value {
            Value::Str(s) => return Some(self.digest(s.as_bytes())),
            Value::Bytes(b) => return Some(self.digest(b)),
            Value::Char(c) => return Some(self.digest(c.encode_utf8(&mut buf).as_bytes())),
            Value::I128(v) => {
                buf[0] = 7;
                buf[1..17].copy_from_slice(&v.to_le_bytes());
                &buf[..17]
            }
            Value::U128(v) => {
                buf[0] = 8;
                buf[1..17].copy_from_slice(&v.to_le_bytes());
                &buf[..17]
            }
            Value::Absent => return None,
            // A list or map: one digest over its elements' digests (and a
            // map's keys, length-prefixed), so equal lists hash alike and
            // no element is readable from the digest.
            Value::List(l) => {
                let mut h = blake3::Hasher::new_keyed(&self.key);
                h.update(if l.0.is_map() { b"map" } else { b"list" });
                l.0.each(&mut |key, v| {
                    if let Some(k) = key {
                        h.update(&(k.len() as u64).to_le_bytes());
                        h.update(k.as_bytes());
                    }
                    h.update(&self.hash_value(v).unwrap_or([0; 16]));
                    true
                });
                let mut out = [0u8; 16];
                out.copy_from_slice(&h.finalize().as_bytes()[..16]);
                return Some(out);
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_of_different_types_hash_alike() {
        let key = HashKey::derive(KeyId(1), &[7u8; 32], "test");
        let h = |v| key.hash_value(v).unwrap();
        assert_eq!(h(Value::I128(42)), h(Value::I64(42)));
        assert_eq!(h(Value::U128(42)), h(Value::U64(42)));
        assert_eq!(h(Value::Char('é')), h(Value::Str("é")));
        assert_eq!(h(Value::Bytes(b"ab")), h(Value::Str("ab")));
        assert_ne!(h(Value::U128(u128::MAX)), h(Value::I128(-1)));
        assert_ne!(h(Value::U128(u128::MAX)), h(Value::U64(u64::MAX)));
    }

    #[test]
    fn digests_are_keyed_blake3_on_both_sides_of_one_block() {
        let key = HashKey::derive(KeyId(1), &[9u8; 32], "test");
        for len in [0, 1, 15, 63, 64, 65, 100, 1024, 1025, 5000] {
            let input: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let expected = blake3::keyed_hash(&key.key, &input);
            assert_eq!(
                key.digest(&input),
                expected.as_bytes()[..16],
                "length {len}"
            );
        }
    }
}
