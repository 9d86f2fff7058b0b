//! An axum service instrumented with consent-aware telemetry.
//!
//! Two roles of one binary: a `frontend` that takes orders and calls an
//! `inventory` service, authenticating with a service token and naming the
//! customer it acts for. Each request runs in the authenticated customer's
//! subject scope; a request from the other service continues its trace and
//! obeys the customer's consent as it travels in W3C `baggage`, while a
//! request from outside starts a trace of its own. The service's `tracing`
//! logs, the `#[instrument_event]` functions and typed events all reach the
//! collector over OTLP, with the process's resource metrics. See the README.

pub mod auth;
pub mod consent_store;
pub mod downstream;
pub mod events;
pub mod handlers;
pub mod middleware;
pub mod privacy;
pub mod secrets;
pub mod setup;

use axum::Router;
use axum::routing::{get, post};
use telemetry_core::Telemetry;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct App {
    /// The service's telemetry.
    pub telemetry: Telemetry,
    /// Tells end users and peer services apart.
    pub auth: auth::Auth,
    /// The inventory service, for the frontend role.
    pub downstream: Option<downstream::Downstream>,
}

/// The service's routes, inside the telemetry middleware.
///
/// The middleware is added with [`Router::layer`], so it runs after
/// routing, around each route and around the fallback: it sees the
/// [`MatchedPath`](axum::extract::MatchedPath) of the route (which names
/// the server span) and also the requests that match no route.
///
/// The privacy center's routes (`/privacy...`) and the demo pages
/// (`/demo`, `/login`) are inside the middleware too, so client events are
/// recorded within their request's trace.
pub fn router(app: App) -> Result<Router, telemetry_core::ConfigError> {
    let layer = middleware::layer(&app.telemetry, app.auth.clone());
    let center = privacy::center(&app.telemetry)?;
    let pages = Router::new()
        .route("/demo", get(privacy::demo))
        .with_state(center.clone());
    Ok(Router::new()
        .merge(center.router())
        .merge(pages)
        .route("/login", get(privacy::login_form).post(privacy::login))
        .route("/checkout", post(handlers::checkout))
        .route("/reserve", post(handlers::reserve))
        .route(
            "/consent/{category}",
            post(handlers::grant).delete(handlers::revoke),
        )
        .route("/consent", get(handlers::consent))
        .route("/healthz", get(handlers::healthz))
        .layer(layer)
        .route("/metrics", get(handlers::metrics))
        .with_state(app))
}
