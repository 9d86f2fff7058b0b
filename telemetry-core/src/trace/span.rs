//! Spans: started under consent and sampling, entered as the current span,
//! carried across `.await`, ended into the export queue.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::sync::Arc;

use crate::category::Category;
use crate::consent::gate::{Consented, SpanAdmission};
use crate::export::{Record, SpanEvent, SpanKind, SpanRecord, SpanStatus};
use crate::instance::Inner;
use crate::privacy::AttrBuilder;
use crate::privacy::FieldClass;
use crate::subject::context::{RawSpan, swap_raw_span};
use crate::trace::{SpanContext, SpanId, UnsampledContext};
use crate::value::{TelemetryValue, Value};

/// The instance a recorded span writes into: the installed one by
/// reference (it lives as long as the process), any other by a counted
/// handle. Taking and dropping a count for every span were two locked
/// instructions on a line other threads touch, about a tenth of a
/// recorded `#[instrument_event]` call.
enum Instance {
    Installed(&'static Inner),
    Held(Arc<Inner>),
}

impl Instance {
    #[inline]
    fn of(inner: &Arc<Inner>) -> Self {
        match crate::Telemetry::installed_inner() {
            Some(g) if std::ptr::eq(g, Arc::as_ptr(inner)) => Instance::Installed(g),
            _ => Instance::Held(Arc::clone(inner)),
        }
    }
}

impl std::ops::Deref for Instance {
    type Target = Inner;

    #[inline]
    fn deref(&self) -> &Inner {
        match self {
            Instance::Installed(i) => i,
            Instance::Held(i) => i,
        }
    }
}

struct Recording {
    inner: Instance,
    parent: Option<SpanId>,
    parent_remote: bool,
    name: Cow<'static, str>,
    category: Category,
    start_mono: u64,
    attrs: AttrBuilder,
    events: Vec<SpanEvent>,
    status: SpanStatus,
    kind: SpanKind,
    consented: Consented,
}

enum State {
    /// Consent denied or telemetry off: nothing at all, not even a context.
    Off,
    /// Sampled out: a context for children to follow, nothing recorded.
    Unsampled(UnsampledContext),
    /// Recorded when it ends. The box is taken out by `finish` (which
    /// dropping the span always runs for this state), so `State` has no
    /// drop glue: dropping a span that was never recorded costs a test.
    Recording(SpanContext, ManuallyDrop<Box<Recording>>),
}

/// A span. It is recorded when dropped (or [`end`](Span::end)ed), if
/// consent and sampling kept it; otherwise every method is a no-op.
///
/// A span is not current until [`enter`](Span::enter)ed (or run with
/// [`Telemetry::in_span`](crate::Telemetry::in_span), or carried by [`wrap`](Span::wrap)).
pub struct Span {
    state: State,
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            State::Off => f.write_str("Span(off)"),
            State::Unsampled(c) => write!(f, "Span(unsampled {})", c.get().trace_id),
            State::Recording(c, r) => write!(f, "Span({:?} {} {})", r.name, c.trace_id, c.span_id),
        }
    }
}

impl Span {
    /// Starts a span of `category` as a child of what `parent` gives (a new
    /// root if `None`), read only once consent allows; consent is checked
    /// for the current subject. The name is built only for a recorded span.
    #[inline(always)]
    pub(crate) fn start(
        inner: &Arc<Inner>,
        name: impl FnOnce() -> Cow<'static, str>,
        category: Category,
        parent: impl FnOnce() -> Option<SpanContext>,
    ) -> Span {
        Span::from_admission(inner, name, category, inner.admit_span(category, parent))
    }

    /// [`start`](Self::start) for a span whose consent the gate admitted
    /// already (`consented`): sampling only.
    #[inline(always)]
    pub(crate) fn start_admitted(
        inner: &Arc<Inner>,
        name: impl FnOnce() -> Cow<'static, str>,
        category: Category,
        consented: Consented,
        parent: impl FnOnce() -> Option<SpanContext>,
    ) -> Span {
        let admission = inner.sample_new_span(category, consented, parent);
        Span::from_admission(inner, name, category, admission)
    }

    #[inline(always)]
    fn from_admission(
        inner: &Arc<Inner>,
        name: impl FnOnce() -> Cow<'static, str>,
        category: Category,
        admission: SpanAdmission,
    ) -> Span {
        match admission {
            SpanAdmission::Off => Span { state: State::Off },
            SpanAdmission::Unsampled(ctx) => Span {
                state: State::Unsampled(ctx),
            },
            SpanAdmission::Recording {
                ctx,
                parent,
                consented,
                start_mono,
            } => Span::start_recording(inner, ctx, parent, name(), category, start_mono, consented),
        }
    }
}

impl Span {
    /// Builds a recorded span; out of line so the dropped paths stay small.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)] // private constructor: all are the span's fields
    fn start_recording(
        inner: &Arc<Inner>,
        ctx: SpanContext,
        parent: Option<SpanContext>,
        name: Cow<'static, str>,
        category: Category,
        start_mono: u64,
        consented: Consented,
    ) -> Span {
        let parent_remote = parent.is_some_and(|p| p.remote);
        let parent = parent.map(|p| p.span_id);
        let open = match spare::take(inner) {
            // The open state of this thread's last span, emptied when it
            // ended: set field by field, no allocation and no copy of its
            // few hundred bytes from the stack.
            Some(mut r) => {
                r.parent = parent;
                r.parent_remote = parent_remote;
                r.name = name;
                r.category = category;
                r.start_mono = start_mono;
                r.attrs.reset(inner.limits(), consented.anonymous);
                r.events.clear();
                r.status = SpanStatus::Unset;
                r.kind = SpanKind::Internal;
                r.consented = consented;
                r
            }
            None => Box::new(Recording {
                inner: Instance::of(inner),
                parent,
                parent_remote,
                name,
                category,
                start_mono,
                attrs: AttrBuilder::new(inner.limits(), 0, consented.anonymous),
                events: Vec::new(),
                status: SpanStatus::Unset,
                kind: SpanKind::Internal,
                consented,
            }),
        };
        Span {
            state: State::Recording(ctx, ManuallyDrop::new(open)),
        }
    }

    /// A span that records nothing.
    #[inline]
    pub fn none() -> Span {
        Span { state: State::Off }
    }

    /// This span's context (ids and sampling), if it has one.
    #[inline]
    pub fn context(&self) -> Option<SpanContext> {
        match &self.state {
            State::Off => None,
            State::Unsampled(c) => Some(c.get()),
            State::Recording(c, _) => Some(*c),
        }
    }

    /// Whether the span will be recorded.
    #[inline]
    pub fn is_recording(&self) -> bool {
        matches!(self.state, State::Recording(..))
    }

    /// Makes this the current span on this thread until the guard drops.
    #[inline]
    pub fn enter(&self) -> Entered {
        let raw = match &self.state {
            State::Off => {
                return Entered {
                    previous: RawSpan::NONE,
                    active: false,
                    _not_send: PhantomData,
                };
            }
            // Its ids are made only if something reads them.
            State::Unsampled(u) => RawSpan::unsampled(u),
            State::Recording(c, _) => RawSpan::of(Some(*c)),
        };
        Entered {
            previous: swap_raw_span(raw),
            active: true,
            _not_send: PhantomData,
        }
    }

    fn recording(&mut self) -> Option<&mut Recording> {
        match &mut self.state {
            State::Recording(_, r) => Some(r),
            _ => None,
        }
    }

    /// Sets the span's kind (internal unless set): [`SpanKind::Server`] for
    /// the span of an incoming request, [`SpanKind::Client`] for an outgoing
    /// call.
    pub fn set_kind(&mut self, kind: SpanKind) {
        if let Some(r) = self.recording() {
            r.kind = kind;
        }
    }

    /// Sets a public attribute.
    pub fn set_attribute<V: TelemetryValue>(&mut self, key: &'static str, value: V) {
        if let Some(r) = self.recording() {
            r.push(key, FieldClass::Public, value.to_value());
        }
    }

    /// Sets an attribute with a privacy class: hashed, redacted or dropped
    /// values never leave the process.
    pub fn record<V: TelemetryValue>(&mut self, key: &'static str, class: FieldClass, value: V) {
        if let Some(r) = self.recording() {
            r.push(key, class, value.to_value());
        }
    }

    /// Adds an event with public attributes.
    pub fn add_event(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        attributes: &[(&'static str, Value<'_>)],
    ) {
        let Some(r) = self.recording() else { return };
        let limits = r.inner.limits();
        if r.events.len() >= limits.max_span_events {
            r.attrs.dropped += 1;
            r.attrs.limited = true;
            return;
        }
        let mut attrs = AttrBuilder::new(limits, attributes.len(), r.consented.anonymous);
        for (k, v) in attributes {
            attrs.capture(Cow::Borrowed(k), FieldClass::Public, *v, r.inner.keys());
        }
        r.attrs.limited |= attrs.limited;
        let time = r.inner.clock().to_system(r.inner.clock().mono());
        r.events.push(SpanEvent {
            name: name.into(),
            time,
            attributes: attrs.attrs,
        });
    }

    /// Sets an attribute that may identify the subject whatever its class
    /// (a return value): left out, and counted, in an anonymous span.
    pub(crate) fn record_identifying(
        &mut self,
        key: &'static str,
        class: FieldClass,
        value: Value<'_>,
    ) {
        if let Some(r) = self.recording() {
            let keys = &r.inner.keys();
            r.attrs
                .capture_identifying(Cow::Borrowed(key), class, || value, keys);
        }
    }

    /// Sets an attribute from a borrowed value with a privacy class.
    pub(crate) fn record_value(&mut self, key: &'static str, class: FieldClass, value: Value<'_>) {
        if let Some(r) = self.recording() {
            r.push(key, class, value);
        }
    }

    /// Whether the span's status is already an error.
    pub(crate) fn has_error_status(&self) -> bool {
        matches!(&self.state, State::Recording(_, r) if matches!(r.status, SpanStatus::Error { .. }))
    }

    /// Marks the span failed with the error's type name (never its message,
    /// which may carry personal data).
    pub fn set_error<E: ?Sized>(&mut self, _error: &E) {
        if let Some(r) = self.recording() {
            r.status = SpanStatus::Error {
                description: Cow::Borrowed(std::any::type_name::<E>()),
            };
        }
    }

    /// Marks the span failed with an explicit description (which you vouch
    /// holds no personal data).
    pub fn set_error_description(&mut self, description: impl Into<Cow<'static, str>>) {
        if let Some(r) = self.recording() {
            r.status = SpanStatus::Error {
                description: description.into(),
            };
        }
    }

    /// Marks the span ok.
    pub fn set_ok(&mut self) {
        if let Some(r) = self.recording() {
            r.status = SpanStatus::Ok;
        }
    }

    /// Sets the status from a result: `Err` marks the span failed with the
    /// error's type name.
    pub fn record_result<T, E>(&mut self, result: &Result<T, E>) {
        match result {
            Ok(_) => {}
            Err(e) => self.set_error(e),
        }
    }

    /// Ends the span now.
    #[inline]
    pub fn end(mut self) {
        if matches!(self.state, State::Recording(..)) {
            self.finish();
        }
        // Off, sampled out, or finished (its state is `Off` now): nothing
        // is left to drop, so no drop is called.
        debug_assert!(!matches!(self.state, State::Recording(..)));
        std::mem::forget(self);
    }
}

impl Recording {
    #[inline]
    fn push(&mut self, key: &'static str, class: FieldClass, value: Value<'_>) {
        self.attrs
            .capture(Cow::Borrowed(key), class, value, self.inner.keys());
    }
}

impl Drop for Span {
    #[inline]
    fn drop(&mut self) {
        if matches!(self.state, State::Recording(..)) {
            self.finish();
        }
    }
}

impl Span {
    /// Ends a recorded span into the export queue.
    #[inline(never)]
    fn finish(&mut self) {
        self.finish_at(None);
    }

    /// When a recorded span started (monotonic nanoseconds).
    #[inline]
    pub(crate) fn start_mono(&self) -> Option<u64> {
        match &self.state {
            State::Recording(_, r) => Some(r.start_mono),
            _ => None,
        }
    }

    /// Ends a recorded span at monotonic time `end_mono`, read by the
    /// caller for its own use (an instrumented call's duration): one clock
    /// read for both.
    pub(crate) fn end_at(&mut self, end_mono: u64) {
        self.finish_at(Some(end_mono));
    }

    fn finish_at(&mut self, end_mono: Option<u64>) {
        let State::Recording(ctx, r) = std::mem::replace(&mut self.state, State::Off) else {
            return;
        };
        // The record is built from the box's fields in place: moving the
        // whole open state out of the box first was one more copy of a few
        // hundred bytes.
        let mut boxed = ManuallyDrop::into_inner(r);
        let r: &mut Recording = &mut boxed;
        let inner = &r.inner;
        let end_mono = end_mono.unwrap_or_else(|| inner.clock().mono());
        r.attrs.count_cuts(inner.drops(), r.category);
        let key_id = if r.attrs.hashed {
            inner.keys().active().map(|k| k.id)
        } else {
            None
        };
        let start = inner.clock().to_system(r.start_mono);
        let end = inner.clock().to_system(end_mono);
        let (category, version) = (r.category, r.consented.version);
        // Built in its queue slot, by moves only (`push_with` needs a
        // builder that cannot unwind).
        inner.pipeline().push_with(&**inner, category, version, || {
            Record::Span(SpanRecord {
                trace_id: ctx.trace_id,
                span_id: ctx.span_id,
                parent_span_id: r.parent,
                parent_remote: r.parent_remote,
                name: std::mem::take(&mut r.name),
                category,
                start,
                end,
                status: std::mem::take(&mut r.status),
                kind: r.kind,
                attributes: std::mem::take(&mut r.attrs.attrs),
                events: std::mem::take(&mut r.events),
                dropped_attributes: r.attrs.dropped,
                probability: ctx.probability,
                subject: r.consented.subject,
                key_id,
            })
        });
        spare::keep(boxed);
    }
}

/// One emptied open state a thread keeps for its next span (see
/// `start_recording`). It is kept without its instance (released when it
/// is kept: a kept state must not keep an instance alive), so its
/// `inner` field is the one part not initialized.
mod spare {
    use std::cell::Cell;
    use std::mem::MaybeUninit;
    use std::sync::Arc;

    use super::{Instance, Recording};
    use crate::instance::Inner;

    thread_local! {
        /// Every field initialized but `inner`; the others hold nothing on
        /// the heap (`finish_at` took them).
        static SPARE: Cell<Option<Box<MaybeUninit<Recording>>>> = const { Cell::new(None) };
    }

    /// This thread's kept state, made whole for a span of `inner`.
    #[inline]
    pub(super) fn take(inner: &Arc<Inner>) -> Option<Box<Recording>> {
        let mut spare = SPARE.try_with(Cell::take).ok().flatten()?;
        let p = spare.as_mut_ptr();
        // SAFETY: `p` points to a live allocation of a `Recording`; writing
        // its one uninitialized field (without reading or dropping what is
        // there) makes every field initialized, as `keep` left the others.
        unsafe {
            std::ptr::addr_of_mut!((*p).inner).write(Instance::of(inner));
            Some(spare.assume_init())
        }
    }

    /// Keeps `r` (emptied by `finish_at`) for the next span, releasing its
    /// instance; drops it if one is kept already.
    #[inline]
    pub(super) fn keep(mut r: Box<Recording>) {
        // What can own heap memory is emptied here, whatever the caller
        // took already (these are no-ops after `finish_at`): the kept box
        // drops none of its fields.
        r.name = std::borrow::Cow::Borrowed("");
        r.status = crate::export::SpanStatus::Unset;
        r.attrs.attrs = Default::default();
        r.events = Vec::new();
        let raw = Box::into_raw(r);
        // SAFETY: `raw` is a whole `Recording` we own; its `inner` is
        // dropped once here and never read again until `take` writes a new
        // one. The box is then owned as `MaybeUninit`, which drops none of
        // the fields: they hold nothing on the heap (see `SPARE`).
        let spare = unsafe {
            std::ptr::drop_in_place(std::ptr::addr_of_mut!((*raw).inner));
            Box::from_raw(raw.cast::<MaybeUninit<Recording>>())
        };
        let _ = SPARE.try_with(|s| {
            if let Some(kept) = s.replace(Some(spare)) {
                s.set(Some(kept));
            }
        });
    }
}

/// Restores the previous current span when dropped. Not `Send`.
#[must_use = "the span is exited as soon as the guard is dropped"]
pub struct Entered {
    previous: RawSpan,
    active: bool,
    _not_send: PhantomData<*const ()>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        if self.active {
            self.active = false;
            swap_raw_span(self.previous);
        }
    }
}

impl fmt::Debug for Entered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Entered")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::{Category, Telemetry};

    /// The open state a thread keeps for its next span holds no instance:
    /// a built instance's count is what it was once its spans ended, also
    /// when the kept state is reused by another instance's span.
    #[test]
    fn a_kept_open_state_holds_no_instance() {
        let a = Telemetry::builder().service("a", "1").build().expect("a");
        let b = Telemetry::builder().service("b", "1").build().expect("b");
        let (count_a, count_b) = (Arc::strong_count(&a.inner), Arc::strong_count(&b.inner));
        for t in [&a, &b, &a] {
            let outer = t.span("outer", Category::PERFORMANCE);
            assert!(outer.is_recording());
            let inner = t.span("inner", Category::PERFORMANCE);
            drop(inner);
            drop(outer);
        }
        assert_eq!(Arc::strong_count(&a.inner), count_a);
        assert_eq!(Arc::strong_count(&b.inner), count_b);
    }
}
