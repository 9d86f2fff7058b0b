//! Privacy done in code: how every captured field is treated
//! ([`FieldClass`]), the keyed hashing with rotatable keys ([`keys`]; an
//! input of one block or less is hashed by [`blake3_block`]), the limits
//! that bound what a record can hold ([`Limits`]), and the capture that
//! applies them to each value ([`capture`]).

pub(crate) mod blake3_block;
pub(crate) mod capture;
pub(crate) mod keys;

pub(crate) use capture::AttrBuilder;
pub(crate) use keys::{FIELD_KEY_CONTEXT, HashKey, KeyRing, SUBJECT_KEY_CONTEXT};
pub use keys::{KeyId, MIN_KEY_BYTES};

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
    /// The field name is kept, the value becomes [`REDACTED`](crate::export::REDACTED).
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

/// Limits that bound what one record can hold and how many series a metric
/// can have. Every limit that is hit is counted as a drop with cause
/// [`DropCause::Limits`](crate::DropCause::Limits).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Attributes per record (span, event or span event). Default 64.
    pub max_attributes: usize,
    /// Bytes per string value; longer strings are cut at a character boundary
    /// and end with [`TRUNCATED`](crate::export::TRUNCATED). Default 1024.
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
