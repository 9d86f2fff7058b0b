//! The registry of subjects' consent for one instance: the subjects held in
//! memory (with the atomic masks the gate reads), how choices change (grants
//! are saved first; revocations apply at once and are numbered), and the
//! store behind them: a local one that holds every subject with choices, or
//! a shared one this registry caches (see `consent/fleet.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::category::{Category, CategorySet};
use crate::consent::audit::{self, ConsentChange, ConsentSource};
use crate::consent::coverage;
use crate::consent::policy::ConsentPolicy;
use crate::consent::store::ConsentStore;
use crate::consent::view::FleetView;
use crate::error::ConsentError;
use crate::health::drops::DropCause;
use crate::privacy::HashKey;
use crate::subject::context::SubjectHandle;
use crate::subject::state::{LOADED, LOADING, SubjectMap, UNLOADED, evict_if_idle};
use crate::subject::{Choices, SubjectKey, SubjectState};

/// Where choices are kept.
pub(crate) enum Backend {
    /// A store this process owns: every subject with choices is in memory.
    Local(Box<dyn ConsentStore>),
    /// A store several processes share: the registry is a bounded cache.
    Shared(FleetView),
}

/// All subjects' consent state for one telemetry instance.
pub(crate) struct ConsentRegistry {
    pub(crate) policy: ConsentPolicy,
    pub(crate) do_not_track: bool,
    /// Categories records without a subject may be kept in: the policy's
    /// defaults, less the required ones while a shared store's view is
    /// stale.
    no_subject_mask: AtomicU64,
    /// Categories in which records without a subject (or of a subject with
    /// no choices) carry hashed values: the required ones allowed by default.
    no_subject_identified: AtomicU64,
    /// Whether the store is shared (refusals then tell `unconfirmed` from
    /// `consent`).
    pub(crate) shared: bool,
    /// The categories that require consent.
    required: u64,
    subject_key: HashKey,
    owner: u64,
    pub(crate) map: Arc<SubjectMap>,
    pub(crate) backend: Backend,
    pub(crate) audit: audit::AuditTrail,
    pub(crate) counts: audit::ConsentCounts,
    pub(crate) coverage: coverage::Coverage,
    /// Sequence number of the latest revocation (any subject).
    revisions: AtomicU64,
}

/// Whether a subject's refusal of `category` (decided on a mask read a
/// moment ago) was for want of confirmed choices. The state may have moved
/// on since: its choices arrived, or are arriving right now (whoever
/// takes them holds the choices lock while marking them loaded and setting
/// the masks, so between the two the mask is still the fail-closed one),
/// or it was let go from the cache. Never blocks: a lock held means the
/// masks are being set, and the refusal counts as unconfirmed, as while
/// the view turns stale or fresh.
#[cold]
fn refused_unconfirmed(state: &SubjectState, category: Category) -> bool {
    if state.evicted.load(Ordering::SeqCst) {
        return true;
    }
    let Ok(_settled) = state.choices.try_lock() else {
        return true;
    };
    // A subject whose confirmed choices now allow the category was refused
    // before they were in force: unconfirmed, not consent.
    state.unconfirmed() || state.allowed() & category.mask() != 0
}

/// Where the registry keeps choices, as the builder configured it.
pub(crate) enum StoreSettings {
    /// A local store.
    Local(Box<dyn ConsentStore>),
    /// A shared store.
    Shared(FleetView),
}

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

/// What a registry is built from (validated by the builder).
pub(crate) struct RegistrySettings {
    pub(crate) policy: ConsentPolicy,
    pub(crate) do_not_track: bool,
    pub(crate) subject_key: HashKey,
    /// The instance the registry belongs to.
    pub(crate) owner: u64,
    pub(crate) store: StoreSettings,
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
        let required = policy.required_set().without(Category::TELEMETRY).bits();
        let (backend, shared) = match store {
            StoreSettings::Local(store) => (Backend::Local(store), false),
            StoreSettings::Shared(view) => (Backend::Shared(view), true),
        };
        let registry = ConsentRegistry {
            policy,
            do_not_track,
            no_subject_mask: AtomicU64::new(no_subject_mask),
            no_subject_identified: AtomicU64::new(no_subject_identified),
            shared,
            required,
            subject_key,
            owner,
            map: Arc::new(papaya::HashMap::new()),
            backend,
            audit: audit::AuditTrail::new(audit_capacity),
            counts: audit::ConsentCounts::new(),
            coverage: coverage::Coverage::new(coverage_period_secs, counted),
            revisions: AtomicU64::new(0),
        };
        if let Backend::Local(store) = &registry.backend {
            let map = registry.map.pin();
            for (key, choices) in store.load()? {
                let masks = registry.masks(choices);
                map.insert(
                    key,
                    Arc::new(SubjectState::new(key, owner, choices, masks, LOADED)),
                );
            }
        } else {
            // Nothing is confirmed yet: fail closed until the store is.
            registry.publish_no_subject();
        }
        Ok(registry)
    }

    /// The shared store's view, if the store is shared.
    #[inline]
    pub(crate) fn fleet(&self) -> Option<&FleetView> {
        match &self.backend {
            Backend::Shared(view) => Some(view),
            Backend::Local(_) => None,
        }
    }

    /// Whether a shared store's view is stale (never for a local store).
    #[inline]
    pub(crate) fn is_stale(&self) -> bool {
        self.fleet().is_some_and(FleetView::is_stale)
    }

    /// The categories that require consent.
    #[inline]
    pub(crate) fn required(&self) -> u64 {
        self.required
    }

    /// Categories records without a subject may be kept in now.
    #[inline(always)]
    pub(crate) fn no_subject_mask(&self) -> u64 {
        self.no_subject_mask.load(Ordering::Relaxed)
    }

    /// Categories in which records without a subject carry hashed values.
    #[inline]
    pub(crate) fn no_subject_identified(&self) -> u64 {
        self.no_subject_identified.load(Ordering::Relaxed)
    }

    /// The consent mask of a subject not in memory: the policy's default
    /// with a local store (which holds every subject with choices), the
    /// fail-closed default with a shared one (its choices are unknown).
    #[inline]
    pub(crate) fn absent_mask(&self) -> u64 {
        if self.shared {
            self.no_subject_mask() & !self.required
        } else {
            self.no_subject_mask()
        }
    }

    /// Why a record of `category` was refused by consent, with a shared
    /// store: `unconfirmed` when the store could not confirm the choices
    /// (the view is stale, the subject's choices are still loading or
    /// being set, the subject was let go from the cache, or a subject
    /// named by id is not in the cache), `consent` otherwise. Called only
    /// on the refused path.
    #[inline]
    pub(crate) fn refusal(
        &self,
        state: Option<&SubjectState>,
        named: bool,
        category: Category,
    ) -> DropCause {
        if self.required & category.mask() == 0 {
            return DropCause::Consent;
        }
        let unconfirmed = self.fleet().is_some_and(FleetView::is_unsettled)
            || match state {
                Some(s) => refused_unconfirmed(s, category),
                None => named,
            };
        if unconfirmed {
            DropCause::Unconfirmed
        } else {
            DropCause::Consent
        }
    }

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
        self.no_subject_identified
            .store(identified, Ordering::SeqCst);
        self.no_subject_mask.store(mask, Ordering::SeqCst);
    }

    /// The pseudonymous key of a raw subject id.
    #[inline]
    pub(crate) fn key_of(&self, id: &str) -> SubjectKey {
        SubjectKey(self.subject_key.digest(id.as_bytes()))
    }

    /// The current effective mask of a subject (see
    /// [`absent_mask`](Self::absent_mask) when it is not in memory).
    #[inline]
    pub(crate) fn mask_of(&self, key: SubjectKey) -> u64 {
        self.with_state(key, |s| s.map_or(self.absent_mask(), SubjectState::allowed))
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

    /// Whether a record of `category` about `key` (none: a record without
    /// a subject), captured at consent `version`, may still be exported,
    /// and if not, why (see [`SubjectState::still_allows`]). While a shared
    /// store's view is stale, no record of a category that requires consent
    /// may.
    pub(crate) fn export_check(
        &self,
        key: Option<SubjectKey>,
        category: Category,
        version: u64,
    ) -> Result<(), DropCause> {
        let required = self.required & category.mask() != 0;
        if required && self.is_stale() {
            return Err(DropCause::Unconfirmed);
        }
        let Some(key) = key else {
            return Ok(());
        };
        if self.policy.keep_on_revoke_set().contains(category) {
            return Ok(());
        }
        self.with_state(key, |s| match s {
            Some(s) if s.still_allows(category, version) => Ok(()),
            Some(s) if required && s.unconfirmed() => Err(DropCause::Unconfirmed),
            Some(_) => Err(DropCause::Revoked),
            // Not in memory: with a shared store, evicted from the cache
            // (its choices are not known here any more).
            None if self.shared && required => Err(DropCause::Unconfirmed),
            None if self.no_subject_mask() & category.mask() != 0 => Ok(()),
            None => Err(DropCause::Revoked),
        })
    }

    /// The effective and identified masks of a subject with `choices`.
    pub(crate) fn masks(&self, choices: Choices) -> (u64, u64) {
        (
            self.policy.effective(choices, self.do_not_track),
            self.policy.identified(choices, self.do_not_track),
        )
    }

    /// The masks a subject gets now: from its choices, or fail-closed
    /// (exempt categories only, anonymously) while its choices are
    /// unconfirmed or the shared view is stale.
    fn masks_now(&self, choices: Choices, unconfirmed: bool) -> (u64, u64) {
        let (allowed, identified) = self.masks(choices);
        if unconfirmed || self.is_stale() {
            (allowed & !self.required, 0)
        } else {
            (allowed, identified)
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

    /// The subject's state, created if it is not in memory: with the
    /// policy's default (a local store) or unconfirmed (a shared store,
    /// which is then asked for it; the cache makes room first if it is
    /// full).
    pub(crate) fn state_for(&self, key: SubjectKey) -> Arc<SubjectState> {
        if let Some(state) = self.map.pin().get(&key) {
            if let Some(view) = self.fleet() {
                state.last_used.store(view.now_millis(), Ordering::Relaxed);
            }
            return Arc::clone(state);
        }
        if let Some(view) = self.fleet()
            && self.map.len() >= view.capacity()
        {
            self.make_room(view);
        }
        let map = self.map.pin();
        let state = map
            .get_or_insert_with(key, || {
                let load = if self.shared { UNLOADED } else { LOADED };
                let masks = self.masks_now(Choices::default(), self.shared);
                Arc::new(SubjectState::new(
                    key,
                    self.owner,
                    Choices::default(),
                    masks,
                    load,
                ))
            })
            .clone();
        drop(map);
        if let Some(view) = self.fleet() {
            state.last_used.store(view.now_millis(), Ordering::Relaxed);
        }
        self.request_load(&state);
        state
    }

    /// Asks the shared store for `state`'s choices if nobody has yet.
    pub(crate) fn request_load(&self, state: &SubjectState) {
        if let Some(view) = self.fleet()
            && state
                .load
                .compare_exchange(UNLOADED, LOADING, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            && !view.store().request_load(state.key)
        {
            // Not taken: asked for again at the next sighting.
            let _ =
                state
                    .load
                    .compare_exchange(LOADING, UNLOADED, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    /// Lets go of subjects without an open scope until an eighth of the
    /// cache is free (so a full cache is swept once per eighth of its
    /// size, not on every miss): first those not seen for `keep_idle`,
    /// whose records have left the pipeline; at twice its size, any. The
    /// buffered records of a subject let go are dropped as `unconfirmed`
    /// (whether it revoked since is not known here any more).
    fn make_room(&self, view: &FleetView) {
        let capacity = view.capacity();
        let target = capacity - capacity / 8;
        let now = view.now_millis();
        let keep = u64::try_from(view.keep_idle.as_millis()).unwrap_or(u64::MAX);
        let full = self.map.len() >= capacity.saturating_mul(2);
        let candidates: Vec<Arc<SubjectState>> = self
            .map
            .pin()
            .iter()
            .filter(|(_, s)| {
                s.active.load(Ordering::SeqCst) == 0
                    && (full || now.saturating_sub(s.last_used.load(Ordering::Relaxed)) >= keep)
            })
            .map(|(_, s)| Arc::clone(s))
            .take(capacity / 8 + 1)
            .collect();
        for state in candidates {
            if self.map.len() < target {
                break;
            }
            evict_if_idle(&self.map, &state, true);
        }
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
            // An unconfirmed subject is counted once its choices arrive.
            if !state.unconfirmed() {
                self.coverage.observe(key, state.allowed());
            }
            return SubjectHandle::adopt(state, Arc::downgrade(&self.map));
        }
    }

    /// Removes subjects with no recorded choice and no open scope (closing
    /// a subject's last scope already does; this catches the few a
    /// concurrent consent change kept). A shared store's cache keeps them
    /// until it is full.
    pub(crate) fn evict_idle(&self) {
        if self.shared {
            return;
        }
        let candidates: Vec<Arc<SubjectState>> = self
            .map
            .pin()
            .iter()
            .filter(|(_, s)| s.active.load(Ordering::SeqCst) == 0)
            .map(|(_, s)| Arc::clone(s))
            .collect();
        for state in candidates {
            evict_if_idle(&self.map, &state, false);
        }
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

    /// Number of subjects held in memory.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

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

    /// A subject's recorded choices.
    pub(crate) fn choices(&self, key: SubjectKey) -> Choices {
        match self.map.pin().get(&key) {
            Some(s) => s.choices.lock().map(|c| *c).unwrap_or_default(),
            None => Choices::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::consent::shared::{
        ChangeId, Committed, Feed, FleetAck, SharedConsentStore, StoreChange, Stored,
    };
    use crate::privacy::{KeyId, SUBJECT_KEY_CONTEXT};

    /// A shared store that is never asked anything but loads, which it
    /// takes and never answers: the test plays the feed.
    struct Silent;

    impl SharedConsentStore for Silent {
        fn start(&self, _feed: Feed) -> Result<(), ConsentError> {
            Ok(())
        }
        fn request_load(&self, _subject: SubjectKey) -> bool {
            true
        }
        fn load(&self, _subject: SubjectKey, _timeout: Duration) -> Result<Stored, ConsentError> {
            Err(ConsentError::new("not in this test"))
        }
        fn commit(&self, _change: &StoreChange<'_>) -> Result<Committed, ConsentError> {
            Err(ConsentError::new("not in this test"))
        }
        fn wait_applied(
            &self,
            _change: ChangeId,
            _timeout: Duration,
        ) -> Result<FleetAck, ConsentError> {
            Err(ConsentError::new("not in this test"))
        }
        fn stop(&self) {}
    }

    /// A registry over [`Silent`] whose view is fresh.
    fn shared_registry() -> ConsentRegistry {
        let view = FleetView::new(
            Box::new(Silent),
            Duration::from_secs(60),
            16,
            Duration::from_secs(1),
        );
        let registry = ConsentRegistry::new(RegistrySettings {
            policy: ConsentPolicy::opt_in().require(Category::BUSINESS),
            do_not_track: false,
            subject_key: HashKey::derive(KeyId(0), b"0123456789abcdef", SUBJECT_KEY_CONTEXT),
            owner: 1,
            store: StoreSettings::Shared(view),
            audit_capacity: 16,
            coverage_period_secs: 3600,
            counted: CategorySet::EMPTY,
        })
        .unwrap();
        registry
            .fleet()
            .unwrap()
            .stale
            .store(false, Ordering::SeqCst);
        registry.publish_no_subject();
        registry
    }

    fn granted(category: Category) -> Choices {
        Choices {
            granted: category.into(),
            denied: CategorySet::EMPTY,
        }
    }

    /// The order in which a load's answer is taken (the choices lock held,
    /// marked loaded, then the masks set): a record refused on the
    /// fail-closed mask in between is `unconfirmed`, never `consent`.
    #[test]
    fn a_refusal_while_the_choices_arrive_is_unconfirmed() {
        let r = shared_registry();
        let business = Category::BUSINESS;
        let state = r.state_for(r.key_of("alice"));
        assert!(state.unconfirmed());
        assert_eq!(state.allowed() & business.mask(), 0, "fail-closed");
        assert_eq!(
            r.refusal(Some(&state), false, business),
            DropCause::Unconfirmed,
            "still loading"
        );
        {
            let mut held = state.choices.lock().unwrap();
            *held = granted(business);
            state.load.store(LOADED, Ordering::Release);
            // Marked loaded; the masks are not set yet.
            assert_eq!(
                r.refusal(Some(&state), false, business),
                DropCause::Unconfirmed,
                "between marking loaded and setting the masks"
            );
            r.publish(&state, *held);
        }
        assert_ne!(state.allowed() & business.mask(), 0);
        // Refused on the mask read before the grant was in force.
        assert_eq!(
            r.refusal(Some(&state), false, business),
            DropCause::Unconfirmed,
            "refused before the loaded grant was in force"
        );
    }

    #[test]
    fn a_refusal_by_known_choices_is_consent_and_by_an_evicted_state_unconfirmed() {
        let r = shared_registry();
        let business = Category::BUSINESS;
        let state = r.state_for(r.key_of("bob"));
        {
            let held = state.choices.lock().unwrap();
            state.load.store(LOADED, Ordering::Release);
            r.publish(&state, *held);
        }
        // Loaded, no grant, nothing changing: consent.
        assert_eq!(r.refusal(Some(&state), false, business), DropCause::Consent);
        // An exempt category is never unconfirmed.
        assert_eq!(
            r.refusal(Some(&state), false, Category::TELEMETRY),
            DropCause::Consent
        );
        // A subject named by id and not cached, or let go from the cache:
        // its choices are not known here.
        assert_eq!(r.refusal(None, true, business), DropCause::Unconfirmed);
        state.evicted.store(true, Ordering::SeqCst);
        assert_eq!(
            r.refusal(Some(&state), false, business),
            DropCause::Unconfirmed
        );
    }
}
