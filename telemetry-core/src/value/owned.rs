//! The owned [`AttrValue`] a record keeps after privacy transforms, the
//! markers of redacted and truncated values, and the copy of a public
//! [`Value`] into an `AttrValue` (strings cut at the length limit).

use std::borrow::Cow;
use std::fmt;
use std::time::SystemTime;

use super::{Text, Value, list};

/// The marker that replaces the value of a redacted field.
pub const REDACTED: &str = "[REDACTED]";
/// The marker appended to a string that was cut at the length limit.
pub const TRUNCATED: &str = "…[truncated]";

/// An owned attribute value, as kept in a record after privacy transforms.
///
/// A hashed value holds only its digest; a redacted value holds nothing.
/// Neither can reveal the raw value, in `Debug` output or in exported bytes.
#[derive(Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttrValue {
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A floating-point number.
    F64(f64),
    /// A string (possibly truncated at the configured limit); short ones
    /// are kept inline, static ones by reference.
    Str(Text),
    /// The keyed hash of the raw value (first 16 bytes of a keyed BLAKE3
    /// digest). The key id is on the record.
    Hashed(#[serde(serialize_with = "serialize_hex")] [u8; 16]),
    /// The value was redacted; only the field name is kept.
    Redacted,
    /// A sequence of public values (an OTLP array).
    Array(Vec<AttrValue>),
    /// Public values by text key (an OTLP key-value list).
    Map(Vec<(Cow<'static, str>, AttrValue)>),
}

fn serialize_hex<S: serde::Serializer>(digest: &[u8; 16], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex16(digest))
}

/// Lower-case hex of 16 bytes.
pub(crate) fn hex16(bytes: &[u8; 16]) -> String {
    let mut out = String::with_capacity(32);
    for b in bytes {
        out.push(char::from(HEX[(b >> 4) as usize]));
        out.push(char::from(HEX[(b & 0xf) as usize]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl AttrValue {
    /// The value as exporters render it in a string attribute: hashed values
    /// as 32 hex digits, redacted ones as [`REDACTED`].
    pub fn render(&self) -> Cow<'_, str> {
        match self {
            AttrValue::Bool(v) => Cow::Owned(v.to_string()),
            AttrValue::I64(v) => Cow::Owned(v.to_string()),
            AttrValue::U64(v) => Cow::Owned(v.to_string()),
            AttrValue::F64(v) => Cow::Owned(v.to_string()),
            AttrValue::Str(v) => Cow::Borrowed(v.as_str()),
            AttrValue::Hashed(d) => Cow::Owned(hex16(d)),
            AttrValue::Redacted => Cow::Borrowed(REDACTED),
            AttrValue::Array(items) => {
                let items: Vec<Cow<'_, str>> = items.iter().map(AttrValue::render).collect();
                Cow::Owned(format!("[{}]", items.join(", ")))
            }
            AttrValue::Map(pairs) => {
                let pairs: Vec<String> = pairs
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", v.render()))
                    .collect();
                Cow::Owned(format!("{{{}}}", pairs.join(", ")))
            }
        }
    }

    /// Approximate number of bytes this value adds to a record.
    pub(crate) fn approx_size(&self) -> usize {
        match self {
            AttrValue::Str(s) => s.len(),
            AttrValue::Hashed(_) => 16,
            AttrValue::Array(items) => items.iter().map(AttrValue::approx_size).sum(),
            AttrValue::Map(pairs) => pairs.iter().map(|(k, v)| k.len() + v.approx_size()).sum(),
            _ => 8,
        }
    }
}

impl fmt::Debug for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::Bool(v) => write!(f, "{v}"),
            AttrValue::I64(v) => write!(f, "{v}"),
            AttrValue::U64(v) => write!(f, "{v}"),
            AttrValue::F64(v) => write!(f, "{v}"),
            AttrValue::Str(v) => write!(f, "{v:?}"),
            AttrValue::Hashed(d) => write!(f, "hashed:{}", hex16(d)),
            AttrValue::Redacted => f.write_str(REDACTED),
            AttrValue::Array(items) => f.debug_list().entries(items).finish(),
            AttrValue::Map(pairs) => f
                .debug_map()
                .entries(pairs.iter().map(|(k, v)| (k, v)))
                .finish(),
        }
    }
}

impl From<&'static str> for AttrValue {
    fn from(v: &'static str) -> Self {
        AttrValue::Str(Text::from_static(v))
    }
}

impl From<String> for AttrValue {
    fn from(v: String) -> Self {
        AttrValue::Str(Text::from(v))
    }
}

impl From<i64> for AttrValue {
    fn from(v: i64) -> Self {
        AttrValue::I64(v)
    }
}

impl From<u64> for AttrValue {
    fn from(v: u64) -> Self {
        AttrValue::U64(v)
    }
}

impl From<f64> for AttrValue {
    fn from(v: f64) -> Self {
        AttrValue::F64(v)
    }
}

impl From<bool> for AttrValue {
    fn from(v: bool) -> Self {
        AttrValue::Bool(v)
    }
}

/// Copies a public value into an owned attribute value, truncating strings
/// longer than `max_len` bytes (at a character boundary, with a marker).
/// Returns the value and whether it was truncated.
pub(crate) fn own_public(value: Value<'_>, max_len: usize) -> Option<(AttrValue, bool)> {
    let v = match value {
        Value::Bool(v) => AttrValue::Bool(v),
        Value::I64(v) => AttrValue::I64(v),
        Value::U64(v) => AttrValue::U64(v),
        Value::F64(v) => AttrValue::F64(v),
        Value::Str(s) => {
            let (s, cut) = truncate_text(s, max_len);
            return Some((AttrValue::Str(s), cut));
        }
        Value::Duration(d) => AttrValue::U64(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        Value::Timestamp(t) => AttrValue::U64(unix_nanos(t)),
        Value::I128(v) => match i64::try_from(v) {
            Ok(v) => AttrValue::I64(v),
            Err(_) => AttrValue::Str(Text::from(v.to_string())),
        },
        Value::U128(v) => match u64::try_from(v) {
            Ok(v) => AttrValue::U64(v),
            Err(_) => AttrValue::Str(Text::from(v.to_string())),
        },
        Value::Char(c) => AttrValue::Str(Text::new(c.encode_utf8(&mut [0u8; 4]))),
        Value::Bytes(b) => {
            // Two hex digits a byte, cut at the string limit.
            let keep = b.len().min(max_len / 2);
            let mut hex = String::with_capacity(keep * 2 + TRUNCATED.len());
            for byte in b.iter().take(keep) {
                hex.push(char::from(HEX[usize::from(byte >> 4)]));
                hex.push(char::from(HEX[usize::from(byte & 0xf)]));
            }
            let cut = keep < b.len();
            if cut {
                hex.push_str(TRUNCATED);
            }
            return Some((AttrValue::Str(Text::from(hex)), cut));
        }
        Value::List(l) => return Some(list::own_list(l, max_len)),
        Value::Absent => return None,
    };
    Some((v, false))
}

/// [`truncate`] into a [`Text`]: a short string is copied inline, with no
/// allocation.
pub(crate) fn truncate_text(s: &str, max_len: usize) -> (Text, bool) {
    if s.len() <= max_len {
        return (Text::new(s), false);
    }
    let (cut, _) = truncate(s, max_len);
    (Text::from(cut), true)
}

pub(crate) fn truncate(s: &str, max_len: usize) -> (String, bool) {
    if s.len() <= max_len {
        return (s.to_owned(), false);
    }
    let mut end = max_len;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + TRUNCATED.len());
    out.push_str(&s[..end]);
    out.push_str(TRUNCATED);
    (out, true)
}

/// Nanoseconds since the Unix epoch (0 for times before it).
pub fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{FieldType, TelemetryValue};

    #[test]
    fn wide_integers_characters_and_bytes() {
        assert_eq!(7i128.to_value(), Value::I128(7));
        assert_eq!(<u128 as TelemetryValue>::TYPE, FieldType::UInt);
        let own = |v| own_public(v, 8);
        assert_eq!(own(Value::I128(-7)), Some((AttrValue::I64(-7), false)));
        assert_eq!(
            own(Value::U128(u128::MAX)),
            Some((AttrValue::Str(Text::from(u128::MAX.to_string())), false))
        );
        assert_eq!(
            own('é'.to_value()),
            Some((AttrValue::Str("é".into()), false))
        );
        assert_eq!(
            own([0xde_u8, 0xad].to_value()),
            Some((AttrValue::Str("dead".into()), false))
        );
        // Bytes past the string limit (8 here: 4 bytes) are cut and marked.
        let (long, cut) = own(vec![0u8; 10].to_value()).unwrap();
        assert!(cut);
        assert_eq!(long.render(), format!("00000000{TRUNCATED}"));
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        let (v, cut) = own_public(Value::Str("héllo wörld"), 2).unwrap();
        assert!(cut);
        assert_eq!(v, AttrValue::Str(Text::from(format!("h{TRUNCATED}"))));
        let (v, cut) = own_public(Value::Str("ok"), 2).unwrap();
        assert!(!cut);
        assert_eq!(v, AttrValue::Str("ok".into()));
    }

    #[test]
    fn hashed_and_redacted_debug_hide_values() {
        assert_eq!(format!("{:?}", AttrValue::Redacted), REDACTED);
        let d = format!("{:?}", AttrValue::Hashed([0xab; 16]));
        assert_eq!(d, format!("hashed:{}", "ab".repeat(16)));
    }
}
