//! The globally installed instance, and the per-thread default that
//! `#[instrument_event]` functions record into (for tests): which instance
//! a macro call records into.

use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, OnceLock};

use crate::error::{ConfigError, ConfigErrorKind};
use crate::instance::Inner;

use super::Telemetry;

static GLOBAL: OnceLock<Telemetry> = OnceLock::new();

/// The installed instance's state (`GLOBAL`'s), null until one is
/// installed: what a denied `#[instrument_event]` call reads, one load
/// where `GLOBAL.get()` and the handle were three (the cell's state, its
/// value, the handle's pointer).
static INSTALLED: AtomicPtr<Inner> = AtomicPtr::new(std::ptr::null_mut());

thread_local! {
    /// This thread's default instance for the macros (see `set_default`).
    static DEFAULT: std::cell::RefCell<Option<Telemetry>> = const { std::cell::RefCell::new(None) };
    /// Whether `DEFAULT` may hold an instance: a plain flag the macros'
    /// fast path reads before touching the `RefCell`.
    static DEFAULT_SET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The instance a macro call records into.
pub(crate) enum MacroInstance {
    /// The installed one.
    Global(&'static Telemetry),
    /// A thread's default (tests).
    Scoped(Telemetry),
}

impl std::ops::Deref for MacroInstance {
    type Target = Telemetry;
    #[inline]
    fn deref(&self) -> &Telemetry {
        match self {
            MacroInstance::Global(t) => t,
            MacroInstance::Scoped(t) => t,
        }
    }
}

/// Restores the previous default instance when dropped. Not `Send`.
#[must_use = "the instance is the default only while the guard lives"]
pub struct DefaultGuard {
    previous: Option<Telemetry>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for DefaultGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let set = previous.is_some();
        let _ = DEFAULT.try_with(|d| d.replace(previous));
        let _ = DEFAULT_SET.try_with(|f| f.set(set));
    }
}

impl std::fmt::Debug for DefaultGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DefaultGuard")
    }
}

impl Telemetry {
    /// The globally installed instance, if any (see
    /// [`TelemetryBuilder::install`](crate::TelemetryBuilder::install)).
    #[inline]
    pub fn global() -> Option<&'static Telemetry> {
        GLOBAL.get()
    }

    /// Makes this instance the one `#[instrument_event]` functions record
    /// into on this thread until the guard drops, whatever is installed
    /// globally: for tests, which build an instance per test with
    /// [`build`](crate::TelemetryBuilder::build). Guards nest. In async tests, use
    /// a current-thread runtime (`#[tokio::test]`'s default), so the
    /// futures run on the thread that set it.
    pub fn set_default(&self) -> DefaultGuard {
        let previous = DEFAULT.with(|d| d.replace(Some(self.clone())));
        DEFAULT_SET.with(|f| f.set(true));
        DefaultGuard {
            previous,
            _not_send: std::marker::PhantomData,
        }
    }

    /// Whether this thread may have a default instance for the macros
    /// (one plain thread-local flag): when not, they record into the
    /// installed one.
    #[inline]
    pub(crate) fn default_may_be_set() -> bool {
        DEFAULT_SET.try_with(std::cell::Cell::get).unwrap_or(false)
    }

    /// The instance the macros record into here: this thread's default
    /// ([`set_default`](Self::set_default)), else the global one.
    #[inline]
    pub(crate) fn for_macros() -> Option<MacroInstance> {
        if DEFAULT_SET.with(std::cell::Cell::get)
            && let Some(t) = DEFAULT.with(|d| d.borrow().clone())
        {
            return Some(MacroInstance::Scoped(t));
        }
        GLOBAL.get().map(MacroInstance::Global)
    }

    pub(crate) fn install_global(&self) -> Result<(), ConfigError> {
        GLOBAL.set(self.clone()).map_err(|_| {
            ConfigError::new(
                ConfigErrorKind::AlreadyInstalled,
                "a telemetry instance is already installed for this process; install once in \
                 `main`, or use `.build()` for an instance that is not global",
            )
        })?;
        if let Some(g) = GLOBAL.get() {
            INSTALLED.store(Arc::as_ptr(&g.inner).cast_mut(), Ordering::Release);
        }
        Ok(())
    }

    /// The installed instance's state, if one is installed ([`global`](Self::global)'s).
    #[inline]
    pub(crate) fn installed_inner() -> Option<&'static Inner> {
        let p = INSTALLED.load(Ordering::Acquire);
        // SAFETY: `INSTALLED` is null or was set once, by `install_global`,
        // to the state of the `Arc` in `GLOBAL`, which a static never
        // drops: the state lives, and is not moved, for the rest of the
        // process. The acquire load pairs with the release store, so the
        // state is seen whole.
        unsafe { p.as_ref() }
    }
}
