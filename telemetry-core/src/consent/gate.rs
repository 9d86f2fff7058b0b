//! The admission gate: the one place that decides whether a record is kept,
//! for every record path — typed and ad-hoc events, spans, macro calls, the
//! `tracing` layer, metric measurements, and the consent a service sends
//! on to the next hop.
//!
//! The decision, in order; the first refusal is counted by cause and
//! category and returned:
//! 1. **Consent** ([`Inner::admit`]): the subject's effective mask (its
//!    choices under the policy, `DO_NOT_TRACK` included) narrowed by what
//!    the context withholds (an upstream service's consent), tested against
//!    the category's bit. One thread-local read and one atomic load for the
//!    current subject. Cause `consent`.
//! 2. **Enabled**: telemetry is not disabled (`OTEL_SDK_DISABLED`) or shut
//!    down. Cause `disabled`.
//! 3. **Sampling** ([`Inner::admit_event`], [`Inner::admit_span`]): by the
//!    trace id, parent-based, errors kept. Cause `sampling`. Metric
//!    measurements are not sampled: they are aggregated.
//! 4. **Rate limit**, per category. Cause `rate_limit`.
//!
//! What the gate admits says whose record it is and how it may identify
//! them ([`Consented`]): a record admitted only because its category is
//! exempt is **anonymous** — no subject key, no hashed values — unless the
//! subject granted that category explicitly; it also carries the consent
//! version at capture, which the export worker checks again.

use std::sync::atomic::Ordering;

use crate::category::{Category, CategorySet};
use crate::export::Severity;
use crate::health::drops::DropCause;
use crate::instance::Inner;
#[cfg(feature = "tracing")]
use crate::subject::context::fast_span;
use crate::subject::context::{Context, fast_subject, fast_withheld, with_fast_subject};
use crate::subject::state::Hot;
use crate::subject::{SubjectKey, SubjectState};
use crate::trace::{SpanContext, SpanDecision, TraceId, UnsampledContext, ids_from, next_random};

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
    /// The subject's pseudonymous key, if the record has a subject and may
    /// identify it (`None` in an anonymous record).
    pub(crate) subject: Option<SubjectKey>,
    /// The subject's consent version at capture (0 without a subject).
    pub(crate) version: u64,
    /// Admitted only because the category is exempt: the record carries no
    /// subject key and no hashed value.
    pub(crate) anonymous: bool,
}

/// What the gate decided for a span.
pub(crate) enum SpanAdmission {
    /// Refused (counted): nothing at all, not even a context.
    Off,
    /// Sampled out or rate limited (counted): a context for children to
    /// follow (its ids made when asked for), nothing recorded.
    Unsampled(UnsampledContext),
    /// Recorded: its context, parent, consent and start time.
    Recording {
        ctx: SpanContext,
        parent: Option<SpanContext>,
        consented: Consented,
        start_mono: u64,
    },
}

/// What the gate decided for an event it admitted.
#[derive(Clone, Copy)]
pub(crate) struct EventAdmission {
    pub(crate) consented: Consented,
    /// The span it happens in.
    pub(crate) span: Option<SpanContext>,
    pub(crate) probability: f64,
    pub(crate) mono: u64,
}

impl Inner {
    /// Whether recording is on (not disabled, not shut down).
    #[inline]
    pub(crate) fn check_enabled(&self) -> Result<(), DropCause> {
        if self.enabled().load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err(DropCause::Disabled)
        }
    }

    /// Steps 1 and 2 for a record of `category` about `who`: what they
    /// admit, or the cause they refused for (already counted).
    #[inline(always)]
    pub(crate) fn admit(&self, category: Category, who: Who<'_>) -> Result<Consented, DropCause> {
        match who {
            Who::Current => self.admit_current(category),
            Who::Id(id) => self.admit_id(category, id),
            Who::In(ctx) => {
                let state = ctx
                    .subject
                    .as_ref()
                    .map(|h| &*h.0)
                    .filter(|s| s.owner == self.id());
                self.decide(
                    self.hot_of(state, false),
                    state,
                    None,
                    ctx.withheld,
                    category,
                )
            }
        }
    }

    /// [`admit`](Self::admit) for the current context's subject: the hot
    /// path, one thread-local read and the subject's masks.
    #[inline(always)]
    pub(crate) fn admit_current(&self, category: Category) -> Result<Consented, DropCause> {
        // SAFETY: `decide` only reads the state and returns; it never
        // touches the current context.
        let (state, withheld) = unsafe { fast_subject(self.nonzero_id()) };
        // One copy of the decision for each case, so that neither tests
        // the subject again.
        match state {
            Some(s) => self.decide(&s.hot, state, None, withheld, category),
            None => self.decide(
                self.consent().no_subject_hot(),
                None,
                None,
                withheld,
                category,
            ),
        }
    }

    /// [`admit`](Self::admit) for an explicit subject id: its pseudonymous
    /// key is computed, and its state read if it is in memory.
    #[inline(never)]
    fn admit_id(&self, category: Category, id: &str) -> Result<Consented, DropCause> {
        let key = self.consent().key_of(id);
        let withheld = fast_withheld();
        if self.consent().shared {
            // A shared store's cache: a subject not in it is asked for,
            // and fail-closed until its choices arrive.
            let state = self.consent().state_for(key);
            return self.decide(&state.hot, Some(&state), Some(key), withheld, category);
        }
        self.consent().with_state(key, |state| {
            self.decide(
                self.hot_of(state, true),
                state,
                Some(key),
                withheld,
                category,
            )
        })
    }

    /// The consent check alone, for the current context.
    #[inline(always)]
    pub(crate) fn check(&self, category: Category) -> Result<(), DropCause> {
        self.admit_current(category).map(|_| ())
    }

    /// The whole gate for an event of `category`: consent for `who`, then
    /// sampling (errors kept unless the sampler says otherwise, by the
    /// trace of the span it happens in, else at random), then the rate
    /// limit. `span` gives that span, read only once consent allows.
    #[inline]
    pub(crate) fn admit_event(
        &self,
        category: Category,
        severity: Severity,
        who: Who<'_>,
        span: impl FnOnce() -> Option<SpanContext>,
    ) -> Option<EventAdmission> {
        let consented = self.admit(category, who).ok()?;
        self.sample_event(category, severity, consented, span)
    }

    /// Steps 3 and 4 of [`admit_event`](Self::admit_event) for an event
    /// whose consent the gate admitted already (`consented`): sampling,
    /// then the rate limit.
    #[inline]
    pub(crate) fn sample_event(
        &self,
        category: Category,
        severity: Severity,
        consented: Consented,
        span: impl FnOnce() -> Option<SpanContext>,
    ) -> Option<EventAdmission> {
        // The span is read only now: a denied event touches nothing more.
        let span = span();
        let is_error = category == Category::ERRORS || severity >= Severity::Error;
        let (kept, probability) = if is_error && self.sampler().keep_errors {
            (true, 1.0)
        } else {
            let kept = match span {
                Some(s) => self.sampler().sample_trace(category, s.trace_id),
                None => self.sampler().sample_random(category),
            };
            (kept, self.sampler().probability(category))
        };
        if !kept {
            self.drops().count(DropCause::Sampling, category, 1);
            return None;
        }
        let mono = self.clock().mono();
        if !self.sampler().admit(category, self.now_secs(mono)) {
            self.drops().count(DropCause::RateLimit, category, 1);
            return None;
        }
        Some(EventAdmission {
            consented,
            span,
            probability,
            mono,
        })
    }

    /// The whole gate for a span of `category` about the current subject,
    /// a child of what `parent` gives (read only once consent allows): a
    /// new root when it gives nothing.
    #[inline(always)]
    pub(crate) fn admit_span(
        &self,
        category: Category,
        parent: impl FnOnce() -> Option<SpanContext>,
    ) -> SpanAdmission {
        let Ok(consented) = self.admit(category, Who::Current) else {
            return SpanAdmission::Off;
        };
        self.sample_new_span(category, consented, parent)
    }

    /// Steps 3 and 4 for a span whose consent the gate has admitted
    /// already (`consented`; an instrumented call checks consent before it
    /// reads anything): a child of what `parent` gives, else a new root.
    #[inline(always)]
    pub(crate) fn sample_new_span(
        &self,
        category: Category,
        consented: Consented,
        parent: impl FnOnce() -> Option<SpanContext>,
    ) -> SpanAdmission {
        let parent = parent().or_else(|| self.external_parent());
        // One draw of the generator gives both ids (see `ids_from`); a
        // root is decided on the draw alone, which is its trace id's low
        // half, the bits every sampling rule reads.
        let draw = next_random();
        let decided_on = parent.map_or(TraceId(u128::from(draw)), |p| p.trace_id);
        let decision = self.sample_span(
            category,
            decided_on,
            parent.map(|p| (p.sampled, p.probability)),
        );
        match decision {
            Ok((probability, start_mono)) => {
                let (new_trace, span_id) = ids_from(draw);
                let ctx = SpanContext {
                    trace_id: parent.map_or(new_trace, |p| p.trace_id),
                    span_id,
                    sampled: true,
                    probability,
                    remote: false,
                };
                SpanAdmission::Recording {
                    ctx,
                    parent,
                    consented,
                    start_mono,
                }
            }
            // Sampled out: the ids are made only if something asks.
            Err(_) => SpanAdmission::Unsampled(UnsampledContext {
                draw,
                trace: parent.map(|p| p.trace_id),
                probability: parent.map_or(self.sampler().probability(category), |p| p.probability),
            }),
        }
    }

    /// Steps 3 and 4 for a span of `category` in `trace_id`: follows the
    /// parent's decision `(sampled, probability)` if there is a parent.
    /// Gives the probability to record and the start time, or the cause
    /// (counted).
    #[inline(always)]
    pub(crate) fn sample_span(
        &self,
        category: Category,
        trace_id: TraceId,
        parent: Option<(bool, f64)>,
    ) -> Result<(f64, u64), DropCause> {
        let (sampled, probability) = match parent {
            Some(p) => p,
            None => (
                self.sampler().sample_trace(category, trace_id),
                self.sampler().probability(category),
            ),
        };
        if !sampled {
            self.drops().count(DropCause::Sampling, category, 1);
            return Err(DropCause::Sampling);
        }
        let mono = self.clock().mono();
        if !self.sampler().admit(category, self.now_secs(mono)) {
            self.drops().count(DropCause::RateLimit, category, 1);
            return Err(DropCause::RateLimit);
        }
        Ok((probability, mono))
    }

    /// The gate for what the `tracing` layer sees, before the span or
    /// event exists: consent for the current subject, then, for a span,
    /// its parent's sampling decision (a child of a sampled-out span is
    /// refused and counted; a root is sampled when it is created).
    #[cfg(feature = "tracing")]
    #[inline]
    pub(crate) fn admit_tracing(&self, category: Category, is_span: bool) -> bool {
        if self.admit(category, Who::Current).is_err() {
            return false;
        }
        if is_span
            && let Some(parent) = fast_span()
            && !parent.sampled
        {
            self.drops().count(DropCause::Sampling, category, 1);
            return false;
        }
        true
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
            Who::Current => with_fast_subject(self.nonzero_id(), |s, withheld| {
                s.map_or(self.consent().no_subject_mask(), SubjectState::allowed) & !withheld
            }),
            Who::Id(id) => {
                let key = self.consent().key_of(id);
                self.consent().mask_of(key) & !fast_withheld()
            }
            Who::In(ctx) => {
                let state = ctx
                    .subject
                    .as_ref()
                    .map(|h| &*h.0)
                    .filter(|s| s.owner == self.id());
                state.map_or(self.consent().no_subject_mask(), SubjectState::allowed)
                    & !ctx.withheld
            }
        };
        CategorySet::from_bits(mask)
    }

    /// Counts a refusal with a shared store, where the cause may be that
    /// the choices are unconfirmed (unless the context withheld the
    /// category: `mask` allows it). Out of line, so that the decision
    /// inlined into every record path stays small.
    #[cold]
    #[inline(never)]
    fn refuse_shared(
        &self,
        state: Option<&SubjectState>,
        named: bool,
        mask: u64,
        category: Category,
    ) -> DropCause {
        let cause = if mask & category.mask() == 0 {
            self.consent().refusal(state, named, category)
        } else {
            DropCause::Consent
        };
        self.refuse(cause, category)
    }

    /// Counts a refusal by consent (`mask`: the subject's, just read).
    #[inline(always)]
    fn refuse_consent(
        &self,
        state: Option<&SubjectState>,
        key: Option<SubjectKey>,
        mask: u64,
        category: Category,
    ) -> DropCause {
        if self.shared_store() {
            return self.refuse_shared(state, key.is_some(), mask, category);
        }
        self.refuse(DropCause::Consent, category)
    }

    /// Counts a refusal.
    #[inline(always)]
    fn refuse(&self, cause: DropCause, category: Category) -> DropCause {
        self.drops().count(cause, category, 1);
        cause
    }

    /// The masks a record about `state` is decided by: the subject's, or
    /// the registry's for no subject, or for a `named` subject not in
    /// memory.
    fn hot_of<'a>(&'a self, state: Option<&'a SubjectState>, named: bool) -> &'a Hot {
        match state {
            Some(s) => &s.hot,
            None if named => self.consent().absent_hot(),
            None => self.consent().no_subject_hot(),
        }
    }

    /// Consent and enabled for a record of `category` about subject
    /// `state` (none: a record without a subject, or of a subject `key` not
    /// in memory, which has no choices), by the masks in `hot` (see
    /// [`hot_of`](Self::hot_of)). Only what the denied path needs is read
    /// before the check: the mask, not the version.
    #[inline(always)]
    fn decide(
        &self,
        hot: &Hot,
        state: Option<&SubjectState>,
        key: Option<SubjectKey>,
        withheld: u64,
        category: Category,
    ) -> Result<Consented, DropCause> {
        let refused = |mask: u64| mask & !withheld & category.mask() == 0;
        // Consent first, on the mask alone: a refusal needs no version.
        let mask = hot.allowed.load(Ordering::Relaxed);
        if refused(mask) {
            return Err(self.refuse_consent(state, key, mask, category));
        }
        // A record without a subject in memory has no revocations to be
        // compared with: its version is 0, with no load. A subject's is
        // read before its mask is read again (see `Hot::admission`), so a
        // record kept on a mask from before a revocation carries a version
        // from before it; a revocation since the first read refuses it.
        let version = match state {
            Some(_) => {
                let (mask, version) = hot.admission();
                if refused(mask) {
                    return Err(self.refuse_consent(state, key, mask, category));
                }
                version
            }
            None => 0,
        };
        if let Err(cause) = self.check_enabled() {
            return Err(self.refuse(cause, category));
        }
        let identified = hot.identified.load(Ordering::Relaxed);
        let key = match state {
            Some(s) => Some(s.key),
            None => key,
        };
        let anonymous = identified & category.mask() == 0;
        Ok(Consented {
            subject: if anonymous { None } else { key },
            version,
            anonymous,
        })
    }

    /// The consent and sampling decision for a span of `category` in trace
    /// `trace_id` made by a sampler outside this library; follows the
    /// parent's decision if given.
    pub(crate) fn decide_span(
        &self,
        category: Category,
        trace_id: TraceId,
        parent_sampled: Option<bool>,
    ) -> SpanDecision {
        let probability = self.sampler().probability(category);
        if self.admit(category, Who::Current).is_err() {
            return SpanDecision {
                keep: false,
                probability,
            };
        }
        let parent = parent_sampled.map(|sampled| (sampled, probability));
        match self.sample_span(category, trace_id, parent) {
            Ok((probability, _)) => SpanDecision {
                keep: true,
                probability,
            },
            Err(_) => SpanDecision {
                keep: false,
                probability,
            },
        }
    }
}
