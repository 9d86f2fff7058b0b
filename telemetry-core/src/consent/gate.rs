//! The admission gate's consent step: the one place that decides whether a
//! record of a category may be kept for a subject, for every record path
//! (events, spans, macro calls, the `tracing` layer, metric measurements,
//! outgoing propagation).
//!
//! The decision, in order:
//! 1. **Consent**: the subject's effective mask (its choices under the
//!    policy, `DO_NOT_TRACK` included) narrowed by what the context
//!    withholds (an upstream service's consent), tested against the
//!    category's bit. One thread-local read and one atomic load for the
//!    current subject.
//! 2. **Enabled**: telemetry is not disabled (`OTEL_SDK_DISABLED`) or shut
//!    down.
//!
//! A refusal is counted by cause and category before it is returned. What
//! the gate admits carries the subject's pseudonymous key and the consent
//! version at capture, which the export worker checks again (see
//! [`SubjectState::still_allows`](crate::subject::SubjectState)).

use std::sync::atomic::Ordering;

use crate::category::{Category, CategorySet};
use crate::context::{Context, fast_withheld, with_fast_subject};
use crate::drops::DropCause;
use crate::subject::{SubjectKey, SubjectState};
use crate::telemetry::Inner;

/// Whose consent a record is decided under.
#[derive(Copy, Clone)]
pub(crate) enum Who<'a> {
    /// The current context's subject (or none).
    Current,
    /// An explicit subject id (an event's subject field, a `subject = arg`
    /// argument), under the current context's narrowing.
    Id(&'a str),
    /// A captured context (a `Context` about to be attached or injected).
    In(&'a Context),
}

/// What the consent step admitted.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Consented {
    /// The subject's pseudonymous key, if the record has a subject.
    pub(crate) subject: Option<SubjectKey>,
    /// The subject's consent version at capture (0 without a subject).
    pub(crate) version: u64,
}

impl Consented {
    const ANONYMOUS: Consented = Consented {
        subject: None,
        version: 0,
    };
}

impl Inner {
    /// Whether recording is on (not disabled, not shut down).
    #[inline]
    pub(crate) fn check_enabled(&self) -> Result<(), DropCause> {
        if self.enabled.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err(DropCause::Disabled)
        }
    }

    /// The consent step of the gate for a record of `category` about `who`:
    /// what it admits, or the cause it refused for (already counted).
    #[inline]
    pub(crate) fn admit(&self, category: Category, who: Who<'_>) -> Result<Consented, DropCause> {
        let (mask, consented) = match who {
            Who::Current => {
                with_fast_subject(self.id, |s, withheld| self.mask_and_version(s, withheld))
            }
            Who::Id(id) => {
                let key = self.consent.key_of(id);
                let withheld = fast_withheld();
                self.consent.with_state(key, |state| match state {
                    Some(state) => self.mask_and_version(Some(state), withheld),
                    None => (
                        self.consent.no_subject_mask & !withheld,
                        Consented {
                            subject: Some(key),
                            version: 0,
                        },
                    ),
                })
            }
            Who::In(ctx) => {
                let state = ctx
                    .subject
                    .as_ref()
                    .map(|h| &*h.0)
                    .filter(|s| s.owner == self.id);
                self.mask_and_version(state, ctx.withheld)
            }
        };
        // Consent first: the denied path then needs no second load.
        if mask & category.mask() == 0 {
            self.drops.count(DropCause::Consent, category, 1);
            return Err(DropCause::Consent);
        }
        if let Err(cause) = self.check_enabled() {
            self.drops.count(cause, category, 1);
            return Err(cause);
        }
        Ok(consented)
    }

    /// Whether a record of `category` would pass consent for `who` now,
    /// without counting anything (for `Telemetry::enabled` and the like).
    #[inline]
    pub(crate) fn would_admit(&self, category: Category, who: Who<'_>) -> bool {
        self.allowed(who).contains(category) && self.check_enabled().is_ok()
    }

    /// The categories `who` may be recorded in now (consent only).
    #[inline]
    pub(crate) fn allowed(&self, who: Who<'_>) -> CategorySet {
        let mask = match who {
            Who::Current => with_fast_subject(self.id, |s, withheld| {
                s.map_or(self.consent.no_subject_mask, SubjectState::allowed) & !withheld
            }),
            Who::Id(id) => {
                let key = self.consent.key_of(id);
                self.consent.mask_of(key) & !fast_withheld()
            }
            Who::In(ctx) => {
                let state = ctx
                    .subject
                    .as_ref()
                    .map(|h| &*h.0)
                    .filter(|s| s.owner == self.id);
                state.map_or(self.consent.no_subject_mask, SubjectState::allowed) & !ctx.withheld
            }
        };
        CategorySet::from_bits(mask)
    }

    #[inline]
    fn mask_and_version(&self, state: Option<&SubjectState>, withheld: u64) -> (u64, Consented) {
        match state {
            Some(s) => {
                let (mask, version) = s.admission();
                (
                    mask & !withheld,
                    Consented {
                        subject: Some(s.key),
                        version,
                    },
                )
            }
            None => (
                self.consent.no_subject_mask & !withheld,
                Consented::ANONYMOUS,
            ),
        }
    }
}
