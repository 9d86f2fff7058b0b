//! This process's view of a shared consent store: the store, how fresh
//! the view is, the cache's size, and the revocations waiting to be
//! committed. What happens to the view lives in `consent/fleet/`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::category::CategorySet;
use crate::consent::audit::ConsentSource;
use crate::consent::shared::{ChangeId, Freshness, SharedConsentStore};
use crate::subject::SubjectKey;

/// The process's view of a shared store.
pub(crate) struct FleetView {
    pub(crate) store: Box<dyn SharedConsentStore>,
    /// Whether the view is stale (true until first confirmed).
    pub(crate) stale: AtomicBool,
    /// Set while the view turns stale or fresh and every mask is being
    /// set again: a refusal then is for want of confirmed choices.
    pub(crate) settling: AtomicBool,
    /// The last change applied.
    pub(crate) applied: AtomicU64,
    /// When the view was last confirmed current, as nanoseconds since
    /// `epoch` plus one (0: never).
    pub(crate) confirmed_at: AtomicU64,
    pub(crate) epoch: Instant,
    pub(crate) max_staleness: Duration,
    pub(crate) capacity: usize,
    /// How long a subject stays cached after it was last seen, so its
    /// records are exported before it is let go (the flush interval plus
    /// the export timeout); only a cache at twice its size lets go sooner.
    pub(crate) keep_idle: Duration,
    /// Serialises turning stale and fresh (each sets every mask again).
    pub(crate) transition: Mutex<()>,
    pub(crate) pending: Mutex<Vec<Pending>>,
    pub(crate) pending_len: AtomicUsize,
    pub(crate) next_pending: AtomicU64,
    pub(crate) stopping: AtomicBool,
    pub(crate) threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

/// A revocation applied here that the store has not taken yet.
#[derive(Clone)]
pub(crate) struct Pending {
    pub(crate) id: u64,
    pub(crate) key: SubjectKey,
    pub(crate) deny: CategorySet,
    pub(crate) source: ConsentSource,
    pub(crate) time: SystemTime,
}

impl FleetView {
    pub(crate) fn new(
        store: Box<dyn SharedConsentStore>,
        max_staleness: Duration,
        capacity: usize,
        keep_idle: Duration,
    ) -> Self {
        FleetView {
            store,
            stale: AtomicBool::new(true),
            settling: AtomicBool::new(false),
            applied: AtomicU64::new(0),
            confirmed_at: AtomicU64::new(0),
            epoch: Instant::now(),
            max_staleness,
            capacity,
            keep_idle,
            transition: Mutex::new(()),
            pending: Mutex::new(Vec::new()),
            pending_len: AtomicUsize::new(0),
            next_pending: AtomicU64::new(1),
            stopping: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
        }
    }

    /// Whether required categories are refused for want of a current view.
    #[inline]
    pub(crate) fn is_stale(&self) -> bool {
        self.stale.load(Ordering::SeqCst)
    }

    /// Whether the view is stale, or turning stale or fresh right now.
    pub(crate) fn is_unsettled(&self) -> bool {
        self.settling.load(Ordering::SeqCst) || self.is_stale()
    }

    pub(crate) fn store(&self) -> &dyn SharedConsentStore {
        &*self.store
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Milliseconds on the view's clock (for
    /// [`SubjectState::last_used`](crate::subject::SubjectState::last_used)).
    pub(crate) fn now_millis(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Revocations waiting to be committed.
    pub(crate) fn pending(&self) -> usize {
        self.pending_len.load(Ordering::Relaxed)
    }

    /// How old the view is (`None`: never confirmed).
    pub(crate) fn age(&self, now: Instant) -> Option<Duration> {
        let at = self.confirmed_at.load(Ordering::SeqCst);
        let at = self.epoch + Duration::from_nanos(at.checked_sub(1)?);
        Some(now.saturating_duration_since(at))
    }

    /// The watchdog's period: a tenth of `max_staleness`, within
    /// 10–250 ms.
    pub(crate) fn tick(&self) -> Duration {
        (self.max_staleness / 10).clamp(Duration::from_millis(10), Duration::from_millis(250))
    }

    /// Whether the view is too old now. It turns stale one tick early, so
    /// the watchdog declares it stale by `max_staleness` at the latest.
    pub(crate) fn too_old(&self, now: Instant) -> bool {
        self.age(now)
            .is_none_or(|age| age + self.tick() > self.max_staleness)
    }

    pub(crate) fn freshness(&self) -> Freshness {
        Freshness {
            stale: self.is_stale(),
            applied: ChangeId(self.applied.load(Ordering::SeqCst)),
            age: self.age(Instant::now()),
        }
    }
}
