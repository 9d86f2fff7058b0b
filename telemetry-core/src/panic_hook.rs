//! An opt-in process panic hook: panics anywhere in the process (not only
//! in `#[instrument_event]` functions, which record their own) become
//! `exception` events, and a panic that ends the process is flushed first.
//!
//! ```
//! # use telemetry_core::*;
//! # let telemetry = Telemetry::builder().service("svc", "1").build().unwrap();
//! telemetry.record_panics(std::time::Duration::from_secs(2));
//! ```
//!
//! The event is in the errors category, severity fatal, with
//! `exception.type = "panic"`, the source location (`code.filepath`,
//! `code.lineno`, `code.column`) and the thread's name; never the panic's
//! message, which can carry personal data ("no account for
//! bob@example.com"). It is recorded in the panicking thread's context, so
//! a panic inside a subject scope is attributed (and gated) like any other
//! error record of that subject. The previous hook (the default one prints
//! the message to stderr) still runs afterwards.

use std::panic::PanicHookInfo;
use std::sync::Weak;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::category::Category;
use crate::export::Severity;
use crate::instance::Inner;
use crate::telemetry::Telemetry;

/// Panics the hooks of this process saw.
static PANICS_SEEN: AtomicU64 = AtomicU64::new(0);

/// Panics seen by hooks installed with [`Telemetry::record_panics`].
pub fn panics_seen() -> u64 {
    PANICS_SEEN.load(Ordering::Relaxed)
}

impl Telemetry {
    /// Installs a process panic hook that records every panic as an
    /// `exception` event (see the [module](crate::panic_hook)), then runs
    /// the hook that was there before. When the panic will end the process
    /// (a build with `panic = "abort"`, or the main thread panicking), it
    /// first flushes what is buffered, waiting at most `flush`.
    ///
    /// The hook does not keep the instance alive: once it is shut down,
    /// panics only reach the previous hook. Installing it again replaces
    /// this one (the previous hook it chains to stays the same).
    pub fn record_panics(&self, flush: Duration) {
        let weak: Weak<Inner> = std::sync::Arc::downgrade(&self.inner);
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS_SEEN.fetch_add(1, Ordering::Relaxed);
            if let Some(inner) = weak.upgrade() {
                record(&Telemetry::internal(inner), info, flush);
            }
            previous(info);
        }));
    }
}

fn record(t: &Telemetry, info: &PanicHookInfo<'_>, flush: Duration) {
    let thread = std::thread::current();
    let mut event = t
        .event("exception", Category::ERRORS)
        .severity(Severity::Fatal)
        .public("exception.type", "panic")
        .public("thread.name", thread.name().unwrap_or("unnamed"));
    if let Some(location) = info.location() {
        event = event
            .public("code.filepath", location.file())
            .public("code.lineno", u64::from(location.line()))
            .public("code.column", u64::from(location.column()));
    }
    event.emit();
    let ends_process = cfg!(panic = "abort") || thread.name() == Some("main");
    if ends_process {
        let _ = t.force_flush_within(flush);
    }
}
