//! The guards that make a context current ([`Context::attach`]) or suppress
//! telemetry on a thread ([`Context::suppress`]), the polling of a wrapped
//! future in its own context, and the misuse of guards that is counted
//! (`telemetry.context.misuse`).

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context as TaskContext, Poll};

use super::Context;
use super::current::{DEPTH, SUPPRESSED, suppressed, swap_current};

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

/// Writes the misuse counts (process-wide) into `out`.
pub(crate) fn report_misuse(out: &mut crate::health::own_metrics::OwnMetrics<'_>) {
    let points: Vec<_> = Misuse::ALL
        .iter()
        .filter(|m| m.total() > 0)
        .map(|m| {
            (
                vec![crate::export::Attribute::new("kind", m.as_str())],
                m.total(),
            )
        })
        .collect();
    out.counts(
        (
            "telemetry.context.misuse",
            "Context guards misused: dropped out of order, or held open across an .await.",
            "{guard}",
        ),
        points,
    );
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

impl Context {
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
