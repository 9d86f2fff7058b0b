//! The registry of subjects' consent for one instance: the subjects held in
//! memory (with the atomic masks the gate reads), how choices change (grants
//! are saved first; revocations apply at once and are numbered), and the
//! store behind them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::category::{Category, CategorySet};
use crate::consent::audit::{self, ConsentChange, ConsentSource};
use crate::consent::coverage;
use crate::consent::policy::ConsentPolicy;
use crate::consent::store::ConsentStore;
use crate::error::ConsentError;
use crate::privacy::HashKey;
use crate::subject::context::SubjectHandle;
use crate::subject::state::{SubjectMap, release_if_idle};
use crate::subject::{Choices, SubjectKey, SubjectState};

/// All subjects' consent state for one telemetry instance.
pub(crate) struct ConsentRegistry {
    pub(crate) policy: ConsentPolicy,
    pub(crate) do_not_track: bool,
    pub(crate) no_subject_mask: u64,
    /// Categories in which records without a subject (or of a subject with
    /// no choices) carry hashed values: the required ones allowed by default.
    pub(crate) no_subject_identified: u64,
    subject_key: HashKey,
    owner: u64,
    map: Arc<SubjectMap>,
    store: Box<dyn ConsentStore>,
    pub(crate) audit: audit::AuditTrail,
    pub(crate) counts: audit::ConsentCounts,
    pub(crate) coverage: coverage::Coverage,
    /// Sequence number of the latest revocation (any subject).
    revisions: AtomicU64,
}

pub(crate) enum Change {
    Grant,
    Deny,
}

/// What a registry is built from (validated by the builder).
pub(crate) struct RegistrySettings {
    pub(crate) policy: ConsentPolicy,
    pub(crate) do_not_track: bool,
    pub(crate) subject_key: HashKey,
    /// The instance the registry belongs to.
    pub(crate) owner: u64,
    pub(crate) store: Box<dyn ConsentStore>,
    pub(crate) audit_capacity: usize,
    pub(crate) coverage_period_secs: u64,
    /// The categories consent coverage counts.
    pub(crate) counted: CategorySet,
}

impl ConsentRegistry {
    pub(crate) fn new(settings: RegistrySettings) -> Result<Self, ConsentError> {
        let RegistrySettings {
            policy,
            do_not_track,
            subject_key,
            owner,
            store,
            audit_capacity,
            coverage_period_secs,
            counted,
        } = settings;
        let no_subject_mask = policy.no_subject_mask(do_not_track);
        let no_subject_identified = policy.identified(Choices::default(), do_not_track);
        let registry = ConsentRegistry {
            policy,
            do_not_track,
            no_subject_mask,
            no_subject_identified,
            subject_key,
            owner,
            map: Arc::new(papaya::HashMap::new()),
            store,
            audit: audit::AuditTrail::new(audit_capacity),
            counts: audit::ConsentCounts::new(),
            coverage: coverage::Coverage::new(coverage_period_secs, counted),
            revisions: AtomicU64::new(0),
        };
        {
            let map = registry.map.pin();
            for (key, choices) in registry.store.load()? {
                let masks = registry.masks(choices);
                map.insert(key, Arc::new(SubjectState::new(key, owner, choices, masks)));
            }
        }
        Ok(registry)
    }

    /// The pseudonymous key of a raw subject id.
    #[inline]
    pub(crate) fn key_of(&self, id: &str) -> SubjectKey {
        SubjectKey(self.subject_key.digest(id.as_bytes()))
    }

    /// The current effective mask of a subject (policy defaults when unknown).
    #[inline]
    pub(crate) fn mask_of(&self, key: SubjectKey) -> u64 {
        self.with_state(key, |s| {
            s.map_or(self.no_subject_mask, SubjectState::allowed)
        })
    }

    /// Runs `f` with the subject's state, if it is in memory.
    #[inline]
    pub(crate) fn with_state<R>(
        &self,
        key: SubjectKey,
        f: impl FnOnce(Option<&SubjectState>) -> R,
    ) -> R {
        let map = self.map.pin();
        f(map.get(&key).map(|s| &**s))
    }

    /// Whether a record of `category` about `key`, captured at consent
    /// `version`, may still be exported (see [`SubjectState::still_allows`]).
    pub(crate) fn still_allows(&self, key: SubjectKey, category: Category, version: u64) -> bool {
        if self.policy.keep_on_revoke_set().contains(category) {
            return true;
        }
        self.with_state(key, |s| match s {
            Some(s) => s.still_allows(category, version),
            None => self.no_subject_mask & category.mask() != 0,
        })
    }

    /// The effective and identified masks of a subject with `choices`.
    pub(crate) fn masks(&self, choices: Choices) -> (u64, u64) {
        (
            self.policy.effective(choices, self.do_not_track),
            self.policy.identified(choices, self.do_not_track),
        )
    }

    fn state_for(&self, key: SubjectKey) -> Arc<SubjectState> {
        let map = self.map.pin();
        map.get_or_insert_with(key, || {
            Arc::new(SubjectState::new(
                key,
                self.owner,
                Choices::default(),
                self.masks(Choices::default()),
            ))
        })
        .clone()
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
            self.coverage.observe(key, state.allowed());
            return SubjectHandle::adopt(state, Arc::downgrade(&self.map));
        }
    }

    /// Removes subjects with no recorded choice and no open scope (closing
    /// a subject's last scope already does; this catches the few a
    /// concurrent consent change kept).
    pub(crate) fn evict_idle(&self) {
        let candidates: Vec<Arc<SubjectState>> = self
            .map
            .pin()
            .iter()
            .filter(|(_, s)| s.active.load(Ordering::SeqCst) == 0)
            .map(|(_, s)| Arc::clone(s))
            .collect();
        for state in candidates {
            release_if_idle(&self.map, &state);
        }
    }

    /// Number of subjects held in memory.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn change(
        &self,
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
            let new = match change {
                Change::Grant => Choices {
                    granted: CategorySet::from_bits(old.granted.bits() | categories.bits()),
                    denied: CategorySet::from_bits(old.denied.bits() & !categories.bits()),
                },
                Change::Deny => Choices {
                    granted: CategorySet::from_bits(old.granted.bits() & !categories.bits()),
                    denied: CategorySet::from_bits(old.denied.bits() | categories.bits()),
                },
            };
            let apply = |c: Choices| {
                let before = state.allowed();
                let after = self.policy.effective(c, self.do_not_track);
                let identified = self.policy.identified(c, self.do_not_track);
                // A change that removes categories is a revocation: it gets
                // the next sequence number, which records captured before
                // it are compared against.
                let removed = before & !after;
                let revoked = (removed != 0)
                    .then(|| (removed, self.revisions.fetch_add(1, Ordering::SeqCst) + 1));
                state.apply((after, identified), revoked);
            };
            // A revocation takes effect even if it cannot be persisted; a
            // grant only once it is persisted.
            let saved = match change {
                Change::Deny => {
                    *choices = new;
                    apply(new);
                    self.store.save(key, new)
                }
                Change::Grant => {
                    self.store.save(key, new)?;
                    *choices = new;
                    apply(new);
                    Ok(())
                }
            };
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
            saved?;
            return Ok(changes);
        }
    }

    /// A subject's recorded choices.
    pub(crate) fn choices(&self, key: SubjectKey) -> Choices {
        match self.map.pin().get(&key) {
            Some(s) => s.choices.lock().map(|c| *c).unwrap_or_default(),
            None => Choices::default(),
        }
    }
}
