//! Changes made in this process to a shared store: a grant committed
//! first, then applied here; a revocation applied here first, then
//! committed, and kept to be committed again while the store cannot take
//! it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use crate::category::{Category, CategoryNames, CategorySet};
use crate::consent::audit::ConsentSource;
use crate::consent::registry::{Change, ConsentRegistry};
use crate::consent::shared::{Committed, StoreChange};
use crate::consent::view::{FleetView, Pending};
use crate::error::ConsentError;
use crate::subject::SubjectKey;

use super::Outcome;

/// Revocations kept for a retry when the store cannot take them.
const MAX_PENDING: usize = 100_000;

impl ConsentRegistry {
    /// Changes a subject's choices in the shared store: a grant is
    /// committed, then applied here; a revocation is applied here, then
    /// committed (and kept for a retry if the store cannot take it: the
    /// error says so).
    pub(crate) fn change_shared(
        &self,
        key: SubjectKey,
        categories: CategorySet,
        change: Change,
        source: &ConsentSource,
        names: &CategoryNames,
        deletion: Option<CategorySet>,
    ) -> (Outcome, Result<(), ConsentError>) {
        let empty = Outcome {
            changes: Vec::new(),
            change: None,
            outbox: None,
        };
        let Some(view) = self.view() else {
            return (empty, Err(ConsentError::new("no shared consent store")));
        };
        let categories = categories.without(Category::TELEMETRY);
        let time = SystemTime::now();
        let (grant, deny) = match change {
            Change::Grant => (categories, CategorySet::EMPTY),
            Change::Deny => (CategorySet::EMPTY, categories),
        };
        let request = |deletion| StoreChange {
            subject: key,
            grant,
            deny,
            source,
            policy_version: self.policy.policy_version(),
            time,
            names,
            deletion,
        };
        let state = self.state_for(key);
        let mut local = None;
        let mut pending_id = None;
        if change == Change::Deny {
            // Pending first, so news from the store cannot undo it, then in
            // force here before the store hears of it.
            pending_id = self.push_pending(view, key, categories, source, time);
            if let Ok(mut held) = state.choices.lock() {
                let old = *held;
                let new = Change::Deny.applied_to(old, categories);
                *held = new;
                self.publish(&state, new);
                local = Some((old, new));
            }
        }
        match view.store.commit(&request(deletion)) {
            Ok(Committed {
                change: id,
                old,
                new,
                outbox,
            }) => {
                if let Some(id) = pending_id {
                    self.remove_pending(view, id);
                }
                self.adopt(view, &state, id, new);
                let changes = self.audit_changes(key, old, new, categories, change, source);
                (
                    Outcome {
                        changes,
                        change: Some(id),
                        outbox,
                    },
                    Ok(()),
                )
            }
            Err(e) => {
                let Some((old, new)) = local else {
                    return (empty, Err(e));
                };
                let changes = self.audit_changes(key, old, new, categories, change, source);
                let kept = if pending_id.is_some() {
                    "it is in force in this process and will be committed when the store is back"
                } else {
                    "it is in force in this process only: too many revocations are waiting"
                };
                (
                    Outcome {
                        changes,
                        change: None,
                        outbox: None,
                    },
                    Err(ConsentError::new(format!(
                        "the revocation could not be committed to the shared consent store ({e}); {kept}"
                    ))),
                )
            }
        }
    }

    fn push_pending(
        &self,
        view: &FleetView,
        key: SubjectKey,
        deny: CategorySet,
        source: &ConsentSource,
        time: SystemTime,
    ) -> Option<u64> {
        let mut pending = view.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.len() >= MAX_PENDING {
            return None;
        }
        let id = view.next_pending.fetch_add(1, Ordering::Relaxed);
        pending.push(Pending {
            id,
            key,
            deny,
            source: source.clone(),
            time,
        });
        view.pending_len.store(pending.len(), Ordering::SeqCst);
        Some(id)
    }

    fn remove_pending(&self, view: &FleetView, id: u64) {
        let mut pending = view.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|p| p.id != id);
        view.pending_len.store(pending.len(), Ordering::SeqCst);
    }

    /// Commits the revocations that wait for the store, oldest first;
    /// stops at the first failure.
    pub(super) fn retry_pending(&self, names: &CategoryNames) {
        let Some(view) = self.view() else {
            return;
        };
        if view.pending_len.load(Ordering::SeqCst) == 0 {
            return;
        }
        let waiting: Vec<Pending> = view
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for p in waiting {
            if view.stopping.load(Ordering::SeqCst) {
                return;
            }
            let request = StoreChange {
                subject: p.key,
                grant: CategorySet::EMPTY,
                deny: p.deny,
                source: &p.source,
                policy_version: self.policy.policy_version(),
                time: p.time,
                names,
                // Its deletion request went out when it was made.
                deletion: None,
            };
            match view.store.commit(&request) {
                Ok(c) => {
                    self.remove_pending(view, p.id);
                    if let Some(state) = self.map.pin().get(&p.key).map(Arc::clone) {
                        self.adopt(view, &state, c.change, c.new);
                    }
                }
                Err(_) => return,
            }
        }
    }
}
