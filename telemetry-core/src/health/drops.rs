//! Counting what is dropped, by cause and category, without a shared atomic
//! on the hot path: each thread writes its own shard (a load and a store on
//! a cache line no other thread writes), the exporter sums the shards.

use std::cell::{Cell, RefCell};
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

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
    /// A category that requires consent, refused because a shared consent
    /// store could not confirm the subject's choices: they were still
    /// loading, or this process's view of the store was stale (older than
    /// `max_staleness`). Exempt categories are not affected.
    Unconfirmed,
    /// Not a record: a hashed value left out of a record that is anonymous
    /// because only its category's exemption admitted it. Counted per
    /// value; the record itself is kept. Exported as
    /// `telemetry.fields.withheld`, not among the dropped records.
    Anonymized,
}

impl DropCause {
    /// Every cause.
    pub const ALL: [DropCause; 10] = [
        DropCause::Consent,
        DropCause::Sampling,
        DropCause::RateLimit,
        DropCause::QueueFull,
        DropCause::ExporterFailure,
        DropCause::Limits,
        DropCause::Revoked,
        DropCause::Disabled,
        DropCause::Unconfirmed,
        DropCause::Anonymized,
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
            DropCause::Unconfirmed => "unconfirmed",
            DropCause::Anonymized => "anonymized",
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

    #[inline]
    fn add(&self, cause: DropCause, category: Category, n: u64) {
        // Only the owning thread writes a shard: no read-modify-write needed.
        crate::owned_cell::add(&self.counts[cause as usize][category.bit() as usize], n);
    }
}

struct Shared {
    /// Every shard ever handed out (counts are cumulative).
    shards: Mutex<Vec<Arc<Shard>>>,
    /// Shards of threads that exited, ready for reuse.
    free: Mutex<Vec<Arc<Shard>>>,
}

/// Per-instance drop counters.
pub(crate) struct DropCounters {
    id: NonZeroU64,
    shared: Arc<Shared>,
}

/// Gives a thread's shards back to their instances when the thread exits.
struct Owned(Vec<(u64, Arc<Shard>, Weak<Shared>)>);

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = FAST.try_with(|f| f.set((0, std::ptr::null())));
        for (_, shard, shared) in self.0.drain(..) {
            if let Some(shared) = shared.upgrade()
                && let Ok(mut free) = shared.free.lock()
            {
                free.push(shard);
            }
        }
    }
}

thread_local! {
    /// The shard of the instance this thread counted for last: (instance id,
    /// shard). A constant-initialised `Cell` with no destructor, so the hot
    /// path reads it with one thread-local load.
    static FAST: Cell<(u64, *const Shard)> = const { Cell::new((0, std::ptr::null())) };
    /// This thread's shards, one per instance it has counted for.
    static OWNED: RefCell<Owned> = const { RefCell::new(Owned(Vec::new())) };
}

impl DropCounters {
    /// Counters of instance `id` (never 0: the id `FAST` holds when it
    /// points nowhere).
    pub(crate) fn new(id: NonZeroU64) -> Self {
        DropCounters {
            id,
            shared: Arc::new(Shared {
                shards: Mutex::new(Vec::new()),
                free: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The id of the instance these counters belong to (never 0).
    #[inline]
    pub(crate) fn id(&self) -> NonZeroU64 {
        self.id
    }

    /// Counts `n` records of `category` dropped for `cause`.
    #[inline]
    pub(crate) fn count(&self, cause: DropCause, category: Category, n: u64) {
        let (id, ptr) = FAST.try_with(Cell::get).unwrap_or((0, std::ptr::null()));
        if id == self.id.get() {
            // SAFETY: `FAST` is only ever `(0, null)` or an instance's id
            // with a pointer to one of its shards (`Arc::as_ptr`, never
            // null); instance ids are never 0 (`NonZeroU64`), so an equal
            // id means the pointer is set. That shard is kept alive by
            // `self.shared.shards` (and by `OWNED`) for as long as the
            // instance, which `&self` proves is alive. Instance ids are
            // never reused. Saying the pointer is set (`assert_unchecked`)
            // lets the compiler drop the null test it otherwise kept
            // beside the id's: one branch fewer in every counted refusal.
            unsafe {
                std::hint::assert_unchecked(!ptr.is_null());
                &*ptr
            }
            .add(cause, category, n);
        } else {
            self.count_slow(cause, category, n);
        }
    }

    #[cold]
    fn count_slow(&self, cause: DropCause, category: Category, n: u64) {
        // A shard this thread already owns for this instance?
        let owned = OWNED
            .try_with(|o| {
                o.try_borrow().ok().and_then(|o| {
                    o.0.iter()
                        .find(|(id, _, _)| *id == self.id.get())
                        .map(|(_, s, _)| s.clone())
                })
            })
            .ok()
            .flatten();
        let shard = match owned {
            Some(s) => s,
            None => {
                let recycled = self.shared.free.lock().ok().and_then(|mut f| f.pop());
                let shard = recycled.unwrap_or_else(|| {
                    let s = Arc::new(Shard::new());
                    if let Ok(mut all) = self.shared.shards.lock() {
                        all.push(s.clone());
                    }
                    s
                });
                let kept = OWNED
                    .try_with(|o| match o.try_borrow_mut() {
                        Ok(mut o) => {
                            o.0.push((self.id.get(), shard.clone(), Arc::downgrade(&self.shared)));
                            true
                        }
                        Err(_) => false,
                    })
                    .unwrap_or(false);
                if !kept {
                    // Thread-local storage is unavailable (thread exiting):
                    // count atomically on the shard and give it back.
                    shard.counts[cause as usize][category.bit() as usize]
                        .fetch_add(n, Ordering::Relaxed);
                    if let Ok(mut f) = self.shared.free.lock() {
                        f.push(shard);
                    }
                    return;
                }
                shard
            }
        };
        let _ = FAST.try_with(|f| f.set((self.id.get(), Arc::as_ptr(&shard))));
        shard.add(cause, category, n);
    }

    /// Totals by cause and category (non-zero only).
    pub(crate) fn snapshot(&self) -> DropCounts {
        let mut totals = [[0u64; Category::COUNT]; CAUSES];
        if let Ok(shards) = self.shared.shards.lock() {
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

    /// All records dropped (values withheld from anonymous records are not
    /// records, and not counted here).
    pub fn total(&self) -> u64 {
        self.entries
            .iter()
            .filter(|(c, _, _)| *c != DropCause::Anonymized)
            .map(|(_, _, n)| *n)
            .sum()
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
    fn counts_sum_across_threads_and_shards_are_recycled() {
        let d = Arc::new(DropCounters::new(NonZeroU64::new(424242).unwrap()));
        for _round in 0..3 {
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
        }
        let s = d.snapshot();
        assert_eq!(s.get(DropCause::Consent, Category::BUSINESS), 12_000);
        assert_eq!(s.get(DropCause::QueueFull, Category::PERFORMANCE), 60);
        assert_eq!(s.total(), 12_060);
        let shards = d.shared.shards.lock().unwrap().len();
        assert!(shards <= 4, "exited threads' shards are reused: {shards}");
    }

    #[test]
    fn two_instances_on_one_thread_count_apart() {
        let a = DropCounters::new(NonZeroU64::new(1_000_001).unwrap());
        let b = DropCounters::new(NonZeroU64::new(1_000_002).unwrap());
        for _ in 0..10 {
            a.count(DropCause::Sampling, Category::ERRORS, 1);
            b.count(DropCause::Sampling, Category::ERRORS, 2);
        }
        assert_eq!(a.snapshot().total(), 10);
        assert_eq!(b.snapshot().total(), 20);
    }
}
