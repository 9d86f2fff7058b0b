//! Field values: the borrowed [`Value`] that instrumented code hands over,
//! the [`TelemetryValue`] trait that turns a type into one, and the owned
//! [`AttrValue`] that a record keeps after privacy transforms.

mod list;

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, SystemTime};

pub use list::{ListElement, ListRef, MAX_LIST_LEN, Seq, ValueList};

/// The type of a field, as the catalogue and exporters describe it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// `true` or `false`.
    Bool,
    /// A signed integer.
    Int,
    /// An unsigned integer.
    UInt,
    /// A floating-point number.
    Float,
    /// A string.
    String,
    /// A duration, exported in nanoseconds.
    Duration,
    /// A point in time, exported in nanoseconds since the Unix epoch.
    Timestamp,
    /// A sequence (an OTLP array).
    List,
    /// A map with text keys (an OTLP key-value list).
    Map,
    /// Not described: a skipped field, or an argument whose type the
    /// catalogue cannot name.
    Opaque,
}

impl FieldType {
    /// The lower-case name of the type, as used in the catalogue.
    pub const fn name(self) -> &'static str {
        match self {
            FieldType::Bool => "bool",
            FieldType::Int => "int",
            FieldType::UInt => "uint",
            FieldType::Float => "float",
            FieldType::String => "string",
            FieldType::Duration => "duration",
            FieldType::Timestamp => "timestamp",
            FieldType::List => "list",
            FieldType::Map => "map",
            FieldType::Opaque => "opaque",
        }
    }
}

/// A borrowed field value, handed to the pipeline without allocating.
///
/// Its `Debug` output is the value itself: never `Debug`-print a `Value` of a
/// field that is hashed or redacted. The pipeline does not.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Value<'a> {
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A floating-point number.
    F64(f64),
    /// A string.
    Str(&'a str),
    /// A duration.
    Duration(Duration),
    /// A point in time.
    Timestamp(SystemTime),
    /// A 128-bit signed integer (exported as an integer when it fits in 64
    /// bits, else as its decimal text).
    I128(i128),
    /// A 128-bit unsigned integer (as [`I128`](Self::I128)).
    U128(u128),
    /// A character (exported as a one-character string).
    Char(char),
    /// Bytes (exported as lower-case hex text).
    Bytes(&'a [u8]),
    /// A sequence or map (see [`ValueList`]).
    List(ListRef<'a>),
    /// No value (an `Option` that is `None`).
    Absent,
}

/// A type that can be captured as a field value.
///
/// Implemented for integers (128-bit ones too), floats, `bool`, `char`,
/// strings (`&str`, `String`, `Cow<str>`), bytes (`[u8]`, `[u8; N]`,
/// `Vec<u8>`: exported as hex), sequences and maps (see [`ValueList`]),
/// `Option<T>`, `Duration`, `SystemTime`
/// (`chrono::DateTime` and `time::OffsetDateTime` with the features of those
/// names), and references and boxes of those; `#[derive(TelemetryValue)]`
/// implements it for a newtype or an enum of unit variants. Implement it
/// by hand for other types of your own to use them as event fields:
///
/// ```
/// use telemetry_core::{FieldType, TelemetryValue, Value};
/// enum Currency { Eur, Usd }
/// impl TelemetryValue for Currency {
///     const TYPE: FieldType = FieldType::String;
///     fn to_value(&self) -> Value<'_> {
///         Value::Str(match self { Currency::Eur => "EUR", Currency::Usd => "USD" })
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be recorded as a field value: it does not implement `TelemetryValue`",
    note = "for a newtype or an enum of unit variants, add #[derive(TelemetryValue)]; for a slice, record `telemetry_core::Seq(slice)`; else implement `TelemetryValue` by hand, or classify the field `redact` or `skip` (their values are never read)"
)]
pub trait TelemetryValue {
    /// The field type this value has.
    const TYPE: FieldType;
    /// The value, borrowed from `self`. Must not allocate.
    fn to_value(&self) -> Value<'_>;
}

macro_rules! int_value {
    ($variant:ident, $ty_const:ident, $conv:ty: $($t:ty),*) => {$(
        impl TelemetryValue for $t {
            const TYPE: FieldType = FieldType::$ty_const;
            #[inline]
            fn to_value(&self) -> Value<'_> {
                Value::$variant(<$conv>::from(*self))
            }
        }
    )*};
}
int_value!(I64, Int, i64: i8, i16, i32, i64);
int_value!(U64, UInt, u64: u8, u16, u32, u64);
int_value!(F64, Float, f64: f32, f64);

impl TelemetryValue for isize {
    const TYPE: FieldType = FieldType::Int;
    #[inline]
    fn to_value(&self) -> Value<'_> {
        Value::I64(*self as i64)
    }
}

impl TelemetryValue for usize {
    const TYPE: FieldType = FieldType::UInt;
    #[inline]
    fn to_value(&self) -> Value<'_> {
        Value::U64(*self as u64)
    }
}

impl TelemetryValue for i128 {
    const TYPE: FieldType = FieldType::Int;
    #[inline]
    fn to_value(&self) -> Value<'_> {
        Value::I128(*self)
    }
}

impl TelemetryValue for u128 {
    const TYPE: FieldType = FieldType::UInt;
    #[inline]
    fn to_value(&self) -> Value<'_> {
        Value::U128(*self)
    }
}

impl TelemetryValue for char {
    const TYPE: FieldType = FieldType::String;
    #[inline]
    fn to_value(&self) -> Value<'_> {
        Value::Char(*self)
    }
}

impl TelemetryValue for [u8] {
    const TYPE: FieldType = FieldType::String;
    #[inline]
    fn to_value(&self) -> Value<'_> {
        Value::Bytes(self)
    }
}

impl<const N: usize> TelemetryValue for [u8; N] {
    const TYPE: FieldType = FieldType::String;
    #[inline]
    fn to_value(&self) -> Value<'_> {
        Value::Bytes(self)
    }
}

impl TelemetryValue for Vec<u8> {
    const TYPE: FieldType = FieldType::String;
    #[inline]
    fn to_value(&self) -> Value<'_> {
        Value::Bytes(self)
    }
}

#[cfg(feature = "chrono")]
impl<Tz: chrono::TimeZone> TelemetryValue for chrono::DateTime<Tz> {
    const TYPE: FieldType = FieldType::Timestamp;
    #[inline]
    fn to_value(&self) -> Value<'_> {
        Value::Timestamp(SystemTime::from(self.clone()))
    }
}

#[cfg(feature = "time")]
impl TelemetryValue for time::OffsetDateTime {
    const TYPE: FieldType = FieldType::Timestamp;
    #[inline]
    fn to_value(&self) -> Value<'_> {
        Value::Timestamp(SystemTime::from(*self))
    }
}

#[cfg(feature = "time")]
impl TelemetryValue for time::UtcDateTime {
    const TYPE: FieldType = FieldType::Timestamp;
    #[inline]
    fn to_value(&self) -> Value<'_> {
        Value::Timestamp(SystemTime::from(*self))
    }
}

impl TelemetryValue for bool {
    const TYPE: FieldType = FieldType::Bool;
    #[inline]
    fn to_value(&self) -> Value<'_> {
        Value::Bool(*self)
    }
}

impl TelemetryValue for str {
    const TYPE: FieldType = FieldType::String;
    #[inline]
    fn to_value(&self) -> Value<'_> {
        Value::Str(self)
    }
}

impl TelemetryValue for String {
    const TYPE: FieldType = FieldType::String;
    #[inline]
    fn to_value(&self) -> Value<'_> {
        Value::Str(self)
    }
}

impl TelemetryValue for Cow<'_, str> {
    const TYPE: FieldType = FieldType::String;
    #[inline]
    fn to_value(&self) -> Value<'_> {
        Value::Str(self)
    }
}

impl TelemetryValue for Duration {
    const TYPE: FieldType = FieldType::Duration;
    #[inline]
    fn to_value(&self) -> Value<'_> {
        Value::Duration(*self)
    }
}

impl TelemetryValue for SystemTime {
    const TYPE: FieldType = FieldType::Timestamp;
    #[inline]
    fn to_value(&self) -> Value<'_> {
        Value::Timestamp(*self)
    }
}

impl<T: TelemetryValue> TelemetryValue for Option<T> {
    const TYPE: FieldType = T::TYPE;
    #[inline]
    fn to_value(&self) -> Value<'_> {
        match self {
            Some(v) => v.to_value(),
            None => Value::Absent,
        }
    }
}

impl<T: TelemetryValue + ?Sized> TelemetryValue for &T {
    const TYPE: FieldType = T::TYPE;
    #[inline]
    fn to_value(&self) -> Value<'_> {
        (**self).to_value()
    }
}

impl<T: TelemetryValue + ?Sized> TelemetryValue for Box<T> {
    const TYPE: FieldType = T::TYPE;
    #[inline]
    fn to_value(&self) -> Value<'_> {
        (**self).to_value()
    }
}

impl<T: TelemetryValue + ?Sized> TelemetryValue for std::sync::Arc<T> {
    const TYPE: FieldType = T::TYPE;
    #[inline]
    fn to_value(&self) -> Value<'_> {
        (**self).to_value()
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Str(v)
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Str(v)
    }
}

macro_rules! value_from {
    ($($t:ty => $variant:ident($conv:ty)),* $(,)?) => {$(
        impl From<$t> for Value<'_> {
            fn from(v: $t) -> Self {
                Value::$variant(<$conv>::from(v))
            }
        }
    )*};
}
value_from!(
    i8 => I64(i64), i16 => I64(i64), i32 => I64(i64), i64 => I64(i64),
    u8 => U64(u64), u16 => U64(u64), u32 => U64(u64), u64 => U64(u64),
    f32 => F64(f64), f64 => F64(f64), bool => Bool(bool),
    std::time::Duration => Duration(Duration), SystemTime => Timestamp(SystemTime),
);

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
    /// A string (possibly truncated at the configured limit).
    Str(Cow<'static, str>),
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
            AttrValue::Str(v) => Cow::Borrowed(v),
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
        AttrValue::Str(Cow::Borrowed(v))
    }
}

impl From<String> for AttrValue {
    fn from(v: String) -> Self {
        AttrValue::Str(Cow::Owned(v))
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
            let (s, cut) = truncate(s, max_len);
            return Some((AttrValue::Str(Cow::Owned(s)), cut));
        }
        Value::Duration(d) => AttrValue::U64(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        Value::Timestamp(t) => AttrValue::U64(unix_nanos(t)),
        Value::I128(v) => match i64::try_from(v) {
            Ok(v) => AttrValue::I64(v),
            Err(_) => AttrValue::Str(Cow::Owned(v.to_string())),
        },
        Value::U128(v) => match u64::try_from(v) {
            Ok(v) => AttrValue::U64(v),
            Err(_) => AttrValue::Str(Cow::Owned(v.to_string())),
        },
        Value::Char(c) => AttrValue::Str(Cow::Owned(c.to_string())),
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
            return Some((AttrValue::Str(Cow::Owned(hex)), cut));
        }
        Value::List(l) => return Some(list::own_list(l, max_len)),
        Value::Absent => return None,
    };
    Some((v, false))
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

    #[test]
    fn wide_integers_characters_and_bytes() {
        assert_eq!(7i128.to_value(), Value::I128(7));
        assert_eq!(<u128 as TelemetryValue>::TYPE, FieldType::UInt);
        let own = |v| own_public(v, 8);
        assert_eq!(own(Value::I128(-7)), Some((AttrValue::I64(-7), false)));
        assert_eq!(
            own(Value::U128(u128::MAX)),
            Some((AttrValue::Str(Cow::Owned(u128::MAX.to_string())), false))
        );
        assert_eq!(
            own('é'.to_value()),
            Some((AttrValue::Str(Cow::Owned("é".into())), false))
        );
        assert_eq!(
            own([0xde_u8, 0xad].to_value()),
            Some((AttrValue::Str(Cow::Owned("dead".into())), false))
        );
        // Bytes past the string limit (8 here: 4 bytes) are cut and marked.
        let (long, cut) = own(vec![0u8; 10].to_value()).unwrap();
        assert!(cut);
        assert_eq!(long.render(), format!("00000000{TRUNCATED}"));
    }

    #[cfg(feature = "time")]
    #[test]
    fn time_types_are_timestamps() {
        let t = time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(5);
        assert_eq!(
            t.to_value(),
            Value::Timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(5))
        );
    }

    #[cfg(feature = "chrono")]
    #[test]
    fn chrono_types_are_timestamps() {
        let t = chrono::DateTime::<chrono::Utc>::from_timestamp(5, 0).unwrap();
        assert_eq!(
            t.to_value(),
            Value::Timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(5))
        );
    }

    #[test]
    fn builtin_values() {
        assert_eq!(5u8.to_value(), Value::U64(5));
        assert_eq!((-5i32).to_value(), Value::I64(-5));
        assert_eq!("x".to_value(), Value::Str("x"));
        assert_eq!(Some(2.5f64).to_value(), Value::F64(2.5));
        assert_eq!(None::<u32>.to_value(), Value::Absent);
        assert_eq!(<Option<&str> as TelemetryValue>::TYPE, FieldType::String);
        assert_eq!(
            Cow::<str>::Borrowed("c").to_value(),
            Value::Str("c"),
            "Cow<str> borrows"
        );
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        let (v, cut) = own_public(Value::Str("héllo wörld"), 2).unwrap();
        assert!(cut);
        assert_eq!(v, AttrValue::Str(Cow::Owned(format!("h{TRUNCATED}"))));
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
