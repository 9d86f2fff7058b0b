//! [`TelemetryValue`] for the standard library's types (integers, floats,
//! `bool`, `char`, strings, bytes, `Duration`, `SystemTime`, `Option`,
//! references and smart pointers) and, with the features of those names,
//! for `chrono`'s and `time`'s date-times; and the `From` conversions into
//! [`Value`].

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use super::{FieldType, TelemetryValue, Value};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
