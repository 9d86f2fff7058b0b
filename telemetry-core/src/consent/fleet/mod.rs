//! A shared consent store seen from one process: how fresh the view is, the
//! changes the store's feed brings (applied to the cached subjects, with a
//! purge when they revoke), the loads it answers, changes made here
//! (a grant committed first, a revocation applied first), revocations
//! waiting to be committed, and the two threads that keep it all going:
//! the watchdog, which turns the view stale when the store goes quiet and
//! never waits on the store, and the upkeep thread, which retries
//! revocations and sends deletion requests other processes left behind.
//!
//! Here: what a change made here did, how fresh the view is, and how the
//! store's choices for a subject are taken (unless it holds newer ones,
//! with the revocations still waiting laid over them). What the feed brings
//! and the loads it answers are in [`feed`]; changes made here and the
//! revocations waiting to be committed in [`changes`]; the threads in
//! [`threads`].

mod changes;
mod feed;
mod threads;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::consent::audit::ConsentChange;
use crate::consent::registry::{Change, ConsentRegistry};
use crate::consent::shared::{ChangeId, Freshness, OutboxId};
use crate::consent::view::FleetView;
use crate::subject::state::LOADED;
use crate::subject::{Choices, SubjectKey, SubjectState};

pub(crate) use threads::{start, stop};

/// What a change made here did.
pub(crate) struct Outcome {
    /// Its audit entries (already in the trail and counted).
    pub(crate) changes: Vec<ConsentChange>,
    /// Its number in the shared store, once committed.
    pub(crate) change: Option<ChangeId>,
    /// Its deletion request's outbox entry, once committed.
    pub(crate) outbox: Option<OutboxId>,
}

impl Outcome {
    /// A change to a local store: no change number, no outbox.
    pub(crate) fn local(changes: Vec<ConsentChange>) -> Self {
        Outcome {
            changes,
            change: None,
            outbox: None,
        }
    }
}

impl ConsentRegistry {
    fn view(&self) -> Option<&FleetView> {
        self.fleet()
    }

    /// How fresh the view of a shared store is (a local store is always
    /// current).
    pub(crate) fn freshness(&self) -> Freshness {
        self.view().map_or(
            Freshness {
                stale: false,
                applied: ChangeId(0),
                age: Some(Duration::ZERO),
            },
            FleetView::freshness,
        )
    }

    /// The store confirmed every change through `through`, current as of
    /// `as_of`.
    pub(crate) fn confirm(&self, through: ChangeId, as_of: Instant) {
        let Some(view) = self.view() else {
            return;
        };
        view.applied.fetch_max(through.0, Ordering::SeqCst);
        let nanos = as_of.saturating_duration_since(view.epoch).as_nanos();
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1;
        view.confirmed_at.fetch_max(nanos, Ordering::SeqCst);
        if view.is_stale() {
            self.check_freshness();
        }
    }

    /// Turns the view stale or fresh if its age says so, setting every
    /// mask again. Gives `Some(true)` when it turned stale.
    pub(crate) fn check_freshness(&self) -> Option<bool> {
        let view = self.view()?;
        let _one_at_a_time = view.transition.lock().unwrap_or_else(|p| p.into_inner());
        let stale = view.too_old(Instant::now());
        if view.stale.load(Ordering::SeqCst) == stale {
            return None;
        }
        // Between the flag and the masks, refusals count as unconfirmed.
        view.settling.store(true, Ordering::SeqCst);
        view.stale.store(stale, Ordering::SeqCst);
        self.publish_all();
        view.settling.store(false, Ordering::SeqCst);
        Some(stale)
    }

    /// `choices` with the revocations still waiting to be committed laid
    /// over them, so news from the store cannot undo them meanwhile.
    fn with_pending(&self, view: &FleetView, key: SubjectKey, mut choices: Choices) -> Choices {
        if view.pending_len.load(Ordering::SeqCst) == 0 {
            return choices;
        }
        let pending = view.pending.lock().unwrap_or_else(|p| p.into_inner());
        for p in pending.iter().filter(|p| p.key == key) {
            choices = Change::Deny.applied_to(choices, p.deny);
        }
        choices
    }

    /// Takes the stored `choices` written by `change` for `state`, unless
    /// it already holds newer ones; gives the categories it lost.
    fn adopt(
        &self,
        view: &FleetView,
        state: &SubjectState,
        change: ChangeId,
        choices: Choices,
    ) -> u64 {
        let Ok(mut held) = state.choices.lock() else {
            return 0;
        };
        let newer = change.0 > state.change.load(Ordering::SeqCst)
            || (change.0 == 0 && state.unconfirmed());
        if !newer {
            if state.unconfirmed() {
                // The same or older news than what it holds: its choices
                // are known all the same.
                return self.publish_loaded(state, *held);
            }
            return 0;
        }
        let choices = self.with_pending(view, state.key, choices);
        *held = choices;
        state.change.store(change.0, Ordering::SeqCst);
        self.publish_loaded(state, choices)
    }

    /// Sets the masks of a subject whose choices are now known, then marks
    /// it loaded: whoever sees it loaded (a `prefetch` waiting for it) sees
    /// its masks set, so the first record after a prefetch is not refused.
    fn publish_loaded(&self, state: &SubjectState, choices: Choices) -> u64 {
        let removed = self.publish_as(state, choices, false);
        state.load.store(LOADED, Ordering::Release);
        removed
    }
}
