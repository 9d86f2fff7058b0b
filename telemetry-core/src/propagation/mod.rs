//! Trace and consent propagation across services: W3C `traceparent` and
//! `tracestate` continue a trace, and a W3C `baggage` member carries the
//! subject's consent, never the subject. It works on any carrier of named
//! text fields ([`Extractor`], [`Injector`]): plain maps here, HTTP headers
//! through the `telemetry-http` crate, Kafka or gRPC metadata through an
//! implementation of the two traits.
//!
//! ```
//! use std::collections::HashMap;
//! use telemetry_core::{Category, Telemetry};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let telemetry = Telemetry::builder().service("frontend", "1.0").build()?;
//! // Calling another service: the current trace and consent go along.
//! let mut outgoing: HashMap<String, String> = HashMap::new();
//! let span = telemetry.span("call.backend", Category::PERFORMANCE);
//! let _in_span = span.enter();
//! telemetry.inject(&mut outgoing);
//!
//! // In the other service: continue the trace under the upstream consent.
//! let incoming = telemetry.extract(&outgoing);
//! let ctx = incoming.apply(telemetry.subject_context("user-7"));
//! let _guard = ctx.attach();
//! # Ok(()) }
//! ```
//!
//! **Consent.** [`Telemetry::inject`] writes the member
//! `telemetry.consent=<category>|<category>…` (names, `-` for none) when a
//! subject scope is open or the context was narrowed: the categories the
//! subject allows here. [`Incoming::apply`] narrows the downstream context
//! to them ([`Context::narrow_consent`]): the upstream consent can only
//! remove categories from what the local policy and the local subject
//! allow, never add any. A category the upstream did not name is withheld.
//!
//! **Untrusted input.** A `traceparent` or `tracestate` that is malformed
//! or over the W3C limits (`tracestate`: 32 members, 512 characters) is
//! ignored as a whole, as if absent. In `baggage`, malformed members other
//! than the consent member are ignored; but a baggage over the limits (64
//! members, 8192 bytes), or whose consent member is malformed or repeated,
//! fails closed: what the upstream allowed is unknown, so the request is
//! narrowed to no category (the library's own records aside). Every
//! rejection is counted in the metric
//! `telemetry.propagation.rejected{header, reason}`.
//!
//! **Sampling.** The sampling probability of the trace travels in
//! `tracestate` as OpenTelemetry's `ot=th:<threshold>`, so spans downstream
//! record the probability the trace was kept with.

pub(crate) mod baggage;
mod carrier;
pub(crate) mod tracestate;

use std::sync::Arc;

pub use carrier::{Extractor, Injector};

use crate::health::rejections::{Header, Reason};

use crate::category::{Category, CategorySet};
use crate::instance::Inner;
use crate::subject::context::Context;
use crate::telemetry::Telemetry;
use crate::trace::SpanContext;

/// The W3C trace context header.
pub const TRACEPARENT: &str = "traceparent";
/// The W3C vendor trace state header.
pub const TRACESTATE: &str = "tracestate";
/// The W3C baggage header.
pub const BAGGAGE: &str = "baggage";
/// The baggage member that carries consent.
pub const CONSENT_KEY: &str = "telemetry.consent";

/// What came with a request: the remote span, its `tracestate`, and the
/// upstream consent. Ignored headers leave their part empty.
///
/// Whether to believe it is the service's decision: [`apply`](Self::apply)
/// takes everything a trusted peer (another of the service's own
/// services) sent; [`untrusted`](Self::untrusted) keeps only the trace ids,
/// for requests from the outside.
#[derive(Clone, Debug, Default)]
pub struct Incoming {
    span: Option<SpanContext>,
    tracestate: Option<Arc<str>>,
    consent: Option<CategorySet>,
    /// The local policy's exempt categories: never withheld by a caller.
    exempt: CategorySet,
}

impl Incoming {
    /// The remote parent span, from `traceparent`.
    pub fn span_context(&self) -> Option<SpanContext> {
        self.span
    }

    /// The `tracestate` to pass on, if any.
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }

    /// The categories the upstream service allows for this request's
    /// subject, if it said.
    pub fn upstream_consent(&self) -> Option<CategorySet> {
        self.consent
    }

    /// What to take from a caller that is not trusted: nothing. Its
    /// `traceparent` (with the sampling decision and probability it claims)
    /// and its consent member are ignored, so the request starts a trace of
    /// its own, sampled by this service, under this service's consent only
    /// (the W3C and OpenTelemetry advice for public endpoints). Use it for
    /// requests from the public side (browsers, partners); keep
    /// [`apply`](Self::apply) on `self` for the service's own peers.
    #[must_use]
    pub fn untrusted(self) -> Incoming {
        Incoming {
            exempt: self.exempt,
            ..Incoming::default()
        }
    }

    /// `ctx` continuing the remote trace, with its consent narrowed to the
    /// upstream consent. Open the subject scope first (with
    /// [`Telemetry::subject_context`]) and apply to that.
    ///
    /// Narrowing only ever concerns categories that require consent: the
    /// categories the local policy exempts (and the library's own records)
    /// are never withheld by a caller.
    pub fn apply(&self, ctx: Context) -> Context {
        let mut ctx = match self.span {
            Some(span) => ctx.with_span_context(span),
            None => ctx,
        };
        if self.tracestate.is_some() {
            ctx = ctx.with_tracestate(self.tracestate.clone());
        }
        match self.consent {
            Some(allowed) => ctx.narrow_consent(CategorySet::from_bits(
                allowed.bits() | self.exempt.bits() | Category::TELEMETRY.mask(),
            )),
            None => ctx,
        }
    }
}

/// Every value of field `name` as text, or `None` if one is not text.
fn values<'c>(carrier: &'c (impl Extractor + ?Sized), name: &str) -> Option<Vec<&'c str>> {
    carrier.get_all(name).into_iter().collect()
}

impl Telemetry {
    /// Reads `traceparent`, `tracestate` and the consent `baggage` member
    /// from an incoming carrier (request headers, message metadata).
    /// Malformed or oversized fields are ignored and counted.
    pub fn extract(&self, carrier: &(impl Extractor + ?Sized)) -> Incoming {
        let inner = &*self.inner;
        let rejected = &inner.rejected_headers();
        let mut incoming = Incoming {
            exempt: inner.consent().policy.exempt_set(),
            ..Incoming::default()
        };
        match values(carrier, TRACEPARENT).as_deref() {
            None => rejected.count(Header::Traceparent, Reason::Malformed),
            Some([]) => {}
            Some([one]) => match SpanContext::from_traceparent(one) {
                Ok(span) => incoming.span = Some(span),
                Err(_) if one.len() > 512 => rejected.count(Header::Traceparent, Reason::Oversized),
                Err(_) => rejected.count(Header::Traceparent, Reason::Malformed),
            },
            // Several traceparent fields: the W3C says none is trusted.
            Some(_) => rejected.count(Header::Traceparent, Reason::Malformed),
        }
        if let Some(span) = &mut incoming.span {
            match values(carrier, TRACESTATE) {
                None => rejected.count(Header::Tracestate, Reason::Malformed),
                Some(v) if v.is_empty() => {}
                Some(v) => match tracestate::parse(&v.join(",")) {
                    Ok(state) => {
                        if let Some(p) = tracestate::probability(&state) {
                            span.probability = p;
                        }
                        if !state.is_empty() {
                            incoming.tracestate = Some(Arc::from(state.as_str()));
                        }
                    }
                    Err(reason) => rejected.count(Header::Tracestate, reason),
                },
            }
        }
        match values(carrier, BAGGAGE) {
            // Not text: what the upstream allowed is unknown, so nothing is.
            None => {
                rejected.count(Header::Baggage, Reason::Malformed);
                incoming.consent = Some(CategorySet::EMPTY);
            }
            Some(v) if v.is_empty() => {}
            Some(v) => {
                let read = baggage::consent(&v, inner.names());
                if let Some(reason) = read.problem {
                    rejected.count(Header::Baggage, reason);
                }
                incoming.consent = read.consent;
            }
        }
        incoming
    }

    /// Writes the current context into an outgoing carrier: see
    /// [`inject_context`](Self::inject_context).
    pub fn inject(&self, carrier: &mut (impl Injector + ?Sized)) {
        self.inject_context(&Context::current(), carrier);
    }

    /// Writes `ctx` into an outgoing carrier: `traceparent` for its span,
    /// `tracestate` (with the trace's sampling threshold), and the consent
    /// `baggage` member when a subject scope is open or the consent was
    /// narrowed. Other baggage members already in the carrier are kept.
    pub fn inject_context(&self, ctx: &Context, carrier: &mut (impl Injector + ?Sized)) {
        let inner = &*self.inner;
        if let Some(span) = ctx.span_context() {
            carrier.set(TRACEPARENT, &span.to_traceparent());
            match tracestate::with_probability(ctx.tracestate(), span.probability, span.sampled) {
                Some(state) => carrier.set(TRACESTATE, &state),
                None => carrier.remove(TRACESTATE),
            }
        }
        if ctx.subject.is_some() || ctx.withheld != 0 {
            let allowed = consent_of(inner, ctx);
            let member = baggage::consent_member(allowed, inner.names());
            let merged = {
                let existing: Vec<&str> = values(carrier, BAGGAGE).unwrap_or_default();
                baggage::merge(&existing, &member)
            };
            carrier.set(BAGGAGE, &merged);
        }
    }
}

/// The categories `ctx` allows: its subject's consent (or the policy for
/// records without a subject), narrowed by what it withholds; only
/// categories a peer can know by name (built-in, named, or mentioned in the
/// policy), never the library's own or the reserved bits.
fn consent_of(inner: &Inner, ctx: &Context) -> CategorySet {
    let allowed = inner.allowed(crate::consent::gate::Who::In(ctx));
    let sendable = inner.known().bits() | inner.consent().policy.mentioned().bits();
    CategorySet::from_bits(allowed.bits() & sendable)
        .iter()
        .filter(|c| !c.is_reserved() && *c != Category::TELEMETRY)
        .collect()
}
