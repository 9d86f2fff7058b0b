//! Consent stores that several processes share: the [`SharedConsentStore`]
//! trait a database-backed store implements, and the [`Feed`] through which
//! it tells this process about changes.
//!
//! With a shared store, the store is the system of record and this
//! process holds a bounded cache of it:
//!
//! - a subject's choices are loaded on first sighting (or by
//!   [`Consent::prefetch`](crate::consent::Consent::prefetch)); until they
//!   arrive the subject gets the fail-closed default (only exempt
//!   categories, anonymously), and the refusals are counted as
//!   `unconfirmed`;
//! - every change committed anywhere reaches the process through the feed,
//!   in commit order; a revocation purges what is still buffered;
//! - the store confirms regularly that the view is current; when it cannot
//!   for longer than `max_staleness`, every category that requires consent
//!   is refused on this process (counted as `unconfirmed`) and its
//!   buffered records are dropped, until the view is current again;
//! - a change made here is committed first for a grant and applied first
//!   for a revocation, and its audit entries and deletion request are
//!   exported here only, once per change.

use std::sync::Weak;
use std::time::{Duration, Instant, SystemTime};

use crate::category::{CategoryNames, CategorySet};
use crate::consent::audit::ConsentSource;
use crate::error::ConsentError;
use crate::subject::{Choices, SubjectKey};

/// A change's number in the shared store: changes are numbered in commit
/// order, without gaps. `ChangeId(0)` means "no change yet".
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChangeId(pub u64);

/// What a grant or revocation returns: with a shared store, the number of
/// the committed change, to wait for with
/// [`Consent::wait_applied`](crate::consent::Consent::wait_applied).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeReceipt {
    pub(crate) change: Option<ChangeId>,
}

impl ChangeReceipt {
    /// The committed change (`None` with a local store).
    pub fn change(&self) -> Option<ChangeId> {
        self.change
    }
}

/// One subject's stored choices and the change that last wrote them.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Stored {
    /// The recorded choices (empty for a subject never seen).
    pub choices: Choices,
    /// The change that wrote them (`ChangeId(0)` if none).
    pub change: ChangeId,
}

/// A consent change to commit: categories granted or denied by one
/// subject, applied by the store to the subject's stored choices (not to
/// this process's possibly older copy), with what the change emits.
#[derive(Debug)]
pub struct StoreChange<'a> {
    /// The subject.
    pub subject: SubjectKey,
    /// Categories granted (removed from the denied ones).
    pub grant: CategorySet,
    /// Categories denied (removed from the granted ones).
    pub deny: CategorySet,
    /// Who made the change.
    pub source: &'a ConsentSource,
    /// The consent policy version in force.
    pub policy_version: u32,
    /// When the change was made.
    pub time: SystemTime,
    /// Names of the categories, for audit rows.
    pub names: &'a CategoryNames,
    /// Categories a deletion request goes out for (a revocation of
    /// categories whose data is not kept): the store keeps it in an outbox
    /// until this process reports it delivered.
    pub deletion: Option<CategorySet>,
}

/// What a committed change did.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// Its number.
    pub change: ChangeId,
    /// The subject's choices before it.
    pub old: Choices,
    /// The subject's choices after it.
    pub new: Choices,
    /// The outbox entry of its deletion request, if it has one.
    pub outbox: Option<OutboxId>,
}

/// An outbox entry (a deletion request waiting to be delivered).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OutboxId(pub u64);

/// A deletion request the store holds for delivery (see
/// [`SharedConsentStore::claim_undelivered`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The entry.
    pub id: OutboxId,
    /// The change that made it.
    pub change: ChangeId,
    /// The subject.
    pub subject: SubjectKey,
    /// Names of the categories whose data is to be deleted.
    pub categories: Vec<String>,
    /// Who made the change (`user`, `operator`, ...).
    pub source: String,
    /// When the change was made.
    pub time: SystemTime,
}

/// The live replicas that applied a change (see
/// [`Consent::wait_applied`](crate::consent::Consent::wait_applied)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetAck {
    /// Live replicas (heartbeat within the store's liveness window), all
    /// of which applied the change.
    pub replicas: usize,
}

/// A consent store several processes share, such as the PostgreSQL store
/// in `telemetry-consent-postgres`.
///
/// The pipeline calls it from the threads that change consent and from its
/// own threads, never from the record path: [`request_load`](Self::request_load) is the only call made while recording, and it must
/// not block.
pub trait SharedConsentStore: Send + Sync + 'static {
    /// Connects and starts following changes. Called once by
    /// `TelemetryBuilder::build`; an error fails the build. From then on
    /// the store calls [`Feed::apply`] for every change committed anywhere
    /// after the position it starts from, in order, and [`Feed::confirm`]
    /// whenever it has checked that nothing newer exists.
    fn start(&self, feed: Feed) -> Result<(), ConsentError>;

    /// Asks for a subject's choices, answered through [`Feed::loaded`].
    /// Must not block. Returns `false` if it cannot take the request (its
    /// queue is full): the subject stays fail-closed and is asked for
    /// again at its next sighting.
    fn request_load(&self, subject: SubjectKey) -> bool;

    /// Loads a subject's choices now, within `timeout`.
    fn load(&self, subject: SubjectKey, timeout: Duration) -> Result<Stored, ConsentError>;

    /// Commits a change atomically: the subject's new choices, one audit
    /// row per category whose recorded choice changed, the deletion
    /// request's outbox entry, and the change's number. Concurrent commits
    /// for one subject apply one after the other.
    fn commit(&self, change: &StoreChange<'_>) -> Result<Committed, ConsentError>;

    /// Waits until every live replica has applied change `change`, within
    /// `timeout`. An error names how many have not.
    fn wait_applied(&self, change: ChangeId, timeout: Duration) -> Result<FleetAck, ConsentError>;

    /// Deletion requests committed by processes that did not report them
    /// delivered (they stopped first), claimed for this process to send.
    /// Called after start and then about once a minute.
    fn claim_undelivered(&self) -> Result<Vec<OutboxEntry>, ConsentError> {
        Ok(Vec::new())
    }

    /// Reports an outbox entry delivered to every exporter.
    fn delivered(&self, _outbox: OutboxId) {}

    /// The subject's audited consent changes, oldest first, at most
    /// `limit` of the most recent, read within `timeout` (for showing a
    /// person their history). `None` if the store keeps no audit trail it
    /// can query: [`Consent::history`](crate::consent::Consent::history)
    /// then falls back to this process's in-memory trail.
    fn history(
        &self,
        _subject: SubjectKey,
        _limit: usize,
        _timeout: Duration,
    ) -> Result<Option<Vec<StoredChange>>, ConsentError> {
        Ok(None)
    }

    /// Stops following changes (at shutdown). Must return promptly.
    fn stop(&self);
}

/// One audited change of one category, as a shared store keeps it:
/// the recorded choice before and after (`Some(true)` granted,
/// `Some(false)` denied, `None` no answer).
/// [`Consent::history`](crate::consent::Consent::history) turns it into a
/// [`ConsentChange`](crate::consent::ConsentChange) under the current
/// policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredChange {
    /// The category changed.
    pub category: crate::category::Category,
    /// The recorded choice before.
    pub old: Option<bool>,
    /// The recorded choice after.
    pub new: Option<bool>,
    /// Who made the change (`user`, `operator`, ...).
    pub source: String,
    /// The policy version in force.
    pub policy_version: u32,
    /// When it was committed.
    pub time: SystemTime,
}

/// How fresh this process's view of a shared store is (see
/// [`Consent::freshness`](crate::consent::Consent::freshness)).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Freshness {
    /// Whether categories that require consent are refused because the
    /// view could not be confirmed within `max_staleness`.
    pub stale: bool,
    /// The last change this process applied.
    pub applied: ChangeId,
    /// How long ago the view was last confirmed current (`None` if never).
    pub age: Option<Duration>,
}

/// What a [`Feed`] reaches: the telemetry instance (implemented in
/// `consent/fleet/`, so this module stays below it).
pub(crate) trait FeedTarget: Send + Sync {
    fn apply(&self, change: ChangeId, subject: SubjectKey, choices: Choices);
    fn loaded(&self, subject: SubjectKey, result: Result<Stored, ConsentError>);
    fn confirm(&self, through: ChangeId, as_of: Instant);
    fn applied(&self) -> ChangeId;
}

/// The store's way into this process: it applies changes, answers loads
/// and confirms freshness. Cheap to clone; once the telemetry instance is
/// gone every call does nothing and [`is_closed`](Self::is_closed) says so.
#[derive(Clone)]
pub struct Feed {
    pub(crate) target: Weak<dyn FeedTarget>,
    pub(crate) instance_id: Option<String>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl Feed {
    /// Applies a change committed anywhere: `subject`'s choices are now
    /// `choices`. Changes older than what this process already holds for
    /// the subject are ignored; a subject not in the cache is not loaded.
    /// A change that removes categories purges the subject's buffered
    /// records of them.
    pub fn apply(&self, change: ChangeId, subject: SubjectKey, choices: Choices) {
        if let Some(target) = self.target.upgrade() {
            target.apply(change, subject, choices);
        }
    }

    /// Answers [`SharedConsentStore::request_load`]. An error leaves the
    /// subject fail-closed until it is asked for again.
    pub fn loaded(&self, subject: SubjectKey, result: Result<Stored, ConsentError>) {
        if let Some(target) = self.target.upgrade() {
            target.loaded(subject, result);
        }
    }

    /// Confirms that every change up to and including `through` has been
    /// applied, and that nothing newer had been committed at `as_of` (the
    /// moment the store's check began).
    pub fn confirm(&self, through: ChangeId, as_of: Instant) {
        if let Some(target) = self.target.upgrade() {
            target.confirm(through, as_of);
        }
    }

    /// The last change applied (for the replica's acknowledgement).
    pub fn applied(&self) -> ChangeId {
        self.target.upgrade().map_or(ChangeId(0), |t| t.applied())
    }

    /// The resource's `service.instance.id`, if the service set one: a
    /// name for this replica.
    pub fn service_instance_id(&self) -> Option<&str> {
        self.instance_id.as_deref()
    }

    /// Whether the telemetry instance is gone (the store should stop).
    pub fn is_closed(&self) -> bool {
        self.target.strong_count() == 0
    }
}
