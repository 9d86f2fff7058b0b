//! The subjects the registry holds in memory: a subject's state, created
//! on first sight (with a shared store, unconfirmed, and asked for), the
//! room a full cache makes, the counted handles subject scopes hold, and
//! the idle subjects let go.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::consent::view::FleetView;
use crate::subject::context::SubjectHandle;
use crate::subject::state::{LOADED, LOADING, UNLOADED, evict_if_idle};
use crate::subject::{Choices, SubjectKey, SubjectState};

use super::ConsentRegistry;

impl ConsentRegistry {
    /// The subject's state, created if it is not in memory: with the
    /// policy's default (a local store) or unconfirmed (a shared store,
    /// which is then asked for it; the cache makes room first if it is
    /// full).
    pub(crate) fn state_for(&self, key: SubjectKey) -> Arc<SubjectState> {
        if let Some(state) = self.map.pin().get(&key) {
            if let Some(view) = self.fleet() {
                state.last_used.store(view.now_millis(), Ordering::Relaxed);
            }
            return Arc::clone(state);
        }
        if let Some(view) = self.fleet()
            && self.map.len() >= view.capacity()
        {
            self.make_room(view);
        }
        let map = self.map.pin();
        let state = map
            .get_or_insert_with(key, || {
                let load = if self.shared { UNLOADED } else { LOADED };
                let masks = self.masks_now(Choices::default(), self.shared);
                Arc::new(SubjectState::new(
                    key,
                    self.owner,
                    Choices::default(),
                    masks,
                    load,
                ))
            })
            .clone();
        drop(map);
        if let Some(view) = self.fleet() {
            state.last_used.store(view.now_millis(), Ordering::Relaxed);
        }
        self.request_load(&state);
        state
    }

    /// Asks the shared store for `state`'s choices if nobody has yet.
    pub(crate) fn request_load(&self, state: &SubjectState) {
        if let Some(view) = self.fleet()
            && state
                .load
                .compare_exchange(UNLOADED, LOADING, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            && !view.store().request_load(state.key)
        {
            // Not taken: asked for again at the next sighting.
            let _ =
                state
                    .load
                    .compare_exchange(LOADING, UNLOADED, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    /// Lets go of subjects without an open scope until an eighth of the
    /// cache is free (so a full cache is swept once per eighth of its
    /// size, not on every miss): first those not seen for `keep_idle`,
    /// whose records have left the pipeline; at twice its size, any. The
    /// buffered records of a subject let go are dropped as `unconfirmed`
    /// (whether it revoked since is not known here any more).
    fn make_room(&self, view: &FleetView) {
        let capacity = view.capacity();
        let target = capacity - capacity / 8;
        let now = view.now_millis();
        let keep = u64::try_from(view.keep_idle.as_millis()).unwrap_or(u64::MAX);
        let full = self.map.len() >= capacity.saturating_mul(2);
        let candidates: Vec<Arc<SubjectState>> = self
            .map
            .pin()
            .iter()
            .filter(|(_, s)| {
                s.active.load(Ordering::SeqCst) == 0
                    && (full || now.saturating_sub(s.last_used.load(Ordering::Relaxed)) >= keep)
            })
            .map(|(_, s)| Arc::clone(s))
            .take(capacity / 8 + 1)
            .collect();
        for state in candidates {
            if self.map.len() < target {
                break;
            }
            evict_if_idle(&self.map, &state, true);
        }
    }

    /// A counted handle to a subject's state, for a subject scope.
    pub(crate) fn acquire(&self, key: SubjectKey) -> SubjectHandle {
        loop {
            let state = self.state_for(key);
            state.active.fetch_add(1, Ordering::SeqCst);
            if state.evicted.load(Ordering::SeqCst) {
                state.active.fetch_sub(1, Ordering::SeqCst);
                std::thread::yield_now();
                continue;
            }
            // An unconfirmed subject is counted once its choices arrive.
            if !state.unconfirmed() {
                self.coverage.observe(key, state.allowed());
            }
            return SubjectHandle::adopt(state, Arc::downgrade(&self.map));
        }
    }

    /// Removes subjects with no recorded choice and no open scope (closing
    /// a subject's last scope already does; this catches the few a
    /// concurrent consent change kept). A shared store's cache keeps them
    /// until it is full.
    pub(crate) fn evict_idle(&self) {
        if self.shared {
            return;
        }
        let candidates: Vec<Arc<SubjectState>> = self
            .map
            .pin()
            .iter()
            .filter(|(_, s)| s.active.load(Ordering::SeqCst) == 0)
            .map(|(_, s)| Arc::clone(s))
            .collect();
        for state in candidates {
            evict_if_idle(&self.map, &state, false);
        }
    }
}
