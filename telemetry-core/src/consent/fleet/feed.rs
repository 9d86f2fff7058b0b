//! What the shared store tells this process: the changes its feed brings
//! (applied to the cached subjects; the instance purges what a subject lost),
//! the answers to the loads asked of it, and a load made now.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::consent::registry::ConsentRegistry;
use crate::consent::shared::{ChangeId, FeedTarget, Stored};
use crate::error::ConsentError;
use crate::instance::Inner;
use crate::subject::{Choices, SubjectKey};

impl ConsentRegistry {
    /// Applies a change from the feed to a cached subject; gives the
    /// categories the subject lost.
    fn apply_remote(&self, change: ChangeId, key: SubjectKey, choices: Choices) -> u64 {
        let Some(view) = self.view() else {
            return 0;
        };
        let state = self.map.pin().get(&key).map(Arc::clone);
        let removed = state.map_or(0, |s| self.adopt(view, &s, change, choices));
        view.applied.fetch_max(change.0, Ordering::SeqCst);
        removed
    }

    /// Takes the answer to a load.
    fn take_loaded(&self, key: SubjectKey, result: Result<Stored, ConsentError>) {
        let Some(view) = self.view() else {
            return;
        };
        let Some(state) = self.map.pin().get(&key).map(Arc::clone) else {
            return;
        };
        match result {
            Ok(stored) => {
                self.adopt(view, &state, stored.change, stored.choices);
                if state.active.load(Ordering::SeqCst) > 0 {
                    self.coverage.observe(key, state.allowed());
                }
            }
            Err(_) => {
                // Asked for again at its next sighting.
                let _ = state.load.compare_exchange(
                    crate::subject::state::LOADING,
                    crate::subject::state::UNLOADED,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
            }
        }
    }

    /// Loads a subject's choices now, within `timeout` (or keeps what the
    /// cache holds if they are known).
    pub(crate) fn load_now(&self, key: SubjectKey, timeout: Duration) -> Result<(), ConsentError> {
        let Some(view) = self.view() else {
            return Ok(());
        };
        let state = self.state_for(key);
        if !state.unconfirmed() {
            return Ok(());
        }
        let stored = view.store.load(key, timeout)?;
        self.adopt(view, &state, stored.change, stored.choices);
        Ok(())
    }
}

impl FeedTarget for Inner {
    fn apply(&self, change: ChangeId, key: SubjectKey, choices: Choices) {
        if self.consent().apply_remote(change, key, choices) != 0 {
            self.pipeline().purge(self, key);
        }
    }

    fn loaded(&self, key: SubjectKey, result: Result<Stored, ConsentError>) {
        self.consent().take_loaded(key, result);
    }

    fn confirm(&self, through: ChangeId, as_of: Instant) {
        self.consent().confirm(through, as_of);
    }

    fn applied(&self) -> ChangeId {
        self.consent().freshness().applied
    }
}
