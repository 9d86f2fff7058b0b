//! Events from browsers: a batch is parsed, each event checked against the
//! catalogue schema of the event types the service accepts from clients,
//! and recorded through the same gate as a server-side event (the
//! person's consent, the sampler, the fields' privacy classes). Whatever
//! is refused is counted by cause; nothing in a batch can make the
//! service panic or allocate without bound.
//!
//! The body is JSON:
//!
//! ```json
//! {"events": [{"name": "web.vital", "fields": {"metric": "LCP", "value": 812.5}}]}
//! ```
//!
//! An event may also carry `"category"`: it must then name the category
//! its schema declares, or the event is refused as forged (a client cannot
//! move an event into a category the person allowed).
//!
//! With nobody signed in, only events of exempt categories are taken, and
//! recorded outside any subject scope (anonymously); the others are
//! refused as [`Rejection::NotSignedIn`].
//!
//! A public string field carries whatever a browser puts in it: keep such
//! fields to short codes (the default limit is 128 bytes) and declare free
//! text hashed or redacted in the event type.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value as Json};
use telemetry_core::event::{EventSchema, FieldVisitor};
use telemetry_core::{Context, FieldClass, FieldType, Telemetry, Value};

/// Bounds on what one request may hold.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct IngestLimits {
    /// The largest request body, in bytes (default 64 KiB).
    pub max_body_bytes: usize,
    /// The most events in one batch (default 50).
    pub max_events: usize,
    /// The longest string field, in bytes (default 128).
    pub max_string_bytes: usize,
}

impl Default for IngestLimits {
    fn default() -> Self {
        IngestLimits {
            max_body_bytes: 64 * 1024,
            max_events: 50,
            max_string_bytes: 128,
        }
    }
}

/// Why a batch or an event was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rejection {
    /// The body is larger than [`IngestLimits::max_body_bytes`] (whole batch).
    TooLarge,
    /// More events than [`IngestLimits::max_events`] (whole batch).
    TooMany,
    /// Not JSON, or not the documented shape (a batch, or one event).
    Malformed,
    /// An event name the service does not accept from clients.
    UnknownEvent,
    /// A field the event's schema does not have.
    UnknownField,
    /// A field value of the wrong type (or a number out of range).
    WrongType,
    /// A string longer than [`IngestLimits::max_string_bytes`].
    TooLong,
    /// A `category` other than the one the event's schema declares.
    ForgedCategory,
    /// An event of a category that needs consent, with nobody signed in.
    NotSignedIn,
}

impl Rejection {
    /// Every cause, in a fixed order.
    pub const ALL: [Rejection; 9] = [
        Rejection::TooLarge,
        Rejection::TooMany,
        Rejection::Malformed,
        Rejection::UnknownEvent,
        Rejection::UnknownField,
        Rejection::WrongType,
        Rejection::TooLong,
        Rejection::ForgedCategory,
        Rejection::NotSignedIn,
    ];

    /// The cause as a short name (`unknown_event`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Rejection::TooLarge => "too_large",
            Rejection::TooMany => "too_many",
            Rejection::Malformed => "malformed",
            Rejection::UnknownEvent => "unknown_event",
            Rejection::UnknownField => "unknown_field",
            Rejection::WrongType => "wrong_type",
            Rejection::TooLong => "too_long",
            Rejection::ForgedCategory => "forged_category",
            Rejection::NotSignedIn => "not_signed_in",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// Counts of what the endpoint took and refused since the start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IngestStats {
    /// Batches received.
    pub batches: u64,
    /// Events that passed validation and were handed to the gate (which
    /// may still refuse them for consent or sampling, counted with the
    /// service's other drops).
    pub accepted: u64,
    /// Batches refused whole, by cause.
    pub batches_rejected: Vec<(Rejection, u64)>,
    /// Events refused, by cause (the events of a batch refused whole are
    /// not counted here: they were never read).
    pub events_rejected: Vec<(Rejection, u64)>,
}

impl IngestStats {
    /// The events refused for `cause`.
    pub fn events_rejected(&self, cause: Rejection) -> u64 {
        lookup(&self.events_rejected, cause)
    }

    /// The batches refused for `cause`.
    pub fn batches_rejected(&self, cause: Rejection) -> u64 {
        lookup(&self.batches_rejected, cause)
    }
}

fn lookup(counts: &[(Rejection, u64)], cause: Rejection) -> u64 {
    counts
        .iter()
        .find(|(c, _)| *c == cause)
        .map_or(0, |(_, n)| *n)
}

/// The endpoint's counters, and the metric every outcome is added to
/// (`telemetry.client_events{outcome}`, so a scrape or an OTLP export
/// shows them).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    metric: Option<telemetry_core::Counter>,
    batches: AtomicU64,
    accepted: AtomicU64,
    batches_rejected: [AtomicU64; 9],
    events_rejected: [AtomicU64; 9],
}

impl Counters {
    /// Counters that also add to `metric`.
    pub(crate) fn with_metric(metric: telemetry_core::Counter) -> Self {
        Counters {
            metric: Some(metric),
            ..Counters::default()
        }
    }

    pub(crate) fn snapshot(&self) -> IngestStats {
        let read = |counts: &[AtomicU64; 9]| {
            Rejection::ALL
                .iter()
                .map(|r| (*r, counts[r.index()].load(Ordering::Relaxed)))
                .collect()
        };
        IngestStats {
            batches: self.batches.load(Ordering::Relaxed),
            accepted: self.accepted.load(Ordering::Relaxed),
            batches_rejected: read(&self.batches_rejected),
            events_rejected: read(&self.events_rejected),
        }
    }

    /// Counts a batch refused before it was read.
    pub(crate) fn reject_batch(&self, cause: Rejection) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.batch_rejected(cause);
    }

    fn batch_rejected(&self, cause: Rejection) {
        self.batches_rejected[cause.index()].fetch_add(1, Ordering::Relaxed);
        self.add_metric(&format!("batch_{}", cause.as_str()), 1);
    }

    fn add_metric(&self, outcome: &str, n: u64) {
        if let Some(metric) = &self.metric {
            metric.add(n, &[("outcome", Value::Str(outcome))]);
        }
    }
}

/// What one batch came to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Events handed to the gate.
    pub accepted: usize,
    /// Events refused, by cause (only causes that occurred).
    pub rejected: Vec<(Rejection, usize)>,
}

impl BatchOutcome {
    fn reject(&mut self, cause: Rejection) {
        match self.rejected.iter_mut().find(|(c, _)| *c == cause) {
            Some((_, n)) => *n += 1,
            None => self.rejected.push((cause, 1)),
        }
    }
}

/// A field value checked against its type, borrowing from the parsed body.
#[derive(Copy, Clone, Debug)]
enum Checked<'a> {
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(&'a str),
}

impl<'a> Checked<'a> {
    fn value(self) -> Value<'a> {
        match self {
            Checked::Bool(b) => Value::Bool(b),
            Checked::I64(n) => Value::I64(n),
            Checked::U64(n) => Value::U64(n),
            Checked::F64(n) => Value::F64(n),
            Checked::Str(s) => Value::Str(s),
        }
    }
}

/// The field types a client event may have.
pub(crate) fn client_type(ty: FieldType) -> bool {
    matches!(
        ty,
        FieldType::Bool | FieldType::Int | FieldType::UInt | FieldType::Float | FieldType::String
    )
}

fn check<'a>(
    ty: FieldType,
    value: &'a Json,
    limits: &IngestLimits,
) -> Result<Checked<'a>, Rejection> {
    let checked = match (ty, value) {
        (FieldType::Bool, Json::Bool(b)) => Checked::Bool(*b),
        (FieldType::Int, Json::Number(n)) => Checked::I64(n.as_i64().ok_or(Rejection::WrongType)?),
        (FieldType::UInt, Json::Number(n)) => Checked::U64(n.as_u64().ok_or(Rejection::WrongType)?),
        (FieldType::Float, Json::Number(n)) => Checked::F64(
            n.as_f64()
                .filter(|f| f.is_finite())
                .ok_or(Rejection::WrongType)?,
        ),
        (FieldType::String, Json::String(s)) if s.len() > limits.max_string_bytes => {
            return Err(Rejection::TooLong);
        }
        (FieldType::String, Json::String(s)) => Checked::Str(s),
        _ => return Err(Rejection::WrongType),
    };
    Ok(checked)
}

/// An event that passed: its schema and its checked values, each with
/// its field's index.
type Valid<'a> = (&'static EventSchema, Vec<(usize, Checked<'a>)>);

/// One event's schema and checked values.
fn validate<'a>(
    event: &'a Json,
    accepted: &[&'static EventSchema],
    category_name: &dyn Fn(&'static EventSchema) -> String,
    limits: &IngestLimits,
) -> Result<Valid<'a>, Rejection> {
    let Json::Object(event) = event else {
        return Err(Rejection::Malformed);
    };
    let Some(Json::String(name)) = event.get("name") else {
        return Err(Rejection::Malformed);
    };
    let schema = accepted
        .iter()
        .copied()
        .find(|s| s.name == name)
        .ok_or(Rejection::UnknownEvent)?;
    match event.get("category") {
        None => {}
        Some(Json::String(c)) if *c == category_name(schema) => {}
        Some(_) => return Err(Rejection::ForgedCategory),
    }
    if event
        .keys()
        .any(|k| !matches!(k.as_str(), "name" | "category" | "fields"))
    {
        return Err(Rejection::Malformed);
    }
    let fields: &Map<String, Json> = match event.get("fields") {
        None | Some(Json::Null) => return Ok((schema, Vec::new())),
        Some(Json::Object(fields)) => fields,
        Some(_) => return Err(Rejection::Malformed),
    };
    let mut values = Vec::with_capacity(fields.len());
    for (key, value) in fields {
        let (index, field) = schema
            .fields
            .iter()
            .enumerate()
            .find(|(_, f)| f.name == key)
            .ok_or(Rejection::UnknownField)?;
        if value.is_null() || field.class == FieldClass::Dropped {
            continue;
        }
        values.push((index, check(field.ty, value, limits)?));
    }
    Ok((schema, values))
}

/// Records the events of a body, for `person` (`None`: nobody signed in,
/// exempt categories only, anonymously). A batch refused whole gives
/// `Err`.
pub(crate) fn ingest(
    telemetry: &Telemetry,
    accepted: &[&'static EventSchema],
    limits: &IngestLimits,
    counters: &Counters,
    person: Option<&str>,
    body: &[u8],
) -> Result<BatchOutcome, Rejection> {
    counters.batches.fetch_add(1, Ordering::Relaxed);
    let batch = parse_batch(body, limits).inspect_err(|cause| counters.batch_rejected(*cause))?;
    let names = telemetry.categories();
    let category_name = |s: &'static EventSchema| names.name(s.category).into_owned();
    // Nobody signed in: exempt categories only, recorded outside the
    // request's subject scope (within its trace).
    let exempt = telemetry.consent().policy().exempt_set();
    let _anonymous = person.is_none().then(|| {
        let ctx = Context::empty();
        match Context::current().span_context() {
            Some(span) => ctx.with_span_context(span),
            None => ctx,
        }
        .attach()
    });
    let mut outcome = BatchOutcome::default();
    for event in &batch {
        let checked = validate(event, accepted, &category_name, limits).and_then(|valid| {
            if person.is_none() && !exempt.contains(valid.0.category) {
                Err(Rejection::NotSignedIn)
            } else {
                Ok(valid)
            }
        });
        match checked {
            Ok((schema, values)) => {
                telemetry.emit_schema(schema, person, |v: &mut dyn FieldVisitor| {
                    for (index, value) in &values {
                        v.field(*index, value.value());
                    }
                });
                outcome.accepted += 1;
                counters.accepted.fetch_add(1, Ordering::Relaxed);
            }
            Err(cause) => {
                outcome.reject(cause);
                counters.events_rejected[cause.index()].fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    counters.add_metric("accepted", outcome.accepted as u64);
    for (cause, n) in &outcome.rejected {
        counters.add_metric(cause.as_str(), *n as u64);
    }
    Ok(outcome)
}

/// The events array of a body, within the limits.
fn parse_batch(body: &[u8], limits: &IngestLimits) -> Result<Vec<Json>, Rejection> {
    if body.len() > limits.max_body_bytes {
        return Err(Rejection::TooLarge);
    }
    let parsed: Json = serde_json::from_slice(body).map_err(|_| Rejection::Malformed)?;
    let Json::Object(mut batch) = parsed else {
        return Err(Rejection::Malformed);
    };
    let Some(Json::Array(events)) = batch.remove("events") else {
        return Err(Rejection::Malformed);
    };
    if events.len() > limits.max_events {
        return Err(Rejection::TooMany);
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_against_their_types() {
        let limits = IngestLimits::default();
        let ok = |ty, json: &str| {
            let v: Json = serde_json::from_str(json).unwrap();
            check(ty, &v, &limits).map(|c| format!("{c:?}"))
        };
        assert_eq!(ok(FieldType::UInt, "3").unwrap(), "U64(3)");
        assert_eq!(ok(FieldType::UInt, "-3"), Err(Rejection::WrongType));
        assert_eq!(ok(FieldType::UInt, "1.5"), Err(Rejection::WrongType));
        assert_eq!(ok(FieldType::Int, "-3").unwrap(), "I64(-3)");
        assert_eq!(ok(FieldType::Float, "3").unwrap(), "F64(3.0)");
        assert_eq!(ok(FieldType::String, "3"), Err(Rejection::WrongType));
        assert_eq!(ok(FieldType::Bool, "\"true\""), Err(Rejection::WrongType));
        let long = format!("\"{}\"", "x".repeat(limits.max_string_bytes + 1));
        assert_eq!(ok(FieldType::String, &long), Err(Rejection::TooLong));
    }

    #[test]
    fn batches_are_bounded() {
        let limits = IngestLimits {
            max_body_bytes: 100,
            max_events: 2,
            ..IngestLimits::default()
        };
        assert_eq!(
            parse_batch(&[b' '; 101], &limits).unwrap_err(),
            Rejection::TooLarge
        );
        assert_eq!(
            parse_batch(br#"{"events":[1,2,3]}"#, &limits).unwrap_err(),
            Rejection::TooMany
        );
        assert_eq!(
            parse_batch(b"{", &limits).unwrap_err(),
            Rejection::Malformed
        );
        assert_eq!(
            parse_batch(b"[]", &limits).unwrap_err(),
            Rejection::Malformed
        );
        assert_eq!(
            parse_batch(br#"{"events":{}}"#, &limits).unwrap_err(),
            Rejection::Malformed
        );
        assert_eq!(
            parse_batch(br#"{"events":[1,2]}"#, &limits).unwrap().len(),
            2
        );
    }
}
