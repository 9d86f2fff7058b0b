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

/// String equality without a call for the short strings attribute values
/// usually are.
#[inline]
fn same_str(a: &str, b: &str) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if a.len() > 16 {
        return a == b;
    }
    let mut diff = 0u8;
    for (x, y) in a.bytes().zip(b.bytes()) {
        diff |= x ^ y;
    }
    diff == 0
}

#[inline]
pub(super) fn value_matches(stored: &AttrValue, v: Value<'_>, max_len: usize) -> bool {
    match (stored, v) {
        (AttrValue::Str(s), Value::Str(v)) => match cut(v, max_len) {
            None => same_str(s, v),
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

/// The index of `key` among the declared keys, tried first at `hint` (the
/// attribute's position: attributes usually come in the declared order).
/// Keys are usually the same `&'static str` as declared, so pointers are
/// compared before contents.
#[inline]
pub(super) fn key_index(declared: &[&'static str], key: &str, hint: usize) -> Option<usize> {
    let same = |d: &&str| std::ptr::eq(d.as_ptr(), key.as_ptr()) && d.len() == key.len();
    if declared.get(hint).is_some_and(same) {
        return Some(hint);
    }
    declared
        .iter()
        .position(same)
        .or_else(|| declared.iter().position(|d| *d == key))
}

#[inline]
fn mix(h: u64, x: u64) -> u64 {
    (h.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95)
}

/// Folds `bytes` into `h`: their length (multiplied off the dependency
/// chain), then one multiply per 8 bytes, the tail read without a call.
#[inline]
fn hash_bytes(h: u64, bytes: &[u8]) -> u64 {
    let mut h = h.wrapping_add((bytes.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = mix(h, u64::from_le_bytes(w));
    }
    let rest = chunks.remainder();
    if rest.is_empty() {
        return h;
    }
    let mut w = 0u64;
    for (j, b) in rest.iter().enumerate() {
        w |= u64::from(*b) << (8 * j);
    }
    mix(h, w)
}

/// Where one attribute's hash starts: its key's index and its value's
/// kind, with no multiply, so each attribute's chain is one multiply per
/// 8 bytes of value.
#[inline]
fn seed(index: usize, kind: u64) -> u64 {
    0x243f_6a88_85a3_08d3 ^ ((index as u64) << 8 | kind)
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
    for (n, (k, v)) in attrs.iter().enumerate() {
        let Some(i) = key_index(declared, k, n) else {
            undeclared = true;
            continue;
        };
        let h = match v {
            Value::Str(s) => hash_bytes(seed(i, 1), cut(s, max_len).unwrap_or(s).as_bytes()),
            Value::Bool(b) => mix(seed(i, 2), u64::from(*b)),
            Value::I64(v) => mix(seed(i, 3), *v as u64),
            Value::U64(u) => mix(seed(i, 4), *u),
            Value::F64(f) => mix(seed(i, 5), f.to_bits()),
            // Stored as unsigned integers, so hashed as one.
            Value::Duration(d) => mix(seed(i, 4), u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            Value::Timestamp(t) => mix(seed(i, 4), crate::value::unix_nanos(*t)),
            Value::I128(v) => mix(mix(seed(i, 7), *v as u64), (*v >> 64) as u64),
            Value::U128(u) => mix(mix(seed(i, 8), *u as u64), (*u >> 64) as u64),
            Value::Char(c) => mix(seed(i, 9), u64::from(u32::from(*c))),
            Value::Bytes(b) => hash_bytes(seed(i, 10), b),
            Value::Absent => seed(i, 6),
            // Rare as metric attributes: told apart by length, then
            // compared through their stored form.
            Value::List(l) => mix(seed(i, 11), l.0.len() as u64),
        };
        total = total.wrapping_add(h);
    }
    (total, undeclared)
}
