//! The registry of subjects' consent for one instance: the subjects held in
//! memory (with the atomic masks the gate reads), how choices change (grants
//! are saved first; revocations apply at once and are numbered), and the
//! store behind them: a local one that holds every subject with choices, or
//! a shared one this registry caches (see `consent/fleet/`).
//!
//! Here: the registry, what it is built from, and the masks a subject's
//! choices give. Why a record was refused, and whether a captured one may
//! still be exported, is in [`refusals`]; setting the masks the gate reads
//! (a narrowing numbered as a revocation) in [`publication`]; the subjects
//! held in memory (created, loaded from a shared store, let go) in
//! [`subjects`]; changes in a local store and their audit entries in
//! [`changes`].

mod changes;
mod publication;
mod refusals;
mod subjects;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::category::{Category, CategorySet};
use crate::consent::audit;
use crate::consent::coverage;
use crate::consent::policy::ConsentPolicy;
use crate::consent::store::ConsentStore;
use crate::consent::view::FleetView;
use crate::error::ConsentError;
use crate::privacy::HashKey;
use crate::subject::state::{Hot, LOADED, SubjectHasher, SubjectMap};
use crate::subject::{Choices, SubjectKey, SubjectState};

pub(crate) use changes::Change;

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
    /// What the gate reads for records without a subject, in the shape of
    /// a subject's (so that it reads either with the same loads): the
    /// categories they may be kept in (the policy's defaults, less the
    /// required ones while a shared store's view is stale), those in which
    /// they carry hashed values (the required ones allowed by default),
    /// and a version that stays 0.
    no_subject: Hot,
    /// The same for a named subject not in memory: with a shared store,
    /// less the required categories (its choices are unknown).
    absent: Hot,
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

/// Where the registry keeps choices, as the builder configured it.
pub(crate) enum StoreSettings {
    /// A local store.
    Local(Box<dyn ConsentStore>),
    /// A shared store.
    Shared(FleetView),
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

/// The categories a named subject not in memory may be recorded in, from
/// those of records without a subject: with a shared store its choices
/// are unknown, so none that require consent (fail closed).
pub(crate) fn absent_mask_of(no_subject: u64, shared: bool, required: u64) -> u64 {
    if shared {
        no_subject & !required
    } else {
        no_subject
    }
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
            no_subject: Hot::new(no_subject_mask, no_subject_identified),
            absent: Hot::new(
                absent_mask_of(no_subject_mask, shared, required),
                no_subject_identified,
            ),
            shared,
            required,
            subject_key,
            owner,
            map: Arc::new(papaya::HashMap::with_hasher(SubjectHasher::default())),
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
        self.no_subject.allowed.load(Ordering::Relaxed)
    }

    /// The masks of records without a subject, as the gate reads them.
    #[inline(always)]
    pub(crate) fn no_subject_hot(&self) -> &Hot {
        &self.no_subject
    }

    /// The masks of a named subject not in memory, as the gate reads them.
    #[inline(always)]
    pub(crate) fn absent_hot(&self) -> &Hot {
        &self.absent
    }

    /// The consent mask of a subject not in memory: the policy's default
    /// with a local store (which holds every subject with choices), the
    /// fail-closed default with a shared one (its choices are unknown).
    #[inline]
    pub(crate) fn absent_mask(&self) -> u64 {
        self.absent.allowed.load(Ordering::Relaxed)
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

    /// Number of subjects held in memory.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// A subject's recorded choices.
    pub(crate) fn choices(&self, key: SubjectKey) -> Choices {
        match self.map.pin().get(&key) {
            Some(s) => s.choices.lock().map(|c| *c).unwrap_or_default(),
            None => Choices::default(),
        }
    }
}
