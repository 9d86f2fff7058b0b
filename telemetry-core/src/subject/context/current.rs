//! The current context of a thread: where it is kept, how it is replaced,
//! and the plain thread-local mirrors (subject, span, suppression) that the
//! hot path reads with one load.

use std::cell::{Cell, RefCell};
use std::num::NonZeroU64;
use std::sync::Arc;

use crate::subject::SubjectState;

use crate::trace::{SpanContext, TraceId, UnsampledContext};

use super::Context;

/// The full current context. Its destructor clears the fast mirrors below.
struct Current(RefCell<Context>);

impl Drop for Current {
    fn drop(&mut self) {
        let _ = FAST_SUBJECT.try_with(|f| f.set((0, std::ptr::null(), !0)));
        let _ = FAST_SPAN.try_with(|f| f.set(RawSpan::NONE));
    }
}

thread_local! {
    static CURRENT: Current = const {
        Current(RefCell::new(Context { subject: None, span: None, withheld: 0, tracestate: None }))
    };
    /// Mirror of the current subject for the hot path: (owner instance id,
    /// state, categories the context does not withhold). The pointer is
    /// non-null only while `CURRENT` holds a handle to that state. The
    /// categories are kept inverted so that the gate's `mask & !withheld`
    /// is one `and` of what it loads.
    /// Plain `Cell`s with constant initialisers and no destructor: reading
    /// them is a thread-local load, with no lazy-init or borrow check.
    static FAST_SUBJECT: Cell<(u64, *const SubjectState, u64)> = const { Cell::new((0, std::ptr::null(), !0)) };
    /// Whether telemetry is suppressed on this thread (see [`Context::suppress`]).
    pub(super) static SUPPRESSED: Cell<bool> = const { Cell::new(false) };
    /// Mirror of the current span context.
    static FAST_SPAN: Cell<RawSpan> = const { Cell::new(RawSpan::NONE) };
    /// How many context guards are open on this thread (or, while a
    /// wrapped future is polled, inside that future): a guard dropped at
    /// another depth was dropped out of order.
    pub(super) static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// The current subject's state if it belongs to instance `owner`, and the
/// categories the context withholds, for the duration of `f`. One
/// thread-local load; no reference count touched.
#[inline(always)]
pub(crate) fn with_fast_subject<R>(
    owner: NonZeroU64,
    f: impl FnOnce(Option<&SubjectState>, u64) -> R,
) -> R {
    // SAFETY: the reference is used only inside `f`, which cannot change
    // the current context (it is not given access to it).
    let (state, withheld) = unsafe { fast_subject(owner) };
    f(state, withheld)
}

/// [`with_fast_subject`] without a closure, for the gate's hot path (a
/// closure there was not always inlined, and its result then went through
/// memory: a store-forwarding stall that doubled the cost of a denied
/// span).
///
/// # Safety
///
/// The caller uses the reference only until it returns, and neither sets
/// nor clears the current context (attaching a [`Context`], dropping a
/// guard) while it holds it.
#[inline(always)]
pub(crate) unsafe fn fast_subject<'a>(owner: NonZeroU64) -> (Option<&'a SubjectState>, u64) {
    let (id, ptr, not_withheld) =
        FAST_SUBJECT
            .try_with(Cell::get)
            .unwrap_or((0, std::ptr::null(), !0));
    let withheld = !not_withheld;
    if id == owner.get() {
        // SAFETY: `FAST_SUBJECT` is set from `CURRENT` by `swap_current`
        // whenever `CURRENT` changes, and cleared when `CURRENT` is
        // destroyed. It holds id 0 with a null pointer, or a state's owner
        // with `Arc::as_ptr` of that state (never null), and `owner` is
        // never 0: an equal id means a set pointer. A set pointer always
        // points into the `Arc<SubjectState>` that `CURRENT` on this
        // thread holds, which lives until the current context changes: the
        // caller promises it does not while it holds the reference. Saying
        // the pointer is set (`assert_unchecked`) lets the compiler take
        // the subject's branch on the id's test alone; it had tested the
        // pointer for null again after it.
        (
            Some(unsafe {
                std::hint::assert_unchecked(!ptr.is_null());
                &*ptr
            }),
            withheld,
        )
    } else {
        (None, withheld)
    }
}

/// The categories the current context withholds (see [`Context::narrow_consent`]).
#[inline]
pub(crate) fn fast_withheld() -> u64 {
    FAST_SUBJECT.try_with(|f| !f.get().2).unwrap_or(0)
}

/// Whether telemetry is suppressed on this thread.
#[inline]
pub(crate) fn suppressed() -> bool {
    SUPPRESSED.try_with(Cell::get).unwrap_or(true)
}

/// A span context as the thread-local holds it: every byte a field, so a
/// copy moves whole aligned words. An `Option<SpanContext>` has 14 bytes
/// of padding, which copies moved as two overlapping words, and the load
/// that followed stalled on store forwarding (about a third of a
/// sampled-out `#[instrument_event]` call's own time, in `perf annotate`).
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct RawSpan {
    trace_id: u128,
    span_id: u64,
    probability: f64,
    /// [`PRESENT`], [`SAMPLED`], [`REMOTE`], [`UNDRAWN`], [`OWN_TRACE`].
    flags: u64,
    _unused: u64,
}

const PRESENT: u64 = 1;
const SAMPLED: u64 = 2;
const REMOTE: u64 = 4;
/// A sampled-out span whose ids are not made yet: `span_id` holds the
/// draw they are made from when read (entering one costs no hashing).
const UNDRAWN: u64 = 8;
/// With [`UNDRAWN`]: `trace_id` is the parent's trace, kept.
const OWN_TRACE: u64 = 16;

impl RawSpan {
    /// No span.
    pub(crate) const NONE: RawSpan = RawSpan {
        trace_id: 0,
        span_id: 0,
        probability: 0.0,
        flags: 0,
        _unused: 0,
    };

    #[inline]
    pub(crate) fn of(span: Option<SpanContext>) -> RawSpan {
        match span {
            None => RawSpan::NONE,
            Some(c) => RawSpan {
                trace_id: c.trace_id.0,
                span_id: c.span_id.0,
                probability: c.probability,
                flags: PRESENT
                    | if c.sampled { SAMPLED } else { 0 }
                    | if c.remote { REMOTE } else { 0 },
                _unused: 0,
            },
        }
    }

    /// A sampled-out span's context, its ids left to be made from its
    /// draw when read (always the same ones: see [`UnsampledContext::get`]).
    #[inline]
    pub(crate) fn unsampled(u: &UnsampledContext) -> RawSpan {
        RawSpan {
            trace_id: u.trace.map_or(0, |t| t.0),
            span_id: u.draw,
            probability: u.probability,
            flags: PRESENT | UNDRAWN | if u.trace.is_some() { OWN_TRACE } else { 0 },
            _unused: 0,
        }
    }

    #[inline]
    pub(crate) fn get(self) -> Option<SpanContext> {
        if self.flags & UNDRAWN != 0 {
            let u = UnsampledContext {
                draw: self.span_id,
                trace: (self.flags & OWN_TRACE != 0).then_some(TraceId(self.trace_id)),
                probability: self.probability,
            };
            return Some(u.get());
        }
        (self.flags & PRESENT != 0).then_some(SpanContext {
            trace_id: TraceId(self.trace_id),
            span_id: crate::trace::SpanId(self.span_id),
            sampled: self.flags & SAMPLED != 0,
            probability: self.probability,
            remote: self.flags & REMOTE != 0,
        })
    }
}

/// The current span context (one thread-local load).
#[inline]
pub(crate) fn fast_span() -> Option<SpanContext> {
    FAST_SPAN.try_with(Cell::get).map_or(None, RawSpan::get)
}

/// Replaces the current context, returning the previous one. The subject
/// lives in `CURRENT`; the span only in `FAST_SPAN` (so entering a span is
/// one `Cell` replace).
pub(crate) fn swap_current(mut ctx: Context) -> Context {
    let span = ctx.span.take();
    let mut ctx = Some(ctx);
    let r = CURRENT.try_with(|c| match c.0.try_borrow_mut() {
        Ok(mut cur) => ctx.take().map(|new| {
            let subject = match &new.subject {
                Some(s) => (s.0.owner, Arc::as_ptr(&s.0), !new.withheld),
                None => (0, std::ptr::null(), !new.withheld),
            };
            let _ = FAST_SUBJECT.try_with(|f| f.set(subject));
            std::mem::replace(&mut *cur, new)
        }),
        Err(_) => None,
    });
    let previous_span = swap_span(span);
    match r {
        Ok(Some(mut prev)) => {
            prev.span = previous_span;
            prev
        }
        _ => Context::default(),
    }
}

/// Sets only the span of the current context, returning the previous span.
#[inline]
pub(crate) fn swap_span(span: Option<SpanContext>) -> Option<SpanContext> {
    swap_raw_span(RawSpan::of(span)).get()
}

/// [`swap_span`] in the thread-local's own form (for guards that only put
/// back what they took).
#[inline]
pub(crate) fn swap_raw_span(span: RawSpan) -> RawSpan {
    FAST_SPAN
        .try_with(|f| f.replace(span))
        .unwrap_or(RawSpan::NONE)
}

impl SpanContext {
    /// The span current on this thread, if any (one thread-local load).
    #[inline]
    pub fn current() -> Option<SpanContext> {
        fast_span()
    }
}

impl Context {
    /// The current thread's context.
    pub fn current() -> Context {
        let mut ctx = CURRENT
            .try_with(|c| c.0.try_borrow().ok().map(|ctx| ctx.clone()))
            .ok()
            .flatten()
            .unwrap_or_default();
        ctx.span = fast_span();
        ctx
    }
}
