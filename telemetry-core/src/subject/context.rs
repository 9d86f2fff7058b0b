//! The current context (subject and span) of a thread, and how it follows
//! work across `.await`, into spawned tasks and into other threads.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::task::{Context as TaskContext, Poll};

use crate::category::CategorySet;
use crate::subject::state::{SubjectMap, release_if_idle};
use crate::subject::{SubjectKey, SubjectState};
use crate::trace::SpanContext;

/// A counted reference to a subject's shared state; while one exists, the
/// subject is not evicted from the registry. When the last one goes, a
/// subject with no recorded choice leaves the registry at once, so memory
/// holds only subjects with open scopes or choices, however many distinct
/// ids callers bring.
pub(crate) struct SubjectHandle(pub(crate) Arc<SubjectState>, Weak<SubjectMap>);

impl SubjectHandle {
    /// Wraps a state whose `active` count the caller already incremented.
    pub(crate) fn adopt(state: Arc<SubjectState>, map: Weak<SubjectMap>) -> Self {
        SubjectHandle(state, map)
    }
}

impl Clone for SubjectHandle {
    fn clone(&self) -> Self {
        self.0.active.fetch_add(1, Ordering::SeqCst);
        SubjectHandle(self.0.clone(), self.1.clone())
    }
}

impl Drop for SubjectHandle {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::SeqCst) == 1
            && let Some(map) = self.1.upgrade()
        {
            release_if_idle(&map, &self.0);
        }
    }
}

/// The telemetry context of a piece of work: the data subject it is for and
/// the span it is in.
///
/// Each thread has a current context. Subject scopes and entered spans set
/// it; [`Context::current`] captures it so it can follow the work elsewhere:
///
/// ```
/// # use telemetry_core::Context;
/// let ctx = Context::current();
/// std::thread::spawn(move || {
///     let _guard = ctx.attach();
///     // records here obey the same subject's consent and join the same trace
/// });
/// ```
///
/// For async code, [`Context::wrap`] (or [`FutureExt::in_current_context`](crate::FutureExt::in_current_context))
/// makes a future carry its context across every `.await` and into
/// `tokio::spawn`.
#[derive(Clone, Default)]
pub struct Context {
    pub(crate) subject: Option<SubjectHandle>,
    pub(crate) span: Option<SpanContext>,
    /// Categories withheld whatever the subject granted (an upstream
    /// service's narrower consent); a mask of bits, zero when none.
    pub(crate) withheld: u64,
    /// The W3C `tracestate` that came with the trace, passed on unchanged.
    pub(crate) tracestate: Option<Arc<str>>,
}

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
    static SUPPRESSED: Cell<bool> = const { Cell::new(false) };
    /// Mirror of the current span context.
    static FAST_SPAN: Cell<Option<SpanContext>> = const { Cell::new(None) };
    /// How many context guards are open on this thread (or, while a
    /// wrapped future is polled, inside that future): a guard dropped at
    /// another depth was dropped out of order.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Misuse of context guards seen so far in this process, by kind.
static MISUSE: [std::sync::atomic::AtomicU64; 2] = [
    std::sync::atomic::AtomicU64::new(0),
    std::sync::atomic::AtomicU64::new(0),
];

/// A way a context guard was misused.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Misuse {
    /// Dropped while a guard opened after it was still open.
    OutOfOrder = 0,
    /// Still open when the future that opened it suspended at an `.await`
    /// (without the wrapper, the scope would leak into whatever ran next).
    HeldAcrossAwait = 1,
}

impl Misuse {
    pub(crate) const ALL: [Misuse; 2] = [Misuse::OutOfOrder, Misuse::HeldAcrossAwait];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Misuse::OutOfOrder => "out_of_order",
            Misuse::HeldAcrossAwait => "held_across_await",
        }
    }

    fn count(self) {
        if let Some(c) = MISUSE.get(self as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How often this misuse was seen in the process.
    pub(crate) fn total(self) -> u64 {
        MISUSE
            .get(self as usize)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }
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

    /// An empty context: no subject, no span.
    pub fn empty() -> Context {
        Context::default()
    }

    /// The pseudonymous key of this context's subject, if any.
    pub fn subject(&self) -> Option<SubjectKey> {
        self.subject.as_ref().map(|s| s.0.key)
    }

    /// This context's span, if any.
    pub fn span_context(&self) -> Option<SpanContext> {
        self.span
    }

    /// This context with `span` as its span: use it to continue a trace from
    /// an incoming `traceparent` header.
    #[must_use]
    pub fn with_span_context(mut self, span: SpanContext) -> Context {
        self.span = Some(span);
        self
    }

    /// This context with its consent narrowed to `allowed`: records of any
    /// other category are dropped in it, whatever its subject granted.
    /// Narrowing only ever removes categories (narrowing twice keeps what
    /// both allow), and it carries into subject scopes opened inside it.
    ///
    /// The propagation helpers use it to apply an upstream service's consent.
    #[must_use]
    pub fn narrow_consent(mut self, allowed: CategorySet) -> Context {
        self.withheld |= !allowed.bits();
        self
    }

    /// The categories this context allows at most (all, unless narrowed).
    pub fn consent_ceiling(&self) -> CategorySet {
        CategorySet::from_bits(!self.withheld)
    }

    /// This context with the W3C `tracestate` that came with its trace.
    #[must_use]
    pub fn with_tracestate(mut self, tracestate: Option<Arc<str>>) -> Context {
        self.tracestate = tracestate;
        self
    }

    /// The W3C `tracestate` that came with this context's trace, if any.
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }

    /// Suppresses telemetry on this thread until the guard drops: the
    /// `tracing` layer ignores every span and event made here. Exporters
    /// run their I/O in such a scope so that the logs of their HTTP and gRPC
    /// libraries never feed back into the pipeline.
    pub fn suppress() -> SuppressGuard {
        let previous = SUPPRESSED.try_with(|s| s.replace(true)).unwrap_or(true);
        SuppressGuard {
            previous,
            _not_send: PhantomData,
        }
    }

    /// Whether telemetry is suppressed on this thread (see [`suppress`](Self::suppress)).
    pub fn is_suppressed() -> bool {
        suppressed()
    }

    /// This context with `span` as its span, if given.
    pub(crate) fn with_span_opt(mut self, span: Option<SpanContext>) -> Context {
        if span.is_some() {
            self.span = span;
        }
        self
    }

    /// Makes this the current context until the guard is dropped. Drop
    /// guards in reverse order of creation, and never hold one across
    /// `.await` (wrap the future with [`wrap`](Self::wrap) instead).
    pub fn attach(self) -> ContextGuard {
        let depth = DEPTH.try_with(|d| {
            let depth = d.get().saturating_add(1);
            d.set(depth);
            depth
        });
        ContextGuard {
            previous: Some(swap_current(self)),
            depth: depth.unwrap_or(0),
            _not_send: PhantomData,
        }
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("subject", &self.subject())
            .field("span", &self.span)
            .field("consent_ceiling", &self.consent_ceiling())
            .field("tracestate", &self.tracestate)
            .finish()
    }
}

/// Ends a [`Context::suppress`] scope when dropped. Not `Send`.
#[must_use = "telemetry is suppressed only while the guard lives"]
pub struct SuppressGuard {
    previous: bool,
    _not_send: PhantomData<*const ()>,
}

impl Drop for SuppressGuard {
    fn drop(&mut self) {
        let _ = SUPPRESSED.try_with(|s| s.set(self.previous));
    }
}

impl fmt::Debug for SuppressGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SuppressGuard")
    }
}

/// Restores the previous context when dropped. Not `Send`: drop it on the
/// thread that attached it. Drop guards in reverse order of creation.
#[must_use = "the context is detached as soon as the guard is dropped"]
pub struct ContextGuard {
    previous: Option<Context>,
    depth: u32,
    _not_send: PhantomData<*const ()>,
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        let _ = DEPTH.try_with(|d| {
            if d.get() != self.depth {
                Misuse::OutOfOrder.count();
            }
            d.set(self.depth.saturating_sub(1));
        });
        if let Some(prev) = self.previous.take() {
            drop(swap_current(prev));
        }
    }
}

impl fmt::Debug for ContextGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ContextGuard")
    }
}

struct SwapBack<'a> {
    slot: &'a mut Context,
    depth: &'a mut u32,
    outer_depth: u32,
}

impl Drop for SwapBack<'_> {
    fn drop(&mut self) {
        let inner = swap_current(std::mem::take(self.slot));
        *self.slot = inner;
        *self.depth = DEPTH.try_with(|d| d.replace(self.outer_depth)).unwrap_or(0);
    }
}

/// Polls `future` with `slot` as the current context (and `depth` as the
/// guard depth), then puts the (possibly changed) context back into
/// `slot`, even if the future panics. A guard the future opened and still
/// holds when it suspends is counted as misuse: it stays with this future
/// (the wrapper carries it), but the same code without a wrapper would leak
/// the scope into whatever runs next on the thread.
pub(crate) fn poll_in_context<F: Future>(
    slot: &mut Context,
    depth: &mut u32,
    future: Pin<&mut F>,
    cx: &mut TaskContext<'_>,
) -> Poll<F::Output> {
    let outer = swap_current(std::mem::take(slot));
    *slot = outer;
    let before = *depth;
    let outer_depth = DEPTH.try_with(|d| d.replace(before)).unwrap_or(0);
    let result = {
        let _back = SwapBack {
            slot,
            depth,
            outer_depth,
        };
        future.poll(cx)
    };
    if result.is_pending() && *depth > before {
        Misuse::HeldAcrossAwait.count();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{SpanId, TraceId};

    fn span(n: u64) -> SpanContext {
        SpanContext {
            trace_id: TraceId(u128::from(n)),
            span_id: SpanId(n),
            sampled: true,
            probability: 1.0,
            remote: false,
        }
    }

    #[test]
    fn attach_and_restore() {
        assert!(Context::current().span.is_none());
        {
            let _g = Context::empty().with_span_context(span(1)).attach();
            assert_eq!(Context::current().span, Some(span(1)));
            {
                let _g2 = Context::empty().with_span_context(span(2)).attach();
                assert_eq!(Context::current().span, Some(span(2)));
            }
            assert_eq!(Context::current().span, Some(span(1)));
        }
        assert!(Context::current().span.is_none());
    }

    #[test]
    fn context_crosses_threads_when_propagated() {
        let _g = Context::empty().with_span_context(span(7)).attach();
        let ctx = Context::current();
        let seen = std::thread::spawn(move || {
            let before = Context::current().span;
            let _g = ctx.attach();
            (before, Context::current().span)
        })
        .join()
        .unwrap();
        assert_eq!(seen, (None, Some(span(7))));
    }

    #[test]
    fn wrapped_future_sees_its_context_on_every_poll() {
        use std::task::{Wake, Waker};
        struct Noop;
        impl Wake for Noop {
            fn wake(self: Arc<Self>) {}
        }
        let mut polls = 0;
        let fut = std::future::poll_fn(move |cx| {
            assert_eq!(Context::current().span, Some(span(3)));
            polls += 1;
            if polls < 3 {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(polls)
            }
        });
        let mut fut = std::pin::pin!(Context::empty().with_span_context(span(3)).wrap(fut));
        let waker = Waker::from(Arc::new(Noop));
        let mut cx = TaskContext::from_waker(&waker);
        loop {
            assert!(
                Context::current().span.is_none(),
                "context leaks out of poll"
            );
            if let Poll::Ready(n) = fut.as_mut().poll(&mut cx) {
                assert_eq!(n, 3);
                break;
            }
        }
    }
}
