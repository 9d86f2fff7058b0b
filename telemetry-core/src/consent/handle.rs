//! [`Consent`]: the service's handle to grant, revoke and inspect consent,
//! with the audit records and deletion requests each change exports.

use std::borrow::Cow;
use std::time::SystemTime;

use crate::category::{Category, CategorySet};
use crate::consent::audit::{ConsentChange, ConsentSource};
use crate::consent::coverage::CoverageSnapshot;
use crate::consent::policy::{self, ConsentState};
use crate::consent::registry::Change;
use crate::consent::{CONSENT_CHANGED_EVENT, DELETION_REQUEST_EVENT};
use crate::error::ConsentError;
use crate::export::{Attribute, LogRecord, Severity};
use crate::instance::Inner;
use crate::subject::SubjectKey;
use crate::value::AttrValue;

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
        let key = self.inner.consent().key_of(subject);
        let changes =
            self.inner
                .consent()
                .change(key, categories.into(), Change::Grant, &source)?;
        self.export_audit(&changes);
        Ok(())
    }

    /// The subject revokes (or refuses) `categories`.
    ///
    /// A memory operation plus the store write: it never waits for an
    /// export. When it returns, nothing more of this subject in these
    /// categories is exported: records still buffered are purged (unless the
    /// policy keeps the category on revocation), records captured before
    /// the revocation are dropped even if consent is granted again, a batch
    /// already handed to an exporter is filtered again before its next
    /// attempt (`Batch::is_current`), and a deletion request is queued for
    /// downstream stores. If the store cannot persist the change, the
    /// revocation still applies in memory and the error is returned.
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
        let key = self.inner.consent().key_of(subject);
        let categories = categories.into();
        let result = self
            .inner
            .consent()
            .change(key, categories, Change::Deny, &source);
        // Purge even if persisting failed: the revocation applies in memory.
        self.inner.pipeline().purge(self.inner, key);
        let changes = match &result {
            Ok(c) => c.clone(),
            Err(_) => Vec::new(),
        };
        self.export_audit(&changes);
        let deleted = CategorySet::from_bits(
            categories.bits()
                & !self.inner.consent().policy.keep_on_revoke_set().bits()
                & self.inner.consent().policy.required_set().bits(),
        );
        if !deleted.is_empty() {
            self.inner
                .pipeline()
                .push_control(self.inner, self.deletion_request(key, deleted, &source));
        }
        result.map(|_| ())
    }

    /// The subject revokes every category that requires consent (for
    /// example on account deletion).
    pub fn revoke_all(&self, subject: &str) -> Result<(), ConsentError> {
        let required = self.inner.consent().policy.required_set();
        self.revoke_with(subject, required, ConsentSource::User)
    }

    /// The subject's state for `category`.
    pub fn state(&self, subject: &str, category: Category) -> ConsentState {
        let key = self.inner.consent().key_of(subject);
        let state = self
            .inner
            .consent()
            .policy
            .state(self.inner.consent().choices(key), category);
        if self.inner.consent().do_not_track && state != ConsentState::Exempt {
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

    /// Grants and revocations so far, per category: `(category, grants, revocations)`.
    pub fn change_counts(&self) -> Vec<(Category, u64, u64)> {
        self.inner.consent().counts.totals()
    }

    /// Consent coverage of the current period.
    pub fn coverage(&self) -> CoverageSnapshot {
        self.inner.consent().coverage.snapshot()
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
            .map(|c| self.inner.names().name(c).into_owned())
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
