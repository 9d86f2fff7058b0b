//! Field values: the borrowed [`Value`] that instrumented code hands over,
//! the [`TelemetryValue`] trait that turns a type into one, and the owned
//! [`AttrValue`] that a record keeps after privacy transforms.
//!
//! Here: [`FieldType`], [`Value`] and the trait. The trait's
//! implementations for standard types are in [`conversions`], the owned
//! form and the copy into it in [`owned`], sequences and maps in [`list`].

mod conversions;
mod list;
mod owned;
mod text;

use std::time::{Duration, SystemTime};

pub use list::{ListElement, ListRef, MAX_LIST_LEN, Seq, ValueList};
pub use owned::{AttrValue, REDACTED, TRUNCATED, unix_nanos};
pub(crate) use owned::{hex16, own_public, truncate};
pub use text::Text;

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
