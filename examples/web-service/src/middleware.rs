//! The telemetry middleware: `telemetry-http`'s [`ServerLayer`] (feature
//! `server`), told who is calling by this service's authentication.
//!
//! The layer does the rest for every request: the subject's scope (its
//! consent choices loaded first when a shared store has not cached them),
//! the caller's trace and consent continued only from the deployment's own
//! services (a request with the valid service token; from anyone else the
//! W3C headers are ignored, so an outside caller can neither narrow what is
//! recorded about a user nor attach our spans to a trace of its choosing),
//! a server span named `{method} {route}` after the route template (never
//! the path, which can hold ids), and `http.server.request.duration`.
//!
//! The hook also leaves the [`auth::Caller`] in the request's extensions
//! for the handlers, so the credential is checked once.

use telemetry_core::Telemetry;
use telemetry_http::server::{Identity, ServerLayer};

use crate::auth::{self, Auth};

/// The layer for the service's router (apply it with
/// [`Router::layer`](axum::Router::layer), after routing, so that it sees
/// the matched route).
pub fn layer(telemetry: &Telemetry, auth: Auth) -> ServerLayer {
    ServerLayer::new(telemetry).identify(move |parts| {
        let caller = auth.caller(&parts.headers);
        let identity = Identity {
            subject: caller.subject().map(str::to_owned),
            trusted: caller.is_service(),
        };
        parts.extensions.insert::<auth::Caller>(caller);
        identity
    })
}
