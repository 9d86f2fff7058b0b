//! Counting what is dropped, by cause and category, without a shared atomic
//! on the hot path: each thread writes its own shard, the exporter sums them.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::category::Category;

/// Why a record was not exported.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropCause {
    /// The subject had not consented to the category (or `DO_NOT_TRACK`).
    Consent,
    /// Sampled out by probability.
    Sampling,
    /// Over the category's records-per-second limit.
    RateLimit,
    /// The export queue was full.
    QueueFull,
    /// An exporter failed to deliver the batch.
    ExporterFailure,
    /// A limit was hit: the record, an attribute or a metric series was cut.
    Limits,
    /// Purged from the buffers by a consent revocation.
    Revoked,
    /// Telemetry is disabled (`OTEL_SDK_DISABLED=true`) or shut down.
    Disabled,
}

impl DropCause {
    /// Every cause.
    pub const ALL: [DropCause; 8] = [
        DropCause::Consent,
        DropCause::Sampling,
        DropCause::RateLimit,
        DropCause::QueueFull,
        DropCause::ExporterFailure,
        DropCause::Limits,
        DropCause::Revoked,
        DropCause::Disabled,
    ];

    /// The cause as exported (`consent`, `sampling`, `rate_limit`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            DropCause::Consent => "consent",
            DropCause::Sampling => "sampling",
            DropCause::RateLimit => "rate_limit",
            DropCause::QueueFull => "queue_full",
            DropCause::ExporterFailure => "exporter_failure",
            DropCause::Limits => "limits",
            DropCause::Revoked => "revoked",
            DropCause::Disabled => "disabled",
        }
    }
}

const CAUSES: usize = DropCause::ALL.len();

struct Shard {
    counts: [[AtomicU64; Category::COUNT]; CAUSES],
}

impl Shard {
    fn new() -> Self {
        Shard {
            counts: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
        }
    }
}

/// Per-instance drop counters.
pub(crate) struct DropCounters {
    id: u64,
    shards: Mutex<Vec<Arc<Shard>>>,
}

thread_local! {
    static LOCAL: RefCell<Vec<(u64, Arc<Shard>)>> = const { RefCell::new(Vec::new()) };
}

impl DropCounters {
    pub(crate) fn new(id: u64) -> Self {
        DropCounters {
            id,
            shards: Mutex::new(Vec::new()),
        }
    }

    /// Counts `n` records of `category` dropped for `cause`. Touches only this
    /// thread's shard: a load and a store, no read-modify-write.
    #[inline]
    pub(crate) fn count(&self, cause: DropCause, category: Category, n: u64) {
        let add = |shard: &Shard| {
            let cell = &shard.counts[cause as usize][category.bit() as usize];
            cell.store(
                cell.load(Ordering::Relaxed).wrapping_add(n),
                Ordering::Relaxed,
            );
        };
        let done = LOCAL.try_with(|local| {
            if let Ok(local) = local.try_borrow()
                && let Some((_, shard)) = local.iter().find(|(id, _)| *id == self.id)
            {
                add(shard);
                return true;
            }
            false
        });
        match done {
            Ok(true) => {}
            Ok(false) => self.count_slow(cause, category, n),
            // Thread-local storage is being torn down: count on a shared shard.
            Err(_) => self.count_shared(cause, category, n),
        }
    }

    #[cold]
    fn count_slow(&self, cause: DropCause, category: Category, n: u64) {
        let shard = Arc::new(Shard::new());
        if let Ok(mut shards) = self.shards.lock() {
            shards.push(shard.clone());
        }
        // If this thread cannot keep the shard (TLS busy or torn down), the
        // shard is still registered, so the count is not lost.
        let _ = LOCAL.try_with(|local| {
            if let Ok(mut local) = local.try_borrow_mut() {
                local.push((self.id, shard.clone()));
            }
        });
        shard.counts[cause as usize][category.bit() as usize].fetch_add(n, Ordering::Relaxed);
    }

    #[cold]
    fn count_shared(&self, cause: DropCause, category: Category, n: u64) {
        if let Ok(mut shards) = self.shards.lock() {
            if shards.is_empty() {
                shards.push(Arc::new(Shard::new()));
            }
            if let Some(shard) = shards.first() {
                shard.counts[cause as usize][category.bit() as usize]
                    .fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// Totals by cause and category (non-zero only).
    pub(crate) fn snapshot(&self) -> DropCounts {
        let mut totals = [[0u64; Category::COUNT]; CAUSES];
        if let Ok(shards) = self.shards.lock() {
            for shard in shards.iter() {
                for (c, row) in shard.counts.iter().enumerate() {
                    for (k, cell) in row.iter().enumerate() {
                        totals[c][k] += cell.load(Ordering::Relaxed);
                    }
                }
            }
        }
        let mut entries = Vec::new();
        for (c, cause) in DropCause::ALL.iter().enumerate() {
            for (k, n) in totals[c].iter().enumerate() {
                if *n > 0
                    && let Some(cat) = Category::from_bit(k as u8)
                {
                    entries.push((*cause, cat, *n));
                }
            }
        }
        DropCounts { entries }
    }
}

/// A snapshot of drop counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DropCounts {
    entries: Vec<(DropCause, Category, u64)>,
}

impl DropCounts {
    /// Records dropped for `cause` in `category`.
    pub fn get(&self, cause: DropCause, category: Category) -> u64 {
        self.entries
            .iter()
            .filter(|(c, k, _)| *c == cause && *k == category)
            .map(|(_, _, n)| *n)
            .sum()
    }

    /// Records dropped for `cause`, all categories.
    pub fn by_cause(&self, cause: DropCause) -> u64 {
        self.entries
            .iter()
            .filter(|(c, _, _)| *c == cause)
            .map(|(_, _, n)| *n)
            .sum()
    }

    /// All records dropped.
    pub fn total(&self) -> u64 {
        self.entries.iter().map(|(_, _, n)| *n).sum()
    }

    /// Every non-zero count.
    pub fn iter(&self) -> impl Iterator<Item = (DropCause, Category, u64)> + '_ {
        self.entries.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sum_across_threads() {
        let d = Arc::new(DropCounters::new(424242));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let d = d.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        d.count(DropCause::Consent, Category::BUSINESS, 1);
                    }
                    d.count(DropCause::QueueFull, Category::PERFORMANCE, 5);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let s = d.snapshot();
        assert_eq!(s.get(DropCause::Consent, Category::BUSINESS), 4000);
        assert_eq!(s.get(DropCause::QueueFull, Category::PERFORMANCE), 20);
        assert_eq!(s.total(), 4020);
    }
}
