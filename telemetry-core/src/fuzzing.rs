//! Internal: the crate's parsers of outside input, reachable by the fuzz
//! targets of the `telemetry-fuzz` crate (cargo feature `fuzzing`).
//!
//! Not a public API: thin wrappers over private functions, which may
//! change or go away in any release.

use std::path::Path;

use crate::category::{CategoryNames, CategorySet};
use crate::error::ConsentError;
use crate::export::{Resource, SubjectKey};
use crate::health::rejections::Reason;
use crate::subject::Choices;

/// Why a header was ignored (`"malformed"` or `"oversized"`).
fn reason(r: Reason) -> &'static str {
    match r {
        Reason::Malformed => "malformed",
        Reason::Oversized => "oversized",
    }
}

/// `tracestate` validation: the normalised header, or why it is rejected.
#[doc(hidden)]
pub fn tracestate_parse(header: &str) -> Result<String, &'static str> {
    crate::propagation::tracestate::parse(header).map_err(reason)
}

/// The sampling probability in a `tracestate`'s `ot=th:` field.
#[doc(hidden)]
pub fn tracestate_probability(state: &str) -> Option<f64> {
    crate::propagation::tracestate::probability(state)
}

/// The outgoing `tracestate` for a trace sampled with probability `p`.
#[doc(hidden)]
pub fn tracestate_with_probability(state: Option<&str>, p: f64, sampled: bool) -> Option<String> {
    crate::propagation::tracestate::with_probability(state, p, sampled)
}

/// What a `baggage` header said about consent.
#[doc(hidden)]
#[derive(Debug, PartialEq)]
pub struct BaggageConsent {
    /// The upstream consent: `None` when there is no consent member.
    pub consent: Option<CategorySet>,
    /// Why (part of) the header was ignored, if it was.
    pub problem: Option<&'static str>,
}

/// Reads the consent member of a (possibly multi-header) baggage.
#[doc(hidden)]
pub fn baggage_consent(values: &[&str], names: &CategoryNames) -> BaggageConsent {
    let read = crate::propagation::baggage::consent(values, names);
    BaggageConsent {
        consent: read.consent,
        problem: read.problem.map(reason),
    }
}

/// The consent member for `allowed`.
#[doc(hidden)]
pub fn baggage_consent_member(allowed: CategorySet, names: &CategoryNames) -> String {
    crate::propagation::baggage::consent_member(allowed, names)
}

/// `existing` baggage with its consent member replaced by `member`.
#[doc(hidden)]
pub fn baggage_merge(existing: &[&str], member: &str) -> String {
    crate::propagation::baggage::merge(existing, member)
}

/// Parses the bytes of a consent file as [`crate::consent::FileConsentStore`] does
/// (`path` only names the file in errors).
#[doc(hidden)]
pub fn consent_file_parse(
    path: &Path,
    bytes: &[u8],
) -> Result<Vec<(SubjectKey, Choices)>, ConsentError> {
    crate::consent::store::parse(path, bytes).map(|map| map.into_iter().collect())
}

/// A resource as the builder makes it.
#[doc(hidden)]
pub fn resource(
    service: &str,
    version: &str,
    environment: Option<&str>,
    extra: &[(String, String)],
) -> Resource {
    let extra: Vec<(String, crate::value::AttrValue)> = extra
        .iter()
        .map(|(k, v)| (k.clone(), crate::value::AttrValue::from(v.clone())))
        .collect();
    Resource::new(service, version, environment, &extra)
}
