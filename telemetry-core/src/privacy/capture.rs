//! Capture: a value becomes what a record keeps, as its field class says,
//! under the record's limits and its anonymity.

use std::borrow::Cow;

use crate::category::Category;
use crate::export::records::{Attribute, Attributes};
use crate::privacy::FieldClass;
use crate::privacy::keys::KeyRing;
use crate::value::{AttrValue, Text, Value};

/// The size class of a value [`AttrBuilder::push_fixed`] keeps.
#[derive(Clone, Copy)]
enum Fixed {
    /// A number, a boolean or the redaction marker: 8 bytes.
    Word,
    /// A keyed digest: 16 bytes.
    Digest,
}

/// An empty string attribute value, copied from read-only memory into a
/// slot (a value built on the stack first would be copied in pieces of
/// other widths than it was written in; see [`AttrBuilder::capture`]).
const EMPTY_STR: AttrValue = AttrValue::Str(Text::from_static(""));

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
    ///
    /// The common kinds (a short string, a number, a boolean, a digest, the
    /// redaction marker) are written straight into the attribute list, with
    /// no intermediate value on the stack: copying a value just built, in
    /// pieces of other widths than it was written in, stalls the CPU on
    /// every piece (store forwarding fails), and that was the largest part
    /// of a recorded span's cost.
    pub(crate) fn capture(
        &mut self,
        key: Cow<'static, str>,
        class: FieldClass,
        value: Value<'_>,
        keys: &KeyRing,
    ) {
        match class {
            FieldClass::Dropped => {}
            FieldClass::Redacted => {
                self.push_fixed(key, Fixed::Word, false, || AttrValue::Redacted)
            }
            FieldClass::Hashed if self.anonymous => self.withheld += 1,
            FieldClass::Hashed => match keys.active() {
                Some(k) => {
                    if let Some(digest) = k.hash_value(value) {
                        self.push_fixed(key, Fixed::Digest, false, move || {
                            AttrValue::Hashed(digest)
                        });
                    }
                }
                None => self.push_fixed(key, Fixed::Word, true, || AttrValue::Redacted),
            },
            FieldClass::Public => match value {
                Value::Str(s) if s.len() <= self.max_string => self.push_str(key, s),
                Value::Bool(v) => {
                    self.push_fixed(key, Fixed::Word, false, move || AttrValue::Bool(v))
                }
                Value::I64(v) => {
                    self.push_fixed(key, Fixed::Word, false, move || AttrValue::I64(v))
                }
                Value::U64(v) => {
                    self.push_fixed(key, Fixed::Word, false, move || AttrValue::U64(v))
                }
                Value::F64(v) => {
                    self.push_fixed(key, Fixed::Word, false, move || AttrValue::F64(v))
                }
                other => {
                    if let Some((v, cut)) = crate::value::own_public(other, self.max_string) {
                        self.push(key, v, cut);
                    }
                }
            },
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

    /// Keeps `value` if the limits allow one more attribute of its size;
    /// otherwise counts it as cut. The general path, for the kinds
    /// [`capture`](Self::capture) does not write in place.
    fn push(&mut self, key: Cow<'static, str>, value: AttrValue, truncated: bool) {
        let size = value.approx_size();
        if self.admit(
            key.len() + size,
            truncated,
            matches!(value, AttrValue::Hashed(_)),
        ) {
            self.attrs.push(Attribute { key, value });
        }
    }

    /// [`push`](Self::push) for a value of fixed size (a number, a
    /// boolean, a digest, the redaction marker), inlined so the value is
    /// built where it is kept: `value` is called once its slot is known.
    #[inline(always)]
    fn push_fixed(
        &mut self,
        key: Cow<'static, str>,
        kind: Fixed,
        truncated: bool,
        value: impl FnOnce() -> AttrValue,
    ) {
        // What `approx_size` says for these kinds, known without building
        // the value first.
        let (size, hashed) = match kind {
            Fixed::Digest => (16, true),
            Fixed::Word => (8, false),
        };
        if self.admit(key.len() + size, truncated, hashed) {
            self.put(key, value);
        }
    }

    /// Keeps a copy of a string within the length limit: an empty string is
    /// put in place and the bytes copied into it there (inline up to 24
    /// bytes), so the copy is not copied again on this thread.
    #[inline(always)]
    fn push_str(&mut self, key: Cow<'static, str>, s: &str) {
        if self.admit(key.len() + s.len(), false, false)
            && let Some(AttrValue::Str(text)) = self.put(key, || EMPTY_STR)
        {
            text.push_str(s);
        }
    }

    /// Appends an attribute, written straight into its slot, and returns
    /// its value there. (`SmallVec::push` is not inlined here; it takes the
    /// attribute from a copy on the stack, which stalls as above.)
    #[inline(always)]
    fn put(
        &mut self,
        key: Cow<'static, str>,
        value: impl FnOnce() -> AttrValue,
    ) -> Option<&mut AttrValue> {
        if self.attrs.len() == self.attrs.capacity() {
            self.attrs.reserve(1);
        }
        let len = self.attrs.len();
        // SAFETY: after the `reserve`, `len < capacity`, so `slot` is
        // inside the allocation and holds no value. Both fields are
        // written before the length covers the slot, so the list never
        // reads an uninitialised attribute. `value` runs after the key is
        // written; if it unwinds, the key is leaked, not dropped twice.
        unsafe {
            let slot = self.attrs.as_mut_ptr().add(len);
            std::ptr::addr_of_mut!((*slot).key).write(key);
            std::ptr::addr_of_mut!((*slot).value).write(value());
            self.attrs.set_len(len + 1);
        }
        self.attrs.last_mut().map(|a| &mut a.value)
    }

    /// Whether one more attribute of `size` bytes (key and value) fits the
    /// limits; counts it as cut if not, and adds it to the totals if so.
    #[inline(always)]
    fn admit(&mut self, size: usize, truncated: bool, hashed: bool) -> bool {
        if self.attrs.len() >= self.max_attrs || self.bytes + size > self.max_bytes {
            self.dropped += 1;
            self.limited = true;
            return false;
        }
        self.limited |= truncated;
        self.hashed |= hashed;
        self.bytes += size;
        true
    }

    /// Counts what the limits cut and what anonymity withheld, for a record
    /// of `category` (inlined: usually two flags found clear).
    #[inline]
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
    use crate::value::{TRUNCATED, TelemetryValue};

    fn ring() -> KeyRing {
        KeyRing::new(vec![
            HashKey::derive(KeyId(1), b"0123456789abcdef0123", FIELD_KEY_CONTEXT),
            HashKey::derive(KeyId(2), b"another key material!", FIELD_KEY_CONTEXT),
        ])
    }

    /// Captures `v` under `key` into `b`.
    fn put(
        b: &mut AttrBuilder,
        keys: &KeyRing,
        key: &'static str,
        class: FieldClass,
        v: Value<'_>,
    ) {
        b.capture(Cow::Borrowed(key), class, v, keys);
    }

    /// What a record keeps of one value, and whether a limit changed it.
    /// Also checks the builder's byte count is the kept key's and value's
    /// size, whichever path wrote the value.
    fn kept(
        class: FieldClass,
        value: Value<'_>,
        keys: &KeyRing,
        max_string_len: usize,
    ) -> Option<(AttrValue, bool)> {
        let limits = Limits {
            max_string_len,
            ..Limits::default()
        };
        let mut b = AttrBuilder::new(&limits, 1, false);
        b.capture(Cow::Borrowed("key"), class, value, keys);
        assert!(b.attrs.len() <= 1);
        let v = b.attrs.first().map(|a| a.value.clone());
        let size = v.as_ref().map_or(0, |v| "key".len() + v.approx_size());
        assert_eq!(b.bytes, size, "byte count of {v:?}");
        assert_eq!(
            b.hashed,
            matches!(v, Some(AttrValue::Hashed(_))),
            "hashed flag of {v:?}"
        );
        v.map(|v| (v, b.limited))
    }

    #[test]
    fn hashing_is_keyed_deterministic_and_rotates() {
        let keys = ring();
        let l = Limits::default();
        assert_eq!(keys.active().map(|k| k.id), Some(KeyId(2)));
        let a = kept(
            FieldClass::Hashed,
            Value::Str("a@b.c"),
            &keys,
            l.max_string_len,
        );
        let b = kept(
            FieldClass::Hashed,
            Value::Str("a@b.c"),
            &keys,
            l.max_string_len,
        );
        assert!(matches!(a, Some((AttrValue::Hashed(_), false))));
        assert_eq!(a, b);
        assert!(keys.rotate_to(KeyId(1)));
        let c = kept(
            FieldClass::Hashed,
            Value::Str("a@b.c"),
            &keys,
            l.max_string_len,
        );
        assert_ne!(a, c, "another key gives another digest");
        assert!(!keys.rotate_to(KeyId(9)));
        assert_ne!(
            kept(FieldClass::Hashed, Value::U64(1), &keys, l.max_string_len),
            kept(FieldClass::Hashed, Value::I64(1), &keys, l.max_string_len),
            "types are domain-separated"
        );
    }

    #[test]
    fn missing_key_redacts_instead_of_leaking() {
        let keys = KeyRing::new(vec![]);
        let got = kept(
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
        let got = kept(
            FieldClass::Redacted,
            Value::Str("4242"),
            &keys,
            l.max_string_len,
        );
        assert_eq!(got, Some((AttrValue::Redacted, false)));
        assert_eq!(
            kept(
                FieldClass::Dropped,
                Value::Str("x"),
                &keys,
                l.max_string_len
            ),
            None
        );
    }

    /// Every public kind, through the in-place paths (short strings,
    /// numbers, booleans) and the general one (long strings, lists, wide
    /// integers, bytes), keeps what `own_public` makes of it.
    #[test]
    fn public_values_are_kept_as_own_public_makes_them() {
        let keys = ring();
        let long = "x".repeat(40);
        let list = [1u64, 2, 3];
        let values = [
            Value::Str(""),
            Value::Str("/checkout"),
            Value::Str("exactly twenty-four byte"),
            Value::Str("twenty-five bytes, inline"),
            Value::Str(&long),
            Value::Str("héllo wörld"),
            Value::Bool(true),
            Value::I64(-7),
            Value::U64(u64::MAX),
            Value::F64(1.5),
            Value::I128(i128::MIN),
            Value::U128(5),
            Value::Char('é'),
            Value::Bytes(&[0xde, 0xad]),
            list.to_value(),
            Value::Absent,
        ];
        for max in [2, 8, 24, 1024] {
            for v in values {
                let want = crate::value::own_public(v, max);
                assert_eq!(
                    kept(FieldClass::Public, v, &keys, max),
                    want,
                    "{v:?} at {max}"
                );
            }
        }
        let (text, cut) = kept(FieldClass::Public, Value::Str(&long), &keys, 8).unwrap();
        assert!(cut);
        assert_eq!(text.render(), format!("xxxxxxxx{TRUNCATED}"));
    }

    /// Past the attribute or byte limit a value is counted as cut, whatever
    /// path would have written it.
    #[test]
    fn limits_cut_every_kind() {
        let keys = ring();
        let limits = Limits {
            max_attributes: 2,
            max_record_bytes: 40,
            ..Limits::default()
        };
        let mut b = AttrBuilder::new(&limits, 8, false);
        put(
            &mut b,
            &keys,
            "a",
            FieldClass::Public,
            "0123456789".to_value(),
        );
        put(&mut b, &keys, "b", FieldClass::Hashed, Value::Str("x@y.z"));
        assert_eq!((b.attrs.len(), b.bytes, b.dropped), (2, 11 + 17, 0));
        for v in [Value::U64(1), Value::Str("s"), Value::Bool(false)] {
            put(&mut b, &keys, "c", FieldClass::Public, v);
        }
        put(&mut b, &keys, "d", FieldClass::Redacted, Value::U64(1));
        assert_eq!((b.attrs.len(), b.dropped), (2, 4));
        assert!(b.limited);

        let mut b = AttrBuilder::new(&limits, 8, false);
        let long = "y".repeat(30);
        put(&mut b, &keys, "a", FieldClass::Public, Value::Str(&long));
        // 31 bytes kept; a digest (1 + 16) would pass 40, a word (1 + 8) fits.
        put(&mut b, &keys, "b", FieldClass::Hashed, Value::Str("x@y.z"));
        assert_eq!((b.attrs.len(), b.dropped), (1, 1));
        put(&mut b, &keys, "c", FieldClass::Public, Value::U64(1));
        assert_eq!((b.attrs.len(), b.bytes), (2, 40));
    }

    /// Attributes past the inline ones move the list to the heap; the
    /// in-place writes carry on there, and everything is dropped once.
    #[test]
    fn in_place_writes_grow_past_the_inline_attributes() {
        let keys = ring();
        let mut b = AttrBuilder::new(&Limits::default(), 0, false);
        for i in 0..20u64 {
            put(&mut b, &keys, "n", FieldClass::Public, Value::U64(i));
            put(
                &mut b,
                &keys,
                "s",
                FieldClass::Public,
                Value::Str("a string past twenty-four bytes"),
            );
            put(&mut b, &keys, "h", FieldClass::Hashed, Value::U64(i));
        }
        assert_eq!(b.attrs.len(), 60);
        assert!(b.attrs.spilled());
        for (i, chunk) in b.attrs.chunks(3).enumerate() {
            assert_eq!(chunk[0].value, AttrValue::U64(i as u64));
            assert_eq!(chunk[1].value.render(), "a string past twenty-four bytes");
            assert!(matches!(chunk[2].value, AttrValue::Hashed(_)));
        }
    }

    #[test]
    fn anonymous_records_withhold_hashed_values() {
        let keys = ring();
        let mut b = AttrBuilder::new(&Limits::default(), 2, true);
        put(
            &mut b,
            &keys,
            "user",
            FieldClass::Hashed,
            Value::Str("a@b.c"),
        );
        put(&mut b, &keys, "n", FieldClass::Public, Value::U64(3));
        assert_eq!((b.attrs.len(), b.withheld, b.hashed), (1, 1, false));
    }

    #[test]
    fn key_debug_hides_material() {
        let k = HashKey::derive(KeyId(7), b"super secret key material", FIELD_KEY_CONTEXT);
        let d = format!("{k:?}");
        assert_eq!(d, "HashKey(7, <secret>)");
    }
}
