//! Setting the masks the gate reads: those of records without a subject,
//! those of one subject (a publication that removes categories is a
//! revocation, and gets the next number), and every subject's again when a
//! shared store's view turns stale or fresh.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::subject::{Choices, SubjectKey, SubjectState};

use super::ConsentRegistry;

impl ConsentRegistry {
    /// Sets the masks of records without a subject for the view's state.
    pub(crate) fn publish_no_subject(&self) {
        let stale = self.is_stale();
        let mut mask = self.policy.no_subject_mask(self.do_not_track);
        let mut identified = self
            .policy
            .identified(Choices::default(), self.do_not_track);
        if stale {
            mask &= !self.required;
            identified = 0;
        }
        let absent = super::absent_mask_of(mask, self.shared, self.required);
        for (hot, mask) in [(&self.no_subject, mask), (&self.absent, absent)] {
            hot.identified.store(identified, Ordering::SeqCst);
            hot.allowed.store(mask, Ordering::SeqCst);
        }
    }

    /// Sets `state`'s masks from `choices` (the caller holds its choices
    /// lock, so two publications cannot interleave). A publication that
    /// removes categories is a revocation: it gets the next sequence
    /// number, which records captured before it are compared against.
    /// Returns the categories removed.
    pub(crate) fn publish(&self, state: &SubjectState, choices: Choices) -> u64 {
        self.publish_as(state, choices, state.unconfirmed())
    }

    /// [`publish`](Self::publish) for choices the store has just confirmed
    /// (`unconfirmed` false), or not, whatever the state says.
    pub(crate) fn publish_as(
        &self,
        state: &SubjectState,
        choices: Choices,
        unconfirmed: bool,
    ) -> u64 {
        let before = state.allowed();
        let masks = self.masks_now(choices, unconfirmed);
        let removed = before & !masks.0;
        let revoked =
            (removed != 0).then(|| (removed, self.revisions.fetch_add(1, Ordering::SeqCst) + 1));
        state.apply(masks, revoked);
        removed
    }

    /// Sets every subject's masks again (after the shared view turned
    /// stale or fresh); gives the subjects that lost categories.
    pub(crate) fn publish_all(&self) -> Vec<SubjectKey> {
        self.publish_no_subject();
        let states: Vec<Arc<SubjectState>> =
            self.map.pin().iter().map(|(_, s)| Arc::clone(s)).collect();
        let mut narrowed = Vec::new();
        for state in states {
            let Ok(choices) = state.choices.lock() else {
                continue;
            };
            if self.publish(&state, *choices) != 0 {
                narrowed.push(state.key);
            }
        }
        narrowed
    }
}
