//! Why consent refused a record (`consent`, or `unconfirmed` when a shared
//! store could not confirm the subject's choices), and whether a record
//! already captured may still be exported.

use std::sync::atomic::Ordering;

use crate::category::Category;
use crate::consent::view::FleetView;
use crate::health::drops::DropCause;
use crate::subject::{SubjectKey, SubjectState};

use super::ConsentRegistry;

/// Whether a subject's refusal of `category` (decided on a mask read a
/// moment ago) was for want of confirmed choices. The state may have moved
/// on since: its choices arrived, or it was let go from the cache. Choices
/// that arrive are set in the masks before the subject is marked loaded
/// (`publish_loaded`), so a subject still unconfirmed, or one whose masks
/// now allow the category, was refused for want of them. Reads three
/// atomics; takes no lock.
#[cold]
fn refused_unconfirmed(state: &SubjectState, category: Category) -> bool {
    state.evicted.load(Ordering::SeqCst)
        || state.unconfirmed()
        || state.allowed() & category.mask() != 0
}

impl ConsentRegistry {
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
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::category::CategorySet;
    use crate::consent::policy::ConsentPolicy;
    use crate::consent::registry::{RegistrySettings, StoreSettings};
    use crate::consent::shared::{
        ChangeId, Committed, Feed, FleetAck, SharedConsentStore, StoreChange, Stored,
    };
    use crate::error::ConsentError;
    use crate::privacy::HashKey;
    use crate::privacy::{KeyId, SUBJECT_KEY_CONTEXT};
    use crate::subject::Choices;
    use crate::subject::state::{Hot, LOADED};

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
        shared_registry_with(ConsentPolicy::opt_in().require(Category::BUSINESS))
    }

    /// [`shared_registry`] with `policy`.
    fn shared_registry_with(policy: ConsentPolicy) -> ConsentRegistry {
        let view = FleetView::new(
            Box::new(Silent),
            Duration::from_secs(60),
            16,
            Duration::from_secs(1),
        );
        let registry = ConsentRegistry::new(RegistrySettings {
            policy,
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

    /// The masks the gate reads for no subject and for a named subject not
    /// in memory: with a shared store the second never allows a required
    /// category (its choices are unknown), and a stale view takes the
    /// required categories from both, until it is fresh again.
    #[test]
    fn records_without_a_known_subject_follow_the_view() {
        let r = shared_registry_with(ConsentPolicy::opt_out().require(Category::BUSINESS));
        let business = Category::BUSINESS.mask();
        let allows = |hot: &Hot| hot.allowed.load(Ordering::SeqCst) & business != 0;
        assert!(allows(r.no_subject_hot()), "opt-out: no subject allowed");
        assert!(!allows(r.absent_hot()), "an unknown subject fails closed");
        assert_eq!(r.absent_mask(), r.no_subject_mask() & !r.required());
        let stale = |on: bool| {
            r.fleet().unwrap().stale.store(on, Ordering::SeqCst);
            r.publish_no_subject();
        };
        stale(true);
        assert!(!allows(r.no_subject_hot()), "stale: no subject refused");
        assert!(!allows(r.absent_hot()));
        let identified = |hot: &Hot| hot.identified.load(Ordering::SeqCst);
        assert_eq!(identified(r.no_subject_hot()), 0, "stale: none identified");
        assert_eq!(identified(r.absent_hot()), 0);
        stale(false);
        assert_ne!(identified(r.absent_hot()), 0, "fresh: identified again");
        assert!(allows(r.no_subject_hot()), "fresh again");
        assert!(!allows(r.absent_hot()));
        assert_eq!(r.no_subject_hot().version.load(Ordering::SeqCst), 0);
    }

    /// The order in which a load's answer is taken (the choices lock held,
    /// the masks set, then marked loaded): a record refused on the
    /// fail-closed mask meanwhile is `unconfirmed`, never `consent`.
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
            // As the fleet takes a subject's choices: the masks first (as
            // confirmed), then marked loaded.
            let mut held = state.choices.lock().unwrap();
            *held = granted(business);
            r.publish_as(&state, *held, false);
            // The masks allow it; not yet marked loaded.
            assert_eq!(
                r.refusal(Some(&state), false, business),
                DropCause::Unconfirmed,
                "between setting the masks and marking loaded"
            );
            state.load.store(LOADED, Ordering::Release);
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
