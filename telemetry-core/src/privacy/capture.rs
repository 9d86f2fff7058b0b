//! Capture: a value becomes what a record keeps, as its field class says,
//! under the record's limits and its anonymity.

use std::borrow::Cow;

use crate::category::Category;
use crate::export::records::{Attribute, Attributes};
use crate::privacy::FieldClass;
use crate::privacy::keys::KeyRing;
use crate::value::{AttrValue, Value};

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

/// Builds the attribute list of a record under the configured limits and
/// the record's privacy: every captured value goes through
/// [`capture`](Self::capture).
pub(crate) struct AttrBuilder {
    pub(crate) attrs: Attributes,
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
    /// `capacity` is the number of fields offered; dropped ones are not
    /// kept, so up to twice the inline size starts inline and grows only
    /// if more are kept.
    pub(crate) fn new(limits: &crate::privacy::Limits, capacity: usize, anonymous: bool) -> Self {
        let capacity = capacity.min(limits.max_attributes);
        AttrBuilder {
            attrs: if capacity <= 2 * Attributes::new().inline_size() {
                Attributes::new()
            } else {
                Attributes::with_capacity(capacity)
            },
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

    /// Makes an emptied builder (its attributes taken) new again for a
    /// record like [`new`](Self::new) with no capacity asked for, keeping
    /// its place (a span's reused open state).
    pub(crate) fn reset(&mut self, limits: &crate::privacy::Limits, anonymous: bool) {
        self.attrs.clear();
        self.dropped = 0;
        self.limited = false;
        self.hashed = false;
        self.withheld = 0;
        self.anonymous = anonymous;
        self.bytes = 0;
        self.max_attrs = limits.max_attributes;
        self.max_bytes = limits.max_record_bytes;
        self.max_string = limits.max_string_len;
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

    #[inline]
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
    pub(crate) fn count_cuts(
        &self,
        drops: &crate::health::drops::DropCounters,
        category: Category,
    ) {
        if self.limited {
            drops.count(crate::health::drops::DropCause::Limits, category, 1);
        }
        if self.withheld > 0 {
            drops.count(
                crate::health::drops::DropCause::Anonymized,
                category,
                u64::from(self.withheld),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::Limits;
    use crate::privacy::keys::{FIELD_KEY_CONTEXT, HashKey, KeyId};

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
