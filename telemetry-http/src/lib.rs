//! # telemetry-http
//!
//! HTTP for [`telemetry_core`]: the W3C `traceparent`, `tracestate` and
//! consent `baggage` fields of [`telemetry_core::propagation`] carried in
//! `http::HeaderMap`s, so a service continues its callers' traces and
//! honours their consent, and passes both on to the services it calls.
//!
//! It is a crate of its own so that `telemetry-core`'s API names no `http`
//! type.
//!
//! ```
//! use http::HeaderMap;
//! use telemetry_core::{Category, Telemetry};
//! use telemetry_http::HeaderPropagation;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let telemetry = Telemetry::builder().service("frontend", "1.0").build()?;
//! // Calling another service: the current trace and consent go along.
//! let mut outgoing = HeaderMap::new();
//! let span = telemetry.span("call.backend", Category::PERFORMANCE);
//! let _in_span = span.enter();
//! telemetry.inject_headers(&mut outgoing);
//!
//! // In the other service (a trusted peer): continue the trace under the
//! // upstream consent.
//! let incoming = telemetry.extract_headers(&outgoing);
//! let ctx = incoming.apply(telemetry.subject_context("user-7"));
//! let _guard = ctx.attach();
//! # Ok(()) }
//! ```
//!
//! ## Crate features
//!
//! - `server`: [`server::ServerLayer`], the tower middleware for axum that
//!   puts each request in its subject's scope and trace, names its span
//!   after the route template and records `http.server.request.duration`.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod client;
pub mod conventions;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod server;

use http::{HeaderMap, HeaderValue};
use telemetry_core::propagation::{Extractor, Incoming, Injector};
use telemetry_core::{Context, Telemetry};

/// Reads propagation fields from request headers. A header value that is
/// not visible ASCII counts as malformed.
#[derive(Debug, Clone, Copy)]
pub struct HeaderExtractor<'h>(pub &'h HeaderMap);

/// Every value of header `name`, `None` for one that is not text.
fn values<'h>(headers: &'h HeaderMap, name: &str) -> Vec<Option<&'h str>> {
    headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().ok())
        .collect()
}

impl Extractor for HeaderExtractor<'_> {
    fn get_all(&self, name: &str) -> Vec<Option<&str>> {
        values(self.0, name)
    }
}

/// Writes propagation fields into request headers.
#[derive(Debug)]
pub struct HeaderInjector<'h>(pub &'h mut HeaderMap);

impl Extractor for HeaderInjector<'_> {
    fn get_all(&self, name: &str) -> Vec<Option<&str>> {
        values(self.0, name)
    }
}

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, name: &str, value: &str) {
        let name = match http::HeaderName::from_bytes(name.as_bytes()) {
            Ok(n) => n,
            Err(_) => return,
        };
        match HeaderValue::from_str(value) {
            Ok(v) => {
                self.0.insert(name, v);
            }
            // Never the case for what the library writes; leave no stale value.
            Err(_) => {
                self.0.remove(name);
            }
        }
    }

    fn remove(&mut self, name: &str) {
        self.0.remove(name);
    }
}

/// Propagation over `http::HeaderMap`, on [`Telemetry`].
pub trait HeaderPropagation {
    /// Reads `traceparent`, `tracestate` and the consent `baggage` member
    /// from incoming request headers (see [`Telemetry::extract`]).
    fn extract_headers(&self, headers: &HeaderMap) -> Incoming;
    /// Writes the current context into outgoing request headers (see
    /// [`Telemetry::inject`]).
    fn inject_headers(&self, headers: &mut HeaderMap);
    /// Writes `ctx` into outgoing request headers (see
    /// [`Telemetry::inject_context`]).
    fn inject_context_headers(&self, ctx: &Context, headers: &mut HeaderMap);
}

impl HeaderPropagation for Telemetry {
    fn extract_headers(&self, headers: &HeaderMap) -> Incoming {
        self.extract(&HeaderExtractor(headers))
    }

    fn inject_headers(&self, headers: &mut HeaderMap) {
        self.inject(&mut HeaderInjector(headers));
    }

    fn inject_context_headers(&self, ctx: &Context, headers: &mut HeaderMap) {
        self.inject_context(ctx, &mut HeaderInjector(headers));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn values_that_are_not_text_are_reported_as_such() {
        let mut h = HeaderMap::new();
        h.append("baggage", HeaderValue::from_static("a=1"));
        h.append("baggage", HeaderValue::from_bytes(b"b=\xff").unwrap());
        assert_eq!(
            HeaderExtractor(&h).get_all("baggage"),
            vec![Some("a=1"), None]
        );
    }

    #[test]
    fn set_replaces_every_value_and_remove_clears() {
        let mut h = HeaderMap::new();
        h.append("tracestate", HeaderValue::from_static("a=1"));
        h.append("tracestate", HeaderValue::from_static("b=2"));
        let mut inj = HeaderInjector(&mut h);
        inj.set("tracestate", "c=3");
        assert_eq!(inj.get_all("tracestate"), vec![Some("c=3")]);
        inj.remove("tracestate");
        assert!(inj.get_all("tracestate").is_empty());
    }
}
