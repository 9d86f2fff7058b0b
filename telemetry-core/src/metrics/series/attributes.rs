//! How an attribute set finds its series: an order-independent hash of the
//! declared attributes, and the comparison with a stored series (strings
//! cut at the length limit as they were when stored).

use crate::value::{AttrValue, TRUNCATED, Value};

#[inline]
fn cut(s: &str, max_len: usize) -> Option<&str> {
    if s.len() <= max_len {
        return None;
    }
    let mut end = max_len;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    Some(&s[..end])
}

#[inline]
pub(super) fn value_matches(stored: &AttrValue, v: Value<'_>, max_len: usize) -> bool {
    match (stored, v) {
        (AttrValue::Str(s), Value::Str(v)) => match cut(v, max_len) {
            None => s == v,
            Some(prefix) => s.strip_prefix(prefix) == Some(TRUNCATED),
        },
        (AttrValue::Bool(a), Value::Bool(b)) => *a == b,
        (AttrValue::I64(a), Value::I64(b)) => *a == b,
        (AttrValue::U64(a), Value::U64(b)) => *a == b,
        (AttrValue::F64(a), Value::F64(b)) => a.to_bits() == b.to_bits(),
        (AttrValue::U64(a), Value::Duration(d)) => u128::from(*a) == d.as_nanos(),
        (AttrValue::U64(a), Value::Timestamp(t)) => *a == crate::value::unix_nanos(t),
        // Rare as metric attributes: compared through their stored form.
        (
            _,
            Value::I128(_) | Value::U128(_) | Value::Char(_) | Value::Bytes(_) | Value::List(_),
        ) => crate::value::own_public(v, max_len).is_some_and(|(owned, _)| owned == *stored),
        _ => false,
    }
}

/// The index of `key` among the declared keys. Keys are usually the same
/// `&'static str` as declared, so pointers are compared before contents.
#[inline]
pub(super) fn key_index(declared: &[&'static str], key: &str) -> Option<usize> {
    declared
        .iter()
        .position(|d| std::ptr::eq(d.as_ptr(), key.as_ptr()) && d.len() == key.len())
        .or_else(|| declared.iter().position(|d| *d == key))
}

/// The series map's hasher. Its keys are already hashes of the attribute
/// set ([`hash_attrs`]), so a key is only folded once, not hashed again
/// (SipHash on every measurement cost about 140 instructions). Keying it
/// would not help: two attribute sets whose `hash_attrs` collide collide
/// whatever hashes them next.
#[derive(Clone, Copy, Default)]
pub(crate) struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = mix(self.0, u64::from(*b));
        }
    }

    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = (v ^ (v >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    }
}

/// Builds a [`KeyHasher`].
#[derive(Clone, Copy, Default)]
pub(crate) struct BuildKeyHasher;

impl std::hash::BuildHasher for BuildKeyHasher {
    type Hasher = KeyHasher;

    #[inline]
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0)
    }
}

#[inline]
fn mix(h: u64, x: u64) -> u64 {
    (h.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95)
}

#[inline]
fn hash_bytes(mut h: u64, bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = mix(h, u64::from_le_bytes(w));
    }
    let mut w = [0u8; 8];
    let rest = chunks.remainder();
    w[..rest.len()].copy_from_slice(rest);
    mix(mix(h, u64::from_le_bytes(w)), bytes.len() as u64)
}

/// Order-independent hash of the declared attributes (by key index), and
/// whether any key was not declared (it is left out).
#[inline]
pub(super) fn hash_attrs(
    attrs: &[(&'static str, Value<'_>)],
    declared: &[&'static str],
    max_len: usize,
) -> (u64, bool) {
    let mut total = 0u64;
    let mut undeclared = false;
    for (k, v) in attrs {
        let Some(i) = key_index(declared, k) else {
            undeclared = true;
            continue;
        };
        let h = mix(0x243f_6a88_85a3_08d3, i as u64);
        let h = match v {
            Value::Str(s) => hash_bytes(mix(h, 1), cut(s, max_len).unwrap_or(s).as_bytes()),
            Value::Bool(b) => mix(mix(h, 2), u64::from(*b)),
            Value::I64(i) => mix(mix(h, 3), *i as u64),
            Value::U64(u) => mix(mix(h, 4), *u),
            Value::F64(f) => mix(mix(h, 5), f.to_bits()),
            Value::Duration(d) => mix(mix(h, 4), u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            Value::Timestamp(t) => mix(mix(h, 4), crate::value::unix_nanos(*t)),
            Value::I128(i) => mix(mix(mix(h, 7), *i as u64), (*i >> 64) as u64),
            Value::U128(u) => mix(mix(mix(h, 8), *u as u64), (*u >> 64) as u64),
            Value::Char(c) => mix(mix(h, 9), u64::from(u32::from(*c))),
            Value::Bytes(b) => hash_bytes(mix(h, 10), b),
            Value::Absent => mix(h, 6),
            // Rare as metric attributes: told apart by length, then
            // compared through their stored form.
            Value::List(l) => mix(mix(h, 11), l.0.len() as u64),
        };
        total = total.wrapping_add(h);
    }
    (total, undeclared)
}
