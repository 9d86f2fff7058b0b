//! Changes of a subject's choices: which way a change goes, a change in a
//! local store (a revocation applies at once, even if it cannot be saved; a
//! grant once it is saved), and the audit entries a change gives.

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use crate::category::{Category, CategorySet};
use crate::consent::audit::{ConsentChange, ConsentSource};
use crate::consent::store::ConsentStore;
use crate::error::ConsentError;
use crate::subject::{Choices, SubjectKey};

use super::ConsentRegistry;

/// Which way a change goes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Grant,
    Deny,
}

impl Change {
    /// `choices` after granting or denying `categories`.
    pub(crate) fn applied_to(self, choices: Choices, categories: CategorySet) -> Choices {
        let bits = categories.bits();
        match self {
            Change::Grant => Choices {
                granted: CategorySet::from_bits(choices.granted.bits() | bits),
                denied: CategorySet::from_bits(choices.denied.bits() & !bits),
            },
            Change::Deny => Choices {
                granted: CategorySet::from_bits(choices.granted.bits() & !bits),
                denied: CategorySet::from_bits(choices.denied.bits() | bits),
            },
        }
    }
}

impl ConsentRegistry {
    /// Changes a subject's choices in a local store: a revocation applies
    /// at once (and even if it cannot be saved), a grant once it is saved.
    /// Gives the audit entries.
    pub(crate) fn change_local(
        &self,
        store: &dyn ConsentStore,
        key: SubjectKey,
        categories: CategorySet,
        change: Change,
        source: &ConsentSource,
    ) -> Result<Vec<ConsentChange>, ConsentError> {
        let categories = categories.without(Category::TELEMETRY);
        loop {
            let state = self.state_for(key);
            let mut choices = state
                .choices
                .lock()
                .map_err(|_| ConsentError::new("a subject's consent lock is poisoned"))?;
            if state.evicted.load(Ordering::SeqCst) {
                drop(choices);
                std::thread::yield_now();
                continue;
            }
            let old = *choices;
            let new = change.applied_to(old, categories);
            // A revocation takes effect even if it cannot be persisted; a
            // grant only once it is persisted.
            let saved = match change {
                Change::Deny => {
                    *choices = new;
                    self.publish(&state, new);
                    store.save(key, new)
                }
                Change::Grant => {
                    store.save(key, new)?;
                    *choices = new;
                    self.publish(&state, new);
                    Ok(())
                }
            };
            let changes = self.audit_changes(key, old, new, categories, change, source);
            saved?;
            return Ok(changes);
        }
    }

    /// The audit entries of a change of `key`'s choices from `old` to
    /// `new` in `categories` (one per category whose state changed),
    /// recorded in the trail and counted.
    pub(crate) fn audit_changes(
        &self,
        key: SubjectKey,
        old: Choices,
        new: Choices,
        categories: CategorySet,
        change: Change,
        source: &ConsentSource,
    ) -> Vec<ConsentChange> {
        let time = SystemTime::now();
        let mut changes = Vec::new();
        for category in categories.iter() {
            let before = self.policy.state(old, category);
            let after = self.policy.state(new, category);
            if before == after {
                continue;
            }
            match change {
                Change::Grant => self.counts.granted(category),
                Change::Deny => self.counts.revoked(category),
            }
            let entry = ConsentChange {
                subject: key,
                category,
                old: before,
                new: after,
                source: source.clone(),
                policy_version: self.policy.policy_version(),
                time,
            };
            self.audit.push(entry.clone());
            changes.push(entry);
        }
        changes
    }
}
