//! Wall-clock timestamps from a cheap monotonic counter.
//!
//! A record's times are read from the CPU's time-stamp counter where it is
//! invariant (the `quanta` crate checks, calibrates it once per process
//! against the OS's monotonic clock in well under a millisecond, and falls
//! back to that clock elsewhere): about 8 ns a read here against 21 ns for
//! `Instant::now()`, and a recorded span reads twice. The readings are
//! anchored to the system clock once and re-anchored by the export worker,
//! so exported timestamps follow the wall clock while durations come from
//! the counter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// Wall-clock time from the monotonic counter: one counter read per
/// timestamp, re-anchored to the system clock by the worker.
pub(crate) struct Clock {
    source: Source,
    /// The counter's reading when the clock was made.
    base: u64,
    /// Unix nanoseconds at `base`.
    offset: AtomicU64,
}

/// The counter: `quanta`'s, or under Miri (which cannot run the CPU
/// feature checks `quanta` makes) the standard monotonic clock, so that
/// tests which build an instance can run there too.
#[cfg(not(miri))]
type Source = quanta::Clock;
#[cfg(miri)]
use miri_source::Source;

#[cfg(miri)]
mod miri_source {
    /// Nanoseconds since the source was made, from `Instant`.
    pub(crate) struct Source(std::time::Instant);

    impl Source {
        pub(crate) fn new() -> Self {
            Source(std::time::Instant::now())
        }

        pub(crate) fn raw(&self) -> u64 {
            u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX)
        }

        pub(crate) fn delta_as_nanos(&self, from: u64, to: u64) -> u64 {
            to.saturating_sub(from)
        }
    }
}

impl Clock {
    pub(crate) fn new() -> Self {
        let source = Source::new();
        let c = Clock {
            base: source.raw(),
            source,
            offset: AtomicU64::new(0),
        };
        c.reanchor();
        c
    }

    pub(crate) fn reanchor(&self) {
        let since_base = self.mono();
        let wall = crate::value::unix_nanos(SystemTime::now());
        self.offset
            .store(wall.saturating_sub(since_base), Ordering::Relaxed);
    }

    /// Monotonic nanoseconds since the clock was created (never before 0:
    /// a counter read that looks earlier than the base gives 0).
    #[inline]
    pub(crate) fn mono(&self) -> u64 {
        self.source.delta_as_nanos(self.base, self.source.raw())
    }

    /// Converts a monotonic reading into wall-clock time.
    #[inline]
    pub(crate) fn to_system(&self, mono: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH
            + Duration::from_nanos(self.offset.load(Ordering::Relaxed).saturating_add(mono))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_advance_with_real_time_and_map_to_the_wall_clock() {
        let c = Clock::new();
        let (m0, i0) = (c.mono(), std::time::Instant::now());
        std::thread::sleep(Duration::from_millis(50));
        let (m1, i1) = (c.mono(), std::time::Instant::now());
        let counted = m1 - m0;
        let real = u64::try_from((i1 - i0).as_nanos()).unwrap_or(u64::MAX);
        // Within 1% of the OS clock over 50 ms (calibration is far better).
        assert!(counted.abs_diff(real) < real / 100, "{counted} vs {real}");
        let wall = c.to_system(c.mono());
        let now = SystemTime::now();
        let apart = now.duration_since(wall).unwrap_or_else(|e| e.duration());
        assert!(apart < Duration::from_millis(100), "{apart:?}");
    }
}
