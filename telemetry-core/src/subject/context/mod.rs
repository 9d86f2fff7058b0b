//! The current context (subject and span) of a thread, and how it follows
//! work across `.await`, into spawned tasks and into other threads.
//!
//! Here: the [`Context`] value and the counted [`SubjectHandle`] it carries.
//! The thread's current context and the one-load mirrors the hot path reads
//! are in [`current`]; the guards that make a context current (and the
//! misuse of them that is counted) and the polling of a wrapped future are
//! in [`guards`].

mod current;
mod guards;

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use crate::category::CategorySet;
use crate::subject::state::{SubjectMap, release_if_idle};
use crate::subject::{SubjectKey, SubjectState};
use crate::trace::SpanContext;

pub(crate) use current::{
    RawSpan, fast_span, fast_subject, fast_withheld, swap_raw_span, with_fast_subject,
};
#[cfg(feature = "tracing")]
pub(crate) use current::{suppressed, swap_span};
pub use guards::{ContextGuard, SuppressGuard};
pub(crate) use guards::{poll_in_context, report_misuse};

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

impl Context {
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

    /// This context with `span` as its span, if given.
    pub(crate) fn with_span_opt(mut self, span: Option<SpanContext>) -> Context {
        if span.is_some() {
            self.span = span;
        }
        self
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{SpanId, TraceId};
    use std::future::Future;
    use std::task::{Context as TaskContext, Poll};

    fn span(n: u64) -> SpanContext {
        SpanContext {
            trace_id: TraceId(u128::from(n)),
            span_id: SpanId(n),
            sampled: true,
            probability: 1.0,
            remote: false,
        }
    }

    /// A sampled-out span's ids are made from its draw only when the
    /// thread-local is read; they are the span's own, with or without a
    /// parent trace.
    #[test]
    fn an_entered_sampled_out_span_reads_back_as_its_own_ids() {
        use crate::trace::UnsampledContext;
        for trace in [None, Some(TraceId(0xabc))] {
            let u = UnsampledContext {
                draw: 0x1234_5678_9abc_def0,
                trace,
                probability: 0.25,
            };
            let previous = swap_raw_span(RawSpan::unsampled(&u));
            let read = fast_span();
            swap_raw_span(previous);
            assert_eq!(read, Some(u.get()));
            let read = read.expect("a span");
            assert!(!read.sampled && read.probability == 0.25);
            if let Some(t) = trace {
                assert_eq!(read.trace_id, t);
            }
        }
        assert_eq!(fast_span(), None);
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
