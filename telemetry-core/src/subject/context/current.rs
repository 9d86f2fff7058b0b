//! The current context of a thread: where it is kept, how it is replaced,
//! and the plain thread-local mirrors (subject, span, suppression) that the
//! hot path reads with one load.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use crate::subject::SubjectState;
use crate::trace::SpanContext;

use super::Context;

/// The full current context. Its destructor clears the fast mirrors below.
struct Current(RefCell<Context>);

impl Drop for Current {
    fn drop(&mut self) {
        let _ = FAST_SUBJECT.try_with(|f| f.set((0, std::ptr::null(), 0)));
        let _ = FAST_SPAN.try_with(|f| f.set(None));
    }
}

thread_local! {
    static CURRENT: Current = const {
        Current(RefCell::new(Context { subject: None, span: None, withheld: 0, tracestate: None }))
    };
    /// Mirror of the current subject for the hot path: (owner instance id,
    /// state, withheld categories). The pointer is non-null only while
    /// `CURRENT` holds a handle to that state.
    /// Plain `Cell`s with constant initialisers and no destructor: reading
    /// them is a thread-local load, with no lazy-init or borrow check.
    static FAST_SUBJECT: Cell<(u64, *const SubjectState, u64)> = const { Cell::new((0, std::ptr::null(), 0)) };
    /// Whether telemetry is suppressed on this thread (see [`Context::suppress`]).
    pub(super) static SUPPRESSED: Cell<bool> = const { Cell::new(false) };
    /// Mirror of the current span context.
    static FAST_SPAN: Cell<Option<SpanContext>> = const { Cell::new(None) };
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
    owner: u64,
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
pub(crate) unsafe fn fast_subject<'a>(owner: u64) -> (Option<&'a SubjectState>, u64) {
    let (id, ptr, withheld) = FAST_SUBJECT
        .try_with(Cell::get)
        .unwrap_or((0, std::ptr::null(), 0));
    if id == owner && !ptr.is_null() {
        // SAFETY: `FAST_SUBJECT` is set from `CURRENT` by `swap_current`
        // whenever `CURRENT` changes, and cleared when `CURRENT` is
        // destroyed, so a non-null pointer always points into the
        // `Arc<SubjectState>` that `CURRENT` on this thread holds, which
        // lives until the current context changes: the caller promises it
        // does not while it holds the reference.
        (Some(unsafe { &*ptr }), withheld)
    } else {
        (None, withheld)
    }
}

/// The categories the current context withholds (see [`Context::narrow_consent`]).
#[inline]
pub(crate) fn fast_withheld() -> u64 {
    FAST_SUBJECT.try_with(|f| f.get().2).unwrap_or(0)
}

/// Whether telemetry is suppressed on this thread.
#[inline]
pub(crate) fn suppressed() -> bool {
    SUPPRESSED.try_with(Cell::get).unwrap_or(true)
}

/// The current span context (one thread-local load).
#[inline]
pub(crate) fn fast_span() -> Option<SpanContext> {
    FAST_SPAN.try_with(Cell::get).unwrap_or(None)
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
                Some(s) => (s.0.owner, Arc::as_ptr(&s.0), new.withheld),
                None => (0, std::ptr::null(), new.withheld),
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
    FAST_SPAN.try_with(|f| f.replace(span)).unwrap_or(None)
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
