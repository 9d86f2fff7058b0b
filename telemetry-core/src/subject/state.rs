//! Data subjects: the pseudonymous [`SubjectKey`] and the shared per-subject
//! state whose atomic consent mask the hot path reads.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::category::CategorySet;
use crate::export::SubjectKey;

/// A subject's recorded choices. A category is in at most one of the sets;
/// in neither means "no answer", and the policy's default applies.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Choices {
    /// Categories the subject granted.
    pub granted: CategorySet,
    /// Categories the subject refused or revoked.
    pub denied: CategorySet,
}

impl Choices {
    pub(crate) fn is_empty(&self) -> bool {
        self.granted.is_empty() && self.denied.is_empty()
    }

    /// What both allow: granted by both, denied by either.
    pub(crate) fn narrowest(self, other: Choices) -> Choices {
        Choices {
            granted: CategorySet::from_bits(self.granted.bits() & other.granted.bits()),
            denied: CategorySet::from_bits(self.denied.bits() | other.denied.bits()),
        }
    }
}

/// The words the hot path reads, kept together on one cache line.
#[repr(C, align(32))]
pub(crate) struct Hot {
    /// Effective mask of categories this subject's records may be kept in.
    pub(crate) allowed: AtomicU64,
    /// Categories whose records carry the subject's key and hashed values
    /// (see `ConsentPolicy::identified`); read only once a record is admitted.
    pub(crate) identified: AtomicU64,
    /// The consent sequence number of the subject's latest revocation (0 if
    /// none). A record remembers it when captured; the export worker drops
    /// records captured before a revocation of their category, even if
    /// consent was granted again since.
    pub(crate) version: AtomicU64,
}

impl Hot {
    /// Masks `allowed` and `identified`, with no revocation yet.
    pub(crate) fn new(allowed: u64, identified: u64) -> Self {
        Hot {
            allowed: AtomicU64::new(allowed),
            identified: AtomicU64::new(identified),
            version: AtomicU64::new(0),
        }
    }

    /// The consent mask and the version to remember for a record captured
    /// now. The version is read first: a record that sees the mask from
    /// before a revocation then always carries a version from before it.
    #[inline(always)]
    pub(crate) fn admission(&self) -> (u64, u64) {
        let version = self.version.load(Ordering::Acquire);
        (self.allowed.load(Ordering::Relaxed), version)
    }
}

/// Shared state of one subject. The hot path only loads `hot`.
pub(crate) struct SubjectState {
    pub(crate) hot: Hot,
    pub(crate) key: SubjectKey,
    /// Which telemetry instance this state belongs to.
    pub(crate) owner: u64,
    /// Recorded choices; locked only on consent changes (cold path).
    pub(crate) choices: Mutex<Choices>,
    /// The sequence number of the latest revocation of each category ever
    /// revoked (category bit, sequence); read by the export worker only for
    /// records older than `hot.version`.
    pub(crate) revoked_at: Mutex<Vec<(u8, u64)>>,
    /// Open scopes using this state (guards eviction).
    pub(crate) active: AtomicUsize,
    /// Set while the state is being removed from the registry.
    pub(crate) evicted: AtomicBool,
    /// With a shared store: the change that last wrote `choices`
    /// (`ChangeId`), so older news is ignored.
    pub(crate) change: AtomicU64,
    /// With a shared store: whether `choices` are known ([`LOADED`]), not
    /// yet asked for ([`UNLOADED`]) or being loaded ([`LOADING`]).
    pub(crate) load: AtomicU8,
    /// With a shared store: when the subject was last seen (milliseconds
    /// on the view's clock), so the cache lets go of idle subjects first.
    pub(crate) last_used: AtomicU64,
    /// Whether the state leaves memory as soon as it has no open scope and
    /// no recorded choice (a local store, which holds every subject with
    /// choices anyway). A shared store's cache keeps states until it is
    /// full, so a subject seen again is not loaded again.
    pub(crate) transient: bool,
}

/// [`SubjectState::load`]: the choices are known.
pub(crate) const LOADED: u8 = 0;
/// [`SubjectState::load`]: the choices are unknown and not asked for.
pub(crate) const UNLOADED: u8 = 1;
/// [`SubjectState::load`]: the choices are being loaded.
pub(crate) const LOADING: u8 = 2;

impl SubjectState {
    pub(crate) fn new(
        key: SubjectKey,
        owner: u64,
        choices: Choices,
        (allowed, identified): (u64, u64),
        load: u8,
    ) -> Self {
        SubjectState {
            hot: Hot::new(allowed, identified),
            key,
            owner,
            choices: Mutex::new(choices),
            revoked_at: Mutex::new(Vec::new()),
            active: AtomicUsize::new(0),
            evicted: AtomicBool::new(false),
            change: AtomicU64::new(0),
            load: AtomicU8::new(load),
            last_used: AtomicU64::new(0),
            // Only a local store's states start out loaded.
            transient: load == LOADED,
        }
    }

    /// Whether the subject's choices are still unknown (shared store).
    #[inline]
    pub(crate) fn unconfirmed(&self) -> bool {
        self.load.load(Ordering::Acquire) != LOADED
    }

    /// The current mask.
    #[inline]
    pub(crate) fn allowed(&self) -> u64 {
        self.hot.allowed.load(Ordering::Relaxed)
    }

    /// Applies a new effective mask. When it removes categories, `revoked`
    /// gives the sequence number of the revocation: the mask is stored
    /// first, then the version, so no record can pair the old mask with the
    /// new version.
    pub(crate) fn apply(&self, (allowed, identified): (u64, u64), revoked: Option<(u64, u64)>) {
        self.hot.identified.store(identified, Ordering::SeqCst);
        self.hot.allowed.store(allowed, Ordering::SeqCst);
        if let Some((categories, seq)) = revoked {
            if let Ok(mut at) = self.revoked_at.lock() {
                for c in CategorySet::from_bits(categories).iter() {
                    match at.iter_mut().find(|(bit, _)| *bit == c.bit()) {
                        Some(entry) => entry.1 = seq,
                        None => at.push((c.bit(), seq)),
                    }
                }
            }
            self.hot.version.store(seq, Ordering::SeqCst);
        }
    }

    /// Whether a record of `category` captured at `version` may still be
    /// exported: consent allows the category now, and it was not revoked
    /// after the record was captured.
    pub(crate) fn still_allows(&self, category: crate::category::Category, version: u64) -> bool {
        if self.allowed() & category.mask() == 0 {
            return false;
        }
        if version >= self.hot.version.load(Ordering::SeqCst) {
            return true;
        }
        match self.revoked_at.lock() {
            Ok(at) => !at
                .iter()
                .any(|&(bit, seq)| bit == category.bit() && seq > version),
            // Cannot tell: fail closed.
            Err(_) => false,
        }
    }
}

impl fmt::Debug for SubjectState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubjectState")
            .field("key", &self.key)
            .field("allowed", &CategorySet::from_bits(self.allowed()))
            .finish_non_exhaustive()
    }
}

/// The subjects held in memory, by key.
///
/// Hashed with `foldhash`, seeded per process, not the standard library's
/// SipHash: a key is already a keyed BLAKE3 output, uniform and unknown
/// to anyone without the subject key, so a second strong hash bought
/// nothing, and the export worker looks a subject up for every record
/// that has one (SipHash was a third of that lookup in `perf`).
pub(crate) type SubjectMap = papaya::HashMap<SubjectKey, Arc<SubjectState>, SubjectHasher>;

/// The hasher of [`SubjectMap`].
pub(crate) type SubjectHasher = foldhash::fast::RandomState;

/// Removes `state` from `map` if it belongs to a local store's registry
/// and has no open scope and no recorded choice (the same protocol as
/// `ConsentRegistry::evict_idle`).
pub(crate) fn release_if_idle(map: &SubjectMap, state: &Arc<SubjectState>) {
    // A consent change in progress holds the lock: leave it to the sweep.
    if !state.transient {
        return;
    }
    evict_if_idle(map, state, false);
}

/// Removes `state` from `map` if it has no open scope, and (unless
/// `with_choices`) no recorded choice. Returns whether it was removed.
pub(crate) fn evict_if_idle(
    map: &SubjectMap,
    state: &Arc<SubjectState>,
    with_choices: bool,
) -> bool {
    let Ok(choices) = state.choices.try_lock() else {
        return false;
    };
    if (!with_choices && !choices.is_empty()) || state.active.load(Ordering::SeqCst) != 0 {
        return false;
    }
    state.evicted.store(true, Ordering::SeqCst);
    if state.active.load(Ordering::SeqCst) == 0 {
        let map = map.pin();
        if map.get(&state.key).is_some_and(|s| Arc::ptr_eq(s, state)) {
            map.remove(&state.key);
        }
        true
    } else {
        state.evicted.store(false, Ordering::SeqCst);
        false
    }
}
