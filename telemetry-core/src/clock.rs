//! Wall-clock timestamps from the monotonic clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Wall-clock time from the monotonic clock: one `Instant::now()` per
/// timestamp, re-anchored to the system clock by the worker.
pub(crate) struct Clock {
    base: Instant,
    /// Unix nanoseconds at `base`.
    offset: AtomicU64,
}

impl Clock {
    pub(crate) fn new() -> Self {
        let c = Clock {
            base: Instant::now(),
            offset: AtomicU64::new(0),
        };
        c.reanchor();
        c
    }

    pub(crate) fn reanchor(&self) {
        let since_base = self.base.elapsed().as_nanos() as u64;
        let wall = crate::value::unix_nanos(SystemTime::now());
        self.offset
            .store(wall.saturating_sub(since_base), Ordering::Relaxed);
    }

    /// Monotonic nanoseconds since the clock was created.
    #[inline]
    pub(crate) fn mono(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// Converts a monotonic reading into wall-clock time.
    #[inline]
    pub(crate) fn to_system(&self, mono: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH
            + Duration::from_nanos(self.offset.load(Ordering::Relaxed).saturating_add(mono))
    }
}
