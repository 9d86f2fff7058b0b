//! The one future adapter: a future that runs in a [`Context`] on every
//! poll, wherever it is polled, and (optionally) ends a span when it
//! completes or is dropped. [`Context::wrap`], [`Span::wrap`],
//! [`Telemetry::in_subject`](crate::Telemetry::in_subject) and
//! `#[instrument_event]` on async functions all use it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use crate::subject::context::{Context, poll_in_context};
use crate::trace::span::Span;

/// A future that runs in a given [`Context`] (and, for [`Span::wrap`],
/// inside a span that ends with it).
pub struct WithContext<F> {
    context: Context,
    /// Guards open inside the future (its own depth count).
    depth: u32,
    /// Ended when the future completes (or when this is dropped).
    span: Option<Span>,
    future: F,
}

impl<F> fmt::Debug for WithContext<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithContext")
            .field("context", &self.context)
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out of
        // `self`, and `WithContext` has no `Drop` impl or `Unpin` impl that
        // would move it. The other fields are not pinned and only replaced
        // by value.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above; `future` stays where it is.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        let result = poll_in_context(&mut this.context, &mut this.depth, future, cx);
        if result.is_ready() {
            this.span.take();
        }
        result
    }
}

impl Context {
    /// Makes `future` run in this context on every poll, wherever it is
    /// polled (any thread, any executor).
    pub fn wrap<F: Future>(self, future: F) -> WithContext<F> {
        WithContext {
            context: self,
            depth: 0,
            span: None,
            future,
        }
    }
}

impl Span {
    /// Runs `future` with this span (and the current subject) as its context
    /// on every poll; the span ends when the future completes or is dropped.
    pub fn wrap<F: Future>(self, future: F) -> WithContext<F> {
        let mut context = Context::current();
        if let Some(c) = self.context() {
            context.span = Some(c);
        }
        WithContext {
            context,
            depth: 0,
            span: Some(self),
            future,
        }
    }
}

/// Extension methods for futures.
pub trait FutureExt: Future + Sized {
    /// Captures the current context and runs the future in it on every poll:
    /// `tokio::spawn(work().in_current_context())`.
    fn in_current_context(self) -> WithContext<Self> {
        Context::current().wrap(self)
    }

    /// Runs the future in `context`.
    fn with_context(self, context: Context) -> WithContext<Self> {
        context.wrap(self)
    }
}

impl<F: Future> FutureExt for F {}
