//! Recording events: typed events ([`Telemetry::emit`]) and ad-hoc events
//! ([`Telemetry::event`]). Consent and sampling are decided before any field
//! is read.

use std::borrow::Cow;

use crate::category::Category;
use crate::consent::gate::{Consented, EventAdmission, Who};
use crate::event::schema::{EventSchema, FieldVisitor, TelemetryEvent};
use crate::export::{LogRecord, Record, Severity, TraceLink};
use crate::instance::Inner;
use crate::privacy::AttrBuilder;
use crate::privacy::{FieldClass, KeyRing};
use crate::subject::context::fast_span;
use crate::value::{TelemetryValue, Value};

impl Inner {
    /// Queues the record of an event the gate admitted, with its captured
    /// attributes (taken out of `attrs` where they are: moving the builder
    /// in was one more copy of a few hundred bytes). The record is built
    /// in its queue slot ([`Pipeline::push_with`](crate::pipeline::Pipeline::push_with)):
    /// what could fail is worked out first, and the builder only moves.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push_log(
        &self,
        a: EventAdmission,
        name: impl Into<Cow<'static, str>>,
        category: Category,
        severity: Severity,
        version: u32,
        body: Option<Cow<'static, str>>,
        attrs: &mut AttrBuilder,
    ) {
        attrs.count_cuts(self.drops(), category);
        let time = self.clock().to_system(a.mono);
        let key_id = if attrs.hashed {
            self.keys().active().map(|k| k.id)
        } else {
            None
        };
        let dropped_attributes = attrs.dropped;
        let (probability, subject) = (a.probability, a.consented.subject);
        let span = &a.span;
        self.pipeline()
            .push_with(self, category, a.consented.version, || {
                Record::Log(LogRecord {
                    time,
                    // Made here, in the slot's write: a typed event's
                    // name, a `Cow` made before, was copied through the
                    // stack with the fields beside it and stalled on it.
                    event_name: name.into(),
                    category,
                    severity,
                    body,
                    schema_version: version,
                    attributes: std::mem::take(&mut attrs.attrs),
                    dropped_attributes,
                    // Read from the admission in the slot's write (a
                    // link built before was copied at another offset,
                    // which stalled on the copy).
                    trace: span.as_ref().map(|s| TraceLink {
                        trace_id: s.trace_id,
                        span_id: s.span_id,
                        sampled: s.sampled,
                    }),
                    probability,
                    subject,
                    key_id,
                })
            });
    }
}

/// Captures a typed event's fields according to their classes.
struct Capture<'a> {
    schema: &'static EventSchema,
    keys: &'a KeyRing,
    attrs: AttrBuilder,
}

impl FieldVisitor for Capture<'_> {
    fn field(&mut self, index: usize, value: Value<'_>) {
        let Some(field) = self.schema.fields.get(index) else {
            return;
        };
        self.attrs
            .capture(Cow::Borrowed(field.name), field.class, value, self.keys);
    }
}

/// Records a typed event (see [`Telemetry::emit`](crate::Telemetry::emit)).
#[inline(always)]
pub(crate) fn emit<E: TelemetryEvent>(inner: &Inner, event: &E, severity: Severity) {
    // An event without a subject of its own is decided here, inline (a
    // denied one costs the check alone); one naming its subject goes out
    // of line, where its id is read (and hashed, if it is not in memory).
    match event.subject() {
        None if !E::NAMES_SUBJECT => {
            emit_described(inner, E::SCHEMA, severity, None, |v| event.visit_fields(v));
        }
        _ => emit_with_subject(inner, event, severity),
    }
}

#[inline(never)]
fn emit_with_subject<E: TelemetryEvent>(inner: &Inner, event: &E, severity: Severity) {
    event.with_subject(|id| {
        emit_described(inner, E::SCHEMA, severity, id, |v| event.visit_fields(v));
    });
}

/// Records an event of `schema` whose fields `visit` hands over, once the
/// gate admitted it (typed events and
/// [`Telemetry::emit_schema`](crate::Telemetry::emit_schema)).
#[inline(always)]
pub(crate) fn emit_described(
    inner: &Inner,
    schema: &'static EventSchema,
    severity: Severity,
    id: Option<&str>,
    visit: impl FnOnce(&mut dyn FieldVisitor),
) {
    let who = match id {
        Some(id) => Who::Id(id),
        None => Who::Current,
    };
    let Ok(consented) = inner.admit(schema.category, who) else {
        return;
    };
    record_admitted(inner, schema, severity, consented, visit);
}

/// Samples, captures and queues an event whose consent the gate admitted;
/// out of line, so that what is inlined where an event is emitted is the
/// consent check alone (a refused event then saves and restores no
/// registers: the check, the count of the refusal, and a return).
#[inline(never)]
fn record_admitted(
    inner: &Inner,
    schema: &'static EventSchema,
    severity: Severity,
    consented: Consented,
    visit: impl FnOnce(&mut dyn FieldVisitor),
) {
    let Some(admitted) = inner.sample_event(schema.category, severity, consented, fast_span) else {
        return;
    };
    let mut capture = Capture {
        schema,
        keys: inner.keys(),
        attrs: AttrBuilder::new(
            inner.limits(),
            schema.fields.len(),
            admitted.consented.anonymous,
        ),
    };
    visit(&mut capture);
    inner.push_log(
        admitted,
        schema.name,
        schema.category,
        severity,
        schema.version,
        None,
        &mut capture.attrs,
    );
}

/// The default severity of a category's events.
pub(crate) fn default_severity(category: Category) -> Severity {
    if category == Category::ERRORS {
        Severity::Error
    } else {
        Severity::Info
    }
}

impl<'t> EventBuilder<'t> {
    /// Starts an ad-hoc event (see [`Telemetry::event`](crate::Telemetry::event)).
    pub(crate) fn start(inner: &'t Inner, name: Cow<'static, str>, category: Category) -> Self {
        let severity = default_severity(category);
        let pending = inner
            .admit_event(category, severity, Who::Current, fast_span)
            .map(|admitted| Pending {
                attrs: AttrBuilder::new(inner.limits(), 4, admitted.consented.anonymous),
                admitted,
                name,
                category,
                severity,
                body: None,
            });
        EventBuilder {
            inner,
            pending: pending.map(spare::boxed),
        }
    }
}

/// One emptied [`Pending`] a thread keeps for its next ad-hoc event, as a
/// span's open state is kept: a recorded ad-hoc event then allocates
/// nothing (the box is what keeps a refused builder one pointer wide).
mod spare {
    use std::cell::Cell;

    use super::Pending;

    thread_local! {
        /// Holds nothing on the heap but the box itself: `keep` empties
        /// what could.
        static SPARE: Cell<Option<Box<Pending>>> = const { Cell::new(None) };
    }

    /// `pending` in this thread's kept box, or in a new one.
    #[inline]
    pub(super) fn boxed(pending: Pending) -> Box<Pending> {
        match SPARE.try_with(Cell::take) {
            Ok(Some(mut kept)) => {
                *kept = pending;
                kept
            }
            _ => Box::new(pending),
        }
    }

    /// Keeps `p` for the next event, emptied; drops it if one is kept
    /// already (or the thread is exiting).
    #[inline]
    pub(super) fn keep(mut p: Box<Pending>) {
        p.name = std::borrow::Cow::Borrowed("");
        p.body = None;
        p.attrs.attrs = Default::default();
        let _ = SPARE.try_with(|s| {
            if let Some(kept) = s.replace(Some(p)) {
                s.set(Some(kept));
            }
        });
    }
}

struct Pending {
    admitted: EventAdmission,
    name: Cow<'static, str>,
    category: Category,
    severity: Severity,
    attrs: AttrBuilder,
    body: Option<Cow<'static, str>>,
}

/// An ad-hoc event being built. See [`Telemetry::event`](crate::Telemetry::event).
#[must_use = "call .emit() to record the event"]
pub struct EventBuilder<'t> {
    inner: &'t Inner,
    pending: Option<Box<Pending>>,
}

impl std::fmt::Debug for EventBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBuilder")
            .field("kept", &self.pending.is_some())
            .finish_non_exhaustive()
    }
}

impl EventBuilder<'_> {
    /// Whether the event will be recorded (consent and sampling said yes).
    pub fn is_kept(&self) -> bool {
        self.pending.is_some()
    }

    fn attr(mut self, key: &'static str, class: FieldClass, value: Value<'_>) -> Self {
        if let Some(p) = &mut self.pending {
            p.attrs
                .capture(Cow::Borrowed(key), class, value, self.inner.keys());
        }
        self
    }

    /// A public attribute.
    pub fn public<V: TelemetryValue>(self, key: &'static str, value: V) -> Self {
        if self.pending.is_none() {
            return self;
        }
        self.attr(key, FieldClass::Public, value.to_value())
    }

    /// An attribute replaced by its keyed hash.
    pub fn hashed<V: TelemetryValue>(self, key: &'static str, value: V) -> Self {
        if self.pending.is_none() {
            return self;
        }
        self.attr(key, FieldClass::Hashed, value.to_value())
    }

    /// An attribute that may identify the subject whatever its class (an
    /// error message): built by `value` and kept only if the event is kept
    /// and not anonymous; left out and counted in an anonymous event.
    pub(crate) fn identifying_with(
        mut self,
        key: &'static str,
        class: FieldClass,
        value: impl FnOnce() -> String,
    ) -> Self {
        if let Some(p) = &mut self.pending {
            let keys = &self.inner.keys();
            let mut text = None;
            p.attrs.capture_identifying(
                Cow::Borrowed(key),
                class,
                || Value::Str(text.insert(value()).as_str()),
                keys,
            );
        }
        self
    }

    /// An attribute whose value is replaced by a marker (the value is not taken).
    pub fn redacted(self, key: &'static str) -> Self {
        self.attr(key, FieldClass::Redacted, Value::Absent)
    }

    /// The severity (default info; error for the errors category).
    pub fn severity(mut self, severity: Severity) -> Self {
        if let Some(p) = &mut self.pending {
            p.severity = severity;
        }
        self
    }

    /// A static body text (a message template, not data).
    pub fn body(mut self, body: &'static str) -> Self {
        if let Some(p) = &mut self.pending {
            p.body = Some(Cow::Borrowed(body));
        }
        self
    }

    /// Records the event.
    pub fn emit(self) {
        let Some(mut p) = self.pending else { return };
        let name = std::mem::take(&mut p.name);
        let body = p.body.take();
        self.inner.push_log(
            p.admitted,
            name,
            p.category,
            p.severity,
            0,
            body,
            &mut p.attrs,
        );
        spare::keep(p);
    }
}
