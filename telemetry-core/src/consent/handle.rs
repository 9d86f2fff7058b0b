//! [`Consent`]: the service's handle to grant, revoke and inspect consent,
//! with the audit records and deletion requests each change exports.

use std::time::{Duration, SystemTime};

use crate::category::{Category, CategorySet};
use crate::consent::CONSENT_CHANGED_EVENT;
use crate::consent::audit::{ConsentChange, ConsentSource};
use crate::consent::coverage::CoverageSnapshot;
use crate::consent::fleet::Outcome;
use crate::consent::policy::{self, ConsentState};
use crate::consent::records::{control_record, deletion_record};
use crate::consent::registry::{Backend, Change};
use crate::consent::shared::{ChangeReceipt, FleetAck, Freshness};
use crate::error::ConsentError;
use crate::export::Attribute;
use crate::instance::Inner;
use crate::subject::SubjectKey;
use crate::value::AttrValue;

/// The source a store recorded, back as a [`ConsentSource`].
fn source_named(name: String) -> ConsentSource {
    match name.as_str() {
        "user" => ConsentSource::User,
        "operator" => ConsentSource::Operator,
        "import" => ConsentSource::Import,
        _ => ConsentSource::Other(name.into()),
    }
}

/// Grants, revokes and inspects consent. Get it from
/// [`Telemetry::consent`](crate::Telemetry::consent); use it from any thread.
///
/// A change takes effect for the very next record on every thread of this
/// process: the hot path reads the subject's consent mask from one atomic.
/// With a shared consent store, other processes apply it when the store's
/// feed reaches them.
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
    ///
    /// With a shared store the grant is committed first and takes effect
    /// here once committed; other processes apply it when the store's feed
    /// reaches them.
    pub fn grant(
        &self,
        subject: &str,
        categories: impl Into<CategorySet>,
    ) -> Result<ChangeReceipt, ConsentError> {
        self.grant_with(subject, categories, ConsentSource::User)
    }

    /// Like [`grant`](Self::grant), recording who made the change.
    pub fn grant_with(
        &self,
        subject: &str,
        categories: impl Into<CategorySet>,
        source: ConsentSource,
    ) -> Result<ChangeReceipt, ConsentError> {
        let key = self.inner.consent().key_of(subject);
        self.change(key, categories.into(), Change::Grant, &source)
    }

    /// Like [`grant_with`](Self::grant_with) for a subject known only by its
    /// pseudonymous key (imports and sync jobs that never see raw ids).
    pub fn grant_key(
        &self,
        subject: SubjectKey,
        categories: impl Into<CategorySet>,
        source: ConsentSource,
    ) -> Result<ChangeReceipt, ConsentError> {
        self.change(subject, categories.into(), Change::Grant, &source)
    }

    /// The subject revokes (or refuses) `categories`.
    ///
    /// A memory operation plus the store write: it never waits for an
    /// export. When it returns, nothing more of this subject in these
    /// categories is exported from this process: records still buffered are
    /// purged (unless the policy keeps the category on revocation), records
    /// captured before the revocation are dropped even if consent is
    /// granted again, a batch already handed to an exporter is filtered
    /// again before its next attempt (`Batch::is_current`), and a deletion
    /// request is queued for downstream stores. If the store cannot persist
    /// the change, the revocation still applies in memory and the error is
    /// returned (a shared store's revocation is then retried until it is
    /// committed).
    ///
    /// With a shared store, the other processes apply it when the store's
    /// feed reaches them (or refuse every category that requires consent
    /// once their view is older than `max_staleness`); use
    /// [`wait_applied`](Self::wait_applied) to wait until they all have.
    pub fn revoke(
        &self,
        subject: &str,
        categories: impl Into<CategorySet>,
    ) -> Result<ChangeReceipt, ConsentError> {
        self.revoke_with(subject, categories, ConsentSource::User)
    }

    /// Like [`revoke`](Self::revoke), recording who made the change.
    pub fn revoke_with(
        &self,
        subject: &str,
        categories: impl Into<CategorySet>,
        source: ConsentSource,
    ) -> Result<ChangeReceipt, ConsentError> {
        let key = self.inner.consent().key_of(subject);
        self.change(key, categories.into(), Change::Deny, &source)
    }

    /// Like [`revoke_with`](Self::revoke_with) for a subject known only by
    /// its pseudonymous key.
    pub fn revoke_key(
        &self,
        subject: SubjectKey,
        categories: impl Into<CategorySet>,
        source: ConsentSource,
    ) -> Result<ChangeReceipt, ConsentError> {
        self.change(subject, categories.into(), Change::Deny, &source)
    }

    /// The subject revokes every category that requires consent (for
    /// example on account deletion).
    pub fn revoke_all(&self, subject: &str) -> Result<ChangeReceipt, ConsentError> {
        let required = self.inner.consent().policy.required_set();
        self.revoke_with(subject, required, ConsentSource::User)
    }

    /// Grants or revokes, exports the audit entries and (for a revocation)
    /// purges and queues the deletion request. Each happens once per
    /// change, here: other processes sharing the store only apply it.
    fn change(
        &self,
        key: SubjectKey,
        categories: CategorySet,
        change: Change,
        source: &ConsentSource,
    ) -> Result<ChangeReceipt, ConsentError> {
        let registry = self.inner.consent();
        let deleted = match change {
            Change::Deny => CategorySet::from_bits(
                categories.bits()
                    & !registry.policy.keep_on_revoke_set().bits()
                    & registry.policy.required_set().bits(),
            ),
            Change::Grant => CategorySet::EMPTY,
        };
        let (outcome, result) = match &registry.backend {
            Backend::Local(store) => {
                match registry.change_local(&**store, key, categories, change, source) {
                    Ok(changes) => (Outcome::local(changes), Ok(())),
                    // A failed grant changed nothing; a failed revocation
                    // is in force and its changes are not known: the
                    // audit entries are not exported.
                    Err(e) => (Outcome::local(Vec::new()), Err(e)),
                }
            }
            Backend::Shared(_) => {
                let deletion = (!deleted.is_empty()).then_some(deleted);
                registry.change_shared(
                    key,
                    categories,
                    change,
                    source,
                    self.inner.names(),
                    deletion,
                )
            }
        };
        if change == Change::Grant && result.is_err() {
            return result.map(|()| ChangeReceipt::default());
        }
        if change == Change::Deny {
            // Purge even if persisting failed: the revocation applies in
            // memory.
            self.inner.pipeline().purge(self.inner, key);
        }
        self.export_audit(&outcome.changes);
        if !deleted.is_empty() {
            registry.counts.deletion_requested(deleted);
            let record = deletion_record(
                key,
                &self.category_names(deleted),
                source.as_str(),
                SystemTime::now(),
            );
            match outcome.outbox {
                Some(id) => self.inner.pipeline().push_outbox(self.inner, record, id.0),
                None => self.inner.pipeline().push_control(self.inner, record),
            }
        }
        result.map(|()| ChangeReceipt {
            change: outcome.change,
        })
    }

    /// Loads the subject's choices from a shared store in the background,
    /// so they are known by the time its first records come (call it when
    /// a request starts). Until they arrive the subject's records are
    /// fail-closed: exempt categories only, anonymously. Does nothing with
    /// a local store, which holds every subject.
    ///
    /// Returns whether the choices are known already (always `true` with a
    /// local store): a request handler that must not lose its first
    /// records waits with [`prefetch_within`](Self::prefetch_within) only
    /// when this says `false`. Never blocks.
    pub fn prefetch(&self, subject: &str) -> bool {
        if !self.inner.consent().shared {
            return true;
        }
        let key = self.inner.consent().key_of(subject);
        !self.inner.consent().state_for(key).unconfirmed()
    }

    /// Like [`prefetch`](Self::prefetch), but waits (at most `timeout`)
    /// until the choices are loaded. Blocks: from async code call it on a
    /// blocking thread.
    pub fn prefetch_within(&self, subject: &str, timeout: Duration) -> Result<(), ConsentError> {
        let key = self.inner.consent().key_of(subject);
        self.inner.consent().load_now(key, timeout)
    }

    /// Waits (at most `timeout`) until every live process sharing the
    /// consent store has applied the change `receipt` names: for services
    /// that confirm an erasure to the person. Returns at once with a local
    /// store or a receipt without a change.
    pub fn wait_applied(
        &self,
        receipt: &ChangeReceipt,
        timeout: Duration,
    ) -> Result<FleetAck, ConsentError> {
        match (self.inner.consent().fleet(), receipt.change) {
            (Some(view), Some(change)) => view.store().wait_applied(change, timeout),
            _ => Ok(FleetAck { replicas: 1 }),
        }
    }

    /// How fresh this process's view of a shared store is (always current
    /// with a local store).
    pub fn freshness(&self) -> Freshness {
        self.inner.consent().freshness()
    }

    fn category_names(&self, categories: CategorySet) -> String {
        let names: Vec<String> = categories
            .iter()
            .map(|c| self.inner.names().name(c).into_owned())
            .collect();
        names.join(",")
    }

    /// The subject's state for `category`.
    ///
    /// With a shared store, a subject whose choices are not cached is
    /// loaded first (waiting at most 2 seconds); if they cannot be loaded,
    /// a category that requires consent reads as denied (what recording
    /// does meanwhile).
    pub fn state(&self, subject: &str, category: Category) -> ConsentState {
        let key = self.inner.consent().key_of(subject);
        if self.inner.consent().shared
            && self
                .inner
                .consent()
                .load_now(key, Duration::from_secs(2))
                .is_err()
            && self.inner.consent().required() & category.mask() != 0
        {
            return ConsentState::Denied;
        }
        let state = self
            .inner
            .consent()
            .policy
            .state(self.inner.consent().choices(key), category);
        // What the gate would admit has the last word (`DO_NOT_TRACK`
        // among others): a state that allows but is not admitted is denied.
        if state != ConsentState::Exempt
            && state.allows()
            && self.inner.consent().mask_of(key) & category.mask() == 0
        {
            return ConsentState::Denied;
        }
        state
    }

    /// Whether records of `category` would be kept for this subject now.
    pub fn allows(&self, subject: &str, category: Category) -> bool {
        let key = self.inner.consent().key_of(subject);
        self.inner.consent().mask_of(key) & category.mask() != 0
    }

    /// The pseudonymous key the library uses for `subject`.
    pub fn subject_key(&self, subject: &str) -> SubjectKey {
        self.inner.consent().key_of(subject)
    }

    /// The most recent consent changes (bounded; oldest first).
    pub fn audit_trail(&self) -> Vec<ConsentChange> {
        self.inner.consent().audit.snapshot()
    }

    /// The subject's consent history, oldest first: at most `limit` of
    /// the most recent changes of their recorded choices, by pseudonymous
    /// key only (for a privacy page that shows a person what they chose
    /// and when). From the shared store's audit trail when it keeps one
    /// (every replica's changes, read within 2 seconds; the states are
    /// given under the current policy); otherwise from this process's
    /// bounded in-memory [`audit_trail`](Self::audit_trail), which holds
    /// the changes made since the process started, as they were recorded.
    pub fn history(&self, subject: &str, limit: usize) -> Result<Vec<ConsentChange>, ConsentError> {
        let registry = self.inner.consent();
        let key = registry.key_of(subject);
        if let Some(view) = registry.fleet()
            && let Some(stored) = view.store.history(key, limit, Duration::from_secs(2))?
        {
            let policy = &registry.policy;
            let state = |c: Category, choice: Option<bool>| {
                let bit = CategorySet::from(c);
                let choices = match choice {
                    Some(true) => crate::subject::Choices {
                        granted: bit,
                        denied: CategorySet::EMPTY,
                    },
                    Some(false) => crate::subject::Choices {
                        granted: CategorySet::EMPTY,
                        denied: bit,
                    },
                    None => crate::subject::Choices::default(),
                };
                policy.state(choices, c)
            };
            return Ok(stored
                .into_iter()
                .map(|s| ConsentChange {
                    subject: key,
                    category: s.category,
                    old: state(s.category, s.old),
                    new: state(s.category, s.new),
                    source: source_named(s.source),
                    policy_version: s.policy_version,
                    time: s.time,
                })
                .collect());
        }
        let mut mine: Vec<ConsentChange> = registry
            .audit
            .snapshot()
            .into_iter()
            .filter(|c| c.subject == key)
            .collect();
        let excess = mine.len().saturating_sub(limit);
        mine.drain(..excess);
        Ok(mine)
    }

    /// Grants and revocations so far, per category: `(category, grants, revocations)`.
    pub fn change_counts(&self) -> Vec<(Category, u64, u64)> {
        self.inner.consent().counts.totals()
    }

    /// Consent coverage of the current period.
    pub fn coverage(&self) -> CoverageSnapshot {
        self.inner.consent().coverage.snapshot()
    }

    /// The consent policy in force: which categories are exempt, which
    /// require consent and with which default.
    pub fn policy(&self) -> &'t policy::ConsentPolicy {
        &self.inner.consent().policy
    }

    /// Whether `DO_NOT_TRACK` is in force.
    pub fn do_not_track(&self) -> bool {
        self.inner.consent().do_not_track
    }

    /// Frees the memory of subjects with no recorded choice and no open
    /// scope. Closing a subject's last scope does this already; the export
    /// worker sweeps every 10 seconds for the rest.
    pub fn evict_idle(&self) {
        self.inner.consent().evict_idle();
    }

    /// Number of subjects currently held in memory.
    pub fn subjects_in_memory(&self) -> usize {
        self.inner.consent().len()
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
                    AttrValue::from(self.inner.names().name(c.category).into_owned()),
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
            self.inner.pipeline().push_control(
                self.inner,
                control_record(CONSENT_CHANGED_EVENT, c.subject, attributes, c.time),
            );
        }
    }
}
