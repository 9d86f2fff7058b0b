//! Consent per data subject and per category: the policy, the registry of
//! subjects' choices, grants and revocations (with purge and deletion
//! requests), the store, the audit trail and the identifier-free counts.

pub mod audit;
pub(crate) mod coverage;
pub(crate) mod gate;
pub mod policy;
pub mod store;

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::category::{Category, CategorySet};
use crate::context::SubjectHandle;
use crate::error::ConsentError;
use crate::privacy::HashKey;
use crate::record::{Attribute, LogRecord, Severity};
use crate::subject::{Choices, SubjectKey, SubjectState};
use crate::telemetry::Inner;
use crate::value::AttrValue;

pub use audit::{ConsentChange, ConsentSource};
pub use coverage::CoverageSnapshot;
pub use policy::{ConsentDefault, ConsentPolicy, ConsentState};
pub use store::{ConsentStore, FileConsentStore, MemoryConsentStore};

/// Event name of an exported consent audit entry.
pub const CONSENT_CHANGED_EVENT: &str = "telemetry.consent.changed";
/// Event name of an exported deletion request.
pub const DELETION_REQUEST_EVENT: &str = "telemetry.consent.deletion_request";

/// The subjects held in memory, by key.
pub(crate) type SubjectMap = papaya::HashMap<SubjectKey, Arc<SubjectState>>;

/// Removes `state` from `map` if it has no open scope and no recorded
/// choice (the same protocol as [`ConsentRegistry::evict_idle`]).
pub(crate) fn release_if_idle(map: &SubjectMap, state: &Arc<SubjectState>) {
    // A consent change in progress holds the lock: leave it to the sweep.
    let Ok(choices) = state.choices.try_lock() else {
        return;
    };
    if !choices.is_empty() || state.active.load(Ordering::SeqCst) != 0 {
        return;
    }
    state.evicted.store(true, Ordering::SeqCst);
    if state.active.load(Ordering::SeqCst) == 0 {
        let map = map.pin();
        if map.get(&state.key).is_some_and(|s| Arc::ptr_eq(s, state)) {
            map.remove(&state.key);
        }
    } else {
        state.evicted.store(false, Ordering::SeqCst);
    }
}

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

enum Change {
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

    fn change(
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
    fn choices(&self, key: SubjectKey) -> Choices {
        match self.map.pin().get(&key) {
            Some(s) => s.choices.lock().map(|c| *c).unwrap_or_default(),
            None => Choices::default(),
        }
    }
}

/// Grants, revokes and inspects consent. Get it from
/// [`Telemetry::consent`](crate::Telemetry::consent); use it from any thread.
///
/// A change takes effect for the very next record on every thread: the hot
/// path reads the subject's consent mask from one atomic, with no cache.
#[derive(Clone, Copy)]
pub struct Consent<'t> {
    pub(crate) inner: &'t Inner,
}

impl std::fmt::Debug for Consent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consent").finish_non_exhaustive()
    }
}

impl<'t> Consent<'t> {
    /// The subject grants `categories` (a category or a set).
    pub fn grant(
        &self,
        subject: &str,
        categories: impl Into<CategorySet>,
    ) -> Result<(), ConsentError> {
        self.grant_with(subject, categories, ConsentSource::User)
    }

    /// Like [`grant`](Self::grant), recording who made the change.
    pub fn grant_with(
        &self,
        subject: &str,
        categories: impl Into<CategorySet>,
        source: ConsentSource,
    ) -> Result<(), ConsentError> {
        let key = self.inner.consent.key_of(subject);
        let changes = self
            .inner
            .consent
            .change(key, categories.into(), Change::Grant, &source)?;
        self.export_audit(&changes);
        Ok(())
    }

    /// The subject revokes (or refuses) `categories`.
    ///
    /// When this returns, nothing more of this subject in these categories
    /// is exported: records still buffered are purged (unless the policy
    /// keeps the category on revocation), an export in flight has finished,
    /// and a deletion request is queued for downstream stores. If the store
    /// cannot persist the change, the revocation still applies in memory and
    /// the error is returned.
    pub fn revoke(
        &self,
        subject: &str,
        categories: impl Into<CategorySet>,
    ) -> Result<(), ConsentError> {
        self.revoke_with(subject, categories, ConsentSource::User)
    }

    /// Like [`revoke`](Self::revoke), recording who made the change.
    pub fn revoke_with(
        &self,
        subject: &str,
        categories: impl Into<CategorySet>,
        source: ConsentSource,
    ) -> Result<(), ConsentError> {
        let key = self.inner.consent.key_of(subject);
        let categories = categories.into();
        let result = self
            .inner
            .consent
            .change(key, categories, Change::Deny, &source);
        // Purge even if persisting failed: the revocation applies in memory.
        self.inner.pipeline.purge(self.inner, key);
        let changes = match &result {
            Ok(c) => c.clone(),
            Err(_) => Vec::new(),
        };
        self.export_audit(&changes);
        let deleted = CategorySet::from_bits(
            categories.bits()
                & !self.inner.consent.policy.keep_on_revoke_set().bits()
                & self.inner.consent.policy.required_set().bits(),
        );
        if !deleted.is_empty() {
            self.inner
                .pipeline
                .push_control(self.inner, self.deletion_request(key, deleted, &source));
        }
        result.map(|_| ())
    }

    /// The subject revokes every category that requires consent (for
    /// example on account deletion).
    pub fn revoke_all(&self, subject: &str) -> Result<(), ConsentError> {
        let required = self.inner.consent.policy.required_set();
        self.revoke_with(subject, required, ConsentSource::User)
    }

    /// The subject's state for `category`.
    pub fn state(&self, subject: &str, category: Category) -> ConsentState {
        let key = self.inner.consent.key_of(subject);
        let state = self
            .inner
            .consent
            .policy
            .state(self.inner.consent.choices(key), category);
        if self.inner.consent.do_not_track && state != ConsentState::Exempt {
            return ConsentState::Denied;
        }
        state
    }

    /// Whether records of `category` would be kept for this subject now.
    pub fn allows(&self, subject: &str, category: Category) -> bool {
        let key = self.inner.consent.key_of(subject);
        self.inner.consent.mask_of(key) & category.mask() != 0
    }

    /// The pseudonymous key the library uses for `subject`.
    pub fn subject_key(&self, subject: &str) -> SubjectKey {
        self.inner.consent.key_of(subject)
    }

    /// The most recent consent changes (bounded; oldest first).
    pub fn audit_trail(&self) -> Vec<ConsentChange> {
        self.inner.consent.audit.snapshot()
    }

    /// Grants and revocations so far, per category: `(category, grants, revocations)`.
    pub fn change_counts(&self) -> Vec<(Category, u64, u64)> {
        self.inner.consent.counts.totals()
    }

    /// Consent coverage of the current period.
    pub fn coverage(&self) -> CoverageSnapshot {
        self.inner.consent.coverage.snapshot()
    }

    /// Whether `DO_NOT_TRACK` is in force.
    pub fn do_not_track(&self) -> bool {
        self.inner.consent.do_not_track
    }

    /// Frees the memory of subjects with no recorded choice and no open
    /// scope. Closing a subject's last scope does this already; the export
    /// worker sweeps every 10 seconds for the rest.
    pub fn evict_idle(&self) {
        self.inner.consent.evict_idle();
    }

    /// Number of subjects currently held in memory.
    pub fn subjects_in_memory(&self) -> usize {
        self.inner.consent.len()
    }

    fn export_audit(&self, changes: &[ConsentChange]) {
        for c in changes {
            let state = |s: policy::ConsentState| -> &'static str {
                match s {
                    ConsentState::Exempt => "exempt",
                    ConsentState::Granted => "granted",
                    ConsentState::Denied => "denied",
                    ConsentState::NoAnswer {
                        default_granted: true,
                    } => "default_granted",
                    ConsentState::NoAnswer {
                        default_granted: false,
                    } => "default_denied",
                }
            };
            let attributes = vec![
                Attribute::new(
                    "telemetry.consent.category",
                    AttrValue::from(self.inner.names.name(c.category).into_owned()),
                ),
                Attribute::new("telemetry.consent.old", state(c.old)),
                Attribute::new("telemetry.consent.new", state(c.new)),
                Attribute::new(
                    "telemetry.consent.source",
                    AttrValue::from(c.source.as_str().to_owned()),
                ),
                Attribute::new(
                    "telemetry.consent.policy_version",
                    AttrValue::U64(u64::from(c.policy_version)),
                ),
            ];
            self.inner.pipeline.push_control(
                self.inner,
                self.control_record(CONSENT_CHANGED_EVENT, c.subject, attributes, c.time),
            );
        }
    }

    fn deletion_request(
        &self,
        key: SubjectKey,
        categories: CategorySet,
        source: &ConsentSource,
    ) -> LogRecord {
        let names: Vec<String> = categories
            .iter()
            .map(|c| self.inner.names.name(c).into_owned())
            .collect();
        let attributes = vec![
            Attribute::new(
                "telemetry.deletion.categories",
                AttrValue::from(names.join(",")),
            ),
            Attribute::new("telemetry.deletion.reason", "consent_revoked"),
            Attribute::new(
                "telemetry.consent.source",
                AttrValue::from(source.as_str().to_owned()),
            ),
        ];
        self.control_record(DELETION_REQUEST_EVENT, key, attributes, SystemTime::now())
    }

    fn control_record(
        &self,
        name: &'static str,
        subject: SubjectKey,
        attributes: Vec<Attribute>,
        time: SystemTime,
    ) -> LogRecord {
        LogRecord {
            time,
            event_name: Cow::Borrowed(name),
            category: Category::TELEMETRY,
            severity: Severity::Info,
            body: None,
            schema_version: 1,
            attributes,
            dropped_attributes: 0,
            trace: None,
            probability: 1.0,
            subject: Some(subject),
            key_id: None,
        }
    }
}
