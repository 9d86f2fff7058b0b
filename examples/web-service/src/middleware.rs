//! The tower middleware that puts every request in its telemetry context:
//! the authenticated user's subject scope, the trace (and upstream consent)
//! from the incoming headers, and a server span around the handler. It also
//! hands the handlers who the caller is (an [`auth::Caller`] in the request's
//! extensions), so that the credential is checked once.
//!
//! The W3C headers are believed only from the deployment's own services
//! (a request with the valid service token): then the request continues
//! the caller's trace, with its sampling probability, under the consent
//! the caller passed on. From anyone else (a browser, `curl`) they are
//! ignored ([`Incoming::untrusted`](telemetry_core::propagation::Incoming::untrusted)):
//! the request starts a trace of its own, sampled here, under this
//! service's consent only, so an outside caller can neither narrow what is
//! recorded about a user nor attach our spans to a trace of its choosing.
//!
//! The server span is named `{method} {route}` after the route template
//! that matched (`POST /consent/{category}`), which it also records as
//! `http.route`; a request that matched no route gets `{method}` alone, as
//! OpenTelemetry's HTTP conventions say. The path itself, which can hold
//! ids and other personal data (`/items/83412`), is never recorded. The
//! route comes from axum's [`MatchedPath`], which the router inserts before
//! it calls the route: so the layer is applied inside the router
//! ([`Router::layer`](axum::Router::layer)), not around it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::response::Response;
use telemetry_core::{Category, Context, SpanKind, Telemetry};
use telemetry_http::HeaderPropagation;
use tower::{Layer, Service};

use crate::auth::{self, Auth};

/// Adds [`TelemetryService`] around a service.
#[derive(Clone)]
pub struct TelemetryLayer {
    telemetry: Telemetry,
    auth: Auth,
}

impl TelemetryLayer {
    /// A layer recording into `telemetry`, telling callers apart with `auth`.
    pub fn new(telemetry: Telemetry, auth: Auth) -> Self {
        TelemetryLayer { telemetry, auth }
    }
}

impl<S> Layer<S> for TelemetryLayer {
    type Service = TelemetryService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TelemetryService {
            inner,
            telemetry: self.telemetry.clone(),
            auth: self.auth.clone(),
        }
    }
}

/// Runs each request in its subject scope and trace, inside a server span.
#[derive(Clone)]
pub struct TelemetryService<S> {
    inner: S,
    telemetry: Telemetry,
    auth: Auth,
}

impl<S> Service<Request> for TelemetryService<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let t = &self.telemetry;
        // The subject comes from the credential (a user's own token, or the
        // service token with the user it acts for); the trace and the
        // upstream consent from the W3C headers (bad ones are ignored and
        // counted).
        let caller = self.auth.caller(request.headers());
        let scope = match caller.subject() {
            Some(user) => t.subject_context(user),
            // Unauthenticated: no subject, whatever ran on this thread before.
            None => Context::empty(),
        };
        // With a shared consent store, a customer whose choices this
        // replica has not cached yet is fail-closed until they load: wait
        // for them (briefly, off the runtime's threads) so that the
        // request's own records are not lost. Cached customers, and every
        // customer with a local store, pass straight through.
        let prefetch = caller
            .subject()
            .filter(|user| !t.consent().prefetch(user))
            .map(|user| (t.clone(), user.to_owned()));
        let incoming = t.extract_headers(request.headers());
        let incoming = if caller.is_service() {
            incoming
        } else {
            incoming.untrusted()
        };
        let ctx = incoming.apply(scope);
        request.extensions_mut().insert::<auth::Caller>(caller);
        let method = method_name(request.method());
        let route = request.extensions().get::<MatchedPath>().cloned();
        let route = route.as_ref().map(MatchedPath::as_str);
        let mut span = {
            let _in = ctx.clone().attach();
            // The name is formatted only for a recorded span.
            t.span_with(Category::PERFORMANCE, || span_name(method, route).into())
        };
        span.set_kind(SpanKind::Server);
        span.set_attribute("http.request.method", method);
        if let Some(route) = route {
            span.set_attribute("http.route", route);
        }
        let ctx = match span.context() {
            Some(c) => ctx.with_span_context(c),
            None => ctx,
        };
        // Take the service that was driven to readiness.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let future = ctx.wrap(inner.call(request));
        Box::pin(async move {
            if let Some((t, user)) = prefetch {
                let loaded = tokio::task::spawn_blocking(move || {
                    t.consent().prefetch_within(&user, PREFETCH_WAIT)
                })
                .await;
                if !matches!(loaded, Ok(Ok(()))) {
                    // Recorded anyway: consent-requiring data of this
                    // request is refused (fail closed), the rest flows.
                    tracing::warn!("consent choices not loaded in time");
                }
            }
            let response = future.await?;
            let status = response.status();
            span.set_attribute("http.response.status_code", u64::from(status.as_u16()));
            if status.is_server_error() {
                span.set_error_description(status.to_string());
            }
            Ok(response)
        })
    }
}

/// How long a request waits for its customer's consent choices to load
/// from a shared store (a cache miss costs well under a millisecond while
/// the database answers).
const PREFETCH_WAIT: Duration = Duration::from_millis(250);

/// The methods OpenTelemetry's HTTP conventions know by name.
const KNOWN_METHODS: [&str; 9] = [
    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE",
];

/// The method as recorded: a known method, or `_OTHER` (a client chooses
/// the method, so its text is not recorded as is).
fn method_name(method: &Method) -> &'static str {
    KNOWN_METHODS
        .into_iter()
        .find(|known| *known == method.as_str())
        .unwrap_or("_OTHER")
}

/// `{method} {route}`, or `{method}` for a request that matched no route
/// (`HTTP` standing for a method that is not known).
fn span_name(method: &'static str, route: Option<&str>) -> String {
    let method = if method == "_OTHER" { "HTTP" } else { method };
    match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_names_follow_the_http_conventions() {
        assert_eq!(
            span_name(method_name(&Method::POST), Some("/consent/{category}")),
            "POST /consent/{category}"
        );
        assert_eq!(span_name(method_name(&Method::GET), None), "GET");
        let custom = Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(method_name(&custom), "_OTHER");
        assert_eq!(span_name(method_name(&custom), None), "HTTP");
        assert_eq!(span_name(method_name(&custom), Some("/x")), "HTTP /x");
    }
}
